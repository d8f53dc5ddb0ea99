"""The encoder-decoder: shapes, masks, cached decoding, attention variants, sizes, sampling."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphacode.data import DECODER_FEATURES, FEATURES
from alphacode.decoding import Decoder, cache_bytes_per_sample, init_cache, repeated_ngram_mask
from alphacode.errors import ConfigError
from alphacode.model import PAD_ID, get_config
from alphacode.model.config import PAPER_PARAMETERS, PRESETS
from alphacode.model.flops import flops_per_example
from alphacode.model.sharding import abstract_params, bytes_per_device, check_divisible, count_parameters, rules_for
from alphacode.model.transformer import EncoderDecoder, attend, attention_implementation, fused_attention

TINY = get_config("tiny", vocab_size=512, d_model=64, num_heads=4, head_dim=16, d_ff=128, decoder_layers=2)


@functools.partial(jax.jit, static_argnums=0, static_argnames=("method", "decode", "mutable"))
def apply(model: EncoderDecoder, variables: dict, *args: jax.Array, method=None, decode: bool = False, mutable=()):
    """``model.apply`` compiled: one compilation per shape instead of seconds of op-by-op dispatch."""
    flags = {"decode": True} if decode else {}
    return model.apply(variables, *args, method=method, mutable=list(mutable) or False, **flags)


def tokens(seed: int, shape: tuple[int, int], vocab: int = 512) -> jax.Array:
    return jnp.asarray(np.random.RandomState(seed).randint(3, vocab, shape), jnp.int32)


@pytest.fixture(scope="module")
def model_and_params():
    model = EncoderDecoder(TINY)
    return model, jax.jit(model.init)(jax.random.PRNGKey(0), tokens(0, (2, 10)), tokens(1, (2, 7)))["params"]


def test_shapes(model_and_params) -> None:
    model, params = model_and_params
    logits = apply(model, {"params": params}, tokens(2, (3, 11)), tokens(3, (3, 5)))
    assert logits.shape == (3, 5, TINY.vocab_size) and logits.dtype == jnp.float32
    encoded = apply(model, {"params": params}, tokens(2, (3, 11)), method=EncoderDecoder.encode)
    assert encoded.shape == (3, 11, TINY.d_model)


def test_decoder_is_causal(model_and_params) -> None:
    model, params = model_and_params
    enc, dec = tokens(4, (1, 9)), tokens(5, (1, 8))
    changed = dec.at[0, 5].set(7)
    a, b = apply(model, {"params": params}, enc, dec), apply(model, {"params": params}, enc, changed)
    np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-6)
    assert not np.allclose(a[:, 5:], b[:, 5:])


def test_encoder_padding_is_invisible(model_and_params) -> None:
    model, params = model_and_params
    enc, dec = tokens(6, (1, 12)), tokens(7, (1, 6))
    padded = enc.at[0, 8:].set(PAD_ID)
    other_padding = padded.at[0, 9].set(PAD_ID)  # still padding, same positions are masked
    a = apply(model, {"params": params}, padded, dec)
    encoded = apply(model, {"params": params}, padded, method=EncoderDecoder.encode)
    short = apply(model, {"params": params}, padded[:, :8], dec)  # the same problem without the padding
    np.testing.assert_allclose(a, short, atol=1e-5)
    np.testing.assert_allclose(a, apply(model, {"params": params}, other_padding, dec), atol=1e-6)
    short_encoded = apply(model, {"params": params}, padded[:, :8], method=EncoderDecoder.encode)
    np.testing.assert_allclose(encoded[:, :8], short_encoded, atol=1e-5)


@pytest.mark.parametrize("kv_heads", [1, 2, 4], ids=["mqa", "gqa", "mha"])
def test_cached_decoding_matches_full_forward(kv_heads: int) -> None:
    config = TINY.replace(num_kv_heads=kv_heads)
    model = EncoderDecoder(config)
    enc, dec = tokens(8, (2, 10)).at[1, 7:].set(PAD_ID), tokens(9, (2, 9))
    params = jax.jit(model.init)(jax.random.PRNGKey(1), enc, dec)["params"]
    full = apply(model, {"params": params}, enc, dec)
    encoded = apply(model, {"params": params}, enc, method=EncoderDecoder.encode)
    kv = apply(model, {"params": params}, encoded, method=EncoderDecoder.cross_kv)
    cache = init_cache(model, 2, dec.shape[1])
    steps = []
    for i in range(dec.shape[1]):
        logits, updated = apply(model, {"params": params, "cache": cache}, dec[:, i:i + 1], kv, enc != PAD_ID,
                                      decode=True, method=EncoderDecoder.decode, mutable=("cache",))
        cache = updated["cache"]
        steps.append(logits[:, 0])
    np.testing.assert_allclose(jnp.stack(steps, 1), full, atol=2e-5)


@pytest.mark.parametrize("kv_heads", [1, 2, 4], ids=["mqa", "gqa", "mha"])
def test_fused_attention_equals_the_einsum_path(kv_heads: int) -> None:
    rng = np.random.RandomState(kv_heads)
    q = jnp.asarray(rng.randn(3, 7, 4, 16), jnp.float32)
    k, v = (jnp.asarray(rng.randn(3, 7, kv_heads, 16), jnp.float32) for _ in range(2))
    key_mask = jnp.asarray(np.arange(7)[None, :] < np.array([[7], [4], [1]]))  # padding at the end of each row
    causal = jnp.tril(jnp.ones((7, 7), bool))[None]
    np.testing.assert_allclose(fused_attention(q, k, v, key_mask, causal=False, implementation="xla"),
                               attend(q, k, v, key_mask[:, None, :]), atol=1e-6)
    np.testing.assert_allclose(fused_attention(q, k, v, None, causal=True, implementation="xla"),
                               attend(q, k, v, causal), atol=1e-6)


def test_cudnn_attention_is_asked_for_and_falls_back_where_it_cannot_run() -> None:
    with pytest.raises(ConfigError, match="attention must be one of xla, cudnn"):
        TINY.replace(attention="flash")
    assert attention_implementation(TINY.replace(attention="cudnn", dtype="bfloat16")) == (
        "cudnn" if jax.default_backend() == "gpu" else "xla")
    assert attention_implementation(TINY.replace(attention="cudnn", dtype="float32")) == "xla"


def test_shared_encoding_matches_per_sample_encoding(model_and_params) -> None:
    model, params = model_and_params
    enc, dec = tokens(10, (1, 10)), tokens(11, (4, 6))
    per_sample = apply(model, {"params": params}, jnp.repeat(enc, 4, axis=0), dec)
    encoded = apply(model, {"params": params}, enc, method=EncoderDecoder.encode)
    kv = apply(model, {"params": params}, encoded, method=EncoderDecoder.cross_kv)  # batch 1, shared
    shared = apply(model, {"params": params}, dec, kv, enc != PAD_ID, method=EncoderDecoder.decode)
    np.testing.assert_allclose(shared, per_sample, atol=1e-5)


def test_greedy_is_deterministic_and_sampling_reproducible(model_and_params) -> None:
    _, params = model_and_params
    sampler = Decoder(TINY, params)
    prompt = [5, 6, 7, 8]
    greedy = [sampler.sample(prompt, 3, jax.random.PRNGKey(s), max_length=12, temperature=0.0) for s in (0, 1)]
    np.testing.assert_array_equal(greedy[0].tokens, greedy[1].tokens)
    assert (greedy[0].tokens == greedy[0].tokens[0]).all()  # every row the same
    a, b = (sampler.sample(prompt, 5, jax.random.PRNGKey(3), max_length=12) for _ in range(2))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_allclose(a.logprobs, b.logprobs)
    c = sampler.sample(prompt, 5, jax.random.PRNGKey(4), max_length=12)
    assert not np.array_equal(a.tokens, c.tokens)
    assert (a.logprobs < 0).all() and (a.lengths == 12).all()


def test_the_repetition_guard_bars_exactly_the_tokens_that_would_repeat_an_ngram(model_and_params) -> None:
    tokens = jnp.array([[5, 6, 7, 5, 6, 9, 5, 6], [1, 2, 3, 4, 5, 6, 7, 8]])
    # row 0 ends in (5, 6), which was followed by 7 and by 9; row 1 repeats nothing
    mask = np.asarray(repeated_ngram_mask(tokens, jnp.array(8), 3, 12))
    assert np.flatnonzero(mask[0]).tolist() == [7, 9] and not mask[1].any()
    early = np.asarray(repeated_ngram_mask(tokens, jnp.array(5), 3, 12))  # only 5 tokens written: (5, 6) -> 7
    assert np.flatnonzero(early[0]).tolist() == [7]
    _, params = model_and_params
    sampler = Decoder(TINY, params)
    plain = sampler.sample([5, 6, 7, 8], 4, jax.random.PRNGKey(0), max_length=48, temperature=0.0, eos_id=-1)
    guarded = sampler.sample([5, 6, 7, 8], 4, jax.random.PRNGKey(0), max_length=48, temperature=0.0, eos_id=-1,
                             no_repeat_ngram=4)

    def repeats(row: np.ndarray) -> int:
        grams = [tuple(row[i:i + 4]) for i in range(len(row) - 3)]
        return len(grams) - len(set(grams))

    assert repeats(plain.tokens[0]) > 0  # a random model loops at temperature 0
    assert all(repeats(row) == 0 for row in guarded.tokens)


def test_eos_stops_rows_and_logprob_is_the_models(model_and_params) -> None:
    model, params = model_and_params
    sampler = Decoder(TINY, params)
    batch = sampler.sample([9, 10, 11], 16, jax.random.PRNGKey(0), max_length=40, temperature=1.0, top_k=3)
    # recompute each sample's log-probability with a full forward pass
    enc = jnp.zeros((1, TINY.max_encoder_length), jnp.int32).at[0, :3].set(jnp.array([9, 10, 11]))
    dec_in = jnp.concatenate([jnp.ones((16, 1), jnp.int32), jnp.asarray(batch.tokens[:, :-1])], axis=1)
    logp = jax.nn.log_softmax(apply(model, {"params": params}, jnp.repeat(enc, 16, 0), dec_in), axis=-1)
    picked = jnp.take_along_axis(logp, jnp.asarray(batch.tokens)[..., None], axis=-1)[..., 0]
    valid = np.arange(40)[None, :] < batch.lengths[:, None]
    np.testing.assert_allclose(np.where(valid, picked, 0).sum(1), batch.logprobs, rtol=1e-4, atol=1e-3)
    after_end = ~valid
    assert (batch.tokens[after_end] == PAD_ID).all()


def test_top_k_one_is_greedy(model_and_params) -> None:
    _, params = model_and_params
    sampler = Decoder(TINY, params)
    greedy = sampler.sample([4, 5], 2, jax.random.PRNGKey(0), max_length=10, temperature=0.0)
    top1 = sampler.sample([4, 5], 2, jax.random.PRNGKey(7), max_length=10, temperature=0.7, top_k=1)
    np.testing.assert_array_equal(greedy.tokens, top1.tokens)


def test_mfu_counts_the_flops_xla_counts() -> None:
    """The MFU numerator against XLA's own count of the compiled training step (which adds the few
    elementwise FLOPs: norms, softmax, the optimizer-free gradient's sums)."""
    from pretrain.objective import pretrain_loss
    config, (enc, dec) = PRESETS["tiny"], (128, 512)
    model = EncoderDecoder(config)
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), tokens(0, (1, 8)), tokens(1, (1, 8)))["params"])
    batch = {name: jax.ShapeDtypeStruct((2, dec if name in DECODER_FEATURES else enc), jnp.int32) for name in FEATURES}
    step = jax.jit(jax.grad(lambda p, b: pretrain_loss(model, p, b, None)[0]))
    cost = step.lower(params, batch).compile().cost_analysis()
    xla = (cost[0] if isinstance(cost, list) else cost)["flops"]
    assert 1.0 <= xla / (2 * flops_per_example(config, enc, dec)) < 1.05


