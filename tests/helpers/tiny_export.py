"""A model export small enough for end-to-end tests: a 512-token tokenizer and a randomly initialised
one-layer model (its programs are noise; the tests check the plumbing, not the model)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_tiny_export(workdir: Path, max_decoder_length: int = 24) -> Path:
    """Build the tokenizer from the bundled examples, initialise the model, export it; returns its directory."""
    import jax
    import numpy as np
    from flax import linen as nn

    from alphacode.model import get_config
    from alphacode.model.export import export_model
    from alphacode.model.transformer import EncoderDecoder
    from alphacode.tokenizer import train_tokenizer
    from pretrain.corpus import build_corpus

    build_corpus([ROOT / "examples"], workdir / "corpus")
    train_tokenizer(workdir / "corpus", workdir / "tok", vocab_size=512)
    config = get_config("tiny", vocab_size=512, d_model=32, num_heads=2, num_kv_heads=1, head_dim=16, d_ff=64,
                        encoder_layers=1, decoder_layers=1, max_encoder_length=128,
                        max_decoder_length=max_decoder_length)
    tokens = np.zeros((1, 8), np.int32)
    params = nn.unbox(EncoderDecoder(config).init(jax.random.PRNGKey(0), tokens, tokens)["params"])
    return export_model(config, params, workdir / "tok.model", workdir / "model", weights="float32")
