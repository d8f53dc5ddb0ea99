"""A sharded forward/backward pass equals the single-device one on 8 fake CPU devices. Slow (about 30 s): the
default run checks the same meshes through a whole training step (tests/test_train.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_sharded_forward_backward_matches_single_device() -> None:
    meshes = ["data=2,fsdp=2,tensor=2", "data=1,fsdp=4,tensor=2", "data=8"]
    done = subprocess.run([sys.executable, "-m", "tests.helpers.sharded_forward", *meshes], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(meshes)
    for result in results:
        assert result["devices"] == 8
        assert result["loss_diff"] < 1e-5 and result["grad_diff"] < 1e-5, result
    assert results[0]["sharded_parameters"] > 0 and results[1]["sharded_parameters"] > 0


def test_a_mesh_names_each_axis_once() -> None:
    from alphacode.errors import ConfigError
    from alphacode.model.sharding import parse_mesh

    assert parse_mesh("data=4,tensor=2") == {**parse_mesh(""), "data": 4, "tensor": 2}
    with pytest.raises(ConfigError, match="axis 'data' given twice"):
        parse_mesh("data=3,data=2")
