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
    assert isinstance(attn.kv_cache.get_value(), rope_jax.WindowCache)
    assert attn.kv_cache.get_value().slots == window  # O(W) memory, whatever max_length says
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
    # max_length < W: a plain cache of max_length slots, which can fill.
    attn.init_cache(2, 4, check=True)
    assert isinstance(attn.kv_cache.get_value(), rope_jax.PlainCache)
    attn(x[:, :4], decode=True)
    with pytest.raises(ValueError, match="KV cache is full"):
        attn(x[:, 4:5], decode=True)


# ------------------------------------------------------------------------------------------ RoPE.shift


def relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize(
    "layout", [dict(), dict(interleaved=True), dict(rotary_dim=6)], ids=["half-split", "interleaved", "partial"]
)
@pytest.mark.parametrize("delta", [12_345, -7_777_777, "per-token"])
def test_precise_shift_equals_rotating_the_raw_key_at_the_new_position_near_2_24(layout, delta):
    rope = rope_jax.RoPE(head_dim=H, theta=500000.0, precise_angles=True, **layout)
    k = jax.random.normal(jax.random.key(1), (2, 5, K, H))
    positions = 2**24 - 3 + jnp.arange(5)[None] + jnp.asarray([[0], [-1000]])  # [B, T] near 2**24
    if delta == "per-token":
        delta = jnp.asarray([[3, -5, 0, 1_000_000, -(2**23)]])  # [1, T], broadcasting over the batch
    moved = rope.shift(rope(k, positions), delta)
    assert relative_error(moved, rope(k, positions + delta)) < 1e-6
    if "rotary_dim" in layout:  # pass-through features keep their bits
        np.testing.assert_array_equal(moved[..., 6:], k[..., 6:])


def test_float32_shift_matches_float32_rotation_at_the_new_position_within_the_angle_rounding():
    rope = rope_jax.RoPE(head_dim=H)
    k = jax.random.normal(jax.random.key(2), (1, 64, K, H))
    positions, delta = 5000 + jnp.arange(64)[None], 3000
    moved, direct = rope.shift(rope(k, positions), delta), rope(k, positions + delta)
    # Each float32 angle p * inv_freq is off by up to |p| * inv_freq * 2**-24 (inv_freq <= 1): the shift differs
    # from the direct rotation by at most the two roundings, and not less than they allow.
    bound = 2 * (5064 + delta) * 2.0**-24 * float(jnp.max(jnp.abs(k))) * np.sqrt(2)
    assert float(jnp.max(jnp.abs(moved - direct))) < bound
    reference = rope_jax.RoPE(head_dim=H, precise_angles=True)(k, positions + delta)
    assert float(jnp.max(jnp.abs(direct - reference))) > 1e-5  # float32 angles themselves carry that error


def test_shift_rotates_by_the_pure_angle_when_the_rule_scales_attention():
    rope = rope_jax.RoPE(
        head_dim=H, scaling=rope_jax.YaRN(factor=8.0, original_max_position_embeddings=64), precise_angles=True
    )
    assert rope.attention_scaling != 1.0
    k = jax.random.normal(jax.random.key(3), (1, 4, K, H))
    positions = jnp.arange(4)[None]
    assert relative_error(rope.shift(rope(k, positions), 37), rope(k, positions + 37)) < 1e-6


def test_shift_takes_a_scalar_a_delta_per_token_or_per_row():
    rope = rope_jax.RoPE(head_dim=H, precise_angles=True)
    k = jax.random.normal(jax.random.key(4), (2, 3, K, H))
    positions = jnp.arange(3)[None] + jnp.asarray([[10], [20]])  # [B, T]
    rotated = rope(k, positions)
    for delta in (-5, jnp.asarray([[7], [-9]]), jnp.asarray([[1, -2, 3], [40, 50, -60]]), jnp.asarray([2, 4, 6])):
        moved = rope.shift(rotated, delta)  # scalar, [B, 1] per row, [B, T] per token, [T] for every row
        assert relative_error(moved, rope(k, positions + delta)) < 1e-6
    close(rope.shift(rotated[0], jnp.asarray([-10])), rope(k[0], jnp.arange(3)))  # unbatched [T, N, H], [1]


