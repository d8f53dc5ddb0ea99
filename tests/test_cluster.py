"""Which Ray a command uses: ``--address``, else ``RAY_ADDRESS``, else a new local instance; it says which.

A real cluster named by ``RAY_ADDRESS`` is joined through the CLI in ``tests/test_executor.py``; here
``ray.init`` (and the check that something listens at the address) is replaced, to see what it is asked for
in each case.
"""

from __future__ import annotations

import os
import socket

import pytest

from alphacode import cluster
from alphacode.cli import main
from alphacode.cluster import connect_ray
from alphacode.errors import UserError


@pytest.fixture
def init_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    import ray

    calls: list[dict] = []
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(cluster, "_unreachable", lambda target: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return calls


def test_without_address_or_ray_address_a_local_ray_starts_leaving_a_core(init_calls, capsys) -> None:
    note = connect_ray(None, None)
    cpus = max(1, (os.cpu_count() or 1) - 1)
    assert init_calls[0]["address"] == "local" and init_calls[0]["num_cpus"] == cpus
    assert capsys.readouterr().err == note + "\n" and f"started a local instance with {cpus} CPUs" in note


def test_ray_address_is_joined_when_no_address_is_given(init_calls, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    connect_ray(None, 4)
    assert init_calls[0]["address"] == "10.1.2.3:6379" and "num_cpus" not in init_calls[0]
    assert "joined the cluster at 10.1.2.3:6379 (from RAY_ADDRESS)" in capsys.readouterr().err


def test_address_wins_over_ray_address(init_calls, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    connect_ray("10.9.9.9:6379", None)
    assert init_calls[0]["address"] == "10.9.9.9:6379"
    assert "joined the cluster at 10.9.9.9:6379 (from --address)" in capsys.readouterr().err


def test_a_cluster_that_cannot_be_joined_is_a_one_line_user_error(monkeypatch) -> None:
    import ray

    def refuse(**kwargs: object) -> None:
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to.")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(cluster, "_unreachable", lambda target: None)
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    with pytest.raises(UserError, match=r"^RAY_ADDRESS 10.1.2.3:6379: cannot join the Ray cluster \(Could not find "
                                        r"any running Ray instance.\)$"):
        connect_ray(None, None)


def test_an_address_nothing_answers_at_is_refused_in_seconds_not_minutes(tmp_path, capsys) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert cluster._unreachable(f"127.0.0.1:{server.getsockname()[1]}") is None
        assert cluster._unreachable(f"ray://127.0.0.1:{server.getsockname()[1]}") is None
    assert cluster._unreachable("auto") is None
    problem = tmp_path / "p.json"
    problem.write_text('{"description": "x", "public_tests": {"input": ["1"], "output": ["1"]}}')
    candidates = tmp_path / "c.jsonl"
    candidates.write_text('{"code": "print(1)", "language": "python3"}\n')
    for address, reason in [("garbage", "expected HOST:PORT"), ("127.0.0.1:1", "nothing answers there")]:
        assert main(["select", str(problem), "--candidates", str(candidates), "--address", address]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--address {address}: {reason}" in err


def test_a_local_ray_gets_at_most_four_workers_per_core(init_calls) -> None:
    with pytest.raises(UserError, match="at most"):
        connect_ray(None, 4 * (os.cpu_count() or 1) + 1)
    assert init_calls == []
