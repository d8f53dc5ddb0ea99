"""AlphaCode's encoder-decoder transformer in Flax.

A shallow encoder reads the problem; a deep decoder writes the program, attending to itself
(causally) and to the encoder. Attention has ``num_kv_heads`` shared key/value heads: 1 is
multi-query attention (AlphaCode's choice: the sampling cache shrinks by the number of heads),
``num_heads`` is ordinary multi-head attention, anything between is grouped-query attention.
Blocks are pre-norm (RMSNorm). Positions are rotary embeddings (RoPE) in self-attention: relative,
with no learned table that fixes a maximum length, and they need nothing special in the key/value
cache (a key is rotated once, when it is written). Cross-attention carries no positions of its own.

Every parameter carries logical axis names (``vocab``, ``embed``, ``heads``, ``kv_heads``,
``head_dim``, ``mlp``) and the main activations are constrained with ``batch``, ``length``,
``act_*`` names; :mod:`alphacode.model.sharding` maps them onto a device mesh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from alphacode.model.config import PAD_ID, ModelConfig

Array = jax.Array
KV = tuple[Array, Array]


def _init(axes: tuple[str, ...], scale: float = 1.0) -> nn.initializers.Initializer:
    return nn.with_logical_partitioning(nn.initializers.variance_scaling(scale, "fan_in", "truncated_normal"), axes)


class RMSNorm(nn.Module):
    """Root-mean-square layer norm, computed in float32."""

    config: ModelConfig
    eps: float = 1e-6

    @nn.compact
    def __call__(self, x: Array) -> Array:
        scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                           (x.shape[-1],), jnp.dtype(self.config.param_dtype))
        x32 = x.astype(jnp.float32)
        y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (y * scale).astype(self.config.dtype)


def rotary(x: Array, positions: Array, base: float) -> Array:
    """Rotate pairs of features by position-dependent angles. ``x``: [B, L, H, D]; ``positions``: [B or 1, L]."""
    half = x.shape[-1] // 2
    freq = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angles = positions.astype(jnp.float32)[..., None] * freq  # [B, L, half]
    sin, cos = jnp.sin(angles)[:, :, None, :], jnp.cos(angles)[:, :, None, :]
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def attend(q: Array, k: Array, v: Array, mask: Array | None) -> Array:
    """Grouped attention, as sampling needs it. ``q``: [B, Lq, H, D]; ``k``, ``v``: [B or 1, Lk, KV, D];
    ``mask``: [B or 1, Lq or 1, Lk]. Keys and values with batch 1 are shared by every query row (one
    encoding for all samples)."""
    b, lq, h, d = q.shape
    kv_heads = k.shape[2]
    q = q.reshape(b, lq, kv_heads, h // kv_heads, d) / math.sqrt(d)
    if k.shape[0] == 1 and b > 1:
        logits = jnp.einsum("bqkgd,skd->bkgqs", q, k[0])
    else:
        logits = jnp.einsum("bqkgd,bskd->bkgqs", q, k)
    logits = logits.astype(jnp.float32)
    if mask is not None:
        logits = jnp.where(mask[:, None, None, :, :], logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    if v.shape[0] == 1 and b > 1:
        out = jnp.einsum("bkgqs,skd->bqkgd", weights, v[0])
    else:
        out = jnp.einsum("bkgqs,bskd->bqkgd", weights, v)
    return out.reshape(b, lq, h, d)


def attention_implementation(config: ModelConfig) -> str:
    """How training-time attention runs: ``cudnn`` (fused flash attention) where the config asks for it and it
    can run (an NVIDIA GPU, 16-bit activations), else ``xla``, so a model trained with cuDNN runs on a CPU too."""
    nvidia = jax.default_backend() == "gpu" and "nvidia" in jax.devices()[0].device_kind.lower()
    return "cudnn" if config.attention == "cudnn" and nvidia and config.dtype in ("bfloat16", "float16") else "xla"


def fused_attention(q: Array, k: Array, v: Array, key_mask: Array | None, *, causal: bool,
                    implementation: str) -> Array:
    """Training-time attention through :func:`jax.nn.dot_product_attention`. ``q``: [B, Lq, H, D]; ``k``, ``v``:
    [B, Lk, KV, D]; ``key_mask``: [B, Lk], True at real keys, which come before any padding in a row.
    ``cudnn`` (flash attention) never materializes the [B, H, Lq, Lk] logits; it takes padding as lengths (a row
    with no real key attends to its first, where XLA spreads it evenly: an empty prompt either way)."""
    if implementation == "cudnn":
        lengths = None if key_mask is None else jnp.maximum(jnp.sum(key_mask, axis=-1, dtype=jnp.int32), 1)
        return jax.nn.dot_product_attention(q, k, v, is_causal=causal, key_value_seq_lengths=lengths,
                                            implementation="cudnn")
    mask = None if key_mask is None else key_mask[:, None, None, :]
    return jax.nn.dot_product_attention(q, k, v, mask=mask, is_causal=causal, implementation="xla")


class KVCache(nn.Module):
    """The decoder's self-attention cache. The first call (at init) only sizes it from a full-length
    input; every later call takes one step: rotate the new query and key by the step's position,
    write key and value at the cache index, and return everything written so far with its mask."""

    config: ModelConfig

    @nn.compact
    def __call__(self, q: Array, k: Array, v: Array) -> tuple[Array, Array, Array, Array | None]:
        base = self.config.rope_base
        initialized = self.has_variable("cache", "index")
        cached_k = self.variable("cache", "key", jnp.zeros, k.shape, k.dtype)
        cached_v = self.variable("cache", "value", jnp.zeros, v.shape, v.dtype)
        index = self.variable("cache", "index", lambda: jnp.zeros((), jnp.int32))
        if not initialized:
            positions = jnp.arange(k.shape[1])[None, :]
            return rotary(q, positions, base), rotary(k, positions, base), v, None
        i = index.value
        positions = jnp.full((1, k.shape[1]), i)
        q, k = rotary(q, positions, base), rotary(k, positions, base)
        cached_k.value = jax.lax.dynamic_update_slice(cached_k.value, k.astype(cached_k.value.dtype), (0, i, 0, 0))
        cached_v.value = jax.lax.dynamic_update_slice(cached_v.value, v.astype(cached_v.value.dtype), (0, i, 0, 0))
        index.value = i + k.shape[1]
        mask = (jnp.arange(cached_k.value.shape[1]) < index.value)[None, None, :]
        return q, cached_k.value, cached_v.value, mask


class Attention(nn.Module):
    """Self- or cross-attention with ``num_kv_heads`` key/value heads and an optional decoding cache."""

    config: ModelConfig
    self_attention: bool = True

    def setup(self) -> None:
        cfg = self.config
        dense = dict(dtype=cfg.dtype, param_dtype=cfg.param_dtype, use_bias=False)
        self.query = nn.DenseGeneral((cfg.num_heads, cfg.head_dim), kernel_init=_init(("embed", "heads", "head_dim")), **dense)
        self.key = nn.DenseGeneral((cfg.num_kv_heads, cfg.head_dim), kernel_init=_init(("embed", "kv_heads", "head_dim")), **dense)
        self.value = nn.DenseGeneral((cfg.num_kv_heads, cfg.head_dim), kernel_init=_init(("embed", "kv_heads", "head_dim")), **dense)
        self.out = nn.DenseGeneral(cfg.d_model, axis=(-2, -1), kernel_init=_init(("heads", "head_dim", "embed")), **dense)
        if self.self_attention:
            self.cache = KVCache(cfg)

    def project_kv(self, x: Array) -> KV:
        """Keys and values of ``x`` (for cross-attention: the encoder states, without positions)."""
        constraint = ("batch", "length", "act_kv_heads", "head_dim")
        return (nn.with_logical_constraint(self.key(x), constraint),
                nn.with_logical_constraint(self.value(x), constraint))

    def __call__(self, x: Array, key_mask: Array | None, *, kv: KV | None = None, decode: bool = False,
                 causal: bool = False) -> Array:
        """``key_mask``: [B or 1, Lk], True at the keys a query may see (None: all); ``causal``: each
        position sees only itself and earlier ones. With ``decode=True`` self-attention steps its cache."""
        q = self.query(x)
        mask = None if key_mask is None else key_mask[:, None, :]
        if self.self_attention:
            k, v = self.project_kv(x)
            if decode:
                q, k, v, mask = self.cache(q, k, v)
            else:
                positions = jnp.arange(x.shape[1])[None, :]
                q, k = rotary(q, positions, self.config.rope_base), rotary(k, positions, self.config.rope_base)
        else:
            assert kv is not None, "cross-attention needs the encoder's keys and values"
            k, v = kv
        q = nn.with_logical_constraint(q, ("batch", "length", "act_heads", "head_dim"))
        if decode or k.shape[0] != q.shape[0]:  # a cache or keys shared by every sample: sampling's einsum path
            out = attend(q, k, v, mask)
        else:
            implementation = attention_implementation(self.config)
            out = fused_attention(q, k, v, key_mask, causal=causal, implementation=implementation)
        return nn.with_logical_constraint(self.out(out), ("batch", "length", "act_embed"))


class MLP(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x: Array) -> Array:
        cfg = self.config
        dense = dict(dtype=cfg.dtype, param_dtype=cfg.param_dtype, use_bias=False)
        h = nn.Dense(cfg.d_ff, kernel_init=_init(("embed", "mlp")), name="wi", **dense)(x)
        h = nn.with_logical_constraint(nn.gelu(h), ("batch", "length", "act_mlp"))
        return nn.Dense(cfg.d_model, kernel_init=_init(("mlp", "embed")), name="wo", **dense)(h)


class EncoderLayer(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x: Array, key_mask: Array, deterministic: bool = True) -> Array:
        drop = nn.Dropout(self.config.dropout_rate, deterministic=deterministic)
        x = x + drop(Attention(self.config, name="attention")(RMSNorm(self.config, name="attention_norm")(x), key_mask))
        x = x + drop(MLP(self.config, name="mlp")(RMSNorm(self.config, name="mlp_norm")(x)))
        return nn.with_logical_constraint(x, ("batch", "length", "act_embed"))


class DecoderLayer(nn.Module):
    config: ModelConfig

    def setup(self) -> None:
        cfg = self.config
        self.self_attention = Attention(cfg)
        self.cross_attention = Attention(cfg, self_attention=False)
        self.mlp = MLP(cfg)
        self.self_norm, self.cross_norm, self.mlp_norm = RMSNorm(cfg), RMSNorm(cfg), RMSNorm(cfg)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def cross_kv(self, encoded: Array) -> KV:
        return self.cross_attention.project_kv(encoded)

    def __call__(self, x: Array, cross_kv: KV, encoder_mask: Array, *, decode: bool = False,
                 deterministic: bool = True) -> Array:
        drop = lambda y: self.dropout(y, deterministic=deterministic)  # noqa: E731
        x = x + drop(self.self_attention(self.self_norm(x), None, decode=decode, causal=True))
        x = x + drop(self.cross_attention(self.cross_norm(x), encoder_mask, kv=cross_kv, decode=decode))
        x = x + drop(self.mlp(self.mlp_norm(x)))
        return nn.with_logical_constraint(x, ("batch", "length", "act_embed"))


class EncoderDecoder(nn.Module):
    """The whole model. ``__call__`` is the training forward pass; ``encode``, ``cross_kv`` and
    ``decode`` are the pieces sampling uses (encode once, project the encoder keys/values once,
    then step the decoder with its cache)."""

    config: ModelConfig

    def setup(self) -> None:
        cfg = self.config
        encoder_layer, decoder_layer = (nn.remat(EncoderLayer), nn.remat(DecoderLayer)) if cfg.remat else (EncoderLayer, DecoderLayer)
        self.embedding = nn.Embed(
            cfg.vocab_size, cfg.d_model, dtype=cfg.dtype, param_dtype=cfg.param_dtype,
            embedding_init=nn.with_logical_partitioning(nn.initializers.normal(1.0), ("vocab", "embed")))
        self.encoder_layers = [encoder_layer(cfg, name=f"encoder_{i}") for i in range(cfg.encoder_layers)]
        self.encoder_norm = RMSNorm(cfg)
        self.decoder_layers = [decoder_layer(cfg, name=f"decoder_{i}") for i in range(cfg.decoder_layers)]
        self.decoder_norm = RMSNorm(cfg)
        if not cfg.tie_embeddings:
            self.lm_head = nn.Dense(cfg.vocab_size, use_bias=False, dtype=cfg.dtype, param_dtype=cfg.param_dtype,
                                    kernel_init=_init(("embed", "vocab")))
        # The value-prediction head (fine-tuning only): declared here so every init creates it.
        self.value_kernel = self.param("value_kernel", nn.with_logical_partitioning(nn.initializers.zeros, ("embed",)),
                                       (cfg.d_model,), jnp.dtype(cfg.param_dtype))
        self.value_bias = self.param("value_bias", nn.with_logical_partitioning(nn.initializers.zeros, ()), (),
                                     jnp.dtype(cfg.param_dtype))

    def _logits(self, x: Array) -> Array:
        if self.config.tie_embeddings:
            logits = self.embedding.attend(x) / math.sqrt(self.config.d_model)
        else:
            logits = self.lm_head(x)
        return nn.with_logical_constraint(logits.astype(jnp.float32), ("batch", "length", "act_vocab"))

    def encode(self, tokens: Array, deterministic: bool = True) -> Array:
        """Encoder states [B, S, d] of the problem tokens (``PAD_ID`` marks padding, at the end of a row)."""
        mask = tokens != PAD_ID
        x = nn.with_logical_constraint(self.embedding(tokens), ("batch", "length", "act_embed"))
        for layer in self.encoder_layers:
            x = layer(x, mask, deterministic)
        return self.encoder_norm(x)

    def vocab_logits(self, states: Array) -> Array:
        """Vocabulary logits of encoder or decoder states (the MLM loss, the value-head pass)."""
        return self._logits(states)

    def cross_kv(self, encoded: Array) -> list[KV]:
        """Each decoder layer's cross-attention keys and values, computed once per encoding."""
        return [layer.cross_kv(encoded) for layer in self.decoder_layers]

    def decoder_states(self, tokens: Array, cross_kv: Sequence[KV], encoder_mask: Array, *, decode: bool = False,
                       deterministic: bool = True) -> Array:
        """Final (normalised) decoder states [B, L, d]. With ``decode=True`` each call appends to the cache."""
        x = nn.with_logical_constraint(self.embedding(tokens), ("batch", "length", "act_embed"))
        for layer, kv in zip(self.decoder_layers, cross_kv):
            x = layer(x, kv, encoder_mask, decode=decode, deterministic=deterministic)
        return self.decoder_norm(x)

    def decode(self, tokens: Array, cross_kv: Sequence[KV], encoder_mask: Array, *, decode: bool = False,
               deterministic: bool = True) -> Array:
        """Decoder logits [B, L, vocab] (float32). With ``decode=True`` each call appends to the cache."""
        return self._logits(self.decoder_states(tokens, cross_kv, encoder_mask, decode=decode, deterministic=deterministic))

    def value(self, states: Array, weights: Array) -> Array:
        """Value-prediction logit [B] (is the solution correct?) from the mean of the decoder states
        over the solution's tokens (``weights``), as AlphaCode's auxiliary value head."""
        w = weights.astype(jnp.float32)[..., None]
        pooled = jnp.sum(states.astype(jnp.float32) * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)
        return pooled @ self.value_kernel.astype(jnp.float32) + self.value_bias

    def __call__(self, encoder_tokens: Array, decoder_inputs: Array, deterministic: bool = True) -> Array:
        encoded = self.encode(encoder_tokens, deterministic)
        return self.decode(decoder_inputs, self.cross_kv(encoded), encoder_tokens != PAD_ID, deterministic=deterministic)
