"""from_hf_config: every form Hugging Face accepts, and a clear error for everything it does not."""

import json

import numpy as np
import pytest

import rope_jax

LLAMA = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 8192}


def build(**overrides):
    return rope_jax.from_hf_config({**LLAMA, **overrides})


def test_defaults():
    rope = build()
    assert (rope.rope_type, rope.head_dim, rope.rotary_dim, rope.theta, rope.interleaved) == (
        "default",
        128,
        128,
        10000.0,
        False,
    )


@pytest.mark.parametrize("type_key", ["type", "rope_type"])
def test_legacy_rope_scaling_with_either_type_key(type_key):
    rope = build(rope_theta=1e6, rope_scaling={type_key: "linear", "factor": 4.0})
    assert rope.scaling == rope_jax.Linear(factor=4.0) and rope.theta == 1e6


def test_new_rope_parameters_form_wins_and_carries_theta():
    rope = build(
        rope_theta=1.0,
        rope_parameters={
            "rope_type": "yarn",
            "factor": 4.0,
            "rope_theta": 5e5,
            "original_max_position_embeddings": 2048,
        },
    )
    assert rope.theta == 5e5 and rope.rope_type == "yarn"
    assert rope.scaling.original_max_position_embeddings == 2048


def test_yarn_factor_defaults_to_max_over_original():
    rope = build(max_position_embeddings=32768, rope_scaling={"type": "yarn", "original_max_position_embeddings": 4096})
    assert rope.scaling.factor == 8.0


def test_yarn_and_llama3_fall_back_to_max_position_embeddings_as_original():
    rope = build(rope_scaling={"type": "yarn", "factor": 2.0})
    assert rope.scaling.original_max_position_embeddings == 8192


def test_head_dim_sources():
    assert build(head_dim=64).head_dim == 64
    deepseek = rope_jax.from_hf_config(
        {
            "model_type": "deepseek_v3",
            "hidden_size": 7168,
            "num_attention_heads": 128,
            "qk_rope_head_dim": 64,
            "rope_theta": 10000,
        }
    )
    assert deepseek.head_dim == 64 and deepseek.interleaved  # HF's rope_interleave defaults to True there
    assert not rope_jax.from_hf_config(
        {"model_type": "deepseek_v3", "qk_rope_head_dim": 64, "rope_interleave": False}
    ).interleaved


def test_rotary_fraction_sources():
    # transformers' LLaMA (and ~120 model types sharing its default init) rotates the whole head under plain
    # RoPE whatever partial_rotary_factor says; models that honour the fraction rotate only that part.
    assert build(partial_rotary_factor=0.5).rotary_dim == 128
    assert build(rope_parameters={"rope_type": "default", "partial_rotary_factor": 0.25}).rotary_dim == 128
    honours = {**LLAMA, "model_type": "stablelm"}
    assert rope_jax.from_hf_config({**honours, "partial_rotary_factor": 0.5}).rotary_dim == 64
    assert rope_jax.from_hf_config(honours).rotary_dim == 32  # StableLM's class default: 0.25
    assert rope_jax.from_hf_config({**LLAMA, "model_type": "phi"}).rotary_dim == 64  # Phi's class default: 0.5
    neox = rope_jax.from_hf_config(
        {"model_type": "gpt_neox", "hidden_size": 6144, "num_attention_heads": 64, "rotary_emb_base": 20000}
    )
    assert (neox.rotary_dim, neox.theta) == (24, 20000.0)  # GPT-NeoX's default rotary_pct is 0.25
    assert rope_jax.from_hf_config({**LLAMA, "model_type": "gpt_neox", "rotary_pct": 0.5}).rotary_dim == 64
    gptj = rope_jax.from_hf_config({"model_type": "gptj", "n_embd": 4096, "n_head": 16, "rotary_dim": 64})
    assert (gptj.head_dim, gptj.rotary_dim, gptj.interleaved) == (256, 64, True)


