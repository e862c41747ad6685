"""Hostile config.json values: every key the loader reads is refused, not coerced, naming the key.

A wrong type is a TypeError, a wrong value a ValueError (rope_jax._checks wording: the key, what was expected,
what came). Values that would divide by zero or index past a list are refused before they can.
"""

import json
import re
import warnings

import pytest

import rope_jax

LLAMA = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 4,
         "max_position_embeddings": 8192}  # fmt: skip
YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048}


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"rope_scaling": "linear"}, TypeError, "rope_scaling must be a dict"),
        ({"rope_parameters": ["default"]}, TypeError, "rope_parameters must be a dict"),
        ({"head_dim": 64.5}, TypeError, "head_dim must be an int"),
        ({"head_dim": 0}, ValueError, "head_dim must be a positive int"),
        ({"head_dim": "64"}, TypeError, "head_dim must be an int"),
        ({"hidden_size": "4096", "num_attention_heads": 4}, TypeError, "hidden_size must be an int"),
        ({"num_attention_heads": 0}, ValueError, "num_attention_heads must be a positive int"),
        ({"num_attention_heads": 2.0}, TypeError, "num_attention_heads must be an int"),
        ({"rope_theta": True}, TypeError, "rope_theta must be a (real )?number"),
        ({"rope_theta": [10000.0]}, TypeError, "rope_theta must be a (real )?number"),
        ({"rope_theta": "10000"}, TypeError, "rope_theta must be a (real )?number"),
        ({"rope_theta": 0.0}, ValueError, "rope_theta must be a finite number > 0"),
        ({"rope_theta": float("inf")}, ValueError, "rope_theta must be a finite number"),
        ({"rope_scaling": {**YARN, "original_max_position_embeddings": 2048.5}}, TypeError,
         "original_max_position_embeddings must be an int"),
        ({"rope_scaling": {**YARN, "original_max_position_embeddings": 0}}, ValueError,
         "original_max_position_embeddings must be a positive int"),
        ({"rope_scaling": {**YARN, "original_max_position_embeddings": -4096}}, ValueError,
         "original_max_position_embeddings must be a positive int"),
        ({"rope_scaling": {"rope_type": "yarn", "original_max_position_embeddings": 0}}, ValueError,
         "original_max_position_embeddings must be a positive int"),
        ({"max_position_embeddings": 0, "rope_scaling": {"rope_type": "yarn", "factor": 2.0}}, ValueError,
         "max_position_embeddings must be a positive int"),
        ({"rope_theta": 1.0, "rope_scaling": YARN}, ValueError, r"theta must be a finite number > 1 for YaRN"),
        ({"rope_scaling": {"rope_type": "linear", "factor": 2.0, "partial_rotary_factor": "0.5"}}, TypeError,
         "partial_rotary_factor must be a number"),
        ({"rope_scaling": {"rope_type": "linear", "factor": 2.0, "partial_rotary_factor": 0.0}}, ValueError,
         r"partial_rotary_factor must lie in \(0, 1\]"),
        ({"num_hidden_layers": 2.5}, TypeError, "num_hidden_layers must be an int"),
        ({"num_hidden_layers": 0}, ValueError, "num_hidden_layers must be a positive int"),
        ({"layer_types": "full_attention"}, TypeError, "layer_types must be a list"),
        ({"layer_types": [1, 2, 3, 4]}, TypeError, "layer_types must hold strings"),
        ({"layer_types": ["full_attention"] * 3}, ValueError, "layer_types has 3 entries but the model has 4"),
        ({"model_type": 42}, TypeError, "model_type must be a string"),
        ({"text_config": "llama"}, TypeError, "text_config must be a dict"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_naming_the_key(overrides, error, message):
    with pytest.raises(error, match=message):
        rope_jax.layer_ropes({**LLAMA, **overrides})


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"model_type": "smollm3", "num_hidden_layers": 8, "no_rope_layers": [1, 1, 1]}, ValueError,
         r"no_rope_layers must have one entry per layer \(8\), got 3"),
        ({"model_type": "smollm3", "num_hidden_layers": 2, "no_rope_layers": "11"}, TypeError,
         "no_rope_layers must be a list"),
        ({"model_type": "smollm3", "num_hidden_layers": 2, "no_rope_layers": [1, "x"]}, TypeError,
         r"no_rope_layers\[1\] must be a number"),
        ({"model_type": "granite_swa", "num_hidden_layers": 8, "layer_rope_theta": [1e4, 0]}, ValueError,
         r"layer_rope_theta must have one entry per layer \(8\), got 2"),
        ({"model_type": "smollm3", "num_hidden_layers": 8, "no_rope_layer_interval": 0}, ValueError,
         "no_rope_layer_interval must be a positive int"),
        ({"model_type": "gemma3_text", "sliding_window_pattern": 0}, ValueError,
         "sliding_window_pattern must be a positive int"),
        ({"model_type": "qwen3_next", "full_attention_interval": "4"}, TypeError,
         "full_attention_interval must be an int"),
        ({"model_type": "gptj", "n_embd": 512, "n_head": 2, "rotary_dim": 63.0}, TypeError,
         "rotary_dim must be an int"),
        ({"model_type": "deepseek_v3", "qk_rope_head_dim": 64.0}, TypeError, "qk_rope_head_dim must be an int"),
        ({"model_type": "gemma4_text", "global_head_dim": -512}, ValueError, "global_head_dim must be a positive"),
    ],
)  # fmt: skip
def test_bad_per_model_keys_are_refused_naming_the_key(config, error, message):
    with pytest.raises(error, match=message):
        rope_jax.layer_ropes(config)


