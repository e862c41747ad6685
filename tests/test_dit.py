"""Diffusion-transformer builders: the exact-frequency modes and their bound, the N-D table, per-head frequencies,
fused sums and angle divisors, the ladders, dit_rope's coordinates and refusals (parity with diffusers itself is
tests/test_dit_parity.py)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rope_jax
from rope_jax._exact import split_double

RNG = np.random.default_rng(0)
LADDERS = [(theta, d) for theta in (256.0, 2000.0, 10000.0, 1e6) for d in (16, 44, 56, 128)]


def random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def float64_ladder(theta, dim):
    return np.asarray([1.0 / math.pow(theta, (2 * i) / dim) for i in range(dim // 2)])


def turn_error(angles, exact):
    """|angles - exact| modulo 2 pi, in float64."""
    return np.abs(np.angle(np.exp(1j * (np.asarray(angles, np.float64) - exact))))


# ---------------------------------------------------------------------------------- exact-frequency mode


@pytest.mark.parametrize(("theta", "dim"), LADDERS)
def test_float64_angles_are_within_1_5e_7_rad_of_the_float64_product(theta, dim):
    ladder = float64_ladder(theta, dim)
    high, low = split_double(ladder[None])
    coords = np.random.default_rng(dim).integers(-(2**20), 2**24, (2048, 1))
    angles = rope_jax.nd_angles(coords, high, precise=True, freqs_low=low)
    exact = coords.astype(np.float64) * ladder  # exact to ~1e-9 rad at 2**24: far below the bound
    assert turn_error(angles, exact).max() < 1.5e-7


@pytest.mark.parametrize(("theta", "dim"), LADDERS[::3])
def test_rounded_float64_products_are_the_float32_rounding_of_the_float64_product(theta, dim):
    ladder = float64_ladder(theta, dim)
    high, low = split_double(ladder[None])
    coords = np.random.default_rng(dim).integers(0, 5000, (4096, 1))
    angles = np.asarray(rope_jax.nd_angles(coords, high, freqs_low=low))
    expected = (coords.astype(np.float64) * ladder).astype(np.float32)
    ulps = np.abs(angles.view(np.int32).astype(np.int64) - expected.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1 and (ulps == 0).mean() > 0.999  # off only at double-rounding ties


def test_exact_modes_beat_float32_and_the_host_table_is_the_float64_reference():
    """FLUX.2 at 1024 px: 4 axes of 32 features, theta 2000, text along its own axis up to 511."""
    freqs = rope_jax.axes_frequencies([32, 32, 32, 32], theta=2000.0, float64=True)
    rows, cols = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    coords = np.concatenate(
        [np.stack([np.zeros(512), np.zeros(512), np.zeros(512), np.arange(512)], -1),
         np.stack([np.zeros(4096), rows.ravel(), cols.ravel(), np.zeros(4096)], -1)]
    ).astype(np.int32)  # fmt: skip
    reference = np.cos(coords.astype(np.float64) @ freqs).astype(np.float32)
    errors = {}
    for exact, precise in ((False, False), (True, False), (True, True)):
        rope = rope_jax.RoPENd(128, freqs, interleaved=True, exact_frequencies=exact, precise_angles=precise)
        errors[exact, precise] = np.abs(np.asarray(rope.cos_sin(coords)[0]) - reference).max()
    assert errors[True, True] < 2.5e-7 < 1e-6 < errors[False, False]
    assert errors[True, False] < errors[False, False]  # the product rounded once, from float64 frequencies
    host = rope_jax.RoPENd(128, freqs, interleaved=True, exact_frequencies=True, precise_angles=True)
    np.testing.assert_array_equal(np.asarray(host.table(coords, host=True).cos), reference)


def test_default_mode_adds_no_device_work():
    """The default path is the float32 product and nothing else; the exact modes bring integer arithmetic."""
    coords = jnp.zeros((16, 3), jnp.int32)
    freqs = rope_jax.axes_frequencies([16, 56, 56], float64=True)

    def primitives(**mode):
        jaxpr = jax.make_jaxpr(rope_jax.RoPENd(128, freqs, **mode).cos_sin)(coords)
        return {eqn.primitive.name for eqn in jaxpr.eqns}

    assert not {"and", "shift_right_logical", "bitcast_convert_type"} & primitives()
    assert "bitcast_convert_type" in primitives(exact_frequencies=True, precise_angles=True)


def test_exact_frequencies_keep_float64_values_and_refuse_other_modes():
    freqs = rope_jax.axes_frequencies([4], theta=10000.0, float64=True)
    rope = rope_jax.RoPENd(4, freqs, exact_frequencies=True)
    assert rope.freqs[0][1] == 0.01 and rope.frequency_matrix.dtype == np.float32
    high, low = rope.frequency_pair
    assert float(high[0, 1]) + float(low[0, 1]) == pytest.approx(0.01, rel=1e-15)
    with pytest.raises(ValueError, match="fused_sum"):
        rope_jax.RoPENd(4, freqs, exact_frequencies=True, fused_sum=True)
    with pytest.raises(ValueError, match="axis_divisors"):
        rope_jax.RoPENd(4, freqs, precise_angles=True, axis_divisors=[2.0])
    with pytest.raises(TypeError, match="exact_frequencies"):
        rope_jax.RoPENd(4, freqs, exact_frequencies="yes")


# ------------------------------------------------------------------------------------------- the table


@pytest.mark.parametrize("mode", [{}, {"exact_frequencies": True}, {"exact_frequencies": True, "precise_angles": True}])
@pytest.mark.parametrize("host", [False, True])
def test_table_rotates_as_the_rope_itself(mode, host):
    rope = rope_jax.RoPENd(64, rope_jax.axes_frequencies([16, 24, 24], float64=True), interleaved=True, **mode)
    coords = rope_jax.video_coords(3, 5, 7)
    x = random((2, len(coords), 3, 64), 1)
    table = rope.table(coords, host=host)
    direct = np.asarray(rope(x, coords))
    np.testing.assert_allclose(np.asarray(jax.jit(lambda t, v: t(v))(table, x)), direct, atol=4e-7 * np.abs(x).max())
    assert table.length == len(coords)
    with pytest.raises(ValueError, match="T = 105 tokens"):
        table(x[:, :10])


def test_table_keeps_blocks_and_per_head_frequencies():
    per_head = random((2, 2, 8), 3)
    for rope in (rope_jax.RoPENd(16, per_head), rope_jax.RoPENd(16, per_head[0], blocks=2)):
        coords = RNG.integers(0, 9, (11, 2))
        x = random((11, 2, 16), 4)
        np.testing.assert_allclose(np.asarray(rope.table(coords)(x)), np.asarray(rope(x, coords)), atol=1e-6)


# --------------------------------------------------------------------------------- per-head and sums


def test_per_head_frequencies_rotate_each_head_by_its_own_matrix():
    freqs = random((3, 2, 4), 5)  # [N, A, P]
    rope = rope_jax.RoPENd(8, freqs, interleaved=True)
    assert rope.num_heads == 3 and rope.num_axes == 2 and rope.rotary_dim == 8
    coords = random((6, 2), 6)
    x = random((6, 3, 8), 7)
    out = np.asarray(rope(x, coords))
    for head in range(3):
        single = rope_jax.RoPENd(8, freqs[head], interleaved=True)
        np.testing.assert_allclose(out[:, head], np.asarray(single(x[:, head : head + 1], coords))[:, 0], atol=1e-6)


def fma_chain(coords, freqs):
    """torch's CPU matmul over the axes: round(c0 f0), then an exact product plus the sum, rounded once, per axis."""
    products = [coords[:, a, None].astype(np.float64) * freqs[a].astype(np.float64) for a in range(coords.shape[1])]
    total = products[0].astype(np.float32)
    for product in products[1:]:
        total = (product + total.astype(np.float64)).astype(np.float32)
    return total


