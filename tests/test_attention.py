"""RoPEAttention: relative positions and permutation made executable, plus GQA, masks, packing, decoding, sharding."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.test_util import check_grads

import rope_jax
from rope_jax.nn import MixedRoPE, RoPEAttention, raise_if_cache_overflowed

D, N, K, H = 64, 4, 2, 16


def make(rope="default", **kwargs):
    rope = rope_jax.RoPE(head_dim=H, theta=10000.0) if rope == "default" else rope
    kwargs = {"num_kv_heads": K, **kwargs}
    return RoPEAttention(N, D, head_dim=H, rope=rope, rngs=nnx.Rngs(0), **kwargs)


def inputs(batch=2, length=12, seed=0, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), (batch, length, D), dtype)


def close(a, b, atol=2e-5):
    chex.assert_trees_all_close(a, b, atol=atol, rtol=0)


def test_without_positions_attention_is_permutation_equivariant_and_with_rope_it_is_not():
    x = inputs()
    perm = np.random.default_rng(0).permutation(12)
    plain = make(rope=None)
    close(plain(x[:, perm], causal=False), plain(x, causal=False)[:, perm])
    rotary = make()
    assert not np.allclose(
        np.asarray(rotary(x[:, perm], causal=False)), np.asarray(rotary(x, causal=False)[:, perm]), atol=1e-3
    )


@pytest.mark.parametrize("offset", [1, 37, 10_000, 1_000_000])
def test_shifting_every_position_leaves_weights_and_outputs_unchanged(offset):
    # Past ~1e3 float32 angle products drift (3e-5 in the weights at 1e4); precise angles keep the property.
    attn, x = make(rope=rope_jax.RoPE(head_dim=H, precise_angles=offset > 1000)), inputs()
    positions = jnp.arange(12)[None]
    close(attn.attention_weights(x, positions + offset), attn.attention_weights(x, positions), atol=2e-5)
    close(attn(x, positions + offset), attn(x, positions), atol=5e-5)


def test_gqa_equals_mha_with_repeated_key_value_heads():
    gqa, x = make(), inputs()
    mha = make(num_kv_heads=N)
    for name in ("q_proj", "o_proj"):
        getattr(mha, name).kernel[...] = getattr(gqa, name).kernel[...]
    for name in ("k_proj", "v_proj"):
        kernel = getattr(gqa, name).kernel[...].reshape(D, K, H)
        getattr(mha, name).kernel[...] = jnp.repeat(kernel, N // K, axis=1).reshape(D, N * H)
    close(mha(x), gqa(x))
    mqa = make(num_kv_heads=1)
    chex.assert_shape(mqa(x), (2, 12, D))


def test_decode_matches_prefill_and_full_forward_under_jit():
    attn, x = make(), inputs(length=14)
    full = attn(x)
    attn.init_cache(2, 20)
    step = nnx.jit(lambda m, chunk: m(chunk, decode=True))
    outputs = [step(attn, x[:, :8])] + [step(attn, x[:, t : t + 1]) for t in range(8, 14)]
    close(jnp.concatenate(outputs, axis=1), full)
    assert int(attn.kv_cache.get_value().index) == 14 and np.all(np.asarray(attn.next_position) == 14)
    attn.reset_cache()
    assert int(attn.kv_cache.get_value().index) == 0
    close(step(attn, x[:, :8]), full[:, :8])


def test_packed_sequences_equal_separate_sequences():
    attn = make()
    a, b = inputs(batch=1, length=5, seed=1), inputs(batch=1, length=7, seed=2)
    packed = jnp.concatenate([a, b], axis=1)
    segments = jnp.asarray([[1] * 5 + [2] * 7])
    np.testing.assert_array_equal(rope_jax.positions_from_segments(segments), [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]])
    out = attn(packed, segment_ids=segments)
    close(out[:, :5], attn(a))
    close(out[:, 5:], attn(b))


@pytest.mark.slow
def test_left_padded_batch_equals_unpadded_rows_in_forward_and_decoding():
    attn = make()
    short, long = inputs(batch=1, length=6, seed=3), inputs(batch=1, length=9, seed=4)
    batch = jnp.concatenate([jnp.concatenate([jnp.zeros((1, 3, D)), short], axis=1), long])
    mask = jnp.asarray([[0] * 3 + [1] * 6, [1] * 9])
    out = attn(batch, attention_mask=mask)
    close(out[0, 3:], attn(short)[0])
    close(out[1], attn(long)[0])
    # Decoding: the left-padded prompt, then 3 steps, row by row equal to unpadded decoding.
    steps = inputs(batch=2, length=3, seed=5)
    attn.init_cache(2, 16)
    decoded = [attn(batch, attention_mask=mask, decode=True)] + [
        attn(steps[:, t : t + 1], decode=True) for t in range(3)
    ]
    expected_short = attn(jnp.concatenate([short, steps[:1]], axis=1))
    close(jnp.concatenate(decoded, axis=1)[0, 3:], expected_short[0])
    np.testing.assert_array_equal(np.asarray(attn.next_position), [9, 12])


def test_rope_attention_scaling_is_applied_to_both_q_and_k_like_hugging_face():
    rope = rope_jax.RoPE(head_dim=H, scaling=rope_jax.YaRN(factor=16.0, original_max_position_embeddings=64))
    attn, x = make(rope=rope), inputs()
    q, k, _ = attn._qkv(x, jnp.arange(12)[None])
    cos, sin = rope.cos_sin(jnp.arange(12)[None])
    assert rope.attention_scaling > 1.2
    q_rot = rope_jax.rotate(q, cos, sin)  # cos and sin carry the scaling, as HF's do
    k_rot = jnp.repeat(rope_jax.rotate(k, cos, sin), N // K, axis=2)
    logits = jnp.einsum("btnh,bsnh->bnts", q_rot, k_rot) * H**-0.5
    logits = jnp.where(jnp.tril(jnp.ones((12, 12), bool)), logits, -jnp.inf)
    close(attn.attention_weights(x), jax.nn.softmax(logits, axis=-1), atol=1e-5)


@pytest.mark.slow
def test_gradients_and_transformations():
    attn, x = make(), inputs(batch=1, length=5)
    check_grads(lambda a: attn(a), (x,), order=1, modes=["rev"], atol=5e-2, rtol=5e-2)
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(attn)
    chex.assert_tree_all_finite(nnx.state(grads, nnx.Param))
    vmapped = nnx.vmap(lambda m, a: m(a), in_axes=(None, 0))(attn, jnp.stack([x, 2 * x]))
    close(vmapped[1], attn(2 * x))
    close(nnx.jit(lambda m, a: m(a))(attn, x), attn(x))


def test_bfloat16():
    attn = make(dtype=jnp.bfloat16)
    x = inputs(dtype=jnp.bfloat16)
    out = attn(x)
    chex.assert_type(out, jnp.bfloat16)
    reference = make()(x.astype(jnp.float32))
    assert float(jnp.max(jnp.abs(out.astype(jnp.float32) - reference))) < 0.1


def test_nd_and_learnable_ropes_plug_in():
    coords = jnp.asarray(rope_jax.patch_grid_coords(3, 4))[None]
    axial = make(rope=rope_jax.RoPENd.axial(H, 2))
    chex.assert_shape(axial(inputs(), coords, causal=False), (2, 12, D))
    mixed = make(rope=MixedRoPE(N, H, rngs=nnx.Rngs(1)), num_kv_heads=N)
    grads = nnx.grad(lambda m: jnp.sum(m(inputs(), coords, causal=False) ** 2))(mixed)
    assert float(jnp.abs(grads.rope.freqs[...]).max()) > 0


def test_sharded_batch_and_heads_match_one_device():
    devices = np.array(jax.devices()[:8])
    if devices.size < 8:
        pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count=8 (set by conftest)")
    mesh = Mesh(devices.reshape(2, 4), ("data", "model"))
    attn = RoPEAttention(8, D, head_dim=8, num_kv_heads=4, rope=rope_jax.RoPE(head_dim=8), rngs=nnx.Rngs(0))
    x = inputs(batch=4, length=16)
    expected = attn(x)
    state = nnx.state(attn)
    column = NamedSharding(mesh, P(None, "model"))
    sharded = jax.tree.map(lambda a: jax.device_put(a, column) if a.ndim == 2 and a.shape[1] != D else a, state)
    nnx.update(attn, sharded)
    x_sharded = jax.device_put(x, NamedSharding(mesh, P("data")))
    out = nnx.jit(lambda m, a: m(a))(attn, x_sharded)
    close(out, expected, atol=1e-5)
    # The pure functions with the sequence axis sharded over all 8 devices.
    q = jax.random.normal(jax.random.key(1), (2, 64, 4, 32))
    positions = jnp.broadcast_to(jnp.arange(64) * 1000, (2, 64))
    seq = NamedSharding(Mesh(devices, ("seq",)), P(None, "seq"))
    fn = jax.jit(lambda a, p: rope_jax.apply_rope(a, p))
    close(fn(jax.device_put(q, seq), jax.device_put(positions, seq)), fn(q, positions), atol=0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: RoPEAttention(4, D, num_kv_heads=3, rngs=nnx.Rngs(0)), "must divide num_heads"),
        (
            lambda: RoPEAttention(4, D, head_dim=32, rope=rope_jax.RoPE(head_dim=16), rngs=nnx.Rngs(0)),
            "does not match the RoPE's head_dim 16",
        ),
        (lambda: RoPEAttention(4, D, implementation="flash", rngs=nnx.Rngs(0)), "implementation"),
        (lambda: make()(inputs(), jnp.arange(11)), "positions must be"),
        (lambda: make()(inputs(), attention_mask=jnp.ones((2, 11))), r"attention_mask must have shape \[B, T\]"),
        (lambda: make()(inputs()[..., :32]), "x must have shape"),
        (lambda: make()(inputs(), decode=True), "init_cache"),
        (lambda: make(rope=MixedRoPE(N, H, rngs=nnx.Rngs(0))), "num_heads == num_kv_heads"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_decoding_past_the_cache_returns_nan_and_is_reported_once_or_raises_with_check():
    attn, x = make(), inputs(length=6)
    attn.init_cache(2, 8)  # check=False: no host round trip per step
    attn(x, decode=True)
    assert bool(jnp.all(jnp.isnan(attn(x[:, :3], decode=True))))  # did not fit: nothing written, NaN out
    with pytest.raises(ValueError, match=r"attn: a KV cache of 8 slots overflowed"):
        raise_if_cache_overflowed(nnx.Dict(attn=attn))
    attn.reset_cache()
    raise_if_cache_overflowed(attn)  # reset: no overflow any more
    attn.init_cache(2, 8, check=True)
    attn(x, decode=True)
    with pytest.raises(ValueError, match="KV cache is full: 6 of 8 slots"):
        attn(x[:, :3], decode=True)
    attn.reset_cache()
    step = nnx.jit(lambda m, a: m(a, decode=True))
    step(attn, x)
    with pytest.raises(Exception, match="KV cache is full"):
        jax.block_until_ready(step(attn, x[:, :3]))


@pytest.mark.slow
def test_decoding_works_with_x64_enabled():
    """Python-int indices become int64 under jax_enable_x64; the cache update must not mix index dtypes."""
    with jax.enable_x64(True):
        attn, x = make(), inputs(length=6)
        full = attn(x)
        attn.init_cache(2, 8)
        steps = [attn(x[:, :4], decode=True), attn(x[:, 4:5], decode=True), attn(x[:, 5:], decode=True)]
        close(jnp.concatenate(steps, axis=1), full)


def test_attention_weights_stay_within_segments_and_off_padding():
    """attention_weights uses the forward's masking: real queries stay inside their segment, never on padding."""
    attn, x = make(), inputs(batch=1, length=8)
    segments = jnp.asarray([[1, 1, 1, 2, 2, 0, 0, 0]])
    weights = attn.attention_weights(x, segment_ids=segments)
    assert float(jnp.abs(weights[..., :5, 5:]).max()) == 0.0  # real queries never look at padding
    np.testing.assert_allclose(np.asarray(weights[0, :, 4, 3:5].sum(-1)), 1.0, rtol=1e-6)  # segment 2 only


