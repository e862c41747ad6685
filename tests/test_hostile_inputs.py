"""Hostile input: every public entry point gives a correct result or the documented error, naming the argument.

The contract is the README's "Errors" section. The file holds one table per entry point, read as an attacker reads
a signature (bools where ints go, NumPy scalars, 0-d and empty arrays, wrong dtypes, complex numbers, NaN/inf,
negative and zero sizes, huge values, wrong ranks); each table runs through one of three tests:

- ``refuses``: ``pytest.param(call, error class, regex on the message naming the argument)``;
- ``agrees``: ``pytest.param(call, expected)``: the result equals a float64 NumPy reference (or an exact value);
- the command line: exit code, one line on stderr, no traceback.

RoPEAttention and its KV caches have their tables here too; the config loader's hostile values are in
``tests/test_hostile_configs.py``. A new entry point adds its tables the same way.
"""

import json
import math
import re
import subprocess
import sys
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rope_jax
from rope_jax import (
    NTK,
    Default,
    DynamicNTK,
    Linear,
    Llama3,
    LongRoPE,
    Proportional,
    RoPE,
    RoPENd,
    RoPETable,
    YaRN,
)
from rope_jax.cli import main
from tests.reference import rope_float64

B, T, N, H = 2, 4, 2, 8
X = np.random.default_rng(0).standard_normal((B, T, N, H)).astype(np.float32)  # [B, T, N, H]
P = np.arange(B * T).reshape(B, T) * 97  # [B, T] positions up to 679
INV_FREQ = RoPE(head_dim=H).inv_freq  # float32 [4]
PI = Fraction("3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798")


def case(call, error, match, id):
    return pytest.param(call, error, match, id=id)


def same(call, expected, id, atol=1e-5, rtol=0.0):
    return pytest.param(call, expected, (atol, rtol), id=id)


def reference(x, positions, inv_freq=INV_FREQ, **kwargs) -> np.ndarray:
    """float64 rotation of ``x`` at ``positions`` with the library's float32 frequencies taken as exact data."""
    return rope_float64(np.asarray(x, np.float64), np.asarray(positions, np.float64), inv_freq, **kwargs)


def exact_angles(positions, inv_freq=INV_FREQ) -> np.ndarray:
    """``positions * inv_freq`` reduced to ``[-pi, pi]`` in exact rational arithmetic (the float32 frequencies and
    the positions taken as exact numbers)."""
    positions = np.asarray(positions)
    angles = np.empty((*positions.shape, len(inv_freq)))
    for index, p in np.ndenumerate(positions):
        for j, w in enumerate(np.asarray(inv_freq, np.float64)):
            turn = Fraction(p.item() if positions.dtype.kind in "iu" else float(p)) * Fraction(float(w)) / (2 * PI)
            angles[(*index, j)] = float(turn - round(turn)) * 2 * math.pi
    return angles


def exact_rotation(x, positions, inv_freq=INV_FREQ) -> np.ndarray:
    """The half-split rotation at exactly reduced angles (see :func:`exact_angles`)."""
    angles = exact_angles(positions, inv_freq)
    x = np.asarray(x, np.float64)
    cos, sin = np.cos(angles)[..., None, :], np.sin(angles)[..., None, :]
    half = len(inv_freq)
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin, x[..., 2 * half :]], axis=-1)


def check_refuses(call, error, match):
    with pytest.raises(error, match=match):
        jax.block_until_ready(call())


def check_agrees(call, expected, tolerance):
    result = call()
    expected = expected() if callable(expected) else expected
    if isinstance(expected, tuple):  # (shape, dtype)
        assert (result.shape, result.dtype) == expected
        return
    atol, rtol = tolerance
    np.testing.assert_allclose(np.asarray(result, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol)


# ============================================================================================ apply_rope

# fmt: off
APPLY_ROPE_REFUSES = [
    case(lambda: rope_jax.apply_rope(X, P, interleaved="false"), TypeError, "interleaved must be True or False, got str 'false'", "interleaved-str-false"),
    case(lambda: rope_jax.apply_rope(X, P, interleaved=1), TypeError, "interleaved must be True or False, got int 1", "interleaved-int"),
    case(lambda: rope_jax.apply_rope(X, P, interleaved=None), TypeError, "interleaved must be True or False", "interleaved-none"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling=float("nan")), ValueError, "attention_scaling must be a finite number, got nan", "scaling-nan"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling=float("inf")), ValueError, "attention_scaling must be a finite", "scaling-inf"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling=0.0), ValueError, "attention_scaling must be a finite number > 0, got 0.0", "scaling-zero"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling=-1.0), ValueError, "attention_scaling must be a finite number > 0", "scaling-negative"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling="1.0"), TypeError, "attention_scaling must be a number, got str", "scaling-str"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling=True), TypeError, "attention_scaling must be a number, got bool", "scaling-bool"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling=1 + 0j), TypeError, "attention_scaling must be a real number, got complex", "scaling-complex"),
    case(lambda: rope_jax.apply_rope(X, P, attention_scaling=1e39), ValueError, "attention_scaling must lie within float32's range", "scaling-huge"),
    case(lambda: rope_jax.apply_rope(X, P, theta=float("nan")), ValueError, "theta must be a finite number", "theta-nan"),
    case(lambda: rope_jax.apply_rope(X, P, theta=0.0), ValueError, "theta must be a finite number > 0", "theta-zero"),
    case(lambda: rope_jax.apply_rope(X, P, theta=1e39), ValueError, "theta must lie within float32's range", "theta-overflows-float32"),
    case(lambda: rope_jax.apply_rope(X, P, theta=1e-45), ValueError, "theta must be at least float32's smallest normal", "theta-underflows-float32"),
    case(lambda: rope_jax.apply_rope(X, P, theta="10000"), TypeError, "theta must be a number, got str", "theta-str"),
    case(lambda: rope_jax.apply_rope(X, P, theta=True), TypeError, "theta must be a number, got bool", "theta-bool"),
    case(lambda: rope_jax.apply_rope(X, P, theta=np.array([1e4, 1e4])), TypeError, "theta must be a real number", "theta-array"),
    case(lambda: rope_jax.apply_rope(X, P, rotary_dim=7), ValueError, "rotary_dim must be an even int >= 2", "rotary-dim-odd"),
    case(lambda: rope_jax.apply_rope(X, P, rotary_dim=16), ValueError, r"rotary_dim \(16\) must not exceed the head dim \(8\)", "rotary-dim-too-big"),
    case(lambda: rope_jax.apply_rope(X, P, rotary_dim=4.0), TypeError, "rotary_dim must be an int, got float 4.0", "rotary-dim-float"),
    case(lambda: rope_jax.apply_rope(X, P, rotary_dim=True), TypeError, "rotary_dim must be an int, got bool", "rotary-dim-bool"),
    case(lambda: rope_jax.apply_rope(X, P, rotary_dim=0), ValueError, "rotary_dim must be an even int >= 2", "rotary-dim-zero"),
    case(lambda: rope_jax.apply_rope(X, P, rotary_dim=-2), ValueError, "rotary_dim must be an even int >= 2", "rotary-dim-negative"),
    case(lambda: rope_jax.apply_rope(X, P, inv_freq=INV_FREQ[:3]), ValueError, r"inv_freq must have shape \(rotary_dim // 2,\) = \(4,\), got \(3,\)", "inv-freq-short"),
    case(lambda: rope_jax.apply_rope(X, P, inv_freq=np.array([1.0, np.nan, 0.1, 0.01])), ValueError, "inv_freq must be finite", "inv-freq-nan"),
    case(lambda: rope_jax.apply_rope(X, P, inv_freq=np.array([1.0, np.inf, 0.1, 0.01])), ValueError, "inv_freq must be finite", "inv-freq-inf"),
    case(lambda: rope_jax.apply_rope(X, P, inv_freq=INV_FREQ[None]), ValueError, "inv_freq must be 1-D, got shape", "inv-freq-2d"),
    case(lambda: rope_jax.apply_rope(X, P, inv_freq=INV_FREQ.astype(np.complex64)), TypeError, "inv_freq must hold integers or floats, got dtype complex64", "inv-freq-complex"),
    case(lambda: rope_jax.apply_rope(X, P, inv_freq=np.ones(4, bool)), TypeError, "inv_freq must hold integers or floats, got dtype bool", "inv-freq-bool"),
    case(lambda: rope_jax.apply_rope(X, P, inv_freq=jnp.ones(4, jnp.complex64)), TypeError, "inv_freq must be integers or floats, got dtype complex64", "inv-freq-jax-complex"),
    case(lambda: rope_jax.apply_rope(X, P, precise_angles="yes"), TypeError, "precise_angles must be True or False", "precise-str"),
    case(lambda: rope_jax.apply_rope(X, P, precise_angles=0), TypeError, "precise_angles must be True or False, got int 0", "precise-int"),
    case(lambda: rope_jax.apply_rope(X.astype(np.int32), P), TypeError, "x must be a floating-point array", "x-int"),
    case(lambda: rope_jax.apply_rope(X.astype(np.complex64), P), TypeError, "x must be a floating-point array .* got dtype complex64", "x-complex"),
    case(lambda: rope_jax.apply_rope(X > 0, P), TypeError, "x must be a floating-point array .* got dtype bool", "x-bool"),
    case(lambda: rope_jax.apply_rope(X[0, 0], P), ValueError, r"x must have at least 3 dims, got shape \(2, 8\)", "x-2d"),
    case(lambda: rope_jax.apply_rope(np.float32(1.0), P), ValueError, r"x must have at least 3 dims, got shape \(\)", "x-0d"),
    case(lambda: rope_jax.apply_rope("queries", P), TypeError, "x must be a floating-point array", "x-str"),
    case(lambda: rope_jax.apply_rope([[[1.0, 2.0]], [[1.0]]], [0, 1]), TypeError, "x must be an array of numbers", "x-ragged"),
    case(lambda: rope_jax.apply_rope(X, P > 3), TypeError, "positions must be integers or floats, got dtype bool", "positions-bool"),
    case(lambda: rope_jax.apply_rope(X, P.astype(np.complex64)), TypeError, "positions must be integers or floats, got dtype complex64", "positions-complex"),
    case(lambda: rope_jax.apply_rope(X, 3), ValueError, r"positions must have shape \[\.\.\., T\] with T = x.shape\[-3\] = 4, got shape \(\)", "positions-0d"),
    case(lambda: rope_jax.apply_rope(X, P[:, :3]), ValueError, r"positions must have shape \[\.\.\., T\] .* got shape \(2, 3\)", "positions-wrong-length"),
    case(lambda: rope_jax.apply_rope(X[0], np.zeros((2, 3, 4), int)), ValueError, r"positions of shape \(2, 3, 4\) has leading dims \(2, 3\), which do not broadcast to x's batch dims \(\)", "positions-more-batch-dims"),
    case(lambda: rope_jax.apply_rope(X[:1], np.zeros((4, T), int)), ValueError, r"positions of shape \(4, 4\) has leading dims \(4,\), which do not broadcast to x's batch dims \(1,\) \(x shape \(1, 4, 2, 8\)\)", "positions-batch-4-for-1"),
    case(lambda: rope_jax.apply_rope(X, np.zeros((3, T), int)), ValueError, r"leading dims \(3,\), which do not broadcast to x's batch dims \(2,\)", "positions-batch-3-for-2"),
    case(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[2**32 + 2]], np.int64)), ValueError, "positions hold values from 4294967298 .* beyond int32 .* wrap", "positions-int64-past-int32"),
    case(lambda: rope_jax.apply_rope(X[:1, :1], np.int64(2**32 + 2)[None]), ValueError, "positions hold values .* beyond int32", "positions-numpy-scalar-past-int32"),
    case(lambda: rope_jax.apply_rope(X[:1, :1], [[2**40]]), ValueError, "positions hold values from 1099511627776", "positions-python-int-past-int32"),
    case(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[2**33]], np.uint64)), ValueError, "positions hold values .* beyond uint32", "positions-uint64"),
    case(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[1e39]])), ValueError, "positions hold values from 1e\\+39 .* turn into inf", "positions-float64-overflow"),
    case(lambda: rope_jax.apply_rope(X[:1, :1], [[2**70]]), TypeError, "positions must be an array of numbers", "positions-beyond-int64"),
    case(lambda: rope_jax.apply_rope(X, "0123"), TypeError, "positions must be integers or floats, got dtype <U4", "positions-str"),
    case(lambda: rope_jax.apply_rope(X, None), TypeError, "positions must be an array of numbers", "positions-none"),
]
# fmt: on