@pytest.mark.parametrize(
    "scaling",
    [
        rope_jax.DynamicNTK(factor=2.0, max_position_embeddings=16),
        rope_jax.LongRoPE(
            short_factor=(1.0,) * 4, long_factor=(2.0,) * 4, original_max_position_embeddings=16, factor=4.0
        ),
    ],
    ids=["dynamic NTK", "LongRoPE"],
)
def test_shift_refuses_length_dependent_rules(scaling):
    with pytest.raises(ValueError, match=f"the '{scaling.rope_type}' rule rescales them with the length"):
        rope_jax.RoPE(head_dim=H, scaling=scaling).shift(jnp.ones((1, 2, K, H)), 1)


def test_shift_refuses_a_delta_that_does_not_fit():
    with pytest.raises(ValueError, match="delta must have shape"):
        rope_jax.RoPE(head_dim=H).shift(jnp.ones((1, 2, K, H)), jnp.ones(3, jnp.int32))
    with pytest.raises(TypeError, match="delta must be integers or floats"):
        rope_jax.RoPE(head_dim=H).shift(jnp.ones((1, 2, K, H)), True)


# ------------------------------------------------------------------------------------------ attention sinks


def kept_keys(attn, sinks):
    """The keys attention reads [B, n, K, H] in time order (sinks, then the ring from its oldest token), and
    their times. The cache stores each key as written; reading moves it to its rank 0 .. n - 1."""
    cache = attn.kv_cache.get_value()
    index, slots = int(cache.index), cache.slots
    ring = slots - sinks
    times = list(range(min(index, sinks))) + list(range(max(sinks, index - ring), index))
    order = jnp.asarray([t if t < sinks else sinks + (t - sinks) % ring for t in times])
    keys, written = cache.keys[:, order], cache.positions[:, order]
    if cache.rotated:
        keys = attn.rope.shift(keys, jnp.arange(len(times)) - written)
    return keys, times


@pytest.mark.parametrize("mode", ["rotated", "unrotated"])
def test_sink_cache_equals_a_fresh_prefill_of_sinks_and_kept_tokens_after_every_eviction(mode):
    sinks, slots = 3, 12
    attn, x = make(), inputs(length=40, seed=4)
    attn.init_cache(2, slots, sinks=sinks, mode=mode)
    fresh = make()  # same weights (same seed)
    step = nnx.jit(lambda m, a: m(a, decode=True))
    out = step(attn, x[:, :7])
    chunk = 1 if mode == "rotated" else 3  # chunks evict several tokens at once
    for t in range(7, 40, chunk):
        out = step(attn, x[:, t : t + chunk])
        keys, times = kept_keys(attn, sinks)
        kept = x[:, jnp.asarray(times)]
        fresh.init_cache(2, slots)
        expected = fresh(kept, decode=True)  # sinks + kept tokens at positions 0 .. n - 1
        assert np.array_equal(np.asarray(attn.next_position), [len(times)] * 2)
        if mode == "rotated":
            close(keys, fresh.kv_cache.get_value().keys[:, : len(times)])
        else:
            close(keys, fresh.k_proj(kept).reshape(2, len(times), K, H))  # raw keys
        close(out[:, -1], expected[:, -1])  # the new token attends as in a fresh forward


