"""The audited model types: every one loads or is refused clearly, and each silent-layout family is right."""

import math
import warnings

import numpy as np
import pytest

import rope_jax
from rope_jax.hf import AUDITED_TRANSFORMERS, MODEL_TYPES

SMALL = {"hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 8, "max_position_embeddings": 4096}
MLA = {"qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32}


def small(model_type: str, **extra):
    return {"model_type": model_type, **SMALL, **MLA, **extra}


def layer_types_for(entry) -> dict:
    """Models with their own layer-type names (not sliding/full) need layer_types spelled out."""
    defaults = entry.get("defaults") or {}
    names = sorted(k for k, v in defaults.items() if isinstance(v, dict))
    if names and not set(names) <= {"full_attention", "sliding_attention"}:
        return {"layer_types": [names[i % len(names)] for i in range(SMALL["num_hidden_layers"])]}
    return {}


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_every_audited_model_type_loads_per_layer_or_is_refused_by_name(model_type):
    entry = MODEL_TYPES[model_type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an audited type never falls back to the generic guess
        sections = (entry.get("defaults") or {}).get("mrope_section")  # class-default M-RoPE fixes the head dim
        config = small(model_type, head_dim=2 * sum(sections) if sections else 96, **layer_types_for(entry))
        if entry.get("unsupported"):
            with pytest.raises(ValueError, match=f"{model_type}|not supported|no RoPE"):
                rope_jax.layer_ropes(config)
            return
        ropes = rope_jax.layer_ropes(config)
    assert len(ropes) == SMALL["num_hidden_layers"]
    present = [rope for rope in ropes if rope is not None]
    if entry.get("no_rope"):
        assert not present
        return
    attending = [kind for kind in rope_jax.hf.layer_types(config) if kind not in {"linear_attention", "conv"}]
    assert present or entry.get("nope") or not attending, (
        "only models with NoPE rules, no RoPE, or no attention layers (Bamba's class default) may have no RoPE"
    )
    for rope in present:
        expected = {"half": False, "interleaved": True, "rope_interleave": True}[entry["layout"]]
        assert rope.interleaved is expected
        if entry.get("head_dim_key") == "qk_rope_head_dim":
            assert rope.head_dim == MLA["qk_rope_head_dim"]


@pytest.mark.parametrize("model_type", ["cohere", "cohere2", "glm", "glm4", "ernie4_5", "deepseek_v2", "llama4_text"])
def test_adjacent_pair_families(model_type):
    ropes = [r for r in rope_jax.layer_ropes(small(model_type, sliding_window=128)) if r is not None]
    assert ropes and all(rope.interleaved for rope in ropes)


def test_glm_rotates_half_the_head_by_default_and_glm4_moe_is_half_split():
    glm4 = rope_jax.from_hf_config(small("glm4"))  # Glm4Config's head_dim defaults to 128, whatever the sizes
    assert (glm4.interleaved, glm4.rotary_dim, glm4.head_dim) == (True, 64, 128)
    moe = rope_jax.from_hf_config(small("glm4_moe"))
    assert (moe.interleaved, moe.rotary_dim) == (False, 32)


def test_olmo3_legacy_scaling_reaches_full_attention_layers_only():
    config = small(
        "olmo3",
        rope_theta=1e6,
        rope_scaling={"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 8192},
        layer_types=["sliding_attention"] * 3 + ["full_attention"] + ["sliding_attention"] * 3 + ["full_attention"],
    )
    ropes = rope_jax.layer_ropes(config)
    assert [rope.rope_type for rope in ropes] == ["default"] * 3 + ["yarn"] + ["default"] * 3 + ["yarn"]
    assert ropes[3].theta == 1e6 and ropes[0].theta == 500000.0  # sliding layers keep OLMo 3's class default
    with pytest.raises(ValueError, match="layer_type="):
        rope_jax.from_hf_config(config)
    assert rope_jax.from_hf_config(config, layer_type="full_attention") == ropes[3]


def test_gemma3_legacy_form_without_layer_type_is_refused_not_guessed():
    config = small("gemma3_text", head_dim=64, rope_theta=1e6, rope_local_base_freq=1e4, sliding_window_pattern=4)
    config["rope_scaling"] = {"rope_type": "linear", "factor": 8.0}
    ropes = rope_jax.layer_ropes(config)
    assert [rope.theta for rope in ropes] == [1e4, 1e4, 1e4, 1e6] * 2
    assert ropes[3].scaling == rope_jax.Linear(factor=8.0) and ropes[0].rope_type == "default"
    with pytest.raises(ValueError, match="disagree"):
        rope_jax.from_hf_config(config)


def test_hunyuan_dynamic_with_alpha_is_a_fixed_ntk_base():
    config = small(
        "hunyuan_v1_dense", head_dim=128, rope_theta=10000.0, rope_scaling={"type": "dynamic", "alpha": 1000.0}
    )
    rope = rope_jax.from_hf_config(config)
    base = 10000.0 * 1000.0 ** (128 / 126)
    expected = 1.0 / base ** (np.arange(0, 128, 2) / 128)
    np.testing.assert_allclose(rope.inv_freq, expected, rtol=math.log(base) * 2.0**-23)
    assert rope.scaling == rope_jax.NTK(factor=1000.0)  # no length dependence left


def test_original_falcon_configs_load():
    for model_type in ("RefinedWebModel", "RefinedWeb", "falcon"):
        rope = rope_jax.from_hf_config({"model_type": model_type, "hidden_size": 4544, "n_head": 71, "n_layer": 32})
        assert (rope.head_dim, rope.rotary_dim, rope.theta, rope.interleaved) == (64, 64, 10000.0, False)
    with pytest.raises(ValueError, match="ALiBi"):
        rope_jax.from_hf_config({"model_type": "falcon", "hidden_size": 4544, "n_head": 71, "alibi": True})


@pytest.mark.parametrize(
    ("model_type", "extra", "rope_layers"),
    [
        ("smollm3", {}, [0, 1, 2, 4, 5, 6]),
        ("llama4_text", {"no_rope_layers": [1, 0, 1, 0, 1, 0, 1, 0]}, [0, 2, 4, 6]),
        ("cohere2", {"sliding_window": 128}, [0, 1, 2, 4, 5, 6]),
        ("cohere2", {"sliding_window": None}, []),
        ("exaone4", {"sliding_window": 128}, [0, 1, 2, 4, 5, 6]),
        ("exaone4", {"sliding_window": None}, list(range(8))),
        ("granite_swa", {"layer_rope_theta": [1e4, 0, 1e4, 5e5, 1e4, 0, 1e4, 5e5]}, [0, 2, 3, 4, 6, 7]),
    ],
)
def test_layers_without_rope(model_type, extra, rope_layers):
    ropes = rope_jax.layer_ropes(small(model_type, **extra))
    assert [i for i, rope in enumerate(ropes) if rope is not None] == rope_layers
    if rope_layers and len(rope_layers) < 8:
        with pytest.raises(ValueError, match="layer_ropes"):
            rope_jax.from_hf_config(small(model_type, **extra))


def test_granite_swa_reads_each_layers_theta():
    ropes = rope_jax.layer_ropes(small("granite_swa", layer_rope_theta=[1e4, 0, 1e4, 5e5, 1e4, 0, 1e4, 5e5]))
    assert [None if r is None else r.theta for r in ropes] == [1e4, None, 1e4, 5e5, 1e4, None, 1e4, 5e5]


def test_class_defaults_fill_what_a_config_leaves_out():
    assert rope_jax.from_hf_config(small("smollm3", no_rope_layer_interval=100)).theta == 2e6
    assert rope_jax.from_hf_config(small("mixtral")).theta == 1e6
    oss = rope_jax.from_hf_config(small("gpt_oss", head_dim=64))
    assert oss.scaling == rope_jax.YaRN(
        factor=32.0, original_max_position_embeddings=4096, beta_fast=32.0, beta_slow=1.0, truncate=False
    )
    neox = rope_jax.from_hf_config(small("gpt_neox", rotary_emb_base=20000))
    assert (neox.rotary_dim, neox.theta) == (16, 20000.0)


def test_unknown_model_types_warn_with_the_assumption_and_the_override():
    config = {"model_type": "my_new_llm", "hidden_size": 256, "num_attention_heads": 4, "rope_theta": 1e4}
    with pytest.warns(UserWarning, match=r"assuming half-split pairs.*interleaved=True"):
        rope = rope_jax.from_hf_config(config)
    assert not rope.interleaved
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rope_jax.from_hf_config(config, interleaved=True).interleaved
    with pytest.raises(TypeError, match="interleaved must be True or False"):
        rope_jax.from_hf_config(config, interleaved="yes")


def test_unsupported_model_types_say_why():
    with pytest.raises(ValueError, match=r"nanochat.*minus the angle"):
        rope_jax.from_hf_config(small("nanochat"))


def test_the_table_names_its_transformers_version_and_the_docs_match_it():
    assert AUDITED_TRANSFORMERS.count(".") == 2
    import pathlib

    docs = pathlib.Path(__file__).resolve().parent.parent / "docs" / "model_types.md"
    if docs.exists():  # the docs table is generated together with the package table
        text = docs.read_text()
        assert AUDITED_TRANSFORMERS in text
        assert all(f"| `{name}` |" in text for name in MODEL_TYPES)