# fmt: off
APPLY_ROPE_AGREES = [
    same(lambda: rope_jax.apply_rope(X, P.astype(np.int16)), reference(X, P), "positions-int16"),
    same(lambda: rope_jax.apply_rope(X, P.tolist()), reference(X, P), "positions-list"),
    same(lambda: rope_jax.apply_rope(X, P.astype(np.uint8)), reference(X, P.astype(np.uint8)), "positions-uint8"),
    same(lambda: rope_jax.apply_rope(X, P[:1]), reference(X, np.broadcast_to(P[:1], (B, T))), "positions-batch-1-for-2"),
    same(lambda: rope_jax.apply_rope(X, P[0]), reference(X, np.broadcast_to(P[0], (B, T))), "positions-no-batch"),
    same(lambda: rope_jax.apply_rope(X, -P), reference(X, -P), "positions-negative"),
    same(lambda: rope_jax.apply_rope(X, P + 0.5), reference(X, P + 0.5), "positions-fractional"),
    same(lambda: rope_jax.apply_rope(X, P.astype(np.float64)), reference(X, P), "positions-float64-host"),
    same(lambda: rope_jax.apply_rope(X, jnp.asarray(P, jnp.bfloat16)), reference(X, np.asarray(jnp.asarray(P, jnp.bfloat16), np.float64)), "positions-bf16"),
    same(lambda: rope_jax.apply_rope(X, P, rotary_dim=np.int64(4)), reference(X, P, INV_FREQ[:2] ** 2, rotary_dim=4), "rotary-dim-numpy-int", atol=1e-4),
    same(lambda: rope_jax.apply_rope(X, P, rotary_dim=np.array(4)), reference(X, P, INV_FREQ[:2] ** 2, rotary_dim=4), "rotary-dim-0d-array", atol=1e-4),
    same(lambda: rope_jax.apply_rope(X, P, theta=np.float32(10000.0)), reference(X, P), "theta-numpy-float32"),
    same(lambda: rope_jax.apply_rope(X, P, theta=np.array(10000.0)), reference(X, P), "theta-0d-array"),
    same(lambda: rope_jax.apply_rope(X, P, theta=10000), reference(X, P), "theta-int"),
    same(lambda: rope_jax.apply_rope(X, P, attention_scaling=np.float64(1.5)), reference(X, P, scaling=1.5), "scaling-numpy"),
    same(lambda: rope_jax.apply_rope(X, P, interleaved=np.bool_(True)), reference(X, P, interleaved=True), "interleaved-numpy-bool"),
    same(lambda: rope_jax.apply_rope(X, P, inv_freq=INV_FREQ.tolist()), reference(X, P), "inv-freq-list"),
    same(lambda: rope_jax.apply_rope(X, P, inv_freq=np.arange(4)), reference(X, P, np.arange(4.0)), "inv-freq-int"),
    same(lambda: rope_jax.apply_rope(X.astype(np.float64), P), reference(X, P), "x-float64-host"),
    same(lambda: rope_jax.apply_rope(X.tolist(), P), reference(X, P), "x-nested-list"),
    same(lambda: rope_jax.apply_rope(jnp.asarray(X, jnp.bfloat16), P), lambda: reference(np.asarray(jnp.asarray(X, jnp.bfloat16), np.float64), P), "x-bf16", atol=3e-2),
    same(lambda: rope_jax.apply_rope(X.astype(np.float16), P), reference(X.astype(np.float16), P), "x-float16", atol=1e-2),
    same(lambda: rope_jax.apply_rope(X[:, :0], P[:, :0]), ((B, 0, N, H), jnp.float32), "empty-length"),
    same(lambda: rope_jax.apply_rope(X[:0], P[:0]), ((0, T, N, H), jnp.float32), "empty-batch"),
    same(lambda: rope_jax.apply_rope(X[None], P), reference(X[None], P), "extra-batch-dim-on-x"),
    same(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[3_000_000_000]], np.uint32), precise_angles=True), exact_rotation(X[:1, :1], np.array([[3_000_000_000]], np.uint32)), "precise-uint32-past-2**31"),
    same(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[3e9]], np.float32), precise_angles=True), exact_rotation(X[:1, :1], np.array([[3e9]], np.float32)), "precise-float-3e9-not-clamped"),
    same(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[-(2**31)]], np.int32), precise_angles=True), exact_rotation(X[:1, :1], np.array([[-(2**31)]])), "precise-int32-min"),
    same(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[2.0**36 - 2**13]], np.float32), precise_angles=True), exact_rotation(X[:1, :1], np.array([[2.0**36 - 2**13]], np.float32)), "precise-float-2**36", atol=5e-6),
    same(lambda: rope_jax.apply_rope(X[:1, :1], np.array([[2**31 + 7]], np.uint32)), lambda: rope_jax.apply_rope(X[:1, :1], np.array([[2.0**31 + 7]], np.float32)), "float32-mode-uint32-past-2**31-rounds-not-wraps", atol=0),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), APPLY_ROPE_REFUSES)
def test_apply_rope_refuses(call, error, match):
    check_refuses(call, error, match)


@pytest.mark.parametrize(("call", "expected", "tolerance"), APPLY_ROPE_AGREES)
def test_apply_rope_agrees(call, expected, tolerance):
    check_agrees(call, expected, tolerance)


def test_precise_angles_with_x64_do_not_wrap_64_bit_positions():
    """int64 2**32 + 5 rotated as 5 before; every 64-bit position now reads both words."""
    with jax.enable_x64(True):
        for positions in (
            np.array([[2**32 + 5, -(2**33) - 3, 2**36 - 1]], np.int64),
            np.array([[2**32 + 5, 2**35 + 1, 7]], np.uint64),
        ):
            x = np.broadcast_to(X[:1, :1], (1, 3, N, H))
            out = rope_jax.apply_rope(x, positions, precise_angles=True)
            np.testing.assert_allclose(np.asarray(out, np.float64), exact_rotation(x, positions), atol=5e-6)
        float64_positions = np.array([[2.0**36 + 0.5, -3e9 - 0.25]])
        out = rope_jax.apply_rope(X[:1, :2], float64_positions, precise_angles=True)
        np.testing.assert_allclose(np.asarray(out, np.float64), exact_rotation(X[:1, :2], float64_positions), atol=5e-6)


def test_precise_angles_give_nan_beyond_their_float_domain():
    positions = np.array([[np.nan, np.inf, 2.0**64, 1.0]], np.float32)
    out = np.asarray(rope_jax.apply_rope(np.broadcast_to(X[:1, :1], (1, 4, N, H)), positions, precise_angles=True))
    assert np.isnan(out[0, :3]).all() and np.isfinite(out[0, 3]).all()


# ===================================================================================== rope_angles, rotate

COS = np.cos(P[..., None] * INV_FREQ).astype(np.float32)  # [B, T, P]
SIN = np.sin(P[..., None] * INV_FREQ).astype(np.float32)

# fmt: off
PRIMITIVES_REFUSES = [
    case(lambda: rope_jax.rope_angles(P, INV_FREQ, precise="true"), TypeError, "precise must be True or False", "angles-precise-str"),
    case(lambda: rope_jax.rope_angles(P > 2, INV_FREQ), TypeError, "positions must be integers or floats, got dtype bool", "angles-positions-bool"),
    case(lambda: rope_jax.rope_angles(P, INV_FREQ[None]), ValueError, "inv_freq must be 1-D", "angles-inv-freq-2d"),
    case(lambda: rope_jax.rope_angles(P, [np.nan]), ValueError, "inv_freq must be finite", "angles-inv-freq-nan"),
    case(lambda: rope_jax.rope_angles(np.array([2**33]), INV_FREQ), ValueError, "positions hold values from 8589934592", "angles-int64-past-int32"),
    case(lambda: rope_jax.rotate(X, COS, SIN, interleaved="false"), TypeError, "interleaved must be True or False", "rotate-interleaved-str"),
    case(lambda: rope_jax.rotate(X, COS, SIN, per_head=1), TypeError, "per_head must be True or False", "rotate-per-head-int"),
    case(lambda: rope_jax.rotate(X, COS, SIN[..., :3]), ValueError, r"sin must have the shape of cos \(2, 4, 4\), got \(2, 4, 3\)", "rotate-sin-shape"),
    case(lambda: rope_jax.rotate(X, COS.astype(np.int32), SIN), TypeError, "cos must be a floating-point array", "rotate-cos-int"),
    case(lambda: rope_jax.rotate(X, np.ones((B, T, 5), np.float32), np.ones((B, T, 5), np.float32)), ValueError, "cos and sin hold P = 5 pairs per position; x's head dim 8 holds 1 to 4", "rotate-too-many-pairs"),
    case(lambda: rope_jax.rotate(X, COS[:, :3], SIN[:, :3]), ValueError, r"cos and sin of shape \(2, 3, 4\) must broadcast to \[\.\.\., T, P\] = \(2, 4, 4\)", "rotate-wrong-length"),
    case(lambda: rope_jax.rotate(X[:1], COS, SIN), ValueError, r"cos and sin of shape \(2, 4, 4\) must broadcast .* without enlarging", "rotate-enlarges-batch"),
    case(lambda: rope_jax.rotate(X, COS, SIN, per_head=True), ValueError, r"\[\.\.\., T, N, P\]", "rotate-per-head-without-heads"),
    case(lambda: rope_jax.rotate(X.astype(np.int8), COS, SIN), TypeError, "x must be a floating-point array", "rotate-x-int"),
]
# fmt: on

# fmt: off
PRIMITIVES_AGREES = [
    same(lambda: rope_jax.rope_angles(P.astype(np.int16), INV_FREQ), P[..., None] * INV_FREQ.astype(np.float64), "angles-int16", atol=1e-3),
    same(lambda: rope_jax.rope_angles(np.array([3_000_000_000, 4_294_967_295], np.uint32), INV_FREQ, precise=True), exact_angles(np.array([3_000_000_000, 4_294_967_295], np.uint32)), "angles-precise-uint32", atol=1e-6),
    same(lambda: rope_jax.rope_angles(np.zeros((0,), int), INV_FREQ), ((0, 4), jnp.float32), "angles-empty"),
    same(lambda: rope_jax.rotate(X, COS, SIN), reference(X, P), "rotate-plain", atol=1e-4),
    same(lambda: rope_jax.rotate(X, COS[:1], SIN[:1]), reference(X, np.broadcast_to(P[:1], (B, T))), "rotate-broadcast-batch", atol=1e-4),
    same(lambda: rope_jax.rotate(X, COS[0], SIN[0]), reference(X, np.broadcast_to(P[0], (B, T))), "rotate-no-batch", atol=1e-4),
    same(lambda: rope_jax.rotate(X, np.broadcast_to(COS[..., None, :], (B, T, N, 4)), np.broadcast_to(SIN[..., None, :], (B, T, N, 4)), per_head=True), reference(X, P), "rotate-per-head", atol=1e-4),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), PRIMITIVES_REFUSES)
