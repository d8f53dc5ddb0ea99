"""Training throughput of an experiment: start-up time, host time per step and model-FLOPs utilization (MFU).

    .venv/bin/python benchmarks/train_throughput.py [--experiments pretrain-tiny,default-pretrain-cpu] [--steps 20]
    python3 benchmarks/train_throughput.py --experiments default-pretrain-gpu,300m      # on an accelerator

Each experiment trains for ``--steps`` steps through the same path ``alphacode pretrain`` takes (record shards ->
rows built on the prefetch thread -> the sharded, jit-compiled step), on synthetic pre-tokenized files, so no
corpus is tokenized. It prints the seconds from the run's start to the end of its first step (compilation
included), the device's time per step, how long the loop waited for batches and how long building one took
(on the background thread), tokens/s and MFU: against the spec sheet's bf16 dense peak on known accelerators,
against a float32 matmul measured in the same run on a CPU. ``300m`` is the ``default-pretrain-gpu`` experiment
with AlphaCode's 300M model, its 1536/768 lengths and a batch of 32 (what one chip holds without
rematerialization; ``--batch-size`` overrides every experiment's batch).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from alphacode.config import load_experiment
from alphacode.data import RecordShards, write_record_shards
from alphacode.model.config import PRESETS
from alphacode.model.flops import measured_matmul_flops, peak_flops
from alphacode.train import run_training
from pretrain.examples import PretrainRows
from pretrain.objective import pretrain_loss


def experiment_named(name: str, batch_size: int | None):
    """A shipped experiment, or ``300m``: the GPU experiment with AlphaCode's 300M model."""
    overrides = [f"train.batch_size={batch_size}"] if batch_size else []
    if name == "300m":
        experiment = load_experiment("default-pretrain-gpu", ["data.lengths=1536,768", "train.batch_size=32",
                                                              *overrides])
        model = PRESETS["300m"].replace(vocab_size=experiment.model.vocab_size)
        return dataclasses.replace(experiment, name="300m", model=model)
    return load_experiment(name, overrides)


def measure(name: str, steps: int, batch_size: int | None) -> dict[str, float]:
    started = time.perf_counter()
    experiment = experiment_named(name, batch_size)
    train, lengths = experiment.train, experiment.data.lengths
    rng = np.random.default_rng(0)
    files = [rng.integers(4, experiment.model.vocab_size, int(rng.integers(lengths[0] // 2, 2 * sum(lengths))))
             for _ in range(4 * 64)]
    with tempfile.TemporaryDirectory() as scratch:
        write_record_shards({"tokens": files}, Path(scratch) / "tokens", shards=8)
        rows = PretrainRows(RecordShards(Path(scratch) / "tokens"), train.batch_size, lengths)
        config = train.replace(steps=steps, seconds=None, log_every=steps // 2, checkpoint_every=10**6, eval_every=10**6)
        summary, _ = run_training(experiment.model, config, pretrain_loss, Path(scratch) / "run", rows, None,
                                  lengths=lengths, run_info={}, started=started, progress=False)
    step_ms = 1e3 * summary.step_seconds
    return {"startup": summary.startup_seconds, "step_ms": step_ms, "host_ms": summary.host_ms_per_step,
            "batch_ms": summary.last_metrics["batch_ms"], "tokens_per_second": summary.tokens_per_second,
            "mfu": summary.mfu, "batch": train.batch_size, "lengths": lengths, "dtype": experiment.model.dtype,
            "model": experiment.model.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="pretrain-tiny,default-pretrain-cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, help="override the experiments' global batch")
    args = parser.parse_args()
    device = jax.devices()[0]
    peak, source = peak_flops(device)
    print(f"device: {device.platform} ({device.device_kind}) x {len(jax.devices())}; peak {peak / 1e12:.3f} TFLOP/s per "
          f"device, {source}")
    if device.platform == "cpu":
        print(f"float32 matmul measured again now: {measured_matmul_flops() / 1e12:.3f} TFLOP/s")
    for name in args.experiments.split(","):
        r = measure(name, args.steps, args.batch_size)
        print(f"{name} ({r['model']}, {r['dtype']}, batch {r['batch']} x {r['lengths'][0]}+{r['lengths'][1]} tokens): "
              f"first step {r['startup']:.1f} s after the start; {r['step_ms']:.1f} ms/step; waited "
              f"{r['host_ms']:.2f} ms/step for batches ({r['host_ms'] / r['step_ms']:.1%} of the step), building one "
              f"took {r['batch_ms']:.1f} ms on the prefetch thread; {r['tokens_per_second']:,.0f} tokens/s, "
              f"MFU {r['mfu']:.1%}")
    print(f"command: python benchmarks/train_throughput.py --experiments {args.experiments} --steps {args.steps}"
          + (f" --batch-size {args.batch_size}" if args.batch_size else ""))


if __name__ == "__main__":
    main()
