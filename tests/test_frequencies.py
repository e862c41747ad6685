"""Frequency rules against independent float64 formulas, their defining properties, and their errors."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rope_jax
from tests.reference import dynamic_ntk_float32_chain, inv_freq_float64

DIMS = st.sampled_from([8, 16, 24, 32, 64, 96, 128, 256])
THETAS = st.sampled_from([10000.0, 50000.0, 500000.0, 1e6, 1.5e5])
FACTORS = st.floats(1.0, 64.0)


def frequencies(rope_type: str, rotary_dim: int, *, theta: float = 10000.0, length=None, **fields):
    """``(inv_freq, attention_scaling)`` of the registered rule ``rope_type`` built from ``fields``."""
    return rope_jax.SCALING_RULES[rope_type](**fields).frequencies(rotary_dim, theta=theta, length=length)


def rtol(theta: float) -> float:
    """Hugging Face rounds the exponent 2i/d to float32 (relative error <= 2**-24), which moves theta**(-2i/d)
    by up to ln(theta) * 2**-24 relative; the pow, reciprocal and scaling add a few roundings."""
    return math.log(theta) * 2.0**-24 + 4 * 2.0**-24


@given(DIMS, THETAS)
def test_default_matches_float64_up_to_float32_exponent_rounding(dim, theta):
    inv_freq, scaling = frequencies("default", dim, theta=theta)
    assert inv_freq.dtype == np.float32 and inv_freq.shape == (dim // 2,) and scaling == 1.0
    np.testing.assert_allclose(inv_freq, inv_freq_float64(dim, theta), rtol=rtol(theta), atol=0)


@given(DIMS, THETAS, FACTORS)
def test_linear_divides_every_frequency(dim, theta, factor):
    inv_freq, _ = frequencies("linear", dim, theta=theta, factor=factor)
    np.testing.assert_allclose(inv_freq, inv_freq_float64(dim, theta) / factor, rtol=rtol(theta))


@given(DIMS.filter(lambda d: d >= 4), THETAS, FACTORS)
def test_ntk_keeps_the_first_pair_and_divides_the_last_by_the_factor(dim, theta, factor):
    inv_freq, _ = frequencies("ntk", dim, theta=theta, factor=factor)
    expected = inv_freq_float64(dim, theta * factor ** (dim / (dim - 2)))
    np.testing.assert_allclose(inv_freq, expected, rtol=rtol(theta * factor ** (dim / (dim - 2))))
    assert inv_freq[0] == 1.0
    np.testing.assert_allclose(
        inv_freq[-1], inv_freq_float64(dim, theta)[-1] / factor, rtol=2 * rtol(theta * factor**2)
    )


def test_llama3_bands():
    """Llama 3.1 (8B): short wavelengths kept, long ones / 8, the middle band smoothly in between."""
    inv_freq, scaling = frequencies(
        "llama3",
        128,
        theta=500000.0,
        factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        original_max_position_embeddings=8192,
    )
    base = inv_freq_float64(128, 500000.0)
    wavelength = 2 * np.pi / base
    high, low = wavelength < 8192 / 4, wavelength > 8192 / 1
    np.testing.assert_allclose(inv_freq[high], base[high], rtol=rtol(1e6))
    np.testing.assert_allclose(inv_freq[low], base[low] / 8, rtol=rtol(1e6))
    middle = ~high & ~low
    smooth = (8192 / wavelength[middle] - 1.0) / (4.0 - 1.0)
    np.testing.assert_allclose(
        inv_freq[middle], (1 - smooth) * base[middle] / 8 + smooth * base[middle], rtol=2 * rtol(1e6)
    )
    assert middle.sum() > 0 and high.sum() > 0 and low.sum() > 0 and scaling == 1.0


def test_llama3_with_equal_band_edges_is_a_step():
    """Llama 4 Scout and Maverick publish low_freq_factor == high_freq_factor == 1: wavelengths above the original
    context are divided by the factor, the rest kept, no band between (and no 0 / 0)."""
    config = {
        "model_type": "llama4_text",
        "hidden_size": 5120,
        "num_attention_heads": 40,
        "head_dim": 128,
        "num_hidden_layers": 4,
        "no_rope_layers": [1, 1, 1, 0],
        "rope_theta": 500000.0,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 16.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
        },
    }
    rope, *others = rope_jax.layer_ropes(config)
    assert others == [rope, rope, None]
    base = inv_freq_float64(128, 500000.0)
    long = 2 * np.pi / base > 8192
    assert 0 < long.sum() < 64 and np.isfinite(rope.inv_freq).all()
    np.testing.assert_allclose(rope.inv_freq[long], base[long] / 16, rtol=rtol(1e6))
    np.testing.assert_allclose(rope.inv_freq[~long], base[~long], rtol=rtol(1e6))


def test_yarn_ramp_and_attention_factor():
    dim, theta, factor, original = 128, 10000.0, 16.0, 4096
    inv_freq, scaling = frequencies("yarn", dim, theta=theta, factor=factor, original_max_position_embeddings=original)
    base = inv_freq_float64(dim, theta)
    turns = original * base / (2 * np.pi)  # rotations of each pair over the original context
    np.testing.assert_allclose(inv_freq[turns > 40], base[turns > 40], rtol=rtol(1e6))  # extrapolated
    np.testing.assert_allclose(inv_freq[turns < 0.9], base[turns < 0.9] / factor, rtol=rtol(1e6))  # interpolated
    assert np.all(np.diff(inv_freq) < 0)
    assert scaling == pytest.approx(0.1 * math.log(factor) + 1)


def test_yarn_attention_factor_precedence():
    common = dict(theta=10000.0, factor=40.0, original_max_position_embeddings=4096)
    assert frequencies("yarn", 64, attention_factor=1.25, mscale=1.0, mscale_all_dim=0.5, **common)[1] == 1.25
    ratio = frequencies("yarn", 64, mscale=1.0, mscale_all_dim=0.5, **common)[1]
    assert ratio == pytest.approx((0.1 * math.log(40) + 1) / (0.05 * math.log(40) + 1))
    assert frequencies("yarn", 64, mscale=1.0, mscale_all_dim=1.0, **common)[1] == pytest.approx(1.0)


def test_yarn_truncate_false_is_honoured():
    common = dict(theta=150000.0, factor=32.0, original_max_position_embeddings=4096)
    truncated, _ = frequencies("yarn", 64, truncate=True, **common)
    exact, _ = frequencies("yarn", 64, truncate=False, **common)
    assert not np.array_equal(truncated, exact)


def test_dynamic_ntk_grows_beyond_the_original_length_and_shrinks_back():
    kwargs = dict(theta=10000.0, factor=2.0, max_position_embeddings=4096)
    original, _ = frequencies("dynamic", 64, **kwargs)
    at_original = jax.jit(lambda n: frequencies("dynamic", 64, length=n, **kwargs)[0])
    np.testing.assert_array_equal(np.asarray(at_original(4096)), original)
    longer = np.asarray(at_original(16384))
    base = 10000.0 * (2.0 * 16384 / 4096 - 1.0) ** (64 / 62)
    np.testing.assert_allclose(longer, inv_freq_float64(64, base), rtol=2 * rtol(1e6))
    np.testing.assert_array_equal(np.asarray(at_original(100)), original)  # no cache that only grows
    # The formula does not collapse to a constant base: longer contexts keep lowering the frequencies.
    assert np.all(np.asarray(at_original(65536))[1:] < longer[1:])


def test_longrope_switches_on_the_length():
    short, long = [1.0 + i / 10 for i in range(8)], [2.0 + i for i in range(8)]
    kwargs = dict(
        theta=10000.0, short_factor=short, long_factor=long, original_max_position_embeddings=4096, factor=32.0
    )
    at = jax.jit(lambda n: frequencies("longrope", 16, length=n, **kwargs)[0])
    base = inv_freq_float64(16, 10000.0)
    np.testing.assert_allclose(np.asarray(at(4096)), base / np.array(short), rtol=rtol(1e6))
    np.testing.assert_allclose(np.asarray(at(4097)), base / np.array(long), rtol=rtol(1e6))
    assert frequencies("longrope", 16, **kwargs)[1] == pytest.approx(math.sqrt(1 + math.log(32) / math.log(4096)))
    assert frequencies("longrope", 16, attention_factor=1.5, **kwargs)[1] == 1.5


def test_proportional_uses_head_dim_exponent_and_zero_tail():
    inv_freq, _ = frequencies("proportional", 512, theta=1e6, partial_rotary_factor=0.25)
    assert inv_freq.shape == (256,)
    np.testing.assert_allclose(inv_freq[:64], inv_freq_float64(512, 1e6)[:64], rtol=rtol(1e6))
    assert np.all(inv_freq[64:] == 0)
    # Not the same as NeoX-style partial rotary, whose exponent uses the rotary dim.
    assert not np.allclose(inv_freq[:64], inv_freq_float64(128, 1e6))


def test_rope_object_exposes_hf_like_attributes():
    rope = rope_jax.RoPE(head_dim=96, rotary_dim=24, theta=10000.0, scaling=rope_jax.Linear(2.0))
    assert (rope.rotary_dim, rope.head_dim, rope.interleaved, rope.attention_scaling) == (24, 96, False, 1.0)
    assert rope.inv_freq.dtype == np.float32 and rope.inv_freq.shape == (12,)
    assert hash(rope) == hash(rope_jax.RoPE(head_dim=96, rotary_dim=24, theta=10000.0, scaling=rope_jax.Linear(2.0)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rope.theta = 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: frequencies("default", 7), "even"),
        (lambda: frequencies("default", 64, theta=float("inf")), "finite"),
        (lambda: frequencies("default", 64, theta=0.0), "> 0"),
        (lambda: frequencies("linear", 64, theta=1e4, factor=0.5), ">= 1"),
        (lambda: frequencies("ntk", 2, theta=1e4, factor=2.0), ">= 4"),
        (lambda: frequencies("yarn", 64, theta=1e4, factor=0.9, original_max_position_embeddings=4096), ">= 1"),
        (
            lambda: frequencies(
                "yarn", 64, theta=1e4, factor=4, original_max_position_embeddings=4096, beta_fast=1, beta_slow=32
            ),
            "beta_fast >= beta_slow",
        ),
        (
            lambda: frequencies(
                "llama3",
                64,
                theta=1e4,
                factor=8,
                low_freq_factor=4,
                high_freq_factor=1,
                original_max_position_embeddings=8192,
            ),
            "high_freq_factor >",
        ),
        (
            lambda: frequencies(
                "longrope",
                16,
                theta=1e4,
                short_factor=[1.0] * 7,
                long_factor=[1.0] * 8,
                original_max_position_embeddings=4096,
                factor=2.0,
            ),
            "must have 7 entries, got 8",
        ),
        (
            lambda: frequencies(
                "longrope",
                16,
                theta=1e4,
                short_factor=[1.0] * 8,
                long_factor=[0.0] * 8,
                original_max_position_embeddings=4096,
                factor=2.0,
            ),
            "> 0",
        ),
        (lambda: frequencies("proportional", 64, theta=1e4, partial_rotary_factor=1.5), r"\[0, 1\]"),
        (lambda: frequencies("dynamic", 64, theta=1e4, factor=2.0, max_position_embeddings=0), "positive"),
    ],
)
def test_bad_hyperparameters_are_reported(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_traced_length_has_no_python_branch():
    """One trace serves every length; the short/long switch happens on device."""
    traces = []
    kwargs = dict(
        theta=1e4, short_factor=[1.0] * 4, long_factor=[2.0] * 4, original_max_position_embeddings=16, factor=4.0
    )

    @jax.jit
    def traced(n):
        traces.append(n)
        return frequencies("longrope", 8, length=n, **kwargs)[0]

    short, long = traced(jnp.int32(16)), traced(jnp.int32(17))
    assert len(traces) == 1
    np.testing.assert_array_equal(np.asarray(long), np.asarray(short) / 2)


@pytest.mark.parametrize("rotary_dim", [32, 64, 96, 128])
@pytest.mark.parametrize(
    ("theta", "factor", "max_position_embeddings"), [(1e4, 2.0, 4096), (5e5, 8.0, 8192), (1e6, 4.5, 32768)]
)
def test_dynamic_ntk_on_device_equals_the_float32_chain_bit_for_bit(rotary_dim, theta, factor, max_position_embeddings):
    """The traced dynamic-NTK frequencies (double-float pow on device) equal HF's float32/float64 chain."""
    lengths = np.random.default_rng(rotary_dim).integers(max_position_embeddings + 1, 2**24, 64)
    kwargs = dict(rotary_dim=rotary_dim, theta=theta, factor=factor, max_position_embeddings=max_position_embeddings)
    device = jax.jit(jax.vmap(lambda n: frequencies("dynamic", length=n, **kwargs)[0]))(lengths)
    expected = np.stack([dynamic_ntk_float32_chain(n, **kwargs) for n in lengths])
    np.testing.assert_array_equal(np.asarray(device), expected)


def test_dynamic_ntk_compiles_without_an_xla_simplifier_loop(capfd):
    """A double-float log of a broadcast scalar sent XLA's algebraic simplifier round a loop, and every jitted
    dynamic NTK logged an error; the log is now taken before broadcasting."""
    rope = rope_jax.RoPE(head_dim=24, scaling=rope_jax.DynamicNTK(factor=3.0, max_position_embeddings=40))
    jax.block_until_ready(jax.jit(rope.frequencies)(jnp.int32(100)))
    assert "simplification loop" not in capfd.readouterr().err