def test_sinks_generate_10000_steps_in_256_slots_with_one_trace_and_positions_in_range():
    rope = rope_jax.RoPE(head_dim=H)
    attn = RoPEAttention(2, 16, head_dim=H, rope=rope, rngs=nnx.Rngs(0))
    attn.init_cache(1, 256, sinks=4)
    graphdef, state = nnx.split(attn)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, token):
        model = nnx.merge(graphdef, state)
        out = model(token, decode=True)
        return nnx.state(model), out, model.next_position

    tokens = jax.random.normal(jax.random.key(5), (10_000, 1, 1, 16))
    highest = 0
    for token in tokens:
        state, out, next_position = step(state, token)
        highest = max(highest, int(next_position[0]))
    assert highest == 256 and bool(jnp.all(jnp.isfinite(out)))
    attn = nnx.merge(graphdef, state)
    cache = attn.kv_cache.get_value()
    assert cache.keys.shape == (1, 256, 2, H) and int(cache.index) == 10_000
    assert int(jnp.max(cache.positions)) == 255  # positions stay inside 0 .. 255
    # Each kept key was shifted up to 252 times; it still equals a fresh prefill of the kept tokens.
    keys, times = kept_keys(attn, 4)
    fresh = RoPEAttention(2, 16, head_dim=H, rope=rope, rngs=nnx.Rngs(0))
    fresh.init_cache(1, 256)
    fresh(tokens[jnp.asarray(times), 0, 0][None], decode=True)
    close(keys, fresh.kv_cache.get_value().keys)


# --------------------------------------------------------------------------------------------- unrotated


def test_unrotated_cache_decodes_like_the_full_forward():
    attn, x = make(), inputs(length=14, seed=6)
    mask = jnp.ones((2, 14), bool).at[1, :2].set(False)
    full = attn(x, attention_mask=mask)
    attn.init_cache(2, 20, mode="unrotated", check=True)
    step = nnx.jit(lambda m, a, am=None: m(a, attention_mask=am, decode=True))
    outputs = [step(attn, x[:, :8], mask[:, :8])] + [step(attn, x[:, t : t + 1]) for t in range(8, 14)]
    close(jnp.where(mask[..., None], jnp.concatenate(outputs, axis=1), 0), jnp.where(mask[..., None], full, 0))
    with pytest.raises(ValueError, match="KV cache is full: 14 of 20 slots"):
        attn(x[:, :7], decode=True)


def test_unrotated_cache_applies_dynamic_ntk_to_the_whole_context_and_the_rotated_one_does_not():
    rope = rope_jax.RoPE(head_dim=H, scaling=rope_jax.DynamicNTK(factor=4.0, max_position_embeddings=8))
    attn, x = make(rope=rope), inputs(length=24, seed=7)
    full = attn(x)  # every key rotated with the frequencies of length 24
    last = {}
    for mode in ("rotated", "unrotated"):
        attn.init_cache(2, 24, mode=mode)
        attn(x[:, :6], decode=True)
        for t in range(6, 24):
            last[mode] = attn(x[:, t : t + 1], decode=True)
    close(last["unrotated"][:, 0], full[:, -1])
    assert float(jnp.max(jnp.abs(last["rotated"][:, 0] - full[:, -1]))) > 1e-3  # keys rotated at older lengths


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: make(sliding_window=0), ValueError, "sliding_window must be a positive int, got 0"),
        (lambda: make(sliding_window=2.5), TypeError, "sliding_window must be an int, got float"),
        (lambda: make(sliding_window=4)(inputs(), causal=False), ValueError, "needs causal=True"),
        (lambda: make().init_cache(2, 8, sinks=0), ValueError, "sinks must be a positive int"),
        (lambda: make().init_cache(2, 8, sinks="2"), TypeError, "sinks must be an int, got str"),
        (
            lambda: make().init_cache(2, 4, sinks=4),
            ValueError,
            r"needs more slots \(init_cache's max_length\) than sinks",
        ),
        (lambda: make(sliding_window=4).init_cache(2, 8, sinks=2), ValueError, "full-attention layers"),
        (lambda: make().init_cache(2, 8, mode="ring"), ValueError, "mode must be one of"),
        (
            lambda: make(rope=rope_jax.RoPE(head_dim=H, scaling=rope_jax.DynamicNTK(2.0, 8))).init_cache(2, 8, sinks=2),
            ValueError,
            "mode='unrotated'",
        ),
        (
            lambda: make(rope=rope_jax.RoPENd.axial(H, 2)).init_cache(2, 8, mode="unrotated"),
            TypeError,
            "need a 1D rope_jax.RoPE",
        ),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_sink_cache_refuses_padding_positions_and_chunks_longer_than_its_ring():
    attn, x = make(), inputs(length=8)
    attn.init_cache(2, 8, sinks=2)
    with pytest.raises(ValueError, match="no attention_mask"):
        attn(x[:, :2], attention_mask=jnp.ones((2, 2), bool), decode=True)
    with pytest.raises(ValueError, match="at most 6 tokens per call, got 7"):
        attn(x[:, :7], decode=True)
    with pytest.raises(ValueError, match=r"takes no positions; got positions of shape \(2, 2\)"):
        attn(x[:, :2], jnp.zeros((2, 2), jnp.int32), decode=True)


