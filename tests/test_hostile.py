"""A battery of hostile programs: each must be contained, and the host and the next run unharmed.

Containment means: the expected status, nothing written outside the sandbox, no secret leaked to
the program's output, no process left behind, and a normal program runs fine right afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from alphacode.execution import Limits, Sandbox, Status

S = Status
CANARY = Path(f"/tmp/alphacode-hostile-{uuid.uuid4().hex}")
SECRET = f"alphacode-secret-{uuid.uuid4().hex}"
LIMITS = Limits(time_s=1.0, wall_time_s=2.0, memory_bytes=128 * 2**20)


@dataclass(frozen=True)
class Case:
    name: str
    language: str
    code: str
    statuses: frozenset[Status]


def py(name: str, code: str, *statuses: Status) -> Case:
    return Case(name, "python3", code.replace("CANARY", str(CANARY)), frozenset(statuses))


def cpp(name: str, code: str, *statuses: Status) -> Case:
    return Case(name, "cpp", "#include <bits/stdc++.h>\n#include <unistd.h>\n#include <sys/socket.h>\n"
                "#include <netinet/in.h>\n#include <arpa/inet.h>\n#include <signal.h>\n#include <sys/ptrace.h>\n"
                "using namespace std;\n" + code.replace("CANARY", str(CANARY)), frozenset(statuses))


def connect(host: str) -> str:
    return f"import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('{host}', PORT))\nprint('connected')"


CASES = [
    py("fork bomb", "import os\nwhile True:\n    os.fork()", S.SANDBOX_VIOLATION),
    py("thread bomb", "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(100,)).start()",
       S.RUNTIME_ERROR, S.MEMORY_LIMIT, S.TIMEOUT),
    py("memory bomb", "x = []\nwhile True:\n    x.append(bytearray(1 << 20))", S.MEMORY_LIMIT),
    py("disk filling write", "with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))", S.OUTPUT_LIMIT),
    py("growing pipe buffers", "import fcntl, os\nr, w = os.pipe()\nfcntl.fcntl(w, 1031, 1 << 20)\nprint('grown')",
       S.SANDBOX_VIOLATION),
    py("many files", "i = 0\nwhile True:\n    open(f'f{i}', 'w').write('x' * 60000)\n    i += 1",
       S.RUNTIME_ERROR, S.OUTPUT_LIMIT),
    py("write outside workdir", "open('CANARY', 'w').write('pwned')", S.RUNTIME_ERROR),
    py("write to /tmp and /usr", "import os\nfor p in ('/tmp/x', '/usr/pwned', '/x'):\n    try:\n        open(p, 'w')\n"
       "        print('wrote', p)\n    except OSError:\n        pass\nopen('/usr/pwned', 'w')", S.RUNTIME_ERROR),
    py("read /etc/shadow", "print(open('/etc/shadow').read())", S.RUNTIME_ERROR),
    py("read parent environment", "import os\nprint(dict(os.environ))\nfor p in ('/proc/1/environ', f'/proc/{os.getppid()}/environ', '/proc/self/environ'):\n"
       "    try:\n        print(open(p).read())\n    except OSError:\n        pass", S.OK),
    py("connect to localhost", connect("127.0.0.1"), S.SANDBOX_VIOLATION),
    py("connect to external address", connect("192.0.2.1"), S.SANDBOX_VIOLATION),
    py("dns lookup", "import socket\nprint(socket.getaddrinfo('example.com', 80))", S.SANDBOX_VIOLATION, S.RUNTIME_ERROR),
    py("kill parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", S.RUNTIME_ERROR),
    py("kill pid 1", "import os, signal\nos.kill(1, signal.SIGKILL)", S.RUNTIME_ERROR),
    py("kill every process", "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('still here')", S.OK, S.RUNTIME_ERROR),
    py("ptrace", "import ctypes\nctypes.CDLL(None).ptrace(16, 1, 0, 0)", S.SANDBOX_VIOLATION),
    py("setuid root", "import os\nos.setuid(0)", S.SANDBOX_VIOLATION),
    py("os.system shell", "import os\nos.system('touch CANARY')", S.SANDBOX_VIOLATION),
    py("subprocess shell", "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'touch CANARY'])", S.SANDBOX_VIOLATION),
    py("execve shell", "import os\nos.execv('/bin/sh', ['sh', '-c', 'touch CANARY'])", S.SANDBOX_VIOLATION),
    py("memfd exec", "import os\nfd = os.memfd_create('x')\nos.write(fd, open('/usr/bin/sh', 'rb').read())\n"
       "os.execve(fd, ['sh'], {})", S.SANDBOX_VIOLATION),
    py("signal flood", "import os, signal\nfor pid in range(1, 40000):\n    try:\n        os.kill(pid, signal.SIGTERM)\n"
       "    except OSError:\n        pass\nprint('done')", S.OK, S.TIMEOUT, S.RUNTIME_ERROR),
    py("endless output", "while True:\n    print('spam' * 100)", S.OUTPUT_LIMIT),
    py("endless stderr", "import sys\nwhile True:\n    sys.stderr.write('spam' * 100)", S.OUTPUT_LIMIT),
    py("sleep forever", "import time\ntime.sleep(10 ** 6)", S.TIMEOUT),
    py("busy loop in C (regex)", "import re\nre.match(r'(a|aa)*c', 'a' * 60)", S.TIMEOUT),
    py("busy loop in ctypes sleep", "import ctypes\nctypes.CDLL(None).sleep(1000)", S.TIMEOUT),
    py("write /proc and /sys", "for p in ('/proc/sys/kernel/hostname', '/sys/kernel/mm/ksm/run', '/proc/sysrq-trigger'):\n"
       "    try:\n        open(p, 'w').write('x')\n        print('wrote', p)\n    except OSError:\n        pass\n"
       "open('/proc/sysrq-trigger', 'w')", S.RUNTIME_ERROR),
    py("symlink escape", "import os\nos.symlink('CANARY', 'link')\nopen('link', 'w').write('pwned')", S.RUNTIME_ERROR),
    py("symlink to host file", "import os\nos.symlink('/etc/passwd', 'p')\nprint(open('p').read())", S.RUNTIME_ERROR),
    py("leftover background process", "import os, time\nif os.fork() == 0:\n    time.sleep(1000)\nprint('parent exits')",
       S.SANDBOX_VIOLATION),
    py("unshare and mount", "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.unshare(0x20000)\n"
       "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)", S.SANDBOX_VIOLATION),
    py("deep recursion", "import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1)\nf(0)",
       S.RUNTIME_ERROR, S.MEMORY_LIMIT, S.TIMEOUT),
    py("system v shared memory", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.shmget(0, 100 << 20, 0o1600))",
       S.SANDBOX_VIOLATION),
    py("open file flood", "fs = []\nwhile True:\n    fs.append(open('/dev/null'))", S.RUNTIME_ERROR),
    cpp("c++ fork bomb", "int main(){ while (true) fork(); }", S.SANDBOX_VIOLATION),
    cpp("c++ memory bomb", "int main(){ vector<vector<char>> v; while (true) v.emplace_back(1 << 20, 1); }", S.MEMORY_LIMIT),
    cpp("c++ busy loop", "int main(){ volatile unsigned long x = 0; while (true) x++; }", S.TIMEOUT),
    cpp("c++ write outside", "int main(){ FILE* f = fopen(\"CANARY\", \"w\"); if (!f) return 1; fputs(\"x\", f); }", S.RUNTIME_ERROR),
    cpp("c++ system shell", "int main(){ return system(\"touch CANARY\"); }", S.SANDBOX_VIOLATION),
    cpp("c++ execve shell", "int main(){ char* a[] = {(char*)\"sh\", nullptr}; execv(\"/bin/sh\", a); return 1; }",
        S.SANDBOX_VIOLATION),
    cpp("c++ connect", "int main(){ int s = socket(AF_INET, SOCK_STREAM, 0); sockaddr_in a{}; a.sin_family = AF_INET; "
        "a.sin_port = htons(PORT); a.sin_addr.s_addr = inet_addr(\"127.0.0.1\"); "
        "return connect(s, (sockaddr*)&a, sizeof a); }", S.SANDBOX_VIOLATION),
    cpp("c++ endless output", "int main(){ while (true) puts(\"spam spam spam\"); }", S.OUTPUT_LIMIT),
    cpp("c++ ptrace", "int main(){ return ptrace(PTRACE_TRACEME, 0, 0, 0); }", S.SANDBOX_VIOLATION),
    cpp("c++ kill everything", "int main(){ kill(-1, SIGKILL); kill(1, SIGKILL); kill(getppid(), SIGKILL); puts(\"ok\"); }", S.OK),
    cpp("c++ stack overflow", "int f(int n){ volatile char b[4096]; b[0] = n; return f(n + 1) + b[0]; } int main(){ return f(0); }",
        S.RUNTIME_ERROR, S.MEMORY_LIMIT),
    cpp("c++ daemon", "int main(){ if (fork() == 0) { sleep(1000); } puts(\"bye\"); }", S.SANDBOX_VIOLATION),
    cpp("c++ include secret", "#include \"/etc/shadow\"\nint main(){}", S.COMPILE_ERROR),
    # an int argument's high 32 bits, which the kernel ignores, must not slip past the filter's comparisons
    cpp("high bits grow a pipe", "#include <sys/syscall.h>\n#include <fcntl.h>\nint main(){ int p[2]; pipe(p); "
        "syscall(SYS_fcntl, p[1], (1L << 32) | F_SETPIPE_SZ, 1 << 20); puts(\"grown\"); }", S.SANDBOX_VIOLATION),
    cpp("high bits send SIGXFSZ", "#include <sys/syscall.h>\n"
        "int main(){ syscall(SYS_kill, getpid(), (1L << 32) | SIGXFSZ); puts(\"alive\"); }", S.SANDBOX_VIOLATION),
    # a 20 MB binary would stay in the host's cache: over the 16 MiB cap on what g++ writes
    cpp("c++ huge binary", "char ballast[20 << 20] = {1};\nint main(){ return ballast[0] - 1; }", S.COMPILE_ERROR),
]


def sandbox_processes() -> list[int]:
    """PIDs of live processes running under a sandbox uid (the zygotes pick uids at or above 2**20)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = int((entry / "status").read_text().split("Uid:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
            if uid >= 2**20:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def hostile_sandbox(tmp_path_factory: pytest.TempPathFactory):
    """A sandbox started with a secret in the driver's environment, which must never reach a program."""
    os.environ["ALPHACODE_TEST_SECRET"] = SECRET
    try:
        with Sandbox(workers=2, cache_dir=tmp_path_factory.mktemp("hostile-cache")) as box:
            yield box
    finally:
        del os.environ["ALPHACODE_TEST_SECRET"]


@pytest.fixture(scope="module")
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def test_battery_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert {c.language for c in CASES} == {"python3", "cpp"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_program_is_contained(hostile_sandbox: Sandbox, listener: socket.socket, case: Case) -> None:
    port = listener.getsockname()[1]
    [outcome] = hostile_sandbox.run(case.code.replace("PORT", str(port)), case.language, [""], LIMITS)
    assert outcome.status in case.statuses, (outcome.status, outcome.stderr_tail)
    assert not CANARY.exists(), "the program wrote outside the sandbox"
    leaked = outcome.stdout.decode(errors="replace") + outcome.stderr_tail
    assert SECRET not in leaked and "root:" not in leaked
    assert b"wrote" not in outcome.stdout and b"connected" not in outcome.stdout
    with pytest.raises(BlockingIOError):
        listener.accept()
    assert len(outcome.stdout) <= LIMITS.output_bytes
    assert sandbox_processes() == [], "a sandboxed process outlived its run"
    [after] = hostile_sandbox.run("print(sum(range(10)))", "python3", [""])
    assert after.status is Status.OK and after.stdout == b"45\n"