def test_primitives_refuse(call, error, match):
    check_refuses(call, error, match)


@pytest.mark.parametrize(("call", "expected", "tolerance"), PRIMITIVES_AGREES)
def test_primitives_agree(call, expected, tolerance):
    check_agrees(call, expected, tolerance)


# ================================================================================================== RoPE

ROPE = RoPE(head_dim=H)
DYNAMIC = RoPE(head_dim=H, scaling=DynamicNTK(factor=2.0, max_position_embeddings=4))
PRECISE = RoPE(head_dim=H, precise_angles=True)

# fmt: off
ROPE_REFUSES = [
    case(lambda: RoPE(128, 500000.0), TypeError, "takes 2 positional arguments but 3 were given", "hyperparameters-keyword-only"),
    case(lambda: RoPE(head_dim=64.5), TypeError, "head_dim must be an int, got float 64.5", "head-dim-fractional"),
    case(lambda: RoPE(head_dim=64.0), TypeError, "head_dim must be an int, got float 64.0", "head-dim-whole-float"),
    case(lambda: RoPE(head_dim=True), TypeError, "head_dim must be an int, got bool", "head-dim-bool"),
    case(lambda: RoPE(head_dim=0), ValueError, "head_dim must be a positive int, got 0", "head-dim-zero"),
    case(lambda: RoPE(head_dim=-8), ValueError, "head_dim must be a positive int, got -8", "head-dim-negative"),
    case(lambda: RoPE(head_dim="64"), TypeError, "head_dim must be an int, got str", "head-dim-str"),
    case(lambda: RoPE(head_dim=np.float64(64)), TypeError, "head_dim must be an int, got float64", "head-dim-numpy-float"),
    case(lambda: RoPE(head_dim=7), ValueError, "rotary_dim \\(defaulted to the head dim 7\\) must be an even int", "head-dim-odd"),
    case(lambda: RoPE(head_dim=H, theta=1e39), ValueError, "theta must lie within float32's range", "theta-1e39"),
    case(lambda: RoPE(head_dim=H, theta=float("inf")), ValueError, "theta must be a finite number", "theta-inf"),
    case(lambda: RoPE(head_dim=H, theta=-1.0), ValueError, "theta must be a finite number > 0", "theta-negative"),
    case(lambda: RoPE(head_dim=H, scaling="yarn"), TypeError, "scaling must be a rope_jax Scaling rule", "scaling-str"),
    case(lambda: RoPE(head_dim=H, scaling=YaRN), TypeError, "scaling must be a rope_jax Scaling rule", "scaling-class"),
    case(lambda: RoPE(head_dim=H, interleaved="false"), TypeError, "interleaved must be True or False, got str", "interleaved-str"),
    case(lambda: RoPE(head_dim=H, precise_angles=1), TypeError, "precise_angles must be True or False, got int", "precise-int"),
    case(lambda: RoPE(head_dim=H, rotary_dim=3), ValueError, "rotary_dim must be an even int >= 2", "rotary-dim-odd"),
    case(lambda: RoPE(head_dim=H, rotary_dim=2.0), TypeError, "rotary_dim must be an int, got float", "rotary-dim-float"),
    case(lambda: RoPE(head_dim=H, rotary_dim=4, scaling=Proportional(partial_rotary_factor=0.5)), ValueError, "rotary_dim must be None or head_dim=8", "proportional-rotary-dim"),
    case(lambda: ROPE(X[..., :4], P), ValueError, "x has head dim 4 but this RoPE was built for head_dim=8", "call-head-dim"),
    case(lambda: ROPE(X, P.astype(bool)), TypeError, "positions must be integers or floats, got dtype bool", "call-positions-bool"),
    case(lambda: ROPE(X[:1], np.zeros((4, T), int)), ValueError, r"positions of shape \(4, 4\) has leading dims \(4,\)", "call-positions-batch-4-for-1"),
    case(lambda: DYNAMIC(X, P, length=2.5), TypeError, "length must be an int, got float 2.5", "length-float"),
    case(lambda: DYNAMIC(X, P, length=0), ValueError, "length must be a positive int, got 0", "length-zero"),
    case(lambda: DYNAMIC(X, P, length=True), TypeError, "length must be an int, got bool", "length-bool"),
    case(lambda: DYNAMIC(X, P, length=jnp.arange(2)), TypeError, r"length must be an int or a 0-d integer array, got int32 shape \(2,\)", "length-vector"),
    case(lambda: DYNAMIC(X, P, length=jnp.float32(8)), TypeError, "length must be an int or a 0-d integer array, got float32", "length-jax-float"),
    case(lambda: DYNAMIC.frequencies(-1), ValueError, "length must be a positive int, got -1", "frequencies-length-negative"),
    case(lambda: ROPE.cos_sin("0123"), TypeError, "positions must be integers or floats", "cos-sin-positions-str"),
    case(lambda: ROPE.shift(X[:1], np.zeros((2, 1))), ValueError, r"delta of shape \(2, 1\) has leading dims \(2,\), which do not broadcast to x's batch dims \(1,\)", "shift-per-row-delta-batch-2-for-1"),
    case(lambda: ROPE.shift(X, np.zeros((B, 3))), ValueError, r"delta must have shape \[\.\.\., T\] with T = x.shape\[-3\] = 4", "shift-delta-wrong-length"),
    case(lambda: ROPE.shift(X, "5"), TypeError, "delta must be integers or floats, got dtype <U1", "shift-delta-str"),
    case(lambda: ROPE.shift(X, True), TypeError, "delta must be integers or floats, got dtype bool", "shift-delta-bool"),
    case(lambda: ROPE.shift(X, 1 + 1j), TypeError, "delta must be integers or floats, got dtype complex", "shift-delta-complex"),
    case(lambda: ROPE.shift(X, 2**40), ValueError, "delta hold values from 1099511627776", "shift-delta-past-int32"),
    case(lambda: DYNAMIC.shift(X, 1), ValueError, "RoPE.shift needs frequencies that do not depend on the sequence length", "shift-length-dependent"),
    case(lambda: ROPE.table(0), ValueError, "max_length must be a positive int, got 0", "table-zero"),
    case(lambda: ROPE.table(2.5), TypeError, "max_length must be an int, got float", "table-float"),
    case(lambda: ROPE.table(True), TypeError, "max_length must be an int, got bool", "table-bool"),
    case(lambda: DYNAMIC.table(8, length=0), ValueError, "length must be a positive int, got 0", "table-length-zero"),
]
# fmt: on

# fmt: off
ROPE_AGREES = [
    same(lambda: RoPE(head_dim=np.int64(H))(X, P), reference(X, P), "head-dim-numpy-int"),
    same(lambda: RoPE(head_dim=np.array(H))(X, P), reference(X, P), "head-dim-0d-array"),
    same(lambda: RoPE(head_dim=H, theta=np.float32(1e4), interleaved=np.bool_(False))(X, P), reference(X, P), "numpy-hyperparameters"),
    same(lambda: DYNAMIC(X[:, :0], P[:, :0]), ((B, 0, N, H), jnp.float32), "length-dependent-empty-sequence"),
    same(lambda: DYNAMIC(X, P % 4), reference(X, P % 4), "length-dependent-within-original"),
    same(lambda: DYNAMIC(X, P % 4, length=np.int64(4)), reference(X, P % 4), "length-numpy-int"),
    same(lambda: jax.jit(lambda x, p, n: DYNAMIC(x, p, length=n))(X, P % 4, jnp.int32(4)), reference(X, P % 4), "length-traced"),
    same(lambda: PRECISE.shift(PRECISE(X, P), np.int64(100)), exact_rotation(X, P + 100), "shift-numpy-scalar", atol=2e-5),
    same(lambda: PRECISE.shift(PRECISE(X, P), np.array([[10], [-20]])), exact_rotation(X, P + np.array([[10], [-20]])), "shift-per-row", atol=2e-5),
    same(lambda: PRECISE.shift(PRECISE(X, P), 0.5), reference(X, P + 0.5), "shift-half-position", atol=2e-5),
    same(lambda: ROPE.table(np.int64(4))(X, P % 4), reference(X, P % 4), "table-numpy-length"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), ROPE_REFUSES)
def test_rope_refuses(call, error, match):
    check_refuses(call, error, match)


@pytest.mark.parametrize(("call", "expected", "tolerance"), ROPE_AGREES)
def test_rope_agrees(call, expected, tolerance):
    check_agrees(call, expected, tolerance)


def test_numpy_hyperparameters_make_equal_hashable_objects():
    assert RoPE(head_dim=np.int64(H), theta=np.float32(1e4)) == ROPE
    assert hash(RoPE(head_dim=np.int64(H), theta=np.float32(1e4))) == hash(ROPE)
    assert YaRN(factor=np.float64(4.0), original_max_position_embeddings=np.int32(64)) == YaRN(
        factor=4.0, original_max_position_embeddings=64
    )


# ============================================================================================= RoPETable

TABLE = RoPE(head_dim=H).table(10)
TABLE_X = X[:, :1]  # [B, 1, N, H]
OUT_OF_RANGE = np.array([[3], [12]])


def run_scan():
    return jax.lax.scan(lambda carry, p: (carry, TABLE(TABLE_X[:1], p[None])), 0, OUT_OF_RANGE)[1]


# fmt: off
TABLE_REFUSES = [
    case(lambda: TABLE(TABLE_X, OUT_OF_RANGE), ValueError, r"positions must lie in \[0, 10\) for this cos/sin table, got positions from 3 to 12", "eager-past-the-end"),
    case(lambda: TABLE(TABLE_X, -OUT_OF_RANGE), ValueError, r"positions must lie in \[0, 10\) .* from -12 to -3", "eager-negative"),
    case(lambda: TABLE(TABLE_X, np.array([[2**32 + 1], [0]], np.int64)), ValueError, "positions hold values from 0 to 4294967297, beyond int32", "int64-past-int32-not-row-1"),
    case(lambda: jax.jit(lambda p: TABLE(TABLE_X, p))(OUT_OF_RANGE), jax.errors.JaxRuntimeError, r"ValueError: positions must lie in \[0, 10\)", "jit-raises-jax-runtime-error"),
    case(lambda: jax.vmap(lambda x, p: TABLE(x, p))(TABLE_X, OUT_OF_RANGE), ValueError, r"positions must lie in \[0, 10\) .* from 12 to 12", "eager-vmap-raises-value-error"),
    case(lambda: jax.grad(lambda x: TABLE(x, OUT_OF_RANGE).sum())(TABLE_X), ValueError, r"positions must lie in \[0, 10\) .* from 3 to 12", "eager-grad-raises-value-error"),
    case(run_scan, jax.errors.JaxRuntimeError, r"ValueError: positions must lie in \[0, 10\)", "scan-raises-jax-runtime-error"),
    case(lambda: TABLE(TABLE_X, OUT_OF_RANGE.astype(np.float32)), TypeError, "table lookups need integer positions; positions has dtype float32", "float-positions"),
    case(lambda: TABLE(TABLE_X[..., :4], OUT_OF_RANGE % 10), ValueError, "the table rotates 8 features but x has only 4", "short-head"),
    case(lambda: TABLE(TABLE_X, OUT_OF_RANGE % 10, check="yes"), TypeError, "check must be True or False", "check-str"),
    case(lambda: RoPETable(cos=TABLE.cos, sin=TABLE.sin, interleaved="no"), TypeError, "interleaved must be True or False, got str 'no'", "interleaved-str"),
    case(lambda: RoPETable(cos=TABLE.cos[0], sin=TABLE.sin[0])(TABLE_X, OUT_OF_RANGE % 4), ValueError, r"a table's cos and sin must both be \[L, P\], got shapes \(4,\) and \(4,\)", "rows-1d"),
    case(lambda: RoPETable(cos=TABLE.cos, sin=TABLE.sin[:5])(TABLE_X, OUT_OF_RANGE % 4), ValueError, r"got shapes \(10, 4\) and \(5, 4\)", "cos-sin-mismatch"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), TABLE_REFUSES)
