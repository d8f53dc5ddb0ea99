"""Signatures, clusters, the four strategies and input mutation, on hand-made data (no sandbox)."""

from __future__ import annotations

import ast
import json
import re

import pytest

from alphacode.execution import Outcome, Status
from alphacode.problems import Problem, Test
from alphacode.samples import SamplesFormatError
from clustering.candidates import read_candidates
from clustering.inputs import MutationInputGenerator, example_calls, statement_bounds
from clustering.signatures import Program, behaviour, cluster_programs, output_digest
from clustering.strategies import STRATEGIES, codet_scores, get_strategy, round_robin


def ok(text: str) -> Outcome:
    return Outcome(Status.OK, text.encode())


def program(name: str, outputs: tuple[str, ...], samples: int = 1, first: int = 0,
            logprob: float | None = None) -> Program:
    sig = tuple(("TIMEOUT",) if o == "T" else behaviour(ok(o)) for o in outputs)
    return Program(name, f"print({name!r})", "python3", samples, first, logprob, sig)


def test_behaviour_uses_the_checkers_normalisation_and_keeps_crashes_apart():
    canonical = ("OK", output_digest(["yes", "7", "2.500000"]))
    assert behaviour(ok("Yes\n 007  2.50\n")) == behaviour(ok("yes 7 2.5")) == canonical
    assert behaviour(ok("-0")) == behaviour(ok("0"))
    zero = ("OK", output_digest(["0.000000"]))
    assert behaviour(ok("-0.0000001")) == behaviour(ok("0.000000")) == zero  # the checker accepts both
    assert behaviour(ok("1 2")) != behaviour(ok("12"))
    assert behaviour(ok("1 2")) != behaviour(ok("1")) != behaviour(ok("")) != behaviour(Outcome(Status.TIMEOUT))
    assert sum(map(len, behaviour(ok("7 " * 32000)))) < 64  # 64 KiB of output: a digest, not 32,000 strings
    assert behaviour(Outcome(Status.TIMEOUT)) == ("TIMEOUT",) != behaviour(Outcome(Status.RUNTIME_ERROR))
    assert behaviour(Outcome(Status.RUNTIME_ERROR)) != behaviour(ok("RUNTIME_ERROR"))


def test_function_style_behaviour_is_the_returned_value():
    from alphacode.execution.checker import FUNCTION_RESULT_SENTINEL as SENTINEL

    def returned(result: str, noise: str = "") -> Outcome:  # the driver ran to its end, as the sandbox saw
        return Outcome(Status.OK, f"{noise}{SENTINEL}\n{result}\n".encode(), completed=True)

    assert behaviour(returned("'Hello'"), function_style=True) != behaviour(returned("'hELLO'"), function_style=True)
    assert behaviour(returned("[1, 2]", "noise\n"), True) == behaviour(returned("[1,  2]"), True) \
        == ("OK", output_digest(["[1, 2]"]))
    assert behaviour(ok("'Hello'\n"), function_style=True) == ("NO_RESULT",)
    assert behaviour(ok(f"{SENTINEL}\n'Hello'\n"), function_style=True) == ("NO_RESULT",)  # printed, then left early


def test_clusters_count_samples_and_order_by_size():
    pool = [program("a", ("1", "2")), program("b", ("1", "2"), samples=2, first=3),
            program("c", ("1", "3"), samples=4, first=1), program("d", ("T", "2"), first=2)]
    clusters = cluster_programs(pool)
    assert [c.size for c in clusters] == [4, 3, 1]
    assert [[p.key for p in c.members] for c in clusters] == [["c"], ["a", "b"], ["d"]]


def test_cluster_ties_go_to_the_best_logprob_then_the_earliest_sample():
    pool = [program("late", ("1",), first=5), program("early", ("2",), first=1),
            program("likely", ("3",), first=9, logprob=-1.0)]
    assert [c.members[0].key for c in cluster_programs(pool)] == ["likely", "early", "late"]


def test_round_robin_cycles_through_groups_until_k():
    groups = [["a1", "a2", "a3"], ["b1"], ["c1", "c2"]]
    assert round_robin(groups, 10) == ["a1", "b1", "c1", "a2", "c2", "a3"]
    assert round_robin(groups, 4) == ["a1", "b1", "c1", "a2"]
    assert round_robin([], 10) == []


