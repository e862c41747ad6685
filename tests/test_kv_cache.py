"""rope_jax.kv_cache without Flax: each cache kind threaded through a jitted decode loop by hand."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import rope_jax
from rope_jax.kv_cache import CacheView, PlainCache, SinkCache, WindowCache

B, N, K, H = 2, 4, 2, 8
ROPE = rope_jax.RoPE(head_dim=H, theta=100.0)


def qkv(length, seed=0):
    keys = jax.random.split(jax.random.key(seed), 3)
    return tuple(jax.random.normal(key, (B, length, heads, H)) for key, heads in zip(keys, (N, K, K), strict=True))


def full_forward(q, k, v, *, window=None):
    positions = jnp.arange(q.shape[1])
    mask = rope_jax.attention_mask(q.shape[1], q.shape[1], sliding_window=window)
    return jax.nn.dot_product_attention(ROPE(q, positions), ROPE(k, positions), v, mask=mask)


@jax.jit
def step(cache, q, k, v, window=None):
    """One decode step of a hand-written model: positions from the cache, rotate, append, attend."""
    positions = cache.token_positions(length=q.shape[1])
    q, k = ROPE(q, positions), ROPE(k, positions)
    cache, view = cache.append(k, v, positions, rope=ROPE)
    out = jax.nn.dot_product_attention(q, view.keys, view.values, mask=view.mask(positions, sliding_window=window))
    return cache, out


@pytest.mark.parametrize(
    ("kind", "slots", "window"), [(PlainCache, 16, None), (WindowCache, 4, 4), (PlainCache, 16, 4)]
)
def test_a_hand_written_decode_loop_equals_the_full_forward(kind, slots, window):
    q, k, v = qkv(12)
    cache = kind.create(B, slots, K, H)
    cache, first = step(cache, q[:, :5], k[:, :5], v[:, :5], window)
    outputs = [first]
    for t in range(5, 12):
        cache, out = step(cache, q[:, t : t + 1], k[:, t : t + 1], v[:, t : t + 1], window)
        outputs.append(out)
    chex.assert_trees_all_close(jnp.concatenate(outputs, axis=1), full_forward(q, k, v, window=window), atol=1e-5)
    assert int(cache.index) == 12 and np.all(np.asarray(cache.next_position()) == 12)
    assert not bool(cache.overflowed)
    empty = cache.reset()
    assert int(empty.index) == 0 and not bool(jnp.any(empty.valid)) and empty.slots == slots


def test_a_sink_cache_keeps_positions_in_range_and_matches_a_fresh_prefill():
    q, k, v = qkv(30, seed=1)
    cache = SinkCache.create(B, 8, K, H, sinks=2)
    for t in range(30):
        cache, out = step(cache, q[:, t : t + 1], k[:, t : t + 1], v[:, t : t + 1])
    kept = jnp.asarray([0, 1, *range(24, 30)])  # the sinks and the last 6 tokens, at ranks 0 .. 7
    expected = full_forward(q[:, kept], k[:, kept], v[:, kept])[:, -1:]
    chex.assert_trees_all_close(out, expected, atol=1e-5)
    assert int(jnp.max(cache.positions)) == 7 and np.all(np.asarray(cache.next_position()) == 8)


def test_view_mask_is_attention_mask_on_positions():
    positions = jnp.asarray([[3, 0, 2, 1], [0, 1, 2, 3]])
    valid = jnp.asarray([[True, True, False, True], [True, True, True, True]])
    view = CacheView(jnp.zeros((2, 4, K, H)), jnp.zeros((2, 4, K, H)), positions, valid, jnp.zeros((), bool))
    queries = jnp.asarray([[2, 3], [1, 3]])
    expected = rope_jax.attention_mask(
        2, 4, key_mask=valid, query_positions=queries, key_positions=positions, sliding_window=2
    )
    np.testing.assert_array_equal(view.mask(queries, sliding_window=2), expected)


def test_an_overflowing_call_writes_nothing_flags_it_and_check_raises():
    _, k, v = qkv(6)
    cache, view = PlainCache.create(B, 4, K, H).append(k[:, :3], v[:, :3], jnp.arange(3))
    cache, view = jax.jit(lambda c: c.append(k[:, 3:5], v[:, 3:5], jnp.arange(3, 5)))(cache)
    assert bool(view.overflow) and bool(cache.overflowed) and int(cache.index) == 3
    np.testing.assert_array_equal(cache.valid, [[True] * 3 + [False]] * B)
    with pytest.raises(ValueError, match="a KV cache of 4 slots overflowed"):
        cache.raise_if_overflowed()
    checked = PlainCache.create(B, 4, K, H, check=True)
    checked, _ = checked.append(k[:, :3], v[:, :3], jnp.arange(3))
    with pytest.raises(ValueError, match="KV cache is full: 3 of 4 slots used and 2 more tokens"):
        checked.append(k[:, 3:5], v[:, 3:5], jnp.arange(3, 5))


def test_caches_are_created_sharded_and_stay_sharded():
    mesh = Mesh(np.asarray(jax.devices()).reshape(2, 4)[:, :2], ("data", "model"))
    sharding = NamedSharding(mesh, P("data", None, "model"))
    cache = PlainCache.create(B, 16, K, H, sharding=sharding)
    assert cache.keys.sharding == sharding and cache.values.sharding == sharding
    assert cache.positions.sharding.is_equivalent_to(NamedSharding(mesh, P("data", None)), 2)
    assert cache.index.sharding.is_equivalent_to(NamedSharding(mesh, P()), 0)
    q, k, v = qkv(3)
    cache, _ = step(cache, q, k, v)
    assert cache.keys.sharding.is_equivalent_to(sharding, 4)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: PlainCache.create(B, 4, K, H, dtype=jnp.int32), TypeError, "dtype must be floating, got int32"),
        (lambda: PlainCache.create(0, 4, K, H), ValueError, "batch_size must be a positive int"),
        (lambda: PlainCache.create(B, 4, K, H, sinks=2), TypeError, "PlainCache takes no sinks"),
        (lambda: SinkCache.create(B, 4, K, H, sinks=4), ValueError, "needs more slots"),
        (lambda: SinkCache.create(B, 4, K, H, window=2), TypeError, "SinkCache takes sinks=, not window"),
        (lambda: PlainCache.create(B, 4, K, H, sharding=P("data")), TypeError, "must be a jax.sharding.NamedSharding"),
        (
            lambda: PlainCache.create(B, 4, K, H).append(jnp.ones((B, 2, N, H)), jnp.ones((B, 2, K, H)), jnp.arange(2)),
            ValueError,
            r"keys must have shape \[B, T, K, H\] = \(2, 2, 2, 8\)",
        ),
        (
            lambda: PlainCache.create(B, 4, K, H).append(jnp.ones((B, 5, K, H)), jnp.ones((B, 5, K, H)), jnp.arange(5)),
            ValueError,
            "5 tokens cannot fit in a cache of 4 slots",
        ),
        (
            lambda: PlainCache.create(B, 4, K, H).append(jnp.ones((B, 2, K, H)), jnp.ones((B, 2, K, H)), jnp.ones(2)),
            TypeError,
            "integer positions",
        ),
        (lambda: PlainCache.create(B, 4, K, H).token_positions(), ValueError, "pass token_mask"),
        (
            lambda: SinkCache.create(B, 8, K, H, sinks=2).token_positions(jnp.ones((B, 1))),
            ValueError,
            "no attention_mask",
        ),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
