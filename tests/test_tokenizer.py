"""Tokenizer: exact round trips (held-out files, adversarial strings), special ids, pickling, errors."""

from __future__ import annotations

import io
import pickle
import shutil
import sysconfig
from pathlib import Path

import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st

from alphacode.model.config import BOS_ID, EOS_ID, PAD_ID
from alphacode.tokenizer import SENTENCE_BYTES, UNK_ID, Tokenizer, _sentences, train_tokenizer
from pretrain.corpus import build_corpus, is_heldout, iter_corpus, tokenizer_texts

HOLDOUT = 0.2
SNIPPETS = {  # a few lines in each language the stdlib slice lacks, so every language is present
    "snippets/main.go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n',
    "snippets/Main.java": "class Main {\n    public static void main(String[] a) {\n        int n = 3;\n    }\n}\n",
    "snippets/app.js": "const xs = [1, 2, 3];\nconsole.log(xs.map((x) => x * 2));\n",
    "snippets/lib.rs": "fn add(a: i64, b: i64) -> i64 {\n    a + b\n}\n",
    "snippets/sol.cpp": "#include <bits/stdc++.h>\nint main() {\n  long long n; std::cin >> n;\n}\n",
}


def _copy_slice(source: Path, pattern: str, budget: int, into: Path) -> None:
    used = 0
    for path in sorted(source.glob(pattern)):
        size = path.stat().st_size
        if path.is_file() and size < 40_000 and used + size <= budget:
            shutil.copyfile(path, into / path.name)
            used += size


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred KB of real code: stdlib modules, CPython's C headers (as C++), small snippets."""
    root = tmp_path_factory.mktemp("code")
    (root / "stdlib").mkdir()
    (root / "include").mkdir()
    _copy_slice(Path(sysconfig.get_paths()["stdlib"]), "*.py", 400_000, root / "stdlib")
    _copy_slice(Path(sysconfig.get_paths()["include"]), "*.h", 120_000, root / "include")
    for name, text in SNIPPETS.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text)
    out = tmp_path_factory.mktemp("corpus")
    build_corpus([root / "stdlib", root / "include", root / "snippets"], out)
    return out


