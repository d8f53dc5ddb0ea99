"""The one training loop of both stages (pretraining and fine-tuning).

It takes a loss function from the stage and a source of numpy batches, and owns everything else:
a jit-compiled step with the model's shardings on a device mesh, AdamW with linear warmup and
cosine decay, gradient clipping, gradient accumulation (a scan over micro-batches), orbax
checkpoints every N steps and at exit, exact resume (the same parameters and the same data order
after a kill: batches are a pure function of the step), evaluation on a held-out source, metrics
to ``metrics.jsonl`` and TensorBoard event files, and a progress bar with loss, tokens/s and MFU.

It never imports seqio or TensorFlow: accelerator machines have JAX but no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding, PartitionSpec
from tensorboardX import SummaryWriter
from tqdm import tqdm

from alphacode.checkpoint import open_manager
from alphacode.fileio import atomic_write_text
from alphacode.model.config import ModelConfig
from alphacode.model.flops import flops_per_example, peak_flops
from alphacode.model.sharding import make_mesh, parse_mesh, rules_for, shardings
from alphacode.model.transformer import EncoderDecoder

Batch = Mapping[str, np.ndarray]
LossFn = Callable[[EncoderDecoder, Any, Batch, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping. ``batch_size`` is the global batch, split into ``grad_accum``
    micro-batches whose gradients are averaged with equal weight (each is already a per-token mean)."""

    steps: int = 200
    batch_size: int = 16
    learning_rate: float = 2e-3
    warmup_steps: int = 20
    final_lr_fraction: float = 0.1
    weight_decay: float = 0.1
    adam_b1: float = 0.9
    adam_b2: float = 0.95
    grad_clip: float = 1.0
    grad_accum: int = 1
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    eval_every: int = 100
    eval_batches: int = 2
    log_every: int = 10
    seed: int = 0
    mesh: str = ""  # e.g. "data=4,fsdp=2"; empty: every device on the data axis

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


class BatchSource(Protocol):
    """Numpy batches as a pure function of the step, so a resumed run sees exactly the same data."""

    def batch(self, step: int) -> Batch: ...


