"""The on-device double-float pow and exact product rounding behind dynamic NTK's bit-exact frequencies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rope_jax._exact import pow_f32, scaled_integer_f32, split_constant


def test_pow_f32_is_correctly_rounded_for_float32_exponents():
    rng = np.random.default_rng(0)
    x = rng.uniform(1.0, 5e9, 20000).astype(np.float32)
    exponent = (rng.integers(0, 128, 20000).astype(np.float32) * 2 / np.float32(256)).astype(np.float32)
    got = np.asarray(jax.jit(pow_f32)(x, exponent))
    np.testing.assert_array_equal(got, (x.astype(np.float64) ** exponent.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("dim", [16, 64, 96, 128, 256])
def test_pow_f32_with_a_double_exponent(dim):
    """torch evaluates ratio ** (d / (d - 2)) with a float64 exponent; the double-float pair reproduces it."""
    ratio = np.random.default_rng(dim).uniform(1.0, 5000.0, 20000).astype(np.float32)
    got = np.asarray(jax.jit(lambda r: pow_f32(r, *split_constant(dim / (dim - 2))))(ratio))
    np.testing.assert_array_equal(got, (ratio.astype(np.float64) ** (dim / (dim - 2))).astype(np.float32))


@pytest.mark.parametrize("value", [1.0, 2.0, 4.5, 1.7, 3.3333, 16.25, 0.3])
def test_scaled_integer_rounds_like_one_float32_multiply(value):
    lengths = np.random.default_rng(1).integers(0, 2**24, 20000).astype(np.int32)
    lengths[:3] = [0, 1, 2**24 - 1]
    got = np.asarray(jax.jit(lambda n: scaled_integer_f32(n, value))(jnp.asarray(lengths)))
    np.testing.assert_array_equal(got, np.float32(value) * lengths.astype(np.float32))
