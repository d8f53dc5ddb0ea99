"""Train a very small model on synthetic batches; used by the trainer tests in subprocesses.

``python -m tests.helpers.train_tiny WORKDIR STEPS [--kill-at K] [--interrupt-at K] [--mesh SPEC] [--devices N]``
prints one JSON line with the final loss and a checksum of the parameters. ``--kill-at K`` makes
the process SIGKILL itself when it builds batch K (after the checkpoint of step 10 was saved);
``--interrupt-at K`` sends it SIGINT (Ctrl-C) there, and it prints ``{"interrupted": true}`` instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

import numpy as np

from alphacode.model.config import ModelConfig, get_config


class ArrayBatches:
    """Batches of ``batch_size`` rows from in-memory arrays: each epoch is a seeded permutation of the examples."""

    def __init__(self, arrays: Mapping[str, np.ndarray], batch_size: int, seed: int = 0) -> None:
        self.arrays, self.batch_size, self.seed = dict(arrays), batch_size, seed
        self.size = len(next(iter(self.arrays.values())))

    def rows(self, step: int, start: int, stop: int) -> dict[str, np.ndarray]:
        first = step * self.batch_size
        index = np.array([np.random.default_rng((self.seed, i // self.size)).permutation(self.size)[i % self.size]
                          for i in range(first + start, first + stop)])
        return {k: v[index] for k, v in self.arrays.items()}


def tiny_model_and_examples() -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """A very small model and 64 examples of 16 + 16 tokens whose decoder targets are easy to learn."""
    config = get_config("tiny", vocab_size=128, d_model=32, num_heads=4, num_kv_heads=2, head_dim=8, d_ff=64,
                        encoder_layers=1, decoder_layers=2, max_encoder_length=16, max_decoder_length=16)
    rng = np.random.default_rng(0)
    n = 64
    enc = rng.integers(4, 128, (n, 16))
    dec = (np.arange(16)[None, :] + rng.integers(0, 8, (n, 1))) % 120 + 4
    arrays = {
        "encoder_input_tokens": np.where(rng.random((n, 16)) < 0.15, 3, enc),
        "encoder_target_tokens": enc, "encoder_loss_weights": (rng.random((n, 16)) < 0.15),
        "decoder_input_tokens": np.concatenate([np.ones((n, 1), int), dec[:, :-1]], axis=1),
        "decoder_target_tokens": dec, "decoder_loss_weights": np.ones((n, 16)),
    }
    return config, {k: v.astype(np.int32) for k, v in arrays.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir")
    parser.add_argument("steps", type=int)
    parser.add_argument("--kill-at", type=int, default=-1)
    parser.add_argument("--interrupt-at", type=int, default=-1)
    parser.add_argument("--mesh", default="")
    parser.add_argument("--devices", type=int, default=1)
    args = parser.parse_args()
    if args.devices > 1:
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    import json
    import signal

    import jax

    from alphacode.config import TrainConfig
    from alphacode.train import Trainer
    from pretrain.objective import pretrain_loss

    config, arrays = tiny_model_and_examples()

    class Source(ArrayBatches):
        def rows(self, step: int, start: int, stop: int):
            if step == args.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if step == args.interrupt_at:
                os.kill(os.getpid(), signal.SIGINT)
            return super().rows(step, start, stop)

    train = TrainConfig(steps=args.steps, batch_size=8, learning_rate=3e-3, warmup_steps=3, checkpoint_every=10,
                        log_every=1, eval_every=10**6, mesh=args.mesh, grad_accum=2)
    trainer = Trainer(config, train, pretrain_loss, args.workdir, example_lengths=(16, 16))
    try:
        summary = trainer.train(Source(arrays, 8), progress=False)
    except KeyboardInterrupt:
        print(json.dumps({"interrupted": True}))
        return
    params = jax.device_get(trainer.state.params)
    checksum = float(sum(np.abs(np.asarray(p, np.float64)).sum() for p in jax.tree.leaves(params)))
    print(json.dumps({"loss": summary.last_metrics["loss"], "first_loss": summary.first_metrics.get("loss"),
                      "checksum": checksum, "devices": len(jax.devices())}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