def test_table_refuses(call, error, match):
    check_refuses(call, error, match)


def test_table_under_jit_raises_after_a_successful_call_too():
    lookup = jax.jit(lambda p: TABLE(TABLE_X, p))
    np.testing.assert_allclose(np.asarray(lookup(OUT_OF_RANGE % 10)), reference(TABLE_X, OUT_OF_RANGE % 10), atol=1e-5)
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"ValueError: positions must lie in \[0, 10\)"):
        jax.block_until_ready(lookup(OUT_OF_RANGE))


def test_table_without_check_gives_nan_rows_not_wrong_rows():
    out = np.asarray(jax.jit(lambda p: TABLE(TABLE_X, p, check=False))(OUT_OF_RANGE))
    assert np.isnan(out[1]).all()
    np.testing.assert_allclose(out[0], reference(TABLE_X[:1], [[3]])[0], atol=1e-5)


def test_table_of_an_empty_sequence_is_empty():
    assert TABLE(X[:, :0], P[:, :0]).shape == (B, 0, N, H)


# ========================================================================================= scaling rules

# fmt: off
RULES_REFUSES = [
    case(lambda: RoPE(head_dim=H, theta=1.0, scaling=YaRN(factor=2.0, original_max_position_embeddings=16)), ValueError, r"theta must be a finite number > 1 for YaRN", "yarn-theta-1"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=16).frequencies(8, theta=0.5), ValueError, "theta must be a finite number > 1 for YaRN", "yarn-theta-below-1"),
    case(lambda: YaRN(factor=float("nan"), original_max_position_embeddings=16), ValueError, "factor must be a finite number", "yarn-factor-nan"),
    case(lambda: YaRN(factor=0.5, original_max_position_embeddings=16), ValueError, "factor must be >= 1", "yarn-factor-below-1"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=0), ValueError, "original_max_position_embeddings must be a positive int, got 0", "yarn-original-zero"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=-1), ValueError, "original_max_position_embeddings must be a positive int, got -1", "yarn-original-negative"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=4096.0), TypeError, "original_max_position_embeddings must be an int, got float", "yarn-original-float"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=True), TypeError, "original_max_position_embeddings must be an int, got bool", "yarn-original-bool"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=16, beta_fast=-1.0), ValueError, "beta_fast must be a finite number > 0", "yarn-beta-negative"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=16, beta_fast=1.0, beta_slow=32.0), ValueError, "YaRN needs beta_fast >= beta_slow", "yarn-betas-swapped"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=16, mscale=-1.0), ValueError, "mscale must be >= 0", "yarn-mscale-negative"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=16, mscale_all_dim=float("nan")), ValueError, "mscale_all_dim must be a finite number", "yarn-mscale-nan"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=16, truncate="false"), TypeError, "truncate must be True or False", "yarn-truncate-str"),
    case(lambda: YaRN(factor=2.0, original_max_position_embeddings=16, attention_factor=0.0), ValueError, "attention_factor must be a finite number > 0", "yarn-attention-factor-zero"),
    case(lambda: YaRN.from_hf({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": -4096}, {}), ValueError, "original_max_position_embeddings must be a positive int, got -4096", "yarn-config-negative-original"),
    case(lambda: YaRN.from_hf({"rope_type": "yarn"}, {"max_position_embeddings": 32768, "original_max_position_embeddings": 0}), ValueError, "original_max_position_embeddings must be a positive int, got 0", "yarn-config-zero-original-implied-factor"),
    case(lambda: YaRN.from_hf({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048.5}, {}), TypeError, "original_max_position_embeddings must be an int, got float 2048.5", "yarn-config-fractional-original"),
    case(lambda: YaRN.from_hf({"rope_type": "yarn"}, {"max_position_embeddings": "32k", "original_max_position_embeddings": 4096}), TypeError, "max_position_embeddings must be an int, got str", "yarn-config-string-max"),
    case(lambda: YaRN.from_hf([("factor", 4.0)], {}), TypeError, "params must be a mapping", "yarn-from-hf-list"),
    case(lambda: LongRoPE(short_factor=[1.0, 1.0], long_factor=[2.0, 2.0], original_max_position_embeddings=1, factor=2.0), ValueError, r"original_max_position_embeddings must be an int >= 2 for LongRoPE's default attention factor", "longrope-original-1"),
    case(lambda: LongRoPE(short_factor=["1.0", 1.0], long_factor=[2.0, 2.0], original_max_position_embeddings=16, factor=2.0), TypeError, r"short_factor\[0\] must be a number, got str", "longrope-factor-str"),
    case(lambda: LongRoPE(short_factor=[1.0, float("nan")], long_factor=[2.0, 2.0], original_max_position_embeddings=16, factor=2.0), ValueError, r"short_factor\[1\] must be a finite number", "longrope-factor-nan"),
    case(lambda: LongRoPE(short_factor=[True, 1.0], long_factor=[2.0, 2.0], original_max_position_embeddings=16, factor=2.0), TypeError, r"short_factor\[0\] must be a number, got bool", "longrope-factor-bool"),
    case(lambda: LongRoPE(short_factor=[1.0, 1.0], long_factor=[2.0], original_max_position_embeddings=16, factor=2.0), ValueError, "long_factor must have 2 entries, got 1", "longrope-lengths-differ"),
    case(lambda: LongRoPE(short_factor="11", long_factor="22", original_max_position_embeddings=16, factor=2.0), TypeError, "short_factor must be a sequence of numbers, got str", "longrope-factor-string"),
    case(lambda: LongRoPE(short_factor=[1.0, 0.0], long_factor=[2.0, 2.0], original_max_position_embeddings=16, factor=2.0), ValueError, r"short_factor\[1\] must be a finite number > 0", "longrope-factor-zero"),
    case(lambda: LongRoPE(short_factor=[1.0, 1.0], long_factor=[2.0, 2.0], original_max_position_embeddings=16, factor=0.9), ValueError, "factor must be >= 1", "longrope-factor-below-1"),
    case(lambda: RoPE(head_dim=H, scaling=LongRoPE(short_factor=[1.0] * 3, long_factor=[2.0] * 3, original_max_position_embeddings=16, factor=2.0)), ValueError, "must have rotary_dim // 2 = 4 entries, got 3", "longrope-wrong-pair-count"),
    case(lambda: Linear(factor=float("nan")), ValueError, "factor must be a finite number", "linear-nan"),
    case(lambda: Linear(0.5), ValueError, "factor must be >= 1", "linear-below-1"),
    case(lambda: Linear("2"), TypeError, "factor must be a number, got str", "linear-str"),
    case(lambda: Linear(True), TypeError, "factor must be a number, got bool", "linear-bool"),
    case(lambda: Linear(1e39), ValueError, "factor must lie within float32's range", "linear-huge"),
    case(lambda: NTK(factor=1e30).frequencies(4, theta=1e10), ValueError, r"the NTK base theta \* factor \*\* \(d / \(d - 2\)\) must lie within float32's range", "ntk-base-overflows"),
    case(lambda: NTK(factor=2.0).frequencies(2, theta=1e4), ValueError, "rotary_dim must be an even int >= 4", "ntk-rotary-dim-2"),
    case(lambda: DynamicNTK(factor=2.0, max_position_embeddings=0), ValueError, "max_position_embeddings must be a positive int, got 0", "dynamic-max-zero"),
    case(lambda: DynamicNTK(factor=2.0, max_position_embeddings=4096.5), TypeError, "max_position_embeddings must be an int, got float", "dynamic-max-float"),
    case(lambda: DynamicNTK(factor=2.0, max_position_embeddings=16).frequencies(8, theta=1e4, length=1.5), TypeError, "length must be an int, got float", "dynamic-length-float"),
    case(lambda: DynamicNTK(factor=2.0, max_position_embeddings=16).frequencies(8, theta=1e4, length=-3), ValueError, "length must be a positive int, got -3", "dynamic-length-negative"),
    case(lambda: Llama3(factor=8.0, low_freq_factor=4.0, high_freq_factor=1.0, original_max_position_embeddings=64), ValueError, "high_freq_factor >= low_freq_factor", "llama3-bands-swapped"),
    case(lambda: Llama3(factor=8.0, low_freq_factor=0.0, high_freq_factor=4.0, original_max_position_embeddings=64), ValueError, "low_freq_factor must be a finite number > 0", "llama3-low-zero"),
    case(lambda: Llama3(factor=float("inf"), low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64), ValueError, "factor must be a finite number", "llama3-factor-inf"),
    case(lambda: Proportional(partial_rotary_factor=1.5), ValueError, r"partial_rotary_factor must lie in \[0, 1\], got 1.5", "proportional-above-1"),
    case(lambda: Proportional(partial_rotary_factor=float("nan")), ValueError, "partial_rotary_factor must be a finite number", "proportional-nan"),
    case(lambda: Proportional(partial_rotary_factor="0.5"), TypeError, "partial_rotary_factor must be a number, got str", "proportional-str"),
    case(lambda: Proportional(factor=0.5), ValueError, "factor must be >= 1", "proportional-factor-below-1"),
    case(lambda: Default().frequencies(7, theta=1e4), ValueError, "rotary_dim must be an even int >= 2", "default-odd"),
    case(lambda: Default().frequencies(8.0, theta=1e4), TypeError, "rotary_dim must be an int, got float", "default-rotary-dim-float"),
    case(lambda: Default().frequencies(8, theta=-1.0), ValueError, "theta must be a finite number > 0", "default-theta-negative"),
    case(lambda: Default().frequencies(8, theta=1e39), ValueError, "theta must lie within float32's range", "default-theta-1e39"),
]
# fmt: on

# fmt: off
RULES_AGREES = [
    same(lambda: Default().frequencies(np.int64(8), theta=np.float32(1e4))[0], 1e4 ** (-np.arange(0, 8, 2) / 8), "default-numpy-arguments", atol=1e-7),
    same(lambda: RoPE(head_dim=H, theta=1e38).inv_freq, 1e38 ** (-np.arange(0, 8, 2) / 8), "default-largest-float32-theta", atol=0, rtol=1e-6),
    same(lambda: np.asarray(YaRN(factor=4, original_max_position_embeddings=np.int64(64)).frequencies(8, theta=1e4)[0]), lambda: YaRN(factor=4.0, original_max_position_embeddings=64).frequencies(8, theta=1e4)[0], "yarn-numpy-fields", atol=0),
    same(lambda: np.asarray(LongRoPE(short_factor=np.ones(4), long_factor=(2, 2, 2, 2), original_max_position_embeddings=1, factor=2.0, attention_factor=1.2).frequencies(8, theta=1e4)[0]), 1e4 ** (-np.arange(0, 8, 2) / 8), "longrope-original-1-with-attention-factor", atol=1e-7),
    same(lambda: jax.jit(lambda n: DynamicNTK(factor=2.0, max_position_embeddings=16).frequencies(8, theta=1e4, length=n)[0])(jnp.int32(8)), 1e4 ** (-np.arange(0, 8, 2) / 8), "dynamic-traced-length", atol=1e-7),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), RULES_REFUSES)
def test_rules_refuse(call, error, match):
    check_refuses(call, error, match)


@pytest.mark.parametrize(("call", "expected", "tolerance"), RULES_AGREES)
def test_rules_agree(call, expected, tolerance):
    check_agrees(call, expected, tolerance)


# =================================================================================== N-D: objects and builders

AXIAL = RoPENd.axial(H)  # 2 axes, 2 pairs each
COORDS = np.stack([np.arange(B * T).reshape(B, T) % 3, np.arange(B * T).reshape(B, T) // 3], axis=-1)  # [B, T, 2]
RoPE_FOR_MROPE = RoPE(head_dim=H)


def axial_reference(x, coords, theta=100.0):
    """float64 axial 2-D RoPE: the first half of the pairs follows axis 0, the second axis 1 (half-split)."""
    per_axis = theta ** (-np.arange(0, H // 2, 2) / (H // 2))  # 2 pairs per axis
    angles = np.concatenate([coords[..., :1] * per_axis, coords[..., 1:] * per_axis], axis=-1)  # [..., T, P]
    x = np.asarray(x, np.float64)
    cos, sin = np.cos(angles)[..., None, :], np.sin(angles)[..., None, :]
    x1, x2 = x[..., : H // 2], x[..., H // 2 :]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


# fmt: off
ND_REFUSES = [
    case(lambda: RoPENd(H, [[np.nan, 1.0], [1.0, 1.0]]), ValueError, "freqs must be finite", "nd-nan-freqs"),
    case(lambda: RoPENd(H, [[np.inf, 1.0], [1.0, 1.0]]), ValueError, "freqs must be finite", "nd-inf-freqs"),
    case(lambda: RoPENd(H, [1.0, 1.0]), ValueError, r"freqs must be 2-D or 3-D, got shape \(2,\)", "nd-freqs-1d"),
    case(lambda: RoPENd(H, np.ones((2, 2, 2, 2))), ValueError, "freqs must be 2-D or 3-D", "nd-freqs-4d"),
    case(lambda: RoPENd(H, np.ones((2, 0))), ValueError, r"freqs must have at least one axis and one pair, got shape \(2, 0\)", "nd-freqs-empty"),
    case(lambda: RoPENd(H, [["a", "b"]]), TypeError, "freqs must hold integers or floats", "nd-freqs-str"),
    case(lambda: RoPENd(H, jnp.ones((2, 2))), TypeError, "freqs must be NumPy data or nested sequences", "nd-freqs-jax"),
    case(lambda: RoPENd(H, np.ones((2, 8))), ValueError, "freqs rotate 16 features but head_dim is 8", "nd-too-many-pairs"),
    case(lambda: RoPENd(H, np.ones((2, 2)), True), TypeError, "takes 3 positional arguments", "nd-keyword-only"),
    case(lambda: RoPENd(H, np.ones((2, 2)), interleaved="false"), TypeError, "interleaved must be True or False", "nd-interleaved-str"),
    case(lambda: RoPENd(H, np.ones((2, 2)), attention_scaling=float("nan")), ValueError, "attention_scaling must be a finite number", "nd-scaling-nan"),
    case(lambda: RoPENd(H, np.ones((2, 2)), precise_angles=1), TypeError, "precise_angles must be True or False", "nd-precise-int"),
    case(lambda: RoPENd(H, np.ones((2, 2)), name=3), TypeError, "name must be a str, got int", "nd-name-int"),
    case(lambda: RoPENd(8.0, np.ones((2, 2))), TypeError, "head_dim must be an int, got float", "nd-head-dim-float"),
    case(lambda: RoPENd.axial(8.0), TypeError, "head_dim must be an int, got float", "axial-head-dim-float"),
    case(lambda: RoPENd.axial(H, 0), ValueError, "num_axes must be a positive int, got 0", "axial-zero-axes"),
    case(lambda: RoPENd.axial(H, 3, rotary_dim=H), ValueError, "4 is not divisible by 3", "axial-indivisible"),
    case(lambda: RoPENd.axial(H, theta=float("nan")), ValueError, "theta must be a finite number", "axial-theta-nan"),
    case(lambda: RoPENd.axial(H, True), TypeError, "num_axes must be an int, got bool", "axial-axes-bool"),
    case(lambda: RoPENd.mrope("rope", [2, 1, 1]), TypeError, "rope must be a rope_jax.RoPE, got str", "mrope-rope-str"),
    case(lambda: RoPENd.mrope(RoPE_FOR_MROPE, [2, 1.5, 0.5]), TypeError, r"sections\[1\] must be an int, got float", "mrope-fractional-section"),
    case(lambda: RoPENd.mrope(RoPE_FOR_MROPE, [3, -1, 2]), ValueError, r"sections\[1\] must be an int >= 0, got -1", "mrope-negative-section"),
    case(lambda: RoPENd.mrope(RoPE_FOR_MROPE, [2, 1, 2]), ValueError, "must be non-negative and sum to the number of pairs 4", "mrope-wrong-sum"),
    case(lambda: RoPENd.mrope(RoPE_FOR_MROPE, "211"), TypeError, "sections must be a sequence of ints, got str", "mrope-sections-str"),
    case(lambda: RoPENd.mrope(RoPE_FOR_MROPE, [2, 1, 1], interleaved_axes="yes"), TypeError, "interleaved_axes must be True or False", "mrope-interleaved-str"),
    case(lambda: RoPENd.axial(H)(X[:1, :3], np.zeros((1, 3, 3))), ValueError, r"coords of shape \(1, 3, 3\) fit neither \[\.\.\., T, A\] coordinates with T = x.shape\[-3\] = 3 and A = 2 axes", "nd-axis-count-equals-length"),
    case(lambda: AXIAL(X, COORDS > 2), TypeError, "coords must be integers or floats, got dtype bool", "nd-coords-bool"),
    case(lambda: AXIAL(X[:1], np.zeros((4, T, 2))), ValueError, r"coords of shape \(4, 4, 2\) has leading dims \(4,\)", "nd-coords-more-batch"),
    case(lambda: AXIAL(X, np.zeros((B, T, 5))), ValueError, "fit neither", "nd-coords-five-axes"),
    case(lambda: rope_jax.apply_rope_nd(X, np.float32(1.0)), ValueError, r"coords must have at least 2 dims, got shape \(\)", "apply-nd-coords-0d"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS.astype(np.complex64)), TypeError, "coords must be integers or floats, got dtype complex64", "apply-nd-coords-complex"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, freqs=[[np.nan, 1.0], [1.0, 1.0]]), ValueError, "freqs must be finite", "apply-nd-freqs-nan"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, freqs=np.ones((1, 1, 2, 2))), ValueError, "freqs must be 2-D or 3-D", "apply-nd-freqs-4d"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, attention_scaling=float("nan")), ValueError, "attention_scaling must be a finite number", "apply-nd-scaling-nan"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, interleaved="x"), TypeError, "interleaved must be True or False", "apply-nd-interleaved-str"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, theta=0.0), ValueError, "theta must be a finite number > 0", "apply-nd-theta-zero"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, precise_angles="no"), TypeError, "precise_angles must be True or False", "apply-nd-precise-str"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, freqs=np.ones((2, 2)), rotary_dim=8), ValueError, "rotary_dim 8 disagrees with freqs of 2 pairs", "apply-nd-rotary-dim-mismatch"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS, freqs=np.ones((3, 2, 2))), ValueError, "per-head freqs have 3 heads but x has 2", "apply-nd-head-mismatch"),
    case(lambda: rope_jax.apply_rope_nd(X.astype(np.int32), COORDS), TypeError, "x must be a floating-point array", "apply-nd-x-int"),
    case(lambda: rope_jax.apply_rope_nd(X, COORDS[:, :3]), ValueError, r"coords must have shape \[\.\.\., T, A\] with T = x.shape\[-3\] = 4", "apply-nd-wrong-length"),
    case(lambda: rope_jax.nd_angles(COORDS, np.ones((3, 2))), ValueError, r"coords must have shape \[\.\.\., T, A\] with A = 3 axes", "nd-angles-axes-mismatch"),
    case(lambda: rope_jax.nd_angles(COORDS, np.ones(2)), ValueError, "freqs must be 2-D or 3-D", "nd-angles-freqs-1d"),
    case(lambda: rope_jax.nd_angles(COORDS, np.ones((2, 2)), precise="no"), TypeError, "precise must be True or False", "nd-angles-precise-str"),
    case(lambda: rope_jax.axial_frequencies(8, 3), ValueError, "not divisible by 3", "axial-frequencies-indivisible"),
    case(lambda: rope_jax.axial_frequencies(8, num_axes=True), TypeError, "num_axes must be an int, got bool", "axial-frequencies-bool"),
    case(lambda: rope_jax.axial_frequencies(8, theta=float("nan")), ValueError, "theta must be a finite number", "axial-frequencies-theta-nan"),
    case(lambda: rope_jax.mrope_frequencies([1.0, np.nan, 0.1, 0.01], [2, 1, 1]), ValueError, "inv_freq must be finite", "mrope-frequencies-nan"),
    case(lambda: rope_jax.mrope_frequencies(INV_FREQ, [2.0, 1, 1]), TypeError, r"sections\[0\] must be an int, got float", "mrope-frequencies-float-section"),
    case(lambda: rope_jax.mrope_frequencies(INV_FREQ, [2, 1, 1], interleaved="yes"), TypeError, "interleaved must be True or False", "mrope-frequencies-interleaved-str"),
    case(lambda: rope_jax.mrope_frequencies(INV_FREQ, [2, 2], interleaved=True), ValueError, "interleaved M-RoPE has exactly 3 sections", "mrope-frequencies-two-interleaved"),
    case(lambda: rope_jax.mixed_frequencies(0, 2, 8), TypeError, "key must be a JAX PRNG key such as jax.random.key\\(0\\), got int", "mixed-int-key"),
    case(lambda: rope_jax.mixed_frequencies(jax.random.key(0), 2, 8, theta=-1.0), ValueError, "theta must be a finite number > 0", "mixed-theta-negative"),
    case(lambda: rope_jax.mixed_frequencies(jax.random.key(0), 0, 8), ValueError, "num_heads must be a positive int, got 0", "mixed-zero-heads"),
    case(lambda: rope_jax.mixed_frequencies(jax.random.key(0), 2, 6), ValueError, "RoPE-Mixed needs an even number of pairs", "mixed-odd-pairs"),
]
# fmt: on

