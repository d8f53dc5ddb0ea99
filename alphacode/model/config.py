"""Model configurations: named presets from ``tiny`` (CPU, minutes) to AlphaCode's 41B.

The five AlphaCode sizes follow the paper's model table (Li et al., 2022, Table 3): d_model, query
and key/value heads, encoder and decoder layers; head size 128 and a feed-forward width of
6 x d_model, which reproduces the paper's parameter counts (284M, 1.1B, 2.8B, 8.7B, 41.1B) within
a few percent with its 8k vocabulary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from alphacode.errors import ConfigError

PAD_ID = 0
BOS_ID = 1
EOS_ID = 2
UNK_ID = 3
# The tokenizer falls back to bytes, so UNK never occurs in real text: it doubles as the MLM mask.
MASK_ID = UNK_ID
MLM_RATE = 0.15  # the share of encoder tokens masked for the MLM loss
MLM_POSITIONS_FRACTION = 0.25  # encoder positions that get vocabulary logits: room for the 15% masked
ATTENTION_IMPLEMENTATIONS = ("xla", "cudnn")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelConfig:
    """Shape and numerics of the encoder-decoder. ``num_kv_heads``: 1 = MQA, = num_heads = MHA."""

    name: str = "custom"
    vocab_size: int = 8000
    d_model: int = 128
    num_heads: int = 4
    num_kv_heads: int = 1
    head_dim: int = 32
    d_ff: int = 768
    encoder_layers: int = 2
    decoder_layers: int = 4
    max_encoder_length: int = 256
    max_decoder_length: int = 512
    dropout_rate: float = 0.0
    tie_embeddings: bool = True
    dtype: str = "float32"  # activations; "bfloat16" for accelerators
    param_dtype: str = "float32"
    rope_base: float = 10000.0
    remat: bool = False
    attention: str = "xla"  # training attention: "xla", or "cudnn" (fused, on NVIDIA GPUs in 16 bits; else xla)

    def __post_init__(self) -> None:
        sizes = ("vocab_size", "d_model", "num_heads", "num_kv_heads", "head_dim", "d_ff", "encoder_layers",
                 "decoder_layers", "max_encoder_length", "max_decoder_length")
        small = [f"{name}={getattr(self, name)}" for name in sizes if getattr(self, name) < 1]
        if small:
            raise ConfigError(f"model sizes must be at least 1, got {', '.join(small)}")
        if not 0 <= self.dropout_rate < 1:
            raise ConfigError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})")
        if self.head_dim % 2:
            raise ConfigError("head_dim must be even for rotary position embeddings")
        wrong = [f"{name}={getattr(self, name)!r}" for name in ("dtype", "param_dtype")
                 if getattr(self, name) not in DTYPES]
        if wrong:
            raise ConfigError(f"{', '.join(wrong)}: expected one of {', '.join(DTYPES)}")
        if not self.rope_base > 1:
            raise ConfigError(f"rope_base must be above 1, got {self.rope_base}")
        if self.attention not in ATTENTION_IMPLEMENTATIONS:
            raise ConfigError(f"attention must be one of {', '.join(ATTENTION_IMPLEMENTATIONS)}, "
                              f"got {self.attention!r}")

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def shape(self) -> dict[str, Any]:
        """The fields that fix the parameters' shapes: a model can start from the weights of another of equal shape."""
        return {name: getattr(self, name) for name in SHAPE_FIELDS}


SHAPE_FIELDS = ("vocab_size", "d_model", "num_heads", "num_kv_heads", "head_dim", "d_ff", "encoder_layers",
                "decoder_layers", "tie_embeddings")


def _alphacode(name: str, d_model: int, heads: int, kv_heads: int, enc: int, dec: int) -> ModelConfig:
    return ModelConfig(name=name, d_model=d_model, num_heads=heads, num_kv_heads=kv_heads, head_dim=128,
                       d_ff=6 * d_model, encoder_layers=enc, decoder_layers=dec, max_encoder_length=1536,
                       max_decoder_length=768, dtype="bfloat16", tie_embeddings=True)


PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(name="tiny", d_model=128, num_heads=4, num_kv_heads=1, head_dim=32, d_ff=768,
                        encoder_layers=2, decoder_layers=4, max_encoder_length=256, max_decoder_length=512),
    "small": ModelConfig(name="small", d_model=256, num_heads=4, num_kv_heads=1, head_dim=64, d_ff=1536,
                         encoder_layers=3, decoder_layers=9, max_encoder_length=512, max_decoder_length=512),
    # at most 25M parameters (the size the bundled model may have), wide and shallow to fill an accelerator
    "base": ModelConfig(name="base", d_model=512, num_heads=8, num_kv_heads=1, head_dim=64, d_ff=2048,
                        encoder_layers=2, decoder_layers=4, max_encoder_length=512, max_decoder_length=768),
    "300m": _alphacode("300m", 768, 6, 1, 4, 24),
    "1b": _alphacode("1b", 1408, 11, 1, 5, 30),
    "3b": _alphacode("3b", 2048, 16, 1, 6, 36),
    "9b": _alphacode("9b", 3072, 24, 4, 8, 48),
    "41b": _alphacode("41b", 6144, 48, 16, 8, 56),
}
PAPER_PARAMETERS = {"300m": 284e6, "1b": 1.1e9, "3b": 2.8e9, "9b": 8.7e9, "41b": 41.1e9}


def get_config(name: str, **overrides: Any) -> ModelConfig:
    """A preset by name, with fields overridden (e.g. ``get_config("tiny", num_kv_heads=4)``)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model config {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
