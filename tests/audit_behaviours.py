"""The distinct RoPE behaviours of the audit table (``rope_jax/hf_model_types.json``), for the audit fixtures.

Pure Python on purpose: ``tests/fixtures/generate_audit_fixtures.py`` (run with torch and transformers) and
``tests/test_audit_parity.py`` (run without them) both group the audited model types with :func:`behaviour`.
Two model types share a behaviour when the loader treats them alike: same pair layout, same place for the head
dim, theta and rotary fraction, same class-default rope type and fraction per layer type, same legacy
per-layer split, same kind of default layer pattern, same NoPE rule. Theta *values* are not part of it, only whether
the class default differs from 10000 (the loader then has to read it from the table).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from typing import Any

TABLE_PATH = pathlib.Path(__file__).resolve().parent.parent / "rope_jax" / "hf_model_types.json"


_SUB_CONFIGS = (
    "in the 'no class defaults' group: a composite or non-text model the audit lists as text; its RoPE settings "
    "live in sub-configs (encoder / decoder / thinker) the loader does not read"
)
_OWN_TEXT = "composite whose text config is outside the audit (no text rotary class of its own to call)"

# Model types the generator cannot run through transformers, with why. The generator picks another member of
# a behaviour when it can; test_every_behaviour_of_the_table_has_a_fixture accepts a behaviour without a
# fixture only when every one of its model types is listed here, and fails when a listed type has a fixture.
KNOWN_GAPS = {
    **dict.fromkeys(
        ["dia", "esmfold2", "glm5_next_text", "lasr_ctc", "qwen2_5_omni", "qwen3_omni_moe", "sapiens2", "t5gemma"],
        _SUB_CONFIGS,
    ),
    "t5gemma2": _SUB_CONFIGS,
    "clvp": _OWN_TEXT,
    "glm_image": _OWN_TEXT,
    "granite4_vision": _OWN_TEXT,
    "sam3": _OWN_TEXT + " (its text tower is CLIP, without RoPE)",
    "dots3_note": "composite: transformers' validation needs the vision adapter width = text hidden size",
    "glm4v": "M-RoPE with class-default sections: the direct call does not fit glm4v's apply function",
    "glm4v_moe": "as glm4v",
    "glm4v_text": "as glm4v",
    "glm5_next": "composite: no text rotary class in modeling_glm5_next",
    "mistral4": "the tiny model of its class defaults fails inside transformers (head-size mismatch)",
    "nemotron3_diarization": "its config class has no max_position_embeddings; the rotary module fails",
    "openai_privacy_filter": "the tiny model fails inside transformers (head-size mismatch)",
    "gemma3n": "no audit fixture of its layer pattern (period 5, not set by sliding_window_pattern) yet; "
    "tests/test_config_semantics.py checks it against transformers",
    "gemma3n_text": "as gemma3n",
}


_NOT_ATTENDING = {"linear_attention", "conv", "mamba", "mlp", "recurrent"}


def _defaults_signature(defaults: Mapping[str, Any]) -> tuple:
    def flat(params: Mapping[str, Any] | None) -> tuple:
        if params is None:
            return ("none",)
        partial = params.get("partial_rotary_factor")
        return (
            params.get("rope_type", "default"),
            "partial" if partial not in (None, 1, 1.0) else "full",
            "theta" if params.get("rope_theta", 10000.0) != 10000.0 else "theta10k",
        )

    if defaults and all(isinstance(value, Mapping) or value is None for value in defaults.values()):
        return tuple(sorted((name, *flat(value)) for name, value in defaults.items()))
    return flat(defaults) if defaults else ("no-defaults",)


def behaviour(model_type: str, table: Mapping[str, Mapping[str, Any]]) -> str:
    """A short string naming what the loader does for ``model_type`` (types sharing it behave alike)."""
    entry = table[model_type]
    if entry.get("unsupported") or entry.get("no_rope"):
        return "unsupported"
    if entry.get("alias_of"):
        return "alias -> " + behaviour(entry["alias_of"], table)
    if entry.get("text_config"):
        text = entry.get("text_model_type")
        inner = behaviour(text, table) if text in table and text != model_type else "own"
        return "unsupported" if inner == "unsupported" else "wrapper -> " + inner
    pattern = entry.get("layer_types")
    kinds = set(pattern["cycle"]) | set(pattern.get("head", [])) if isinstance(pattern, Mapping) else set()
    per_layer = entry.get("legacy_layers") or entry.get("nope") or _defaults_signature(entry.get("defaults") or {})
    decides_rope = kinds & _NOT_ATTENDING or (
        len(kinds) > 1
        and isinstance(per_layer, (str, tuple))
        and (entry.get("legacy_layers") or entry.get("nope") or isinstance(per_layer[0], tuple))
    )
    layers: Any = None  # the pattern is part of a behaviour where it decides some layer's RoPE
    if isinstance(pattern, Mapping) and decides_rope:
        layers = ("keyed" if "key" in pattern else "fixed", *sorted(set(pattern) - {"cycle", "key", "depends_on"}))
    parts = {
        "layout": entry.get("layout", "half"),
        "default_ignores_partial": bool(entry.get("default_ignores_partial")),
        "defaults": _defaults_signature(entry.get("defaults") or {}),
        "head_dim_key": entry.get("head_dim_key"),
        "theta_key": entry.get("theta_key"),
        "partial_key": entry.get("partial_key"),
        "rotary_dim_key": entry.get("rotary_dim_key"),
        "legacy_layers": entry.get("legacy_layers"),
        "layer_types": layers,
        "nope": entry.get("nope"),
        "yarn_is_longrope": bool(entry.get("yarn_is_longrope")),
    }
    return json.dumps(parts, sort_keys=True)


def load_table() -> dict[str, Mapping[str, Any]]:
    """The packaged audit table's model types."""
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))["model_types"]


def behaviours(table: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, list[str]]:
    """Behaviour -> the model types that have it (unsupported types excluded: rope_jax refuses them)."""
    table = load_table() if table is None else table
    groups: dict[str, list[str]] = {}
    for model_type in sorted(table):
        key = behaviour(model_type, table)
        if key != "unsupported":
            groups.setdefault(key, []).append(model_type)
    return groups
