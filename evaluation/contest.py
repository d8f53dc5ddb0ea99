"""``alphacode contest``: a checkpoint's solve rate against sample budget on a problem set.

Samples once at the largest budget into a resumable store (:mod:`sampling`: a rerun with a larger
budget draws only the missing samples, one with a smaller budget reads the first of each pool), then
per problem (several at once, all sharing one executor: the local sandbox, or a pool of Ray actors
that takes chunks of every problem's programs): filters the pool and clusters it once
(:mod:`clustering`), judges the distinct programs that passed the filter on the hidden tests
(private + generated, or a HumanEval task's ``check``), and estimates 10@k for every budget k and
selection strategy by rerunning the selection on random size-k subsets of the pool
(:func:`alphacode.metrics.n_at_k`), which the execution cache answers without running anything new. A sample counts as correct when it
passes the public tests and every hidden test. A problem with no hidden test is skipped (neither
sampled nor counted in any figure) and listed under ``skipped`` in the report with the reason.
Writes ``report.json``, ``report.md`` and ``solve_rate.png``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from alphacode.cluster import ray_session
from alphacode.errors import ConfigError, UserError
from alphacode.execution.executor import Executor, ExecutorOptions
from alphacode.execution.judge import Verdict, runnable_code
from alphacode.execution.sandbox import SandboxOptions
from alphacode.fileio import atomic_write, atomic_write_text
from alphacode.lazy import lazy_import
from alphacode.metrics import bootstrap_ci, n_at_k, n_at_k_key, pass_at_k, pass_key
from alphacode.model.export import DEFAULT_MODEL_DIR, load_model, read_model_config
from alphacode.problems import Problem, check_unique_names, load_problems
from alphacode.provenance import provenance
from alphacode.samples import SamplesFormatError, check_coverage, completion_prompt, read_samples
from clustering.cache import ExecutionCache
from clustering.candidates import parse_candidate
from clustering.pipeline import SelectionRun
from clustering.signatures import Program
from clustering.strategies import STRATEGIES as _REGISTRY
from evaluation.humaneval import judge_hidden
from sampling.candidate import Candidate, program_key
from sampling.distributed import run_sampling
from sampling.model_sampler import SamplingConfig
from sampling.store import OtherSettings, import_candidates, iter_candidates

matplotlib = lazy_import("matplotlib")  # only to draw solve_rate.png
plt = lazy_import("matplotlib.pyplot")

STRATEGIES = tuple(_REGISTRY)
PROBLEMS_IN_FLIGHT = 4  # problems evaluated at once: while one is busy on the driver, the others feed the pool


@dataclass(frozen=True)
class ContestConfig:
    """What to estimate: n@k for each budget k from a pool of ``samples`` >= max(budgets) per problem."""

    budgets: tuple[int, ...]
    samples: int
    strategies: tuple[str, ...] = STRATEGIES
    submissions: int = 10
    subsets: int = 20
    num_inputs: int = 20
    seed: int = 0
    unsafe_no_isolation: bool = False

    def __post_init__(self) -> None:
        if not self.budgets or min(self.budgets) < 1:
            raise ConfigError(f"budgets must be one or more positive numbers, got {self.budgets}")
        if self.samples < max(self.budgets):
            raise ConfigError(f"{self.samples} samples per problem cannot give a budget of {max(self.budgets)}")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not self.strategies:
            name = repr(unknown[0]) if unknown else "(none)"
            raise ConfigError(f"unknown strategy {name}; expected some of {', '.join(STRATEGIES)}")
        if self.submissions < 1 or self.subsets < 1:
            raise ConfigError(f"need at least one submission and one subset, got {self.submissions} and {self.subsets}")


def skip_reason(problem: Problem) -> str | None:
    """Why a problem cannot count towards solve rates, or None: with no hidden test to fail, every
    filtered program would count as correct."""
    if "humaneval_test" in problem.extra or problem.private_tests or problem.generated_tests:
        return None
    return "no hidden tests (private, generated or a HumanEval check) to judge on"


def judged_problems(problems: Sequence[Problem]) -> list[Problem]:
    """The problems that count (see :func:`skip_reason`); ``ValueError`` when there are none."""
    judged = [p for p in problems if skip_reason(p) is None]
    if not judged:
        raise ConfigError(f"none of the {len(problems)} problems has hidden tests to judge on")
    return judged


def _hidden_solvers(problem: Problem, programs: Sequence[Program], run: SelectionRun,
                    executor: Executor) -> tuple[set[str], int]:
    """Keys of the filtered programs that pass every hidden test, and how many hidden tests there are."""
    if "humaneval_test" in problem.extra:
        results = judge_hidden(executor, problem, [p.code for p in programs])
        return {p.key for p, r in zip(programs, results) if r.passed}, 1
    tests = problem.private_tests + problem.generated_tests
    runnable = [(runnable_code(problem, p.code, p.language), p.language) for p in programs]
    verdicts = run.cache.verdicts(runnable, tests, run.limits, problem.entry_point is not None)
    solvers = {p.key for p, row in zip(programs, verdicts) if all(v is Verdict.ACCEPTED for v in row)}
    return solvers, len(tests)


def evaluate_problem(problem: Problem, store_dir: str, config: ContestConfig, executor: Executor) -> dict[str, Any]:
    """One problem's part of the report, from its samples in the store, its programs run on ``executor``."""
    reason = skip_reason(problem)
    if reason is not None:
        raise ConfigError(f"{problem.name}: {reason}")
    started = time.perf_counter()
    candidates = list(iter_candidates(store_dir, problem.name, samples=config.samples))
    if len(candidates) < config.samples:
        raise ConfigError(f"{problem.name}: the store holds {len(candidates)} samples, not {config.samples}")
    run = SelectionRun(problem, ExecutionCache(executor), num_inputs=config.num_inputs, seed=config.seed)
    run.add(candidates)
    programs = run.programs()
    judging = time.perf_counter()
    solvers, hidden_tests = _hidden_solvers(problem, programs, run, executor)
    judging = time.perf_counter() - judging
    solves = [program_key(c.code, c.language) in solvers for c in candidates]
    correct = sum(solves)
    estimating = time.perf_counter()
    solve_rate: dict[str, dict[str, float]] = {}
    prefix: dict[str, dict[str, dict[str, Any]]] = {}
    for strategy in config.strategies:
        def select(subset: Any, strategy: str = strategy) -> list[int]:
            return [pick.position for pick in run.select(strategy, config.submissions, samples=subset.tolist(),
                                                         seed=config.seed)]

        solve_rate[strategy] = {n_at_k_key(config.submissions, k): n_at_k(solves, select, k, config.submissions,
                                                                           config.subsets, config.seed)
                                for k in config.budgets}
        prefix[strategy] = {}
        for k in config.budgets:
            chosen = select(np.arange(k))
            first = next((rank for rank, i in enumerate(chosen) if solves[i]), None)
            prefix[strategy][str(k)] = {"submissions": len(chosen), "solved": first is not None,
                                        "rejected_before_solved": first}
    estimating = time.perf_counter() - estimating
    run.clusters()  # the statistics describe the whole pool, not the last subset selected from
    stats = run.stats()
    return {
        "name": problem.name,
        "samples": len(candidates),
        "correct_samples": correct,
        "hidden_tests": hidden_tests,
        "pass_at_k": {pass_key(k): pass_at_k(len(solves), correct, k) for k in config.budgets},
        "solve_rate": solve_rate,
        "first_k_samples": prefix,
        "stats": stats.to_json(),
        "seconds": {**{k: round(v, 3) for k, v in stats.seconds.items()}, "judge": round(judging, 3),
                    "estimate": round(estimating, 3), "total": round(time.perf_counter() - started, 3)},
    }