class ArrayBatches:
    """Batches from in-memory arrays: each epoch is a seeded permutation of the examples."""

    def __init__(self, arrays: Mapping[str, np.ndarray], batch_size: int, seed: int = 0) -> None:
        sizes = {len(a) for a in arrays.values()}
        if len(sizes) != 1 or not sizes.pop():
            raise ValueError("arrays must be non-empty and share their first dimension")
        self.arrays, self.batch_size, self.seed = dict(arrays), batch_size, seed
        self.size = len(next(iter(self.arrays.values())))
        self._perm_cache: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perm_cache:
            self._perm_cache = {epoch: np.random.default_rng((self.seed, epoch)).permutation(self.size)}
        return self._perm_cache[epoch]

    def batch(self, step: int) -> Batch:
        start = step * self.batch_size
        index = np.array([self._permutation(i // self.size)[i % self.size] for i in range(start, start + self.batch_size)])
        return {k: v[index] for k, v in self.arrays.items()}


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array


@dataclass(frozen=True)
class TrainSummary:
    """What a run did: losses at its first and last logged steps, and its speed."""

    first_step: int
    last_step: int
    first_metrics: dict[str, float]
    last_metrics: dict[str, float]
    eval_metrics: dict[str, float]
    tokens_per_second: float
    mfu: float

    def metric(self, when: str, name: str) -> float:
        """``name`` at the ``first`` or ``last`` logged step or in the ``eval`` pass; NaN if not logged."""
        return {"first": self.first_metrics, "last": self.last_metrics, "eval": self.eval_metrics}[when].get(name, math.nan)


def learning_rate_schedule(config: TrainConfig) -> optax.Schedule:
    """Linear warmup to ``learning_rate``, then cosine decay to ``final_lr_fraction`` of it."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate, warmup_steps=max(1, config.warmup_steps),
        decay_steps=max(config.steps, config.warmup_steps + 1), end_value=config.learning_rate * config.final_lr_fraction)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW; weight decay only on matrices (not norm scales)."""
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)  # noqa: E731
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.adamw(learning_rate_schedule(config), b1=config.adam_b1, b2=config.adam_b2,
                    weight_decay=config.weight_decay, mask=decay_mask),
    )


def _tokens(batch: Batch) -> int:
    return int(sum(np.sum(batch[k] != 0) for k in ("encoder_input_tokens", "decoder_target_tokens") if k in batch))


class Trainer:
    """Trains :class:`EncoderDecoder` with a stage's loss; checkpoints and metrics go under ``workdir``."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, loss_fn: LossFn,
                 workdir: str | os.PathLike[str], *, init_params: Any | None = None,
                 example_lengths: tuple[int, int] | None = None, mlm_fraction: float = 0.25) -> None:
        self.model_config, self.config, self.loss_fn = model_config, train_config, loss_fn
        self.workdir = Path(workdir)
        self.model = EncoderDecoder(model_config)
        self.optimizer = make_optimizer(train_config)
        all_devices = jax.devices()
        sizes = parse_mesh(train_config.mesh) if train_config.mesh else {"data": len(all_devices)}
        self.mesh = make_mesh(sizes, all_devices)
        devices = list(self.mesh.devices.flat)
        self.rules = rules_for(model_config, sizes)
        data_split = sizes.get("data", 1) * sizes.get("fsdp", 1)
        micro = train_config.batch_size // max(1, train_config.grad_accum)
        if train_config.batch_size % train_config.grad_accum or micro % data_split:
            raise ValueError(f"batch_size {train_config.batch_size} must split into {train_config.grad_accum} "
                             f"micro-batches divisible by data x fsdp = {data_split}")
        enc_len, dec_len = example_lengths or (model_config.max_encoder_length, model_config.max_decoder_length)
        self.flops_per_step = flops_per_example(model_config, enc_len, dec_len, mlm_fraction) * train_config.batch_size
        self.peak_flops, self.peak_source = peak_flops(devices[0])
        self.peak_flops *= len(devices)
        self._init_params = init_params
        self._build()

    # -- construction ---------------------------------------------------------------------------

    def _build(self) -> None:
        cfg, model = self.config, self.model
        dummy = jnp.zeros((1, 8), jnp.int32)

        def init(rng: jax.Array) -> TrainState:
            params = model.init(rng, dummy, dummy)["params"]
            return TrainState(jnp.zeros((), jnp.int32), params, self.optimizer.init(nn.unbox(params)), rng)

        abstract = jax.eval_shape(init, jax.random.PRNGKey(cfg.seed))
        param_shardings = shardings(abstract.params, self.mesh, self.rules)
        replicated = NamedSharding(self.mesh, PartitionSpec())
        opt_shardings = _match_param_shardings(abstract.opt_state, nn.unbox(abstract.params), param_shardings,
                                               jax.tree.map(lambda _: replicated, abstract.opt_state))
        self.state_shardings = TrainState(replicated, param_shardings, opt_shardings, replicated)
        self.abstract_state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                                           _unbox_state(abstract), self.state_shardings)
        self.batch_sharding = NamedSharding(self.mesh, PartitionSpec(("data", "fsdp")))

        def init_unboxed(rng: jax.Array) -> TrainState:
            return _unbox_state(init(rng))

        self.init_state = jax.jit(init_unboxed, out_shardings=self.state_shardings)
        self.train_step = jax.jit(self._step, in_shardings=(self.state_shardings, self.batch_sharding),
                                   out_shardings=(self.state_shardings, replicated), donate_argnums=(0,))
        self._eval_step = jax.jit(self._evaluate, in_shardings=(param_shardings, self.batch_sharding),
                                  out_shardings=replicated)

    def _step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        accum = self.config.grad_accum
        rng, step_rng = jax.random.split(state.rng)

        def micro_grads(carry: Any, micro: tuple[Batch, jax.Array]) -> tuple[Any, dict[str, jax.Array]]:
            micro_batch, key = micro
            (loss, metrics), grads = jax.value_and_grad(
                lambda p: self.loss_fn(self.model, p, micro_batch, key), has_aux=True)(state.params)
            return jax.tree.map(jnp.add, carry, grads), {**metrics, "loss": loss}

        # micro-batch i takes every accum-th example, so each micro-batch stays spread over all devices
        micro_batches = jax.tree.map(lambda x: x.reshape(x.shape[0] // accum, accum, *x.shape[1:]).swapaxes(0, 1),
                                     dict(batch))
        keys = jax.random.split(step_rng, accum)
        zeros = jax.tree.map(jnp.zeros_like, state.params)
        with nn.logical_axis_rules(self.rules):
            grads, metrics = jax.lax.scan(micro_grads, zeros, (micro_batches, keys))
        grads = jax.tree.map(lambda g: g / accum, grads)
        metrics = jax.tree.map(jnp.mean, metrics)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics["grad_norm"] = optax.tree.norm(grads)
        metrics["learning_rate"] = learning_rate_schedule(self.config)(state.step)
        return TrainState(state.step + 1, params, opt_state, rng), metrics

    def _evaluate(self, params: Any, batch: Batch) -> dict[str, jax.Array]:
        with nn.logical_axis_rules(self.rules):
            loss, metrics = self.loss_fn(self.model, params, batch, None)
        return {**metrics, "loss": loss}

    # -- checkpoints ------------------------------------------------------------------------------

    def _write_configs(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        payload = {"model": dataclasses.asdict(self.model_config), "train": dataclasses.asdict(self.config)}
        atomic_write_text(self.workdir / "config.json", json.dumps(payload, indent=1))

    def restore_or_init(self, manager: Any) -> TrainState:
        """The latest checkpoint in ``workdir`` if there is one, else fresh parameters (or ``init_params``)."""
        latest = manager.latest_step()
        if latest is not None:
            print(f"resumed from step {latest}", flush=True)
            return manager.restore(latest, args=ocp.args.StandardRestore(self.abstract_state))
        state = self.init_state(jax.random.PRNGKey(self.config.seed))
        if self._init_params is not None:  # e.g. fine-tuning from a pretrained checkpoint
            params = jax.device_put(_overlay(jax.device_get(state.params), nn.unbox(self._init_params)),
                                    self.state_shardings.params)
            state = state.replace(params=params, opt_state=jax.jit(
                self.optimizer.init, out_shardings=self.state_shardings.opt_state)(params))
        return state

    def time_steps(self, source: BatchSource, steps: int = 10, warmup: int = 2) -> float:
        """Seconds per train step on fresh parameters, after ``warmup`` steps (which compile), with
        the batches already on the device: the speed of the step itself, as benchmarks report it."""
        put = lambda step: jax.device_put(dict(source.batch(step)), self.batch_sharding)  # noqa: E731
        state = self.init_state(jax.random.PRNGKey(self.config.seed))
        for step in range(warmup):
            state, metrics = self.train_step(state, put(step))
        jax.block_until_ready(metrics)
        batches = [put(warmup + step) for step in range(steps)]
        started = time.perf_counter()
        for batch in batches:
            state, metrics = self.train_step(state, batch)
        jax.block_until_ready(metrics)
        return (time.perf_counter() - started) / steps

    # -- the loop ---------------------------------------------------------------------------------

    def train(self, source: BatchSource, eval_source: BatchSource | None = None, progress: bool = True) -> TrainSummary:
        """Run (or resume) until ``config.steps``; returns the first and last logged metrics."""
        cfg = self.config
        self._write_configs()
        writer = _MetricWriter(self.workdir)
        manager = open_manager(self.workdir, cfg.keep_checkpoints)
        state = self.restore_or_init(manager)
        start = int(state.step)
        first: dict[str, float] | None = None
        last: dict[str, float] = {}
        evaluated: dict[str, float] = {}
        window_tokens, window_start, window_steps = 0, time.perf_counter(), 0
        tokens_per_second = mfu = 0.0
        bar = tqdm(total=cfg.steps, initial=start, desc="train", unit="step", disable=not progress, dynamic_ncols=True)
        try:
            for step in range(start, cfg.steps):
                batch = source.batch(step)
                window_tokens += _tokens(batch)
                state, metrics = self.train_step(state, jax.device_put(dict(batch), self.batch_sharding))
                window_steps += 1
                done = step + 1
                if done % cfg.log_every == 0 or done == cfg.steps or first is None:
                    last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                    elapsed = time.perf_counter() - window_start
                    if first is None:
                        first = dict(last, step=done)  # the first step includes compilation: no speed
                    else:
                        tokens_per_second = window_tokens / elapsed
                        mfu = self.flops_per_step * window_steps / elapsed / self.peak_flops
                        last.update(tokens_per_second=tokens_per_second, mfu=mfu)
                    writer.write(done, "train", last)
                    bar.set_postfix(loss=f"{last['loss']:.3f}", tok_s=f"{tokens_per_second:,.0f}", mfu=f"{mfu:.1%}")
                    window_tokens, window_start, window_steps = 0, time.perf_counter(), 0
                if eval_source is not None and (done % cfg.eval_every == 0 or done == cfg.steps):
                    evaluated = self.evaluate(state.params, eval_source)
                    writer.write(done, "eval", evaluated)
                if done % cfg.checkpoint_every == 0:
                    manager.save(done, args=ocp.args.StandardSave(state))
                bar.update()
        finally:
            bar.close()
            if int(state.step) != (manager.latest_step() or 0):
                manager.save(int(state.step), args=ocp.args.StandardSave(state), force=True)
            manager.wait_until_finished()
            manager.close()
            writer.close()
        self.state = state
        return TrainSummary(first_step=int((first or {}).get("step", start)), last_step=int(state.step),
                            first_metrics=first or {}, last_metrics=last, eval_metrics=evaluated,
                            tokens_per_second=tokens_per_second, mfu=mfu)

    def evaluate(self, params: Any, source: BatchSource) -> dict[str, float]:
        """Mean metrics over ``eval_batches`` batches of ``source``."""
        totals: dict[str, float] = {}
        for i in range(self.config.eval_batches):
            metrics = jax.device_get(self._eval_step(params, jax.device_put(dict(source.batch(i)), self.batch_sharding)))
            for k, v in metrics.items():
                totals[k] = totals.get(k, 0.0) + float(v) / self.config.eval_batches
        return totals


def _overlay(fresh: Any, loaded: Any) -> Any:
    """``fresh`` parameters with every entry ``loaded`` also has replaced by the loaded one, so a
    checkpoint without a newer module (such as the value head) still initialises the rest."""
    if isinstance(fresh, Mapping):
        return {k: _overlay(v, loaded[k]) if isinstance(loaded, Mapping) and k in loaded else v for k, v in fresh.items()}
    if getattr(loaded, "shape", None) != getattr(fresh, "shape", None):
        raise ValueError(f"checkpoint parameter of shape {getattr(loaded, 'shape', None)} does not fit {fresh.shape}")
    return loaded


def _unbox_state(state: TrainState) -> TrainState:
    return state.replace(params=nn.unbox(state.params))


def _match_param_shardings(opt_state: Any, params: Any, param_shardings: Any, default: Any) -> Any:
    """Give every optimizer leaf shaped like the parameter tree (Adam's moments) the parameters' shardings."""
    param_structure = jax.tree.structure(params)

    def visit(node: Any, fallback: Any) -> Any:
        if jax.tree.structure(node) == param_structure:
            return param_shardings
        if isinstance(node, tuple) and not hasattr(node, "_fields"):
            return tuple(visit(n, f) for n, f in zip(node, fallback))
        if hasattr(node, "_fields"):  # namedtuple optimizer states
            return type(node)(*(visit(n, f) for n, f in zip(node, fallback)))
        return fallback

    return visit(opt_state, default)


class _MetricWriter:
    """Metrics as JSON lines and TensorBoard event files."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "metrics.jsonl"
        self.file = self.path.open("a")
        self.tensorboard = SummaryWriter(str(workdir / "tensorboard"))

    def write(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        self.file.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
        self.file.flush()
        for name, value in metrics.items():
            if math.isfinite(value):
                self.tensorboard.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        self.file.close()
        self.tensorboard.close()
