"""Hostile programs through the users' paths (``judge``, ``select``, ``contest``, ``humaneval``): whatever a
program does, the outcome is a verdict for that program and the run goes on; no program reads another's
data or chooses its own verdict; a corrupt sample store is never silently used.

Beside ``tests/test_hostile.py``, which checks containment program by program on the sandbox itself.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from alphacode.cli import main as cli_main
from alphacode.execution import Limits, Sandbox, SandboxError, Status, make_job
from alphacode.execution.judge import Verdict, judge, judge_many, make_submission
from alphacode.problems import Problem, Test
from tests.conftest import ROOT

DOUBLE = {"name": "double", "description": "Read n (1 <= n <= 1000); print 2n.",
          "public_tests": {"input": ["21\n"], "output": ["42\n"]},
          "private_tests": {"input": ["5\n", "1000\n"], "output": ["10\n", "2000\n"]}}
GOOD_PY = ["print(2 * int(input()))\n", "n = int(input())\nprint(n + n)\n", "import sys\nprint(int(sys.stdin.read()) * 2)\n"]
GOOD_CPP = "#include <cstdio>\nint main() { long long n; std::scanf(\"%lld\", &n); std::printf(\"%lld\\n\", 2 * n); }\n"
WRONG_PY = "print(int(input()) + 1)\n"
# Nest 1,500 directories, then answer correctly: a correct program whose work directory is hard to remove.
DEEP_PY = "import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\nprint(2 * int(input()))\n"
DEEP_CPP = ("#include <cstdio>\n#include <sys/stat.h>\n#include <unistd.h>\nint main() {\n"
            "  for (int i = 0; i < 1500; i++) { mkdir(\"d\", 0700); if (chdir(\"d\")) return 1; }\n"
            "  long long n; std::scanf(\"%lld\", &n); std::printf(\"%lld\\n\", 2 * n);\n}\n")
SURROGATE_CPP = "int main() { return 0; } // \ud800\n"  # valid JSON (\\ud800), not valid Unicode text
SURROGATE_PY = "print(2 * int(input()))  # \udcff\n"
SCAN_LIMITS = Limits(time_s=10.0, memory_bytes=512 * 2**20)

# Scans its own address space (pages near the heap, the break and a few objects, probed through
# write(2) into a memfd so an unmapped page is an error, not a crash) for PATTERN, printing each match.
SCANNER = r'''
import ctypes, os, re
libc = ctypes.CDLL(None, use_errno=True)
libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.write.restype = ctypes.c_ssize_t
libc.sbrk.argtypes = [ctypes.c_long]
libc.sbrk.restype = ctypes.c_void_p
probe = os.memfd_create("probe")
PAGE = 4096
pattern = re.compile(PATTERN)
found, seen = [], set()

def page(addr):
    if addr in seen:
        return None
    seen.add(addr)
    os.lseek(probe, 0, os.SEEK_SET)
    if libc.write(probe, addr, PAGE) != PAGE:
        return None
    return os.pread(probe, PAGE, 0)

def scan(addr, step):
    tail, misses = b"", 0
    while 0 < addr < (1 << 47) and misses < 16384:
        data = page(addr)
        if data is None:
            misses, tail = misses + 1, b""
            addr += step
            continue
        misses = 0
        chunk = tail + data if step > 0 else data + tail
        found.extend(m for m in pattern.findall(chunk) if m not in found)
        tail = data[-100:] if step > 0 else data[:100]
        addr += step

for anchor in (libc.sbrk(0), id(object()), id(bytes(1 << 20)), ctypes.addressof(ctypes.create_string_buffer(1 << 16)),
               id(scan), id(re)):
    scan(anchor & ~(PAGE - 1), PAGE)
    scan((anchor & ~(PAGE - 1)) - PAGE, -PAGE)
for match in found[:LIMIT]:
    print(match.decode())
'''


def scanner(pattern: str, limit: int = 1000) -> str:
    return SCANNER.replace("PATTERN", repr(pattern.encode())).replace("LIMIT", str(limit))


@pytest.fixture
def problem_file(tmp_path: Path) -> Path:
    path = tmp_path / "double.json"
    path.write_text(json.dumps(DOUBLE))
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def judge_cli(capsys: pytest.CaptureFixture, program: Path, problem: Path) -> dict:
    """``alphacode judge --json`` on one program; the run must end normally with one JSON line (exit 0 when
    every test is accepted, 1 for a failing verdict)."""
    code = cli_main(["judge", str(program), "--problem", str(problem), "--json", "--workers", "1"])
    result = json.loads(capsys.readouterr().out)
    assert code == (0 if result["verdict"] == "ACCEPTED" else 1)
    return result


def select_cli(capsys: pytest.CaptureFixture, problem: Path, rows: list[dict], tmp_path: Path) -> dict:
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli_main(["select", str(problem), "--candidates", str(candidates), "--inputs", "4", "--json",
                     "--workers", "1"]) == 0
    return json.loads(capsys.readouterr().out)


# 1. One program must not abort a run: cleaning up after it cannot fail.


@pytest.mark.parametrize("name, code", [("deep.py", DEEP_PY), ("deep.cpp", DEEP_CPP)])
def test_deep_directories_get_a_verdict_from_judge(capsys, tmp_path, problem_file, name, code):
    result = judge_cli(capsys, write(tmp_path / name, code), problem_file)
    assert result["verdict"] == "ACCEPTED" and len(result["tests"]) == 3  # three runs in one worker


def test_deep_directories_do_not_stop_select(capsys, tmp_path, problem_file):
    rows = [{"code": DEEP_PY, "language": "python3"}, {"code": DEEP_CPP, "language": "cpp"},
            *({"code": code, "language": "python3"} for code in GOOD_PY)]
    stats = select_cli(capsys, problem_file, rows, tmp_path)["stats"]
    assert stats["passed_filter"] == 5 and stats["rejected"] == {}


# 2. A replacement worker lives as long as its sandbox.


def test_a_replaced_worker_serves_later_batches(tmp_path):
    problem = Problem(name="double", description="", public_tests=(Test("21\n", "42\n"),))
    with Sandbox(workers=1, cache_dir=tmp_path) as box:
        def judged() -> Verdict:
            return judge(box, GOOD_PY[0], "python3", problem).verdict

        os.kill(box._workers[0].process.pid, signal.SIGKILL)  # the worker fails, as a crash would
        first: Verdict | SandboxError
        try:
            first = judged()
        except SandboxError as err:
            first = err
        for _ in range(3):  # each batch from a new, short-lived thread, as the batch API's own threads are
            with ThreadPoolExecutor(1) as pool:
                assert pool.submit(judged).result() is Verdict.ACCEPTED
        assert first is Verdict.ACCEPTED, "the job on the failed worker is run again on a fresh one"


# Busy on all the threads it may start (16), so its worker takes every core it can get.
SPINNER_CPP = r"""#include <pthread.h>
static void* spin(void*) { volatile unsigned long x = 0; for (;;) x++; return nullptr; }
int main() {
  pthread_attr_t a; pthread_attr_init(&a); pthread_attr_setstacksize(&a, 1 << 16);
  for (int i = 0; i < 15; i++) { pthread_t t; pthread_create(&t, &a, spin, nullptr); }
  spin(nullptr);
}
"""
HEAVY_PY = "n = int(input())\ns = 0\nfor i in range(n):\n    s += i * i % 1000003\nprint(s)\n"  # ~0.4 s here


def _autogroup_applies() -> bool:
    """Whether the kernel shares CPU time between sessions (autogroup on, this process in the root cpu cgroup)."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
        groups = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    except OSError:
        return False
    cpu = [path for _, controllers, path in groups if "cpu" in controllers.split(",")]
    return enabled and (cpu or [path for _, controllers, path in groups if controllers == ""]) in (["/"], [])


