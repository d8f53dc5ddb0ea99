"""Experiments: one Python file per experiment returns the whole config; ``--set key=value`` overrides any field.

An experiment (``configs/NAME.py``, or any file with a ``get_config()``) returns an :class:`Experiment`:
the model, the stage's data and loss settings, and the training settings, each a frozen dataclass.
:func:`apply_overrides` changes fields by dotted key (``train.steps=5``, ``data.rates.functions=0.5``),
parsing each value by the field's declared type, so a typo or a badly typed value is one line naming
the key. The resolved experiment is what a run writes to ``WORKDIR/config.json``, with the version and
commit; :func:`check_rerun` refuses a rerun into that directory whose experiment differs in anything but
a grown step count or time budget. This follows big_vision's ``configs/*.py`` and maxtext's base config
with command-line overrides.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphacode.errors import ConfigError, first_line
from alphacode.fileio import atomic_write_bytes, atomic_write_text, make_dirs, read_json_file
from alphacode.model.config import ModelConfig
from alphacode.provenance import provenance

# Settings a rerun may raise: training on from the last checkpoint is what a rerun is for.
GROWABLE = ("train.steps", "train.seconds")
# Settings of the machine a run happens to be on, or of where it writes its model, not of the experiment: a
# rerun may change them.
RUNTIME = ("data.threads", "train.prefetch", "train.mesh", "model.attention", "data.export")


def check_ranges(section: str, settings: Any, ranges: Mapping[str, bool], need: str) -> None:
    """One line naming every setting of ``section`` whose range check failed; ``need`` states the ranges."""
    wrong = [f"{name}={getattr(settings, name)}" for name, ok in ranges.items() if not ok]
    if wrong:
        raise ConfigError(f"{section}: out of range: {', '.join(wrong)} ({need})")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of one training run. ``batch_size`` is the global batch (all processes),
    split into ``grad_accum`` micro-batches whose gradients are averaged with equal weight. ``seconds`` is a
    time budget: when set, the step count is planned at the first start by timing the real step (and the
    batch building) and kept in the work directory. Fields left ``None`` follow the run's length
    (:meth:`resolved`): warmup over a tenth of the run (at most ``max_warmup_steps``), four checkpoints
    and evaluations, about twenty log lines."""

    # how long, on how much data
    steps: int = 200
    seconds: float | None = None
    batch_size: int = 16
    grad_accum: int = 1
    # the learning rate's schedule: linear warmup, cosine decay
    learning_rate: float = 2e-3
    warmup_steps: int | None = None
    max_warmup_steps: int = 200
    final_lr_fraction: float = 0.1
    # AdamW and clipping
    weight_decay: float = 0.1
    adam_b1: float = 0.9
    adam_b2: float = 0.95
    grad_clip: float = 1.0
    # checkpoints, evaluation, logs
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    eval_every: int | None = None
    eval_batches: int = 2
    log_every: int | None = None
    # where it runs
    seed: int = 0
    mesh: str = ""  # e.g. "data=4,fsdp=2"; empty: every device of every process on the data axis
    prefetch: int = 2  # batches built ahead on a background thread

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.grad_accum, self.eval_batches, self.max_warmup_steps) < 1:
            raise ConfigError("train.steps, batch_size, grad_accum, eval_batches and max_warmup_steps must be "
                              f"at least 1: {self}")
        if self.seconds is not None and not 0 < self.seconds < math.inf:
            raise ConfigError(f"train.seconds must be positive, got {self.seconds}")
        ranges = {"learning_rate": 0 < self.learning_rate < math.inf, "grad_clip": 0 < self.grad_clip < math.inf,
                  "weight_decay": 0 <= self.weight_decay < math.inf,
                  "final_lr_fraction": 0 <= self.final_lr_fraction <= 1, "adam_b1": 0 <= self.adam_b1 < 1,
                  "adam_b2": 0 <= self.adam_b2 < 1, "seed": self.seed >= 0}
        check_ranges("train", self, ranges, "need learning_rate and grad_clip > 0, weight_decay and seed >= 0, "
                     "final_lr_fraction in [0, 1], adam_b1 and adam_b2 in [0, 1)")
        if self.prefetch < 0 or self.keep_checkpoints < 1:
            raise ConfigError(f"train.prefetch must be at least 0 and keep_checkpoints at least 1: {self}")
        for name in ("warmup_steps", "checkpoint_every", "eval_every", "log_every"):
            if getattr(self, name) is not None and getattr(self, name) < (0 if name == "warmup_steps" else 1):
                raise ConfigError(f"train.{name} must be positive (or none: follow the run's length)")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def resolved(self, steps: int | None = None) -> TrainConfig:
        """Every ``None`` field filled in for a run of ``steps`` (default: ``self.steps``)."""
        steps = steps or self.steps
        every = max(50, steps // 4)
        return self.replace(
            steps=steps,
            warmup_steps=self.warmup_steps if self.warmup_steps is not None
            else max(1, min(self.max_warmup_steps, steps // 10)),
            checkpoint_every=self.checkpoint_every or every, eval_every=self.eval_every or every,
            log_every=self.log_every or max(1, min(50, steps // 20)))


@dataclass(frozen=True)
class Experiment:
    """A whole training experiment. ``stage`` says which command runs it (``pretrain`` or ``finetune``);
    ``data`` and ``loss`` are that stage's own dataclasses."""

    name: str
    stage: str
    model: ModelConfig
    train: TrainConfig
    data: Any
    loss: Any

    def check_lengths(self) -> None:
        """Refuse example lengths the model cannot take (checked once every override is in)."""
        lengths, model = getattr(self.data, "lengths", None), self.model
        if lengths is not None and (lengths[0] > model.max_encoder_length or lengths[1] > model.max_decoder_length):
            raise ConfigError(f"data.lengths={tuple(lengths)} exceed the model's max_encoder_length and "
                              f"max_decoder_length ({model.max_encoder_length}, {model.max_decoder_length})")

    def check_stage(self, stage: str) -> None:
        """Refuse to run this experiment with another stage's command."""
        if self.stage != stage:
            raise ConfigError(f"experiment {self.name!r} is a {self.stage} experiment; "
                              f"run it with `alphacode {self.stage}`")

    def check_vocab(self, vocab_size: int) -> None:
        """Refuse a model whose vocabulary is not the tokenizer's (``vocab_size`` pieces)."""
        if self.model.vocab_size != vocab_size:
            raise ConfigError(f"model.vocab_size is {self.model.vocab_size} but the tokenizer has {vocab_size} "
                              f"pieces; set model.vocab_size={vocab_size}")


def experiment_file(name_or_file: str | os.PathLike[str]) -> Path:
    """The file of an experiment given by name (``pretrain-tiny`` is ``configs/pretrain_tiny.py``) or path."""
    given = Path(name_or_file)
    if given.suffix == ".py" or len(given.parts) > 1:
        if not given.is_file():
            raise ConfigError(f"{given}: {'is a directory, not' if given.is_dir() else 'no such'} experiment file")
        return given
    spec = importlib.util.find_spec("configs")
    folders = list(spec.submodule_search_locations or []) if spec else []
    names = sorted(p.stem.replace("_", "-") for folder in folders for p in Path(folder).glob("*.py")
                   if not p.name.startswith("_"))
    for folder in folders:
        path = Path(folder) / f"{str(name_or_file).replace('-', '_')}.py"
        if path.is_file():
            return path
    raise ConfigError(f"unknown experiment {str(name_or_file)!r}; shipped: {', '.join(names) or 'none'} "
                      f"(or give a path to a .py file)")


def load_experiment(name_or_file: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Experiment:
    """The experiment's ``get_config()``, with ``overrides`` (``key=value`` strings) applied."""
    path = experiment_file(name_or_file)
    name = f"_experiment_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses' annotations resolve through it
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ConfigError(f"{path}:{err.lineno}: {err.msg}") from None
    experiment = getattr(module, "get_config", None)
    if experiment is None:
        raise ConfigError(f"{path}: an experiment file must define get_config()")
    try:
        config = experiment()
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - a mistake in the experiment file: one line naming it
        raise ConfigError(f"{path}: get_config() failed: {type(err).__name__}: {first_line(err)}") from None
    if not isinstance(config, Experiment):
        raise ConfigError(f"{path}: get_config() returned {type(config).__name__}, not an Experiment")
    experiment = apply_overrides(config, overrides)
    experiment.check_lengths()
    return experiment


def apply_overrides(config: Any, overrides: Sequence[str]) -> Any:
    """``config`` with each ``dotted.key=value`` applied in order."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.steps=5")
        config = _set(config, key.strip().split("."), value.strip(), key.strip())
    return config


def _set(node: Any, path: list[str], text: str, key: str, kind: Any = None) -> Any:
    """``node`` (a dataclass, or a mapping annotated ``kind``) with the setting at ``path`` parsed from ``text``;
    a dataclass checks the result itself (its ``__post_init__``), so a mapping's unknown keys fail there."""
    head, rest = path[0], path[1:]
    if dataclasses.is_dataclass(node):
        names = {f.name for f in dataclasses.fields(node)}
        if head not in names:
            raise ConfigError(f"--set {key}: no field {head!r} here; expected one of {', '.join(sorted(names))}")
        current, hint = getattr(node, head), typing.get_type_hints(type(node))[head]
        if rest:
            return dataclasses.replace(node, **{head: _set(current, rest, text, key, hint)})
        if dataclasses.is_dataclass(current) or isinstance(current, Mapping):
            raise ConfigError(f"--set {key}: a group of settings; set one of its fields (e.g. {key}.NAME=VALUE)")
        return dataclasses.replace(node, **{head: _parse(text, hint, key)})
    if isinstance(node, Mapping):
        if rest:
            raise ConfigError(f"--set {key}: {head!r} holds a value, not more fields")
        arguments = typing.get_args(kind)
        return {**node, head: _parse(text, arguments[1] if len(arguments) == 2 else str, key)}
    raise ConfigError(f"--set {key}: {path[0]!r} is not a field of a setting that has fields")


def _parse(text: str, kind: Any, key: str) -> Any:
    """``text`` as a value of the annotated type ``kind`` (bool, int, float, str, their optionals and tuples)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null", "") and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _parse(text, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is tuple:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            items = [args[0]] * len(parts)
        elif len(args) == len(parts):
            items = list(args)
        else:
            raise ConfigError(f"--set {key}={text}: expected {len(args)} comma-separated values")
        return tuple(_parse(p, t, key) for p, t in zip(parts, items))
    if dataclasses.is_dataclass(kind) or origin in (dict, Mapping) or kind in (dict, Mapping):
        raise ConfigError(f"--set {key}: a group of settings; set one of its fields (e.g. {key}.NAME=VALUE)")
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return lowered in ("true", "1", "yes")
        if kind is int:
            return int(text)
        if kind is float and math.isfinite(float(text)):
            return float(text)
        if kind is str or kind is Any:
            return text
    except ValueError:
        raise ConfigError(f"--set {key}={text}: expected {getattr(kind, '__name__', kind)}") from None
    if kind is float:
        raise ConfigError(f"--set {key}={text}: expected a finite number")
    raise ConfigError(f"--set {key}: settings of type {kind} cannot be set from the command line")


def to_json(config: Any) -> Any:
    """A config (nested dataclasses, mappings, tuples) as plain JSON values."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_json(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_json(v) for k, v in config.items()}
    if isinstance(config, (tuple, list)):
        return [to_json(v) for v in config]
    return config


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"steps": 5}}`` as ``{"train.steps": 5}``."""
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def check_rerun(saved: Mapping[str, Any], resolved: Mapping[str, Any], where: str) -> None:
    """Refuse to continue a run whose saved experiment differs from ``resolved`` in anything but a larger
    step count or time budget, or the machine's own settings (:data:`RUNTIME`); a setting the saved run does
    not have came with a newer version of the code and counts as unchanged. The one-line error names every
    differing key."""
    old, new = flatten(saved), flatten(resolved)
    differing = []
    for key in sorted(old.keys()):
        if old[key] == new.get(key) or key in RUNTIME:
            continue
        grown = key in GROWABLE and (old.get(key) is None or (new.get(key) is not None and new[key] >= old[key]))
        if not grown:
            differing.append(key)
    if differing:
        raise ConfigError(f"{where}: holds a run of another experiment (differs in {', '.join(differing)}); "
                          f"use a new --workdir, or set these back")


def read_run(workdir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a run in ``workdir`` recorded about itself (``config.json``); empty where no run started there."""
    path = Path(workdir) / "config.json"
    payload = read_json_file(path, ConfigError)
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ConfigError(f"{path}: not a run's config.json")
    return payload


def record_run(workdir: str | os.PathLike[str], **entries: Any) -> None:
    """Add ``entries`` to what the run in ``workdir`` records about itself (atomically; call on process 0 only)."""
    path = make_dirs(workdir) / "config.json"
    atomic_write_text(path, json.dumps({**read_run(workdir), **entries}, indent=1))


def check_workdir(experiment: Experiment, workdir: str | os.PathLike[str]) -> None:
    """Refuse a work directory that holds a run of another experiment (:func:`check_rerun`)."""
    saved = read_run(workdir).get("experiment")
    if saved is not None:
        check_rerun(saved, to_json(experiment), str(workdir))


def start_run(experiment: Experiment, workdir: str | os.PathLike[str], tokenizer: Path, leader: bool = True
              ) -> dict[str, Any]:
    """:func:`check_workdir`, then on the leader process record this experiment there (``config.json``) with a
    copy of its ``tokenizer`` (so the run loads as a model by itself, wherever its data came from). Called once
    the data is ready, so a run that failed before leaves nothing that refuses the corrected rerun. Returns
    what the run records about itself."""
    check_workdir(experiment, workdir)
    info = {"experiment": to_json(experiment), "provenance": provenance()}
    if leader:
        own = make_dirs(workdir) / "tokenizer.model"
        if own.resolve() != tokenizer.resolve():
            model = tokenizer.read_bytes()
            if not own.exists() or own.read_bytes() != model:  # an earlier command's may be another one
                atomic_write_bytes(own, model)
        record_run(workdir, **info)
    return info


def saved_steps(workdir: str | os.PathLike[str]) -> tuple[int | None, float | None]:
    """The step count a run in ``workdir`` planned (or was given) and its time budget, if it got that far."""
    train = read_run(workdir).get("train") or {}
    return train.get("steps"), train.get("seconds")
