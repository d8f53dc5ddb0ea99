"""The one training loop of both stages (pretraining and fine-tuning).

It takes a loss function from the stage and a source of numpy rows, and owns everything else:
a jit-compiled step with the model's shardings on a device mesh that spans every process, AdamW with
linear warmup and cosine decay, gradient clipping, gradient accumulation (a scan over micro-batches),
batches built ahead on a background thread (each process builds only its rows of the global batch),
orbax checkpoints every N steps and at exit, saved by all processes together, exact resume (the same
parameters and the same data order after a kill: rows are a pure function of the step), evaluation on
a held-out source, and on process 0 metrics to ``metrics.jsonl`` and TensorBoard event files and a
progress bar with loss, tokens/s and MFU. The time from the command's start to the first step and the
loop's wait for batches per step are logged with the first and later metrics.

It never imports seqio or TensorFlow: accelerator machines have JAX but no TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding, PartitionSpec

try:
    from tensorboardX import SummaryWriter
except ImportError:  # accelerator images often lack it; metrics.jsonl still holds every value
    SummaryWriter = None
from tqdm import tqdm

from alphacode.checkpoint import open_manager, restore, restore_latest
from alphacode.config import TrainConfig, record_run, saved_steps
from alphacode.errors import ConfigError
from alphacode.fileio import atomic_write_text
from alphacode.hosts import agree, is_leader
from alphacode.model.config import ModelConfig
from alphacode.model.flops import flops_per_example, peak_flops
from alphacode.model.sharding import make_mesh, parse_mesh, rules_for, shardings
from alphacode.model.transformer import EncoderDecoder, attention_implementation

Batch = Mapping[str, np.ndarray]
LossFn = Callable[[EncoderDecoder, Any, Batch, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


class BatchSource(Protocol):
    """Rows ``start`` to ``stop`` of the global batch of ``step``, a pure function of its arguments: a resumed
    run sees exactly the batches of an uninterrupted one, and each process builds only its own rows."""

    def rows(self, step: int, start: int, stop: int) -> Batch: ...


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array


@dataclass(frozen=True)
class TrainSummary:
    """What a run did: losses at its first and last logged steps, its speed, and where the time went
    (``startup_seconds``: from the command's start to the end of the first step, compilation included;
    ``host_ms_per_step``: how long the training loop waited for its batches, per step)."""

    first_step: int
    last_step: int
    first_metrics: dict[str, float]
    last_metrics: dict[str, float]
    eval_metrics: dict[str, float]
    tokens_per_second: float
    mfu: float
    startup_seconds: float = math.nan
    host_ms_per_step: float = math.nan
    step_seconds: float = math.nan
    resumed_from: int = 0

    def metric(self, when: str, name: str) -> float:
        """``name`` at the ``first`` or ``last`` logged step or in the ``eval`` pass; NaN if not logged."""
        return {"first": self.first_metrics, "last": self.last_metrics, "eval": self.eval_metrics}[when].get(name, math.nan)


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of ``step``: linear warmup to ``learning_rate``, then cosine decay to ``final_lr_fraction``
    of it at ``config.steps``. Computed on the host and passed to the compiled step, so one compilation serves a
    run of any length: the time-budget planner's probe and the run it plans."""
    config = config.resolved()
    warmup = max(1, config.warmup_steps)
    if step < warmup:
        return config.learning_rate * step / warmup
    progress = min(1.0, (step - warmup) / (max(config.steps, warmup + 1) - warmup))
    end = config.final_lr_fraction
    return config.learning_rate * (end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW at a unit learning rate (the step scales its updates by :func:`learning_rate`;
    a schedule, not a constant, keeps the optimizer state of earlier checkpoints); weight decay only on matrices."""
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)  # noqa: E731
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.adamw(lambda count: 1.0, b1=config.adam_b1, b2=config.adam_b2, weight_decay=config.weight_decay,
                    mask=decay_mask),
    )


def _tokens(batch: Batch) -> jax.Array:
    """Non-padding tokens the model reads and writes in a batch (inside the jitted step)."""
    return sum(jnp.sum(batch[k] != 0) for k in ("encoder_input_tokens", "decoder_target_tokens") if k in batch)


class Trainer:
    """Trains :class:`EncoderDecoder` with a stage's loss; checkpoints and metrics go under ``workdir``.

    On many hosts every process runs the same trainer: the mesh spans all processes' devices, each
    process builds only its own rows of every global batch, orbax saves and restores checkpoints with
    all processes together, and only process 0 writes ``config.json``, metrics, events and the progress bar."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, loss_fn: LossFn,
                 workdir: str | os.PathLike[str], *, init_params: Any | None = None,
                 example_lengths: tuple[int, int] | None = None,
                 run_info: Mapping[str, Any] | None = None, started: float | None = None,
                 init_checkpoint: str | os.PathLike[str] | None = None) -> None:
        self.model_config, self.loss_fn = model_config, loss_fn
        self._train_config, self.config = train_config, train_config.resolved()
        self.workdir = Path(workdir)
        self.run_info = dict(run_info or {})
        self.started = started if started is not None else time.perf_counter()
        self.model = EncoderDecoder(model_config)
        self.optimizer = make_optimizer(self.config)
        all_devices = jax.devices()
        sizes = parse_mesh(self.config.mesh) if self.config.mesh else {"data": len(all_devices)}
        self.mesh = make_mesh(sizes, all_devices)
        devices = list(self.mesh.devices.flat)
        self.rules = rules_for(model_config, sizes)
        _check_cudnn_sharding(model_config, sizes.get("tensor", 1))
        data_split = sizes.get("data", 1) * sizes.get("fsdp", 1)
        micro = self.config.batch_size // max(1, self.config.grad_accum)
        if self.config.batch_size % self.config.grad_accum or micro % data_split:
            raise ConfigError(f"batch_size {self.config.batch_size} must split into {self.config.grad_accum} "
                              f"micro-batches divisible by data x fsdp = {data_split}")
        enc_len, dec_len = example_lengths or (model_config.max_encoder_length, model_config.max_decoder_length)
        self.lengths = (enc_len, dec_len)
        self.flops_per_step = flops_per_example(model_config, enc_len, dec_len) * self.config.batch_size
        self.peak_flops, self.peak_source = peak_flops(devices[0])
        self.peak_flops *= len(devices)
        self._init_params, self._init_checkpoint = init_params, init_checkpoint
        self._build()
        self.local_rows = self._local_rows()

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
        self.train_step = jax.jit(self._step, in_shardings=(self.state_shardings, self.batch_sharding, replicated),
                                   out_shardings=(self.state_shardings, replicated), donate_argnums=(0,))
        self._eval_step = jax.jit(self._evaluate, in_shardings=(param_shardings, self.batch_sharding),
                                  out_shardings=replicated)

    def _local_rows(self) -> tuple[int, int]:
        """The rows of every global batch that this process's devices hold (a contiguous block)."""
        index = self.batch_sharding.addressable_devices_indices_map((self.config.batch_size,))
        starts = [(s[0].start or 0) for s in index.values()]
        stops = [(s[0].stop if s[0].stop is not None else self.config.batch_size) for s in index.values()]
        start, stop = min(starts), max(stops)
        if stop - start != sum(b - a for a, b in set(zip(starts, stops))):
            raise ConfigError(f"this process's devices hold rows {sorted(set(zip(starts, stops)))} of the batch, "
                              f"not one block; order the mesh so each process's devices are adjacent on data x fsdp")
        return start, stop

    def device_batch(self, source: BatchSource, step: int) -> dict[str, jax.Array]:
        """This process's rows of the global batch of ``step`` as one global array per feature."""
        start, stop = self.local_rows
        local = source.rows(step, start, stop)
        size = self.config.batch_size
        return {k: jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(v), (size, *v.shape[1:]))
                for k, v in local.items()}

    def _step(self, state: TrainState, batch: Batch, lr: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
        """One optimizer step at learning rate ``lr``. Nothing here depends on the run's length, so
        :meth:`set_steps` never makes it compile again."""
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
        params = optax.apply_updates(state.params, jax.tree.map(lambda u: (lr * u).astype(u.dtype), updates))
        metrics["grad_norm"] = optax.tree.norm(grads)
        metrics["tokens"] = _tokens(batch)  # of the global batch, whatever process reads it
        metrics["learning_rate"] = lr
        return TrainState(state.step + 1, params, opt_state, rng), metrics

    def _evaluate(self, params: Any, batch: Batch) -> dict[str, jax.Array]:
        with nn.logical_axis_rules(self.rules):
            loss, metrics = self.loss_fn(self.model, params, batch, None)
        return {**metrics, "loss": loss}

    # -- checkpoints ------------------------------------------------------------------------------

    def _write_configs(self) -> None:
        if is_leader():
            record_run(self.workdir, model=dataclasses.asdict(self.model_config), train=dataclasses.asdict(self.config),
                       **self.run_info)

    def restore_or_init(self, manager: Any) -> TrainState:
        """The latest checkpoint in ``workdir`` if there is one, else fresh parameters, or those of
        ``init_checkpoint`` (another run's latest state, restored by all processes onto this trainer's
        shardings) or ``init_params`` (host arrays, e.g. a model export) with a fresh optimizer."""
        latest = manager.latest_step()
        if latest is not None:
            return restore(manager, latest, ocp.args.StandardRestore(self.abstract_state))
        state = self.init_state(jax.random.PRNGKey(self.config.seed))
        if self._init_checkpoint is not None:  # e.g. fine-tuning from a pretraining run
            params = restore_latest(self._init_checkpoint, self.abstract_state).params
        elif self._init_params is not None:  # e.g. fine-tuning from a model export: host arrays, put leaf by leaf
            params = jax.device_put(_overlay(state.params, nn.unbox(self._init_params)), self.state_shardings.params)
        else:
            return state
        return state.replace(params=params, opt_state=jax.jit(
            self.optimizer.init, out_shardings=self.state_shardings.opt_state)(params))

    def set_steps(self, steps: int) -> None:
        """Train for ``steps`` (a time budget's plan): the schedule, checkpoints and logs follow; nothing recompiles."""
        self.config = self._train_config.replace(steps=steps).resolved()

    def _learning_rate(self, step: int) -> np.ndarray:
        return np.float32(learning_rate(self.config, step))

    def time_steps(self, source: BatchSource, steps: int = 10, warmup: int = 2) -> float:
        """Seconds per train step on fresh parameters, after ``warmup`` steps (which compile), with
        the batches already on the device: the speed of the step itself, as benchmarks report it."""
        state = self.init_state(jax.random.PRNGKey(self.config.seed))
        for step in range(warmup):
            state, metrics = self.train_step(state, self.device_batch(source, step), self._learning_rate(step))
        jax.block_until_ready(metrics)
        batches = [self.device_batch(source, warmup + step) for step in range(steps)]
        started = time.perf_counter()
        for step, batch in enumerate(batches, warmup):
            state, metrics = self.train_step(state, batch, self._learning_rate(step))
        jax.block_until_ready(metrics)
        return (time.perf_counter() - started) / steps

    # -- the loop ---------------------------------------------------------------------------------

    def train(self, source: BatchSource, eval_source: BatchSource | None = None, progress: bool = True) -> TrainSummary:
        """Run (or resume) until ``config.steps``; returns the first and last logged metrics."""
        cfg = self.config
        self._write_configs()
        leader = is_leader()
        with contextlib.ExitStack() as stack:
            interrupts = stack.enter_context(_Interrupts(announce=leader))
            manager = stack.enter_context(open_manager(self.workdir, cfg.keep_checkpoints))
            state = self.restore_or_init(manager)
            start = int(state.step)
            writer = stack.enter_context(_MetricWriter(self.workdir, after_step=start)) if leader else None
            if start and leader:
                print(f"resumed from step {start}", flush=True)
            first: dict[str, float] | None = None
            last: dict[str, float] = {}
            evaluated: dict[str, float] = {}
            window_tokens, window_start, window_steps = 0, time.perf_counter(), 0
            tokens_per_second = mfu = startup = host_ms = step_seconds = math.nan
            bar = stack.enter_context(tqdm(total=cfg.steps, initial=start, desc="train", unit="step",
                                           disable=not (progress and leader), dynamic_ncols=True))
            batches = stack.enter_context(_Prefetcher(lambda step: self.device_batch(source, step),
                                                      range(start, cfg.steps), cfg.prefetch))
            finished = False
            try:
                for step, batch in zip(range(start, cfg.steps), batches):
                    if interrupts.requested:
                        raise KeyboardInterrupt
                    state, metrics = self.train_step(state, batch, self._learning_rate(step))
                    window_tokens = window_tokens + metrics.pop("tokens")  # summed on the device, read when logged
                    window_steps += 1
                    done = step + 1
                    if done % cfg.log_every == 0 or done == cfg.steps or first is None:
                        last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                        elapsed = time.perf_counter() - window_start
                        waited, built = batches.take_times()
                        if first is None:  # the first step includes compilation: no speed yet
                            startup = time.perf_counter() - self.started
                            first = dict(last, step=done, startup_seconds=startup)
                        else:
                            step_seconds = elapsed / window_steps
                            tokens_per_second = float(window_tokens) / elapsed
                            mfu = self.flops_per_step / step_seconds / self.peak_flops
                            host_ms = 1e3 * waited / window_steps
                            last.update(tokens_per_second=tokens_per_second, mfu=mfu, host_ms_per_step=host_ms,
                                        batch_ms=1e3 * built / window_steps, step_seconds=step_seconds)
                        if writer is not None:
                            writer.write(done, "train", first if done == first["step"] else last)
                        speed = {} if math.isnan(mfu) else {"tok_s": f"{tokens_per_second:,.0f}", "mfu": f"{mfu:.1%}"}
                        bar.set_postfix(loss=f"{last['loss']:.3f}", **speed)
                        window_tokens, window_start, window_steps = 0, time.perf_counter(), 0
                    if eval_source is not None and (done % cfg.eval_every == 0 or done == cfg.steps):
                        evaluated = self.evaluate(state.params, eval_source)
                        if writer is not None:
                            writer.write(done, "eval", evaluated)
                    if done % cfg.checkpoint_every == 0:
                        manager.save(done, args=ocp.args.StandardSave(state))
                    bar.update()
                finished = True
            except KeyboardInterrupt:
                finished = True  # every process stops here alike: keep what was trained
                raise
            finally:
                # after any other failure the state may be gone (donated) and the processes out of step: no save
                if finished and int(state.step) != (manager.latest_step() or 0):
                    manager.save(int(state.step), args=ocp.args.StandardSave(state), force=True)
                manager.wait_until_finished()
        self.state = state
        if interrupts.requested:  # Ctrl-C after the last step: saved, and the command stops here too
            raise KeyboardInterrupt
        return TrainSummary(first_step=int((first or {}).get("step", start)), last_step=int(state.step),
                            first_metrics=first or {}, last_metrics=last, eval_metrics=evaluated,
                            tokens_per_second=tokens_per_second, mfu=mfu, startup_seconds=startup,
                            host_ms_per_step=host_ms, step_seconds=step_seconds, resumed_from=start)

    def evaluate(self, params: Any, source: BatchSource) -> dict[str, float]:
        """Mean metrics over ``config.eval_batches`` batches of ``source``."""
        totals: dict[str, float] = {}
        for i in range(self.config.eval_batches):
            metrics = jax.device_get(self._eval_step(params, self.device_batch(source, i)))
            for k, v in metrics.items():
                totals[k] = totals.get(k, 0.0) + float(v) / self.config.eval_batches
        return totals


class _Interrupts:
    """Ctrl-C while one process trains: the first stops the loop before its next step, so no checkpoint save is
    cut off halfway (orbax's threads then flood the terminal); a second interrupts at once. Elsewhere (many
    processes, which must stop at the same step, or not the main thread) Ctrl-C raises where it lands."""

    def __init__(self, announce: bool) -> None:
        self.requested = False
        self.announce = announce
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> Self:
        if (jax.process_count() == 1 and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):  # ignored (a background job) stays so
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            print("\ninterrupted: saving after this step (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._installed:  # None: a handler set outside Python, which cannot be put back; the default then
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._previous is None else self._previous)


class _Prefetcher:
    """Builds ``make(step)`` for each step on a background thread, so the device never waits for the host:
    ``depth`` batches wait in the queue while the thread builds the next (``depth`` 0: built in the loop).
    Iterating yields the results in order; errors are raised in the loop. ``take_times()`` gives, since its
    last call, the seconds the loop waited for batches and the seconds spent building them."""

    def __init__(self, make: Callable[[int], Any], steps: range, depth: int) -> None:
        self._make, self._steps, self._depth = make, iter(steps), depth
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._waited = self._built = 0.0
        self._thread = None
        if depth > 0:
            self._thread = threading.Thread(target=self._fill, name="batch-prefetch", daemon=True)
            self._thread.start()

    def _fill(self) -> None:
        try:
            for step in self._steps:
                item = (True, self._timed_make(step))  # (ok, (value, seconds to build))
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as err:  # handed to the training loop
            self._queue.put((False, err))

    def __iter__(self) -> _Prefetcher:
        return self

    def __next__(self) -> Any:
        started = time.perf_counter()
        if self._thread is None:
            item = (True, self._timed_make(next(self._steps)))
        else:
            item = self._queue.get()
        self._waited += time.perf_counter() - started
        ok, value = item
        if not ok:
            raise value
        made, built = value
        self._built += built  # counted here, on the loop's side, so take_times never races the thread
        return made

    def _timed_make(self, step: int) -> tuple[Any, float]:
        started = time.perf_counter()
        made = self._make(step)
        return made, time.perf_counter() - started

    def take_times(self) -> tuple[float, float]:
        times, self._waited, self._built = (self._waited, self._built), 0.0, 0.0
        return times

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                self._thread.join(timeout=0.1)


def _check_cudnn_sharding(config: ModelConfig, tensor: int) -> None:
    """cuDNN's fused attention needs queries, keys and values split alike over the tensor axis (see ``rules_for``)."""
    if tensor == 1 or attention_implementation(config) != "cudnn":
        return
    if (config.num_heads % tensor == 0) != (config.num_kv_heads > 1 and config.num_kv_heads % tensor == 0):
        raise ConfigError(f"model.attention=cudnn needs the key/value heads split over tensor={tensor} like the "
                          f"{config.num_heads} query heads ({config.num_kv_heads} are not); set model.attention=xla "
                          f"or another train.mesh")


def _overlay(fresh: Any, loaded: Any) -> Any:
    """``fresh`` parameters (device arrays, never gathered) with every entry ``loaded`` also has replaced by the
    loaded one, so a checkpoint without a newer module (such as the value head) still initialises the rest."""
    if isinstance(fresh, Mapping):
        return {k: _overlay(v, loaded[k]) if isinstance(loaded, Mapping) and k in loaded else v for k, v in fresh.items()}
    if getattr(loaded, "shape", None) != getattr(fresh, "shape", None):
        raise ConfigError(f"a parameter of shape {getattr(loaded, 'shape', None)} to start from does not fit the "
                          f"model's {fresh.shape}")
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
    """Metrics as JSON lines and TensorBoard event files. A resumed run first drops the lines of steps after its
    checkpoint (written by the run that was cut short), so every step stays logged once."""

    def __init__(self, workdir: Path, after_step: int = 0) -> None:
        self.path = workdir / "metrics.jsonl"
        if after_step and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines(keepends=True)
                    if line.strip() and json.loads(line)["step"] <= after_step]
            atomic_write_text(self.path, "".join(kept))
        self.file = self.path.open("a")
        self.tensorboard = SummaryWriter(str(workdir / "tensorboard")) if SummaryWriter else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, step: int, split: str, metrics: Mapping[str, float]) -> None:
        self.file.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
        self.file.flush()
        for name, value in metrics.items():
            if self.tensorboard and math.isfinite(value):
                self.tensorboard.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        self.file.close()
        if self.tensorboard:
            self.tensorboard.close()


