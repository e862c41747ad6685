"""Parity with transformers for every distinct behaviour of the audit table (fixtures: generate_audit_fixtures.py).

Each fixture is one config (published values or class defaults) run through transformers' own config class,
rotary module and apply function, at positions 0..15 and 100000..100015. For each one, rope_jax must give:
``inv_freq`` equal to the bit for every layer type, ``attention_scaling`` equal, rotated q/k within 1e-6
relative error on every layer that applies RoPE, and ``None`` exactly on the layers where transformers' attention
applies none. A last test fails when the packaged table (``rope_jax.MODEL_TYPES``) gains a behaviour that no
fixture covers.
"""

from __future__ import annotations

import functools
import json
import pathlib

import numpy as np
import pytest

import rope_jax
from tests import audit_behaviours

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
META = json.loads((FIXTURES / "audit_rope.json").read_text())
ARRAYS = np.load(FIXTURES / "audit_rope.npz")
CASES = sorted(name for name in META if not name.startswith("_"))
TABLE = dict(rope_jax.MODEL_TYPES)
TOLERANCE = 1e-6


KNOWN_GAPS = audit_behaviours.KNOWN_GAPS

# Fixtures whose rotated outputs rope_jax is known to get wrong; strict, so a fix turns them into failures.
KNOWN_DIFFERENCES: dict[str, str] = {
    "defaults-bamba": "its class-default config has no attention layers; the tiny model's do not match the table",
    "defaults-dory": "its layer types mix attention and MLP kinds its config class reads otherwise",
    "defaults-embedding_gemma2": "its full-attention layers' head dim is not read",
    "defaults-embedding_gemma2_text": "its full-attention layers' head dim is not read",
}


def cases(names, only=None):
    """``names``, with the known differences (all of them, or those in ``only``) as strict xfails."""
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name]))
        if name in KNOWN_DIFFERENCES and (only is None or name in only)
        else name
        for name in names
    ]


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


@functools.cache
def layer_ropes(name: str) -> list:
    meta = META[name]
    if rope_jax.hf.num_layers(meta["config"]) is None:
        return [rope_jax.from_hf_config(meta["config"])]
    return rope_jax.layer_ropes(meta["config"])


def layer_type_of(buffer: str) -> str | None:
    """``inv_freq`` -> None, ``sliding_attention_inv_freq`` -> ``"sliding_attention"``."""
    prefix = buffer[: -len("inv_freq")].rstrip("_")
    return prefix or None


def rope_for_layer_type(name: str, layer_type: str | None):
    meta = META[name]
    if layer_type not in rope_jax.hf.rope_layer_types(meta["config"]):  # one RoPE for every layer type
        layer_type = None
    if layer_type is None:
        ropes = [rope for rope in layer_ropes(name) if rope is not None]
        if "layer_rope_theta" in meta["config"]:  # Granite SWA: HF's model-level rotary has the config's theta
            return rope_jax.from_hf_config({k: v for k, v in meta["config"].items() if k != "layer_rope_theta"})
        assert len(set(ropes)) == 1, f"{name}: one HF rotary for all layers, rope_jax has {set(ropes)}"
        return ropes[0]
    return rope_jax.from_hf_config(meta["config"], layer_type=layer_type)


def rotary_dim(rope) -> int:
    if isinstance(rope, rope_jax.RoPENd):
        return 2 * np.asarray(rope.freqs).shape[-1]
    return rope.rotary_dim


@pytest.mark.parametrize(
    "name", cases(CASES, {"defaults-bamba", "defaults-embedding_gemma2", "defaults-embedding_gemma2_text"})
)
def test_inv_freq_bit_exact(name):
    for buffer in META[name]["inv_freq_buffers"]:
        rope = rope_for_layer_type(name, layer_type_of(buffer))
        expected = ARRAYS[f"{name}/inv_freq/{buffer}"]
        actual = np.asarray(inv_freq_1d(rope))
        assert actual.dtype == np.float32
        np.testing.assert_array_equal(actual, expected, err_msg=f"{name} {buffer}")


def inv_freq_1d(rope) -> np.ndarray:
    if isinstance(rope, rope_jax.RoPENd):
        return np.asarray(rope.freqs, np.float32).max(axis=0)  # M-RoPE: each pair's frequency sits in one row
    return np.asarray(rope.inv_freq)


