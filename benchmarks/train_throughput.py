"""Training throughput of an experiment: start-up time, host time per step and model-FLOPs utilization (MFU).

    .venv/bin/python benchmarks/train_throughput.py [--experiments pretrain-tiny,default-pretrain-cpu] [--steps 20]
    python3 benchmarks/train_throughput.py --experiments default-pretrain-gpu,300m      # on an accelerator
    python3 benchmarks/train_throughput.py --experiments 300m --variant model.attention=xla

Each experiment trains for ``--steps`` steps through the same path ``alphacode pretrain`` takes (record shards ->
rows built on the prefetch thread -> the sharded, jit-compiled step), on synthetic pre-tokenized files, so no
corpus is tokenized. It prints the seconds from the run's start to the end of its first step (compilation
included), the device's time per step, how long the loop waited for batches and how long building one took
(on the background thread), tokens/s and MFU: against the spec sheet's bf16 dense peak on known accelerators,
against a float32 matmul measured in the same run on a CPU. ``300m`` is the ``default-pretrain-gpu`` experiment
with AlphaCode's 300M model, its 1536/768 lengths and a batch of 32 (what one chip holds without
rematerialization). ``--set KEY=VALUE`` changes every experiment as ``alphacode pretrain --set`` does; each
``--variant "KEY=VALUE;KEY=VALUE"`` measures every experiment once more with those settings too (an A/B in one
process: what an accelerator's scarce minutes are for). ``--cost`` compiles each step without running it and
prints XLA's count of its FLOPs and bytes accessed, with the time each takes at the device's peak: whether the
step is bound by compute or by memory, and its largest arrays (on a CPU, from the CPU compiler's fusions).
``--profile DIR`` writes a ``jax.profiler`` trace of ``--steps`` compiled steps per run (Perfetto and TensorBoard).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import json
import re
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from alphacode.config import apply_overrides, load_experiment
from alphacode.data import DECODER_FEATURES, FEATURES, RecordShards, write_record_shards
from alphacode.errors import ConfigError, first_line
from alphacode.model.config import PRESETS
from alphacode.model.flops import KNOWN_PEAKS, measured_matmul_flops, peak_flops
from alphacode.model.transformer import attention_implementation
from alphacode.train import Trainer, run_training
from pretrain.examples import PretrainRows
from pretrain.objective import pretrain_loss


def experiment_named(name: str, overrides: list[str]):
    """A shipped experiment, or ``300m``: the GPU experiment with AlphaCode's 300M model; then ``overrides``."""
    if name != "300m":
        return load_experiment(name, overrides)
    experiment = load_experiment("default-pretrain-gpu", ["data.lengths=1536,768", "train.batch_size=32"])
    model = PRESETS["300m"].replace(vocab_size=experiment.model.vocab_size, attention=experiment.model.attention)
    return apply_overrides(dataclasses.replace(experiment, name="300m", model=model), overrides)