# fmt: off
ND_AGREES = [
    same(lambda: AXIAL(X, COORDS), axial_reference(X, COORDS), "axial"),
    same(lambda: AXIAL(X, COORDS.astype(np.int16)), axial_reference(X, COORDS), "axial-int16-coords"),
    same(lambda: AXIAL(X, COORDS[:1]), axial_reference(X, np.broadcast_to(COORDS[:1], COORDS.shape)), "axial-broadcast-batch"),
    same(lambda: rope_jax.apply_rope_nd(X, COORDS), axial_reference(X, COORDS), "apply-nd-default-axial"),
    same(lambda: jax.jit(lambda f: rope_jax.apply_rope_nd(X, COORDS, freqs=f))(jnp.asarray(AXIAL.frequency_matrix)), axial_reference(X, COORDS), "apply-nd-traced-freqs"),
    same(lambda: rope_jax.apply_rope_nd(X[:, :0], COORDS[:, :0]), ((B, 0, N, H), jnp.float32), "apply-nd-empty"),
    same(lambda: RoPENd.mrope(RoPE_FOR_MROPE, [2, 1, 1])(X, P), reference(X, P), "mrope-text-equals-1d"),
    same(lambda: RoPENd.mrope(RoPE_FOR_MROPE, np.array([2, 1, 1]))(X, P), reference(X, P), "mrope-numpy-sections"),
    same(lambda: rope_jax.nd_angles(COORDS, AXIAL.frequency_matrix), (COORDS @ AXIAL.frequency_matrix.astype(np.float64)), "nd-angles", atol=1e-5),
    same(lambda: rope_jax.mixed_frequencies(jax.random.key(0), 2, 8, num_axes=3), ((2, 3, 4), jnp.float32), "mixed-three-axes"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), ND_REFUSES)
