"""Files users name: atomic writes that fail with one line, and reads that never end in a traceback."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from alphacode.errors import UserError
from alphacode.fileio import TextFileError, atomic_write_text, read_json_lines, read_user_text


def test_unwritable_paths_are_one_line_user_errors(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    for path, reason in [(tmp_path / "afile" / "out.json", "cannot create this folder"),
                         (tmp_path / "adir", "is a directory"), (Path("/proc/nowhere/out.json"), "cannot create")]:
        with pytest.raises(UserError, match=reason) as info:
            atomic_write_text(path, "{}")
        assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]  # no staging file left behind


def test_written_files_get_the_umasks_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "report.json", "{}")
    finally:
        os.umask(mask)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o640


def test_corrupt_gzip_and_overlong_integers_are_one_line_errors(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b'{"code": "print(1)", "language": "python3"}\n' * 200))
    data[20:60] = bytes(40)
    (tmp_path / "corrupt.jsonl.gz").write_bytes(bytes(data))
    with pytest.raises(TextFileError, match="corrupt gzip data"):
        read_user_text(tmp_path / "corrupt.jsonl.gz", "a JSON Lines file")
    (tmp_path / "big.jsonl").write_text('{"num_tokens": ' + "1" * 5000 + "}\n")
    with pytest.raises(ValueError, match=r"big\.jsonl:1: not JSON \(Exceeds the limit"):
        list(read_json_lines(tmp_path / "big.jsonl", ValueError))
