"""Is the language conditioning learned? Sample under each ``LANGUAGE IS`` header and check the programs.

    .venv/bin/python benchmarks/conditioning.py [--model DIR] [--samples 32] [--problems 4]

For each held-out problem of the bundled contest set, draws ``--samples`` programs with the header
``LANGUAGE IS python3`` and as many with ``LANGUAGE IS cpp`` (correct solution asked, random rating
and tags, as at sampling time) through the sampling stage's :class:`sampling.model_sampler.ModelSampler`.
A program counts as Python if ``ast.parse`` accepts it (parsing runs nothing), and as C++ if g++
compiles it inside the sandbox. A learned conditioning shows as Python-parse rates far higher under
the python3 header, and C++-compile rates far higher under cpp. ``--model`` defaults to the bundled model.
"""

from __future__ import annotations

import argparse
import ast
import time
import warnings
from pathlib import Path

from alphacode.execution import Sandbox, Status, make_job
from alphacode.model.export import load_model
from alphacode.problems import load_problems
from alphacode.splits import split_of
from sampling.model_sampler import ModelSampler, SamplingConfig

CONTEST = Path(__file__).resolve().parent.parent / "data" / "contest"


def parses_as_python(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model export or training directory (default: bundled model)")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.25)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    model = load_model(args.model)
    problems = [p for p in load_problems(CONTEST) if split_of(p.name) != "train"][: args.problems]
    counts = {lang: {"python_parse": 0, "cpp_compile": 0, "n": 0} for lang in ("python3", "cpp")}
    started = time.perf_counter()
    with Sandbox() as sandbox:
        for language, fraction in (("python3", 1.0), ("cpp", 0.0)):
            config = SamplingConfig(batch_size=args.samples, max_new_tokens=args.max_tokens,
                                    temperatures=(args.temperature,), python_fraction=fraction)
            sampler = ModelSampler(model, config)
            for index, problem in enumerate(problems):
                programs = [c.code for c in sampler.sample(problem, args.samples, seed=index)]
                outcomes = sandbox.run_batch([make_job(code, "cpp", [b""]) for code in programs])
                counts[language]["n"] += len(programs)
                counts[language]["python_parse"] += sum(parses_as_python(code) for code in programs)
                counts[language]["cpp_compile"] += sum(o[0].status is not Status.COMPILE_ERROR for o in outcomes)
    print(f"model {model.config.name} from {model.path}; {len(problems)} held-out problems x {args.samples} samples "
          f"per header, T={args.temperature}, up to {args.max_tokens} tokens; {time.perf_counter() - started:.0f} s")
    for language, c in counts.items():
        print(f"header LANGUAGE IS {language:8s}: parses as Python {c['python_parse']:4d}/{c['n']} "
              f"({c['python_parse'] / c['n']:.0%}), compiles as C++ {c['cpp_compile']:4d}/{c['n']} "
              f"({c['cpp_compile'] / c['n']:.0%})")
    print(f"command: .venv/bin/python benchmarks/conditioning.py{' --model ' + args.model if args.model else ''} "
          f"--samples {args.samples} --problems {args.problems} --temperature {args.temperature}")


if __name__ == "__main__":
    main()
