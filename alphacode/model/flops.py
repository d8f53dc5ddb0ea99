"""Model FLOPs per example and device peak FLOP/s, for model-FLOPs utilization (MFU)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from alphacode.model.config import MLM_POSITIONS_FRACTION, ModelConfig

# Dense bf16 peaks (no sparsity) of accelerators we know; others are measured.
KNOWN_PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "TPU v4": 275e12, "TPU v5": 459e12}


def layer_parameters(config: ModelConfig) -> tuple[int, int]:
    """Matrix parameters per encoder layer and per decoder layer (norm scales are negligible)."""
    d, hd = config.d_model, config.head_dim
    attention = 2 * d * config.num_heads * hd + 2 * d * config.num_kv_heads * hd
    mlp = 2 * d * config.d_ff
    return attention + mlp, 2 * attention + mlp


def flops_per_example(config: ModelConfig, encoder_length: int, decoder_length: int,
                      mlm_fraction: float = MLM_POSITIONS_FRACTION) -> float:
    """Training FLOPs (forward and backward, 3x the forward) for one example, as in MFU accounting (PaLM's,
    Chowdhery et al. 2022, appendix B): 6 x matrix parameters x tokens, plus 12 x attention width x query
    length x key length per attention layer for the score and value products (the causal half included).
    ``mlm_fraction``: the share of encoder positions that get vocabulary logits (0 without an MLM loss)."""
    enc_layer, dec_layer = layer_parameters(config)
    logits = config.d_model * config.vocab_size
    matmul = encoder_length * (config.encoder_layers * enc_layer + logits * mlm_fraction)
    matmul += decoder_length * (config.decoder_layers * dec_layer + logits)
    attention = config.num_heads * config.head_dim * (config.encoder_layers * encoder_length**2 + config.decoder_layers
                                                      * (decoder_length**2 + decoder_length * encoder_length))
    return 6.0 * matmul + 12.0 * attention


def peak_flops(device: object | None = None) -> tuple[float, str]:
    """Peak FLOP/s of one device: from a table for known accelerators, else measured with a matmul."""
    device = device or jax.devices()[0]
    kind = getattr(device, "device_kind", "")
    for name, peak in KNOWN_PEAKS.items():
        if name.lower() in kind.lower():
            return peak, f"{kind} (bf16 dense peak from spec sheet)"
    return measured_matmul_flops(), f"{kind or device.platform} (measured float32 matmul)"


def measured_matmul_flops(n: int = 1024, repeats: int = 5) -> float:
    """Best observed FLOP/s of an n x n float32 matmul on the default device."""
    a = jnp.ones((n, n), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best
