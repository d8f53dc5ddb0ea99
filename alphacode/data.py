"""Pre-tokenized example shards: how batches travel to machines without TensorFlow.

A shard directory holds ``shard-NNNNN.npz`` files (fixed-length int32 features, one row per example)
and ``manifest.json`` (feature names and lengths, example counts, what produced them). seqio tasks
are one way to make the examples; the trainer reads the shards back with numpy alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from alphacode.fileio import atomic_write, atomic_write_text

MANIFEST = "manifest.json"


def write_shards(examples: Iterable[Mapping[str, np.ndarray]], out_dir: str | os.PathLike[str], *,
                 examples_per_shard: int = 4096, max_examples: int | None = None,
                 metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write fixed-length examples to ``out_dir`` shard by shard (each atomically), then the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, Any]] = []
    buffer: list[Mapping[str, np.ndarray]] = []
    lengths: dict[str, int] = {}
    total = 0

    def flush() -> None:
        if not buffer:
            return
        arrays = {k: np.stack([np.asarray(e[k], np.int32) for e in buffer]) for k in buffer[0]}
        name = f"shard-{len(shards):05d}.npz"
        atomic_write(out / name, lambda f: np.savez_compressed(f, **arrays))
        shards.append({"file": name, "examples": len(buffer)})
        buffer.clear()

    for example in examples:
        if max_examples is not None and total >= max_examples:
            break
        if not lengths:
            lengths = {k: int(np.asarray(v).shape[-1]) for k, v in example.items()}
        buffer.append(example)
        total += 1
        if len(buffer) == examples_per_shard:
            flush()
    flush()
    manifest = {"examples": total, "features": lengths, "shards": shards, **(metadata or {})}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def read_manifest(shard_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a complete shard directory, or None if there is none (yet)."""
    try:
        return json.loads((Path(shard_dir) / MANIFEST).read_text())
    except FileNotFoundError:
        return None


def load_shards(shard_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """All examples of a shard directory as one array per feature."""
    manifest = read_manifest(shard_dir)
    if manifest is None:
        raise FileNotFoundError(f"{shard_dir}: no {MANIFEST}; not a complete shard directory")
    if not manifest["shards"]:
        raise ValueError(f"{shard_dir}: holds no examples")
    parts = [np.load(Path(shard_dir) / s["file"]) for s in manifest["shards"]]
    return {k: np.concatenate([p[k] for p in parts]) for k in manifest["features"]}
