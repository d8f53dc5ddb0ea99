"""Is the language conditioning learned? Sample under each ``LANGUAGE IS`` header and check the programs.

    .venv/bin/python benchmarks/conditioning.py --run runs/finetune-tiny [--samples 32] [--problems 4]

For each held-out problem of the bundled contest set, draws ``--samples`` programs with the header
``LANGUAGE IS python3`` and as many with ``LANGUAGE IS cpp`` (correct solution asked, random rating
and tags, as at sampling time). A program counts as Python if ``ast.parse`` accepts it (parsing
runs nothing), and as C++ if g++ compiles it inside the sandbox. A learned conditioning shows as
Python-parse rates far higher under the python3 header, and C++-compile rates far higher under cpp.
"""

from __future__ import annotations

import argparse
import ast
import random
import time
import warnings
from pathlib import Path

import jax

from alphacode.decoding import Sampler
from alphacode.execution import Sandbox, Status, make_job
from alphacode.model.config import EOS_ID
from alphacode.problems import load_problems
from alphacode.tokenizer import Tokenizer
from alphacode.train import load_checkpoint
from finetune.prompt import build_prompt, sampling_header
from finetune.tasks import split_of

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
    parser.add_argument("--run", required=True, help="a fine-tuning work directory (holding run/)")
    parser.add_argument("--tokenizer", required=True, help="the pretraining run's tokenizer.model")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.25)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    config, params = load_checkpoint(Path(args.run) / "run")
    tokenizer = Tokenizer.load(args.tokenizer)
    sampler = Sampler(config, params)
    problems = [p for p in load_problems(CONTEST) if split_of(p.name) != "train"][: args.problems]
    rng = random.Random(0)
    counts = {lang: {"python_parse": 0, "cpp_compile": 0, "n": 0} for lang in ("python3", "cpp")}
    started = time.perf_counter()
    with Sandbox() as sandbox:
        for index, problem in enumerate(problems):
            for language in ("python3", "cpp"):
                prompt = tokenizer.encode(build_prompt(problem.description, sampling_header(rng, language)))
                batch = sampler.sample(prompt, args.samples, jax.random.PRNGKey(index), max_length=args.max_tokens,
                                       temperature=args.temperature)
                programs = []
                for row, length in zip(batch.tokens, batch.lengths):
                    ids = [int(t) for t in row[:length] if t != EOS_ID]
                    programs.append(tokenizer.decode(ids))
                outcomes = sandbox.run_batch([make_job(code, "cpp", [b""]) for code in programs])
                counts[language]["n"] += len(programs)
                counts[language]["python_parse"] += sum(parses_as_python(code) for code in programs)
                counts[language]["cpp_compile"] += sum(o[0].status is not Status.COMPILE_ERROR for o in outcomes)
    print(f"model {config.name} from {args.run}; {len(problems)} held-out problems x {args.samples} samples per header, "
          f"T={args.temperature}, up to {args.max_tokens} tokens; {time.perf_counter() - started:.0f} s")
    for language, c in counts.items():
        print(f"header LANGUAGE IS {language:8s}: parses as Python {c['python_parse']:4d}/{c['n']} "
              f"({c['python_parse'] / c['n']:.0%}), compiles as C++ {c['cpp_compile']:4d}/{c['n']} "
              f"({c['cpp_compile'] / c['n']:.0%})")
    print(f"command: .venv/bin/python benchmarks/conditioning.py --run {args.run} --tokenizer {args.tokenizer} "
          f"--samples {args.samples} --problems {args.problems}")


if __name__ == "__main__":
    main()