def test_sliding_window_off_by_one_is_transformers_gemma3s():
    """The tiny Gemma 3 of tests/test_ports.py (its sliding layer a RoPEAttention(sliding_window=5)) gives
    transformers' logits and greedy tokens through a 5-slot ring; one more key in the window does not."""
    from tests import ports

    lm, meta, arrays = ports.build("gemma3-sliding")
    config, weights = meta["config"], ports.load("gemma3-sliding")[2]
    layer, window = config["layer_types"].index("sliding_attention"), config["sliding_window"]
    assert lm.blocks[layer].attn.sliding_window == window < arrays["prompt"].shape[1]
    assert ports.relative_error(lm(arrays["prompt"]), arrays["prompt_logits"]) <= 1e-4
    tokens = ports.greedy(lm, arrays["padded_tokens"], arrays["padded_mask"], meta["new_tokens"])
    assert lm.blocks[layer].attn.kv_cache.get_value().slots == window
    np.testing.assert_array_equal(tokens, arrays["generated"])

    lm.blocks[layer].attn = ports.rope_attention(
        config,
        weights,
        f"model.layers.{layer}.self_attn.",
        rope_jax.from_hf_config(config, layer_type="sliding_attention"),
        norm_offset=1.0,
        softmax_scale=config["query_pre_attn_scalar"] ** -0.5,
        sliding_window=window + 1,
    )
    assert ports.relative_error(lm(arrays["prompt"]), arrays["prompt_logits"]) > 1e-3


# ------------------------------------------------------------------------------------------- a full cache


@pytest.mark.parametrize(("layer", "cache"), [({}, {}), ({}, {"mode": "unrotated"}), ({"sliding_window": 8}, {})])
@pytest.mark.parametrize("check", [True, False])
def test_a_full_cache_keeps_its_contents_and_never_returns_a_number(layer, cache, check):
    """Overflowing a cache that can fill raises (check=True) or returns NaN (check=False); either way the cache
    holds what it held, and decoding goes on from there once it is reset."""
    attn, x = make(**layer), inputs(length=8, seed=9)
    attn.init_cache(2, 6, check=check, **cache)  # a window ring shorter than its window can fill too
    step = nnx.jit(lambda m, a: m(a, decode=True))
    first = step(attn, x[:, :5])
    before = attn.kv_cache.get_value()
    if check:
        with pytest.raises(Exception, match="KV cache is full: 5 of 6 slots used and 2 more"):
            jax.block_until_ready(step(attn, x[:, 5:7]))
    else:
        assert bool(jnp.all(jnp.isnan(step(attn, x[:, 5:7]))))
    after = attn.kv_cache.get_value()
    for name in ("keys", "values", "positions", "valid", "index"):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    assert bool(after.overflowed) is not check  # raised at once, or flagged for raise_if_overflowed
    last = step(attn, x[:, 5:6])  # one more token still fits, and decodes as if nothing had happened
    reference = make(**layer)
    reference.init_cache(2, 6, **cache)
    close(jnp.concatenate([first, last], axis=1), reference(x[:, :6], decode=True))
    attn.reset_cache()
    close(step(attn, x[:, :5]), first)