def evaluate_problems(problems: Sequence[Problem], store_dir: str | os.PathLike[str], config: ContestConfig,
                      executor: Executor, progress: bool = True) -> list[dict[str, Any]]:
    """Every problem's part of the report, in order; :data:`PROBLEMS_IN_FLIGHT` problems at a time share
    ``executor``, so a Ray pool gets chunks of several problems' programs at once."""
    with ThreadPoolExecutor(max_workers=min(PROBLEMS_IN_FLIGHT, len(problems)), thread_name_prefix="problem") as pool, \
            tqdm(total=len(problems), desc="selecting", unit="problem", disable=not progress) as bar:
        futures = [pool.submit(evaluate_problem, p, str(store_dir), config, executor) for p in problems]
        for future in futures:
            future.add_done_callback(lambda _: bar.update())
        return [future.result() for future in futures]


# ----------------------------------------------------------------------------------------------
# The report.


def summarize(per_problem: Sequence[Mapping[str, Any]], config: ContestConfig,
              seconds: Mapping[str, float]) -> dict[str, Any]:
    """The overall figures: mean solve rate and pass@k over problems with bootstrap intervals, and the
    filter / clustering statistics and stage times summed over problems."""
    n_at = [n_at_k_key(config.submissions, k) for k in config.budgets]
    passes = [pass_key(k) for k in config.budgets]
    stats = [p["stats"] for p in per_problem]
    stages = sorted({stage for p in per_problem for stage in p["seconds"] if stage != "total"})
    return {
        "problems": len(per_problem),
        "solve_rate": {s: {k: bootstrap_ci([p["solve_rate"][s][k] for p in per_problem], seed=config.seed).to_json()
                           for k in n_at} for s in config.strategies},
        "pass_at_k": {k: bootstrap_ci([p["pass_at_k"][k] for p in per_problem], seed=config.seed).to_json()
                      for k in passes},
        "filter": {
            "samples": sum(s["sampled"] for s in stats),
            "distinct_programs": sum(s["distinct"] for s in stats),
            "passed_filter_samples": sum(s["passed_filter_samples"] for s in stats),
            "passed_filter_programs": sum(s["passed_filter"] for s in stats),
            "problems_with_a_filtered_program": sum(s["passed_filter"] > 0 for s in stats),
            "correct_samples": sum(p["correct_samples"] for p in per_problem),
        },
        "clusters": {"total": sum(s["clusters"] for s in stats),
                     "inputs_kept": sum(s["inputs_kept"] for s in stats),
                     "executions": sum(s["executions"] for s in stats)},
        "seconds": {**{k: round(v, 3) for k, v in seconds.items()},
                    **{f"selection_{stage}": round(sum(p["seconds"][stage] for p in per_problem), 3) for stage in stages}},
    }


