"""rope_jax.nn.stages: each stage against a float64 NumPy reference, and every stage in every cache under nnx.jit.

The parity of whole Hugging Face layers is tests/test_hf_attention.py; here each piece is pinned on its own: the
norms (RMS / LayerNorm, per head / over the projection, shared / per-head / no weights, bias), clip, the query
temperature, the attend step with a logit softcap and sink logits (and its refusals), and a layer holding all of
them decoding token by token through the plain, ring, sink and unrotated caches exactly as its full forward.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import rope_jax
from rope_jax import MaskSpec
from rope_jax.nn import ClipQKV, HeadNorm, QKNorm, QueryTemperature, RoPEAttention, dot_product_attention

RNG = np.random.default_rng(7)
D, N, K, H = 32, 4, 2, 8


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------------------------------------ norms


@pytest.mark.parametrize("kind", ["rms", "layer"])
@pytest.mark.parametrize(("over", "weights"), [("head", "shared"), ("head", "per_head"), ("projection", "per_head"),
                                              ("head", None), ("projection", None)])  # fmt: skip
def test_head_norm_matches_float64(kind, over, weights):
    x = randn(2, 5, N, H) * 3 + 1
    norm = HeadNorm(N, H, kind=kind, over=over, weights=weights, use_bias=weights is not None, epsilon=1e-3,
                    rngs=nnx.Rngs(0))  # fmt: skip
    shape = (H,) if weights == "shared" else (N, H)
    scale, bias = randn(*shape), randn(*shape)
    if weights is not None:
        norm.scale[...], norm.bias[...] = scale, bias
    axes = (-1,) if over == "head" else (-2, -1)
    y = x.astype(np.float64)
    if kind == "layer":
        y = y - y.mean(axis=axes, keepdims=True)
    y = y / np.sqrt((y**2).mean(axis=axes, keepdims=True) + 1e-3)
    if weights is not None:
        y = y * scale + bias
    np.testing.assert_allclose(np.asarray(norm(jnp.asarray(x))), y, rtol=2e-6, atol=2e-6)


def test_head_norm_checks():
    with pytest.raises(ValueError, match="kind must be one of"):
        HeadNorm(N, H, kind="l2", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="use_bias=True needs weights"):
        HeadNorm(N, H, weights=None, use_bias=True, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"HeadNorm expects \[..., 4, 8\], got \(1, 3, 8\)"):
        HeadNorm(N, H, over="projection", rngs=nnx.Rngs(0))(jnp.ones((1, 3, H)))
    with pytest.raises(ValueError, match="needs num_heads and num_kv_heads"):
        QKNorm(H, weights="per_head", rngs=nnx.Rngs(0))


def test_shared_norm_takes_any_head_count_and_per_head_weights_differ_per_head():
    shared = QKNorm(H, rngs=nnx.Rngs(0))
    q, k, v = jnp.ones((1, 2, N, H)), jnp.ones((1, 2, K, H)), jnp.ones((1, 2, K, H))
    assert shared(q, k, v, None, None)[0].shape == q.shape
    per_head = QKNorm(H, num_heads=N, num_kv_heads=K, weights="per_head", rngs=nnx.Rngs(0))
    per_head.q_norm.scale[...] = jnp.arange(N, dtype=jnp.float32)[:, None] * jnp.ones((N, H))
    out = np.asarray(per_head(q, k, v, None, None)[0])
    np.testing.assert_allclose(out[0, 0, :, 0], np.arange(N), rtol=1e-6)


# ------------------------------------------------------------------------------------------- q/k/v stages


def test_clip_and_temperature():
    q, k, v = (jnp.asarray(randn(1, 3, n, H) * 4) for n in (N, K, K))
    cq, ck, cv = ClipQKV(1.5)(q, k, v, None, None)
    for before, after in ((q, cq), (k, ck), (v, cv)):
        np.testing.assert_array_equal(after, np.clip(before, -1.5, 1.5))
    positions = jnp.asarray([[0, 8191, 50000]])
    tq, tk, tv = QueryTemperature(floor_scale=8192, attn_scale=0.1)(q, k, v, positions, positions)
    expected = np.log1p(np.floor((np.array([0, 8191, 50000]) + 1.0) / 8192)) * 0.1 + 1
    np.testing.assert_allclose(np.asarray(tq), np.asarray(q) * expected[None, :, None, None], rtol=1e-6)
    assert tk is k and tv is v
    with pytest.raises(ValueError, match="clip must be a finite number > 0"):
        ClipQKV(0.0)


# ------------------------------------------------------------------------------------------------ attend


def reference_weights(q, k, scale, softcap=None, sinks=None):
    """float64: causal softmax weights [B, N, T, S] with GQA, optional softcap and sink column (dropped after)."""
    q, k = (np.asarray(a, np.float64) for a in (q, k))
    k = np.repeat(k, q.shape[2] // k.shape[2], axis=2)
    logits = np.einsum("btnh,bsnh->bnts", q, k) * scale
    if softcap is not None:
        logits = np.tanh(logits / softcap) * softcap
    length = q.shape[1]
    logits = np.where(np.tril(np.ones((length, length), bool)), logits, -np.inf)
    if sinks is not None:
        column = np.broadcast_to(np.asarray(sinks, np.float64)[None, :, None, None], (*logits.shape[:-1], 1))
        logits = np.concatenate([logits, column], axis=-1)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights = weights / weights.sum(-1, keepdims=True)
    return weights[..., :-1] if sinks is not None else weights


def reference_attention(q, k, v, scale, softcap=None, sinks=None):
    """float64: causal softmax attention with GQA, optional softcap and sink column."""
    v = np.repeat(np.asarray(v, np.float64), q.shape[2] // k.shape[2], axis=2)
    return np.einsum("bnts,bsnh->btnh", reference_weights(q, k, scale, softcap, sinks), v)


@pytest.mark.parametrize(("softcap", "sinks"), [(None, None), (2.0, None), (None, "on"), (3.0, "on")])
def test_attend_step_matches_float64(softcap, sinks):
    q, k, v = randn(2, 6, N, H) * 2, randn(2, 6, K, H) * 2, randn(2, 6, K, H)
    sink_logits = randn(N) if sinks else None
    out = dot_product_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), mask=MaskSpec(), scale=0.5,
                                logit_softcap=softcap, sink_logits=sink_logits)  # fmt: skip
    np.testing.assert_allclose(np.asarray(out), reference_attention(q, k, v, 0.5, softcap, sink_logits), atol=2e-6)
    positions = jnp.broadcast_to(jnp.arange(6), (2, 6))  # the same causal order, as an explicit mask
    mask = MaskSpec(query_positions=positions, key_positions=positions)
    masked = dot_product_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), mask=mask, scale=0.5,
                                   logit_softcap=softcap, sink_logits=sink_logits)  # fmt: skip
    np.testing.assert_allclose(np.asarray(masked), np.asarray(out), atol=1e-6)


def test_cudnn_and_kernels_that_cannot_take_the_extras_are_refused():
    x = jnp.ones((1, 2, N, H))
    with pytest.raises(ValueError, match="'cudnn' supports neither"):
        dot_product_attention(x, x, x, logit_softcap=2.0, implementation="cudnn")
    with pytest.raises(ValueError, match="cannot apply logit_softcap"):
        RoPEAttention(N, D, head_dim=H, logit_softcap=2.0, implementation="cudnn", rngs=nnx.Rngs(0))

    def plain_kernel(query, key, value, *, mask, scale):
        return query

    with pytest.raises(TypeError, match="does not take sink_logits"):
        RoPEAttention(N, D, head_dim=H, sink_logits=True, attention_fn=plain_kernel, rngs=nnx.Rngs(0))
    seen = {}

    def open_kernel(query, key, value, **options):
        seen.update(options)
        return dot_product_attention(query, key, value, **options)

    attn = RoPEAttention(N, D, head_dim=H, logit_softcap=2.0, sink_logits=True, attention_fn=open_kernel,
                         rngs=nnx.Rngs(0))  # fmt: skip
    attn(jnp.ones((1, 3, D)))
    assert seen["logit_softcap"] == 2.0 and seen["sink_logits"].shape == (N,)
    RoPEAttention(N, D, head_dim=H, attention_fn=plain_kernel, rngs=nnx.Rngs(0))  # without extras: accepted


# ------------------------------------------------------------------------------------------- every stage, every cache


def full_layer(rope, **kwargs):
    rngs = nnx.Rngs(0)
    attn = RoPEAttention(
        N,
        D,
        head_dim=H,
        num_kv_heads=K,
        rope=rope,
        use_bias=True,
        before_rope=[ClipQKV(2.5), QKNorm(H, num_heads=N, num_kv_heads=K, kind="layer", weights="per_head",
                                          use_bias=True, rngs=rngs)],
        after_rope=[QKNorm(H, weights=None, rngs=rngs), QueryTemperature(floor_scale=4, attn_scale=0.1)],
        before_output=[HeadNorm(N, H, over="projection", weights="per_head", rngs=rngs)],
        logit_softcap=3.0,
        sink_logits=True,
        rngs=rngs,
        **kwargs,
    )  # fmt: skip
    for _, variable in nnx.iter_graph(attn):  # every parameter away from its initial value
        if isinstance(variable, nnx.Param):
            variable[...] = variable[...] + jnp.asarray(randn(*variable[...].shape) * 0.3)
    return attn


@pytest.mark.parametrize(
    ("rope", "window", "cache"),
    [
        ("rope", None, {}),
        ("rope", 4, {}),
        ("rope", None, {"mode": "unrotated"}),
        (None, None, {"mode": "unrotated"}),
        ("dynamic", None, {"mode": "unrotated"}),
    ],
)
def test_every_stage_decodes_token_by_token_as_the_full_forward(rope, window, cache):
    """Plain cache, ring (window 4 < 10 tokens), unrotated (also without RoPE, also a length-dependent rule)."""
    ropes = {
        "rope": rope_jax.RoPE(H, theta=100.0),
        "dynamic": rope_jax.RoPE(H, theta=100.0, scaling=rope_jax.DynamicNTK(factor=2.0, max_position_embeddings=4)),
        None: None,
    }
    attn = full_layer(ropes[rope], sliding_window=window)
    x = jnp.asarray(randn(2, 10, D))
    expected = np.asarray(attn(x))
    attn.init_cache(2, 10, **cache)

    @nnx.jit
    def step(attn, token):
        return attn(token, decode=True)

    if rope != "dynamic":  # dynamic NTK: each step sees its own length, as the prefix forward would
        out = [step(attn, x[:, i : i + 1]) for i in range(10)]
        np.testing.assert_allclose(np.concatenate([np.asarray(o) for o in out], axis=1), expected, atol=2e-5)
    else:
        for i in range(10):
            out = step(attn, x[:, i : i + 1])
            prefix = np.asarray(attn_prefix(attn, x[:, : i + 1]))[:, -1:]
            np.testing.assert_allclose(np.asarray(out), prefix, atol=2e-5)


def attn_prefix(attn, x):
    cache = attn.kv_cache
    attn.kv_cache = None
    try:
        return attn(x)
    finally:
        attn.kv_cache = cache


def test_sink_cache_with_every_stage_equals_a_fresh_prefill_of_what_it_kept():
    attn = full_layer(rope_jax.RoPE(H, theta=100.0))
    x = jnp.asarray(randn(1, 12, D))
    attn.init_cache(1, 6, sinks=2)
    for i in range(12):
        out = attn(x[:, i : i + 1], decode=True)
    kept = jnp.concatenate([x[:, :2], x[:, 8:]], axis=1)  # 2 sinks + the 4 most recent tokens
    fresh = attn_prefix(attn, kept)[:, -1:]
    np.testing.assert_allclose(np.asarray(out), np.asarray(fresh), atol=2e-5)


def test_attention_weights_follow_the_softcap_and_sinks():
    seen = {}

    def capture(query, key, value, **options):  # the rotated, normalised q and k the attend step receives
        seen.update(query=query, key=key)
        return dot_product_attention(query, key, value, **options)

    attn = full_layer(rope_jax.RoPE(H, theta=100.0), attention_fn=capture)
    x = jnp.asarray(randn(1, 5, D))
    attn(x)
    weights = np.asarray(attn.attention_weights(x))
    assert np.all(weights.sum(-1) < 1.0) and np.all(weights >= 0)  # the sinks take a share of every row
    expected = reference_weights(seen["query"], seen["key"], attn.softmax_scale, 3.0, np.asarray(attn.sink_logits[...]))
    np.testing.assert_allclose(weights, expected, atol=2e-6)
    uncapped = reference_weights(
        seen["query"], seen["key"], attn.softmax_scale, None, np.asarray(attn.sink_logits[...])
    )
    assert np.abs(weights - uncapped).max() > 1e-3  # the softcap changes these weights