@settings(deadline=None, max_examples=20)
@given(st.integers(0, 2**31 - 1))
def test_fused_sum_is_a_chain_of_fused_multiply_adds(seed):
    rng = np.random.default_rng(seed)
    coords = (rng.standard_normal((64, 3)) * 50).astype(np.float32)
    freqs = (rng.standard_normal((3, 16)) * 0.3).astype(np.float32)
    angles = np.asarray(rope_jax.nd_angles(coords, freqs, fused_sum=True))
    plain = np.asarray(rope_jax.nd_angles(coords, freqs))
    assert (angles == fma_chain(coords, freqs)).mean() > 0.999
    assert not np.array_equal(angles, plain) or np.array_equal(plain, fma_chain(coords, freqs))


def test_axis_divisors_divide_each_float32_angle():
    freqs = rope_jax.axes_frequencies([8, 8], theta=100.0)
    coords = RNG.integers(0, 128, (50, 2))
    angles = np.asarray(rope_jax.nd_angles(coords, freqs, divisors=[1.0, 3.16]))
    expected = (coords[:, :, None].astype(np.float32) * freqs[None]).astype(np.float32)
    expected[:, 1] = expected[:, 1] / np.float32(3.16)
    np.testing.assert_array_equal(angles, expected.sum(1))