def test_cluster_strategy_takes_one_per_cluster_then_cycles():
    pool = [program(f"big{i}", ("1",), first=i) for i in range(5)]
    pool += [program(f"mid{i}", ("2",), first=10 + i) for i in range(3)]
    pool += [program("small", ("3",), first=20)]
    picks = [p.key for p in get_strategy("cluster").select(pool, 10, seed=0)]
    assert picks[:3] == ["big0", "mid0", "small"]
    assert picks[3:5] == ["big1", "mid1"]
    assert len(picks) == len(set(picks)) == 9


def test_codet_rewards_agreement_beyond_exact_clusters():
    # Two programs agree exactly; six others each differ from the majority "1 2 3" on one input.
    pool = [program("x1", ("9", "9", "9")), program("x2", ("9", "9", "9"), first=1)]
    near = [("1", "2", "3"), ("1", "2", "4"), ("1", "5", "3"), ("6", "2", "3"), ("1", "2", "7"), ("1", "8", "3")]
    pool += [program(f"y{i + 1}", outputs, first=2 + i) for i, outputs in enumerate(near)]
    clusters = cluster_programs(pool)
    assert clusters[0].size == 2  # the cluster strategy would submit x first
    assert get_strategy("cluster").select(pool, 1, seed=0)[0].key == "x1"
    assert codet_scores(clusters)[0] == 2 * 6
    assert get_strategy("codet").select(pool, 1, seed=0)[0].key == "y1"  # 1 * (5 + 4 + 4) > 12


def test_codet_gives_crashes_no_credit():
    pool = [program("t1", ("T", "T")), program("t2", ("T", "T"), first=1), program("ok", ("1", "2"), first=2)]
    assert get_strategy("codet").select(pool, 1, seed=0)[0].key == "ok"
    assert get_strategy("cluster").select(pool, 1, seed=0)[0].key == "t1"


def test_logprob_orders_by_mean_logprob_with_unknown_last():
    pool = [program("none", ("1",)), program("low", ("2",), first=1, logprob=-3.0),
            program("high", ("3",), first=2, logprob=-0.5)]
    assert [p.key for p in get_strategy("logprob").select(pool, 10, seed=0)] == ["high", "low", "none"]


def test_random_is_seeded_distinct_and_weighted_by_samples():
    pool = [program("heavy", ("1",), samples=50)] + [program(f"p{i}", (str(i),), first=i + 1) for i in range(20)]
    strategy = get_strategy("random")
    assert [p.key for p in strategy.select(pool, 10, seed=3)] == [p.key for p in strategy.select(pool, 10, seed=3)]
    picks = strategy.select(pool, 10, seed=4)
    assert len({p.key for p in picks}) == 10
    firsts = [strategy.select(pool, 1, seed=s)[0].key for s in range(40)]
    assert firsts.count("heavy") > 20  # 50 of its 70 samples


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_handles_small_and_empty_pools(name):
    strategy = get_strategy(name)
    assert strategy.select([], 10, seed=0) == []
    pool = [program("a", ("1",)), program("b", ("2",), first=1)]
    assert sorted(p.key for p in strategy.select(pool, 10, seed=0)) == ["a", "b"]


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="cluster, codet, logprob, random"):
        get_strategy("best")


def test_statement_bounds_read_contest_notation():
    text = "t (1 ≤ t ≤ 10^4), n (1 ≤ n ≤ 2 ⋅ 10^5), a_i (-10^9 ≤ a_i ≤ 10^{9}) and 0 <= k <= 100"
    assert statement_bounds(text) == [(1, 10**4), (1, 2 * 10**5), (-10**9, 10**9), (0, 100)]


STDIN_PROBLEM = Problem(
    name="pairs", description="The first line holds t (1 ≤ t ≤ 100). Each case: n (1 ≤ n ≤ 50), then n values "
                              "a_i (1 ≤ a_i ≤ 1000), then a string s of length n.",
    public_tests=(Test("2\n3\n5 1 7\nabc\n4\n2 2 9 4\nzzab\n", "x\n"),))


