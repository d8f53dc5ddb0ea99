"""The sample store: one directory per sampling job, one Parquet file per finished work unit.

Layout::

    STORE/manifest.json                      format, sampling settings, unit size, problems (samples, units)
    STORE/units/<problem dir>/<unit>.parquet one row per sample of that unit, written atomically

A unit file appears whole or not at all (written beside, then renamed), so the files present are the
record of finished work: a rerun skips them, and a reader can tail the directory while it grows.

Growing: a problem's planned sample count only grows (a rerun asking for more extends the plan, one
asking for fewer leaves it), and every unit holds ``unit_size`` samples except a problem's last one.
A unit written short under a smaller plan is topped up in place: its file is replaced by one with the
same rows followed by the missing ones. Readers return the first N samples of a problem in
(unit, index) order, so a store sampled once at the largest N serves every smaller N.

Duplicates: every sample keeps its row, so each (unit, index) exists exactly once, but a program's
text is stored only once per problem. Each row carries ``code_hash`` (its :func:`~sampling.candidate.program_key`)
and ``code_unit``, the unit whose file holds the text; ``code`` is null in every other row with that
hash. The file named by ``code_unit`` was always written no later than the row's own file, so a reader
can resolve any row from files already present. Counting rows per hash gives how often each distinct
program was sampled. A text that is not valid Unicode (a lone surrogate, which JSON allows) is kept
as written, in ``code_bytes`` (UTF-8 with surrogates passed through) instead of ``code``.

Integrity: pages carry checksums, and every read verifies a unit whole: its pages, its rows (problem,
unit, indices 0..n-1) and each text against its ``code_hash``. A corrupt unit is never used: a reader
raises :class:`StoreError` naming its file; a writer reports it in one line, removes it (and any unit
that relies on it for a program's text), and the job writes it again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from alphacode.config import flatten
from alphacode.errors import UserError, first_line
from alphacode.fileio import atomic_write, atomic_write_text, read_json_file
from alphacode.lazy import lazy_import
from alphacode.samples import write_samples
from sampling.candidate import Candidate, program_key
from sampling.units import units_per_problem

pa = lazy_import("pyarrow")  # ~0.3 s: only when a store is read or written
pq = lazy_import("pyarrow.parquet")

FORMAT = "alphacode-samples/2"
MANIFEST = "manifest.json"
_UNIT_DIGITS = 8


class StoreError(UserError, ValueError):
    """A store that cannot be used as asked (other settings, busy, unreadable); the message is one line."""


class OtherSettings(StoreError):
    """The store was written with another ``key`` setting (or unit size) than a writer asks for."""

    def __init__(self, root: Path, key: str, old: Any, new: Any) -> None:
        self.written = f"written with {key}={json.dumps(old)}, not {json.dumps(new)}"
        super().__init__(f"{root}: {self.written}; rerun with the same settings or use a new store")


class CorruptUnit(StoreError):
    """A unit file that fails verification: unreadable, a page checksum, its rows, or a text against its hash."""


def _problem_dir(problem_id: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", problem_id).strip("._")[:60] or "problem"
    return f"{slug}-{hashlib.sha1(problem_id.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def _schema() -> Any:
    return pa.schema([
        ("problem_id", pa.string()), ("unit", pa.int32()), ("index", pa.int32()), ("language", pa.string()),
        ("code", pa.large_string()), ("code_bytes", pa.large_binary()), ("code_hash", pa.string()),
        ("code_unit", pa.int32()),
        ("logprob", pa.float64()), ("num_tokens", pa.int32()), ("rating", pa.int32()),
        ("tags", pa.list_(pa.string())), ("temperature", pa.float64()), ("seed", pa.uint64()),
    ])


_REQUIRED = ("problem_id", "unit", "index", "language", "code", "code_hash", "code_unit")  # code_bytes came later


def _stored_text(code: str) -> tuple[str | None, bytes | None]:
    """(``code``, ``code_bytes``) for a program text: Parquet strings must be valid UTF-8."""
    try:
        code.encode("utf-8")
    except UnicodeEncodeError:
        return None, code.encode("utf-8", "surrogatepass")
    return code, None


def _row_text(row: Mapping[str, Any]) -> str | None:
    """The program text a row holds, or None when another unit holds it."""
    if row["code"] is not None:
        return row["code"]
    raw = row.get("code_bytes")
    return None if raw is None else raw.decode("utf-8", "surrogatepass")


def _manifest_fault(data: dict[str, Any]) -> str | None:
    """What makes a manifest of the right format unusable (a hand edit, another tool's file), or None."""
    def count(value: Any, least: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    if not isinstance(data.get("settings"), dict):
        return "'settings' is not an object"
    if not count(data.get("unit_size"), 1):
        return f"'unit_size' is {json.dumps(data.get('unit_size'))}, not a whole number >= 1"
    problems = data.get("problems")
    if not isinstance(problems, dict):
        return "'problems' is not an object"
    for problem_id, plan in problems.items():
        if not (isinstance(plan, dict) and isinstance(plan.get("dir"), str) and count(plan.get("samples"), 0)
                and count(plan.get("units"), 0)):
            return f"problem {json.dumps(problem_id)}: expected {{dir, samples, units}}, got {json.dumps(plan)[:80]}"
    return None


def _row_fault(rows: list[dict[str, Any]], problem_id: str, unit: int) -> str | None:
    """Why a unit's rows cannot be right, or None: each names its problem and unit, indices run 0..n-1,
    every text matches its hash, and a row without its text names a unit (this one or another) for it."""
    if sorted(r["index"] for r in rows) != list(range(len(rows))):
        return "its indices are not 0..n-1"
    held = {r["code_hash"] for r in rows if _row_text(r) is not None}
    for row in rows:
        if row["problem_id"] != problem_id or row["unit"] != unit:
            return f"row {row['index']} belongs to {row['problem_id']!r} unit {row['unit']}"
        text = _row_text(row)
        if text is not None and (row["code_unit"] != unit or program_key(text, row["language"]) != row["code_hash"]):
            return f"row {row['index']}'s code does not match its code_hash and code_unit"
        if text is None and row["code_unit"] == unit and row["code_hash"] not in held:
            return f"row {row['index']}'s text is missing"
    return None


class SampleStore:
    """A store directory. Readers only need the path; the one writer opens it with :meth:`open_for_writing`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._holders: dict[str, dict[str, int]] = {}  # problem -> code hash -> unit holding the text
        self._writing = False

    # reading --------------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """The manifest; :class:`StoreError` when the directory is not a store."""
        path = self.root / MANIFEST
        data = read_json_file(path, StoreError)
        if data is None:
            raise StoreError(f"{self.root}: not a sample store (no {MANIFEST})")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise StoreError(f"{path}: not a {FORMAT} manifest (format {json.dumps(found)}); use a new store")
        fault = _manifest_fault(data)
        if fault:
            raise StoreError(f"{path}: damaged manifest ({fault})")
        return data

    def problem_ids(self) -> list[str]:
        return list(self.manifest()["problems"])

    def unit_dir(self, problem_id: str) -> Path:
        return self.root / "units" / _problem_dir(problem_id)

    def unit_path(self, problem_id: str, unit: int) -> Path:
        return self.unit_dir(problem_id) / f"{unit:0{_UNIT_DIGITS}d}.parquet"

    def finished_units(self, problem_id: str) -> list[int]:
        """Units of ``problem_id`` whose file is present, in order."""
        directory = self.unit_dir(problem_id)
        if not directory.is_dir():
            return []
        return sorted(int(p.stem) for p in directory.iterdir()
                      if p.suffix == ".parquet" and p.stem.isdigit() and not p.name.startswith("."))

    def read_unit(self, problem_id: str, unit: int) -> list[dict[str, Any]]:
        """The rows of one unit in index order, verified whole (page checksums, rows, texts against their
        hashes); :class:`CorruptUnit` naming the file when anything fails, FileNotFoundError when absent."""
        path = self.unit_path(problem_id, unit)
        try:
            table = pq.read_table(path, page_checksum_verification=True)
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError, ValueError) as err:
            raise CorruptUnit(f"{path}: corrupt sample unit ({first_line(err)})") from None
        missing = [name for name in _REQUIRED if name not in table.column_names]
        if missing:
            raise CorruptUnit(f"{path}: corrupt sample unit (no column {missing[0]!r})")
        rows = sorted(table.to_pylist(), key=lambda r: r["index"] if isinstance(r["index"], int) else -1)
        fault = _row_fault(rows, problem_id, unit)
        if fault:
            raise CorruptUnit(f"{path}: corrupt sample unit ({fault})")
        return rows

    def unit_rows(self, problem_id: str) -> dict[int, int]:
        """How many samples each intact unit of ``problem_id`` holds. Every unit is verified (see
        :meth:`read_unit`), and so is each row that relies on another unit for its text. A unit that
        fails raises :class:`StoreError`; in a store opened for writing it is instead reported on stderr
        (one line naming its file) and removed, so the job writes it again."""
        counts: dict[int, int] = {}
        faults: dict[int, str] = {}
        held: dict[int, set[str]] = {}
        needs: dict[int, set[tuple[int, str]]] = {}
        for unit in self.finished_units(problem_id):
            try:
                rows = self.read_unit(problem_id, unit)
            except FileNotFoundError:
                continue
            except CorruptUnit as err:
                faults[unit] = str(err)
                continue
            counts[unit] = len(rows)
            held[unit] = {r["code_hash"] for r in rows if _row_text(r) is not None}
            needs[unit] = {(r["code_unit"], r["code_hash"]) for r in rows if r["code_unit"] != unit}
        changed = True
        while changed:  # a unit whose texts' holder is gone goes too
            changed = False
            for unit in list(counts):
                lost = next((holder for holder, key in needs[unit] if key not in held.get(holder, ())), None)
                if lost is not None:
                    faults[unit] = (f"{self.unit_path(problem_id, unit)}: relies on unit {lost} of {problem_id!r} "
                                    f"for a program's text, which it does not hold")
                    del counts[unit], held[unit]
                    changed = True
        if faults and not self._writing:
            raise StoreError(next(iter(faults.values())) + "; rerun the job that wrote it to write it again")
        for unit, fault in sorted(faults.items()):
            print(f"{fault}; removed, it will be written again", file=sys.stderr)
            self.unit_path(problem_id, unit).unlink(missing_ok=True)
        if faults:
            self._holders.pop(problem_id, None)
        return counts

    # writing --------------------------------------------------------------------------------------

    def being_written(self) -> bool:
        """Whether a sampling job holds the store open for writing now (its lock is taken)."""
        try:
            with open(self.root / ".lock") as lock:  # read-only: no lock file where there was none
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False

    @classmethod
    @contextmanager
    def open_for_writing(cls, root: str | os.PathLike[str], settings: Mapping[str, Any],
                         problems: Mapping[str, int], unit_size: int) -> Iterator[SampleStore]:
        """Create the store or reopen it for the same ``settings`` and ``unit_size``; hold its lock while in use.

        ``problems`` maps each problem id to the samples asked for. Problems may be added and their
        sample counts grown (a smaller count keeps the larger plan); other settings or another unit
        size are refused with :class:`StoreError`."""
        if unit_size < 1:
            raise ValueError(f"unit_size must be at least 1, got {unit_size}")
        store = cls(root)
        try:
            if store.root.is_dir() and not (store.root / MANIFEST).exists() and any(
                    not name.startswith(".") for name in os.listdir(store.root)):
                raise StoreError(f"{store.root}: a folder that holds other files, not a sample store; use a new one")
            store.root.mkdir(parents=True, exist_ok=True)
            lock = open(store.root / ".lock", "a")
        except OSError as err:
            raise StoreError(f"{store.root}: cannot create the store ({err.strerror or err})") from None
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{store.root}: another sampling job is writing this store") from None
            store._writing = True
            try:
                store._merge_manifest(dict(settings), problems, unit_size)
                store._remove_partial_files()
            except OSError as err:
                raise StoreError(f"{store.root}: cannot write the store ({err.strerror or err})") from None
            yield store

    def _merge_manifest(self, settings: dict[str, Any], problems: Mapping[str, int], unit_size: int) -> None:
        settings = json.loads(json.dumps(settings))  # the form it takes in the file, for comparing
        if (self.root / MANIFEST).exists():
            manifest = self.manifest()
            written = {**manifest["settings"], "unit_size": manifest["unit_size"]}
            old, new = flatten(written), flatten({**settings, "unit_size": unit_size})  # by dotted keys
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    raise OtherSettings(self.root, key, old.get(key), new.get(key))
        else:
            manifest = {"format": FORMAT, "settings": settings, "unit_size": unit_size, "problems": {}}
        for problem_id, samples in problems.items():
            if samples < 1:
                raise ValueError(f"problem {problem_id!r}: samples must be at least 1, got {samples}")
            samples = max(samples, manifest["problems"].get(problem_id, {}).get("samples", 0))
            manifest["problems"][problem_id] = {"dir": _problem_dir(problem_id), "samples": samples,
                                                "units": units_per_problem(samples, unit_size)}
        atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    def _remove_partial_files(self) -> None:
        """Delete temporary files a killed writer left behind (only called under the lock)."""
        units = self.root / "units"
        if units.is_dir():
            for leftover in units.glob("*/.*.tmp"):
                leftover.unlink(missing_ok=True)

    def _holders_of(self, problem_id: str) -> dict[str, int]:
        if problem_id not in self._holders:
            holders: dict[str, int] = {}
            for unit in self.finished_units(problem_id):
                holders.update((r["code_hash"], unit) for r in self.read_unit(problem_id, unit)
                               if _row_text(r) is not None)
            self._holders[problem_id] = holders
        return self._holders[problem_id]

    def write_unit(self, problem_id: str, unit: int, candidates: list[Candidate]) -> int:
        """Write one finished unit atomically; returns how many of its programs were new to the problem.

        Where the unit is already stored (short, under a smaller plan), ``candidates`` continue it: the
        file is replaced by its rows, unchanged, followed by theirs. Indices must run on without a gap."""
        path = self.unit_path(problem_id, unit)
        rows = self.read_unit(problem_id, unit) if path.exists() else []
        indices = [c.index for c in candidates]
        if indices != list(range(len(rows), len(rows) + len(candidates))):
            raise ValueError(f"{problem_id!r} unit {unit}: holds {len(rows)} samples, so the next indices are "
                             f"{len(rows)}..., not {indices[:3]}...")
        holders = self._holders_of(problem_id)
        added: dict[str, int] = {}
        for c in candidates:
            digest = program_key(c.code, c.language)
            holder = holders.get(digest, added.get(digest))
            if holder is None:
                added[digest] = unit
            code, code_bytes = _stored_text(c.code) if holder is None else (None, None)
            rows.append({"problem_id": problem_id, "unit": unit, "index": c.index, "language": c.language,
                         "code": code, "code_bytes": code_bytes, "code_hash": digest,
                         "code_unit": unit if holder is None else holder, "logprob": c.logprob,
                         "num_tokens": c.num_tokens, "rating": c.rating, "tags": list(c.tags),
                         "temperature": c.temperature, "seed": c.seed})
        table = pa.Table.from_pylist(rows, schema=_schema())
        try:
            atomic_write(path, lambda handle: pq.write_table(table, handle, write_page_checksum=True))
        except OSError as err:
            raise StoreError(f"{path}: cannot write the unit ({err.strerror or err})") from None
        holders.update(added)
        return len(added)

    def forget(self, problem_id: str) -> None:
        """Drop the in-memory index of a problem whose units are all written."""
        self._holders.pop(problem_id, None)


def import_candidates(root: str | os.PathLike[str], candidates: Mapping[str, Sequence[Candidate]],
                      settings: Mapping[str, Any], unit_size: int = 1000) -> int:
    """Store candidates drawn elsewhere (``benchmarks/draw_samples.py`` on an accelerator machine, say)
    under ``settings``, in file order, units of ``unit_size``; units already stored are kept (a short
    one is topped up), so a rerun resumes. Returns how many samples were written now."""
    written = 0
    plan = {problem_id: len(rows) for problem_id, rows in candidates.items()}
    with SampleStore.open_for_writing(root, settings, plan, unit_size) as store:
        for problem_id, rows in candidates.items():
            stored = store.unit_rows(problem_id)
            for unit in range(units_per_problem(len(rows), unit_size)):
                chunk = rows[unit * unit_size:(unit + 1) * unit_size]
                have = stored.get(unit, 0)  # a unit written short under a smaller plan is topped up
                if have < len(chunk):
                    store.write_unit(problem_id, unit, [replace(c, problem_id=problem_id, unit=unit, index=i)
                                                        for i, c in enumerate(chunk) if i >= have])
                    written += len(chunk) - have
            store.forget(problem_id)
    return written


def _candidates_of(path: Path, records: list[dict[str, Any]], texts: dict[str, str],
                   read_texts: Callable[[int], None], rows: slice) -> Iterator[Candidate]:
    """The candidates at positions ``rows`` of one unit's verified rows (in index order)."""
    for row in records:
        text = _row_text(row)
        if text is not None:
            texts[row["code_hash"]] = text
    for row in records[rows]:
        if row["code_hash"] not in texts:
            read_texts(row["code_unit"])
        if row["code_hash"] not in texts:
            raise StoreError(f"{path}: row {row['index']} relies on unit {row['code_unit']} for its text, which "
                             f"does not hold it; rerun the job that wrote it to write it again")
        yield Candidate(problem_id=row["problem_id"], language=row["language"], code=texts[row["code_hash"]],
                        logprob=row["logprob"], num_tokens=row["num_tokens"], rating=row["rating"],
                        tags=tuple(row["tags"] or ()), temperature=row["temperature"], seed=row["seed"],
                        unit=row["unit"], index=row["index"])


def iter_candidates(store: SampleStore | str | os.PathLike[str], problem_id: str, *, samples: int | None = None,
                    follow: bool = False, poll_s: float = 1.0, timeout_s: float | None = None,
                    writer_done: Callable[[], bool] | None = None) -> Iterator[Candidate]:
    """Stream the first ``samples`` candidates of ``problem_id`` (default: all planned) in (unit, index) order.

    Without ``follow`` it yields as many of them as are stored, up to the first one missing (always a
    prefix). ``follow=True`` keeps watching a store that is still being written until all of them
    have been read (``TimeoutError`` after ``timeout_s`` seconds without finishing; :class:`StoreError`
    when ``writer_done()`` is true and a last look still finds some missing, as nothing more will come)."""
    store = store if isinstance(store, SampleStore) else SampleStore(store)
    started = time.monotonic()
    texts: dict[str, str] = {}
    unit = taken = 0  # the next candidate is row ``taken`` of unit ``unit``

    def read_texts(holder: int) -> None:
        with suppress(FileNotFoundError):
            texts.update((r["code_hash"], _row_text(r)) for r in store.read_unit(problem_id, holder)
                         if _row_text(r) is not None)

    while True:
        finished = writer_done is not None and writer_done()  # before looking, so the last look sees all it wrote
        manifest = None
        try:
            manifest = store.manifest()
        except StoreError:
            if not follow:
                raise
        plan = manifest["problems"].get(problem_id) if manifest else None
        if plan is None and not follow:
            raise StoreError(f"{store.root}: no problem {problem_id!r} in this store")
        units = 0
        if plan is not None:
            size = manifest["unit_size"]
            wanted = plan["samples"] if samples is None else samples
            units = units_per_problem(wanted, size)
            while unit < units:
                path, count = store.unit_path(problem_id, unit), min(size, wanted - unit * size)
                try:
                    records = store.read_unit(problem_id, unit)
                except FileNotFoundError:
                    break
                stored = min(count, len(records))
                if stored > taken:
                    yield from _candidates_of(path, records, texts, read_texts, slice(taken, stored))
                    taken = stored
                if taken < count:
                    break
                unit, taken = unit + 1, 0
            if unit == units or not follow:
                return
        if finished:
            raise StoreError(f"{store.root}: {problem_id!r} has {unit} of {units or '?'} units and its sampling "
                             f"job has ended")
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{store.root}: {problem_id!r} has {unit} of {units or '?'} units "
                               f"after {timeout_s:g} s")
        time.sleep(poll_s)


def export_store(root: str | os.PathLike[str], out: str | os.PathLike[str]) -> tuple[int, int]:
    """Write every stored sample of a store to ``out`` as JSON Lines (gzipped when it ends in ``.gz``), atomically
    and streaming: one complete row per sample (``problem_id``, ``language``, ``code`` with duplicates' text
    resolved, ``logprob``, ``num_tokens``, ``rating``, ``tags``, ``temperature``, ``seed``, ``unit``, ``index``)
    in (problem, unit, index) order, the layout ``contest --samples-file`` reads. Returns (samples, problems)."""
    if not str(out).endswith((".jsonl", ".jsonl.gz")):
        raise UserError(f"{out}: the export is JSON Lines; name it .jsonl or .jsonl.gz")
    store = SampleStore(root)
    problem_ids = store.problem_ids()

    def rows() -> Iterator[dict[str, Any]]:
        for problem_id in problem_ids:
            for candidate in iter_candidates(store, problem_id):
                yield {**asdict(candidate), "tags": list(candidate.tags)}

    return write_samples(out, rows()), len(problem_ids)
