"""Which Ray a command uses, and one Ray session per command.

The rule, for sampling and execution alike: ``--address`` when given; else ``RAY_ADDRESS`` when set
(``ray job submit`` sets it for the jobs it starts, and a job must run on the cluster it was sent to,
not start a second Ray beside it); else a new local instance. The command says on stderr which one
it used. ``ray.init(address="local")`` ignores ``RAY_ADDRESS``, so the rule is applied here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator

from alphacode.errors import UserError, first_line
from alphacode.hosts import host_and_port
from alphacode.lazy import lazy_import

ray = lazy_import("ray")  # ~1 s: only when a command uses Ray

ADDRESS_VARIABLE = "RAY_ADDRESS"
MAX_LOCAL_WORKERS_PER_CORE = 4


def cluster_address(address: str | None) -> str | None:
    """The cluster a command joins: ``address``, else ``RAY_ADDRESS``; None when it starts its own Ray."""
    return address or os.environ.get(ADDRESS_VARIABLE) or None


def connect_ray(address: str | None, workers: int | None) -> str:
    """Join the cluster :func:`cluster_address` names, or start a local Ray with ``workers`` CPUs (default:
    all cores but one, left to the driver and Ray's daemons); says which on stderr and returns that line."""
    target = cluster_address(address)
    if target:
        source = "--address" if address else ADDRESS_VARIABLE
        problem = _unreachable(target)
        if problem:  # ray.init would retry for minutes, or raise a bare ValueError
            raise UserError(f"{source} {target}: {problem}")
        try:
            ray.init(address=target, logging_level=logging.WARNING)
        except (ConnectionError, ValueError) as err:
            raise UserError(f"{source} {target}: cannot join the Ray cluster ({first_line(err)})") from None
        note = f"Ray: joined the cluster at {target} (from {source})"
    else:
        cores = os.cpu_count() or 1
        if workers is not None and workers > MAX_LOCAL_WORKERS_PER_CORE * cores:
            raise UserError(f"{workers} workers on a local Ray of this machine's {cores} cores: at most "
                            f"{MAX_LOCAL_WORKERS_PER_CORE * cores} (each holds a model replica or a sandbox)")
        cpus = workers or max(1, cores - 1)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        note = f"Ray: started a local instance with {cpus} CPUs (no --address, {ADDRESS_VARIABLE} not set)"
    print(note, file=sys.stderr)
    return note


def _unreachable(target: str, timeout_s: float = 5.0) -> str | None:
    """Why a cluster address cannot be joined, found in seconds: not HOST:PORT (or ``auto``, ``ray://HOST:PORT``),
    or nothing accepts a connection there; None when something listens (or ``auto`` leaves it to Ray)."""
    if target == "auto":
        return None
    address = host_and_port(target.split("://", 1)[-1])
    if address is None:
        return "expected HOST:PORT, ray://HOST:PORT or auto"
    try:
        with socket.create_connection(address, timeout=timeout_s):
            return None
    except OSError as err:
        return f"nothing answers there ({err.strerror or first_line(err)})"


@contextlib.contextmanager
def ray_session(address: str | None, workers: int | None) -> Iterator[None]:
    """Ray for the duration of the block: the one already initialised in this process, or one joined
    or started here (see :func:`connect_ray`) and shut down at the end."""
    started = not ray.is_initialized()
    if started:
        connect_ray(address, workers)
    try:
        yield
    finally:
        if started:
            ray.shutdown()