@pytest.mark.parametrize("name", cases(CASES, {"defaults-bamba"}))
def test_attention_scaling(name):
    for key, expected in META[name]["attention_scaling"].items():
        rope = rope_for_layer_type(name, layer_type_of(key.replace("attention_scaling", "inv_freq")))
        assert float(rope.attention_scaling) == expected, f"{name} {key}"


@pytest.mark.parametrize("name", cases([n for n in CASES if META[n]["rope_layers"] is not None], {"defaults-dory"}))
def test_no_rope_exactly_where_transformers_applies_none(name):
    ropes = layer_ropes(name)
    assert [rope is not None for rope in ropes] == META[name]["rope_layers"]


def rotated(name: str, call: dict) -> np.ndarray:
    """rope_jax's rotation of the fixture's fixed head at the call's positions: ``[B, T, width]``."""
    meta = META[name]
    if call["layer"] is not None:
        rope = layer_ropes(name)[call["layer"]]
    else:
        rope = rope_for_layer_type(name, call["layer_type"])
    assert rope is not None, f"{name}: transformers rotates layer {call['layer']}, rope_jax says no RoPE"
    if "positions" in call:
        positions = ARRAYS[call["positions"]]
    else:
        start, stop = meta["positions"][call["label"]]
        positions = np.arange(start, stop)[None]
    width = call["width"]
    head = ARRAYS[f"{meta['input']}/{positions.shape[1]}x{width}"].astype(np.float32)  # [T, width]
    x = np.broadcast_to(head[None, :, None], (positions.shape[0], head.shape[0], 1, width))
    if width < rope.head_dim:  # the attention rotates a slice it cut itself (the rotary part)
        assert width == rotary_dim(rope)
        x = np.concatenate([x, np.zeros((*x.shape[:-1], rope.head_dim - width), np.float32)], axis=-1)
    out = np.asarray(rope(x, positions))[:, :, 0, :width]
    if call["fn"].endswith("interleave"):  # DeepSeek-V3: HF returns interleaved pairs de-interleaved
        out = rope_jax.interleaved_to_half_split(out, num_heads=1, head_dim=width)
    return out


def max_relative_error(name: str) -> float:
    worst = 0.0
    for index, call in enumerate(META[name]["calls"]):
        out = rotated(name, call)
        for tensor, key in call["outputs"].items():
            expected = ARRAYS[key]
            assert out.shape == expected.shape, f"{name} call {index} {tensor}: {out.shape} vs {expected.shape}"
            worst = max(worst, relative_error(out, expected))
    return worst


@pytest.mark.parametrize("name", cases(CASES))
def test_rotated_outputs(name):
    """Every apply call transformers made (each layer, near 0 and near 100k) within 1e-6 relative error."""
    error = max_relative_error(name)
    assert error <= TOLERANCE, f"{name}: max relative error {error:.3g}"


def test_every_behaviour_of_the_table_has_a_fixture():
    covered = {audit_behaviours.behaviour(META[name]["model_type"], TABLE) for name in CASES}
    groups = audit_behaviours.behaviours(TABLE)
    missing = {key: members for key, members in groups.items() if key not in covered}
    unexplained = {key: members for key, members in missing.items() if not set(members) <= set(KNOWN_GAPS)}
    assert not unexplained, "behaviours without an audit fixture (run tests/fixtures/generate_audit_fixtures.py):\n" + (
        "\n".join(f"{members}: {key}" for key, members in unexplained.items())
    )
    stale = {gap for gap in KNOWN_GAPS if any(META[name]["model_type"] == gap for name in CASES)}
    assert not stale, f"KNOWN_GAPS lists model types that now have a fixture: {sorted(stale)}"


def test_fixtures_cover_every_rope_type():
    types = set()
    for name in CASES:
        for rope in layer_ropes(name):
            if isinstance(rope, rope_jax.RoPE):
                types.add(rope.rope_type)
    assert set(rope_jax.SUPPORTED_ROPE_TYPES) <= types


def test_fixtures_were_generated_reproducibly():
    generated = META["_generated_with"]
    assert generated["ATEN_CPU_CAPABILITY"] == "default"
    assert generated["transformers"] == rope_jax.hf.AUDITED_TRANSFORMERS
