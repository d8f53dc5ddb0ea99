"""Selection strategies compared on the same model-free candidate pools, in the same run.

    .venv/bin/python benchmarks/selection.py [--contest 60] [--humaneval 164] [--wrong 20] [--inputs 10]

For every bundled contest problem and every HumanEval task, a pool: the reference solutions, three
rewrites of the Python one (reformatted, renamed, renamed with mirrored comparisons) and ``--wrong``
mutants of it (flipped comparisons, swapped operators, off-by-one and changed constants, early
returns), plus the bundled incorrect solutions, shuffled. Each pool is filtered on the public tests,
run on mutation-generated inputs and clustered once; every strategy then picks 10 from the same
pool. A pick counts as correct when it passes the hidden tests (the private tests of a contest
problem, a HumanEval task's ``check``). ``random`` is averaged over ``--random-seeds`` draws; the
``logprob`` strategy sees synthetic log-probabilities (random, no model), so it is a second random
baseline here.

``--auto-split valid`` then compares ``--samples auto`` with fixed budgets on the contest problems of
that split: a stand-in sampler draws a stream of programs (a correct one with probability
``--correct-rate``, else one of 60 mutants or a bundled wrong program); fixed budgets take the first N
of the stream, auto takes rounds of it until the top-10 clusters settle; both submit the cluster
strategy's 10.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from mutants import rewrites, sample_mutants  # noqa: E402

from alphacode.execution import Sandbox  # noqa: E402
from alphacode.execution.judge import SOLUTION_LANGUAGES, Verdict  # noqa: E402
from alphacode.problems import Language, Problem, Solution, load_problems  # noqa: E402
from alphacode.splits import split_of  # noqa: E402
from clustering.cache import ExecutionCache  # noqa: E402
from clustering.pipeline import SelectionRun  # noqa: E402
from clustering.solve import AutoStop, sample_until_stable  # noqa: E402
from clustering.strategies import STRATEGIES  # noqa: E402
from sampling.candidate import Candidate  # noqa: E402

K = 10


@dataclass(frozen=True)
class Outcome:
    """One problem's result: the fraction of draws each strategy solved at 1 and at 10 submissions."""

    name: str
    correct_filtered: bool
    filtered: int
    clusters: int
    one: dict[str, float]
    ten: dict[str, float]


def _runnable(solutions: Sequence[Solution]) -> list[tuple[str, str]]:
    """(sandbox language, code) of each of ``solutions`` the sandbox can run."""
    return [(SOLUTION_LANGUAGES[s.language].value, s.solution) for s in solutions if s.language in SOLUTION_LANGUAGES]


def build_pool(problem: Problem, wrong: int, seed: int) -> list[Candidate]:
    """References, rewrites of the Python reference, its mutants and the bundled wrong programs, shuffled,
    each with a synthetic log-probability."""
    rng = random.Random(f"{seed}:{problem.name}")
    references = _runnable(problem.solutions)
    python = next((code for lang, code in references if lang == "python3"), None)
    programs = list(references)
    if python is not None:
        keep = frozenset({problem.entry_point} if problem.entry_point else ())
        programs += [("python3", code) for code in rewrites(python, keep)]
        programs += [("python3", code) for _, code in sample_mutants(python, wrong, seed)]
    programs += _runnable(problem.incorrect_solutions)
    rng.shuffle(programs)
    return [Candidate(problem.name, lang, code, logprob=rng.gauss(-50, 10), num_tokens=100) for lang, code in programs]


def hidden_pass(cache: ExecutionCache, problem: Problem, run: SelectionRun,
                programs: Sequence[tuple[str, str]]) -> list[bool]:
    """Whether each (code, language) passes the hidden tests; a program stops at its first failed test."""
    if problem.entry_point:
        from evaluation.humaneval import judge_hidden

        return [r.passed for r in judge_hidden(cache.executor, problem, [code for code, _ in programs])]
    passing = list(range(len(programs)))
    for test in problem.private_tests:
        verdicts = cache.verdicts([programs[i] for i in passing], [test], run.limits)
        passing = [i for i, [v] in zip(passing, verdicts) if v is Verdict.ACCEPTED]
    return [i in passing for i in range(len(programs))]