def synthetic_rows(experiment, scratch: Path) -> PretrainRows:
    """Pretraining rows of the experiment's batch and lengths from random pre-tokenized files under ``scratch``."""
    lengths = experiment.data.lengths
    rng = np.random.default_rng(0)
    files = [rng.integers(4, experiment.model.vocab_size, int(rng.integers(lengths[0] // 2, 2 * sum(lengths))))
             for _ in range(4 * 64)]
    write_record_shards({"tokens": files}, scratch / "tokens", shards=8)
    return PretrainRows(RecordShards(scratch / "tokens"), experiment.train.batch_size, lengths)


def measure(name: str, steps: int, overrides: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    experiment = experiment_named(name, overrides)
    train, lengths = experiment.train, experiment.data.lengths
    with tempfile.TemporaryDirectory() as scratch:
        rows = synthetic_rows(experiment, Path(scratch))
        config = train.replace(steps=steps, seconds=None, log_every=steps // 2, checkpoint_every=10**6, eval_every=10**6)
        summary, _ = run_training(experiment.model, config, pretrain_loss, Path(scratch) / "run", rows, None,
                                  lengths=lengths, run_info={}, started=started, progress=False)
    step_ms = 1e3 * summary.step_seconds
    return {"startup": summary.startup_seconds, "step_ms": step_ms, "host_ms": summary.host_ms_per_step,
            "batch_ms": summary.last_metrics["batch_ms"], "tokens_per_second": summary.tokens_per_second,
            "mfu": summary.mfu, "batch": train.batch_size, "lengths": lengths, "dtype": experiment.model.dtype,
            "model": experiment.model.name, "attention": attention_implementation(experiment.model)}


def profile(name: str, overrides: list[str], steps: int, out: Path) -> str:
    """A ``jax.profiler`` trace of ``steps`` compiled train steps (compilation left out) under ``out``: open its
    ``perfetto_trace.json.gz`` at ui.perfetto.dev, or the folder in TensorBoard's profile plugin. Returns a line."""
    experiment = experiment_named(name, overrides)
    with tempfile.TemporaryDirectory() as scratch:
        rows = synthetic_rows(experiment, Path(scratch))
        trainer = Trainer(experiment.model, experiment.train, pretrain_loss, Path(scratch) / "run",
                          example_lengths=experiment.data.lengths)
        trainer.time_steps(rows, steps=1, warmup=1)  # compiles outside the trace
        with jax.profiler.trace(str(out), create_perfetto_trace=True):
            seconds = trainer.time_steps(rows, steps=steps, warmup=1)
    busiest = device_time_by_op(max(out.glob("plugins/profile/*/perfetto_trace.json.gz")), steps + 1)
    top = "; ".join(f"{name} {ms:.2f} ms" for name, ms in busiest[:8]) or "none (a CPU traces host threads only)"
    return f"{1e3 * seconds:.1f} ms/step over {steps} traced steps; device time per step by op: {top}; trace in {out}"


def device_time_by_op(trace: Path, steps: int) -> list[tuple[str, float]]:
    """(op, milliseconds per step) on the accelerator in a Perfetto trace, busiest first: the kernels of the
    processes named ``/device:...`` (a CPU has none), summed over ``steps`` steps."""
    events = json.loads(gzip.decompress(trace.read_bytes()))["traceEvents"]
    devices = {e["pid"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"
               and str(e.get("args", {}).get("name", "")).startswith("/device:")}
    totals: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and e.get("pid") in devices:
            totals[e["name"]] += e.get("dur", 0) / 1e3 / steps  # microseconds
    return totals.most_common()


# Memory bandwidth (bytes/s) of accelerators we know, for the roofline of --cost (their bf16 peaks: KNOWN_PEAKS).
KNOWN_BANDWIDTHS = {"H100": 3.35e12, "H200": 4.8e12, "A100": 2.0e12}
_ARRAY = re.compile(r"= (f32|bf16|s32|pred)\[([\d,]+)\]")
_BYTES = {"f32": 4, "bf16": 2, "s32": 4, "pred": 1}


def step_cost(name: str, overrides: list[str]) -> str:
    """XLA's FLOPs and bytes accessed for one compiled train step of the experiment, and its largest arrays (a line)."""
    experiment = experiment_named(name, overrides)
    train, (enc, dec) = experiment.train, experiment.data.lengths
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(experiment.model, train, pretrain_loss, scratch, example_lengths=(enc, dec))
    batch = {k: jax.ShapeDtypeStruct((train.batch_size, dec if k in DECODER_FEATURES else enc), jnp.int32,
                                     sharding=trainer.batch_sharding) for k in FEATURES}
    compiled = trainer.train_step.lower(trainer.abstract_state, batch, jax.ShapeDtypeStruct((), jnp.float32)).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    kind = jax.devices()[0].device_kind
    chip = next((key for key in KNOWN_BANDWIDTHS if key.lower() in kind.lower()), "H200")  # elsewhere: as if an H200
    peak, bandwidth = KNOWN_PEAKS[chip], KNOWN_BANDWIDTHS[chip]
    totals: dict[str, list[int]] = {}
    for dtype, dims in _ARRAY.findall(compiled.as_text()):
        size = _BYTES[dtype] * int(np.prod([int(d) for d in dims.split(",")]))
        entry = totals.setdefault(f"{dtype}[{dims}]", [size, 0])
        entry[1] += 1
    largest = ", ".join(f"{shape} {size / 1e9:.1f} GB x {count}" for shape, (size, count) in
                        sorted(totals.items(), key=lambda item: -item[1][0] * item[1][1])[:3])
    return (f"({experiment.model.name}, {attention_implementation(experiment.model)} attention, batch "
            f"{train.batch_size} x {enc}+{dec}): XLA counts {cost['flops']:.3g} FLOPs (model FLOPs "
            f"{trainer.flops_per_step:.3g}: {1e3 * trainer.flops_per_step / peak:.1f} ms at an {chip}'s peak) and "
            f"{cost['bytes accessed'] / 1e9:.0f} GB accessed ({1e3 * cost['bytes accessed'] / bandwidth:.1f} ms at its "
            f"{bandwidth / 1e12:.2f} TB/s); largest shapes (size x occurrences in the optimized HLO): {largest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="pretrain-tiny,default-pretrain-cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change every experiment")
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE;...",
                        help="measure every experiment with these settings too (repeatable)")
    parser.add_argument("--cost", action="store_true", help="compile each step and print XLA's cost analysis instead")
    parser.add_argument("--profile", metavar="DIR", help="write a jax.profiler trace of --steps steps per run instead")
    args = parser.parse_args()
    variants = [[]] + [[item for item in variant.split(";") if item] for variant in args.variant]
    device = jax.devices()[0]
    peak, source = peak_flops(device)
    print(f"device: {device.platform} ({device.device_kind}) x {len(jax.devices())}; peak {peak / 1e12:.3f} TFLOP/s per "
          f"device, {source}")
    if device.platform == "cpu":
        print(f"float32 matmul measured again now: {measured_matmul_flops() / 1e12:.3f} TFLOP/s")
    for name in args.experiments.split(","):
        for variant in variants:
            label = name + (f" [{';'.join(variant)}]" if variant else "")
            try:
                if args.cost:
                    print(f"{label} {step_cost(name, args.set + variant)}", flush=True)
                    continue
                if args.profile:
                    folder = Path(args.profile) / re.sub(r"[^A-Za-z0-9.=_-]+", "_", label)
                    print(f"{label}: {profile(name, args.set + variant, args.steps, folder)}", flush=True)
                    continue
                r = measure(name, args.steps, args.set + variant)
            except ConfigError as err:
                parser.exit(2, f"error: {err}\n")
            except Exception as err:  # noqa: BLE001 - an A/B reports a variant the chip cannot run and goes on
                print(f"{label}: failed: {type(err).__name__}: {first_line(err)}", flush=True)
                continue
            report(label, r)
    print("command: python benchmarks/train_throughput.py " + " ".join(
        [f"--experiments {args.experiments}", *(["--cost"] if args.cost else [f"--steps {args.steps}"]),
         *([f"--profile {args.profile}"] if args.profile else []),
         *(f"--set {item}" for item in args.set),
         *(f"--variant '{variant}'" for variant in args.variant)]))


def report(name: str, r: dict) -> None:
    """One line of figures for one measured experiment."""
    print(f"{name} ({r['model']}, {r['dtype']}, {r['attention']} attention, batch {r['batch']} x {r['lengths'][0]}+"
          f"{r['lengths'][1]} tokens): first step {r['startup']:.1f} s after the start; {r['step_ms']:.1f} ms/step; "
          f"waited {r['host_ms']:.2f} ms/step for batches ({r['host_ms'] / r['step_ms']:.1%} of the step), "
          f"building one took {r['batch_ms']:.1f} ms on the prefetch thread; {r['tokens_per_second']:,.0f} tokens/s, "
          f"MFU {r['mfu']:.1%}", flush=True)


if __name__ == "__main__":
    main()
