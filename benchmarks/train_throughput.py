"""Training throughput and model-FLOPs utilization (MFU) of the shared trainer.

    .venv/bin/python benchmarks/train_throughput.py [--configs tiny,small] [--steps 10] [--batch-size 16]

Runs the real train step (pretraining losses, AdamW, the trainer's shardings) on synthetic
full-length batches and reports tokens/s and MFU against the peak FLOP/s of the device: on a CPU
the peak is measured with a float32 matmul in the same run; on known accelerators (H100/H200, A100,
TPU) the spec sheet's bf16 dense peak is used. Runs unchanged on a GPU (try ``--configs small,300m``).
"""

from __future__ import annotations

import argparse
import tempfile

import jax
import numpy as np

from alphacode.model import get_config
from alphacode.model.flops import flops_per_example, measured_matmul_flops, peak_flops
from alphacode.train import ArrayBatches, TrainConfig, Trainer
from pretrain.objective import pretrain_loss
from pretrain.pipeline import train_lengths


def synthetic_batches(vocab: int, lengths: tuple[int, int], n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    enc = rng.integers(4, vocab, (n, lengths[0]), dtype=np.int32)
    dec = rng.integers(4, vocab, (n, lengths[1]), dtype=np.int32)
    return {
        "encoder_input_tokens": enc, "encoder_target_tokens": enc,
        "encoder_loss_weights": (rng.random(enc.shape) < 0.15).astype(np.int32),
        "decoder_input_tokens": np.concatenate([np.ones((n, 1), np.int32), dec[:, :-1]], axis=1),
        "decoder_target_tokens": dec, "decoder_loss_weights": np.ones_like(dec),
    }


def measure(name: str, steps: int, batch_size: int, dtype: str) -> dict[str, float]:
    config = get_config(name, dtype=dtype)
    lengths = train_lengths(config)
    source = ArrayBatches(synthetic_batches(config.vocab_size, lengths, batch_size * 2), batch_size)
    with tempfile.TemporaryDirectory() as workdir:
        train = TrainConfig(steps=steps + 2, batch_size=batch_size, log_every=10**6, checkpoint_every=10**6,
                            eval_every=10**6)
        trainer = Trainer(config, train, pretrain_loss, workdir, example_lengths=lengths)
        step_seconds = trainer.time_steps(source, steps)
    return {"tokens_per_second": batch_size * sum(lengths) / step_seconds,
            "flops_per_second": batch_size * flops_per_example(config, *lengths) / step_seconds,
            "step_seconds": step_seconds, "peak": trainer.peak_flops, "lengths": lengths, "dtype": config.dtype}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="tiny,small")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                        help="activations; auto: float32 on a CPU, bfloat16 on accelerators")
    args = parser.parse_args()
    device = jax.devices()[0]
    accelerator = device.platform != "cpu"
    peak, source = peak_flops(device)
    print(f"device: {device.platform} ({device.device_kind}) x {len(jax.devices())}; peak {peak / 1e12:.3f} TFLOP/s per "
          f"device, {source}")
    if not accelerator:
        print(f"float32 matmul measured again now: {measured_matmul_flops() / 1e12:.3f} TFLOP/s")
    for name in args.configs.split(","):
        dtype = args.dtype if args.dtype != "auto" else "bfloat16" if accelerator else "float32"
        result = measure(name, args.steps, args.batch_size, dtype)
        mfu = result["flops_per_second"] / result["peak"]
        print(f"{name:6s} ({result['dtype']}, encoder {result['lengths'][0]} / decoder {result['lengths'][1]} tokens, "
              f"batch {args.batch_size}): {result['tokens_per_second']:10,.0f} tokens/s, {result['step_seconds']:.3f} s/step, "
              f"{result['flops_per_second'] / 1e12:.3f} TFLOP/s, MFU {mfu:.1%}")
    print(f"command: .venv/bin/python benchmarks/train_throughput.py --configs {args.configs} --steps {args.steps} "
          f"--batch-size {args.batch_size} --dtype {args.dtype}")


if __name__ == "__main__":
    main()