def evaluate(cache: ExecutionCache, problem: Problem, args: argparse.Namespace) -> Outcome:
    pool = build_pool(problem, args.wrong, args.seed)
    run = SelectionRun(problem, cache, num_inputs=args.inputs, seed=args.seed)
    run.add(pool)
    programs = run.programs()
    filtered = sorted({(p.code, p.language) for p in programs})
    passed = dict(zip(filtered, hidden_pass(cache, problem, run, filtered)))
    one: dict[str, float] = {}
    ten: dict[str, float] = {}
    for name in STRATEGIES:
        seeds = range(args.random_seeds) if name == "random" else range(1)
        solved = [[passed[(p.code, p.language)] for p in run.select(name, K, seed=s)] for s in seeds]
        one[name] = sum(bool(s) and s[0] for s in solved) / len(solved)
        ten[name] = sum(any(s) for s in solved) / len(solved)
    return Outcome(problem.name, any(passed.values()), len(programs), run.stats().clusters, one, ten)


def sample_stream(problem: Problem, length: int, correct_rate: float, seed: int) -> list[Candidate]:
    """What a sampler might draw: correct programs (references and rewrites) with probability
    ``correct_rate``, otherwise one of the problem's mutants or bundled wrong programs."""
    rng = random.Random(f"stream:{seed}:{problem.name}")
    python = next(s.solution for s in problem.solutions if s.language is Language.PYTHON3)
    correct = _runnable(problem.solutions)
    correct += [("python3", code) for code in rewrites(python)]
    wrong = [("python3", code) for _, code in sample_mutants(python, 60, seed)]
    wrong += _runnable(problem.incorrect_solutions)
    drawn = [rng.choice(correct if rng.random() < correct_rate else wrong) for _ in range(length)]
    return [Candidate(problem.name, lang, code) for lang, code in drawn]


class StreamSampler:
    """Hands out a fixed stream in order, whatever the seed: auto's rounds are prefixes of the stream."""

    def __init__(self, stream: list[Candidate]) -> None:
        self.stream, self.drawn = stream, 0

    def sample(self, problem: Problem, n: int, seed: int) -> list[Candidate]:
        batch = self.stream[self.drawn:self.drawn + n]
        self.drawn += len(batch)
        return batch


def auto_versus_fixed(cache: ExecutionCache, problems: Sequence[Problem], args: argparse.Namespace) -> str:
    """The report of auto against fixed budgets, as text."""
    budgets = [b for b in (16, 32, 64, 128, 256, 512, 1024) if b <= args.max_samples]
    fixed = {b: [0, 0] for b in budgets}  # solved at 1 and at 10 submissions
    auto_solved, auto_samples = [0, 0], []
    for problem in problems:
        stream = sample_stream(problem, args.max_samples, args.correct_rate, args.seed)
        run = SelectionRun(problem, cache, num_inputs=args.inputs, seed=args.seed)
        run.add(stream)
        filtered = sorted({(p.code, p.language) for p in run.programs()})
        passed = dict(zip(filtered, hidden_pass(cache, problem, run, filtered)))
        for budget in budgets:
            picks = run.select("cluster", K, samples=range(budget))
            add_solved(fixed[budget], [passed[(p.code, p.language)] for p in picks])
        auto_run = SelectionRun(problem, cache, num_inputs=args.inputs, seed=args.seed)
        stop = AutoStop(round_size=args.round_size, patience=args.patience, max_samples=args.max_samples)
        rounds = sample_until_stable(problem, StreamSampler(stream), auto_run, stop)
        auto_samples.append(rounds.samples)
        add_solved(auto_solved, [passed[(p.code, p.language)] for p in auto_run.select("cluster", K)])
    n = len(problems)
    same = next((b for b in budgets if fixed[b][0] >= auto_solved[0] and fixed[b][1] >= auto_solved[1]), None)
    return "\n".join([
        f"\n--samples auto vs fixed budgets: {n} problems (split {args.auto_split}), correct-rate "
        f"{args.correct_rate}, rounds of {args.round_size}, patience {args.patience}, cap {args.max_samples}; "
        f"solved at 1@k / 10@k with the cluster strategy",
        "  ".join(f"fixed {b}: {fixed[b][0] / n:.0%} / {fixed[b][1] / n:.0%}" for b in budgets),
        f"auto: {auto_solved[0] / n:.0%} / {auto_solved[1] / n:.0%} with {sum(auto_samples) / n:.0f} samples on average "
        f"(min {min(auto_samples)}, max {max(auto_samples)}); the smallest fixed budget doing as well on both: "
        f"{same if same is not None else 'none'}"])


