"""Vision towers: rope_jax.vision_rope against each transformers tower's own rotation (fixtures:
tests/fixtures/generate_vision_fixtures.py).

Every fixture holds a tiny tower's config and at least two inputs built the way its forward takes them
(non-square grids; packed images and a video, a padded batch, memory frames, a second image size where the
tower takes them). The q/k fed to the tower's own rotation function are rotated by ``vision_rope(config,
**arguments)`` alone, the arguments being what a user passes for those tokens, and compared within 1e-6
(float32). Every supported model type in the packaged table must have a fixture.
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


def rotated(name: str, index: int, which: str) -> tuple[np.ndarray, np.ndarray]:
    case = META[name]["cases"][index]
    config = case.get("config", META[name]["config"])
    prefix = f"{name}/learned/"
    learned = {key[len(prefix) :]: ARRAYS[key] for key in ARRAYS.files if key.startswith(prefix)}
    arguments = case["rope"] if which == "q" else case.get("k_rope", case["rope"])
    rope, coords = rope_jax.vision_rope(config, learned=learned, **arguments)
    fed, expected = ARRAYS[f"{name}/{index}/{which}"], ARRAYS[f"{name}/{index}/{which}_out"]
    if case["qk_axes"] == "BNTH":  # the tower rotates [B, N, T, H]; rope_jax takes [..., T, N, H]
        return np.swapaxes(np.asarray(rope(np.swapaxes(fed, -2, -3), coords)), -2, -3), expected
    return np.asarray(rope(fed, coords)), expected


@pytest.mark.parametrize("name", CASES)
def test_rotated_q_and_k_match_the_tower(name):
    cases = META[name]["cases"]
    grids = {json.dumps([case["rope"], case.get("config")], sort_keys=True) for case in cases}
    assert len(grids) >= 2, f"{name}: fewer than two different inputs"
    for index in range(len(cases)):
        for which in "qk":
            actual, expected = rotated(name, index, which)
            assert actual.shape == expected.shape
            np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0, err_msg=f"{name} case {index} {which}")


def test_every_supported_vision_model_type_has_a_fixture():
    supported = {
        name
        for name, entry in rope_jax.VISION_MODEL_TYPES.items()
        if not entry.get("unsupported") and not entry.get("vision_model_type")
    }
    assert supported - set(CASES) == set(), "supported model types without a parity fixture"
    assert set(CASES) - supported == set(), "fixtures of model types the table no longer supports"


def test_fixtures_record_the_library_versions():
    assert set(META["_versions"]) >= {"torch", "transformers", "numpy"}