@pytest.mark.skipif(not _autogroup_applies(), reason="the kernel does not share CPU time by session here")
def test_many_busy_threads_do_not_time_out_another_workers_program(sandbox):
    """Each execution is its own session, so the scheduler shares CPU time between programs, not threads: a
    16-thread spinner in one worker leaves an honest program in the other its share of the machine."""
    limits = Limits(time_s=1.0)
    sandbox.run(SPINNER_CPP, "cpp", [""], limits)  # compiled before the race
    [alone] = sandbox.run(HEAVY_PY, "python3", ["2700000\n"], limits)
    spun, [beside] = sandbox.run_batch([make_job(SPINNER_CPP, "cpp", [""] * 6, limits),
                                        make_job(HEAVY_PY, "python3", ["2700000\n"], limits)])
    assert {o.status for o in spun} == {Status.TIMEOUT}
    assert alone.status is beside.status is Status.OK, (alone, beside)
    assert beside.stdout == alone.stdout


# 3. No program reads another's data.


def test_a_program_finds_no_trace_of_earlier_programs_in_its_memory(tmp_path):
    honest = ("import hashlib, sys\ndata = sys.stdin.readline().strip()\n"
              "def mark(kind):\n    return 'LEAK-' + hashlib.md5((data + kind).encode()).hexdigest()\n"
              "print(mark('out'))\nprint(mark('err'), file=sys.stderr)\nopen(mark('name'), 'w').write(mark('file'))\n")
    secret = "LEAK-" + uuid.uuid4().hex
    marks = {kind: "LEAK-" + hashlib.md5((secret + kind).encode()).hexdigest() for kind in ("out", "err", "name", "file")}
    marks["in"] = secret
    with Sandbox(workers=1, cache_dir=tmp_path) as box:
        [ran] = box.run(honest, "python3", [secret + "\n"])
        assert ran.status is Status.OK and ran.stdout.decode().strip() == marks["out"]
        [scan] = box.run(scanner(r"LEAK-[0-9a-f]{32}"), "python3", [""], SCAN_LIMITS)
    assert scan.status is Status.OK, scan.stderr_tail
    leaked = {kind for kind, mark in marks.items() if mark in scan.stdout.decode()}
    assert leaked == set(), f"a later program read the earlier one's {sorted(leaked)}"


