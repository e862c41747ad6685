"""RoPE-aware KV caches: re-positioning rotated keys, sliding-window rings, attention sinks, unrotated keys."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import rope_jax
from rope_jax.nn import RoPEAttention

D, N, K, H = 32, 4, 2, 8


def make(rope="default", **kwargs):
    rope = rope_jax.RoPE(head_dim=H) if rope == "default" else rope
    return RoPEAttention(N, D, head_dim=H, num_kv_heads=K, rope=rope, rngs=nnx.Rngs(0), **kwargs)


def inputs(batch=2, length=12, seed=0):
    return jax.random.normal(jax.random.key(seed), (batch, length, D), jnp.float32)


def close(a, b, atol=1e-5):
    chex.assert_trees_all_close(a, b, atol=atol, rtol=0)


# ------------------------------------------------------------------------------------------ sliding window


def test_sliding_window_mask_is_hugging_faces_last_w_keys_including_itself():
    mask = rope_jax.attention_mask(6, 6, sliding_window=3)[0, 0]
    q, k = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    np.testing.assert_array_equal(mask, (k <= q) & (k > q - 3))  # transformers' sliding_window_overlay
    assert int(mask.sum(axis=-1)[-1]) == 3


def test_sliding_window_forward_equals_dense_attention_restricted_by_hand():
    attn, x = make(sliding_window=4), inputs(length=10)
    weights = attn.attention_weights(x)
    q, k = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    assert np.all(np.asarray(weights)[:, :, (k > q) | (k <= q - 4)] == 0)
    # A window at least as long as the sequence changes nothing.
    close(make(sliding_window=10)(x), make()(x))


def test_sliding_window_decoding_2000_tokens_in_a_64_slot_ring_equals_the_full_forward():
    window, steps, prompt = 64, 2000, 100
    attn = make(sliding_window=window)
    x = inputs(batch=2, length=steps, seed=1)
    mask = jnp.ones((2, steps), bool).at[0, :5].set(False)  # row 0 left-padded
    full = attn(x, attention_mask=mask)
    attn.init_cache(2, 4096)
    assert attn.cached_key.shape[1] == window  # O(W) memory, whatever max_length says
    prefill = nnx.jit(lambda m, a, am: m(a, attention_mask=am, decode=True))
    outputs = [prefill(attn, x[:, :prompt], mask[:, :prompt])]

    @nnx.jit
    def decode(m, tokens):  # one token per step, in a scan so 1,900 steps run in seconds
        def body(m, token):
            return m, m(token[:, None], decode=True)[:, 0]

        return nnx.scan(body, in_axes=(nnx.Carry, 1), out_axes=(nnx.Carry, 1))(m, tokens)[1]

    outputs.append(decode(attn, x[:, prompt:]))
    decoded = jnp.concatenate(outputs, axis=1)
    close(jnp.where(mask[..., None], decoded, 0), jnp.where(mask[..., None], full, 0))
    np.testing.assert_array_equal(np.asarray(attn.next_position), [steps - 5, steps])


def test_sliding_window_prompt_longer_than_the_ring_and_ring_smaller_than_window():
    attn, x = make(sliding_window=6), inputs(length=20, seed=2)
    full = attn(x)
    attn.init_cache(2, 100)
    outputs = [attn(x[:, :15], decode=True)] + [attn(x[:, t : t + 2], decode=True) for t in range(15, 19, 2)]
    outputs.append(attn(x[:, 19:], decode=True))
    close(jnp.concatenate(outputs, axis=1), full)
    # max_length < W: a plain cache of max_length slots, which raises when full.
    attn.init_cache(2, 4)
    attn(x[:, :4], decode=True)
    with pytest.raises(ValueError, match="KV cache is full"):
        attn(x[:, 4:5], decode=True)
