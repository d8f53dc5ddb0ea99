"""SentencePiece tokenizer for source code: lossless, with the model's special ids.

Every string round-trips exactly: no normalization (``identity``, no dummy prefix, no whitespace
squeezing) and byte fallback for characters outside the vocabulary. SentencePiece writes a space as
U+2581 ("▁") and would decode a literal U+2581 as a space, so ``encode`` emits that character as its
three UTF-8 byte pieces instead. Ids: PAD=0, BOS=1, EOS=2 (the model's), UNK=3, then the 256 byte pieces.

Model type: BPE. On the default corpus (Python's standard library and site-packages), with 5M training
characters and a vocabulary of 8000, BPE gave 3.22 / 3.08 bytes per token on held-out Python / C++ and
trained in 0.9 s; unigram gave 3.14 / 2.96 and took 23 s (its suffix array grows with the input), so BPE
both compresses better and can afford more training text on a small machine.

Trainer options, measured the same way on 20M characters (bytes per token, held-out Python / C++):
the lossless options alone 3.27 / 3.14; ``split_by_unicode_script=False`` lets pieces mix letters and
punctuation (``self.``, ``int(``): 3.63 / 3.39; ``split_by_whitespace=False`` lets pieces span spaces
and newlines (a newline plus its indentation, ``▁i▁=``): 3.97 / 3.57; ``max_sentencepiece_length=24``:
4.00 / 3.57. Runs of spaces become pieces by themselves (``allow_whitespace_only_pieces``), so
user-defined indentation pieces gained nothing and are not used. ``split_digits=True`` costs about 4%
(3.78 / 3.54 without it, script splitting off) but spells every number digit by digit, so numbers are
copied and compared the same way whatever their value. Training text is capped (``max_characters``):
the whole default corpus (306 MB) takes 105 s and 12 GB of memory for 1.5% fewer tokens than 60M characters.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm

from alphacode.errors import ConfigError, UserError
from alphacode.fileio import atomic_write_bytes, make_dirs
from alphacode.model.config import BOS_ID, EOS_ID, PAD_ID, UNK_ID

DEFAULT_MAX_CHARACTERS = 60_000_000
SENTENCE_BYTES = 4096  # training text is cut on line boundaries into pieces of at most this many bytes
_META = "\u2581"


class TokenizerError(UserError, ValueError):
    """A file that is not a SentencePiece model this project can use; the message is one line naming it."""


class Tokenizer:
    """A trained SentencePiece model; pickles as its serialized proto so it can be sent to workers."""

    def __init__(self, model_proto: bytes, *, name: str = "<model proto>") -> None:
        self._setup(bytes(model_proto), name)

    def _setup(self, model_proto: bytes, name: str) -> None:
        processor = spm.SentencePieceProcessor()
        try:
            processor.load_from_serialized_proto(model_proto)
        except (RuntimeError, OSError, TypeError) as error:
            raise TokenizerError(f"{name}: not a SentencePiece model ({error})") from None
        specials = (processor.pad_id(), processor.bos_id(), processor.eos_id(), processor.unk_id())
        if specials != (PAD_ID, BOS_ID, EOS_ID, UNK_ID):
            raise TokenizerError(f"{name}: special ids (pad, bos, eos, unk) are {specials}, the model needs "
                             f"{(PAD_ID, BOS_ID, EOS_ID, UNK_ID)}")
        meta_ids = [processor.piece_to_id(f"<0x{byte:02X}>") for byte in _META.encode()]
        if not all(processor.is_byte(i) for i in meta_ids):
            raise TokenizerError(f"{name}: model was not trained with byte_fallback=True, so it is not lossless")
        self._processor = processor
        self._proto = model_proto
        self._meta_ids = meta_ids
        self._skipped = frozenset((PAD_ID, BOS_ID, EOS_ID))

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Load a ``.model`` file written by ``train_tokenizer`` (or any SentencePiece model with our ids)."""
        try:
            proto = Path(path).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: tokenizer model not found") from None
        except IsADirectoryError:
            raise TokenizerError(f"{path}: is a directory, expected a SentencePiece .model file") from None
        return cls(proto, name=str(path))

    def save(self, path: str | Path) -> None:
        """Write the model to ``path`` atomically."""
        atomic_write_bytes(path, self._proto)

    @property
    def vocab_size(self) -> int:
        """Number of ids, special and byte pieces included."""
        return self._processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS/EOS added); ``decode`` gives ``text`` back exactly."""
        if _META not in text:
            return self._processor.encode(text)
        ids: list[int] = []
        for index, part in enumerate(text.split(_META)):
            if index:
                ids.extend(self._meta_ids)
            if part:
                ids.extend(self._processor.encode(part))
        return ids

    def encode_batch(self, texts: Sequence[str], num_threads: int = 0) -> list[list[int]]:
        """``[self.encode(t) for t in texts]`` on ``num_threads`` SentencePiece threads (0: one per core);
        corpus tokenizing without a process pool."""
        ids: list[list[int]] = [[] for _ in texts]
        plain = [i for i, text in enumerate(texts) if _META not in text]
        encoded = self._processor.encode([texts[i] for i in plain], num_threads=num_threads or os.cpu_count() or 1)
        for i, row in zip(plain, encoded):
            ids[i] = row
        for i, text in enumerate(texts):
            if _META in text:
                ids[i] = self.encode(text)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; PAD, BOS and EOS are skipped wherever they appear (decoding never stops early)."""
        size = self.vocab_size
        kept = []
        for raw in ids:
            token = int(raw)
            if not 0 <= token < size:
                raise ValueError(f"token id {token} is out of range for a vocabulary of {size}")
            if token not in self._skipped:
                kept.append(token)
        return self._processor.decode(kept)

    @property
    def digest(self) -> str:
        """A hash of the model: record shards carry it, so tokens are never read with another tokenizer."""
        return hashlib.sha256(self._proto).hexdigest()

    def bytes_per_token(self, texts: Iterable[str]) -> float:
        """UTF-8 bytes per token over ``texts``: the compression figure used to compare tokenizers."""
        total_bytes = total_tokens = 0
        for text in texts:
            total_bytes += len(text.encode("utf-8"))
            total_tokens += len(self.encode(text))
        if not total_tokens:
            raise ValueError("bytes_per_token needs at least one non-empty text")
        return total_bytes / total_tokens

    def __getstate__(self) -> dict[str, Any]:
        return {"model_proto": self._proto}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["model_proto"], "<pickled tokenizer>")


