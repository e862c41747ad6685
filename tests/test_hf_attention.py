"""rope_jax.hf_attention: one call builds a Hugging Face model's attention layer, checked against transformers.

Every model type the attention audit verified (``rope_jax/hf_attention_types.json``) has a fixture from
transformers' own classes (tests/fixtures/generate_attention_fixtures.py): a tiny model of its class defaults with
the features its attention reads switched on, 1-D parameters perturbed, at positions 0..11 and 50,000..50,011. The
one-call layer, loaded from the layer's own state dict, must give the module's output within 1e-5 relative error.
"""

import functools
import json
import pathlib

import numpy as np
import pytest
from flax import nnx

import rope_jax
from rope_jax import hf_attention
from tests.ports import relative_error

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
TOLERANCE = 1e-5
# The model types whose port the attention audit was asked for, each with what it exercises.
REQUIRED = {
    "stablelm": "LayerNorm per head with per-head weights, before RoPE",
    "persimmon": "LayerNorm with weight and bias shared by the heads, before RoPE, partial rotary",
    "olmo": "clip_qkv",
    "olmo2": "RMS norm over the whole projection",
    "olmo3": "RMS norm over the whole projection, sliding layers",
    "minimax_m2": "RMS norm over the whole projection, weights per head",
    "hunyuan_v1_dense": "RMS norm per head after RoPE",
    "llama4_text": "weightless L2 norm after RoPE on RoPE layers, query temperature on NoPE layers",
    "gemma2": "logit softcap, query_pre_attn_scalar, sliding layers",
    "gpt_oss": "learned sink logits, sliding layers",
    "bitnet": "RMS norm of the attention output",
    "phi": "output named dense, q/k LayerNorm",
    "gptj": "output named out_proj, adjacent pairs",
    "codegen": "qkv_proj in 4 shards of (q, v, k)",
    "falcon": "query_key_value grouped [K, N/K + 2, H]",
    "granite": "softmax scale = attention_multiplier",
}


@functools.cache
def fixtures() -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((FIXTURES / "attention.json").read_text())
    with np.load(FIXTURES / "attention.npz") as data:
        arrays = {name: data[name] for name in data.files}
    return meta, arrays


def cases() -> list[tuple[str, str]]:
    meta, _ = fixtures()
    return [(model_type, layer) for model_type, m in sorted(meta["model_types"].items()) for layer in m["layers"]]


@pytest.mark.parametrize(("model_type", "layer"), cases())
def test_one_call_layer_matches_transformers(model_type, layer):
    meta, arrays = fixtures()
    fixture = meta["model_types"][model_type]
    key = f"{model_type}/{layer}"
    weights = {
        fixture["layers"][layer]["prefix"] + name[len(f"{key}/weights/") :]: value.astype(np.float32)
        for name, value in arrays.items()
        if name.startswith(f"{key}/weights/")
    }
    prefix = fixture["layers"][layer]["prefix"]
    attn = hf_attention.attention_layer(
        fixture["config"], int(layer), rngs=nnx.Rngs(0), state_dict=weights, prefix=prefix
    )
    for start in fixture["starts"]:
        positions = np.arange(start, start + 12)[None]
        axes = getattr(attn.rope, "num_axes", None)  # M-RoPE: the text position on each of its axes
        positions = positions if axes is None else np.repeat(positions[..., None], axes, axis=-1)
        out = attn(arrays[f"{key}/x/{start}"], positions)
        assert relative_error(out, arrays[f"{key}/out/{start}"]) <= TOLERANCE, (model_type, layer, start)


def test_every_verified_model_type_has_a_fixture_and_the_required_ones_are_verified():
    meta, _ = fixtures()
    verified = {name for name, entry in hf_attention.ATTENTION_TYPES.items() if "verified" in entry}
    assert verified == set(meta["model_types"])
    assert set(REQUIRED) <= verified, sorted(set(REQUIRED) - verified)
    assert meta["generated_with"]["ATEN_CPU_CAPABILITY"] == "default"