def test_nd_refuses(call, error, match):
    check_refuses(call, error, match)


@pytest.mark.parametrize(("call", "expected", "tolerance"), ND_AGREES)
def test_nd_agrees(call, expected, tolerance):
    check_agrees(call, expected, tolerance)


# ================================================================================= coordinate and mask builders

# fmt: off
BUILDERS_REFUSES = [
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution="interpolate", train_grid=(0, 4)), ValueError, r"train_grid\[0\] must be a positive int, got 0", "grid-train-zero-row"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution="interpolate", train_grid=(14,)), ValueError, r"train_grid must have 2 entries, got 1: \[14\]", "grid-train-one-entry"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution="interpolate", train_grid=(14.5, 14)), TypeError, r"train_grid\[0\] must be an int, got float", "grid-train-float"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution="interpolate", train_grid="14"), TypeError, "train_grid must be a sequence of 2 ints, got str", "grid-train-str"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution="interpolate", train_grid=(-14, 14)), ValueError, r"train_grid\[0\] must be a positive int", "grid-train-negative"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution="interpolate"), ValueError, "resolution='interpolate' needs train_grid", "grid-interpolate-without-train-grid"),
    case(lambda: rope_jax.patch_grid_coords(0, 4), ValueError, "height must be a positive int, got 0", "grid-height-zero"),
    case(lambda: rope_jax.patch_grid_coords(2.5, 4), TypeError, "height must be an int, got float", "grid-height-float"),
    case(lambda: rope_jax.patch_grid_coords(4, True), TypeError, "width must be an int, got bool", "grid-width-bool"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, num_prefix_tokens=-1), ValueError, "num_prefix_tokens must be an int >= 0, got -1", "grid-prefix-negative"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution="bilinear"), ValueError, "resolution must be one of 'extrapolate', 'interpolate' or 'scale'; got 'bilinear'", "grid-resolution-unknown"),
    case(lambda: rope_jax.patch_grid_coords(4, 4, resolution=None), TypeError, "resolution must be one of .* \\(a str\\); got NoneType", "grid-resolution-none"),
    case(lambda: rope_jax.mrope_positions([("text", -3)]), ValueError, r"segments\[0\] token count must be an int >= 0, got -3", "mrope-negative-count"),
    case(lambda: rope_jax.mrope_positions([("text", 2.7)]), TypeError, r"segments\[0\] token count must be an int, got float 2.7", "mrope-fractional-count"),
    case(lambda: rope_jax.mrope_positions([("text", True)]), TypeError, r"segments\[0\] token count must be an int, got bool", "mrope-bool-count"),
    case(lambda: rope_jax.mrope_positions([("text", 2), ("audio", 3)]), ValueError, r"segments\[1\] kind must be one of 'text', 'image' or 'video'; got 'audio'", "mrope-unknown-kind"),
    case(lambda: rope_jax.mrope_positions([("image", (1, 28))]), ValueError, r"segments\[0\] grid \(t, h, w\) must have 3 entries", "mrope-grid-two-entries"),
    case(lambda: rope_jax.mrope_positions([("image", (1, 27, 28))]), ValueError, r"image grid \(1, 27, 28\) is not divisible by spatial_merge_size 2", "mrope-grid-indivisible"),
    case(lambda: rope_jax.mrope_positions([("video", (0, 28, 28))]), ValueError, r"segments\[0\] grid \(t, h, w\)\[0\] must be a positive int, got 0", "mrope-grid-zero-frames"),
    case(lambda: rope_jax.mrope_positions([("image", (1.0, 28, 28))]), TypeError, r"grid \(t, h, w\)\[0\] must be an int, got float", "mrope-grid-float"),
    case(lambda: rope_jax.mrope_positions([("text",)]), ValueError, r"segments\[0\] must have 2 entries, got 1", "mrope-segment-one-entry"),
    case(lambda: rope_jax.mrope_positions([("text", 3, 4)]), ValueError, r"segments\[0\] must have 2 entries, got 3", "mrope-segment-three-entries"),
    case(lambda: rope_jax.mrope_positions("text"), TypeError, r"segments must be a sequence of \(kind, value\) pairs, got str 'text'", "mrope-segments-str"),
    case(lambda: rope_jax.mrope_positions({("text", 3)}), TypeError, "segments must be a sequence of \\(kind, value\\) pairs, got set", "mrope-segments-set"),
    case(lambda: rope_jax.mrope_positions([(3, "text")]), TypeError, r"segments\[0\] kind must be one of .* \(a str\); got int", "mrope-kind-int"),
    case(lambda: rope_jax.mrope_positions([("text", 3)], spatial_merge_size=0), ValueError, "spatial_merge_size must be a positive int, got 0", "mrope-merge-zero"),
    case(lambda: rope_jax.mrope_positions([("text", 3)], spatial_merge_size=2.0), TypeError, "spatial_merge_size must be an int, got float", "mrope-merge-float"),
    case(lambda: rope_jax.video_coords(0, 2, 2), ValueError, "frames must be a positive int, got 0", "video-zero-frames"),
    case(lambda: rope_jax.video_coords(2.0, 2, 2), TypeError, "frames must be an int, got float", "video-float-frames"),
    case(lambda: rope_jax.positions_from_mask(np.ones((2, 3), np.complex64)), TypeError, "mask must be bools, integers or floats, got dtype complex64", "mask-complex"),
    case(lambda: rope_jax.positions_from_mask(np.int32(1)), ValueError, r"mask must have at least 1 dim \[\.\.\., T\], got shape \(\)", "mask-0d"),
    case(lambda: rope_jax.positions_from_mask("1110"), TypeError, "mask must be bools, integers or floats, got dtype <U4", "mask-str"),
    case(lambda: rope_jax.positions_from_segments(np.ones((2, 3), np.float32)), TypeError, "segment_ids must be integers, got dtype float32", "segments-float"),
    case(lambda: rope_jax.positions_from_segments(np.int32(1)), ValueError, "segment_ids must have at least 1 dims", "segments-0d"),
    case(lambda: rope_jax.attention_mask(-1, 4), ValueError, "query_length must be an int >= 0, got -1", "mask-query-length-negative"),
    case(lambda: rope_jax.attention_mask(2.0, 4), TypeError, "query_length must be an int, got float", "mask-query-length-float"),
    case(lambda: rope_jax.attention_mask(4, 4, causal="yes"), TypeError, "causal must be True or False", "mask-causal-str"),
    case(lambda: rope_jax.attention_mask(4, 4, sliding_window=0), ValueError, "sliding_window must be a positive int, got 0", "mask-window-zero"),
    case(lambda: rope_jax.attention_mask(4, 4, causal=False, sliding_window=2), ValueError, "sliding_window restricts a query to its last keys; it needs causal=True", "mask-window-without-causal"),
    case(lambda: rope_jax.attention_mask(4, 4, query_segments=np.ones((1, 4), int)), ValueError, "query_segments and key_segments come together", "mask-segments-unpaired"),
    case(lambda: rope_jax.attention_mask(4, 4, key_mask=np.ones((1, 5), bool)), ValueError, r"key_mask must have shape \[B, S\] with S = 4, got \(1, 5\)", "mask-key-mask-length"),
    case(lambda: rope_jax.attention_mask(4, 4, query_offset=1.5), TypeError, "query_offset must be integers, got dtype float", "mask-offset-float"),
    case(lambda: rope_jax.attention_mask(4, 4, query_offset=np.zeros((2, 2), int)), ValueError, r"query_offset must be a scalar or \[B\], got shape \(2, 2\)", "mask-offset-2d"),
    case(lambda: rope_jax.attention_mask(4, 4, query_segments=np.ones((1, 3), int), key_segments=np.ones((1, 4), int)), ValueError, r"query_segments must be \[B, T\] with T = 4", "mask-segments-length"),
]
# fmt: on

# fmt: off
BUILDERS_AGREES = [
    same(lambda: rope_jax.patch_grid_coords(2, 2, train_grid=(np.int64(4), np.int64(4)), resolution="interpolate"), [[0, 0], [0, 2], [2, 0], [2, 2]], "grid-interpolate-numpy-train-grid", atol=0),
    same(lambda: rope_jax.patch_grid_coords(np.int64(1), 2, num_prefix_tokens=np.int32(1)), [[0, 0], [0, 0], [0, 1]], "grid-numpy-sizes", atol=0),
    same(lambda: rope_jax.mrope_positions([]), ((0, 3), np.int32), "mrope-empty"),
    same(lambda: rope_jax.mrope_positions([("text", 0)]), ((0, 3), np.int32), "mrope-zero-tokens"),
    same(lambda: rope_jax.mrope_positions([("text", np.int64(2)), ("image", np.array([1, 4, 2])), ("text", 1)]), [[0, 0, 0], [1, 1, 1], [2, 2, 2], [2, 3, 2], [4, 4, 4]], "mrope-numpy-values", atol=0),
    same(lambda: rope_jax.video_coords(np.int64(2), 1, 2), [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1]], "video-numpy-frames", atol=0),
    same(lambda: rope_jax.positions_from_mask(np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])), [[0, 0, 1], [0, 1, 2]], "mask-float", atol=0),
    same(lambda: rope_jax.positions_from_mask(np.array([[0, 2, 1]])), [[0, 0, 1]], "mask-non-zero-is-real", atol=0),
    same(lambda: rope_jax.positions_from_mask(np.ones((1, 0), bool)), ((1, 0), jnp.int32), "mask-empty", atol=0),
    same(lambda: rope_jax.positions_from_segments([[1, 1, 2, 2, 2]]), [[0, 1, 0, 1, 2]], "segments-list", atol=0),
    same(lambda: rope_jax.attention_mask(np.int64(3), 3)[0, 0], np.tril(np.ones((3, 3))), "mask-numpy-length", atol=0),
    same(lambda: rope_jax.attention_mask(1, 3, query_offset=np.array([0, 2]))[:, 0, 0], [[1, 0, 0], [1, 1, 1]], "mask-offset-per-row", atol=0),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), BUILDERS_REFUSES)
def test_builders_refuse(call, error, match):
    check_refuses(call, error, match)


@pytest.mark.parametrize(("call", "expected", "tolerance"), BUILDERS_AGREES)
def test_builders_agree(call, expected, tolerance):
    check_agrees(call, expected, tolerance)


# ================================================================================= weight permutation helpers

