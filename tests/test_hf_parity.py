"""Parity with Hugging Face transformers' own RoPE code (fixtures from tests/fixtures/generate_hf_fixtures.py).

For every rope type (default, linear, dynamic, yarn with and without truncation and with an mscale ratio,
llama3, longrope short and long, proportional, partial rotary, interleaved) at positions well past 10k:
``inv_freq`` equal to the bit, ``attention_scaling`` equal, rotated outputs within 1e-5 relative error.
"""

import json
import pathlib

import jax
import numpy as np
import pytest

import rope_jax

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
META = json.loads((FIXTURES / "hf_rope.json").read_text())
ARRAYS = np.load(FIXTURES / "hf_rope.npz")
CASES = sorted(name for name in META if not name.startswith("_") and not META[name].get("mrope"))


def relative_error(actual, expected) -> float:
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def case(name):
    meta = META[name]
    rope = rope_jax.from_hf_config(meta["config"], layer_type=meta["layer_type"])
    keys = ("positions", "q", "q_out", "inv_freq", "inv_freq_used")
    return meta, rope, {key: ARRAYS[f"{name}/{key}"] for key in keys}


def test_fixture_set_covers_every_rope_type():
    types = {rope_jax.from_hf_config(META[n]["config"], layer_type=META[n]["layer_type"]).rope_type for n in CASES}
    assert types == set(rope_jax.SUPPORTED_ROPE_TYPES)


@pytest.mark.parametrize("name", CASES)
def test_inv_freq_bit_exact(name):
    _, rope, arrays = case(name)
    np.testing.assert_array_equal(rope.inv_freq, arrays["inv_freq"])


@pytest.mark.parametrize("name", CASES)
def test_attention_scaling(name):
    meta, rope, _ = case(name)
    assert rope.attention_scaling == pytest.approx(meta["attention_scaling"], rel=1e-12, abs=0)


@pytest.mark.parametrize("name", CASES)
def test_frequencies_in_use_match_after_length_decision(name):
    """Dynamic NTK and LongRoPE decide from max(positions) + 1, traced, like HF's module on its first call."""
    _, rope, arrays = case(name)
    length = int(arrays["positions"].max()) + 1
    traced = jax.jit(rope.frequencies)(length)
    np.testing.assert_allclose(np.asarray(traced), arrays["inv_freq_used"], rtol=2e-7, atol=0)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_rotated_outputs(name, jit):
    meta, rope, arrays = case(name)
    assert int(arrays["positions"].max()) >= 10000 or "short" in name or name == "gpt-j-6b"
    call = jax.jit(rope.__call__) if jit else rope
    out = np.asarray(call(arrays["q"], arrays["positions"]))
    if meta["hf_apply"].endswith("interleave"):
        # DeepSeek's HF kernel returns interleaved pairs de-interleaved; scores are identical either way.
        out = rope_jax.interleaved_to_half_split(out, num_heads=1, head_dim=rope.head_dim)
    assert out.shape == arrays["q_out"].shape and out.dtype == np.float32
    assert relative_error(out, arrays["q_out"]) <= 1e-5
    np.testing.assert_allclose(out, arrays["q_out"], rtol=0, atol=1e-5 * np.abs(arrays["q_out"]).max())