def test_work_directories_carry_nothing_to_later_executions(tmp_path):
    """A program set its directory's times from its input, and a later one stat'ed /work/N to read them; one
    that left empty files (inodes but no blocks) showed later ones how many."""
    probe = ("import os, sys\nusage = os.statvfs('.')\nname = os.path.basename(os.getcwd())\n"
             "print(usage.f_files - usage.f_ffree, name, os.path.exists('/work/1'))\n"
             "secret = int(sys.stdin.read())\nos.utime('.', ns=(secret, secret))\n"
             "for i in range(secret % 7 + 1):\n    open(f'f{i}', 'w').close()\n")
    with Sandbox(workers=1, cache_dir=tmp_path) as box:
        ran = box.run(probe, "python3", [f"{10**15 + i}\n" for i in range(8)])
    seen = [o.stdout.decode().split() for o in ran]
    assert all(o.status is Status.OK for o in ran), [o.stderr_tail for o in ran]
    assert {inodes for inodes, _, _ in seen} == {seen[0][0]}  # the same fresh /work every time
    assert len({name for _, name, _ in seen}) == 8 and all(len(name) == 32 for _, name, _ in seen)
    assert {exists for _, _, exists in seen} == {"False"}


def test_replaying_another_candidates_answer_does_not_pass_select(capsys, tmp_path):
    """The attack that made a submission: print whatever correct-looking answer memory holds."""
    token = uuid.uuid4().hex
    problem = {"name": "digest", "description": "Print 'answer ' and the SHA-256 hex digest of the input line.",
               "public_tests": {"input": [token + "\n"],
                                "output": ["answer " + hashlib.sha256(token.encode()).hexdigest() + "\n"]}}
    path = write(tmp_path / "digest.json", json.dumps(problem))
    honest = "import hashlib\nprint('answer', hashlib.sha256(input().strip().encode()).hexdigest())\n"
    replay = scanner(r"answer [0-9a-f]{64}", limit=1)
    data = select_cli(capsys, path, [{"code": honest, "language": "python3"}, {"code": replay, "language": "python3"}],
                      tmp_path)
    assert [s["code"] for s in data["submissions"]] == [honest]
    assert data["stats"]["passed_filter"] == 1


def test_a_function_result_without_a_repr_is_its_own_behaviour_in_select(capsys, tmp_path):
    """A hex literal of any length parses, but an int of over 4,300 digits has no repr: clustering crashed."""
    problem = {"name": "double", "description": "Write double(x) returning 2 * x.", "entry_point": "double",
               "public_tests": {"input": ["(3,)"], "output": ["6"]},
               "private_tests": {"input": ["(5,)"], "output": ["10"]}}
    path = write(tmp_path / "double.json", json.dumps(problem))
    honest = "def double(x):\n    return 2 * x\n"
    huge = ("class H:\n    def __repr__(self):\n        return '0x' + 'f' * 4000\n"
            "def double(x):\n    return 6 if x == 3 else H()\n")
    data = select_cli(capsys, path, [{"code": honest, "language": "python3"}, {"code": huge, "language": "python3"}],
                      tmp_path)
    assert data["stats"]["passed_filter"] == 2 and data["stats"]["clusters"] == 2


