"""Records the sandbox takes and returns: limits, jobs, outcomes."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field

DEFAULT_OUTPUT_CAP = 64 * 1024
MAX_TIME_S = 3600.0
MAX_MEMORY_BYTES = 2**40
STDERR_TAIL = 2048
CXX_FLAGS = ("-O2", "-std=c++17")  # how C++ is compiled; a precompiled header must match them


class Status(str, enum.Enum):
    """How one execution ended, as seen by the sandbox (verdicts come later, from the checker)."""

    OK = "OK"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    TIMEOUT = "TIMEOUT"
    MEMORY_LIMIT = "MEMORY_LIMIT"
    OUTPUT_LIMIT = "OUTPUT_LIMIT"
    COMPILE_ERROR = "COMPILE_ERROR"
    SANDBOX_VIOLATION = "SANDBOX_VIOLATION"


class SandboxLanguage(str, enum.Enum):
    """Languages the sandbox can run."""

    PYTHON3 = "python3"
    CPP = "cpp"


SANDBOX_LANGUAGES = tuple(language.value for language in SandboxLanguage)
# The sandbox language of a program file by its suffix (judge's PROGRAM, a samples folder's files).
SUFFIX_LANGUAGES = {".py": "python3", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".c++": "cpp"}


@dataclass(frozen=True)
class Limits:
    """Per-execution limits. ``wall_time_s`` defaults to twice the CPU limit plus half a second."""

    time_s: float = 2.0
    memory_bytes: int = 256 * 1024 * 1024
    output_bytes: int = DEFAULT_OUTPUT_CAP
    wall_time_s: float | None = None
    max_threads: int = 16
    max_open_files: int = 64

    def __post_init__(self) -> None:
        if not (0 < self.time_s <= MAX_TIME_S and 0 < self.memory_bytes <= MAX_MEMORY_BYTES and self.output_bytes > 0):
            raise ValueError(f"limits out of range (time in (0, {MAX_TIME_S}] s, memory in (0, 2**40] bytes): {self}")

    @property
    def wall_s(self) -> float:
        return self.wall_time_s if self.wall_time_s is not None else 2 * self.time_s + 0.5


@dataclass(frozen=True)
class Job:
    """One program and the inputs to run it on, each in a fresh process."""

    code: str
    language: SandboxLanguage
    inputs: tuple[bytes, ...]
    limits: Limits = field(default_factory=Limits)

    @property
    def code_hash(self) -> str:
        return hashlib.sha256(f"{self.language.value}\0{self.code}".encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """The result of one execution on one input. ``completed``: a Python program's module code returned
    normally (no exception, no exit) and the interpreter's exit steps ran, as the sandbox saw it."""

    status: Status
    stdout: bytes = b""
    stderr_tail: str = ""
    wall_time_s: float = 0.0
    cpu_time_s: float = 0.0
    peak_memory_bytes: int = 0
    exit_code: int | None = None
    signal: int | None = None
    output_truncated: bool = False
    completed: bool = False
