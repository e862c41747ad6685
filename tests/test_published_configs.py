"""Published config.json files as their publishers wrote them (sparse), read as transformers reads them.

The expected values are what transformers' config classes derive (class defaults, ``attribute_map`` names,
layer patterns, wrapper sub-config classes); ``tests/test_config_semantics.py`` checks the same rules against
transformers itself for every audited model type.
"""

import pathlib
import warnings

import pytest

import rope_jax

GEMMA_3_4B = pathlib.Path(__file__).parent / "fixtures" / "published" / "gemma-3-4b-it"


def quiet_ropes(config):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every one of these is audited: no generic guess
        return rope_jax.layer_ropes(config)


def test_gemma_3_4b_it_as_published_and_its_model_directory():
    ropes = quiet_ropes(GEMMA_3_4B / "config.json")
    assert ropes == quiet_ropes(GEMMA_3_4B)  # a model directory holding config.json
    full = [i for i, rope in enumerate(ropes) if rope.theta == 1e6]
    assert len(ropes) == 34 and full == [5, 11, 17, 23, 29]  # sliding_window_pattern 6, the class default
    assert {rope.head_dim for rope in ropes} == {256}  # Gemma3TextConfig: 8 heads of 256 by default
    assert ropes[5].scaling == rope_jax.Linear(factor=8.0) and ropes[0].rope_type == "default"


def test_gemma_3_12b_uses_the_class_default_head_dim_not_hidden_over_heads():
    text = {"hidden_size": 3840, "num_attention_heads": 16, "num_hidden_layers": 48, "model_type": "gemma3_text",
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"}}  # fmt: skip
    config = {"model_type": "gemma3", "text_config": text}
    assert {rope.head_dim for rope in quiet_ropes(config)} == {256}


@pytest.mark.parametrize(
    ("config", "head_dim", "layers"),
    [
        (  # PaliGemma 2: a sparse gemma2 text_config under the paligemma wrapper
            {"model_type": "paligemma", "text_config": {"hidden_size": 2304, "intermediate_size": 9216,
             "model_type": "gemma2", "num_hidden_layers": 26, "num_key_value_heads": 4}},
            256, 26,
        ),
        (  # LLaVA-1.5: a sparse llama text_config (4096 / 32 heads by default)
            {"model_type": "llava", "text_config": {"model_type": "llama", "max_position_embeddings": 4096,
             "rms_norm_eps": 1e-05, "vocab_size": 32064}},
            128, 32,
        ),
    ],
)  # fmt: skip
def test_sparse_text_configs_of_wrappers(config, head_dim, layers):
    ropes = quiet_ropes(config)
    assert len(ropes) == layers and {rope.head_dim for rope in ropes} == {head_dim}


def test_qwen3_next_derives_its_linear_attention_layers_from_the_interval():
    config = {"model_type": "qwen3_next", "hidden_size": 2048, "num_attention_heads": 16, "head_dim": 256,
              "num_hidden_layers": 48, "full_attention_interval": 4, "partial_rotary_factor": 0.25,
              "rope_theta": 10000000}  # fmt: skip
    ropes = quiet_ropes(config)
    assert [i for i, rope in enumerate(ropes) if rope is not None] == list(range(3, 48, 4))
    assert ropes[3].rotary_dim == 64
    assert (
        rope_jax.hf.layer_types({**config, "full_attention_interval": 2})[:4]
        == ["linear_attention", "full_attention"] * 2
    )


def test_dbrx_reads_its_own_names_for_the_sizes():
    config = {"model_type": "dbrx", "d_model": 6144, "n_heads": 48, "n_layers": 40, "max_seq_len": 32768,
              "attn_config": {"kv_n_heads": 8, "rope_theta": 500000}}  # fmt: skip
    rope = rope_jax.from_hf_config(config)
    assert rope.head_dim == 128 and len(quiet_ropes(config)) == 40
    assert rope.theta == 10000.0  # transformers reads no theta from attn_config


def test_nemotron_h_has_no_rope_on_any_layer():
    config = {"model_type": "nemotron_h", "hidden_size": 8192, "num_attention_heads": 64, "num_hidden_layers": 118}
    assert quiet_ropes(config) == [None] * 118
    with pytest.raises(ValueError, match=r"nemotron_h.*has no RoPE"):
        rope_jax.from_hf_config(config)


@pytest.mark.parametrize("wrapped", [False, True])
def test_kimi_k2_loads_as_deepseek_v3_with_adjacent_pairs(wrapped):
    text = {"model_type": "kimi_k2", "hidden_size": 7168, "num_attention_heads": 64, "qk_rope_head_dim": 64,
            "num_hidden_layers": 61, "rope_theta": 50000.0, "max_position_embeddings": 131072,
            "rope_scaling": {"type": "yarn", "factor": 32.0, "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0,
                             "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096}}  # fmt: skip
    config = {"model_type": "kimi_k25", "text_config": text} if wrapped else text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rope = rope_jax.from_hf_config(config)
    assert rope.interleaved and rope.head_dim == 64 and rope.rope_type == "yarn"


@pytest.mark.parametrize(
    ("model_type", "match"),
    [
        ("eomt_dinov3", "vision tower.*load it with rope_jax.vision_rope"),
        ("sapiens2", "vision tower.*load it with rope_jax.vision_rope"),
        ("pixtral", "vision tower.*load it with rope_jax.vision_rope"),
        ("vjepa2", "does not rotate"),
    ],
)
def test_vision_encoders_are_refused_with_the_reason(model_type, match):
    with pytest.raises(ValueError, match=match):
        rope_jax.from_hf_config({"model_type": model_type, "hidden_size": 768, "num_attention_heads": 12})
