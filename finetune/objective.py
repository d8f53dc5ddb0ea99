"""The fine-tuning loss: the solution loss (tempering, GOLD), the value head and the encoder MLM.

Batches are the pretraining batch features plus ``correct`` ([B, 1], 1 for a correct solution).
Each term is switched by :class:`finetune.losses.FinetuneLossConfig`, so an ablation is one flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from alphacode.model.transformer import EncoderDecoder
from finetune.losses import FinetuneLossConfig, solution_loss, value_loss
from pretrain.objective import encoder_decoder_pass, masked_positions, mlm_cross_entropy

Batch = Mapping[str, Any]


def _forward(module: EncoderDecoder, batch: Batch, positions: jax.Array, deterministic: bool):
    states, mlm_logits = encoder_decoder_pass(module, batch, positions, deterministic)
    return module.vocab_logits(states), module.value(states, batch["decoder_loss_weights"]), mlm_logits


def finetune_loss(model: EncoderDecoder, params: Any, batch: Batch, rng: jax.Array | None,
                  config: FinetuneLossConfig = FinetuneLossConfig()) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean solution loss per token, plus weighted value and MLM losses; the metrics name each term."""
    rngs = {"dropout": rng} if rng is not None else {}
    positions = masked_positions(batch["encoder_loss_weights"])
    logits, value_logits, mlm_logits = model.apply({"params": params}, batch, positions, rng is None,
                                                   method=_forward, rngs=rngs)
    correct = batch["correct"].reshape(-1).astype(bool)
    sol_sum, sol_n = solution_loss(logits, batch["decoder_target_tokens"], batch["decoder_loss_weights"], correct, config)
    val_sum, val_n = value_loss(value_logits, correct)
    mlm_sum, mlm_n = mlm_cross_entropy(mlm_logits, batch, positions)
    solution = sol_sum / jnp.maximum(sol_n, 1.0)
    value = val_sum / jnp.maximum(val_n, 1.0)
    mlm = mlm_sum / jnp.maximum(mlm_n, 1.0)
    # the plain decoder likelihood at temperature 1, comparable across switches and with pretraining
    plain_sum, _ = solution_loss(logits, batch["decoder_target_tokens"], batch["decoder_loss_weights"], correct,
                                 FinetuneLossConfig(temperature=None, gold=False))
    total = solution + config.value_weight * value + config.mlm_weight * mlm
    return total, {"solution_loss": solution, "value_loss": value, "mlm_loss": mlm,
                   "decoder_loss": jax.lax.stop_gradient(plain_sum / jnp.maximum(sol_n, 1.0))}