def test_masks_follow_positions_so_tokens_may_come_in_any_order():
    """A load-balanced (zigzag) order with its true positions gives the contiguous forward, permuted: masks
    compare positions, not slots. Also with left padding, packing and a sliding window."""
    attn, x = make(sliding_window=5), inputs(length=12, seed=8)
    chunks = np.arange(12).reshape(4, 3)
    zigzag = np.concatenate([chunks[0], chunks[3], chunks[1], chunks[2]])  # two devices: chunks (0, 3), (1, 2)
    positions = jnp.broadcast_to(jnp.arange(12), (2, 12))
    close(attn(x[:, zigzag], positions[:, zigzag]), attn(x)[:, zigzag])
    mask = jnp.ones((2, 12), bool).at[0, :3].set(False)
    reference = attn(x, attention_mask=mask)
    padded_positions = rope_jax.positions_from_mask(mask)
    out = attn(x[:, zigzag], padded_positions[:, zigzag], attention_mask=mask[:, zigzag])
    close(jnp.where(mask[:, zigzag, None], out, 0), jnp.where(mask[:, zigzag, None], reference[:, zigzag], 0))
    segments = jnp.asarray([[1] * 7 + [2] * 5] * 2)
    packed = attn(x, segment_ids=segments)
    close(
        attn(x[:, zigzag], rope_jax.positions_from_segments(segments)[:, zigzag], segment_ids=segments[:, zigzag]),
        packed[:, zigzag],
    )


def test_attention_fn_plugs_in_another_kernel():
    """The attend step is a hook: a hand-written softmax attention gives the default kernel's output, in the
    full forward (causal fast path and explicit masks) and in decoding."""
    calls = []

    def einsum_attention(query, key, value, *, mask, scale):
        calls.append(mask.is_causal)
        key = jnp.repeat(key, query.shape[2] // key.shape[2], axis=2)
        value = jnp.repeat(value, query.shape[2] // value.shape[2], axis=2)
        logits = jnp.einsum("btnh,bsnh->bnts", query, key) * scale
        logits = jnp.where(mask.array(query.shape[1], key.shape[1]), logits, -jnp.inf)
        return jnp.einsum("bnts,bsnh->btnh", jax.nn.softmax(logits, axis=-1), value)

    default, custom, x = make(), make(attention_fn=einsum_attention), inputs(length=10, seed=9)
    close(custom(x), default(x))
    close(custom(x, jnp.arange(10)[None]), default(x))
    for attn in (default, custom):
        attn.init_cache(2, 12)
    close(custom(x[:, :6], decode=True), default(x[:, :6], decode=True))
    close(custom(x[:, 6:7], decode=True), default(x[:, 6:7], decode=True))
    assert calls == [True, False, False, False]