def test_fixtures_exercise_what_they_claim():
    """The fixtures switch on what the port must reproduce: a dropped stage would show."""
    meta, _ = fixtures()
    for model_type in REQUIRED:
        config = meta["model_types"][model_type]["config"]
        for layer in meta["model_types"][model_type]["layers"]:
            settings = hf_attention.attention_settings(config, int(layer))
            assert settings["num_heads"] == 4
    settings = {name: hf_attention.attention_settings(meta["model_types"][name]["config"], 0) for name in REQUIRED}
    assert (
        settings["stablelm"]["qk_norm"]["kind"] == "layer" and settings["stablelm"]["qk_norm"]["weights"] == "per_head"
    )
    assert settings["olmo2"]["qk_norm"]["over"] == "projection"
    assert settings["hunyuan_v1_dense"]["qk_norm"]["where"] == "after"
    assert settings["olmo"]["clip_qkv"] is not None
    assert settings["gemma2"]["logit_softcap"] is not None and settings["gemma2"]["sliding_window"] is not None
    assert settings["gpt_oss"]["sink_logits"]
    assert settings["bitnet"]["output_norm"] is not None
    assert settings["codegen"]["qkv_layout"] == "codegen"
    assert settings["granite"]["softmax_scale"] != settings["granite"]["head_dim"] ** -0.5
    persimmon = settings["persimmon"]
    assert persimmon["qk_norm"]["weights"] == "shared" and persimmon["qk_norm"]["use_bias"]
    assert persimmon["rope"].rotary_dim < persimmon["head_dim"]
    assert settings["minimax_m2"]["qk_norm"]["over"] == "projection"
    assert settings["minimax_m2"]["qk_norm"]["weights"] == "per_head"
    assert (
        settings["phi"]["qk_norm"]["kind"] == "layer"
        and settings["phi"]["rope"].rotary_dim < settings["phi"]["head_dim"]
    )
    assert settings["gptj"]["rope"].interleaved
    falcon, (_, arrays) = settings["falcon"], fixtures()
    fused = arrays["falcon/0/weights/query_key_value.weight"]
    assert falcon["num_kv_heads"] < falcon["num_heads"]  # grouped: [K, N/K + 2, H] rows, not N + N + N
    assert fused.shape[0] == (falcon["num_heads"] + 2 * falcon["num_kv_heads"]) * falcon["head_dim"]
    olmo3 = meta["model_types"]["olmo3"]
    windows = [hf_attention.attention_settings(olmo3["config"], int(i))["sliding_window"] for i in olmo3["layers"]]
    assert any(w is not None for w in windows) and any(w is None for w in windows)
    llama4 = meta["model_types"]["llama4_text"]
    kinds = {layer: hf_attention.attention_settings(llama4["config"], int(layer)) for layer in llama4["layers"]}
    rope_layers = [s for s in kinds.values() if s["rope"] is not None]
    nope_layers = [s for s in kinds.values() if s["rope"] is None]
    assert rope_layers and all(s["qk_norm"] and not s["temperature"] for s in rope_layers)
    assert nope_layers and all(s["temperature"] and not s["qk_norm"] for s in nope_layers)


def test_model_types_join_the_attention_audit():
    assert rope_jax.MODEL_TYPES["gemma2"]["attention"]["softcap"]["key"] == "attn_logit_softcapping"
    assert "attention" not in rope_jax.MODEL_TYPES["RefinedWeb"]  # an alias the attention audit did not run
    audited = [name for name, entry in rope_jax.MODEL_TYPES.items() if "attention" in entry]
    assert len(audited) == len(hf_attention.ATTENTION_TYPES)


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        ({"model_type": "deepseek_v3", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1,
          "qk_rope_head_dim": 8}, ValueError, "multi-head latent attention"),
        ({"model_type": "no_such_model", "rope_theta": 1e4, "hidden_size": 64, "num_attention_heads": 4,
          "num_hidden_layers": 1}, ValueError, "not among the"),
    ],
)  # fmt: skip
def test_refusals_say_why(config, error, match):
    with pytest.raises(error, match=match):
        hf_attention.attention_layer(config, 0, rngs=nnx.Rngs(0))


def test_layer_out_of_range():
    config = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2}
    with pytest.raises(ValueError, match=r"layer must be an int in \[0, 2\), got 2"):
        hf_attention.attention_layer(config, 2, rngs=nnx.Rngs(0))
