"""seqio tasks for fine-tuning on CodeContests-format problems.

One example per (problem, solution), correct and incorrect alike, for Python 3 and C++ solutions
(others are skipped and counted). The encoder reads the value-conditioning prompt
(:mod:`alphacode.prompt`: rating, tags, language, CORRECT/INCORRECT SOLUTION, then the statement),
with MLM masking as in pretraining; the decoder's target is the solution. Long prompts keep their
beginning and long solutions are cut at the decoder length, as in the paper. Problems come from any
layout :mod:`alphacode.problems` reads: JSON, JSON Lines, or the Hugging Face Parquet copy.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from alphacode.problems import Language, Problem, iter_problems
from alphacode.prompt import PromptHeader, build_prompt, input_generation_prompt
from alphacode.splits import SPLITS
from finetune.functions import docstring_functions, split_functions
from pretrain.corpus import iter_corpus

# Fine-tuning mixture weights: contest solutions, Codex-style docstring functions, test-input generation.
MIXTURE_RATES = {"contest": 1.0, "functions": 1.0, "test_inputs": 0.25}
_LANGUAGES = {Language.PYTHON3: "python3", Language.CPP: "cpp"}


def solution_examples(problems: Iterable[Problem], skipped: Counter | None = None) -> Iterator[dict[str, Any]]:
    """Prompt, solution and correctness of every Python 3 / C++ solution; other languages are
    counted in ``skipped`` by language name."""
    for problem in problems:
        for correct, solutions in ((True, problem.solutions), (False, problem.incorrect_solutions)):
            for solution in solutions:
                language = _LANGUAGES.get(solution.language)
                if language is None:
                    if skipped is not None:
                        skipped[solution.language.name] += 1
                    continue
                header = PromptHeader(language=language, correct=correct, rating=problem.cf_rating or None,
                                      tags=problem.cf_tags)
                yield {"inputs": build_prompt(problem.description, header), "targets": solution.solution,
                       "correct": [int(correct)]}


def function_rows(corpus_dir: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Codex-style rows from the Python files of a corpus (:mod:`pretrain.corpus`), per split: signature
    and docstring -> body, split by :func:`finetune.functions.split_functions` (one pass over the corpus)."""
    mined = ((s.path, docstring_functions(s.content)) for s in iter_corpus(corpus_dir) if s.language == "Python")
    return {split: [{"inputs": f.prompt, "targets": f.body, "correct": [1]} for f in functions]
            for split, functions in split_functions(mined).items()}


