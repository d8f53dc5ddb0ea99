"""What a model writes under each ``LANGUAGE IS`` header: which language, whether it parses or compiles and stops.

    .venv/bin/python benchmarks/conditioning.py [--checkpoint DIR] [--split test] [--samples 32] [--temperature 0.2]
        [--no-repeat-ngram N] [--out FILE [--draw-only]] [--samples-file FILE]

For each problem of the split (the six test-split problems by default), draws ``--samples`` programs under
the header ``LANGUAGE IS python3`` and as many under ``LANGUAGE IS cpp`` (a correct solution asked for, random
rating and tags, as at sampling time) through the sampling stage's :class:`sampling.model_sampler.ModelSampler`.
A program is C++ when it has ``#include``, ``int main(`` or ``std::``, else Python; a Python program counts
as parsing when ``ast.parse`` accepts it (nothing runs), a C++ one as compiling when g++ compiles it inside
the sandbox. It reports, per header, the share of each language, the parse and compile rates, and the share
of samples that ended with EOS rather than at the token limit. ``--checkpoint`` defaults to the bundled model;
``--out FILE`` keeps the samples as JSON Lines; ``--draw-only`` stops there (on an accelerator machine, which
has no sandbox) and ``--samples-file FILE`` judges and reports such a file later, here.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import time
import warnings
from pathlib import Path

from alphacode.execution import Sandbox, Status, make_job
from alphacode.fileio import read_json_lines
from alphacode.model.export import load_model
from alphacode.problems import load_problems
from alphacode.prompt import build_prompt, sampling_header
from alphacode.samples import write_samples
from alphacode.splits import in_split
from sampling.model_sampler import ModelSampler, SamplingConfig
from sampling.units import derive_seed

CONTEST = Path(__file__).resolve().parent.parent / "data" / "contest"
_CPP = re.compile(r"#include|\bint\s+main\s*\(|std::")


def language_of(code: str) -> str:
    return "cpp" if _CPP.search(code) else "python3"


def parses_as_python(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "0/0"


def draw(args: argparse.Namespace) -> list[dict]:
    """``--samples`` programs per problem and header, as the sampling stage draws them."""
    model = load_model(args.model)
    problems = in_split(load_problems(CONTEST), args.split)
    sampler = ModelSampler(model, SamplingConfig(batch_size=args.samples, max_new_tokens=args.max_tokens,
                                                 temperatures=(args.temperature,), top_p=args.top_p,
                                                 no_repeat_ngram=args.no_repeat_ngram))
    rows = []
    started = time.perf_counter()
    for header_language in ("python3", "cpp"):
        for index, problem in enumerate(problems):
            seed = derive_seed("conditioning", header_language, index)
            header = sampling_header(random.Random(seed), header_language)
            for drawn in sampler.sample_prompt(build_prompt(problem.description, header), args.samples, seed):
                rows.append({"problem": problem.name, "header": header_language, "code": drawn.code,
                             "language": language_of(drawn.code), "ended": drawn.ended, "num_tokens": drawn.num_tokens})
    print(f"model {model.config.name} from {model.path}; {len(problems)} {args.split}-split problems x {args.samples} "
          f"samples per header, T={args.temperature}, top-p {args.top_p}, no-repeat n-gram {args.no_repeat_ngram}, "
          f"up to {args.max_tokens} tokens; sampling {time.perf_counter() - started:.0f} s")
    return rows


def judge(rows: list[dict]) -> None:
    """Mark each Python sample whether it parses and each C++ sample whether g++ compiles it (in the sandbox)."""
    cpp = [r for r in rows if r["language"] == "cpp"]
    with Sandbox() as sandbox:
        outcomes = sandbox.run_batch([make_job(r["code"], "cpp", [b""]) for r in cpp])
    for row, outcome in zip(cpp, outcomes):
        row["compiles"] = outcome[0].status is not Status.COMPILE_ERROR
    for row in rows:
        if row["language"] == "python3":
            row["parses"] = parses_as_python(row["code"])


def report(rows: list[dict]) -> None:
    for header_language in ("python3", "cpp"):
        mine = [r for r in rows if r["header"] == header_language]
        python = [r for r in mine if r["language"] == "python3"]
        cxx = [r for r in mine if r["language"] == "cpp"]
        print(f"header LANGUAGE IS {header_language:7s}: Python {share(len(python), len(mine))}, "
              f"C++ {share(len(cxx), len(mine))}; "
              f"Python parses {share(sum(r['parses'] for r in python), len(python))}, "
              f"C++ compiles {share(sum(r['compiles'] for r in cxx), len(cxx))}; ended with EOS "
              f"{share(sum(r['ended'] for r in mine), len(mine))}")
    python = [r for r in rows if r["language"] == "python3"]
    cpp = [r for r in rows if r["language"] == "cpp"]
    print(f"all samples: Python parses {share(sum(r['parses'] for r in python), len(python))}, "
          f"C++ compiles {share(sum(r['compiles'] for r in cpp), len(cpp))}, "
          f"at the token limit {share(sum(not r['ended'] for r in rows), len(rows))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", "--model", dest="model", default=None, metavar="DIR",
                        help="model export or training directory (default: bundled model)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--samples", type=int, default=32, help="per problem and header")
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--no-repeat-ngram", type=int, default=0, help="the decoding guard against loops (0: off)")
    parser.add_argument("--out", help="write every sample as JSON Lines here")
    parser.add_argument("--draw-only", action="store_true", help="draw and write --out, judge nothing")
    parser.add_argument("--samples-file", help="judge the samples of an earlier --out instead of drawing")
    args = parser.parse_args()
    if args.draw_only and not args.out:
        parser.error("--draw-only needs --out")
    if args.samples_file:
        rows = [row for _, row in read_json_lines(args.samples_file, ValueError)]
        print(f"{len(rows)} samples from {args.samples_file}")
    else:
        rows = draw(args)
        if args.out:
            write_samples(args.out, rows)
        checkpoint = f" --checkpoint {args.model}" if args.model else ""
        print(f"command: .venv/bin/python benchmarks/conditioning.py{checkpoint} "
              f"--split {args.split} --samples {args.samples} --temperature {args.temperature} --top-p {args.top_p} "
              f"--no-repeat-ngram {args.no_repeat_ngram} --max-tokens {args.max_tokens}")
    if not args.draw_only:
        judge(rows)
        report(rows)


if __name__ == "__main__":
    main()