# ---------------------------------------------------------------------------------------------- ladders


def test_ladders():
    np.testing.assert_array_equal(rope_jax.pow_ladder(56, theta=1e4, float64=True), float64_ladder(1e4, 56))
    np.testing.assert_allclose(
        rope_jax.pow_ladder(56, theta=1e4), float64_ladder(1e4, 56), rtol=1e-6
    )  # float32 exponents
    lumina = rope_jax.pow_ladder(8, theta=1e4, ntk_factor=2.0, linear_factor=3.0, float64=True)
    np.testing.assert_allclose(lumina, float64_ladder(2e4, 8) / 3.0, rtol=1e-15)
    ltx = rope_jax.linspace_ladder(341, theta=1e4)
    assert ltx[0] == np.float32(math.pi / 2) and ltx[-1] == pytest.approx(1e4 * math.pi / 2, rel=1e-6)
    assert np.all(np.diff(ltx) > 0)
    np.testing.assert_allclose(rope_jax.linspace_ladder(341, theta=1e4, float64=True), ltx, rtol=1e-6)
    np.testing.assert_allclose(rope_jax.exp_ladder(12, max_period=1e4), float64_ladder(1e4, 24), rtol=1e-6)


def test_axes_frequencies_place_uneven_blocks_and_per_axis_theta():
    freqs = rope_jax.axes_frequencies([16, 56, 56], theta=[1e4, 2e4, 3e4], float64=True)
    assert freqs.shape == (3, 64) and freqs.dtype == np.float64
    assert np.count_nonzero(freqs, axis=0).tolist() == [1] * 64
    np.testing.assert_array_equal(freqs[1, 8:36], float64_ladder(2e4, 56))
    alternate = rope_jax.axes_frequencies([8, 8], arrangement="alternate", order=[1, 0])
    assert alternate[1, 0] == 1.0 and alternate[0, 1] == 1.0 and alternate[0, 0] == 0.0
    with pytest.raises(ValueError, match="theta must have 3 entries"):
        rope_jax.axes_frequencies([16, 56, 56], theta=[1.0, 2.0])
    with pytest.raises(ValueError, match="even int"):
        rope_jax.axes_frequencies([15, 56, 56])


# --------------------------------------------------------------------------------------------- dit_rope


def config(name, **values):
    return {"_class_name": name, **values}


def test_flux_text_sits_at_the_origin_and_the_image_on_its_grid():
    rope, coords = rope_jax.dit_rope(config("FluxTransformer2DModel"), (8, 12), text_len=3, images=[(4, 4)])
    assert coords.shape == (3 + 24 + 4, 3) and coords.dtype == np.int32
    assert not coords[:3].any() and coords[3 + 23].tolist() == [0, 3, 5] and coords[-1].tolist() == [1, 1, 1]
    assert rope.interleaved and rope.exact_frequencies and rope.precise_angles and rope.name == "FluxTransformer2DModel"