@pytest.mark.parametrize("name", sorted(PAPER_PARAMETERS))
def test_paper_sizes_within_five_percent(name: str) -> None:
    count = count_parameters(abstract_params(PRESETS[name]))
    assert abs(count / PAPER_PARAMETERS[name] - 1) < 0.05, count


def test_small_is_default_checkpoint_sized() -> None:
    assert 5e6 <= count_parameters(abstract_params(PRESETS["small"])) <= 20e6


def test_bytes_per_device_and_mqa_cache() -> None:
    params = abstract_params(PRESETS["41b"])
    mesh = {"data": 64, "fsdp": 8, "tensor": 4}
    rules = rules_for(PRESETS["41b"], mesh)
    assert check_divisible(params, mesh, rules) == []
    per_device = bytes_per_device(params, mesh, rules=rules)
    total = count_parameters(params) * 4
    assert total / 32 <= per_device <= total / 32 * 1.05  # split 32 ways (fsdp x tensor), replicated over data
    odd_heads = PRESETS["300m"]  # 6 heads cannot split 4 ways: replicated instead of failing
    assert check_divisible(abstract_params(odd_heads), mesh, rules_for(odd_heads, mesh)) == []
    mqa, mha = PRESETS["small"], PRESETS["small"].replace(num_kv_heads=PRESETS["small"].num_heads)
    assert cache_bytes_per_sample(mha, 512) == mqa.num_heads * cache_bytes_per_sample(mqa, 512)
