"""Fine-tuning losses: tempering, GOLD and value prediction, each switchable on its own.

* Tempering (AlphaCode, Li et al. 2022, section 4.3 "Fine-tuning", tempering): training logits are
  divided by T = 0.2, which sharpens the model's distribution; sampling later divides by its own,
  separately tuned temperature.
* GOLD (same section; Pang & He 2021, "Text Generation by Learning from Demonstrations"): an
  off-policy objective that scales each target token's log-likelihood gradient by the model's own
  probability of that token, held constant (stop-gradient): the gradient is
  -sum_t w_t * grad log p(y_t) with w_t = stopgrad(max(p(y_t)^alpha, beta)); AlphaCode stabilises it
  with alpha = 1/2 and beta = 0.05. It applies to correct solutions only; incorrect ones keep plain
  likelihood under their INCORRECT SOLUTION header (value conditioning).
* Value prediction: an auxiliary binary classifier of whether the solution is correct, trained with
  logistic loss and used only in training.

All functions take float32 logits and return sums plus the count they are normalised by, so that
callers can average over any batch split.
"""

from __future__ import annotations

from dataclasses import dataclass

from alphacode.lazy import lazy_import

jax = lazy_import("jax")  # the loss settings are read by experiment files, which must load without JAX
jnp = lazy_import("jax.numpy")
objective = lazy_import("pretrain.objective")

GOLD_ALPHA = 0.5
GOLD_BETA = 0.05
TRAIN_TEMPERATURE = 0.2


@dataclass(frozen=True)
class FinetuneLossConfig:
    """Which terms are on. ``temperature=None`` turns tempering off; ``value_weight=0`` the value head."""

    temperature: float | None = TRAIN_TEMPERATURE
    gold: bool = True
    gold_alpha: float = GOLD_ALPHA
    gold_beta: float = GOLD_BETA
    value_weight: float = 0.1
    mlm_weight: float = 1.0


def target_log_probs(logits: jax.Array, targets: jax.Array, temperature: float | None = None) -> jax.Array:
    """log p(target) per token [B, L], from logits [B, L, V] divided by ``temperature`` when given."""
    logits = logits.astype(jnp.float32)
    return objective.target_log_probs(logits if temperature is None else logits / temperature, targets)


def gold_weights(log_probs: jax.Array, alpha: float = GOLD_ALPHA, beta: float = GOLD_BETA) -> jax.Array:
    """max(p^alpha, beta) per token, with no gradient flowing through it."""
    return jax.lax.stop_gradient(jnp.maximum(jnp.exp(alpha * log_probs), beta))


def solution_loss(logits: jax.Array, targets: jax.Array, weights: jax.Array, correct: jax.Array,
                  config: FinetuneLossConfig = FinetuneLossConfig()) -> tuple[jax.Array, jax.Array]:
    """Sum over target tokens of the (tempered, GOLD-weighted for correct rows) negative
    log-likelihood, and the number of target tokens. ``correct``: [B] booleans."""
    logp = target_log_probs(logits, targets, config.temperature)
    token_weights = weights.astype(jnp.float32)
    if config.gold:
        scale = jnp.where(correct[:, None], gold_weights(logp, config.gold_alpha, config.gold_beta), 1.0)
        token_weights = token_weights * scale
    return -jnp.sum(token_weights * logp), jnp.sum(weights.astype(jnp.float32))


def value_loss(value_logits: jax.Array, correct: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Summed logistic loss of predicting ``correct`` from ``value_logits`` [B], and the count B."""
    labels = correct.astype(jnp.float32)
    losses = jnp.maximum(value_logits, 0) - value_logits * labels + jnp.log1p(jnp.exp(-jnp.abs(value_logits)))
    return jnp.sum(losses), jnp.asarray(labels.shape[0], jnp.float32)
