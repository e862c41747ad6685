"""Diffusion transformers: rope_jax.dit_rope against each diffusers model's own RoPE (fixtures:
tests/fixtures/generate_dit_fixtures.py).

Every fixture holds a tiny model's config and its cases (small grids; reference images or odd text lengths;
one realistic size per family, 1024 px / 720p with a 512-token prompt, kept at 64 tokens). The keys that
reached the model's first attention over the whole sequence, before and after its rotation, are compared with
``rope(k, coords)`` from ``dit_rope(config, latent_shape, text_len)`` alone: within 1e-6 of max |k| (queries
turn by the same rotation).
A last test fails when a supported class in the packaged table has no fixture and is not listed in
``WITHOUT_FIXTURE`` with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest

import rope_jax

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
META = json.loads((FIXTURES / "dit_rope.json").read_text())
ARRAYS = np.load(FIXTURES / "dit_rope.npz")
CASES = [
    (name, index) for name in sorted(META) if not name.startswith("_") for index in range(len(META[name]["cases"]))
]
TOLERANCE = 1e-6  # of max |q|

# Supported classes the fixture script cannot run yet, with the reason.
WITHOUT_FIXTURE: dict[str, str] = {}


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_rotated_queries_match_the_model(name, index):
    case = META[name]["cases"][index]
    prefix = f"{name}/learned/"
    learned = {key[len(prefix) :]: ARRAYS[key] for key in ARRAYS.files if key.startswith(prefix)}
    rope, coords = rope_jax.dit_rope(
        case.get("config", META[name]["config"]),
        case["latent_shape"],
        case["text_len"],
        images=case["images"],
        fps=case.get("fps"),
        frame_positions=case.get("frame_positions"),
        factors=case.get("factors"),
        learned=learned,
    )
    assert coords.shape[0] == case["tokens"], "the sequence length differs from the model's"
    if "kept" in case:
        coords = coords[np.asarray(case["kept"])]
    if "heads" in case:  # per-head frequencies: the stored heads only
        rope = dataclasses.replace(rope, freqs=np.asarray(rope.freqs)[case["heads"]])
    k, expected = ARRAYS[f"{name}/{index}/k"], ARRAYS[f"{name}/{index}/k_out"]
    assert np.abs(expected - k).max() > 1e-3 * np.abs(k).max(), "the model left every key unrotated"
    actual = rope(k, coords)
    tolerance = TOLERANCE * np.abs(k).max()
    if rope_jax.DIT_MODEL_TYPES[name].get("output_dtype") == "bfloat16":
        # Kandinsky 5 rounds every rotated q/k to bfloat16, the keys captured before its rotation too (through the
        # identity rotation): two bfloat16 roundings apart at most
        actual, tolerance = actual.astype("bfloat16"), 2.0**-7 * np.abs(k).max()
    np.testing.assert_allclose(np.asarray(actual, np.float32), expected, atol=tolerance, rtol=0, err_msg=name)


def test_every_supported_class_has_a_fixture_or_a_reason():
    supported = {name for name, entry in rope_jax.DIT_MODEL_TYPES.items() if not entry.get("unsupported")}
    fixtures = {name for name in META if not name.startswith("_")}
    missing = supported - fixtures - set(WITHOUT_FIXTURE)
    assert not missing, f"no parity fixture for {sorted(missing)}"
    assert not fixtures & set(WITHOUT_FIXTURE), "a class listed without fixture now has one: unlist it"
    assert all(len(META[name]["cases"]) >= 2 for name in fixtures), "every class needs two cases at least"
