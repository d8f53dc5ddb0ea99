"""Files users name: atomic writes that fail with one line, and reads that never end in a traceback."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

from alphacode.errors import UserError
from alphacode.fileio import TextFileError, atomic_write_text, read_json_file, read_json_lines, read_user_text


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


def test_a_json_file_is_its_value_none_if_missing_and_one_line_if_broken(tmp_path: Path) -> None:
    (tmp_path / "ok.json.gz").write_bytes(gzip.compress(b'{"a": [1, 2]}'))
    assert read_json_file(tmp_path / "ok.json.gz", UserError) == {"a": [1, 2]}
    assert read_json_file(tmp_path / "missing.json", UserError) is None
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone")
    (tmp_path / "bad.json").write_text('{"a": ')
    (tmp_path / "deep.json").write_text("[" * 100_000)
    (tmp_path / "latin1.json").write_bytes(b'"\xe9"')
    for name, reason in [("dangling.json", "no such file"), ("bad.json", "not JSON (Expecting value)"),
                         ("deep.json", "not JSON (too deeply nested)"), ("latin1.json", "not UTF-8 text"),
                         (".", "is a directory")]:
        with pytest.raises(UserError, match=re.escape(reason)) as caught:
            read_json_file(tmp_path / name, UserError)
        assert str(tmp_path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path: Path) -> None:
    """Problem files saved by Windows editors start with one; json.loads refused them."""
    (tmp_path / "p.json").write_bytes(b'\xef\xbb\xbf{"a": 1}')
    (tmp_path / "p.json.gz").write_bytes(gzip.compress(b'\xef\xbb\xbf{"a": 1}'))
    assert read_user_text(tmp_path / "p.json", "a file") == '{"a": 1}'
    assert read_json_file(tmp_path / "p.json.gz", UserError) == {"a": 1}


def test_a_pretty_printed_json_file_is_named_as_not_json_lines(tmp_path: Path) -> None:
    (tmp_path / "tasks.jsonl").write_text('[\n {"task_id": "a"}\n]\n')
    with pytest.raises(UserError, match="tasks.jsonl: one JSON document, not JSON Lines"):
        list(read_json_lines(tmp_path / "tasks.jsonl", UserError))
