"""The sandbox runs programs correctly, honours its limits, and reports what it enabled."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from alphacode.execution import Limits, Sandbox, Status, make_job
from alphacode.execution.sandbox import trim_cache

CPP_SUM = """
#include <iostream>
int main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; }
"""


def test_isolation_is_complete_here(sandbox: Sandbox) -> None:
    iso = sandbox.isolation
    assert iso.complete and iso.mode == "root" and iso.uid, iso.problems


def test_python_reads_stdin_and_writes_stdout(sandbox: Sandbox) -> None:
    outcomes = sandbox.run("a, b = map(int, input().split())\nprint(a + b)", "python3", ["1 2\n", b"40 2\n"])
    assert [o.status for o in outcomes] == [Status.OK, Status.OK]
    assert [o.stdout for o in outcomes] == [b"3\n", b"42\n"]
    assert all(o.cpu_time_s > 0 and o.peak_memory_bytes > 0 for o in outcomes)


def test_each_input_gets_a_fresh_process(sandbox: Sandbox) -> None:
    code = "import sys\nseen = globals().setdefault('seen', [])\nseen.append(1)\nopen('state', 'a').write('x')\nprint(len(seen), len(open('state').read()))"
    assert [o.stdout for o in sandbox.run(code, "python3", ["", "", ""])] == [b"1 1\n"] * 3


def test_cpp_compiles_once_and_runs(sandbox: Sandbox) -> None:
    outcomes = sandbox.run(CPP_SUM, "cpp", ["2 3", "100000000000 1"])
    assert [o.stdout for o in outcomes] == [b"5\n", b"100000000001\n"]
    assert len(list(sandbox.cache_dir.iterdir())) >= 1


def test_precompiled_header_is_used_where_it_suits_and_only_there(sandbox: Sandbox, tmp_path, monkeypatch) -> None:
    from alphacode.execution import pch
    from alphacode.execution.records import CXX_FLAGS

    code = "#include <bits/stdc++.h>\nint main() { std::vector<int> v{4, 2}; std::cout << v[0] * 10 + v[1] << '\\n'; }\n"
    assert sandbox.run(code, "cpp", [""])[0].stdout == b"42\n"
    key, _ = pch.identity()
    gch = sandbox.pch_dir / key / "bits" / "stdc++.h.gch"
    assert gch.is_file() and not gch.stat().st_mode & 0o022  # built by the driver; no one else writes it
    (tmp_path / "main.cpp").write_text(code)

    def used(*flags: str) -> bool:  # g++ -H marks a precompiled header it takes with "!"
        run = subprocess.run(["g++", *flags, "-I", str(gch.parent.parent), "-H", "-fsyntax-only", "main.cpp"],
                             cwd=tmp_path, capture_output=True, text=True, check=True)
        return f"! {gch}" in run.stderr

    assert used(*CXX_FLAGS) and not used("-O0", "-std=c++17")
    monkeypatch.setenv("ALPHACODE_CACHE", str(tmp_path / "cache"))  # one g++ cannot use: a plain compile
    unusable = tmp_path / "cache" / "pch" / key / "bits" / "stdc++.h.gch"
    unusable.parent.mkdir(parents=True)
    unusable.write_bytes(b"not a precompiled header")
    with Sandbox(workers=1, cache_dir=tmp_path / "binaries") as box:
        assert box.pch_dir == tmp_path / "cache" / "pch"
        assert box.run(code, "cpp", [""])[0].stdout == b"42\n"


def test_compile_error_and_syntax_error(sandbox: Sandbox) -> None:
    [cpp] = sandbox.run("int main() { return x; }", "cpp", [""])
    assert cpp.status is Status.COMPILE_ERROR and "x" in cpp.stderr_tail
    [py] = sandbox.run("def f(:\n", "python3", [""])
    assert py.status is Status.COMPILE_ERROR


def test_exit_codes(sandbox: Sandbox) -> None:
    codes = {
        "import sys; sys.exit(0)": Status.OK,
        "import sys; sys.exit()": Status.OK,
        "import sys; sys.exit(3)": Status.RUNTIME_ERROR,
        "raise ValueError('boom')": Status.RUNTIME_ERROR,
        "exit('message')": Status.RUNTIME_ERROR,
    }
    outcomes = sandbox.run_batch([make_job(code, "python3", [""]) for code in codes])
    assert [o[0].status for o in outcomes] == list(codes.values())
    assert "boom" in outcomes[3][0].stderr_tail


def test_batch_keeps_order_and_uses_every_worker(sandbox: Sandbox) -> None:
    jobs = [make_job(f"print({i} * {i})", "python3", [""]) for i in range(40)]
    results = sandbox.run_batch(jobs)
    assert [r[0].stdout for r in results] == [f"{i * i}\n".encode() for i in range(40)]


def test_programs_exit_like_a_normal_interpreter(sandbox: Sandbox) -> None:
    programs = {
        "import threading, time\ndef main():\n    time.sleep(0.05)\n    print('from thread')\nthreading.Thread(target=main).start()":
            b"from thread\n",
        "import atexit, io, sys\nbuf = io.StringIO()\nsys.stdout = buf\nprint('buffered')\n"
        "atexit.register(lambda: sys.__stdout__.write(buf.getvalue()))": b"buffered\n",
        "with open('/dev/null', 'w') as f:\n    f.write('x')\nprint(len(open('/dev/urandom', 'rb').read(8)))": b"8\n",
        "import sys\nprint('ok')\nprint('MemoryError handled', file=sys.stderr)": b"ok\n",
    }
    results = sandbox.run_batch([make_job(code, "python3", [""]) for code in programs])
    for (code, expected), [outcome] in zip(programs.items(), results):
        assert outcome.status is Status.OK and outcome.stdout == expected, (code, outcome)


def test_output_cap(sandbox: Sandbox) -> None:
    [o] = sandbox.run("print('x' * 10000)", "python3", [""], Limits(output_bytes=1000))
    assert o.status is Status.OUTPUT_LIMIT and len(o.stdout) <= 1000


@pytest.mark.parametrize("limit", [0.5, 1.0])
def test_cpu_limit_within_ten_percent(sandbox: Sandbox, limit: float) -> None:
    spin = "import time\nwhile time.process_time() < {}: pass\nprint('done')"
    under, over, forever = sandbox.run_batch([
        make_job(spin.format(0.9 * limit), "python3", [""], Limits(time_s=limit)),
        make_job(spin.format(1.1 * limit), "python3", [""], Limits(time_s=limit)),
        make_job("while True: pass", "python3", [""], Limits(time_s=limit)),
    ])
    assert under[0].status is Status.OK and under[0].stdout == b"done\n"
    assert over[0].status is Status.TIMEOUT
    assert forever[0].status is Status.TIMEOUT
    assert limit <= forever[0].cpu_time_s <= 1.1 * limit


def test_cpp_cpu_limit(sandbox: Sandbox) -> None:
    code = "#include <ctime>\nint main(){ while (true) {} }"
    [o] = sandbox.run(code, "cpp", [""], Limits(time_s=0.5))
    assert o.status is Status.TIMEOUT and 0.5 <= o.cpu_time_s <= 0.55


@pytest.mark.parametrize("language", ["python3", "cpp"])
def test_memory_limit_within_ten_percent(sandbox: Sandbox, language: str) -> None:
    limit = 256 * 2**20
    python = "n = N\nb = bytearray(n)\nfor i in range(0, n, 4096): b[i] = 1\nprint('done')"
    cpp = ("#include <cstdio>\n#include <vector>\nint main(){ std::vector<char> v(N); "
           "for (size_t i = 0; i < v.size(); i += 4096) v[i] = 1; std::puts(\"done\"); }")
    code = python if language == "python3" else cpp
    under, over = sandbox.run_batch([
        make_job(code.replace("N", str(int(0.9 * limit))), language, [""], Limits(memory_bytes=limit)),
        make_job(code.replace("N", str(int(1.1 * limit))), language, [""], Limits(memory_bytes=limit)),
    ])
    assert under[0].status is Status.OK and under[0].stdout == b"done\n"
    assert under[0].peak_memory_bytes >= 0.9 * limit
    assert over[0].status is Status.MEMORY_LIMIT


def test_files_left_in_the_work_directory_count_as_memory(sandbox: Sandbox) -> None:
    """A program's files live in its tmpfs, in memory: 40 MiB of them under a 32 MiB limit is MEMORY_LIMIT,
    though each file is under the output cap and the process itself stays small, and though it deletes them."""
    hoard = ("chunk = b'x' * 60000\nfor i in range(700):\n    open(f'f{i}', 'wb').write(chunk)\nprint('held')")
    hidden = hoard.replace("print('held')", "import os, time\ntime.sleep(0.2)\nfor i in range(700):\n"
                                            "    os.unlink(f'f{i}')\nprint('held')")  # gone before it exits
    limits = Limits(memory_bytes=32 * 2**20)
    [small, held, deleted] = sandbox.run_batch([
        make_job("open('f', 'wb').write(b'x' * 60000)\nprint('held')", "python3", [""], limits),
        make_job(hoard, "python3", [""], limits), make_job(hidden, "python3", [""], limits)])
    assert small[0].status is Status.OK
    assert held[0].status is Status.MEMORY_LIMIT and held[0].peak_memory_bytes > 40 * 2**20
    assert deleted[0].status is Status.MEMORY_LIMIT and deleted[0].peak_memory_bytes > 40 * 2**20


def test_wall_clock_kills_sleepers(sandbox: Sandbox) -> None:
    [o] = sandbox.run("import time\ntime.sleep(60)", "python3", [""], Limits(time_s=0.2, wall_time_s=0.5))
    assert o.status is Status.TIMEOUT and 0.5 <= o.wall_time_s < 1.0


def test_refuses_without_isolation_unless_asked(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from alphacode.execution import SandboxUnavailable, protocol

    original = protocol.Isolation.complete
    monkeypatch.setattr(protocol.Isolation, "complete", property(lambda self: False))
    with pytest.raises(SandboxUnavailable, match="--unsafe-no-isolation"):
        Sandbox(workers=1, cache_dir=tmp_path)
    with Sandbox(workers=1, cache_dir=tmp_path, unsafe_no_isolation=True) as box:
        assert box.run("print(1)", "python3", [""])[0].stdout == b"1\n"
    monkeypatch.setattr(protocol.Isolation, "complete", original)


def test_the_binary_cache_keeps_to_its_budget_least_recently_used_first(tmp_path: Path) -> None:
    """Old binaries go first, and only down to the budget; one used within the grace period, a compile's
    staging file and anything that is not a plain file stay."""
    now = time.time()
    for name, age_s in (("oldest", 5000), ("old", 4000), ("recent", 3000), ("fresh", 10)):
        (tmp_path / name).write_bytes(b"x" * 100)
        os.utime(tmp_path / name, (now - age_s, now - age_s))
    (tmp_path / ".abc.tmp").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    assert trim_cache(tmp_path, budget=150, grace_s=3500) == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == [".abc.tmp", "fresh", "recent", "sub"]
    assert trim_cache(tmp_path, budget=150, grace_s=1000) == 100  # down to the budget, not below
    assert sorted(p.name for p in tmp_path.iterdir()) == [".abc.tmp", "fresh", "sub"]


def test_running_a_cached_binary_marks_it_used_and_a_removed_one_is_compiled_again(sandbox: Sandbox) -> None:
    code = "#include <cstdio>\nint main() { std::puts(\"used\"); }\n"
    [first] = sandbox.run(code, "cpp", [""])
    binary = sandbox.cache_dir / make_job(code, "cpp", [""]).code_hash
    os.utime(binary, (1.0, 1.0))
    [again] = sandbox.run(code, "cpp", [""])
    assert first.stdout == again.stdout == b"used\n"
    assert time.time() - binary.stat().st_mtime < 60
    binary.unlink()  # as a trim by another process sharing the cache would
    assert [o.stdout for o in sandbox.run(code, "cpp", ["", ""])] == [b"used\n"] * 2


def test_a_binary_removed_between_a_jobs_inputs_is_compiled_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from alphacode.execution import sandbox as sandbox_module

    execute = sandbox_module._Worker.execute
    runs: list[str] = []

    def execute_then_trim(worker: object, message: tuple, *args: object) -> object:
        result = execute(worker, message, *args)
        if message[0] == "run":
            runs.append(message[2])
            if len(runs) == 1:
                (tmp_path / message[2]).unlink()  # a trim elsewhere, between this job's first and second input
        return result

    monkeypatch.setattr(sandbox_module._Worker, "execute", execute_then_trim)
    with Sandbox(workers=1, cache_dir=tmp_path) as box:
        outcomes = box.run("#include <cstdio>\nint main(){ std::puts(\"again\"); }", "cpp", ["", "", ""])
    assert [o.stdout for o in outcomes] == [b"again\n"] * 3 and len(runs) == 3


def test_a_full_binary_cache_stops_the_run_instead_of_becoming_a_verdict(tmp_path: Path) -> None:
    """A binary that cannot be kept is the machine's fault: the batch fails with one line, and no program is
    marked SANDBOX_VIOLATION for it."""
    from alphacode.execution.executor import LocalExecutor
    from alphacode.execution.sandbox import CacheUnwritable

    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a 256 KiB tmpfs as the cache")
    try:
        with Sandbox(workers=1, cache_dir=small) as box:
            job = make_job("#include <cstdio>\nint main(){ std::puts(\"hi\"); }", "cpp", ["", ""])
            with pytest.raises(CacheUnwritable, match="cannot write the binary cache \\(No space left on device\\)"):
                LocalExecutor(box).run_batch([job])
            assert box.run("print('still here')", "python3", [""])[0].stdout == b"still here\n"
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_a_binary_removed_just_before_its_exec_is_compiled_and_run_again(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The narrowest race with a trim elsewhere: the binary goes after this run marked it used, before the
    zygote's execve. That execution is the machine's failure, so it runs again on a fresh compile."""
    from alphacode.execution import sandbox as sandbox_module

    execute = sandbox_module._Worker.execute
    removed: list[str] = []

    def remove_then_execute(worker: object, message: tuple, *args: object) -> object:
        if message[0] == "run" and not removed:
            removed.append(message[2])
            (tmp_path / message[2]).unlink()
        return execute(worker, message, *args)

    monkeypatch.setattr(sandbox_module._Worker, "execute", remove_then_execute)
    with Sandbox(workers=1, cache_dir=tmp_path) as box:
        [outcome] = box.run("#include <cstdio>\nint main(){ std::puts(\"ran\"); }", "cpp", [""])
    assert removed and outcome.status is Status.OK and outcome.stdout == b"ran\n"