def test_qwen_image_is_centred_and_its_text_runs_on_the_diagonal_after_it():
    _, coords = rope_jax.dit_rope(config("QwenImageTransformer2DModel"), (10, 6), text_len=2)
    assert coords[:2].tolist() == [[2, 2, 2], [3, 3, 3]]  # after max(5 // 2, 3 // 2) = 2
    image = coords[2:]
    assert image[:, 1].min() == -3 and image[:, 1].max() == 1 and image[:, 2].min() == -2 and image[:, 2].max() == 0


def test_z_image_pads_each_part_to_32_tokens():
    _, coords = rope_jax.dit_rope(config("ZImageTransformer2DModel"), (8, 12), text_len=5)
    assert coords.shape[0] == 32 + 32
    assert coords[0].tolist() == [33, 0, 0] and not coords[24:32].any() and coords[32].tolist() == [1, 0, 0]


def test_kandinsky5_picks_its_pipelines_resolution_scale():
    small, _ = rope_jax.dit_rope(config("Kandinsky5Transformer3DModel"), (3, 4, 6))
    video, _ = rope_jax.dit_rope(config("Kandinsky5Transformer3DModel"), (3, 60, 104))  # 480 x 832 px
    assert small.axis_divisors == (1.0, 3.16, 3.16) and video.axis_divisors == (1.0, 2.0, 2.0)


