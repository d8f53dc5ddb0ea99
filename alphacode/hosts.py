"""Many hosts: JAX's multi-controller runtime, started before anything else touches JAX.

Every process of a multi-host run executes the same command with its own ``process_id`` (or lets
``jax.distributed.initialize()`` find its place on clusters it knows: Cloud TPU, SLURM, Open MPI, ...).
On CPUs the processes' collectives go over gloo (what tests use on one machine, over 127.0.0.1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alphacode.errors import ConfigError, UserError
from alphacode.lazy import lazy_import

jax = lazy_import("jax")  # the command line names the hosts before anything loads JAX
multihost_utils = lazy_import("jax.experimental.multihost_utils")


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

    @property
    def distributed(self) -> bool:
        return self.auto or self.coordinator_address is not None

    def initialize(self) -> None:
        """Join the run (a no-op for a single process); call before any other use of JAX."""
        if not self.distributed:
            return
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if self.auto:
            jax.distributed.initialize()
        else:
            jax.distributed.initialize(coordinator_address=self.coordinator_address, num_processes=self.num_processes,
                                       process_id=self.process_id)


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