@pytest.fixture(scope="module")
def tokenizer(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    return train_tokenizer(tokenizer_texts(corpus, holdout_fraction=HOLDOUT), tmp_path_factory.mktemp("tok") / "code",
                           vocab_size=1000)


def test_training_writes_the_model_and_fixes_the_special_ids(corpus: Path, tokenizer: Tokenizer,
                                                              tmp_path: Path) -> None:
    assert tokenizer.vocab_size == 1000
    processor = spm.SentencePieceProcessor(model_proto=tokenizer.__getstate__()["model_proto"])
    assert [processor.id_to_piece(i) for i in (PAD_ID, BOS_ID, EOS_ID, UNK_ID)] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert [processor.id_to_piece(i) for i in (4, 259)] == ["<0x00>", "<0xFF>"]
    again = train_tokenizer(tokenizer_texts(corpus, holdout_fraction=HOLDOUT), tmp_path / "sub" / "again",
                            vocab_size=1000)
    assert (tmp_path / "sub" / "again.model").is_file() and not list((tmp_path / "sub").glob(".*"))
    assert Tokenizer.load(tmp_path / "sub" / "again.model").__getstate__() == tokenizer.__getstate__()
    assert again.__getstate__() == tokenizer.__getstate__()  # same corpus and seed: same model


def test_heldout_files_of_every_language_round_trip_exactly(corpus: Path, tokenizer: Tokenizer) -> None:
    languages = {f.language for f in iter_corpus(corpus)}
    assert {"Python", "C++", "Go", "Java", "JavaScript", "Rust"} <= languages
    heldout = [f for f in iter_corpus(corpus) if is_heldout(f.path, HOLDOUT)]
    assert {f.language for f in heldout} >= {"Python", "C++"}
    for file in iter_corpus(corpus):  # held-out and training files alike, every language
        ids = tokenizer.encode(file.content)
        assert tokenizer.decode(ids) == file.content, file.path
        assert min(ids) > EOS_ID and UNK_ID not in ids


def test_bytes_per_token_on_heldout_python(corpus: Path, tokenizer: Tokenizer) -> None:
    python = [f.content for f in iter_corpus(corpus) if f.language == "Python" and is_heldout(f.path, HOLDOUT)]
    assert len(python) >= 5
    assert tokenizer.bytes_per_token(python) > 1.5
    assert tokenizer.bytes_per_token(["abc"]) == 3 / len(tokenizer.encode("abc"))
    with pytest.raises(ValueError, match="non-empty"):
        tokenizer.bytes_per_token([""])


ADVERSARIAL = [
    "", " ", "  ", "\n", "\n\n\n", "\t", "\t\tx = 1\n", "a\r\nb\r\n", "\r", "trailing   \n  \n",
    "    def f():\n        return 1\n", "  leading spaces", "emoji 😀👩‍💻 and ä ß 中文 العربية",
    "nul\x00byte", "\x00", "\x7f\x1b[0m", "x" * 100_000, "a = " + "12345 " * 5_000, "é" * 3_000,
    "\u2581", "a\u2581b \u2581 c\u2581", "<s></s><pad><unk>", "<0x41>", "\ufeffbom", "line\u2028sep\u2029",
    "e\u0301 combining", "\U0010ffff", "   \t \r\n \x0b\x0c",
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_strings_round_trip(tokenizer: Tokenizer, text: str) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert all(isinstance(i, int) and EOS_ID < i < tokenizer.vocab_size for i in ids)
    assert (ids == []) == (text == "")


def test_encode_batch_equals_encode_on_threads(tokenizer: Tokenizer) -> None:
    assert tokenizer.encode_batch(ADVERSARIAL, num_threads=2) == [tokenizer.encode(text) for text in ADVERSARIAL]
    assert tokenizer.encode_batch([]) == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_any_text_round_trips(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_decode_skips_pad_bos_eos_and_rejects_unknown_ids(tokenizer: Tokenizer) -> None:
    text = "for i in range(10):\n    print(i)\n"
    ids = tokenizer.encode(text)
    assert tokenizer.decode([BOS_ID, *ids[:3], EOS_ID, *ids[3:], EOS_ID, PAD_ID, PAD_ID]) == text
    assert tokenizer.decode([PAD_ID, BOS_ID, EOS_ID]) == ""
    for bad in (-1, tokenizer.vocab_size):
        with pytest.raises(ValueError, match="out of range"):
            tokenizer.decode([*ids, bad])


def test_pickle_ships_the_model(tokenizer: Tokenizer) -> None:
    data = pickle.dumps(tokenizer)
    clone = pickle.loads(data)
    text = "while True:\n\tbreak  # done\n"
    assert clone.encode(text) == tokenizer.encode(text) and clone.decode(clone.encode(text)) == text
    assert clone.vocab_size == tokenizer.vocab_size
    assert len(data) < 2 * len(tokenizer.__getstate__()["model_proto"])


def test_load_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.model: tokenizer model not found"):
        Tokenizer.load(tmp_path / "nothing.model")
    (tmp_path / "junk.model").write_bytes(b"\x00junk")
    with pytest.raises(ValueError, match="junk.model: not a SentencePiece model"):
        Tokenizer.load(tmp_path / "junk.model")
    with pytest.raises(ValueError, match="is a directory"):
        Tokenizer.load(tmp_path)
    model = io.BytesIO()  # SentencePiece's own default ids (unk=0, bos=1, eos=2, no pad) do not fit the model
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["abc def\n"] * 50), model_writer=model, vocab_size=20,
                                   model_type="bpe", minloglevel=2)
    (tmp_path / "foreign.model").write_bytes(model.getvalue())
    with pytest.raises(ValueError, match=r"foreign.model: special ids \(pad, bos, eos, unk\) are"):
        Tokenizer.load(tmp_path / "foreign.model")


def test_training_errors(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a corpus directory"):
        train_tokenizer(tokenizer_texts(tmp_path), tmp_path / "tok")
    with pytest.raises(ValueError, match="no training text"):
        train_tokenizer(tokenizer_texts(corpus, holdout_fraction=1.0), tmp_path / "tok")
    with pytest.raises(ValueError, match="SentencePiece training failed"):
        train_tokenizer(tokenizer_texts(corpus), tmp_path / "tok", vocab_size=100)
    assert not (tmp_path / "tok.model").exists()


def test_long_files_are_cut_on_line_boundaries_without_loss() -> None:
    text = "".join(f"line {i} ü\n" for i in range(2_000)) + "€" * 3_000 + "\nlast line without newline"
    pieces = list(_sentences(text))
    assert "".join(pieces) == text
    assert all(0 < len(p.encode()) <= SENTENCE_BYTES for p in pieces)
    assert all(p.endswith("\n") for p in pieces[:-3])  # only the over-long line is cut inside a line