def test_mutated_stdin_inputs_keep_structure_counts_and_bounds():
    inputs = MutationInputGenerator().generate(STDIN_PROBLEM, 30, seed=1)
    assert len(inputs) == len(set(inputs)) == 30
    example = STDIN_PROBLEM.public_tests[0].input
    assert example not in inputs
    for text in inputs:
        lines = [line.split() for line in text.splitlines()]
        assert [len(line) for line in lines] == [1, 1, 3, 1, 1, 4, 1]
        assert (lines[0], lines[1], lines[4]) == (["2"], ["3"], ["4"])  # t and each n are structural
        assert [len(lines[3][0]), len(lines[6][0])] == [3, 4]
        assert all(1 <= int(v) <= 1000 for v in lines[2] + lines[5])
        assert set(lines[3][0] + lines[6][0]) <= set("abcz")
    assert MutationInputGenerator().generate(STDIN_PROBLEM, 30, seed=1) == inputs
    assert MutationInputGenerator().generate(STDIN_PROBLEM, 30, seed=2) != inputs


def test_digit_strings_keep_their_length():
    problem = Problem(name="bits", description="", public_tests=(Test("2\n5\n01101\n3\n111\n", ""),))
    for text in MutationInputGenerator().generate(problem, 20, seed=0):
        lines = text.split()
        assert (lines[0], lines[1], lines[3]) == ("2", "5", "3") and len(lines[2]) == 5 and len(lines[4]) == 3


def test_mutated_function_arguments_keep_types():
    problem = Problem(name="f", description="", entry_point="f",
                      public_tests=(Test("([3, 1, 2], 'abc', 2.5, True)", "1"),))
    inputs = MutationInputGenerator().generate(problem, 15, seed=0)
    assert len(inputs) == 15
    for text in inputs:
        values, word, real, flag = ast.literal_eval(text)
        assert 2 <= len(values) <= 4 and all(isinstance(v, int) for v in values)
        assert len(word) == 3 and set(word) <= set("abc") and isinstance(real, float) and flag is True


def test_function_examples_come_from_statement_calls_too():
    description = "For example: f([1, 2], 'a') = 3, f((1, 2), x) fails, and g(5) is another function; f() == 0."
    problem = Problem(name="f", description=description, entry_point="f")
    assert example_calls(description, "f") == ["([1, 2], 'a')", "()"]
    inputs = MutationInputGenerator().generate(problem, 10, seed=0)
    assert inputs[:2] == ["([1, 2], 'a')", "()"] and len(inputs) == 10


def test_function_examples_come_from_lines_naming_every_parameter():
    stub = ('def f(arr, k):\n    """Input: arr = [1, 2], k = 3\n    For arr = [5], k = 1, 2 is returned.\n'
            '    Only arr = [7] here.\n    """\n')
    assert example_calls(stub, "f") == ["([1, 2], 3)", "([5], 1)"]
    single = 'def g(n):\n    """\n    Input: 12\n    For n = 7 the answer is 2\n    """\n'
    assert example_calls(single, "g") == ["(12,)", "(7,)"]


def test_numbers_inside_strings_are_nudged_in_their_format():
    problem = Problem(name="d", description="", entry_point="d", public_tests=(Test("('03-11-2000',)", "True"),))
    dates = [ast.literal_eval(text)[0] for text in MutationInputGenerator().generate(problem, 40, seed=0)]
    shaped = [d for d in dates if re.fullmatch(r"\d\d-\d\d-\d{4}", d)]
    assert len(shaped) > 10 and all(abs(int(d[3:5]) - 11) <= 2 for d in shaped if d[6:] == "2000" and d[:2] == "03")


def test_generator_without_examples_proposes_nothing():
    assert MutationInputGenerator().generate(Problem(name="x", description=""), 5, seed=0) == []


