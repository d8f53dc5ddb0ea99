"""Many hosts: JAX's multi-controller runtime, started before anything else touches JAX.

Every process of a multi-host run executes the same command with its own ``process_id`` (or lets
``jax.distributed.initialize()`` find its place on clusters it knows: Cloud TPU, SLURM, Open MPI, ...).
On CPUs the processes' collectives go over gloo (what tests use on one machine, over 127.0.0.1).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alphacode.errors import CommandFailed, ConfigError, UserError, first_line
from alphacode.lazy import lazy_import

jax = lazy_import("jax")  # the command line names the hosts before anything loads JAX
multihost_utils = lazy_import("jax.experimental.multihost_utils")
JOIN_TIMEOUT_S = 300  # how long a process waits for the others to join (JAX's default)


def host_and_port(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[IPV6]:PORT`` too) as the host and a port in 1..65535; None when it is not one."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


class UnsharedWorkdir(UserError):
    """Process 0 prepared a run's data but this process cannot see it: the hosts do not share ``workdir``."""

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        super().__init__(f"{workdir}: process 0 prepared the data but this process does not see it; every process "
                         f"of a multi-host run needs the same work directory (a shared file system)")


@dataclass(frozen=True)
class Hosts:
    """Where this process stands in a multi-host run; all ``None`` and not ``auto``: a single process."""

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    auto: bool = False

    def __post_init__(self) -> None:
        given = [self.coordinator_address, self.num_processes, self.process_id]
        if self.auto and any(v is not None for v in given):
            raise ConfigError("--distributed auto finds the coordinator itself; drop --coordinator-address, "
                              "--num-processes and --process-id")
        if any(v is not None for v in given) and any(v is None for v in given):
            raise ConfigError("a multi-host run needs all of --coordinator-address, --num-processes and --process-id")
        if self.num_processes is not None and not 0 <= (self.process_id or 0) < self.num_processes:
            raise ConfigError(f"--process-id {self.process_id} is not in 0..{self.num_processes - 1}")
        if self.coordinator_address is not None and host_and_port(self.coordinator_address) is None:
            raise ConfigError(f"--coordinator-address {self.coordinator_address!r}: expected HOST:PORT, "
                              "with a port in 1..65535")

    @property
    def distributed(self) -> bool:
        return self.auto or self.coordinator_address is not None

    def initialize(self) -> None:
        """Join the run (a no-op for a single process); call before any other use of JAX."""
        if not self.distributed:
            return
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if self.process_id == 0:
            _check_port_free(host_and_port(self.coordinator_address)[1])
        where = "as the cluster says" if self.auto else (f"through {self.coordinator_address} as process "
                                                        f"{self.process_id} of {self.num_processes}")
        print(f"joining the run {where} (waiting up to {JOIN_TIMEOUT_S} s for every process)", file=sys.stderr,
              flush=True)
        try:
            if self.auto:
                jax.distributed.initialize(initialization_timeout=JOIN_TIMEOUT_S)
            else:
                jax.distributed.initialize(coordinator_address=self.coordinator_address,
                                           num_processes=self.num_processes, process_id=self.process_id,
                                           initialization_timeout=JOIN_TIMEOUT_S)
        except (RuntimeError, ValueError) as err:  # JAX's own: the coordinator unreachable, a timeout
            raise CommandFailed(f"could not join the run: {first_line(err)}") from None


def _check_port_free(port: int) -> None:
    """Process 0 starts the coordinator on ``port``: a port something else holds crashed the process in gRPC."""
    try:
        probe = socket.socket(socket.AF_INET6)
    except OSError:  # a kernel without IPv6
        probe = socket.socket(socket.AF_INET)
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free to a server
        try:
            probe.bind(("", port))
        except OSError as err:
            raise ConfigError(f"--coordinator-address: port {port} is not free here ({err.strerror}); "
                              "process 0 starts the coordinator on it") from None


def is_leader() -> bool:
    """Whether this process writes what only one process may write: metrics, events, progress, exports."""
    return jax.process_index() == 0


def sync(name: str) -> None:
    """Wait until every process has reached the barrier ``name`` (immediate for a single process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def agree(value: int) -> int:
    """Process 0's ``value`` on every process (for choices such as a planned step count that must match)."""
    if jax.process_count() == 1:
        return value
    return int(multihost_utils.broadcast_one_to_all(value))


def gather(tree: Any) -> Any:
    """A tree of global (possibly sharded) arrays as whole NumPy arrays on every process: a collective, so every
    process calls it, even those that then discard the result."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def leader_first(make: Callable[[], object], what: str) -> None:
    """Run ``make()`` on process 0 while the others wait; if it fails there, every process stops (process 0 with
    its error, the others with a pointer to it) instead of waiting forever at the next collective."""
    ok = 0
    try:
        if is_leader():
            make()
        ok = 1
    finally:
        if not agree(ok) and not is_leader():
            raise UserError(f"process 0 failed to prepare {what}; its log says why")
