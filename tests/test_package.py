"""The package as users meet it: its public names, what importing it costs, and the argument rules."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from flax import nnx

import rope_jax
from rope_jax.nn import MixedRoPE, RoPEAttention

PUBLIC = {
    "MODEL_TYPES", "NTK", "SCALING_RULES", "SUPPORTED_ROPE_TYPES", "Default", "DynamicNTK", "Linear", "Llama3",
    "CacheView", "KVCache", "PlainCache", "SinkCache", "WindowCache", "MaskSpec",
    "LongRoPE", "Proportional", "RoPE", "RoPENd", "RoPETable", "Scaling", "YaRN", "apply_rope", "apply_rope_nd",
    "attention_mask", "axial_frequencies", "from_hf_config", "half_split_to_interleaved",
    "interleaved_to_half_split", "layer_ropes", "mixed_frequencies", "mrope_frequencies", "mrope_positions",
    "nd_angles", "patch_grid_coords", "positions_from_mask", "positions_from_segments", "rope_angles", "rotate",
    "video_coords", "VISION_MODEL_TYPES", "axial_rotary_dim", "layout_frequencies", "packed_patch_coords",
    "patch_centre_coords", "split_ladder", "vision_rope", "window_order", "TIMM_ARCHITECTURES",
    "DIT_MODEL_TYPES", "dit_rope", "RoPENdTable", "axes_frequencies", "pow_ladder", "linspace_ladder", "exp_ladder",
}  # fmt: skip


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_public_surface_is_exactly_the_documented_one():
    assert set(rope_jax.__all__) == PUBLIC
    assert all(hasattr(rope_jax, name) for name in PUBLIC)
    assert rope_jax.__version__.count(".") == 2


def test_star_import_does_not_shadow_a_users_nn():
    out = run_python("import flax.linen as nn\nfrom rope_jax import *\nprint(nn.__name__)")
    assert out == "flax.linen"


def test_import_rope_jax_does_not_import_flax_until_nn_is_used():
    out = run_python(
        "import sys, rope_jax\nprint('flax' in sys.modules)\nrope_jax.nn.RoPEAttention\nprint('flax' in sys.modules)"
    )
    assert out.split() == ["False", "True"]


def test_every_size_accepts_numpy_integers():
    rope = rope_jax.RoPE(head_dim=np.int64(64), rotary_dim=np.int32(32))
    assert (rope.head_dim, rope.rotary_dim) == (64, 32) and type(rope.head_dim) is int
    attn = RoPEAttention(np.int64(4), np.int64(64), num_kv_heads=np.int32(2), rope=rope, rngs=nnx.Rngs(0))
    assert (attn.num_heads, attn.in_features, attn.num_kv_heads) == (4, 64, 2)
    assert rope_jax.YaRN(factor=np.float32(4), original_max_position_embeddings=np.int64(4096)).factor == 4.0
    assert rope_jax.patch_grid_coords(np.int64(2), 3).shape == (6, 2)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: rope_jax.RoPE(head_dim=64.0), TypeError, "head_dim must be an int, got float 64.0"),
        (lambda: rope_jax.RoPE(head_dim=True), TypeError, "head_dim must be an int"),
        (lambda: rope_jax.RoPE(head_dim=0), ValueError, "head_dim must be a positive int, got 0"),
        (lambda: rope_jax.RoPE(head_dim=64, rotary_dim=33), ValueError, "even int"),
        (lambda: rope_jax.RoPE(head_dim=64, theta="1e4"), TypeError, "theta must be a number"),
        (lambda: rope_jax.Linear(factor="2"), TypeError, "factor must be a number, got str"),
        (lambda: rope_jax.YaRN(factor=0.5, original_max_position_embeddings=4096), ValueError, "factor must be >= 1"),
        (lambda: rope_jax.YaRN(factor=4.0, original_max_position_embeddings=4096.0), TypeError, "must be an int"),
        (lambda: RoPEAttention(4096, 32, rngs=nnx.Rngs(0)), ValueError, "check the two are not swapped"),
        (lambda: RoPEAttention(0, 32, rngs=nnx.Rngs(0)), ValueError, "num_heads must be a positive int, got 0"),
        (lambda: RoPEAttention(4, 0, rngs=nnx.Rngs(0)), ValueError, "in_features must be a positive int, got 0"),
        (lambda: RoPEAttention(3, 32, rngs=nnx.Rngs(0)), ValueError, "not a multiple of num_heads"),
        (lambda: RoPEAttention(4.0, 32, rngs=nnx.Rngs(0)), TypeError, "num_heads must be an int"),
        (
            lambda: RoPEAttention(4, 64, num_kv_heads=2, rope=MixedRoPE(4, 16, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0)),
            ValueError,
            "per-head frequencies for 4 heads",
        ),
    ],
)
def test_bad_arguments_name_what_was_expected_and_what_came(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_nnx_multi_head_attention_order_builds():
    attn = RoPEAttention(32, 4096, num_kv_heads=8, rope=rope_jax.RoPE(head_dim=128), rngs=nnx.Rngs(0))
    assert (attn.num_heads, attn.in_features, attn.head_dim) == (32, 4096, 128)


def test_the_test_fixtures_stay_under_20_mb():
    """The fixtures ship with every checkout; a new family's fixture has to fit the budget (tiny models, float16
    weights, a few dozen tokens per long case), not grow it."""
    fixtures = pathlib.Path(__file__).parent / "fixtures"
    sizes = {path: path.stat().st_size for path in fixtures.rglob("*") if path.is_file() and path.suffix != ".pyc"}
    largest = sorted(sizes, key=sizes.get, reverse=True)[:3]
    assert sum(sizes.values()) < 20e6, f"{sum(sizes.values()) / 1e6:.2f} MB; largest: {[p.name for p in largest]}"
