"""The default model's recipe: corpus -> tokenizer -> pretraining -> fine-tuning -> int8 export.

    .venv/bin/python -m finetune.recipe --preset cpu --workdir runs/default [--export alphacode/default_model]

Stages write under one work directory and are skipped when their output is complete, so the same
command resumes after a crash. Everything after the tokenizer needs only numpy, JAX, optax, orbax
and sentencepiece (examples come from :mod:`pretrain.arrays`, not seqio), so the same recipe runs
on an accelerator machine without TensorFlow; there ``--pretrain-seconds``/``--finetune-seconds``
size the runs from a timed probe of the real train step. Fine-tuning mixes three tasks at the
configured rates: CodeContests-format solutions under the value-conditioning header, Codex-style
docstring -> body functions mined from the corpus, and description -> test input (the test-input
generator shares the model, asked for by its own header).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alphacode.fileio import atomic_write_text
from finetune.tasks import MIXTURE_RATES
from pretrain.arrays import Example, MixtureBatches, RandomSplitBatches, TokenStream, parallel_map
from pretrain.pipeline import PretrainPaths, prepare_corpus, prepare_tokenizer

CONTEST_DATA = Path(__file__).resolve().parent.parent / "data" / "contest"


@dataclass(frozen=True)
class RecipeConfig:
    """Sizes and budgets of each stage; ``*_seconds`` (when set) replaces the step count by what fits."""

    model: str = "small"
    dtype: str = "float32"
    max_files: int = 6000
    vocab_size: int = 8000
    pretrain_lengths: tuple[int, int] = (256, 256)
    pretrain_steps: int = 1500
    pretrain_batch: int = 16
    pretrain_lr: float = 1e-3
    pretrain_seconds: float | None = None
    finetune_lengths: tuple[int, int] = (384, 384)
    finetune_steps: int = 600
    finetune_batch: int = 16
    finetune_lr: float = 5e-4
    finetune_seconds: float | None = None
    rates: Mapping[str, float] = field(default_factory=lambda: dict(MIXTURE_RATES))
    max_functions: int = 20000
    weights: str = "int8"
    processes: int = max(1, (os.cpu_count() or 1) - 1)

    def replace(self, **changes: object) -> RecipeConfig:
        return dataclasses.replace(self, **changes)


# cpu: about two hours on a 2-core machine; gpu: minutes on one H100/H200. Both size their step
# counts by a timed probe of the train step; the counts used are kept in steps.json and the export.
PRESETS = {
    "cpu": RecipeConfig(pretrain_seconds=4500, finetune_seconds=1800),
    "gpu": RecipeConfig(dtype="bfloat16", max_files=40000, pretrain_batch=256, pretrain_lr=2e-3, pretrain_seconds=150,
                        finetune_batch=128, finetune_seconds=60, max_functions=60000),
    "smoke": RecipeConfig(model="tiny", max_files=300, vocab_size=1000, pretrain_lengths=(64, 64), pretrain_steps=4, pretrain_batch=4,
                          finetune_lengths=(64, 64), finetune_steps=4, finetune_batch=4, max_functions=200),
}


def _save_json(path: Path, payload: object) -> None:
    atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


def token_streams(paths: PretrainPaths, encode_batch: Callable[[list[str]], list[list[int]]], config: RecipeConfig,
                  say: Callable[[str], None]) -> dict[str, TokenStream]:
    """Tokenized corpus files (train / valid by the corpus' held-out rule) and the docstring
    functions of its Python files (prompts and bodies, aligned; train and valid by the task's split)."""
    from finetune.functions import docstring_functions, split_functions
    from pretrain.corpus import HELDOUT_FRACTION, is_heldout, iter_corpus

    out = paths.root / "tokens"
    names = ("train", "valid", *(f"functions_{s}_{part}" for s in ("train", "valid") for part in ("prompts", "bodies")))
    if all((out / f"{name}.npz").exists() for name in names):
        return {name: TokenStream.load(out / f"{name}.npz") for name in names}
    texts: dict[str, list[str]] = {"train": [], "valid": []}
    python: list[tuple[str, str]] = []
    for source in iter_corpus(paths.corpus):
        texts["valid" if is_heldout(source.path, HELDOUT_FRACTION) else "train"].append(source.content)
        if source.language == "Python":
            python.append((source.path, source.content))
    mined = parallel_map(docstring_functions, [content for _, content in python], config.processes)
    functions = split_functions(zip((path for path, _ in python), mined))
    functions["train"] = functions["train"][: config.max_functions]
    streams = {"train": texts["train"], "valid": texts["valid"]}
    for split in ("train", "valid"):
        streams[f"functions_{split}_prompts"] = [f.prompt for f in functions[split]]
        streams[f"functions_{split}_bodies"] = [f.body for f in functions[split]]
    result = {}
    for name, sequences in streams.items():
        result[name] = TokenStream.from_sequences(encode_batch(sequences))
        result[name].save(out / f"{name}.npz")
    say(f"tokens: {len(result['train'].tokens):,} training tokens in {len(result['train'])} files, "
        f"{len(result['valid'])} held-out files, {len(functions['train'])} + {len(functions['valid'])} "
        f"docstring functions (train + valid)")
    return result


def finetune_sources(encode: Callable[[str], list[int]], streams: Mapping[str, TokenStream],
                     data: str | os.PathLike[str] = CONTEST_DATA) -> dict[str, dict[str, list[Example]]]:
    """Per split, the fine-tuning tasks' examples: contest solutions, docstring functions, test inputs."""
    from alphacode.problems import load_problems
    from finetune.tasks import input_rows, solution_examples

    splits: dict[str, dict[str, list[Example]]] = {}
    for split in ("train", "valid"):
        chosen = load_problems(data, split)
        contest = [Example(np.asarray(encode(e["inputs"])), np.asarray(encode(e["targets"])), bool(e["correct"][0]))
                   for e in solution_examples(chosen)]
        inputs = [Example(np.asarray(encode(r["inputs"])), np.asarray(encode(r["targets"]))) for r in input_rows(chosen)]
        prompts, bodies = streams[f"functions_{split}_prompts"], streams[f"functions_{split}_bodies"]
        functions = [Example(prompts[i], bodies[i]) for i in range(len(prompts))]
        splits[split] = {"contest": contest, "test_inputs": inputs, "functions": functions}
    return splits


def _train_config(steps: int, batch_size: int, learning_rate: float, max_warmup: int):  # -> TrainConfig
    """A stage's optimisation settings: warmup over a tenth of the run (capped), four checkpoints and
    evaluations, about twenty log lines."""
    from alphacode.train import TrainConfig

    return TrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                       warmup_steps=max(1, min(max_warmup, steps // 10)), checkpoint_every=max(50, steps // 4),
                       eval_every=max(50, steps // 4), log_every=max(1, min(50, steps // 20)))


def _steps_for(seconds: float | None, default: int, trainer_factory: Callable[[int], object], source: object,
               say: Callable[[str], None], stage: str) -> int:
    """``default``, or as many steps as fit ``seconds`` by a timed probe of the same train step plus
    the host's batch building (the training loop pays both; on the H200 the step alone under-counted
    a run by a fifth)."""
    if seconds is None:
        return default
    probe = trainer_factory(10**6)
    step_seconds = probe.time_steps(source, steps=10)
    started = time.perf_counter()
    for step in range(3):
        source.batch(step)
    host_seconds = (time.perf_counter() - started) / 3
    steps = max(10, int(seconds / (step_seconds + host_seconds)))
    say(f"{stage}: {step_seconds * 1e3:.1f} ms/step on the device ({probe.flops_per_step / step_seconds / probe.peak_flops:.1%} "
        f"MFU) + {host_seconds * 1e3:.1f} ms of batch building -> {steps} steps for {seconds:.0f} s")
    return steps


def run_recipe(config: RecipeConfig, workdir: str | os.PathLike[str], *, export_dir: str | os.PathLike[str] | None,
               corpus_sources: list[str] | None = None, say: Callable[[str], None] = print) -> Path:
    """Every stage, resuming completed ones; returns the exported model directory."""
    from alphacode.checkpoint import load_checkpoint
    from alphacode.model import get_config
    from alphacode.model.export import export_model
    from alphacode.train import Trainer
    from finetune.losses import FinetuneLossConfig
    from finetune.objective import finetune_loss
    from pretrain.objective import pretrain_loss

    started = time.perf_counter()

    def timed(line: str) -> None:  # each line with the seconds since the start, to see where time goes
        say(f"[{time.perf_counter() - started:4.0f} s] {line}")

    paths = PretrainPaths(Path(workdir))
    paths.root.mkdir(parents=True, exist_ok=True)
    corpus = prepare_corpus(paths, corpus_sources, config.max_files)
    timed(f"corpus: {corpus['files']} files, {corpus['bytes'] / 2**20:.1f} MiB")
    tokenizer = prepare_tokenizer(paths, config.vocab_size)
    encode = tokenizer.encode
    streams = token_streams(paths, functools.partial(tokenizer.encode_batch, num_threads=config.processes), config, timed)
    model_config = get_config(config.model, vocab_size=tokenizer.vocab_size, dtype=config.dtype)

    pretrain_dir = paths.root / "pretrain"
    train_source = RandomSplitBatches(streams["train"], config.pretrain_batch, config.pretrain_lengths, seed=0)
    valid_source = RandomSplitBatches(streams["valid"], config.pretrain_batch, config.pretrain_lengths, seed=1)

    def pretrainer(steps: int) -> Trainer:
        train = _train_config(steps, config.pretrain_batch, config.pretrain_lr, max_warmup=200)
        return Trainer(model_config, train, pretrain_loss, pretrain_dir, example_lengths=config.pretrain_lengths)

    steps_file = paths.root / "steps.json"
    planned = json.loads(steps_file.read_text()) if steps_file.exists() else {}

    def train_stage(stage: str, seconds: float | None, default: int, factory: Callable[[int], Trainer],
                    source: object, eval_source: object, eval_name: str) -> None:
        """Plan the stage's steps once (kept in steps.json, so a resumed run keeps its schedule), train, report."""
        if stage not in planned:
            planned[stage] = _steps_for(seconds, default, factory, source, timed, stage)
            _save_json(steps_file, planned)
        summary = factory(planned[stage]).train(source, eval_source)
        if not summary.first_metrics:
            timed(f"{stage}: already trained ({planned[stage]} steps)")
            return
        loss = functools.partial(summary.metric, name="decoder_loss")
        timed(f"{stage}: {summary.last_step} steps, decoder loss {loss('first'):.3f} -> "
            f"{loss('last'):.3f} ({eval_name} {loss('eval'):.3f}), "
            f"{summary.tokens_per_second:,.0f} tokens/s, MFU {summary.mfu:.1%}")

    train_stage("pretrain", config.pretrain_seconds, config.pretrain_steps, pretrainer, train_source, valid_source,
                "held-out")

    _, pretrained = load_checkpoint(pretrain_dir)
    splits = finetune_sources(encode, streams)
    timed("fine-tuning examples: " + ", ".join(f"{split} {name} {len(v)}" for split, tasks in splits.items()
                                              for name, v in tasks.items()))
    finetune_dir = paths.root / "finetune"
    ft_train = MixtureBatches(splits["train"], config.rates, config.finetune_batch, config.finetune_lengths, seed=0)
    ft_valid = MixtureBatches(splits["valid"], {"contest": 1.0}, config.finetune_batch, config.finetune_lengths, seed=1)
    loss = functools.partial(finetune_loss, config=FinetuneLossConfig())

    def finetuner(steps: int) -> Trainer:
        train = _train_config(steps, config.finetune_batch, config.finetune_lr, max_warmup=100)
        return Trainer(model_config, train, loss, finetune_dir, init_params=pretrained,
                       example_lengths=config.finetune_lengths)

    train_stage("finetune", config.finetune_seconds, config.finetune_steps, finetuner, ft_train, ft_valid,
                "valid contest")

    final_config, params = load_checkpoint(finetune_dir)
    out = Path(export_dir) if export_dir else paths.root / "export"
    metadata = {"recipe": dataclasses.asdict(config), "steps": planned,
                "seconds": round(time.perf_counter() - started)}
    export_model(final_config.replace(dtype="float32"), params, paths.tokenizer_model, out, weights=config.weights,
                 metadata=metadata)
    size = sum(f.stat().st_size for f in out.iterdir())
    timed(f"export: {out} ({size / 2**20:.1f} MiB, weights {config.weights})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--workdir", default="runs/default-model")
    parser.add_argument("--export", default=None, help="where the exported model goes (default: WORKDIR/export)")
    parser.add_argument("--corpus", action="append", help="corpus sources (default: this Python's own code)")
    parser.add_argument("--pretrain-seconds", type=float, default=None)
    parser.add_argument("--finetune-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    config = PRESETS[args.preset]
    if args.pretrain_seconds:
        config = config.replace(pretrain_seconds=args.pretrain_seconds)
    if args.finetune_seconds:
        config = config.replace(finetune_seconds=args.finetune_seconds)
    run_recipe(config, args.workdir, export_dir=args.export, corpus_sources=args.corpus)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
