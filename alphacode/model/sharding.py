"""Sharding: logical axis names -> a ``jax.sharding.Mesh`` with ``data``, ``fsdp`` and ``tensor`` axes.

Parameters are sharded over ``fsdp`` on their model dimension and over ``tensor`` on heads,
feed-forward width and vocabulary (Megatron-style); the batch is split over ``data`` and ``fsdp``.
Shared key/value heads are split over ``tensor`` when their number divides by it and replicated
otherwise (with one of them, as in multi-query attention, there is nothing to split):
:func:`rules_for` adapts the default rules to a model and a mesh.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from alphacode.errors import ConfigError
from alphacode.model.config import PAPER_PARAMETERS, ModelConfig, get_config
from alphacode.model.transformer import EncoderDecoder

MESH_AXES = ("data", "fsdp", "tensor")
LOGICAL_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_kv_heads", None),
    ("act_mlp", "tensor"),
    ("act_vocab", "tensor"),
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", None),
    ("head_dim", None),
    ("mlp", "tensor"),
)


def rules_for(config: ModelConfig, sizes: Mapping[str, int]) -> tuple[tuple[str, Any], ...]:
    """The default rules, with any model dimension that does not divide by its mesh axis replicated
    instead (e.g. 6 query heads on a tensor axis of 4), and key/value heads split where they divide."""
    tensor, fsdp = sizes.get("tensor", 1), sizes.get("fsdp", 1)
    dims = {"heads": config.num_heads, "act_heads": config.num_heads, "mlp": config.d_ff, "act_mlp": config.d_ff,
            "vocab": config.vocab_size, "act_vocab": config.vocab_size}
    rules = []
    for name, axes in LOGICAL_RULES:
        if name in dims and dims[name] % tensor:
            axes = None
        elif name in ("kv_heads", "act_kv_heads") and config.num_kv_heads > 1 and config.num_kv_heads % tensor == 0:
            axes = "tensor"
        elif name == "embed" and config.d_model % fsdp:
            axes = None
        rules.append((name, axes))
    return tuple(rules)


def parse_mesh(spec: str) -> dict[str, int]:
    """``"data=64,fsdp=8,tensor=4"`` -> sizes per axis (missing axes are 1)."""
    sizes = dict.fromkeys(MESH_AXES, 1)
    seen: set[str] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if name not in sizes or not value.isdigit() or int(value) < 1:
            raise ConfigError(f"bad mesh axis {part!r}: expected NAME=SIZE with NAME in {', '.join(MESH_AXES)} "
                              "and a SIZE of at least 1")
        if name in seen:
            raise ConfigError(f"mesh {spec!r}: axis {name!r} given twice")
        seen.add(name)
        sizes[name] = int(value)
    return sizes


def make_mesh(sizes: Mapping[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A mesh with the given ``data``/``fsdp``/``tensor`` sizes over the first devices of ``devices`` (default: all)."""
    devices = list(devices if devices is not None else jax.devices())
    shape = tuple(sizes.get(axis, 1) for axis in MESH_AXES)
    if math.prod(shape) > len(devices):
        raise ConfigError(f"mesh {dict(zip(MESH_AXES, shape))} needs {math.prod(shape)} devices, have {len(devices)}")
    return Mesh(np.asarray(devices[: math.prod(shape)]).reshape(shape), MESH_AXES)


def logical_specs(abstract_variables: Any) -> Any:
    """The logical PartitionSpec of every variable, from the names the model attached at init."""
    return nn.get_partition_spec(abstract_variables)


def mesh_specs(abstract_variables: Any, rules: Sequence[tuple[str, Any]] = LOGICAL_RULES) -> Any:
    """Mesh-axis PartitionSpecs for a tree of (boxed) variables."""
    return nn.logical_to_mesh(logical_specs(abstract_variables), rules)


def shardings(abstract_variables: Any, mesh: Mesh, rules: Sequence[tuple[str, Any]] = LOGICAL_RULES) -> Any:
    """NamedShardings for a tree of (boxed) variables on ``mesh``."""
    return jax.tree.map(lambda spec: NamedSharding(mesh, spec), mesh_specs(abstract_variables, rules),
                        is_leaf=lambda x: isinstance(x, PartitionSpec))


def abstract_params(config: ModelConfig) -> Any:
    """Parameter shapes and logical names, with nothing allocated (``jax.eval_shape``)."""
    enc = jnp.zeros((1, 8), jnp.int32)
    dec = jnp.zeros((1, 8), jnp.int32)
    return jax.eval_shape(lambda: EncoderDecoder(config).init(jax.random.PRNGKey(0), enc, dec))["params"]


def count_parameters(params: Any) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(nn.unbox(params)))


def bytes_per_device(params: Any, sizes: Mapping[str, int], bytes_per_element: int = 4,
                     rules: Sequence[tuple[str, Any]] = LOGICAL_RULES) -> int:
    """Largest per-device share of ``params`` under the mesh ``sizes`` (dimensions split, rounded up)."""
    specs = mesh_specs(params, rules)
    total = 0
    for leaf, spec in zip(jax.tree.leaves(nn.unbox(params)), jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, PartitionSpec))):
        elements = 1
        for dim, axes in zip(leaf.shape, tuple(spec) + (None,) * (len(leaf.shape) - len(spec))):
            names = (axes,) if isinstance(axes, str) else (axes or ())
            elements *= math.ceil(dim / math.prod(sizes.get(a, 1) for a in names))
        total += elements * bytes_per_element
    return total


def check_divisible(params: Any, sizes: Mapping[str, int], rules: Sequence[tuple[str, Any]] = LOGICAL_RULES) -> list[str]:
    """Parameters whose sharded dimensions do not divide evenly by the mesh (jit would refuse them)."""
    problems = []
    specs = mesh_specs(params, rules)
    flat = jax.tree_util.tree_flatten_with_path(nn.unbox(params))[0]
    for (path, leaf), spec in zip(flat, jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, PartitionSpec))):
        for dim, axes in zip(leaf.shape, spec):
            names = (axes,) if isinstance(axes, str) else (axes or ())
            split = math.prod(sizes.get(a, 1) for a in names)
            if dim % split:
                problems.append(f"{jax.tree_util.keystr(path)}: dimension {dim} over {split} devices")
    return problems


def model_info(config_name: str, mesh: str) -> dict[str, Any]:
    """Parameter count and per-device memory (float32 parameters, AdamW state) of a named config under a
    mesh spec, from shapes alone: what ``alphacode model-info`` prints."""
    config = get_config(config_name)
    sizes = parse_mesh(mesh)
    params = abstract_params(config)
    per_device = bytes_per_device(params, sizes, 4, rules_for(config, sizes))
    shape = ("d_model", "num_heads", "num_kv_heads", "encoder_layers", "decoder_layers", "d_ff", "vocab_size")
    return {
        "config": config.name, "shape": {k: getattr(config, k) for k in shape},
        "parameters": count_parameters(params), "paper_parameters": PAPER_PARAMETERS.get(config.name),
        "mesh": sizes, "devices": sizes["data"] * sizes["fsdp"] * sizes["tensor"],
        "param_bytes_per_device": per_device, "adamw_state_bytes_per_device": 2 * per_device,
        "total_bytes_per_device": 3 * per_device,
    }
