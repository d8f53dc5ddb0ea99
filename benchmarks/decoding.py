"""Decoding speed: KV cache with one shared encoding vs recomputing the whole prefix every step.

    .venv/bin/python benchmarks/decoding.py [--config tiny] [--samples 256] [--new-tokens 512]

(a) :class:`alphacode.decoding.Decoder`: the problem is encoded once, cross-attention keys/values
are projected once for all samples, the decoder steps with its cache inside one compiled while-loop.
(b) the naive loop: every step runs the full model (encoder included, once per sample) over the
fixed-size token buffer and reads the logits at the current position. Each (b) step has the same
shape and cost, so (b) is timed over ``--naive-steps`` steps and scaled to ``--new-tokens``; the
printout says so. Both use random weights of the chosen config (speed does not depend on them).
Runs unchanged on a GPU and prints the device.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from alphacode.decoding import Decoder, cache_bytes_per_sample
from alphacode.model import PAD_ID, get_config
from alphacode.model.transformer import EncoderDecoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--prompt-tokens", type=int, default=200)
    parser.add_argument("--naive-steps", type=int, default=4)
    args = parser.parse_args()
    device = jax.devices()[0]
    config = get_config(args.config, max_decoder_length=args.new_tokens)
    if device.platform == "cpu":
        config = config.replace(dtype="float32")
    model = EncoderDecoder(config)
    prompt = np.random.RandomState(0).randint(3, config.vocab_size, args.prompt_tokens).astype(np.int32)
    enc = np.full((1, config.max_encoder_length), PAD_ID, np.int32)
    enc[0, : len(prompt)] = prompt[: config.max_encoder_length]
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(enc), jnp.zeros((1, 8), jnp.int32))["params"]
    print(f"device: {device.platform} ({device.device_kind}); config {config.name}, activations {config.dtype}; "
          f"{args.samples} samples x {args.new_tokens} new tokens, prompt {args.prompt_tokens} tokens")

    sampler = Decoder(config, params)
    sampler.sample(prompt, args.samples, jax.random.PRNGKey(0), max_length=args.new_tokens, eos_id=-1)  # compile
    started = time.perf_counter()
    batch = sampler.sample(prompt, args.samples, jax.random.PRNGKey(1), max_length=args.new_tokens, eos_id=-1)
    cached_s = time.perf_counter() - started
    assert (batch.lengths == args.new_tokens).all()

    @jax.jit
    def naive_step(params, enc_tokens, buffer, step, rng):
        logits = model.apply({"params": params}, enc_tokens, buffer)
        current = jax.lax.dynamic_index_in_dim(logits, step, axis=1, keepdims=False)
        token = jax.random.categorical(rng, current).astype(jnp.int32)
        return jax.lax.dynamic_update_slice(buffer, token[:, None], (0, step + 1))

    enc_tiled = jnp.repeat(jnp.asarray(enc), args.samples, axis=0)
    buffer = jnp.zeros((args.samples, args.new_tokens), jnp.int32).at[:, 0].set(1)
    naive_step(params, enc_tiled, buffer, 0, jax.random.PRNGKey(0)).block_until_ready()  # compile
    started = time.perf_counter()
    for step in range(args.naive_steps):
        buffer = naive_step(params, enc_tiled, buffer, step, jax.random.PRNGKey(step))
    buffer.block_until_ready()
    naive_s = (time.perf_counter() - started) / args.naive_steps * args.new_tokens

    tokens = args.samples * args.new_tokens
    print(f"(a) KV cache, shared encoding: {args.samples / cached_s:9.2f} samples/s {tokens / cached_s:11.0f} tokens/s "
          f"({cached_s:.2f} s measured)")
    print(f"(b) full recompute per step:   {args.samples / naive_s:9.2f} samples/s {tokens / naive_s:11.0f} tokens/s "
          f"({naive_s:.1f} s, scaled from {args.naive_steps} measured steps)")
    print(f"ratio (a)/(b): {naive_s / cached_s:.1f}x")
    mha = config.replace(num_kv_heads=config.num_heads)
    mqa_bytes, mha_bytes = cache_bytes_per_sample(config, args.new_tokens), cache_bytes_per_sample(mha, args.new_tokens)
    print(f"cache per sample at {args.new_tokens} tokens: {config.num_kv_heads} kv head(s) {mqa_bytes / 2**20:.2f} MiB, "
          f"multi-head ({config.num_heads} kv heads) {mha_bytes / 2**20:.2f} MiB, ratio {mha_bytes / mqa_bytes:.0f}")
    print(f"command: .venv/bin/python benchmarks/decoding.py --config {args.config} --samples {args.samples} "
          f"--new-tokens {args.new_tokens}")


if __name__ == "__main__":
    main()
