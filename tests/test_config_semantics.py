"""A config.json read the way transformers reads it: sparse and full forms of every audited model type agree.

Fixtures: ``tests/fixtures/generate_config_fixtures.py``. For every model type the loader supports and whose config
class transformers instantiates with its defaults, the fixture holds the class's full ``to_dict()``, a sparse form
(only the model type) and one form per loader-read key left out, each with what transformers makes of it: head
dim, layer types, ``inv_freq`` per layer type and ``attention_scaling``. Each form must give rope_jax's
:func:`~rope_jax.layer_ropes` equal to the full form's, layer types equal to transformers', and on every layer
with RoPE the head dim, ``inv_freq`` (bit for bit) and attention scaling transformers' rotary module has.
"""

from __future__ import annotations

import functools
import json
import pathlib
import warnings

import numpy as np
import pytest

import rope_jax

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
META = json.loads((FIXTURES / "config_semantics.json").read_text())
ARRAYS = np.load(FIXTURES / "config_semantics.npz")
CASES = sorted(name for name in META if not name.startswith("_") and "forms" in META[name])

# Model types whose forms rope_jax is known to read differently from transformers, with why; strict, so a fix
# turns them into failures.
_SUB_CONFIGS = "its language model's settings live in sub-configs the loader does not read (encoder/decoder, thinker)"
_DEGENERATE = "its class defaults give an odd rotary dim, which transformers runs and rope_jax refuses"
_OWN_TEXT = "a wrapper whose text model is outside the audit: refused or loaded with the generic rules and a warning"
KNOWN_DIFFERENCES: dict[str, str] = {
    **dict.fromkeys(
        ["blt", "dia", "esmfold2", "lasr_ctc", "nemotron3_diarization", "qwen2_5_omni", "qwen3_omni_moe"],
        _SUB_CONFIGS,
    ),
    **dict.fromkeys(["t5gemma", "t5gemma2"], _SUB_CONFIGS),
    **dict.fromkeys(
        ["glm4_moe", "glm4v_moe", "glm4v_moe_text", "qwen3_omni_moe_text", "qwen3_omni_moe_thinker"], _DEGENERATE
    ),
    **dict.fromkeys(["clvp", "cohere_compass", "glm_image", "granite4_vision", "sam3"], _OWN_TEXT),
    **dict.fromkeys(["glm5_next", "glm5_next_text"], "its class default head_dim is 0 (set from other fields in code)"),
    **dict.fromkeys(["hy_v4_vl", "hy_v4_vl_text"], "its head dim without head_dim comes from another field"),
    **dict.fromkeys(["embedding_gemma2", "embedding_gemma2_text"], "its full-attention layers' head dim is not read"),
    "dory": "its to_dict() layer_types mix attention and MLP kinds that its config class reads otherwise",
    "glmasr": "its text_config's class-default layer count differs from the llama default the loader applies",
    "voxtral_realtime": "its text_config's class defaults differ from the wrapper-level ones the loader applies",
    "lfm2": "its to_dict() writes full_attn_idxs, which change the layer pattern: without layer_types it is refused",
    "mistral4": "head_dim = qk_nope_head_dim + qk_rope_head_dim and partial = rope / head_dim are derived in code",
}


def form_config(model_type: str, name: str) -> dict:
    full = META[model_type]["full"]
    if name == "full":
        return full
    if name == "sparse":
        return {"model_type": model_type}
    key = name[1:]
    if key.startswith("text_config."):
        key = key.removeprefix("text_config.")
        return {**full, "text_config": {k: v for k, v in full["text_config"].items() if k != key}}
    return {k: v for k, v in full.items() if k != key}