def write_rows(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_candidate_files_read_code_language_and_logprob(tmp_path):
    path = write_rows(tmp_path / "c.jsonl", [{"code": "print(1)", "language": "python3", "logprob": -4.0, "num_tokens": 8,
                                              "problem_id": "p"},
                                             "", {"code": "int main(){}", "language": "c++", "extra": 1}])
    first, second = read_candidates(path, "p")
    assert (first.language, first.mean_logprob, first.problem_id) == ("python3", -0.5, "p")
    assert (second.language, second.logprob) == ("cpp", None)


def test_gzipped_candidate_files_are_read_and_broken_ones_named(tmp_path):
    import gzip

    rows = '{"code": "print(1)", "language": "python3"}\n{"code": "int main(){}", "language": "cpp"}\n'
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
    assert [c.language for c in read_candidates(tmp_path / "c.jsonl.gz", "p")] == ["python3", "cpp"]
    for name, content, message in [("cut.jsonl.gz", gzip.compress(rows.encode())[:-8], "truncated gzip file"),
                                   ("plain.jsonl.gz", rows.encode(), "Not a gzipped file")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SamplesFormatError, match=message) as info:
            read_candidates(tmp_path / name, "p")
        assert "\n" not in str(info.value) and name in str(info.value)


@pytest.mark.parametrize("rows, message", [
    (["{"], "jsonl:1: not JSON"),
    ([[1, 2]], "jsonl:1: expected a JSON object"),
    ([{"language": "python3"}], "jsonl:1: field 'code'"),
    ([{"code": "x", "language": "python3"}, {"code": "x", "language": "cobol"}], "jsonl:2: field 'language': unknown"),
    ([{"code": "x", "language": 3.5}], "field 'language'"),
    ([{"code": "x", "language": "python3", "logprob": "high"}], "field 'logprob'"),
    (['{"code": "x", "language": "python3", "logprob": NaN}'], "field 'logprob'"),
    ([{"code": "x", "language": "python3", "num_tokens": 0}], "field 'num_tokens'"),
    ([{"code": "x", "language": "python3", "problem_id": "p"}, {"code": "x", "language": "python3", "problem_id": "q"}],
     "jsonl:2: field 'problem_id': 'q' is not this problem"),
    ([], "no candidates"),
])
def test_bad_candidate_files_get_one_line_errors(tmp_path, rows, message):
    path = write_rows(tmp_path / "bad.jsonl", rows)
    with pytest.raises(SamplesFormatError, match=message) as info:
        read_candidates(path, "p")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_candidate_file(tmp_path):
    with pytest.raises(SamplesFormatError, match="no such file"):
        read_candidates(tmp_path / "none.jsonl", "p")


def test_model_input_generator_cleans_what_the_model_draws() -> None:
    """Drawn inputs are stripped, newline-ended, deduplicated, and need the examples' line count;
    function-style problems are left to mutation; a combination asks each source for its share."""
    from alphacode.problems import Problem, Test
    from clustering.model_inputs import CombinedInputGenerator, ModelInputGenerator
    from sampling.model_sampler import Drawn

    class Scripted:
        def __init__(self) -> None:
            self.prompts: list[str] = []

        def sample_prompt(self, prompt: str, n: int, seed: int, temperature: float | None = None) -> list[Drawn]:
            self.prompts.append(prompt)
            texts = ["2\n5 7", "2\n5 7\n", "", "9", " 3\n1 2 \n", "4\n8 8"][:n]
            return [Drawn(t, -1.0, 3) for t in texts]

    problem = Problem(name="p", description="Add numbers.", public_tests=(Test("1\n4\n", "4\n"),))
    sampler = Scripted()
    inputs = ModelInputGenerator(sampler).generate(problem, 6, seed=0)
    assert inputs == ["2\n5 7\n", "3\n1 2\n", "4\n8 8\n"]
    assert sampler.prompts[0].startswith("GENERATE TEST INPUT\n\nAdd numbers.")
    function_style = Problem(name="f", description="d", entry_point="f")
    assert ModelInputGenerator(sampler).generate(function_style, 4, seed=0) == []

    class Fixed:
        def __init__(self, values: list[str]) -> None:
            self.values = values

        def generate(self, problem: Problem, n: int, seed: int) -> list[str]:
            return self.values[:n]

    both = CombinedInputGenerator((Fixed(["a\n", "b\n", "c\n"]), Fixed(["b\n", "d\n", "e\n"])))
    assert both.generate(problem, 4, seed=0) == ["a\n", "b\n", "d\n"]
