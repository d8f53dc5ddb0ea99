"""Self-contained model directories: ``config.json`` + ``params.npz`` + ``tokenizer.model``.

An export is what ships (the bundled default model) and what samplers load; a training work
directory (orbax checkpoints) is what trainers resume. :func:`load_model` reads either. Weights can
be stored as int8 with one float scale per output channel (about 4x smaller than float32, which is
how the default model fits the repository), as bfloat16, or as float32; they are always float32
again after loading. Anything malformed in such a directory raises :class:`ModelFormatError`, whose
one-line message names the file and field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from alphacode.errors import UserError, first_line
from alphacode.fileio import atomic_write, atomic_write_bytes, atomic_write_text, make_dirs, read_json_file
from alphacode.lazy import lazy_import
from alphacode.model.config import ModelConfig
from alphacode.tokenizer import Tokenizer

checkpoint = lazy_import("alphacode.checkpoint")  # orbax: only to read a training directory
nn = lazy_import("flax.linen")  # JAX: only to check an export's parameter shapes
sharding = lazy_import("alphacode.model.sharding")

FORMAT = "alphacode-export-1"
WEIGHT_FORMATS = ("int8", "bfloat16", "float32")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "default_model"
_SCALE = "::scale"


class ModelFormatError(UserError, ValueError):
    """A directory that is not a usable model export or training directory; the message names the file and field."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to sample from: its config, float32 parameters and tokenizer (and an export's
    ``metadata``: the experiment, provenance and steps that made it)."""

    config: ModelConfig
    params: Any
    tokenizer: Tokenizer
    path: Path
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


def _flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    if isinstance(tree, dict) or hasattr(tree, "items"):
        out: dict[str, np.ndarray] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}/"))
        return out
    return {prefix.rstrip("/"): np.asarray(tree, np.float32)}


def _unflatten(flat: dict[str, np.ndarray]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return tree


def _encode(name: str, value: np.ndarray, weights: str) -> dict[str, np.ndarray]:
    """Storage arrays for one parameter; vectors (norm scales, biases) stay float32."""
    if value.ndim < 2 or weights == "float32":
        return {name: value}
    if weights == "bfloat16":
        return {name: value.astype(ml_dtypes.bfloat16).view(np.uint16)}
    reduce_axes = tuple(range(value.ndim - 1))  # one scale per output channel (last axis)
    scale = np.abs(value).max(axis=reduce_axes, keepdims=True) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    return {name: np.clip(np.rint(value / scale), -127, 127).astype(np.int8), name + _SCALE: scale}


def _decode(stored: dict[str, np.ndarray], weights: str) -> dict[str, np.ndarray]:
    out = {}
    for name, value in stored.items():
        if name.endswith(_SCALE):
            continue
        if value.dtype == np.int8:
            out[name] = value.astype(np.float32) * stored[name + _SCALE]
        elif weights == "bfloat16" and value.dtype == np.uint16:
            out[name] = value.view(ml_dtypes.bfloat16).astype(np.float32)
        else:
            out[name] = value.astype(np.float32)
    return out


def export_model(config: ModelConfig, params: Any, tokenizer_model: str | os.PathLike[str],
                 out_dir: str | os.PathLike[str], *, weights: str = "int8", metadata: dict | None = None) -> Path:
    """Write ``out_dir`` with the config, the parameters in ``weights`` format and the tokenizer."""
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"weights must be one of {WEIGHT_FORMATS}, got {weights!r}")
    out = make_dirs(out_dir)
    stored: dict[str, np.ndarray] = {}
    for name, value in _flatten(params).items():
        stored.update(_encode(name, value, weights))
    atomic_write(out / "params.npz", lambda handle: np.savez_compressed(handle, **stored))
    atomic_write_bytes(out / "tokenizer.model", Path(tokenizer_model).read_bytes())
    payload = {"format": FORMAT, "weights": weights, "model": dataclasses.asdict(config), "metadata": metadata or {}}
    atomic_write_text(out / "config.json", json.dumps(payload, indent=2) + "\n")
    return out


def tokenizer_file(path: Path) -> Path:
    """The ``tokenizer.model`` of a model directory: in it (an export) or in a folder above it (a training run's)."""
    for directory in (path, *path.parents):
        if (directory / "tokenizer.model").exists():
            return directory / "tokenizer.model"
    raise ModelFormatError(f"{path}: no tokenizer.model in it or in a folder above it")


def _setting_ok(value: Any, default: Any) -> bool:
    """Whether a ``model`` setting has the type (and, for sizes, the sign) of its default."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return isinstance(value, type(default))


def _model_config(payload: dict[str, Any], source: Path) -> ModelConfig:
    settings = payload.get("model")
    if not isinstance(settings, dict):
        raise ModelFormatError(f"{source}: field 'model': missing or not an object of model settings")
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    for key, value in settings.items():
        if key not in defaults:
            raise ModelFormatError(f"{source}: field 'model.{key}': not a model setting")
        if not _setting_ok(value, defaults[key]):
            kind = "a positive whole number" if type(defaults[key]) is int else f"a {type(defaults[key]).__name__}"
            raise ModelFormatError(f"{source}: field 'model.{key}': expected {kind}, got {json.dumps(value)}")
    try:
        return ModelConfig(**settings)
    except (TypeError, ValueError) as err:
        raise ModelFormatError(f"{source}: field 'model': {err}") from None


def _shapes(tree: Any, prefix: str = "") -> dict[str, tuple[int, ...]]:
    if isinstance(tree, dict) or hasattr(tree, "items"):
        out: dict[str, tuple[int, ...]] = {}
        for key, value in tree.items():
            out.update(_shapes(value, f"{prefix}{key}/"))
        return out
    return {prefix.rstrip("/"): tuple(tree.shape)}


def _check_params(params: Any, config: ModelConfig, source: Path) -> None:
    """Every parameter the config's model has, with its shape, and no others."""
    expected, found = _shapes(nn.unbox(sharding.abstract_params(config))), _shapes(params)
    for name in sorted(expected.keys() | found.keys()):
        if name not in found:
            raise ModelFormatError(f"{source}: parameter {name!r}: missing for the model in config.json")
        if name not in expected:
            raise ModelFormatError(f"{source}: parameter {name!r}: not part of the model in config.json")
        if expected[name] != found[name]:
            raise ModelFormatError(f"{source}: parameter {name!r}: shape {found[name]}, the model in config.json "
                                   f"needs {expected[name]}")


def _load_export(path: Path, payload: dict[str, Any], config_file: Path) -> Any:
    weights = payload.get("weights")
    if weights not in WEIGHT_FORMATS:
        raise ModelFormatError(f"{config_file}: field 'weights': expected one of {', '.join(WEIGHT_FORMATS)}, "
                               f"got {json.dumps(weights)}")
    params_file = path / "params.npz"
    try:
        with np.load(params_file) as archive:
            return _unflatten(_decode(dict(archive), weights))
    except FileNotFoundError:
        raise ModelFormatError(f"{params_file}: missing; not a complete model export") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ModelFormatError(f"{params_file}: unreadable parameters ({first_line(err)})") from None


def _model_dir(path: str | os.PathLike[str] | None) -> Path:
    """``path``, or the bundled default model's directory when it is there."""
    if path is not None:
        if Path(path).is_file():
            raise ModelFormatError(f"{path}: a file; expected a model export or training directory")
        return Path(path)
    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        raise ModelFormatError(f"no bundled default model at {DEFAULT_MODEL_DIR}; pass --checkpoint DIR")
    return DEFAULT_MODEL_DIR


def read_model_config(path: str | os.PathLike[str] | None = None) -> ModelConfig:
    """The model config of an export or training directory, checked without loading weights or JAX:
    the quick check a command makes before it starts long work (or Ray) on a checkpoint."""
    return _read_config(_model_dir(path))[1]


def _read_config(path: Path) -> tuple[dict[str, Any], ModelConfig]:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelFormatError(f"{path}: no config.json; not a model export or training directory")
    payload = read_json_file(config_file, ModelFormatError)
    if not isinstance(payload, dict):
        raise ModelFormatError(f"{config_file}: expected a JSON object")
    return payload, _model_config(payload, config_file)


def load_model(path: str | os.PathLike[str] | None = None) -> LoadedModel:
    """An export directory or a training work directory (``None``: the bundled default model).

    Raises :class:`ModelFormatError` with a one-line reason when ``path`` holds neither, or a broken one."""
    path = _model_dir(path)
    payload, config = _read_config(path)
    config_file = path / "config.json"
    if payload.get("format") == FORMAT:
        params = _load_export(path, payload, config_file)
        _check_params(params, config, path / "params.npz")
    else:
        try:
            params = checkpoint.load_params(path)
        except (UserError, OSError, ValueError, KeyError) as err:
            raise ModelFormatError(f"{path}: not a readable training directory ({first_line(err)})") from None
        params = _unflatten(_flatten(params))
    tokenizer_path = tokenizer_file(path)
    try:
        tokenizer = Tokenizer.load(tokenizer_path)
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelFormatError(f"{tokenizer_path}: unreadable tokenizer ({first_line(err)})") from None
    metadata = payload.get("metadata") if payload.get("format") == FORMAT else None
    return LoadedModel(config=config, params=params, tokenizer=tokenizer, path=path,
                       metadata=metadata if isinstance(metadata, dict) else {})