def test_layers_that_disagree_name_the_real_layer_types():
    cohere2 = {"model_type": "cohere2", "hidden_size": 256, "num_attention_heads": 2, "num_hidden_layers": 8,
               "sliding_window": 4096}  # fmt: skip
    with pytest.raises(ValueError, match=r"pass layer_type= one of \['sliding_attention'\]"):
        rope_jax.from_hf_config(cohere2)
    assert rope_jax.from_hf_config(cohere2, layer_type="sliding_attention").interleaved


def test_paths_model_directories_and_presets(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    assert rope_jax.from_hf_config(tmp_path) == rope_jax.from_hf_config(LLAMA)
    assert rope_jax.from_hf_config("llama-3.1-8b").rope_type == "llama3"  # a bundled preset, as the CLI takes
    with pytest.raises(FileNotFoundError, match=r"nor a bundled preset.*llama-3\.1-8b"):
        rope_jax.from_hf_config("llama-9")
    with pytest.raises(FileNotFoundError, match="no config file"):
        rope_jax.from_hf_config(tmp_path / "empty")  # a missing path is not taken for a preset
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(TypeError, match="holds a JSON list"):
        rope_jax.from_hf_config(tmp_path / "list.json")


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b'{"model_type": "\xff"}', ValueError, r"not valid JSON \(UTF-8\)"),
        (b"[" * 100_000 + b"]" * 100_000, ValueError, "nested too deeply"),
        (b"{oops", ValueError, "not valid JSON"),
        (None, FileNotFoundError, "holds no config.json"),
    ],
    ids=["not-utf8", "nested-too-deeply", "not-json", "folder-without-config"],
)
def test_python_and_the_cli_read_a_config_file_by_the_same_rules(tmp_path, content, error, message, capsys):
    from rope_jax.cli import main

    path = tmp_path
    if content is not None:
        path = tmp_path / "config.json"
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        rope_jax.from_hf_config(path)
    assert main(["inspect", str(path)]) == 1
    assert re.search(message, capsys.readouterr().err)
    with pytest.raises(FileNotFoundError, match="no config given"):
        rope_jax.from_hf_config("")


def test_a_config_without_model_type_warns():
    with pytest.warns(UserWarning, match="this config has no model_type"):
        rope_jax.from_hf_config({"hidden_size": 256, "num_attention_heads": 4, "rope_theta": 1e4})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rope_jax.from_hf_config(LLAMA)