HEADS, HEAD = 2, 6
SQUARE = np.random.default_rng(1).standard_normal((HEADS * HEAD, HEADS * HEAD)).astype(np.float32)  # [out, in]
GQA_K = np.random.default_rng(2).standard_normal((HEAD, HEADS * HEAD)).astype(np.float32)  # k_proj [1 * 6, in 12]


def to_half_split_rows(weight, heads, head_dim, rotary_dim=None):
    """Reference: output row j of each head takes interleaved row order (0, 2, ..., 1, 3, ...), the rest kept."""
    rotary_dim = head_dim if rotary_dim is None else rotary_dim
    order = np.concatenate([np.arange(0, rotary_dim, 2), np.arange(1, rotary_dim, 2), np.arange(rotary_dim, head_dim)])
    return weight[np.concatenate([h * head_dim + order for h in range(heads)])]


# fmt: off
PERMUTE_REFUSES = [
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD), ValueError, r"axes \[0, 1\] .* ambiguous; pass it: axis=0 for a PyTorch weight \[out, in\]", "square-pytorch-weight-default-axis"),
    case(lambda: rope_jax.half_split_to_interleaved(SQUARE, num_heads=HEADS, head_dim=HEAD), ValueError, "ambiguous", "inverse-square-default-axis"),
    case(lambda: rope_jax.interleaved_to_half_split(GQA_K, num_heads=1, head_dim=HEAD), ValueError, r"the last axis of the weight \(shape \(6, 12\)\) has size 12, expected num_heads \* head_dim = 1 \* 6 = 6; axis 0 has that size", "gqa-pytorch-weight-default-axis"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD, axis=2), ValueError, r"axis 2 is out of range for a weight of shape \(12, 12\)", "axis-out-of-range"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD, axis=0.0), TypeError, "axis must be an int, got float", "axis-float"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD, axis=True), TypeError, "axis must be an int, got bool", "axis-bool"),
    case(lambda: rope_jax.interleaved_to_half_split(GQA_K, num_heads=2, head_dim=HEAD, axis=0), ValueError, r"axis 0 of the weight has size 6, expected num_heads \* head_dim = 2 \* 6 = 12", "axis-wrong-size"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=0, head_dim=HEAD, axis=0), ValueError, "num_heads must be a positive int, got 0", "heads-zero"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=2.0, head_dim=HEAD, axis=0), TypeError, "num_heads must be an int, got float", "heads-float"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD, rotary_dim=3, axis=0), ValueError, "rotary_dim must be an even int >= 2", "rotary-dim-odd"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD, rotary_dim=8, axis=0), ValueError, r"rotary_dim \(8\) must not exceed the head dim \(6\)", "rotary-dim-too-big"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE.astype(np.int32), num_heads=HEADS, head_dim=HEAD, axis=0), TypeError, "weight must be a floating-point array, got dtype int32", "weight-int"),
    case(lambda: rope_jax.interleaved_to_half_split(SQUARE.astype(np.complex64), num_heads=HEADS, head_dim=HEAD, axis=0), TypeError, "weight must be a floating-point array, got dtype complex64", "weight-complex"),
    case(lambda: rope_jax.interleaved_to_half_split(np.float32(1.0), num_heads=1, head_dim=2), ValueError, r"the last axis of the weight \(shape \(\)\)", "weight-0d"),
    case(lambda: rope_jax.interleaved_to_half_split("weights", num_heads=1, head_dim=2), TypeError, "weight must be a floating-point array", "weight-str"),
]
# fmt: on

# fmt: off
PERMUTE_AGREES = [
    same(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD, axis=0), to_half_split_rows(SQUARE, HEADS, HEAD), "square-axis-0", atol=0),
    same(lambda: rope_jax.interleaved_to_half_split(SQUARE.T, num_heads=HEADS, head_dim=HEAD, axis=-1), to_half_split_rows(SQUARE, HEADS, HEAD).T, "flax-kernel-axis-last", atol=0),
    same(lambda: rope_jax.interleaved_to_half_split(GQA_K, num_heads=1, head_dim=HEAD, axis=np.int64(0)), to_half_split_rows(GQA_K, 1, HEAD), "gqa-axis-numpy-int", atol=0),
    same(lambda: rope_jax.interleaved_to_half_split(GQA_K.T, num_heads=1, head_dim=HEAD), to_half_split_rows(GQA_K, 1, HEAD).T, "unambiguous-default-axis", atol=0),
    same(lambda: rope_jax.interleaved_to_half_split(SQUARE[:, 0], num_heads=HEADS, head_dim=HEAD), to_half_split_rows(SQUARE[:, 0], HEADS, HEAD), "bias", atol=0),
    same(lambda: rope_jax.interleaved_to_half_split(SQUARE, num_heads=HEADS, head_dim=HEAD, rotary_dim=4, axis=0), to_half_split_rows(SQUARE, HEADS, HEAD, 4), "partial-rotary", atol=0),
    same(lambda: rope_jax.half_split_to_interleaved(to_half_split_rows(SQUARE, HEADS, HEAD), num_heads=HEADS, head_dim=HEAD, axis=0), SQUARE, "inverse", atol=0),
    same(lambda: rope_jax.interleaved_to_half_split(jnp.asarray(SQUARE, jnp.bfloat16), num_heads=HEADS, head_dim=HEAD, axis=0), to_half_split_rows(np.asarray(jnp.asarray(SQUARE, jnp.bfloat16), np.float32), HEADS, HEAD), "jax-bf16", atol=0),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), PERMUTE_REFUSES)
def test_permutation_refuses(call, error, match):
    check_refuses(call, error, match)


@pytest.mark.parametrize(("call", "expected", "tolerance"), PERMUTE_AGREES)
def test_permutation_agrees(call, expected, tolerance):
    check_agrees(call, expected, tolerance)


