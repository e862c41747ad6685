"""Vision towers: rope_jax.vision_rope against each transformers tower's own rotation (fixtures:
tests/fixtures/generate_vision_fixtures.py).

Every fixture holds a tiny tower's config and two grids (non-square; packed images and a video where the tower
takes them); q/k fed to the tower's own rotation function are rotated by ``vision_rope(config, grid)`` alone
and compared within 1e-6 (float32). A last test fails when a supported model type in the packaged table has no
fixture and is not listed in ``WITHOUT_FIXTURE`` with the reason.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

import rope_jax

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
META = json.loads((FIXTURES / "vision_rope.json").read_text())
ARRAYS = np.load(FIXTURES / "vision_rope.npz")
CASES = sorted(name for name in META if not name.startswith("_"))
TOLERANCE = 1e-6

# Supported model types whose tower the fixture script cannot run yet, with the reason.
WITHOUT_FIXTURE = {
    "inkling2_vision": "its tower takes pixels in a layout the generic fixture input does not build",
    "muse_glimmer_vision": "its tower takes pixels in a layout the generic fixture input does not build",
    "muse_spark_vision": "its tower takes pixels in a layout the generic fixture input does not build",
    "paddleocr_vl_vision": "its tower takes batched pixel tensors the generic fixture input does not build",
    "step3p5_vision": "its tower forward takes images, not packed patches",
    "gemma4_vision": "its tower forward takes pixel_position_ids from its processor",
    "llama4_vision_model": "one image grid per batch: not run by the packed-grid fixture input",
    "dinov3_vit": "one image grid per batch: not run by the packed-grid fixture input",
    "eomt_dinov3": "one image grid per batch: not run by the packed-grid fixture input",
    "sapiens2": "one image grid per batch: not run by the packed-grid fixture input",
    "sam3_vit_model": "one image grid per batch: not run by the packed-grid fixture input",
    "sam2_video": "memory attention: not run by the packed-grid fixture input",
    "sam3_tracker_video": "memory attention: not run by the packed-grid fixture input",
}


def rotated(name: str, index: int, which: str) -> tuple[np.ndarray, np.ndarray]:
    case = META[name]["cases"][index]
    prefix = f"{name}/learned/"
    learned = {key[len(prefix) :]: ARRAYS[key] for key in ARRAYS.files if key.startswith(prefix)}
    rope, coords = rope_jax.vision_rope(
        META[name]["config"], grid_thw=case["grid_thw"], merge_size=case.get("merge_size"), learned=learned
    )
    fed, expected = ARRAYS[f"{name}/{index}/{which}"], ARRAYS[f"{name}/{index}/{which}_out"]
    if case["qk_axes"] == "BNTH":  # the tower rotates [B, N, T, H]; rope_jax takes [..., T, N, H]
        return np.swapaxes(np.asarray(rope(np.swapaxes(fed, -2, -3), coords)), -2, -3), expected
    return np.asarray(rope(fed, coords)), expected


@pytest.mark.parametrize("name", CASES)
def test_rotated_q_and_k_match_the_tower(name):
    assert len(META[name]["cases"]) >= 2, f"{name}: fewer than two grids"
    for index in range(len(META[name]["cases"])):
        for which in "qk":
            actual, expected = rotated(name, index, which)
            assert actual.shape == expected.shape
            np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0, err_msg=f"{name} grid {index} {which}")


def test_every_supported_vision_model_type_has_a_fixture_or_a_reason():
    supported = {
        name
        for name, entry in rope_jax.VISION_MODEL_TYPES.items()
        if not entry.get("unsupported") and not entry.get("vision_model_type")
    }
    missing = supported - set(CASES) - set(WITHOUT_FIXTURE)
    assert not missing, f"no parity fixture for {sorted(missing)}"
    assert not set(CASES) & set(WITHOUT_FIXTURE), "a model type listed without fixture now has one: unlist it"
