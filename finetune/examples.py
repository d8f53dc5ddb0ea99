"""The fine-tuning examples, each defined once: contest solutions, docstring functions, test inputs.

* ``contest``: one example per Python 3 / C++ solution, correct and incorrect alike (other languages are
  counted and skipped). The encoder reads AlphaCode's value-conditioning prompt (:mod:`alphacode.prompt`:
  rating, tags, language, CORRECT/INCORRECT SOLUTION, the statement); the decoder's target is the solution.
* ``functions``: Codex-style, a corpus function's signature and docstring -> its body (:mod:`finetune.functions`).
* ``test_inputs``: the statement under the ``GENERATE TEST INPUT`` header -> one of the problem's test inputs.
* ``exercises``: like ``functions``, but only functions whose docstring examples passed when run in the
  sandbox (:mod:`finetune.exercises`).

Each is a text row (``inputs``, ``targets``, ``correct``), tokenized once into record shards per task and
split; :class:`MixtureRows` draws the trainer's rows from them at the configured rates, and the seqio
tasks and mixture (:mod:`finetune.seqio_tasks`) draw theirs through the same class. Long prompts keep
their beginning and long targets are cut at the decoder length, as in the paper.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from alphacode.data import RecordShards, RowSource, encoder_decoder_features, row_rng, write_record_shards
from alphacode.execution.judge import SOLUTION_LANGUAGES
from alphacode.model.config import MLM_RATE
from alphacode.problems import Problem
from alphacode.prompt import PromptHeader, build_prompt, input_generation_prompt
from finetune.functions import docstring_functions, split_functions
from pretrain.corpus import iter_corpus

TASKS = ("contest", "functions", "exercises", "test_inputs")
MIXTURE_RATES = {"contest": 1.0, "functions": 1.0, "exercises": 1.0, "test_inputs": 0.25}  # the default mixture
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class TextRow:
    """One example before tokenization: the encoder's text, the decoder's target, whether it is correct."""

    inputs: str
    targets: str
    correct: bool = True


def contest_rows(problems: Iterable[Problem], skipped: Counter | None = None) -> Iterator[TextRow]:
    """Prompt, solution and correctness of every Python 3 / C++ solution; other languages are counted
    in ``skipped`` by language name."""
    for problem in problems:
        for correct, solutions in ((True, problem.solutions), (False, problem.incorrect_solutions)):
            for solution in solutions:
                language = SOLUTION_LANGUAGES.get(solution.language)
                if language is None:
                    if skipped is not None:
                        skipped[solution.language.name] += 1
                    continue
                header = PromptHeader(language=language.value, correct=correct, rating=problem.cf_rating or None,
                                      tags=problem.cf_tags)
                yield TextRow(build_prompt(problem.description, header), solution.solution, correct)


def input_generation_rows(problems: Iterable[Problem]) -> list[TextRow]:
    """The statement under the input-generation header -> one of the problem's test inputs."""
    return [TextRow(input_generation_prompt(p.description), t.input) for p in problems for t in p.tests("all")]


def function_rows(corpus_dir: str | os.PathLike[str], processes: int = 1,
                  max_train: int | None = None) -> dict[str, list[TextRow]]:
    """Codex-style rows from the Python files of a corpus, per split (signature and docstring -> body),
    split by :func:`finetune.functions.split_functions`; at most ``max_train`` in the train split."""
    python = [(s.path, s.content) for s in iter_corpus(corpus_dir) if s.language == "Python"]
    mined = parallel_map(docstring_functions, [content for _, content in python], processes)
    functions = split_functions(zip((path for path, _ in python), mined))
    functions["train"] = functions["train"][:max_train]
    return {split: [TextRow(f.prompt, f.body) for f in found] for split, found in functions.items()}


def task_rows(problems: Sequence[Problem], mined: Mapping[str, Mapping[str, list[TextRow]]] | None = None,
              split: str = "train") -> dict[str, list[TextRow]]:
    """Every task's rows of the problems of one split, with those of ``split`` of each task mined from a
    corpus (``mined``: task -> split -> rows, such as ``functions`` and ``exercises``)."""
    tasks = {"contest": list(contest_rows(problems)), "test_inputs": input_generation_rows(problems)}
    for task, splits in (mined or {}).items():
        tasks[task] = splits[split]
    return tasks


def write_task_shards(rows: Mapping[str, Sequence[TextRow]], encode_batch: Callable[[list[str]], list[list[int]]],
                      out_dir: str | os.PathLike[str], shards: int = 8) -> dict[str, dict[str, Any]]:
    """Tokenize each task's rows into record shards under ``out_dir/TASK``; tasks with no rows are left out."""
    manifests = {}
    for task, task_rows_ in rows.items():
        if task_rows_:
            streams = {"inputs": encode_batch([r.inputs for r in task_rows_]),
                       "targets": encode_batch([r.targets for r in task_rows_])}
            manifests[task] = write_record_shards(streams, Path(out_dir) / task, shards=shards,
                                                  flags={"correct": [int(r.correct) for r in task_rows_]},
                                                  metadata={"task": task})
    return manifests


class MixtureRows(RowSource):
    """Rows of fine-tuning batches of ``batch_size`` drawn from several tasks' record shards at ``rates``:
    row ``r`` of ``step`` picks a task by rate, then a record of its shard, as a pure function of
    ``(seed, step, r)``; each row carries ``correct`` ([1]) for the value-conditioning losses."""

    def __init__(self, tasks: Mapping[str, RecordShards], rates: Mapping[str, float], batch_size: int,
                 lengths: tuple[int, int], seed: int = 0, mlm_rate: float = MLM_RATE) -> None:
        self.names = [name for name in tasks if rates.get(name, 0) > 0]
        if not self.names:
            raise ValueError(f"no task has both examples and a positive rate (tasks {sorted(tasks)}, rates {dict(rates)})")
        weights = np.array([rates[name] for name in self.names], np.float64)
        self.probabilities = weights / weights.sum()
        self.tasks, self.batch_size, self.lengths, self.seed, self.mlm_rate = tasks, batch_size, lengths, seed, mlm_rate

    def row(self, step: int, row: int) -> dict[str, np.ndarray]:
        rng = row_rng(self.seed, step, row)
        task = self.tasks[self.names[int(rng.choice(len(self.names), p=self.probabilities))]]
        records = task.for_row(step, row, self.batch_size)
        i = int(rng.integers(len(records)))
        features = encoder_decoder_features(records.streams["inputs"][i], records.streams["targets"][i],
                                            *self.lengths, rng, self.mlm_rate)
        features["correct"] = np.array([records.flags["correct"][i]], np.int32)
        return features


def load_task_shards(directory: str | os.PathLike[str]) -> dict[str, RecordShards]:
    """The tasks' record shards written by :func:`write_task_shards` under ``directory``."""
    return {task: RecordShards(Path(directory) / task) for task in TASKS if (Path(directory) / task).is_dir()}


def parallel_map(function: Callable[[T], R], items: Sequence[T], processes: int = 1) -> list[R]:
    """``[function(x) for x in items]``, over ``processes`` fresh worker processes when more than one
    (parsing a corpus' files is CPU-bound and independent per file)."""
    if processes <= 1 or len(items) < 64:
        return [function(x) for x in items]
    with get_context("spawn").Pool(processes) as pool:
        return pool.map(function, items, chunksize=max(16, len(items) // (processes * 8)))

