"""The pretraining losses: next-token prediction on the decoder, masked-language modelling on the encoder.

AlphaCode splits each file at a uniformly random point; the prefix goes to the encoder (with a
fraction of its tokens masked) and the rest is the decoder's target. Batches are numpy dicts:
``encoder_input_tokens`` (masked), ``encoder_target_tokens`` (unmasked), ``encoder_loss_weights``
(1 where masked), ``decoder_input_tokens`` (BOS + shifted targets), ``decoder_target_tokens``,
``decoder_loss_weights``. This module needs no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from alphacode.model.config import MLM_POSITIONS_FRACTION
from alphacode.model.transformer import EncoderDecoder

Batch = Mapping[str, Any]


def target_log_probs(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """log p(target) per position [B, L] from logits [B, L, V], in float32. The target's logit is picked with
    a one-hot mask, not a gather: its gradient is then elementwise, with no scatter into a [B, L, V] array."""
    logits = logits.astype(jnp.float32)
    picked = jnp.arange(logits.shape[-1]) == targets[..., None]
    return jnp.sum(jnp.where(picked, logits, 0.0), axis=-1) - jax.nn.logsumexp(logits, axis=-1)


def token_cross_entropy(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Sum of weighted token negative log-likelihoods, and the sum of the weights."""
    weights = weights.astype(jnp.float32)
    return -jnp.sum(target_log_probs(logits, targets) * weights), jnp.sum(weights)


def masked_positions(weights: jax.Array, fraction: float = MLM_POSITIONS_FRACTION) -> jax.Array:
    """Indices [B, K] of up to K = fraction x length masked positions per row, masked ones first.

    The MLM logits are computed at these positions only: a vocabulary projection at every encoder
    position would cost as much as the rest of the encoder for a small model.
    """
    k = max(1, int(weights.shape[1] * fraction))
    return jax.lax.top_k(weights.astype(jnp.float32), k)[1]


def encoder_decoder_pass(module: EncoderDecoder, batch: Batch, positions: jax.Array,
                         deterministic: bool) -> tuple[jax.Array, jax.Array]:
    """Decoder states [B, L, d] and the MLM logits at ``positions`` of the encoder (call inside ``apply``)."""
    encoded = module.encode(batch["encoder_input_tokens"], deterministic)
    states = module.decoder_states(batch["decoder_input_tokens"], module.cross_kv(encoded),
                                   batch["encoder_input_tokens"] != 0, deterministic=deterministic)
    return states, module.vocab_logits(jnp.take_along_axis(encoded, positions[..., None], axis=1))


def mlm_cross_entropy(mlm_logits: jax.Array, batch: Batch, positions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The encoder's masked-token loss sum and count, at the gathered ``positions``."""
    return token_cross_entropy(mlm_logits, jnp.take_along_axis(batch["encoder_target_tokens"], positions, axis=1),
                               jnp.take_along_axis(batch["encoder_loss_weights"], positions, axis=1))


def _forward(module: EncoderDecoder, batch: Batch, positions: jax.Array, deterministic: bool) -> tuple[jax.Array, jax.Array]:
    states, mlm_logits = encoder_decoder_pass(module, batch, positions, deterministic)
    return module.vocab_logits(states), mlm_logits


def pretrain_loss(model: EncoderDecoder, params: Any, batch: Batch, rng: jax.Array | None,
                  mlm_weight: float = 1.0) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Decoder next-token loss plus ``mlm_weight`` x encoder masked-token loss (means over their tokens)."""
    rngs = {"dropout": rng} if rng is not None else {}
    positions = masked_positions(batch["encoder_loss_weights"])
    decoder_logits, mlm_logits = model.apply({"params": params}, batch, positions, rng is None, method=_forward,
                                             rngs=rngs)
    dec_sum, dec_n = token_cross_entropy(decoder_logits, batch["decoder_target_tokens"], batch["decoder_loss_weights"])
    mlm_sum, mlm_n = mlm_cross_entropy(mlm_logits, batch, positions)
    decoder_loss = dec_sum / jnp.maximum(dec_n, 1.0)
    mlm_loss = mlm_sum / jnp.maximum(mlm_n, 1.0)
    return decoder_loss + mlm_weight * mlm_loss, {"decoder_loss": decoder_loss, "mlm_loss": mlm_loss}
