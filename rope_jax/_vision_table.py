"""The vision audit tables, read once, and what they tell the text loader about a vision model type.

``vision_model_types.json`` (transformers' vision and video towers, written by ``tools/vision_audit/audit_vision.py``)
and ``vision_timm_architectures.json`` (timm's ViTs with RoPE, ``tools/vision_audit/audit_timm.py``) are the one
source of truth for vision model types: :func:`rope_jax.vision_rope` builds from them, and
:func:`rope_jax.from_hf_config` refuses a vision model type with the reason they give.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any


def _read(name: str) -> dict:
    return json.loads(resources.files("rope_jax").joinpath(name).read_text(encoding="utf-8"))


_TRANSFORMERS = _read("vision_model_types.json")
_TIMM = _read("vision_timm_architectures.json")
MODEL_TYPES: Mapping[str, Mapping[str, Any]] = MappingProxyType(_TRANSFORMERS["model_types"])
TRANSFORMERS_VERSION: str = _TRANSFORMERS["transformers_version"]
TIMM_ARCHITECTURES: Mapping[str, Mapping[str, Any]] = MappingProxyType(_TIMM["architectures"])
TIMM_VERSION: str = _TIMM["timm_version"]


def text_refusal(config: Mapping[str, Any], model_type: Any) -> str | None:
    """Why the text loader must not read this config as a language model's 1-D RoPE, or None.

    A vision tower the table supports points to ``vision_rope``; one it refuses gives the table's reason (V-JEPA 2:
    not a rotation); a timm ViT points to ``vision_rope`` too. Multimodal wrappers (their ``text_config`` is a
    language model) and language models the vision table lists for their 2-D positions (NeoMME) are not refused.
    """
    if isinstance(config.get("architecture"), str) and config["architecture"] in TIMM_ARCHITECTURES:
        return (
            f"architecture {config['architecture']!r} is a timm vision model: its RoPE rotates by patch coordinates, "
            "not 1-D text positions; load it with rope_jax.vision_rope(config, grid_thw=[(h, w)])."
        )
    entry = MODEL_TYPES.get(model_type) if isinstance(model_type, str) else None
    if entry is None or entry.get("vision_model_type") or entry.get("language_model"):
        return None
    if entry.get("unsupported"):
        return f"model_type {model_type!r} is not supported by rope_jax: {entry['unsupported']}."
    return (
        f"model_type {model_type!r} is a vision tower: its RoPE rotates by patch coordinates, not 1-D text "
        "positions; load it with rope_jax.vision_rope(config, grid_thw=...) (see docs/vision_model_types.md)."
    )