def _cell(interval: Mapping[str, float]) -> str:
    return f"{interval['value']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def render_markdown(report: Mapping[str, Any]) -> str:
    """``report.md``: the overall table (strategies x budgets, with intervals), stage times, and a row per problem."""
    settings, overall = report["settings"], report["overall"]
    ks = settings["budgets"]
    n = settings["submissions"]
    confidence = next(iter(overall["pass_at_k"].values()))["confidence"]
    lines = [
        "# Contest report", "",
        f"{overall['problems']} problems from `{settings['problems']}`, model `{settings['checkpoint']}`, "
        f"{settings['samples']} samples per problem. Solve rate = {n}@k: the chance that {n} submissions selected "
        f"from k samples include a correct one, estimated on {settings['subsets']} random size-k subsets of the "
        f"pool (exact where fewer exist); brackets: {confidence:.0%} bootstrap interval over problems.", "",
        "| selection | " + " | ".join(f"k = {k}" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for strategy, row in overall["solve_rate"].items():
        lines.append(f"| {strategy} | " + " | ".join(_cell(row[n_at_k_key(n, k)]) for k in ks) + " |")
    lines.append("| pass@k (no selection limit) | " + " | ".join(_cell(overall["pass_at_k"][pass_key(k)]) for k in ks)
                 + " |")
    f = overall["filter"]
    lines += [
        "", f"Filtering: {f['passed_filter_samples']} of {f['samples']} samples "
            f"({f['passed_filter_programs']} of {f['distinct_programs']} distinct programs) pass the public tests, "
            f"on {f['problems_with_a_filtered_program']} problems; {f['correct_samples']} samples are correct. "
            f"Clusters: {overall['clusters']['total']} in all; {overall['clusters']['executions']} sandbox executions.",
        "", "Seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in overall["seconds"].items()) + ".",
        "", "| problem | correct / samples | filtered | clusters | "
            + " | ".join(f"{s} {n}@{ks[-1]}" for s in settings["strategies"]) + " |",
        "|---|---|---|---|" + "---|" * len(settings["strategies"]),
    ]
    if report.get("skipped"):
        lines[-2:-2] = ["Skipped (not in any figure): " + "; ".join(f"{s['name']} ({s['reason']})"
                                                                      for s in report["skipped"]) + ".", ""]
    if "placement" in report:
        where = report["placement"]
        lines[-2:-2] = [f"Placement: {where['solved']} problems solved with penalty {where['penalty']} would rank "
                        f"{where['rank']} of {where['participants']} (top {where['top_percent']:.1f}%).", ""]
    for p in report["problems"]:
        rates = " | ".join(f"{p['solve_rate'][s][n_at_k_key(n, ks[-1])]:.2f}" for s in settings["strategies"])
        lines.append(f"| {p['name']} | {p['correct_samples']} / {p['samples']} | {p['stats']['passed_filter_samples']} "
                     f"| {p['stats']['clusters']} | {rates} |")
    return "\n".join(lines) + "\n"


def plot_solve_rate(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """``solve_rate.png``: solve rate against samples per problem on a log axis, one line per strategy
    and pass@k dashed for reference, each with its interval as error bars (nudged apart so they stay visible)."""
    matplotlib.use("Agg")
    settings, overall = report["settings"], report["overall"]
    ks = settings["budgets"]
    n = settings["submissions"]
    series = [(f"{s} ({n}@k)", [overall["solve_rate"][s][n_at_k_key(n, k)] for k in ks], "-", None)
              for s in settings["strategies"]]
    series.append(("pass@k (all k samples\nsubmitted)", [overall["pass_at_k"][pass_key(k)] for k in ks], "--", "0.35"))
    markers = "osD^vP*X"
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for i, (label, rows, style, color) in enumerate(series):
        nudge = 1.035 ** (i - (len(series) - 1) / 2)
        values = [100 * row["value"] for row in rows]
        errors = [[v - 100 * row["low"] for v, row in zip(values, rows)],
                  [100 * row["high"] - v for v, row in zip(values, rows)]]
        ax.errorbar([k * nudge for k in ks], values, yerr=errors, fmt=style, marker=markers[i % len(markers)],
                    color=color, capsize=3, elinewidth=0.8, markersize=5, label=label)
    ax.set_xscale("log")
    ax.set_xticks(ks, [f"{k:,}" for k in ks])
    ax.minorticks_off()
    ax.set_xlim(min(ks) / 1.5, max(ks) * 1.5)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("samples per problem, k (log scale)")
    ax.set_ylabel("problems solved (%)")
    confidence = next(iter(overall["pass_at_k"].values()))["confidence"]
    ax.set_title(f"Solve rate vs samples: {overall['problems']} problems, {n} submissions each "
                 f"({confidence:.0%} bootstrap intervals)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="selection")
    fig.tight_layout()
    atomic_write(Path(path), lambda handle: fig.savefig(handle, format="png"))
    plt.close(fig)


def write_report(report: Mapping[str, Any], report_dir: str | os.PathLike[str]) -> None:
    """Write ``report.json``, ``report.md`` and ``solve_rate.png`` into ``report_dir``, each atomically."""
    out = Path(report_dir)
    atomic_write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    atomic_write_text(out / "report.md", render_markdown(report))
    plot_solve_rate(report, out / "solve_rate.png")


def build_report(problems: Sequence[Problem], store_dir: str | os.PathLike[str], config: ContestConfig,
                 settings: Mapping[str, Any], seconds: Mapping[str, float], executor: Executor,
                 progress: bool = True) -> dict[str, Any]:
    """Evaluate every problem with hidden tests from the store and assemble the whole report; the others
    are listed under ``skipped`` (name and reason) and counted in ``overall.skipped_problems``."""
    judged = judged_problems(problems)
    skipped = [{"name": p.name, "reason": reason} for p in problems if (reason := skip_reason(p)) is not None]
    started = time.perf_counter()
    per_problem = evaluate_problems(judged, store_dir, config, executor, progress=progress)
    seconds = {**seconds, "selection_and_judging": time.perf_counter() - started}
    overall = {**summarize(per_problem, config, seconds), "skipped_problems": len(skipped)}
    return {"settings": {**settings, **_config_json(config)}, "overall": overall, "problems": per_problem,
            "skipped": skipped}


def _config_json(config: ContestConfig) -> dict[str, Any]:
    data = asdict(config)
    data.pop("unsafe_no_isolation")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class Placement:
    """Where a result would rank among a contest's participants (rank 1 is best; ties share a rank)."""

    solved: int
    penalty: int
    rank: int
    participants: int

    @property
    def top_percent(self) -> float:
        """Rank as a percentage of the field: 'top 54%' as AlphaCode reported its Codeforces results."""
        return 100.0 * self.rank / self.participants


PENALTY_PER_REJECTION = 10


def read_standings(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """(solved, penalty) of every participant from a CSV with ``solved`` and ``penalty`` columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: Excel starts its CSVs with a BOM
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f"{path}: unreadable standings ({err})") from None
    standings = []
    for line, row in enumerate(rows, start=2):
        try:
            standings.append((int(row["solved"]), int(row["penalty"])))
        except KeyError as err:
            raise ConfigError(f"{path}: no {err.args[0]!r} column; expected a header with solved,penalty") from None
        except (TypeError, ValueError):
            raise ConfigError(f"{path}:{line}: fields 'solved' and 'penalty' must be whole numbers") from None
    if not standings:
        raise ConfigError(f"{path}: no participants")
    return standings


def place(standings: Sequence[tuple[int, int]], solved: int, penalty: int) -> Placement:
    """Rank (solved, penalty) among the participants: more problems first, then less penalty."""
    better = sum(s > solved or (s == solved and p < penalty) for s, p in standings)
    return Placement(solved, penalty, better + 1, len(standings) + 1)


def contest_result(report: Mapping[str, Any], strategy: str = "cluster") -> tuple[int, int]:
    """Problems solved and penalty of the submissions picked from every problem's whole pool: each
    submission rejected before the accepted one costs ``PENALTY_PER_REJECTION`` (time is not modelled)."""
    k = str(max(report["settings"]["budgets"]))
    results = [p["first_k_samples"][strategy][k] for p in report["problems"]]
    solved = [r for r in results if r["solved"]]
    return len(solved), sum(PENALTY_PER_REJECTION * r["rejected_before_solved"] for r in solved)


def read_samples_file(path: str | os.PathLike[str], problems: Sequence[Problem], samples: int,
                      partial: bool = False) -> dict[str, list[Candidate]]:
    """The first ``samples`` candidates of each of ``problems`` in a samples file, in any layout
    :mod:`alphacode.samples` reads (``benchmarks/draw_samples.py`` writes JSON Lines with ``problem_id``,
    ``code``, ``language`` and optionally ``logprob``/``num_tokens``); rows of other problems are skipped.
    A problem without samples is refused unless ``partial`` (then it is left out of the result); too few
    samples for a problem, or a malformed one, raise :class:`~alphacode.samples.SamplesFormatError`."""
    by_name = {problem.name: problem for problem in problems}
    wanted: dict[str, list[Candidate]] = {name: [] for name in by_name}
    found = read_samples(path, list(by_name), text_field="code")
    for sample in found:
        if sample.problem_id is None:
            raise SamplesFormatError(f"{sample.where}: field 'problem_id': expected the problem's name")
        pool = wanted.get(sample.problem_id)
        if pool is not None and len(pool) < samples:
            problem = by_name[sample.problem_id]
            pool.append(parse_candidate(sample, problem.name, completion_prompt(problem)))
    wanted = {name: wanted[name] for name in check_coverage(found, list(by_name), str(path), partial)}
    short = {problem_id: len(pool) for problem_id, pool in wanted.items() if len(pool) < samples}
    if short:
        problem_id, count = next(iter(short.items()))
        raise SamplesFormatError(f"{path}: problem {problem_id!r} has {count} samples, fewer than the {samples} asked "
                                 f"for ({len(short)} of {len(wanted)} problems are short)")
    return wanted


def _file_digest(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()



@contextlib.contextmanager
def _report_of_its_own(report_dir: str | os.PathLike[str]) -> Iterator[None]:
    """A report folder's samples belong to the run that made them: another run is told to use another folder."""
    try:
        yield
    except OtherSettings as err:
        raise UserError(f"{report_dir}: holds the samples of another contest run ({err.written}); "
                        "use another --report") from None

def run_contest(problems: Sequence[Problem], model_dir: str | os.PathLike[str] | None,
                report_dir: str | os.PathLike[str], config: ContestConfig, sampling: SamplingConfig,
                settings: Mapping[str, Any], address: str | None = None, workers: int | None = None,
                standings: Sequence[tuple[int, int]] | None = None,
                samples_file: str | os.PathLike[str] | None = None, partial: bool = False,
                executor: str | None = None) -> dict[str, Any]:
    """Sample (reusing whatever the store already holds, so only missing samples are drawn), or take the
    samples from ``samples_file`` (see :func:`read_samples_file`; no model is loaded; with ``partial``, only the
    problems it has samples of are scored), evaluate every problem with hidden tests on the ``executor``
    ("local", "ray", or None: Ray when ``address`` or ``RAY_ADDRESS`` names a cluster), write the report (with
    the placement among ``standings``' participants when given). The batch size stays as given whatever the
    budget: it fixes the samples, so changing it refuses the store."""
    check_unique_names(problems, str(settings.get("problems", "problems")))
    judged = judged_problems(problems)
    total = len(judged)
    store_dir = Path(report_dir) / "samples"
    options = ExecutorOptions(executor, SandboxOptions(unsafe_no_isolation=config.unsafe_no_isolation))
    with contextlib.ExitStack() as stack:
        stack.enter_context(_report_of_its_own(report_dir))
        if samples_file is not None:
            started = time.perf_counter()
            drawn = read_samples_file(samples_file, judged, config.samples, partial)
            problems = [p for p in problems if p.name in drawn or skip_reason(p) is not None]
            written = import_candidates(store_dir, drawn, {"samples_file_sha256": _file_digest(samples_file)})
            sampled = {"samples_file": str(samples_file), "partial": partial, "store": str(store_dir),
                       "samples_imported": written}
            timings = {"import": time.perf_counter() - started}
            pool = stack.enter_context(options.open(address))
        else:
            read_model_config(model_dir)  # a wrong checkpoint fails here, before Ray starts
            # Ray's daemons and the sandbox's zygotes start by fork: both before JAX loads with the model
            stack.enter_context(ray_session(address, workers))
            pool = stack.enter_context(options.open(address))
            model = load_model(model_dir)
            summary = run_sampling(judged, model, store_dir, config.samples, config=sampling, seed=config.seed,
                                   workers=workers)
            sampled = {"sampling": sampling.to_json(), "store": str(store_dir), "units_written": summary.units_written,
                       "units_reused": summary.units_skipped, "samples_drawn": summary.samples_written}
            timings = {"sampling": summary.seconds}
        report = build_report(problems, store_dir, config, {**settings, **sampled}, timings, pool)
        report["execution"] = pool.report().to_json()
    report["coverage"] = {"scored": report["overall"]["problems"], "total": total}
    report["provenance"] = provenance()
    if standings is not None:
        placement = place(standings, *contest_result(report))
        report["placement"] = {**asdict(placement), "top_percent": round(placement.top_percent, 2),
                               "strategy": "cluster", "penalty_per_rejection": PENALTY_PER_REJECTION}
    write_report(report, report_dir)
    return report


def contest(problems: str | os.PathLike[str], report_dir: str | os.PathLike[str], config: ContestConfig,
            sampling: SamplingConfig, *, checkpoint: str | os.PathLike[str] | None = None,
            samples_file: str | os.PathLike[str] | None = None, split: str | None = None, address: str | None = None,
            workers: int | None = None, standings_file: str | os.PathLike[str] | None = None,
            partial: bool = False, executor: str | None = None) -> dict[str, Any]:
    """What ``alphacode contest`` does: load the problems at ``problems`` (only those of ``split`` when given: the
    files named by it in the public CodeContests layout, else by :func:`~alphacode.splits.split_of`),
    check that some have hidden tests, and :func:`run_contest` them with the model or the samples file."""
    if not Path(problems).exists():
        raise UserError(f"{problems}: no such file or directory")
    loaded = load_problems(problems, split)
    if not loaded:
        raise UserError(f"{problems}: no problems{f' in the {split} split' if split else ''}")
    if all(skip_reason(p) is not None for p in loaded):
        raise UserError(f"{problems}: no problem has hidden tests (private, generated or a HumanEval check) to judge on")
    standings = read_standings(standings_file) if standings_file else None
    settings = {"problems": str(problems), "split": split,
                "checkpoint": None if samples_file else str(checkpoint or DEFAULT_MODEL_DIR)}
    return run_contest(loaded, checkpoint, report_dir, config, sampling, settings, address=address, workers=workers,
                       standings=standings, samples_file=samples_file, partial=partial, executor=executor)