def plan_steps(config: TrainConfig, workdir: str | os.PathLike[str], probe: Callable[[], Trainer],
               source: BatchSource, say: Callable[[str], None] = print) -> int:
    """The run's step count: ``config.steps``, or with a time budget the steps a timed probe of the real train
    step and batch building fits into ``config.seconds`` (planned once; a rerun keeps the plan, scaled when
    the budget grew). Every process gets process 0's answer."""
    if config.seconds is None:
        return config.steps
    steps, seconds = saved_steps(workdir) if is_leader() else (None, None)
    if agree(int(steps is not None and bool(seconds))):  # every process takes the same branch
        return agree(int(steps * config.seconds / seconds) if is_leader() else 0)
    trainer = probe()
    step_seconds = trainer.time_steps(source, steps=10)
    started = time.perf_counter()
    for step in range(3):
        trainer.device_batch(source, step)
    host_seconds = (time.perf_counter() - started) / 3
    planned = agree(max(10, int(config.seconds / (step_seconds + host_seconds))))
    if is_leader():
        say(f"plan: {step_seconds * 1e3:.1f} ms/step on the device "
            f"({trainer.flops_per_step / step_seconds / trainer.peak_flops:.1%} MFU) + {host_seconds * 1e3:.1f} ms "
            f"of batch building -> {planned} steps for {config.seconds:.0f} s")
    return planned


def run_training(model_config: ModelConfig, config: TrainConfig, loss_fn: LossFn, workdir: str | os.PathLike[str],
                 source: BatchSource, eval_source: BatchSource | None, *, lengths: tuple[int, int],
                 run_info: Mapping[str, Any], init_params: Any | None = None,
                 init_checkpoint: str | os.PathLike[str] | None = None, started: float | None = None,
                 say: Callable[[str], None] = print, progress: bool = True) -> tuple[TrainSummary, Trainer]:
    """Plan the steps (see :func:`plan_steps`) and train: what every training command does once its data is ready.
    Returns the summary and the trainer (its ``state`` holds the trained parameters)."""
    trainer = Trainer(model_config, config, loss_fn, workdir, init_params=init_params, init_checkpoint=init_checkpoint,
                      example_lengths=lengths, run_info=run_info, started=started)
    attention = attention_implementation(model_config)
    if attention != model_config.attention and is_leader():
        say(f"attention: {attention}, not {model_config.attention} (cuDNN's needs an NVIDIA GPU and 16-bit "
            "activations)")
    trainer.set_steps(plan_steps(config, workdir, lambda: trainer, source, say))  # the probe's compilation serves
    return trainer.train(source, eval_source, progress=progress), trainer
