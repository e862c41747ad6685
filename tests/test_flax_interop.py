"""RoPE for users who keep Flax's own attention: nnx.MultiHeadAttention's attention_fn hook, and Linen."""

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import rope_jax
from rope_jax.nn import RoPEAttention, rope_attention_fn

B, T, D, N, H = 2, 12, 32, 4, 8
ROPE = rope_jax.RoPE(head_dim=H, theta=500.0)  # a small base so that every pair turns visibly over 12 slots


def twins(decode: bool = False):
    """An nnx.MultiHeadAttention with RoPE through attention_fn, and a RoPEAttention with the same weights."""
    mha = nnx.MultiHeadAttention(
        N, D, use_bias=False, decode=decode, attention_fn=rope_attention_fn(ROPE), rngs=nnx.Rngs(0)
    )
    ours = RoPEAttention(N, D, rope=ROPE, rngs=nnx.Rngs(1))
    ours.q_proj.kernel[...] = mha.query.kernel[...].reshape(D, N * H)
    ours.k_proj.kernel[...] = mha.key.kernel[...].reshape(D, N * H)
    ours.v_proj.kernel[...] = mha.value.kernel[...].reshape(D, N * H)
    ours.o_proj.kernel[...] = mha.out.kernel[...].reshape(N * H, D)
    return mha, ours


def inputs(seed: int = 0) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), (B, T, D))


def test_attention_fn_matches_rope_attention_on_the_same_weights():
    mha, ours = twins()
    x = inputs()
    np.testing.assert_allclose(np.asarray(mha(x, is_causal=True)), np.asarray(ours(x)), atol=2e-6)
    # RoPE really acts: without it the two differ.
    plain = nnx.MultiHeadAttention(N, D, use_bias=False, decode=False, rngs=nnx.Rngs(0))
    assert float(jnp.max(jnp.abs(plain(x, is_causal=True) - ours(x)))) > 1e-2


def test_attention_fn_decodes_token_by_token_like_the_full_forward():
    mha, ours = twins(decode=True)
    x = inputs(1)
    mha.init_cache((B, T, D))
    steps = jnp.concatenate([mha(x[:, t : t + 1]) for t in range(T)], axis=1)
    np.testing.assert_allclose(np.asarray(steps), np.asarray(ours(x)), atol=2e-6)


def test_attention_fn_refuses_queries_it_cannot_place():
    q = jnp.ones((1, 3, N, H))
    k = jnp.ones((1, 5, N, H))
    with pytest.raises(ValueError, match="cannot tell where the queries sit"):
        rope_attention_fn(ROPE)(q, k, k)


def test_linen_users_wrap_rope_attention_with_the_bridge():
    model = nnx.bridge.to_linen(RoPEAttention, N, D, rope=ROPE)
    x = inputs(2)
    variables = model.init(jax.random.key(0), x)
    out = model.apply(variables, x)
    assert out.shape == (B, T, D)
    shifted = model.apply(variables, x, jnp.arange(T)[None] + 1000)
    np.testing.assert_allclose(np.asarray(shifted), np.asarray(out), atol=2e-5)  # only relative positions count

    class Block(linen.Module):  # and inside a Linen model
        @linen.compact
        def __call__(self, x):
            return x + nnx.bridge.to_linen(RoPEAttention, N, D, rope=ROPE)(linen.LayerNorm()(x))

    block_vars = Block().init(jax.random.key(1), x)
    assert Block().apply(block_vars, x).shape == (B, T, D)