def test_phi3_quirks():
    phi = {
        "model_type": "phi3",
        "hidden_size": 3072,
        "num_attention_heads": 32,
        "max_position_embeddings": 131072,
        "original_max_position_embeddings": 4096,
        "rope_scaling": {"type": "su", "short_factor": [1.0] * 48, "long_factor": [2.0] * 48},
    }
    rope = rope_jax.from_hf_config(phi)
    assert rope.rope_type == "longrope" and rope.scaling.factor == 32.0
    # Phi-3's top-level original length wins over the one in rope_scaling, as in HF.
    phi["rope_scaling"]["original_max_position_embeddings"] = 999
    phi["rope_scaling"]["type"] = "yarn"  # Phi-3's configuration maps this old name to LongRoPE too
    rope = rope_jax.from_hf_config(phi)
    assert rope.rope_type == "longrope" and rope.scaling.original_max_position_embeddings == 4096


def test_per_layer_type_configs():
    gemma4 = {
        "model_type": "gemma4_text",
        "hidden_size": 2560,
        "num_attention_heads": 8,
        "head_dim": 256,
        "global_head_dim": 512,
        "rope_parameters": {
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1e6},
        },
    }
    full = rope_jax.from_hf_config(gemma4, layer_type="full_attention")
    sliding = rope_jax.from_hf_config(gemma4, layer_type="sliding_attention")
    assert (full.head_dim, full.rope_type, full.theta) == (512, "proportional", 1e6)
    assert (sliding.head_dim, sliding.rope_type, sliding.theta) == (256, "default", 10000.0)
    assert np.count_nonzero(full.inv_freq) == 64
    with pytest.raises(ValueError, match="pass layer_type"):
        rope_jax.from_hf_config(gemma4)
    with pytest.raises(ValueError, match="no RoPE"):
        rope_jax.from_hf_config(gemma4, layer_type="cross_attention")
    gemma3_legacy = {
        "model_type": "gemma3_text",
        "hidden_size": 2560,
        "num_attention_heads": 8,
        "head_dim": 256,
        "rope_theta": 1e6,
        "rope_local_base_freq": 10000.0,
        "rope_scaling": {"rope_type": "linear", "factor": 8.0},
    }
    assert rope_jax.from_hf_config(gemma3_legacy, layer_type="sliding_attention").theta == 10000.0
    assert rope_jax.from_hf_config(gemma3_legacy, layer_type="full_attention").scaling == rope_jax.Linear(8.0)


def test_text_config_of_multimodal_models(tmp_path):
    config = {"model_type": "llava", "text_config": {**LLAMA, "rope_theta": 5e5}}
    assert rope_jax.from_hf_config(config).theta == 5e5
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert rope_jax.from_hf_config(path) == rope_jax.from_hf_config(str(path)) == rope_jax.from_hf_config(config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rope_scaling": {"type": "xpos"}}, "unknown rope type 'xpos'; supported: default, linear"),
        ({"rope_scaling": {"type": "linear"}}, r"requires \['factor'\]; missing \['factor'\]"),
        ({"rope_scaling": {"type": "dynamic"}}, "missing"),
        ({"rope_scaling": {"type": "llama3", "factor": 8.0}}, "low_freq_factor"),
        (
            {"max_position_embeddings": None, "rope_scaling": {"type": "yarn", "factor": 2.0}},
            "requires original_max_position_embeddings",
        ),
        ({"rope_scaling": {"type": "longrope", "short_factor": [1.0] * 64}}, "long_factor"),
        ({"rope_scaling": {"type": "linear", "factor": 0.5}}, ">= 1"),
        ({"rope_theta": float("nan")}, "finite"),
        ({"partial_rotary_factor": 1.5}, r"\(0, 1\]"),
        ({"rope_scaling": {"type": "mrope"}}, "requires .mrope_section."),
        ({"hidden_size": None, "num_attention_heads": None}, "head dim"),
    ],
)
def test_bad_configs(overrides, message):
    with pytest.raises(ValueError, match=message):
        build(**overrides)


def test_config_without_rope_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="no RoPE"):
        rope_jax.from_hf_config({"model_type": "bert", "hidden_size": 768, "num_attention_heads": 12})
    with pytest.raises(FileNotFoundError, match="no config file"):
        rope_jax.from_hf_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        rope_jax.from_hf_config(bad)
    with pytest.raises(TypeError, match="dict"):
        rope_jax.from_hf_config(42)
