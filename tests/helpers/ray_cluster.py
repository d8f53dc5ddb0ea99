"""Real Ray clusters for tests: ``ray start --block`` nodes on this machine.

Each node is stopped by a signal to its own ``ray start`` process, which stops exactly that node
(``ray stop`` would stop every Ray on the machine, other workers' included); killing every process of
a node at once is a node crash. Heads check their nodes' health every half second, so a crashed node
is declared dead in about two seconds instead of Ray's default fifteen. The tests run with Ray's token
authentication off (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
HEALTH_CHECKS = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}
OBJECT_STORE_BYTES = 200 * 1024 * 1024


@dataclass
class Node:
    """One ``ray start --block`` process and the log it writes."""

    process: subprocess.Popen
    log: Path
    port: int | None = None

    def stop(self) -> None:
        """As ``ray stop`` does for this node alone; a head also forgets its address as the current cluster,
        or a later ``--address auto`` would wait on it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.crash()
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if self.port and current.exists() and current.read_text().strip().endswith(f":{self.port}"):
            current.unlink()

    def crash(self) -> None:
        """The node's machine goes away: every process of the node (``ray start`` and all it started, which
        Ray puts in sessions of their own) is killed at once."""
        for pid in [self.process.pid, *_descendants(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(arguments: list[str], log: Path, port: int | None = None, timeout_s: float = 120) -> Node:
    with open(log, "wb") as sink:
        process = subprocess.Popen([str(RAY), "start", *arguments, "--block", "--disable-usage-stats"],
                                   stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    node = Node(process, log, port)
    deadline = time.monotonic() + timeout_s
    while b"will now block forever" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            node.stop()
            raise RuntimeError(f"ray start failed: {log.read_text(errors='replace')}")
        time.sleep(0.2)
    return node


def start_head(log: Path, cpus: int = 1) -> tuple[Node, str]:
    """A head node with ``cpus`` CPUs; returns it and its address."""
    port = _free_port()
    node = _start(["--head", "--port", str(port), "--num-cpus", str(cpus), "--include-dashboard=false",
                   "--object-store-memory", str(OBJECT_STORE_BYTES), "--system-config", json.dumps(HEALTH_CHECKS)],
                  log, port)
    return node, f"127.0.0.1:{port}"


def start_worker(address: str, log: Path, cpus: int = 1) -> Node:
    """A second node of the cluster at ``address``, with ``cpus`` CPUs."""
    return _start(["--address", address, "--num-cpus", str(cpus), "--object-store-memory", str(OBJECT_STORE_BYTES)],
                  log)