def test_the_axis_named_for_meta_weights_gives_hugging_faces_scores():
    """Meta's interleaved q/k weights [out, in] permuted with axis=0 score as the interleaved RoPE does."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, HEADS * HEAD)).astype(np.float32)
    positions = np.arange(6)[None] * 1000

    def scores(w_q, w_k, interleaved):
        q = (x @ w_q.T).reshape(1, 6, HEADS, HEAD)
        k = (x @ w_k.T).reshape(1, 6, HEADS, HEAD)
        q, k = (rope_jax.apply_rope(a, positions, interleaved=interleaved) for a in (q, k))
        return np.asarray(jnp.einsum("btnh,bsnh->bnts", q, k))

    w_k = rng.standard_normal(SQUARE.shape).astype(np.float32)
    permute = lambda w: rope_jax.interleaved_to_half_split(w, num_heads=HEADS, head_dim=HEAD, axis=0)  # noqa: E731
    meta = scores(SQUARE, w_k, interleaved=True)
    np.testing.assert_allclose(scores(permute(SQUARE), permute(w_k), interleaved=False), meta, atol=1e-4)


# ========================================================================================== command line


def cli(argv, capsys):
    """Exit code, stdout and stderr of ``rope-jax argv`` run in this process."""
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def config_file(tmp_path, content, name="config.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


# ---------------------------------------------------------------------------- RoPEAttention and its caches


def attention(**kwargs):
    from flax import nnx

    from rope_jax.nn import RoPEAttention

    settings = dict(head_dim=H, num_kv_heads=1, rope=RoPE(head_dim=H), rngs=nnx.Rngs(0))
    return RoPEAttention(N, 16, **{**settings, **kwargs})


def decoding(**cache):
    attn = attention()
    attn.init_cache(B, 6, **cache)
    return attn


XA = np.random.default_rng(1).standard_normal((B, T, 16)).astype(np.float32)  # [B, T, D]

# fmt: off
ATTENTION_REFUSES = [
    case(lambda: attention(rope="llama"), TypeError, "rope must be a PositionalRotation .* got str 'llama'", "attn-rope-str"),
    case(lambda: attention(rope=RoPE), TypeError, "rope must be a PositionalRotation", "attn-rope-class-not-instance"),
    case(lambda: attention(num_kv_heads=3), ValueError, r"num_kv_heads \(3\) must divide num_heads \(2\)", "attn-kv-heads-not-dividing"),
    case(lambda: attention(num_kv_heads=0), ValueError, "num_kv_heads must be a positive int, got 0", "attn-kv-heads-zero"),
    case(lambda: attention(head_dim=4), ValueError, "head_dim 4 does not match the RoPE's head_dim 8", "attn-head-dim-vs-rope"),
    case(lambda: attention(use_bias="yes"), TypeError, "use_bias must be True or False, got str 'yes'", "attn-use-bias-str"),
    case(lambda: attention(qk_norm=1), TypeError, "qk_norm must be True or False, got int 1", "attn-qk-norm-int"),
    case(lambda: attention(sliding_window=0), ValueError, "sliding_window must be a positive int, got 0", "attn-window-zero"),
    case(lambda: attention(sliding_window=2.0), TypeError, "sliding_window must be an int, got float 2.0", "attn-window-float"),
    case(lambda: attention(softmax_scale=float("nan")), ValueError, "softmax_scale must be a finite number, got nan", "attn-scale-nan"),
    case(lambda: attention(softmax_scale=-1.0), ValueError, "softmax_scale must be a finite number > 0, got -1.0", "attn-scale-negative"),
    case(lambda: attention(implementation="flash"), ValueError, "implementation must be one of None, 'xla' or 'cudnn'; got 'flash'", "attn-implementation"),
    case(lambda: attention(attention_fn="ring"), TypeError, "attention_fn must be a callable or None, got str 'ring'", "attn-fn-str"),
    case(lambda: attention(kernel_init=0.02), TypeError, "kernel_init must be a callable or None, got float 0.02", "attn-kernel-init-float"),
    case(lambda: attention(out_bias_init="zeros"), TypeError, "out_bias_init must be a callable or None", "attn-out-bias-init-str"),
    case(lambda: attention(dtype=np.int32), TypeError, "dtype must be a floating-point dtype .* got int32", "attn-dtype-int"),
    case(lambda: attention(param_dtype="int8"), TypeError, "param_dtype must be a floating-point dtype .* got int8", "attn-param-dtype-int"),
    case(lambda: attention()(XA.astype(np.int32)), TypeError, r"x must be floating-point activations \[B, T, 16\], got dtype int32", "attn-x-int-token-ids"),
    case(lambda: attention()(XA[0]), ValueError, r"x must have shape \[B, T, 16\], got \(4, 16\)", "attn-x-2d"),
    case(lambda: attention()(XA[..., :8]), ValueError, r"x must have shape \[B, T, 16\], got \(2, 4, 8\)", "attn-x-wrong-width"),
    case(lambda: attention()(XA, np.arange(5)), ValueError, r"positions must be .* T = 4, got \(5,\)", "attn-positions-wrong-length"),
    case(lambda: attention()(XA, np.zeros((3, T), np.int32)), ValueError, r"positions must be .* B = 2 \(or 1\) .* got \(3, 4\)", "attn-positions-wrong-batch"),
    case(lambda: attention()(XA, np.zeros((B, T, 2, 2), np.int32)), ValueError, "positions must be", "attn-positions-rank-4"),
    case(lambda: attention()(XA, P > 1), TypeError, "positions must be integers or floats, got dtype bool", "attn-positions-bool"),
    case(lambda: attention()(XA, attention_mask=np.ones((B, T + 1))), ValueError, r"attention_mask must have shape \[B, T\] = \(2, 4\)", "attn-mask-shape"),
    case(lambda: attention()(XA, segment_ids=np.ones((B, T)) * 1.5), TypeError, "segment_ids must be integers, got dtype float", "attn-segments-float"),
    case(lambda: attention()(XA, causal="yes"), TypeError, "causal must be True or False, got str 'yes'", "attn-causal-str"),
    case(lambda: attention()(XA, decode="no"), TypeError, "decode must be True or False, got str 'no'", "attn-decode-str"),
    case(lambda: attention()(XA, decode=True), ValueError, r"decode=True needs a KV cache: call init_cache", "attn-decode-without-cache"),
    case(lambda: attention().reset_cache(), ValueError, "reset_cache needs a KV cache", "attn-reset-without-cache"),
    case(lambda: attention().next_position, ValueError, "next_position needs a KV cache", "attn-next-position-without-cache"),
    case(lambda: attention(sliding_window=2)(XA, causal=False), ValueError, "sliding_window .* needs causal=True", "attn-window-not-causal"),
    case(lambda: decoding()(XA, segment_ids=np.ones((B, T), np.int32), decode=True), ValueError, "decode=True does not take segment_ids", "decode-segments"),
    case(lambda: decoding()(XA[:1], decode=True), ValueError, "x has batch 1 but the cache was built for 2 rows", "decode-batch-mismatch"),
    case(lambda: decoding()(np.ones((B, 7, 16), np.float32), decode=True), ValueError, "7 tokens cannot fit in a cache of 6 slots", "decode-more-than-slots"),
    case(lambda: decoding()(XA, np.ones((B, T)) * 0.5, decode=True), TypeError, "decoding needs integer positions .* got dtype float", "decode-positions-float"),
    case(lambda: decoding(sinks=2)(XA, attention_mask=np.ones((B, T), bool), decode=True), ValueError, "a cache with sinks takes no attention_mask", "decode-sinks-mask"),
    case(lambda: decoding(sinks=2)(XA, np.zeros((B, T), np.int32), decode=True), ValueError, "a cache with sinks numbers the tokens itself", "decode-sinks-positions"),
    case(lambda: decoding(sinks=2)(np.ones((B, 5, 16), np.float32), decode=True), ValueError, "takes at most 4 tokens per call, got 5", "decode-sinks-chunk"),
    case(lambda: attention().init_cache(B, 6, dtype=np.int32), TypeError, "dtype must be floating, got int32", "cache-dtype-int"),
    case(lambda: attention().init_cache(B, 6, dtype=bool), TypeError, "dtype must be floating, got bool", "cache-dtype-bool"),
    case(lambda: attention().init_cache(0, 6), ValueError, "batch_size must be a positive int, got 0", "cache-batch-zero"),
    case(lambda: attention().init_cache(True, 6), TypeError, "batch_size must be an int, got bool True", "cache-batch-bool"),
    case(lambda: attention().init_cache(B, 6.0), TypeError, "max_length must be an int, got float 6.0", "cache-length-float"),
    case(lambda: attention().init_cache(B, 6, mode="ring"), ValueError, "mode must be one of 'rotated' or 'unrotated'; got 'ring'", "cache-mode-unknown"),
    case(lambda: attention().init_cache(B, 6, mode=None), TypeError, "mode must be one of .* got NoneType None", "cache-mode-none"),
    case(lambda: attention().init_cache(B, 6, sinks=6), ValueError, "needs more slots .* than sinks", "cache-sinks-all-slots"),
    case(lambda: attention().init_cache(B, 6, sinks=-1), ValueError, "sinks must be a positive int, got -1", "cache-sinks-negative"),
    case(lambda: attention().init_cache(B, 6, check="yes"), TypeError, "check must be True or False, got str 'yes'", "cache-check-str"),
    case(lambda: attention().init_cache(B, 6, sharding="data"), TypeError, "sharding must be a jax.sharding.NamedSharding", "cache-sharding-str"),
    case(lambda: attention(sliding_window=3).init_cache(B, 6, sinks=2), ValueError, "sinks apply to full-attention layers", "cache-sinks-with-window"),
    case(lambda: attention(rope=RoPE(head_dim=H, scaling=DynamicNTK(2.0, 8))).init_cache(B, 6, sinks=2), ValueError, "cannot do exactly. Use init_cache.*mode='unrotated'", "cache-sinks-dynamic-rotated"),
    case(lambda: attention(rope=RoPENd.axial(H, 2)).init_cache(B, 6, mode="unrotated"), TypeError, "need a 1D rope_jax.RoPE", "cache-unrotated-nd"),
    case(lambda: rope_jax.PlainCache.create(B, 6, 1, H).append(np.ones((B, 2, 1, H)), np.ones((B, 2, 1, H)), np.ones((B, 2)) * 0.5), TypeError, "integer positions", "kv-append-float-positions"),
    case(lambda: rope_jax.PlainCache.create(B, 6, 1, H).append(np.ones((B, 2, 2, H)), np.ones((B, 2, 1, H)), np.arange(2)), ValueError, r"keys must have shape \[B, T, K, H\] = \(2, 2, 1, 8\)", "kv-append-wrong-heads"),
    case(lambda: rope_jax.PlainCache.create(B, 6, 1, H).append(np.ones((B, 2, 1, H)), np.ones((B, 3, 1, H)), np.arange(2)), ValueError, r"values must have shape", "kv-append-values-length"),
    case(lambda: rope_jax.PlainCache.create(B, 6, 1, H).token_positions(np.ones((3, 2))), ValueError, r"token_mask must have shape \[B, T\] with B = 2", "kv-token-mask-batch"),
    case(lambda: rope_jax.WindowCache.create(B, 6, 1, H, sinks=2), TypeError, "WindowCache takes no sinks", "kv-window-with-sinks"),
    case(lambda: rope_jax.SinkCache.create(B, 6, 1, H, sinks=0), ValueError, "sinks must be a positive int, got 0", "kv-sinks-zero"),
    case(lambda: rope_jax.PlainCache.create(B, 6, 1, H, value_dim=0), ValueError, "value_dim must be a positive int, got 0", "kv-value-dim-zero"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), ATTENTION_REFUSES)
def test_attention_and_caches_refuse(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_attention_on_zero_tokens_is_empty_and_leaves_the_cache_alone():
    attn = decoding()
    assert attention()(XA[:, :0]).shape == (B, 0, 16)
    before = attn.kv_cache.get_value()
    assert attn(XA[:, :0], decode=True).shape == (B, 0, 16)
    assert int(attn.kv_cache.get_value().index) == int(before.index) == 0


def test_fractional_positions_mask_as_fractions():
    """Positions 0, 0.5, 1, 1.5: each token sees only the ones at positions <= its own (a truncation to integers
    would let token 0 see token 1)."""
    attn = attention()
    weights = attn.attention_weights(XA, np.array([0.0, 0.5, 1.0, 1.5], np.float32))
    np.testing.assert_array_equal(np.asarray(weights[0, 0]) > 0, np.tril(np.ones((T, T), bool)))


def bytes_file(tmp_path, content: bytes) -> str:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    return str(path)


LLAMA = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, "rope_theta": 5e5}

# fmt: off
CLI_FAILS = [
    pytest.param(lambda tmp: ["inspect", str(tmp)], 1, "the folder .* holds no config.json", id="inspect-folder-without-config"),
    pytest.param(lambda tmp: ["inspect", ""], 1, "no config given", id="inspect-empty-string"),
    pytest.param(lambda tmp: ["inspect", str(tmp / "missing.json")], 1, "no config file at", id="inspect-missing-file"),
    pytest.param(lambda tmp: ["inspect", config_file(tmp, "[" * 100_000 + "]" * 100_000)], 1, "nested too deeply", id="inspect-deeply-nested-json"),
    pytest.param(lambda tmp: ["inspect", config_file(tmp, "{oops")], 1, "not valid JSON", id="inspect-not-json"),
    pytest.param(lambda tmp: ["inspect", bytes_file(tmp, b'{"model_type": "\xff"}')], 1, r"not valid JSON \(UTF-8\)", id="inspect-not-utf8"),
    pytest.param(lambda tmp: ["inspect", config_file(tmp, "42")], 1, "holds a JSON int, not a config object", id="inspect-json-number"),
    pytest.param(lambda tmp: ["inspect", config_file(tmp, {**LLAMA, "rope_theta": float("nan")})], 1, "theta must be a finite number", id="inspect-theta-nan"),
    pytest.param(lambda tmp: ["inspect", config_file(tmp, {**LLAMA, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 0}})], 1, "original_max_position_embeddings must be a positive int, got 0", id="inspect-yarn-original-zero"),
    pytest.param(lambda tmp: ["inspect", config_file(tmp, {**LLAMA, "model_type": "smollm3", "num_hidden_layers": 4, "no_rope_layers": [1]})], 1, "rope-jax inspect: ", id="inspect-loader-error-of-any-class"),
    pytest.param(lambda tmp: ["inspect", "llama-3.1-8b", "--plot", str(tmp / "missing" / "w.png")], 1, "the folder .*missing.* does not exist", id="plot-into-missing-folder"),
    pytest.param(lambda tmp: ["inspect", "llama-3.1-8b", "--plot", str(tmp)], 1, "is a folder; give a file name", id="plot-onto-a-folder"),
    pytest.param(lambda tmp: ["inspect", "llama-3.1-8b", "--plot", str(tmp / "w.xyz")], 1, "matplotlib cannot write '.xyz' files", id="plot-unknown-format"),
    pytest.param(lambda tmp: ["demo", "--out", config_file(tmp, "x", "a_file") + "/sub"], 1, "lies inside a file, not a folder", id="demo-out-inside-a-file"),
    pytest.param(lambda tmp: ["demo", "--out", config_file(tmp, "x", "a_file")], 1, "exists and is not a folder", id="demo-out-is-a-file"),
    pytest.param(lambda tmp: ["--out", config_file(tmp, "x", "a_file") + "/sub"], 1, "lies inside a file", id="default-demo-out-inside-a-file"),
    pytest.param(lambda tmp: ["bench", "--suite", "gpu", "--out", config_file(tmp, "x", "a_file") + "/sub"], 1, "lies inside a file", id="bench-out-inside-a-file"),
    pytest.param(lambda tmp: ["inspect"], 2, "the following arguments are required: config", id="usage-inspect-without-config"),
    pytest.param(lambda tmp: ["inspect", "llama-3.1-8b", "--plot"], 2, "expected one argument", id="usage-plot-without-value"),
    pytest.param(lambda tmp: ["bench", "--suite", "cpu"], 2, "invalid choice: 'cpu'", id="usage-unknown-suite"),
    pytest.param(lambda tmp: ["frobnicate"], 2, "invalid choice: 'frobnicate'", id="usage-unknown-command"),
    pytest.param(lambda tmp: ["demo", "--frames", "3"], 2, "unrecognized arguments: --frames 3", id="usage-unknown-option"),
]
# fmt: on


@pytest.mark.parametrize(("argv", "code", "match"), CLI_FAILS)
def test_cli_fails_in_one_line(argv, code, match, tmp_path, capsys):
    exit_code, out, err = cli(argv(tmp_path), capsys)
    assert exit_code == code
    assert out == ""  # nothing was computed or printed before the error
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("rope-jax")
    assert re.search(match, err), err


def test_cli_reads_a_model_folder(tmp_path, capsys):
    config_file(tmp_path, LLAMA)
    exit_code, out, err = cli(["inspect", str(tmp_path)], capsys)
    assert exit_code == 0 and err == "" and "head dim       64" in out


def test_cli_error_in_a_fresh_process_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rope_jax", "inspect", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
