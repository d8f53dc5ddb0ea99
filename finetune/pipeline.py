"""``alphacode finetune``: problems (+ a corpus' functions) -> task record shards -> training -> an export.

An experiment (``configs/finetune_*.py``) gives the model, the data (:class:`FinetuneData`: problems,
mixture rates, lengths, where to start from), the losses (:class:`finetune.losses.FinetuneLossConfig`)
and the training settings. The examples are those of :mod:`finetune.examples`, tokenized once per task
and split under the work directory; training starts from ``data.init`` (a pretraining run or a model
export, the bundled one included) and ends, when ``data.export`` is set, with a self-contained export.
Every stage resumes; on many hosts process 0 prepares the data and writes the export.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphacode.config import Experiment, check_ranges, check_workdir, start_run
from alphacode.errors import ConfigError, UserError
from alphacode.execution.sandbox import SandboxOptions
from alphacode.fileio import atomic_write_text, read_json_file
from alphacode.lazy import lazy_import
from alphacode.model.config import MLM_RATE, ModelConfig
from alphacode.model.export import (
    WEIGHT_FORMATS,
    ModelFormatError,
    export_model,
    load_model,
    read_model_config,
    tokenizer_file,
)
from alphacode.problems import load_problems, split_files
from alphacode.splits import EVALUATION_SPLITS, file_split
from alphacode.tokenizer import Tokenizer
from finetune.examples import (
    MIXTURE_RATES,
    TASKS,
    MixtureRows,
    TextRow,
    function_rows,
    load_task_shards,
    task_rows,
    write_task_shards,
)
from finetune.exercises import mine_exercises
from pretrain.corpus import ensure_corpus, is_corpus

# JAX, orbax and the trainer: only for training, after the data stages (which run without them)
hosts = lazy_import("alphacode.hosts")
training = lazy_import("alphacode.train")
objective = lazy_import("finetune.objective")
checkpoint = lazy_import("alphacode.checkpoint")

MINED_TASKS = ("functions", "exercises")  # mined from a corpus
DONE = "examples.json"  # written last: the task shards of both splits are complete


@dataclass(frozen=True)
class FinetuneData:
    """The fine-tuning data. ``init``: a pretraining work directory or a model export to start from (empty:
    random weights); ``tokenizer``/``corpus``: default to the init's (a pretraining run's tokenizer.model
    and corpus/; an export's tokenizer); without a corpus there, one is built in the work directory from
    ``corpus_sources`` (empty: this Python's own code, at most ``max_files`` files) for the docstring
    functions and exercises; ``rates``: the mixture's weights
    per task; ``export``: where the final model goes (empty: none), as ``export_weights``; ``threads``: worker
    threads and processes for tokenizing and mining (0: one per core). In the public
    CodeContests layout the splits are the files' own (``train-*.parquet``, ...); a ``problems`` of only
    valid or test files is refused unless ``allow_eval_splits`` (then every file splits by the hash rule)."""

    problems: str = "data/contest"
    init: str | None = None
    tokenizer: str | None = None
    corpus: str | None = None
    rates: Mapping[str, float] = field(default_factory=lambda: dict(MIXTURE_RATES))
    lengths: tuple[int, int] = (256, 256)
    mlm_rate: float = MLM_RATE
    max_functions: int = 20000
    corpus_sources: tuple[str, ...] = ()
    max_files: int = 6000
    shards: int = 8
    threads: int = 0
    export: str | None = None
    export_weights: str = "int8"
    allow_eval_splits: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rates) - set(TASKS))
        if unknown:
            raise ConfigError(f"data.rates names no such task {', '.join(unknown)}; the tasks are {', '.join(TASKS)}")
        if any(rate < 0 for rate in self.rates.values()) or not any(rate > 0 for rate in self.rates.values()):
            raise ConfigError(f"data.rates must be non-negative with at least one positive, got {dict(self.rates)}")
        if self.export_weights not in WEIGHT_FORMATS:
            raise ConfigError(f"data.export_weights must be one of {', '.join(WEIGHT_FORMATS)}, "
                              f"got {self.export_weights!r}")
        ranges = {"max_files": self.max_files >= 0, "max_functions": self.max_functions >= 0,
                  "threads": self.threads >= 0, "shards": self.shards >= 1, "lengths": min(self.lengths) >= 1,
                  "mlm_rate": 0 <= self.mlm_rate < 1}
        check_ranges("data", self, ranges, "need max_files, max_functions and threads >= 0, shards and lengths "
                     ">= 1, mlm_rate in [0, 1)")


def _sources(data: FinetuneData) -> tuple[Path, Path | None]:
    """The tokenizer model and the corpus the mined tasks come from (None: none given or found beside the init)."""
    init = Path(data.init) if data.init else None
    if init is not None and not init.exists():
        raise UserError(f"{init}: no such file or directory (data.init)")
    try:
        tokenizer = Path(data.tokenizer) if data.tokenizer else tokenizer_file(init) if init else None
    except ModelFormatError:
        tokenizer = None
    if tokenizer is None or not tokenizer.is_file():
        raise UserError(f"{tokenizer or 'data.tokenizer'}: no tokenizer model; set data.init to a pretraining run or "
                        f"export, or data.tokenizer to a tokenizer.model")
    corpus = Path(data.corpus) if data.corpus else init / "corpus" if init else None
    if corpus is not None and not is_corpus(corpus):
        if data.corpus:
            raise UserError(f"{corpus}: not a corpus directory (data.corpus)")
        corpus = None
    return tokenizer, corpus


def prepare(data: FinetuneData, workdir: str | os.PathLike[str], say: Callable[[str], None] = print, *,
            build: bool = True) -> Path:
    """Each task's record shards per split under ``workdir/tasks`` (skipped when complete). Needs no JAX.
    ``build=False`` only finds them: what the other processes of a multi-host run do once process 0 made them."""
    if not Path(data.problems).exists():
        raise UserError(f"{data.problems}: no such file or directory (data.problems)")
    tokenizer_file, corpus = _sources(data)
    out = Path(workdir) / "tasks"
    tokenizer = Tokenizer.load(tokenizer_file)
    settings = _task_settings(data, tokenizer)
    done = read_json_file(out / DONE, UserError)
    if done is not None:
        made = done.get("settings") if isinstance(done, dict) else None
        differ = _not_served(made, settings) if made is not None else []  # shards made before settings were kept
        if differ:
            raise UserError(f"{out}: made by an earlier command with other data settings ({', '.join(differ)}); "
                            f"use a new --workdir, or delete {out}")
        return out
    if not build:
        raise hosts.UnsharedWorkdir(workdir)
    started = time.perf_counter()
    encode = functools.partial(tokenizer.encode_batch, num_threads=data.threads)
    files = split_files(data.problems)
    held_out = [f for split in EVALUATION_SPLITS for f in files.get(split, [])]
    if held_out and "train" not in files and not data.allow_eval_splits:
        raise UserError(f"{held_out[0]}: named as a public {file_split(held_out[0])}-split file; fine-tuning trains on "
                        f"train-*.parquet files only (set data.allow_eval_splits=true to train on it anyway)")
    # the problems first: a broken file is said in seconds, not after the corpus is mined
    problems = {split: load_problems(data.problems, split, by_file_name=not data.allow_eval_splits)
                for split in ("train", "valid")}
    if corpus is None and any(data.rates.get(task, 0) > 0 for task in MINED_TASKS):
        corpus = Path(workdir) / "corpus"
        ensure_corpus(corpus, data.corpus_sources, data.max_files or None, say)
    mined = mine(corpus, data, say) if corpus is not None else {}
    counts = {}
    for split in ("train", "valid"):
        manifests = write_task_shards(task_rows(problems[split], mined, split), encode, out / split, data.shards)
        counts[split] = {task: m["records"] for task, m in manifests.items()}
    atomic_write_text(out / DONE, json.dumps({"counts": counts, "settings": settings}, indent=1))
    say("examples: " + "; ".join(f"{split} " + (", ".join(f"{task} {n}" for task, n in tasks.items()) or "none")
                                   for split, tasks in counts.items())
        + f" ({time.perf_counter() - started:.0f} s)")
    return out


def _task_settings(data: FinetuneData, tokenizer: Tokenizer) -> dict[str, Any]:
    """What the task shards are made from: a rerun that asks for other ones is refused, not fed the old ones."""
    return {"data.problems": str(Path(data.problems).resolve()), "tokenizer": tokenizer.digest,
            "mined tasks": sorted(task for task in MINED_TASKS if data.rates.get(task, 0) > 0),
            "data.corpus": data.corpus, "data.corpus_sources": [str(Path(s).resolve()) for s in data.corpus_sources],
            "data.max_files": data.max_files, "data.max_functions": data.max_functions,
            "data.allow_eval_splits": data.allow_eval_splits}


def _not_served(made: Mapping[str, Any], asked: Mapping[str, Any]) -> list[str]:
    """The settings in which task shards made with ``made`` do not serve ``asked`` (they may hold more mined tasks)."""
    return sorted(key for key, value in asked.items() if made.get(key) != value
                  and not (key == "mined tasks" and set(value) <= set(made.get(key) or ())))


def mine(corpus: Path, data: FinetuneData, say: Callable[[str], None]) -> dict[str, dict[str, list[TextRow]]]:
    """The corpus' docstring functions and checked exercises, per split, for the tasks the mixture uses."""
    mined = {}
    if data.rates.get("functions", 0) > 0:
        mined["functions"] = function_rows(corpus, data.threads or os.cpu_count() or 1, data.max_functions)
    if data.rates.get("exercises", 0) > 0:
        with SandboxOptions().open() as sandbox:
            exercises = mine_exercises(corpus, sandbox)
        mined["exercises"] = {split: [TextRow(e.prompt, e.body) for e in found] for split, found in exercises.items()}
        say(f"exercises: {sum(map(len, exercises.values()))} functions whose docstring examples pass in the sandbox")
    return mined


def init_source(data: FinetuneData) -> tuple[Path | None, Any, ModelConfig | None, dict[str, int]]:
    """Where training starts: a pretraining run (restored by every process onto the trainer's shardings), or a
    model export's weights (host arrays); with the model config they belong to and the steps behind them (the
    export's lineage). All empty without ``data.init``."""
    if not data.init:
        return None, None, None, {}
    init = Path(data.init)
    try:
        if checkpoint.is_training_dir(init):
            step = checkpoint.latest_step(init)
            if step is None:  # said now, not after the data is prepared
                raise UserError(f"{init}: no checkpoint saved yet (data.init)")
            return init, None, read_model_config(init), {"pretrain": step}
        loaded = load_model(init)
    except ModelFormatError as err:
        raise UserError(f"{init}: neither a pretraining run nor a model export ({err})") from None
    return None, loaded.params, loaded.config, dict(loaded.metadata.get("steps", {}))


def finetune(experiment: Experiment, workdir: str | os.PathLike[str], *, started: float | None = None,
             say: Callable[[str], None] = print, progress: bool = True) -> Any:  # -> alphacode.train.TrainSummary
    """Run (or resume) a fine-tuning experiment in ``workdir``, then export the model where ``data.export``
    says; on many hosts every process calls this after :meth:`alphacode.hosts.Hosts.initialize`."""
    experiment.check_stage("finetune")
    data, train = experiment.data, experiment.train
    init_run, params, init_config, init_steps = init_source(data)
    model = experiment.model  # checked against the init and the tokenizer before any work is done
    if init_config is not None and init_config.shape() != model.shape():
        differ = ", ".join(f"model.{k}={v} (the init's {init_config.shape()[k]})" for k, v in model.shape().items()
                           if init_config.shape()[k] != v)
        raise ConfigError(f"{data.init}: holds a model of another shape: {differ}; make the experiment's model match")
    experiment.check_vocab(Tokenizer.load(_sources(data)[0]).vocab_size)
    leader = hosts.is_leader()
    check_workdir(experiment, workdir)
    if data.export and Path(data.export).exists() and not Path(data.export).is_dir():
        raise UserError(f"{data.export}: exists and is not a folder (data.export)")
    hosts.leader_first(lambda: prepare(data, workdir, say), "the data")
    tasks_dir = prepare(data, workdir, lambda _: None, build=False)  # made by now: found
    split_tasks = {split: load_task_shards(tasks_dir / split) for split in ("train", "valid")}
    if not any(data.rates.get(task, 0) > 0 for task in split_tasks["train"]):
        raise UserError(f"{data.problems}: no training examples for the mixture's tasks ({', '.join(data.rates)}) "
                        f"in its train split")
    run_info = start_run(experiment, workdir, _sources(data)[0], leader)
    source = MixtureRows(split_tasks["train"], data.rates, train.batch_size, data.lengths, seed=train.seed,
                         mlm_rate=data.mlm_rate)
    valid = None
    if "contest" in split_tasks["valid"]:
        valid = MixtureRows(split_tasks["valid"], {"contest": 1.0}, train.batch_size, data.lengths,
                            seed=train.seed + 1, mlm_rate=data.mlm_rate)
    elif leader:
        say(f"{data.problems}: no contest problem in its valid split: no held-out evaluation")
    loss = functools.partial(objective.finetune_loss, config=experiment.loss)
    summary, trainer = training.run_training(model, train, loss, workdir, source, valid, lengths=data.lengths,
                                             run_info=run_info, init_params=params, init_checkpoint=init_run,
                                             started=started, say=say, progress=progress)
    if data.export:
        trained = hosts.gather(trainer.state.params)  # every process takes part; process 0 writes
        if leader:
            steps = {**init_steps, "finetune": init_steps.get("finetune", 0) + summary.last_step}
            lineage = {"experiment": run_info["experiment"], "provenance": run_info["provenance"], "steps": steps}
            exported = export_model(model.replace(dtype="float32"), trained, _sources(data)[0], data.export,
                                           weights=data.export_weights, metadata=lineage)
            say(f"export: {exported} ({sum(f.stat().st_size for f in exported.iterdir()) / 2**20:.1f} MiB, "
                f"weights {data.export_weights})")
        hosts.sync("finetune-export")
    return summary

