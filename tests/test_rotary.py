"""The defining properties of RoPE, checked property-based against a float64 NumPy reference."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

import rope_jax
from tests.reference import inv_freq_float64, rope_float64

HEAD_DIMS = [2, 4, 6, 8, 16, 32, 64, 96, 128]


@st.composite
def layouts(draw):
    """(head_dim, rotary_dim, interleaved): full, half, quarter and odd-pair partial rotary, both layouts."""
    head_dim = draw(st.sampled_from(HEAD_DIMS))
    rotary_dim = draw(st.sampled_from(sorted({head_dim, max(2, head_dim // 2 // 2 * 2), 2})))
    return head_dim, rotary_dim, draw(st.booleans())


def random(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def scores(q, k):
    """Per-head scores <q_t, k_s>: [..., T, N, H] x [..., S, N, H] -> [..., N, T, S] in float64."""
    return np.einsum("...tnh,...snh->...nts", np.asarray(q, np.float64), np.asarray(k, np.float64))


@pytest.mark.slow
@given(layouts(), st.integers(0, 2**12), st.booleans(), st.integers(0, 2**31 - 1))
def test_matches_float64_reference(layout, offset, float_positions, seed):
    head_dim, rotary_dim, interleaved = layout
    x = random((2, 5, 3, head_dim), seed)
    positions = offset + np.arange(5) * 7 + (0.25 if float_positions else 0)
    positions = np.stack([positions, positions[::-1]]).astype(np.float32 if float_positions else np.int32)
    out = rope_jax.apply_rope(x, positions, theta=10000.0, interleaved=interleaved, rotary_dim=rotary_dim)
    expected = rope_float64(
        x, positions, inv_freq_float64(rotary_dim, 10000.0), interleaved=interleaved, rotary_dim=rotary_dim
    )
    # float32 angles err by ~ position * 2**-24 rad; everything else is float32 rounding.
    tolerance = (4 * (offset + 40) * 2.0**-24 + 1e-5) * np.abs(x).max()
    np.testing.assert_allclose(np.asarray(out), expected, atol=tolerance, rtol=0)


@given(layouts(), st.integers(0, 2**12), st.integers(0, 2**12), st.integers(-(2**11), 2**11), st.integers(0, 2**31 - 1))
def test_scores_depend_only_on_relative_position(layout, m, n, shift, seed):
    head_dim, rotary_dim, interleaved = layout
    m, n = m + 2**11, n + 2**11  # keep m + shift, n + shift >= 0
    q, k = random((1, 1, 2, head_dim), seed), random((1, 1, 2, head_dim), seed + 1)
    kwargs = dict(interleaved=interleaved, rotary_dim=rotary_dim)

    def score(a, b):
        return scores(rope_jax.apply_rope(q, [a], **kwargs), rope_jax.apply_rope(k, [b], **kwargs))

    scale = np.linalg.norm(q) * np.linalg.norm(k)
    tolerance = (8 * 2**13 * 2.0**-24 + 1e-6) * scale
    np.testing.assert_allclose(score(m, n), score(m + shift, n + shift), atol=tolerance, rtol=0)


@pytest.mark.slow
@given(layouts(), st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16]), st.integers(0, 2**31 - 1))
def test_position_zero_is_identity_and_norms_are_preserved(layout, dtype, seed):
    head_dim, rotary_dim, interleaved = layout
    x = jnp.asarray(random((2, 6, 2, head_dim), seed), dtype)
    kwargs = dict(interleaved=interleaved, rotary_dim=rotary_dim)
    at_zero = rope_jax.apply_rope(x, jnp.zeros((2, 6), jnp.int32), **kwargs)
    chex.assert_trees_all_equal(at_zero, x)  # cos 0 = 1, sin 0 = 0 exactly
    rotated = rope_jax.apply_rope(x, jnp.arange(12).reshape(2, 6) * 1000, **kwargs)
    chex.assert_shape(rotated, x.shape)
    chex.assert_type(rotated, dtype)
    rtol = {jnp.float32: 1e-5, jnp.bfloat16: 2e-2, jnp.float16: 2e-3}[dtype]
    np.testing.assert_allclose(
        np.linalg.norm(np.asarray(rotated, np.float32), axis=-1),
        np.linalg.norm(np.asarray(x, np.float32), axis=-1),
        rtol=rtol,
    )
    # Features past rotary_dim pass through bit for bit.
    chex.assert_trees_all_equal(rotated[..., rotary_dim:], x[..., rotary_dim:])


def test_float32_angles_lose_shift_invariance_at_16m_and_precise_angles_keep_it():
    """Known trap: positions * inv_freq in float32 errs by ~0.5 rad near 2**24; precise angles do not."""
    q, k = random((1, 1, 1, 128), 0), random((1, 1, 1, 128), 1)

    def score(a, b, precise):
        rope = rope_jax.RoPE(head_dim=128, precise_angles=precise)
        return scores(rope(q, [a]), rope(k, [b]))[..., 0, 0]

    near, far = (10, 3), (2**24 - 7, 2**24 - 14)  # both pairs 7 apart
    scale = np.linalg.norm(q) * np.linalg.norm(k)
    assert abs(score(*near, False) - score(*far, False)) > 1e-3 * scale
    assert abs(score(*near, True) - score(*far, True)) < 1e-5 * scale


def test_interleaved_and_half_split_are_permutations_of_each_other():
    x = random((2, 7, 3, 16), 3)
    positions = np.arange(14).reshape(2, 7) * 311
    to_half = dict(num_heads=1, head_dim=16)  # the last axis is one head's features
    half = rope_jax.apply_rope(rope_jax.interleaved_to_half_split(x, **to_half), positions)
    inter = rope_jax.apply_rope(x, positions, interleaved=True)
    np.testing.assert_allclose(
        np.asarray(half), rope_jax.interleaved_to_half_split(np.asarray(inter), **to_half), atol=1e-5
    )


def test_positions_broadcast_against_leading_dims():
    x = random((3, 4, 5, 2, 8), 4)  # two batch dims
    positions = np.arange(5) + 100
    out = rope_jax.apply_rope(x, positions)
    np.testing.assert_allclose(np.asarray(out), rope_float64(x, positions, inv_freq_float64(8, 1e4)), atol=1e-5)
    per_row = rope_jax.apply_rope(x, np.broadcast_to(positions, (4, 5)))
    chex.assert_trees_all_close(out, per_row)


class TestTransformations(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_rope_object_jit_and_eager_agree(self):
        rope = rope_jax.from_hf_config(
            {
                "model_type": "llama",
                "hidden_size": 256,
                "num_attention_heads": 4,
                "max_position_embeddings": 4096,
                "rope_theta": 500000.0,
                "rope_scaling": {"rope_type": "dynamic", "factor": 4.0},
            }
        )
        x = random((2, 9, 4, 64), 5)
        positions = np.arange(18).reshape(2, 9) * 1117
        out = self.variant(rope.__call__)(x, positions)
        # Under jit XLA may fuse x1 * cos - x2 * sin into an FMA: one float32 rounding apart at most.
        chex.assert_trees_all_close(out, rope(x, positions), rtol=0, atol=1e-6 * np.abs(x).max())

    def test_static_argument_and_no_retrace_per_length(self):
        traces = []

        @jax.jit
        def f(x, positions):
            traces.append(1)
            return rope(x, positions)

        rope = rope_jax.RoPE(head_dim=32, scaling=rope_jax.DynamicNTK(factor=2.0, max_position_embeddings=64))
        x = random((1, 8, 2, 32), 6)
        short, long = f(x, np.arange(8)[None]), f(x, 1000 + np.arange(8)[None])
        assert len(traces) == 1  # the length decision is traced, not a Python branch
        np.testing.assert_allclose(np.asarray(short), np.asarray(rope(x, np.arange(8)[None])), atol=1e-6)
        # A short call after a long one uses the short frequencies again: no cache that only grows.
        np.testing.assert_array_equal(np.asarray(f(x, np.arange(8)[None])), np.asarray(short))
        assert not np.allclose(np.asarray(long), np.asarray(rope_jax.RoPE(head_dim=32)(x, 1000 + np.arange(8)[None])))
        static = jax.jit(lambda r, x, p: r(x, p), static_argnums=0)
        np.testing.assert_array_equal(np.asarray(static(rope, x, np.arange(8)[None])), np.asarray(short))

    def test_vmap_matches_batched_call(self):
        x = random((4, 6, 2, 16), 7)
        positions = np.arange(24).reshape(4, 6) * 13
        vmapped = jax.vmap(lambda a, p: rope_jax.apply_rope(a, p))(x, positions)
        chex.assert_trees_all_close(vmapped, rope_jax.apply_rope(x, positions), atol=1e-6)

    def test_gradients(self):
        rope = rope_jax.RoPE(head_dim=8, rotary_dim=6, interleaved=True)
        x = random((1, 3, 2, 8), 8).astype(np.float64)
        positions = np.array([[5, 200, 4000]])
        check_grads(
            lambda a: rope(a, positions),
            (jnp.asarray(x, jnp.float32),),
            order=2,
            modes=["fwd", "rev"],
            atol=1e-2,
            rtol=1e-2,
        )
        # RoPE is a rotation: the gradient of sum(out * w) w.r.t. x is the inverse rotation of w.
        w = random((1, 3, 2, 8), 9)
        grad = jax.grad(lambda a: jnp.sum(rope(a, positions) * w))(jnp.asarray(x, jnp.float32))
        inverse = rope_jax.RoPE(head_dim=8, rotary_dim=6, interleaved=True)(w, -positions)
        chex.assert_trees_all_close(grad, inverse, atol=1e-5)

    def test_float_positions_gradient(self):
        x = jnp.asarray(random((1, 4, 1, 8), 10))
        grad = jax.grad(lambda p: jnp.sum(rope_jax.apply_rope(x, p) ** 2))(jnp.arange(4.0))
        chex.assert_tree_all_finite(grad)
        np.testing.assert_allclose(np.asarray(grad), 0.0, atol=1e-4)  # norms do not depend on position


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 5), np.float32), [[0, 1]]), ValueError, "even"),
        (lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 8), np.float32), [[0, 1]], rotary_dim=3), ValueError, "even"),
        (
            lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 8), np.float32), [[0, 1]], rotary_dim=10),
            ValueError,
            "must not exceed",
        ),
        (lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 8), np.float32), [[0, 1, 2]]), ValueError, "T = x.shape"),
        (
            lambda: rope_jax.apply_rope(np.ones((3, 2, 1, 8), np.float32), np.zeros((2, 2))),
            ValueError,
            "do not broadcast",
        ),
        (lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 8), np.int32), [[0, 1]]), TypeError, "floating-point"),
        (lambda: rope_jax.apply_rope(np.ones((2, 8), np.float32), [0, 1]), ValueError, "at least 3 dims"),
        (lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 8), np.float32), [[True, False]]), TypeError, "integers or"),
        (
            lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 8), np.float32), [[0, 1]], inv_freq=np.ones(3)),
            ValueError,
            "inv_freq must have shape",
        ),
        (
            lambda: rope_jax.apply_rope(np.ones((1, 2, 1, 8), np.float32), [[0, 1]], theta=float("nan")),
            ValueError,
            "finite",
        ),
        (lambda: rope_jax.RoPE(head_dim=7), ValueError, "even"),
        (lambda: rope_jax.RoPE(head_dim=64, theta=float("inf")), ValueError, "finite"),
        (lambda: rope_jax.RoPE(head_dim=64, theta=-1.0), ValueError, "> 0"),
        (lambda: rope_jax.RoPE(head_dim=64)(np.ones((1, 2, 1, 32), np.float32), [[0, 1]]), ValueError, "head_dim=64"),
        (
            lambda: rope_jax.RoPE(head_dim=64, rotary_dim=16, scaling=rope_jax.Proportional(0.25)),
            ValueError,
            "whole head",
        ),
        (lambda: rope_jax.RoPE(head_dim=64, scaling="yarn"), TypeError, "Scaling rule"),
    ],
)
def test_bad_input_is_reported(call, error, message):
    with pytest.raises(error, match=message):
        call()


@given(layouts(), st.booleans(), st.integers(0, 2**31 - 1))
def test_both_platform_forms_of_the_rotation_agree(layout, per_head, seed):
    """The rotation is written two ways, chosen per platform (pair axis on CPU, slices on GPU/TPU): the CPU runs
    only the first through the public API, so the second is checked here against it and the float64 reference."""
    from rope_jax import rotary

    _, rotary_dim, interleaved = layout
    pairs = rotary_dim // 2
    x = jnp.asarray(random((2, 5, 3, rotary_dim), seed))
    angles = random((2, 5, 3, pairs) if per_head else (2, 5, 1, pairs), seed + 1) * 50
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    by_pair_axis = rotary._rotate_by_pair_axis(x, cos, sin, interleaved=interleaved)
    by_slices = rotary._rotate_by_slices(x, cos, sin, interleaved=interleaved)
    chex.assert_trees_all_close(by_slices, by_pair_axis, atol=1e-6, rtol=0)
    # And against float64: pair j of each form is the 2-D rotation of pair j.
    x64, c64, s64 = (np.asarray(a, np.float64) for a in (x, cos, sin))
    first = (np.arange(pairs) * 2) if interleaved else np.arange(pairs)
    second = first + (1 if interleaved else pairs)
    expected = np.empty_like(x64)
    expected[..., first] = x64[..., first] * c64 - x64[..., second] * s64
    expected[..., second] = x64[..., second] * c64 + x64[..., first] * s64
    np.testing.assert_allclose(np.asarray(by_slices), expected, atol=1e-5, rtol=0)