def add_solved(counts: list[int], picks_correct: list[bool]) -> None:
    """Count a problem as solved at 1 submission and at 10."""
    counts[0] += bool(picks_correct) and picks_correct[0]
    counts[1] += any(picks_correct)


def humaneval_problems(sandbox: Sandbox, limit: int) -> list[Problem]:
    from evaluation.humaneval import drop_wrong_examples, load_tasks, task_problem

    return drop_wrong_examples(sandbox, [task_problem(t) for t in load_tasks()[:limit]])


def report(title: str, outcomes: Sequence[Outcome]) -> None:
    if not outcomes:
        return
    n = len(outcomes)
    with_correct = [o for o in outcomes if o.correct_filtered]
    print(f"\n{title}: {n} problems; a correct program survives the filter in {len(with_correct)}; "
          f"mean {sum(o.filtered for o in outcomes) / n:.1f} filtered programs in "
          f"{sum(o.clusters for o in outcomes) / n:.1f} clusters")
    print(f"{'strategy':<9} {'1@pool':>8} {'10@pool':>8}   {'1@pool*':>8} {'10@pool*':>9}   "
          "(* problems with a correct program after filtering)")
    for name in STRATEGIES:
        one = sum(o.one[name] for o in outcomes) / n
        ten = sum(o.ten[name] for o in outcomes) / n
        one_c = sum(o.one[name] for o in with_correct) / max(1, len(with_correct))
        ten_c = sum(o.ten[name] for o in with_correct) / max(1, len(with_correct))
        print(f"{name:<9} {one:8.1%} {ten:8.1%}   {one_c:8.1%} {ten_c:9.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contest", type=int, default=60, help="bundled contest problems to use (0: none)")
    parser.add_argument("--humaneval", type=int, default=164, help="HumanEval tasks to use (0: none)")
    parser.add_argument("--wrong", type=int, default=20, help="mutants per pool")
    parser.add_argument("--inputs", type=int, default=10, help="generated inputs per problem")
    parser.add_argument("--random-seeds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--auto-split", default="valid", help="contest split for the auto comparison (none: skip)")
    parser.add_argument("--correct-rate", type=float, default=0.05)
    parser.add_argument("--max-samples", type=int, default=512)
    parser.add_argument("--round-size", type=int, default=16)
    parser.add_argument("--patience", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    with Sandbox(workers=args.workers) as sandbox:
        cache = ExecutionCache(sandbox)
        contest = load_problems(ROOT / "data" / "contest")[:args.contest]
        results = {"contest": [evaluate(cache, p, args) for p in contest]}
        contest_s = time.perf_counter() - started
        tasks = humaneval_problems(sandbox, args.humaneval) if args.humaneval else []
        results["humaneval"] = [evaluate(cache, p, args) for p in tasks]
        selection_s = time.perf_counter() - started
        auto = ""
        if args.auto_split != "none":
            chosen = [p for p in load_problems(ROOT / "data" / "contest") if args.auto_split in ("all", split_of(p.name))]
            auto = auto_versus_fixed(cache, chosen, args)
    elapsed = time.perf_counter() - started
    print(f"machine: {os.cpu_count()} cores, {args.workers} sandbox workers; {cache.executions} executions in "
          f"{elapsed:.0f} s (contest pools {contest_s:.0f} s, HumanEval pools {selection_s - contest_s:.0f} s)")
    report("contest (data/contest)", results["contest"])
    report("HumanEval", results["humaneval"])
    report("HumanEval, tasks with docstring examples",
           [o for o, p in zip(results["humaneval"], tasks) if p.public_tests])
    print(auto)
    print(f"\ncommand: .venv/bin/python benchmarks/selection.py --contest {args.contest} --humaneval {args.humaneval} "
          f"--wrong {args.wrong} --inputs {args.inputs} --random-seeds {args.random_seeds} --seed {args.seed} "
          f"--auto-split {args.auto_split} --correct-rate {args.correct_rate} --max-samples {args.max_samples} "
          f"--round-size {args.round_size} --patience {args.patience}")


if __name__ == "__main__":
    main()