def test_ltx_frequencies_are_per_head_rows_of_one_inner_dim_rotation():
    rope, coords = rope_jax.dit_rope(config("LTXVideoTransformer3DModel"), (2, 4, 4), fps=25)
    assert rope.num_heads == 32 and rope.head_dim == 64
    freqs = np.asarray(rope.freqs)
    assert not freqs[0, :, 0].any()  # 2048 % 6 = 2 features turn by zero, in front of the first head
    assert coords.dtype == np.float32 and coords.min() == -1.0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: rope_jax.dit_rope({"_class_name": "Nope"}, (8, 8)), ValueError, "not one of the"),
        (lambda: rope_jax.dit_rope(config("ErnieImageTransformer2DModel"), (8, 8)), ValueError, "does not rotate"),
        (lambda: rope_jax.dit_rope(config("CogVideoXTransformer3DModel"), (2, 4, 4)), ValueError, "sin-cos"),
        (
            lambda: rope_jax.dit_rope(config("QwenImageTransformer2DModel", use_layer3d_rope=True), (8, 8)),
            ValueError,
            "frame -1",
        ),
        (lambda: rope_jax.dit_rope(config("FluxTransformer2DModel"), (7, 8)), ValueError, "not divisible"),
        (lambda: rope_jax.dit_rope(config("FluxTransformer2DModel"), (8,)), ValueError, r"\(height, width\) latent"),
        (lambda: rope_jax.dit_rope(config("WanTransformer3DModel"), (8, 8)), ValueError, "frames, height, width"),
        (lambda: rope_jax.dit_rope(config("WanTransformer3DModel"), (2, 8, 8), 5), ValueError, "pass text_len=0"),
        (lambda: rope_jax.dit_rope(config("FluxTransformer2DModel"), (8, 8, 8, 8)), ValueError, "latent_shape"),
        (lambda: rope_jax.dit_rope(config("FluxTransformer2DModel"), (8, 8), -1), ValueError, "text_len"),
        (
            lambda: rope_jax.dit_rope(config("WanTransformer3DModel"), (2, 4, 4), images=[(4, 4)]),
            ValueError,
            "no reference",
        ),
        (lambda: rope_jax.dit_rope(config("LTXVideoTransformer3DModel"), (2, 4, 4)), ValueError, "pass fps"),
        (lambda: rope_jax.dit_rope(config("MochiTransformer3DModel"), (2, 4, 4)), ValueError, "pos_frequencies"),
        (
            lambda: rope_jax.dit_rope(config("LuminaNextDiT2DModel"), (8, 8), factors={"scale": 2.0}),
            ValueError,
            "no factor 'scale'",
        ),
        (
            lambda: rope_jax.dit_rope(config("WanTransformer3DModel"), (2, 4, 4), frame_positions=[0]),
            ValueError,
            "one index per latent frame",
        ),
        (lambda: rope_jax.dit_rope(config("WanTransformer3DModel"), (2, 4, 4), fps=0), ValueError, "fps"),
        (lambda: rope_jax.dit_rope(3, (8, 8)), TypeError, "config must be a dict"),
        (
            lambda: rope_jax.dit_rope(config("HiDreamImageTransformer2DModel", patch_size=2), (8, 8)),
            ValueError,
            "tokens have 3 coordinates but its config gives 2 axes",
        ),
    ],
)
def test_refusals_and_bad_input_name_the_reason(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_every_refused_class_says_why_and_every_supported_one_builds():
    for name, entry in rope_jax.DIT_MODEL_TYPES.items():
        if entry.get("unsupported"):
            assert len(entry["unsupported"]) > 60, name
            continue
        latent = {1: (16,), 2: (16, 16), 3: (2, 16, 16)}[len(entry["tokens"]["patch"])]
        extra = {"fps": 24.0} if "LTX" in name or "SanaWMLTX2" in name else {}
        learned = {"pos_frequencies": np.zeros((3, 24, 64))} if name == "MochiTransformer3DModel" else None
        values = {"use_rotary_positional_embeddings": True}  # CogVideoX-5b's; HiDream-I1's axes
        values.update({"axes_dims_rope": [64, 32, 32]} if name.startswith("HiDream") else {})
        if entry["defaults"].get("patch_size", 0) is None:
            values["patch_size"] = 2
        if name.startswith("Kandinsky6SR"):
            latent = (2, 16, 16)
        text = (
            4
            if "text_len" in str(entry["tokens"])
            or any(part["part"] == "text" and "count" not in part for part in entry["tokens"]["parts"])
            else 0
        )
        rope, coords = rope_jax.dit_rope(config(name, **values), latent, text, learned=learned, **extra)
        assert coords.ndim == 2 and coords.shape[1] == rope.num_axes, name


def test_mixed_rope_holds_mochis_learned_frequencies():
    from flax import nnx

    from rope_jax.nn import MixedRoPE

    learned = 0.1 * random((3, 2, 64), 8)  # Mochi's pos_frequencies [axes, heads, head_dim / 2]
    rope, coords = rope_jax.dit_rope(config("MochiTransformer3DModel", num_attention_heads=2), (2, 8, 4),
                                     text_len=3, learned={"pos_frequencies": learned})  # fmt: skip
    module = MixedRoPE(2, 128, num_axes=3, frequencies=learned.transpose(1, 0, 2), fused_sum=True, interleaved=True,
                       rngs=nnx.Rngs(0))  # fmt: skip
    x = random((len(coords), 2, 128), 9)
    np.testing.assert_array_equal(np.asarray(module(x, coords)), np.asarray(rope(x, coords)))
    with pytest.raises(ValueError, match=r"\[num_heads, num_axes, rotary_dim // 2\] = \(2, 3, 64\)"):
        MixedRoPE(2, 128, num_axes=3, frequencies=learned, rngs=nnx.Rngs(0))


def test_c_library_float32_power_and_exp_are_within_one_ulp_of_the_correctly_rounded_ones():
    from rope_jax._exact import c_expf, c_powf

    exponents = np.linspace(0, 1, 1365, dtype=np.float32)
    powers = c_powf(1e4, exponents)
    exact = np.power(np.float64(np.float32(1e4)), exponents.astype(np.float64)).astype(np.float32)
    assert np.abs(powers.view(np.int32) - exact.view(np.int32)).max() <= 1
    arguments = -np.linspace(0, 9.21, 200, dtype=np.float32)
    exps = c_expf(arguments)
    assert (
        np.abs(exps.view(np.int32) - np.exp(arguments.astype(np.float64)).astype(np.float32).view(np.int32)).max() <= 1
    )