# 4. A HumanEval pass cannot be printed or exited into existence.

TASK = {"task_id": "Toy/0", "prompt": "def add(a, b):\n    \"\"\"The sum of a and b.\"\"\"\n", "entry_point": "add",
        "canonical_solution": "    return a + b\n", "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"}
FORGED = [
    "    return 0\nimport os\nos.write(1, b'\\n--alphacode-check-passed-4e0b8d61f2a9--\\n')\nos._exit(0)\n",
    "    return 0\nimport sys\nprint('--alphacode-check-passed-4e0b8d61f2a9--')\nsys.exit(0)\n",
    "    return 0\nimport atexit, os\natexit.register(lambda: (os.write(1, b'\\n--alphacode-check-passed-4e0b8d61f2a9--\\n'),"
    " os._exit(0)))\n",
]


def test_humaneval_pass_cannot_be_forged(tmp_path):
    problems = write(tmp_path / "problems.jsonl", json.dumps(TASK) + "\n")
    samples = [{"task_id": TASK["task_id"], "completion": c} for c in [TASK["canonical_solution"], *FORGED]]
    samples_file = write(tmp_path / "samples.jsonl", "".join(json.dumps(s) + "\n" for s in samples))
    assert cli_main(["humaneval", "--samples-file", str(samples_file), "--problem-file", str(problems), "--k", "1",
                     "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in rows] == [True] + [False] * len(FORGED), [r["result"] for r in rows]


# 5. Verdicts come from what the sandbox saw, not from a program's exit status or stderr.


@pytest.mark.parametrize("name, code", [
    ("exit108.py", "import sys\nsys.exit(108)\n"),
    ("exit108.cpp", "int main() { return 108; }\n"),
    ("memory_text.py", "import sys\nsys.stderr.write('MemoryError\\n')\nsys.exit(3)\n"),
    ("memory_text.cpp", "#include <cstdio>\nint main() { std::fputs(\"std::bad_alloc\\n\", stderr); return 3; }\n"),
])
def test_a_program_cannot_choose_its_verdict(capsys, tmp_path, problem_file, name, code):
    result = judge_cli(capsys, write(tmp_path / name, code), problem_file)
    assert {t["verdict"] for t in result["tests"]} == {"RUNTIME_ERROR"}


def test_escape_sequences_reach_the_terminal_as_text(capsys, tmp_path, problem_file):
    """What a program writes and what its source says are shown, never interpreted: escape sequences on stderr
    could redraw the judge's report into a forged ACCEPTED, and bidirectional overrides could disguise code."""
    forger = "import sys\nsys.stderr.write('\\x1b[2K\\r\\x1b[1Averdict: ACCEPTED\\n')\nprint(0)\n"
    assert cli_main(["judge", str(write(tmp_path / "forge.py", forger)), "--problem", str(problem_file),
                     "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "    \\x1b[1Averdict: ACCEPTED\n" in out
    candidates = write(tmp_path / "candidates.jsonl", json.dumps({"code": GOOD_PY[0].rstrip() + "  # \x1b[2J\u202e\n",
                                                                  "language": "python3"}) + "\n")
    assert cli_main(["select", str(problem_file), "--candidates", str(candidates), "--inputs", "4",
                     "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "# \\x1b[2J\\u202e" in out


FORGERIES = {  # program -> the verdict it must not get
    "import os, signal\nos.kill(os.getpid(), signal.SIGXCPU)": Verdict.TIMEOUT,
    "import signal\nsignal.raise_signal(signal.SIGXFSZ)": Verdict.OUTPUT_LIMIT,
    "import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))\nprint('x' * 100)": Verdict.OUTPUT_LIMIT,
    "import os\nos._exit(107)": Verdict.MEMORY_LIMIT,
    "import os\nos._exit(109)": Verdict.COMPILE_ERROR,
}


def test_signals_and_exit_codes_do_not_forge_verdicts(sandbox):
    problem = Problem(name="double", description="", public_tests=(Test("21\n", "42\n"),))
    results = judge_many(sandbox, [make_submission(problem, code, "python3") for code in FORGERIES])
    for (code, forged), result in zip(FORGERIES.items(), results):
        assert result.verdict not in (forged, Verdict.ACCEPTED), (code, result.verdict)
    real = judge_many(sandbox, [make_submission(problem, "def f(:\n", "python3"),
                                make_submission(problem, "x = []\nwhile True:\n    x.append(bytearray(1 << 20))",
                                                "python3"),
                                make_submission(problem, "print('x' * 10 ** 6)", "python3")])
    assert [r.verdict for r in real] == [Verdict.COMPILE_ERROR, Verdict.MEMORY_LIMIT, Verdict.OUTPUT_LIMIT]


# 6 and 7. A corrupt store is repaired, not believed; one bad candidate never costs the others.


def contest_rows(pool: list[tuple[str, str]], problem_id: str) -> list[dict]:
    return [{"problem_id": problem_id, "code": code, "language": language} for code, language in pool]


def write_samples(path: Path, rows: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def run_contest(problem_file: Path, samples: Path, report: Path, n: int) -> dict:
    assert cli_main(["contest", str(problem_file), "--samples-file", str(samples), "--budgets", f"1,{n}",
                     "--subsets", "2", "--strategies", "cluster", "--workers", "1", "--report", str(report)]) == 0
    return json.loads((report / "report.json").read_text())


def test_contest_judges_hostile_and_invalid_candidates_one_by_one(tmp_path, problem_file):
    pool = [(GOOD_PY[0], "python3"), (DEEP_PY, "python3"), (SURROGATE_CPP, "cpp"), (WRONG_PY, "python3"),
            (SURROGATE_PY, "python3"), (DEEP_CPP, "cpp"), (GOOD_CPP, "cpp")]
    samples = write_samples(tmp_path / "samples.jsonl.gz", contest_rows(pool, "double"))
    report = run_contest(problem_file, samples, tmp_path / "report", len(pool))
    [row] = report["problems"]
    assert row["samples"] == len(pool) and row["correct_samples"] == 4
    assert row["stats"]["rejected"] == {"COMPILE_ERROR": 2, "WRONG_ANSWER": 1}


def test_select_rejects_an_invalid_candidate_alone(capsys, tmp_path, problem_file):
    rows = [{"code": SURROGATE_CPP, "language": "cpp"}, {"code": SURROGATE_PY, "language": "python3"},
            *({"code": code, "language": "python3"} for code in GOOD_PY)]
    stats = select_cli(capsys, problem_file, rows, tmp_path)["stats"]
    assert stats["passed_filter"] == 3 and stats["rejected"] == {"COMPILE_ERROR": 2}


def flip_a_byte_inside_a_page(path: Path) -> None:
    """Change one byte in the middle of the ``code`` column's data."""
    import pyarrow.parquet as pq

    column = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(column.column(i) for i in range(column.num_columns) if column.column(i).path_in_schema == "code")
    data = bytearray(path.read_bytes())
    at = chunk.data_page_offset + chunk.total_compressed_size // 2
    data[at] ^= 0x20
    path.write_bytes(bytes(data))


def test_a_corrupt_store_is_reported_and_imported_again(tmp_path, capsys):
    """A flipped byte, a truncated unit and an empty one: each named on one line and imported again from
    the samples file, so the rerun's figures are those of the intact samples."""
    from alphacode.problems import load_problems
    from evaluation.contest import read_samples_file
    from sampling.store import SampleStore, import_candidates

    names = [f"double-{i}" for i in range(3)]
    problems = write(tmp_path / "problems.jsonl", "".join(json.dumps({**DOUBLE, "name": n}) + "\n" for n in names))
    pool = [(GOOD_PY[0], "python3"), (WRONG_PY, "python3"), (GOOD_PY[1], "python3"), (WRONG_PY + "#", "python3")]
    samples = write_samples(tmp_path / "samples.jsonl.gz", [r for n in names for r in contest_rows(pool, n)])
    store_dir = tmp_path / "report" / "samples"
    digest = hashlib.sha256(samples.read_bytes()).hexdigest()
    import_candidates(store_dir, read_samples_file(samples, load_problems(problems), len(pool)),
                      {"samples_file_sha256": digest})
    store = SampleStore(store_dir)
    units = [store.unit_path(n, 0) for n in names]
    flip_a_byte_inside_a_page(units[0])
    units[1].write_bytes(units[1].read_bytes()[:-30])
    units[2].write_bytes(b"")
    capsys.readouterr()
    report = run_contest(problems, samples, tmp_path / "report", len(pool))
    err = capsys.readouterr().err.splitlines()
    for unit in units:
        assert sum(str(unit) in line for line in err) == 1, err
    assert [p["correct_samples"] for p in report["problems"]] == [2, 2, 2]
    assert report["settings"]["samples_imported"] == len(pool) * 3


def test_reading_a_corrupt_unit_is_a_one_line_store_error(tmp_path):
    from sampling.candidate import Candidate
    from sampling.store import SampleStore, StoreError, iter_candidates

    rows = [Candidate("p", "python3", f"print({i})", unit=0, index=i) for i in range(4)]
    with SampleStore.open_for_writing(tmp_path, {"model": "x"}, {"p": 4}, 4) as store:
        store.write_unit("p", 0, rows)
    path = SampleStore(tmp_path).unit_path("p", 0)
    intact = path.read_bytes()
    for damage in (lambda: flip_a_byte_inside_a_page(path), lambda: path.write_bytes(intact[:-10]),
                   lambda: path.write_bytes(b"")):
        path.write_bytes(intact)
        assert [c.code for c in iter_candidates(tmp_path, "p")] == [r.code for r in rows]
        damage()
        with pytest.raises(StoreError, match=str(path)) as raised:
            list(iter_candidates(tmp_path, "p"))
        assert "\n" not in str(raised.value)


# Also seen: host paths inside the sandbox, modify_ldt, a listable binary cache, leftovers of crashed runs.


def test_no_host_paths_or_other_programs_binaries_inside(tmp_path):
    cache = tmp_path / "binaries-cache"
    probe = "import sys\nprint(repr((sys.argv, getattr(sys, 'orig_argv', []), sys.executable, sys.prefix)))"
    with Sandbox(workers=1, cache_dir=cache) as box:
        argv = Path(f"/proc/{box._workers[0].process.pid}/cmdline").read_bytes().decode()
        [seen] = box.run(probe, "python3", [""])
        [ldt] = box.run("import ctypes\nprint(ctypes.CDLL(None).syscall(154, 0, 0, 0))", "python3", [""])
        [listing] = box.run("import os\nprint(os.listdir('/cache'))", "python3", [""])
    assert str(cache) not in argv and "alphacode-root" not in argv
    assert seen.status is Status.OK
    for host in (str(cache), str(ROOT), "alphacode-root"):
        assert host not in seen.stdout.decode(), seen.stdout
    assert ldt.status is Status.SANDBOX_VIOLATION
    assert listing.status is Status.RUNTIME_ERROR and "PermissionError" in listing.stderr_tail


def test_a_killed_driver_leaves_no_directory_behind(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = ("import os, signal\nfrom alphacode.execution import Sandbox\n"
            f"box = Sandbox(workers=1, cache_dir={str(tmp_path / 'cache')!r})\n"
            "assert box.run('print(1)', 'python3', [''])[0].stdout == b'1\\n'\nos.kill(os.getpid(), signal.SIGKILL)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)})
    assert run.returncode == -signal.SIGKILL
    assert list(scratch.iterdir()) == []


def test_ctrl_c_while_a_program_spins_is_one_line_and_leaves_no_zygote(tmp_path, problem_file):
    """Ctrl-C reaches the terminal's whole process group: only the driver answers it (the sandbox's
    processes have their own session and die with it), so the user sees one line, not their tracebacks."""
    def alive(pid: int) -> bool:
        try:
            return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False

    spin = write(tmp_path / "spin.py", "while True:\n    pass\n")
    judging = subprocess.Popen([sys.executable, "-m", "alphacode", "judge", str(spin), "--problem", str(problem_file),
                                "--workers", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, env={**os.environ, "ALPHACODE_CACHE": str(tmp_path)})
    time.sleep(3)  # the program is spinning in the sandbox by now
    found = subprocess.run(["pgrep", "-P", str(judging.pid), "-f", "alphacode.execution.zygote"], capture_output=True,
                           text=True, check=False)
    zygotes = [int(pid) for pid in found.stdout.split()]  # this driver's, not those of anything else running here
    assert zygotes
    os.killpg(judging.pid, signal.SIGINT)
    _, err = judging.communicate(timeout=60)
    assert judging.returncode == 130 and err == "alphacode judge: interrupted\n", err
    deadline = time.monotonic() + 10
    while any(map(alive, zygotes)) and time.monotonic() < deadline:  # they die with the driver
        time.sleep(0.1)
    assert not any(map(alive, zygotes))
