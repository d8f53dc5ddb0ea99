"""Sampling programs from the encoder-decoder: encode once, then decode with a key/value cache.

:func:`temperature_sample` knows nothing of the model beyond a ``tokens_to_logits`` callback (the
pattern of t5x's decoding): it runs a jit-compiled ``lax.while_loop`` over fixed shapes, so nothing
recompiles between batches, and stops early once every row has emitted EOS. :class:`Decoder` binds
it to :class:`~alphacode.model.transformer.EncoderDecoder`: the problem is encoded once, each decoder
layer's cross-attention keys and values are projected once and shared by every sample in the batch,
and the decoder steps one token at a time against its cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from alphacode.model.config import BOS_ID, EOS_ID, PAD_ID, ModelConfig
from alphacode.model.transformer import EncoderDecoder

Array = jax.Array
Cache = Any
TokensToLogits = Callable[[Array, Cache], tuple[Array, Cache]]


@dataclass(frozen=True)
class SampleBatch:
    """Sampled token ids (BOS excluded, PAD after EOS), lengths up to and including EOS, and the
    log-probability of each sample under the model (temperature 1, no top-k/top-p)."""

    tokens: np.ndarray
    lengths: np.ndarray
    logprobs: np.ndarray


def _filter_logits(logits: Array, top_k: int, top_p: float) -> Array:
    neg = jnp.finfo(logits.dtype).min
    if top_k > 0:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, neg, logits)
    if top_p < 1.0:
        sorted_logits = jnp.sort(logits, axis=-1)[:, ::-1]
        cumulative = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1)
        # the smallest logit still inside the nucleus; the top token always stays
        cutoff_index = jnp.sum(cumulative < top_p, axis=-1, keepdims=True)
        cutoff = jnp.take_along_axis(sorted_logits, cutoff_index, axis=-1)
        logits = jnp.where(logits < cutoff, neg, logits)
    return logits


def _inverse_cdf_sample(key: Array, logits: Array) -> Array:
    """One categorical draw per row from a single uniform number (Gumbel-max would need one per
    vocabulary entry: 2M random numbers a step for 256 samples, the largest cost of a CPU step)."""
    probs = jax.nn.softmax(logits, axis=-1)
    cumulative = jnp.cumsum(probs, axis=-1)
    u = jax.random.uniform(key, (logits.shape[0], 1)) * cumulative[:, -1:]
    # the first token whose cumulative probability exceeds u (zero-probability tokens never are)
    return jnp.minimum(jnp.sum(cumulative <= u, axis=-1), logits.shape[-1] - 1)


def repeated_ngram_mask(tokens: Array, step: Array, n: int, vocab_size: int) -> Array:
    """[B, vocab] True where a token would complete an ``n``-gram the row has already written: its last
    ``n - 1`` tokens (up to ``step``) occurred before, and the token that followed them there is barred."""
    batch, length = tokens.shape
    starts = max(length - n + 1, 1)
    index = jnp.arange(starts)[:, None] + jnp.arange(n - 1)[None, :]
    windows = tokens[:, jnp.minimum(index, length - 1)]  # [B, starts, n - 1]
    context = jax.lax.dynamic_slice_in_dim(tokens, jnp.maximum(step - (n - 1), 0), n - 1, axis=1)
    following = jnp.arange(starts) + n - 1
    match = jnp.all(windows == context[:, None, :], axis=-1) & (following < step)[None, :] & (step >= n - 1)
    barred = tokens[:, jnp.minimum(following, length - 1)]
    return jnp.zeros((batch, vocab_size), bool).at[jnp.arange(batch)[:, None], barred].max(match)


def temperature_sample(tokens_to_logits: TokensToLogits, cache: Cache, rng: Array, *, batch_size: int,
                       max_length: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                       no_repeat_ngram: int = 0, bos_id: int = BOS_ID, eos_id: int = EOS_ID,
                       pad_id: int = PAD_ID) -> tuple[Array, Array, Array]:
    """Sample ``batch_size`` sequences of at most ``max_length`` tokens; ``temperature=0`` is greedy.
    ``no_repeat_ngram`` n > 1 never lets a row write the same n tokens twice (the guard against the loops
    a small model falls into at low temperature); 0 turns it off.

    Returns ``(tokens [B, max_length], lengths [B], logprobs [B])``. Call it under ``jax.jit``.
    """
    tokens = jnp.full((batch_size, max_length), pad_id, jnp.int32)
    done = jnp.zeros((batch_size,), bool)
    logprobs = jnp.zeros((batch_size,), jnp.float32)
    lengths = jnp.zeros((batch_size,), jnp.int32)
    current = jnp.full((batch_size,), bos_id, jnp.int32)

    def cond(state: tuple) -> Array:
        step, _, _, done, *_ = state
        return (step < max_length) & ~jnp.all(done)

    def body(state: tuple) -> tuple:
        step, current, tokens, done, logprobs, lengths, cache, rng = state
        logits, cache = tokens_to_logits(current[:, None], cache)
        logits = logits.astype(jnp.float32)
        if no_repeat_ngram > 1:
            barred = repeated_ngram_mask(tokens, step, no_repeat_ngram, logits.shape[-1])
            logits = jnp.where(barred, jnp.finfo(logits.dtype).min, logits)
        rng, key = jax.random.split(rng)
        if temperature == 0.0:
            chosen = jnp.argmax(logits, axis=-1)
        else:
            chosen = _inverse_cdf_sample(key, _filter_logits(logits / temperature, top_k, top_p))
        chosen = jnp.where(done, pad_id, chosen).astype(jnp.int32)
        token_logprob = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), chosen[:, None], axis=-1)[:, 0]
        logprobs = logprobs + jnp.where(done, 0.0, token_logprob)
        lengths = lengths + (~done).astype(jnp.int32)
        tokens = jax.lax.dynamic_update_slice(tokens, chosen[:, None], (0, step))
        done = done | (chosen == eos_id)
        return step + 1, chosen, tokens, done, logprobs, lengths, cache, rng

    state = (jnp.zeros((), jnp.int32), current, tokens, done, logprobs, lengths, cache, rng)
    _, _, tokens, _, logprobs, lengths, _, _ = jax.lax.while_loop(cond, body, state)
    return tokens, lengths, logprobs


def init_cache(model: EncoderDecoder, batch_size: int, max_length: int) -> Cache:
    """A zeroed decoder cache for ``batch_size`` rows and ``max_length`` steps (shapes by ``eval_shape``)."""
    cfg = model.config

    def make() -> Cache:
        tokens = jnp.zeros((batch_size, max_length), jnp.int32)
        kv = [(jnp.zeros((1, 1, cfg.num_kv_heads, cfg.head_dim), cfg.dtype),) * 2] * cfg.decoder_layers
        variables = model.init(jax.random.PRNGKey(0), tokens, kv, jnp.ones((1, 1), bool), decode=True,
                               method=EncoderDecoder.decode)
        return variables["cache"]

    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(make))


def cache_bytes_per_sample(config: ModelConfig, max_length: int) -> int:
    """Bytes of decoder self-attention cache one sample needs: layers x length x kv heads x head dim x (K, V)."""
    itemsize = jnp.dtype(config.dtype).itemsize
    return config.decoder_layers * max_length * config.num_kv_heads * config.head_dim * 2 * itemsize


class Decoder:
    """Draws batches of programs for one encoded problem with a fixed, compiled decode loop."""

    def __init__(self, config: ModelConfig, params: Any) -> None:
        self.config = config
        self.model = EncoderDecoder(config)
        self.params = params

    @functools.partial(jax.jit, static_argnums=(0, 3, 4, 5, 6, 7, 8, 9))
    def _sample(self, params: Any, prompt: Array, batch_size: int, max_length: int, temperature: float,
                top_k: int, top_p: float, no_repeat_ngram: int, eos_id: int, rng: Array) -> tuple[Array, Array, Array]:
        model = self.model
        variables = {"params": params}
        encoded = model.apply(variables, prompt[None], method=EncoderDecoder.encode)
        cross_kv = model.apply(variables, encoded, method=EncoderDecoder.cross_kv)
        encoder_mask = (prompt != PAD_ID)[None]

        def tokens_to_logits(token: Array, cache: Cache) -> tuple[Array, Cache]:
            logits, updated = model.apply({"params": params, "cache": cache}, token, cross_kv, encoder_mask,
                                          decode=True, method=EncoderDecoder.decode, mutable=["cache"])
            return logits[:, -1], updated["cache"]

        cache = init_cache(model, batch_size, max_length)
        return temperature_sample(tokens_to_logits, cache, rng, batch_size=batch_size, max_length=max_length,
                                  temperature=temperature, top_k=top_k, top_p=top_p, no_repeat_ngram=no_repeat_ngram,
                                  eos_id=eos_id)

    def sample(self, prompt: np.ndarray | list[int], num_samples: int, rng: Array, *, max_length: int | None = None,
               temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, no_repeat_ngram: int = 0,
               eos_id: int = EOS_ID) -> SampleBatch:
        """Sample ``num_samples`` continuations of one prompt (token ids; padded to the encoder length).

        ``eos_id=-1`` never stops early (benchmarks use it to decode exactly ``max_length`` tokens)."""
        cfg = self.config
        max_length = max_length or cfg.max_decoder_length
        prompt = np.asarray(prompt, np.int32)[: cfg.max_encoder_length]
        padded = np.full((cfg.max_encoder_length,), PAD_ID, np.int32)
        padded[: len(prompt)] = prompt
        tokens, lengths, logprobs = self._sample(self.params, jnp.asarray(padded), num_samples, max_length,
                                                 float(temperature), int(top_k), float(top_p), int(no_repeat_ngram),
                                                 int(eos_id), rng)
        return SampleBatch(np.asarray(tokens), np.asarray(lengths), np.asarray(logprobs))

    def __hash__(self) -> int:  # static argument of the jitted method: one compilation per sampler
        return id(self)