def train_tokenizer(texts: Iterable[str], out_prefix: str | Path, *, vocab_size: int = 8000,
                    max_characters: int = DEFAULT_MAX_CHARACTERS, seed: int = 0,
                    num_threads: int | None = None) -> Tokenizer:
    """Train a BPE tokenizer on ``texts`` (at most ``max_characters`` of them, in order); write
    ``<out_prefix>.model``. Which texts to train on is the caller's choice (e.g. a spread sample of a corpus)."""
    if max_characters < 1:
        raise ValueError(f"max_characters must be positive, got {max_characters}")
    sentences: list[str] = []
    characters = 0
    for text in texts:
        sentences.extend(_sentences(text[:max_characters - characters]))
        characters = min(max_characters, characters + len(text))
        if characters >= max_characters:
            break
    if not sentences:
        raise ConfigError("no training text (empty corpus, or every file held out)")

    spm.set_random_generator_seed(seed)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, model_type="bpe", vocab_size=vocab_size,
            pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID, byte_fallback=True,
            normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
            split_by_whitespace=False, split_by_unicode_script=False, split_digits=True,
            allow_whitespace_only_pieces=True, max_sentencepiece_length=24,
            max_sentence_length=SENTENCE_BYTES, input_sentence_size=0,
            num_threads=num_threads or os.cpu_count() or 1, minloglevel=2)
    except RuntimeError as error:
        raise ConfigError(f"SentencePiece training failed: {error}") from None
    tokenizer = Tokenizer(model.getvalue())
    out = Path(f"{out_prefix}.model")
    make_dirs(out.parent)
    tokenizer.save(out)
    return tokenizer


def _sentences(text: str, limit: int = SENTENCE_BYTES) -> Iterator[str]:
    """Cut ``text`` on line boundaries into pieces of at most ``limit`` UTF-8 bytes; longer lines are cut too."""
    chunk: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        length = len(line.encode("utf-8"))
        if size + length > limit and chunk:
            yield "".join(chunk)
            chunk, size = [], 0
        while length > limit:
            head = line.encode("utf-8")[:limit].decode("utf-8", "ignore")
            yield head
            line = line[len(head):]
            length = len(line.encode("utf-8"))
        if line:
            chunk.append(line)
            size += length
    if chunk:
        yield "".join(chunk)
