"""timm's ViTs with RoPE: rope_jax.vision_rope against timm's own forward (fixtures:
tests/fixtures/generate_timm_fixtures.py).

One tiny model per group of architectures with the same rotary settings, at two grids (the architecture's own or a
small square one, and a resized non-square one); q/k as timm rotates them in the first block, prefix tokens
included, compared within 1e-6 with ``vision_rope({"architecture": name, "model_args": ...})`` alone. For the axial
models the coordinates and frequencies are compared with timm's grid and bands bit for bit (the reference-grid
interpolation ``(i + offset) / n * ref`` included). RoPE-Mixed, whose frequencies are learned per layer and head,
is checked through the recipe its refusal gives.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

import rope_jax

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
META = json.loads((FIXTURES / "vision_timm.json").read_text())
ARRAYS = np.load(FIXTURES / "vision_timm.npz")
NAMES = sorted(name for name in META if not name.startswith("_"))
TOLERANCE = 1e-6


def cases(kind: str) -> list[tuple[str, int]]:
    mixed = {name for name in NAMES if rope_jax.TIMM_ARCHITECTURES[name]["rope_module"] == "RotaryEmbeddingMixed"}
    chosen = mixed if kind == "mixed" else set(NAMES) - mixed
    return [(name, index) for name in sorted(chosen) for index in range(len(META[name]["cases"]))]


def to_tokens_first(x: np.ndarray) -> np.ndarray:
    """timm's [B, N, T, H] as rope_jax's [B, T, N, H] (and back)."""
    return np.swapaxes(x, -2, -3)


def rotated(name: str, index: int, which: str) -> tuple[np.ndarray, np.ndarray]:
    """``(rope_jax's rotation, timm's)`` of the fed q or k of one case; RoPE-Mixed through its recipe."""
    case = META[name]["cases"][index]
    fed, expected = ARRAYS[f"{name}/{index}/{which}"], ARRAYS[f"{name}/{index}/{which}_out"]
    if f"{name}/{index}/freqs" not in ARRAYS.files:
        rope, coords = rope_jax.vision_rope(case["config"], **case["rope"])
        return to_tokens_first(np.asarray(rope(to_tokens_first(fed), coords))), expected
    # RoPE-Mixed, the refusal's recipe: coordinates from patch_grid_coords, timm's learned per-head frequencies
    (h, w), layer = case["rope"]["grid_thw"][0], 0
    freqs = ARRAYS[f"{name}/{index}/freqs"][::-1, layer].transpose(1, 0, 2)
    coords = rope_jax.patch_grid_coords(h, w, num_prefix_tokens=1)
    rotation = rope_jax.apply_rope_nd(to_tokens_first(fed), coords, freqs=freqs, interleaved=True)
    return to_tokens_first(np.asarray(rotation)), expected


@pytest.mark.parametrize(("name", "index"), cases("ropes"))
def test_rotated_q_and_k_match_timm(name, index):
    for which in "qk":
        actual, expected = rotated(name, index, which)
        np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0, err_msg=f"{name} case {index} {which}")


@pytest.mark.parametrize(("name", "index"), [c for c in cases("ropes") if f"{c[0]}/{c[1]}/grid" in ARRAYS.files])
def test_axial_coordinates_and_bands_are_timms_bit_for_bit(name, index):
    case = META[name]["cases"][index]
    rope, coords = rope_jax.vision_rope(case["config"], **case["rope"])
    grid, bands = ARRAYS[f"{name}/{index}/grid"], ARRAYS[f"{name}/{index}/bands"]
    order = rope_jax.TIMM_ARCHITECTURES[name]["layout"]["order"]  # timm's grid channels in rope_jax's axes
    patches = coords[len(coords) - grid.shape[0] * grid.shape[1] :]
    np.testing.assert_array_equal(patches[:, order], grid.reshape(-1, 2))
    freqs = rope.frequency_matrix
    for axis in range(2):
        np.testing.assert_array_equal(freqs[axis][freqs[axis] != 0], bands)


@pytest.mark.parametrize(("name", "index"), cases("mixed"))
def test_rope_mixed_recipe_matches_timm(name, index):
    """vision_rope refuses RoPE-Mixed with a recipe; the recipe (as rotated() runs it) matches timm."""
    case = META[name]["cases"][index]
    with pytest.raises(ValueError, match="apply_rope_nd") as refusal:
        rope_jax.vision_rope(case["config"], **case["rope"])
    assert "freqs[::-1, l].transpose(1, 0, 2)" in str(refusal.value)
    assert "patch_grid_coords(h, w, num_prefix_tokens=1)" in str(refusal.value)
    for which in "qk":
        actual, expected = rotated(name, index, which)
        np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0, err_msg=f"{name} case {index} {which}")


def test_every_audited_timm_architecture_with_rope_has_a_fixture():
    covered = {other for name in NAMES for other in META[name]["covers"]}
    with_rope = {name for name, entry in rope_jax.TIMM_ARCHITECTURES.items() if entry["rope_module"] is not None}
    assert with_rope - covered == set(), "timm architectures with RoPE and no parity fixture"
    assert set(META["_versions"]) >= {"torch", "timm", "numpy"}


def test_timm_refusals_name_the_reason():
    with pytest.raises(ValueError, match="no RoPE"):
        rope_jax.vision_rope({"architecture": "eva02_enormous_patch14_clip_224"})
    with pytest.raises(ValueError, match="not one of the"):
        rope_jax.vision_rope({"architecture": "resnet50"})
    with pytest.raises(ValueError, match="rope_grid_indexing"):
        rope_jax.vision_rope({"architecture": "eva02_tiny_patch14_224", "model_args": {"rope_grid_indexing": "xy"}})