@functools.cache
def ropes(model_type: str, name: str) -> tuple:
    """Every layer's RoPE; one entry for configs whose language model has no layer count the loader reads
    (encoder-decoder and speech models whose text settings live in sub-configs)."""
    config = form_config(model_type, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an audited type never falls back to the generic guess
        try:
            return tuple(rope_jax.layer_ropes(config))
        except ValueError as error:
            if "no num_hidden_layers" not in str(error):
                raise
            return (rope_jax.from_hf_config(config),)


def layer_types(config: dict, count: int) -> list | None:
    """rope_jax's layer types; None where it cannot tell them (then every layer must be without RoPE)."""
    try:
        types = rope_jax.hf.layer_types(config)
    except ValueError:
        return None
    return types if len(types) == count else None


def inv_freq(rope) -> np.ndarray:
    if isinstance(rope, rope_jax.RoPENd):
        return np.asarray(rope.freqs, np.float32).max(axis=0)  # M-RoPE: each pair's frequency sits in one row
    return np.asarray(rope.inv_freq)


def problems(model_type: str) -> list[str]:
    """Every way the forms of one model type disagree with each other or with transformers."""
    found = []
    try:
        full = ropes(model_type, "full")
    except ValueError as error:
        return [f"full: refused: {error}"]
    for name, expected in META[model_type]["forms"].items():
        try:
            layers = ropes(model_type, name)
        except ValueError as error:
            found.append(f"{name}: refused: {error}")
            continue
        types = layer_types(form_config(model_type, name), len(layers))
        if types is None and any(rope is not None for rope in layers):
            found.append(f"{name}: RoPE on layers of unknown type")
        if layers != full:
            found.append(f"{name}: layer_ropes differs from the full config's")
        known = types is not None and expected["layer_types"] is not None and len(layers) > 1
        types = types or [None] * len(layers)
        if known and types != expected["layer_types"]:
            found.append(f"{name}: layer types {types[:8]}... vs transformers' {expected['layer_types'][:8]}...")
        buffers = expected.get("inv_freq", {})
        for layer, (rope, kind) in enumerate(zip(layers, types, strict=True)):
            if rope is None or not buffers:
                continue
            buffer = f"{kind}_inv_freq" if f"{kind}_inv_freq" in buffers else "inv_freq"
            if buffer not in buffers:
                found.append(f"{name}: layer {layer} ({kind}) has RoPE, transformers has {sorted(buffers)}")
                continue
            if not np.array_equal(inv_freq(rope), ARRAYS[buffers[buffer]]):
                found.append(f"{name}: layer {layer} inv_freq differs from transformers' {buffer}")
            scaling = expected["attention_scaling"].get(buffer.replace("inv_freq", "attention_scaling"))
            if scaling is not None and float(rope.attention_scaling) != scaling:
                found.append(f"{name}: layer {layer} attention scaling {rope.attention_scaling} vs {scaling}")
            global_layer = kind == "full_attention" and rope_jax.MODEL_TYPES[model_type].get("global_head_dim")
            if expected["head_dim"] is not None and not global_layer and rope.head_dim != expected["head_dim"]:
                found.append(f"{name}: head dim {rope.head_dim} vs transformers' {expected['head_dim']}")
    return found


@pytest.mark.parametrize(
    "model_type",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name]))
        if name in KNOWN_DIFFERENCES
        else name
        for name in CASES
    ],
)
def test_sparse_and_full_configs_agree_with_transformers(model_type):
    found = problems(model_type)
    assert not found, "\n".join(found[:12])


def test_every_loadable_model_type_is_covered():
    """A model type rope_jax loads is in the fixture unless transformers cannot build its class's defaults."""
    loadable = {
        name
        for name, entry in rope_jax.MODEL_TYPES.items()
        if not (entry.get("unsupported") or entry.get("no_rope") or entry.get("alias_of"))
    }
    missing = loadable - set(META)
    assert not missing, f"not in the fixture (run tests/fixtures/generate_config_fixtures.py): {sorted(missing)}"
    uninstantiable = sorted(name for name in loadable if "not_instantiable" in META[name])
    assert len(uninstantiable) <= 10, uninstantiable


def test_fixtures_were_generated_from_the_audited_transformers():
    generated = META["_generated_with"]
    assert generated["ATEN_CPU_CAPABILITY"] == "default"
    assert generated["transformers"] == rope_jax.hf.AUDITED_TRANSFORMERS