def input_rows(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Test-input generation rows: the statement under its own header -> one of the problem's test inputs."""
    return [{"inputs": input_generation_prompt(p.description), "targets": t.input, "correct": [1]}
            for p in problems for t in p.tests("all")]


def _register_rows_task(name: str, rows_of_split: Callable[[str], Iterable[dict[str, Any]]],
                        tokenizer_model: str | os.PathLike[str], mlm_rate: float):  # -> seqio.Task
    """A seqio task over text rows (``inputs``, ``targets``, ``correct``): tokenized, the prompt trimmed
    to the encoder (its beginning kept) and MLM-masked, the target cut to the decoder then EOS. Rows are
    produced afresh, one at a time, each time the split is read."""
    import seqio
    import tensorflow as tf

    from pretrain.tasks import mask_tokens, register_task

    vocabulary = seqio.SentencePieceVocabulary(str(tokenizer_model))

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        return tf.data.Dataset.from_generator(
            lambda: iter(rows_of_split(split)),
            output_signature={"inputs": tf.TensorSpec([], tf.string), "targets": tf.TensorSpec([], tf.string),
                              "correct": tf.TensorSpec([1], tf.int32)})

    @seqio.map_over_dataset(num_seeds=1)
    def mask_prompt(features: Mapping[str, tf.Tensor], seed: tf.Tensor) -> dict[str, tf.Tensor]:
        return {**features, "mlm_targets": features["inputs"], "inputs": mask_tokens(features["inputs"], seed, mlm_rate)}

    def trim_prompt(dataset: tf.data.Dataset, sequence_length: Mapping[str, int]) -> tf.data.Dataset:
        length = sequence_length["inputs"]
        return dataset.map(lambda f: {**f, "inputs": f["inputs"][:length]}, num_parallel_calls=tf.data.AUTOTUNE)

    output_features = {
        "inputs": seqio.Feature(vocabulary, add_eos=False),
        "targets": seqio.Feature(vocabulary, add_eos=True),
        "mlm_targets": seqio.Feature(vocabulary, add_eos=False),
        "correct": seqio.Feature(seqio.PassThroughVocabulary(2), add_eos=False, dtype=tf.int32),
    }
    return register_task(
        name,
        source=seqio.FunctionDataSource(dataset_fn, splits=SPLITS),
        preprocessors=[
            functools.partial(seqio.preprocessors.tokenize, output_features={k: output_features[k] for k in ("inputs", "targets")}),
            trim_prompt,
            mask_prompt,
            seqio.preprocessors.append_eos_after_trim,
        ],
        output_features=output_features,
    )


def register_finetune_task(name: str, problems: str | os.PathLike[str], tokenizer_model: str | os.PathLike[str],
                           mlm_rate: float = 0.15, by_file_name: bool = True):  # -> seqio.Task
    """Register (or replace) the seqio task ``name`` over the problems at ``problems`` (file or directory),
    streamed split by split (see :func:`alphacode.problems.iter_problems` for ``by_file_name``)."""
    return _register_contest_task(name, lambda split: iter_problems(problems, split, by_file_name=by_file_name),
                                  tokenizer_model, mlm_rate)


def _register_contest_task(name: str, problems_of_split: Callable[[str], Iterable[Problem]],
                           tokenizer_model: str | os.PathLike[str], mlm_rate: float):  # -> seqio.Task
    return _register_rows_task(name, lambda split: solution_examples(problems_of_split(split)), tokenizer_model,
                               mlm_rate)


def register_finetune_mixture(name: str, problems: str | os.PathLike[str], corpus_dir: str | os.PathLike[str] | None,
                              tokenizer_model: str | os.PathLike[str], rates: Mapping[str, float] = MIXTURE_RATES,
                              mlm_rate: float = 0.15):  # -> seqio.Mixture
    """Register the fine-tuning mixture ``name``: contest solutions, docstring functions from
    ``corpus_dir`` (when given) and test-input generation, sampled at ``rates`` (task -> weight)."""
    import seqio

    def problems_of_split(split: str) -> Iterator[Problem]:
        return iter_problems(problems, split)

    tasks = {"contest": _register_contest_task(f"{name}_contest", problems_of_split, tokenizer_model, mlm_rate),
             "test_inputs": _register_rows_task(f"{name}_test_inputs",
                                                lambda split: input_rows(problems_of_split(split)), tokenizer_model,
                                                mlm_rate)}
    if corpus_dir is not None:
        functions = functools.cache(lambda: function_rows(corpus_dir))  # mined once, on first use
        tasks["functions"] = _register_rows_task(f"{name}_functions", lambda split: functions()[split],
                                                 tokenizer_model, mlm_rate)
    if name in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.remove(name)
    return seqio.MixtureRegistry.add(name, [(tasks[k].name, rates[k]) for k in tasks if rates.get(k, 0) > 0])


def finetune_dataset(task_name: str, split: str, encoder_length: int, decoder_length: int, seed: int = 0):
    """The task's split as model features (the pretraining converter plus the ``correct`` flag)."""
    import seqio
    import tensorflow as tf

    from pretrain.tasks import MLMFeatureConverter

    lengths = {"inputs": encoder_length, "targets": decoder_length, "mlm_targets": encoder_length, "correct": 1}
    converter = MLMFeatureConverter(passthrough_features={"correct": seqio.FeatureConverter.FeatureSpec(dtype=tf.int32)})
    return seqio.get_dataset(task_name, task_feature_lengths=lengths, dataset_split=split, shuffle=False,
                             num_epochs=1, feature_converter=converter, seed=seed)
