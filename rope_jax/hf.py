"""Hugging Face interoperability: ``config.json`` -> :class:`~rope_jax.RoPE`, and Q/K weight layouts.

:func:`from_hf_config` reads RoPE settings wherever Hugging Face reads them: the legacy form (``rope_theta`` +
``rope_scaling`` with ``type`` or ``rope_type``), the current form (``rope_parameters``, possibly nested per
layer type as in Gemma 3/4), GPT-NeoX's ``rotary_emb_base`` / ``rotary_pct``, GPT-J's ``rotary_dim``,
DeepSeek's ``qk_rope_head_dim`` / ``rope_interleave``, Phi-3's top-level ``original_max_position_embeddings``
and legacy ``"su"`` type, and multimodal configs' ``text_config``.

Meta's original LLaMA checkpoints rotate interleaved pairs; Hugging Face's conversion permutes the rows of the
q/k projections so the half-split ``rotate_half`` gives the same attention scores.
:func:`interleaved_to_half_split` and :func:`half_split_to_interleaved` do (and undo) that permutation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rope_jax.frequencies import SCALING_RULES, Scaling
from rope_jax.nd import RoPENd
from rope_jax.rotary import RoPE

__all__ = ["SUPPORTED_ROPE_TYPES", "from_hf_config", "half_split_to_interleaved", "interleaved_to_half_split"]

SUPPORTED_ROPE_TYPES: tuple[str, ...] = tuple(name for name, rule in SCALING_RULES.items() if rule.hugging_face)
"""Every ``rope_type`` :func:`from_hf_config` reads: the rules of :data:`rope_jax.SCALING_RULES` that Hugging
Face configs name."""

# Keys that mean "this config describes rotary embeddings".
_ROPE_KEYS = (
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "rotary_emb_base",
    "rotary_pct",
    "rotary_dim",
    "partial_rotary_factor",
    "qk_rope_head_dim",
    "rope_local_base_freq",
)
# Model families that use RoPE with defaults even when their config.json spells out no RoPE key (LLaMA 1).
_ROPE_MODEL_TYPES = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi",
    "phi3",
    "gpt_neox",
    "gptj",
    "codegen",
    "starcoder2",
    "olmo",
    "olmo2",
    "internlm2",
    "stablelm",
    "persimmon",
    "falcon",
    "cohere",
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
    "granite",
    "exaone",
    "glm",
}
_INTERLEAVED_MODEL_TYPES = {"gptj", "codegen"}  # rotate_every_two
_INTERLEAVED_BY_DEFAULT = {"deepseek_v3", "deepseek_v32"}  # HF's `rope_interleave` defaults to True there
_TYPE_ALIASES = {"su": "longrope"}  # Phi-3's first configs


def _load(config) -> dict:
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no config file at {path!r}.")
        with open(path, encoding="utf-8") as handle:
            try:
                config = json.load(handle)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path!r} is not valid JSON: {error}.") from None
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict (a parsed config.json) or a path, got {type(config).__name__}.")
    return dict(config)


def _has_rope(config: Mapping) -> bool:
    return any(key in config for key in _ROPE_KEYS) or config.get("model_type") in _ROPE_MODEL_TYPES


def _text_config(config: dict) -> dict:
    """Multimodal configs keep the language model's settings under ``text_config``."""
    text = config.get("text_config")
    if isinstance(text, Mapping) and not any(key in config for key in _ROPE_KEYS):
        merged = {k: v for k, v in config.items() if k != "text_config"}
        merged.update(text)
        return merged
    return config


def _is_per_layer_type(params: Mapping) -> bool:
    """Whether ``rope_parameters`` is a dict of per-layer-type dicts (Gemma 3/4) rather than one flat dict."""
    flat_keys = {"rope_type", "type", "rope_theta", "factor", "partial_rotary_factor"}
    return not (flat_keys & set(params)) and all(isinstance(v, Mapping) or v is None for v in params.values())


def _rope_parameters(config: dict, layer_type: str | None) -> dict:
    """The flat dict of RoPE parameters for one layer type, from whichever form the config uses."""
    params = config.get("rope_parameters")
    if isinstance(params, Mapping) and params:
        if _is_per_layer_type(params):
            if layer_type is None:
                raise ValueError(
                    f"this config sets RoPE per layer type {sorted(params)}; pass layer_type= one of them."
                )
            if params.get(layer_type) is None:
                raise ValueError(f"layer_type {layer_type!r} has no RoPE in this config; it has {sorted(params)}.")
            return dict(params[layer_type])
        return dict(params)
    if layer_type == "sliding_attention" and "rope_local_base_freq" in config:  # Gemma 3, legacy form
        return {"rope_type": "default", "rope_theta": config["rope_local_base_freq"]}
    scaling = config.get("rope_scaling")
    return dict(scaling) if isinstance(scaling, Mapping) else {}


def _head_dim(config: dict, layer_type: str | None) -> int:
    if layer_type == "full_attention" and config.get("global_head_dim"):  # Gemma 4 global layers
        return int(config["global_head_dim"])
    for key in ("head_dim", "qk_rope_head_dim"):
        if config.get(key):
            return int(config[key])
    hidden = config.get("hidden_size") or config.get("n_embd")  # GPT-J / CodeGen spell it n_embd, n_head
    heads = config.get("num_attention_heads") or config.get("n_head")
    if hidden and heads:
        return int(hidden) // int(heads)
    raise ValueError(
        "cannot tell the head dim: the config has none of head_dim, qk_rope_head_dim, or hidden_size (n_embd) "
        "together with num_attention_heads (n_head)."
    )


def _scaling(rope_type: str, params: dict, config: dict) -> Scaling:
    rule = SCALING_RULES.get(rope_type)
    if rule is None or not rule.hugging_face:
        raise ValueError(f"unknown rope type {rope_type!r}; supported: {', '.join(SUPPORTED_ROPE_TYPES)}.")
    return rule.from_hf(params, config)


def rope_layer_types(config: Mapping[str, Any] | str | os.PathLike) -> list[str | None]:
    """The layer types that carry their own RoPE settings (Gemma 3/4 ``rope_parameters``), else ``[None]``."""
    config = _text_config(_load(config))
    params = config.get("rope_parameters")
    if isinstance(params, Mapping) and params and _is_per_layer_type(params):
        return sorted(k for k, v in params.items() if v is not None)
    return [None]


def original_context_length(config: Mapping[str, Any] | str | os.PathLike) -> int | None:
    """The pre-training context length a config states (``original_max_position_embeddings`` at the top level
    or in its RoPE dict, else ``max_position_embeddings``), or None."""
    config = _text_config(_load(config))
    params = _rope_parameters(config, rope_layer_types(config)[-1])
    for value in (
        config.get("original_max_position_embeddings"),
        params.get("original_max_position_embeddings"),
        config.get("max_position_embeddings"),
    ):
        if value is not None:
            return int(value)
    return None


def from_hf_config(config: Mapping[str, Any] | str | os.PathLike, *, layer_type: str | None = None) -> RoPE | RoPENd:
    """Build the :class:`~rope_jax.RoPE` a Hugging Face model uses, from its ``config.json``.

    Args:
        config: The parsed ``config.json`` dict, or a path to it.
        layer_type: For configs that set RoPE per layer type (Gemma 3/4: ``"full_attention"``,
            ``"sliding_attention"``), which one to build.

    Returns:
        A RoPE whose ``inv_freq`` and ``attention_scaling`` equal the model's rotary embedding after
        initialisation and whose call reproduces its rotated queries and keys. Configs with ``mrope_section``
        (Qwen2-VL, Qwen2.5-VL, Qwen3-VL with ``mrope_interleaved``) give a :class:`~rope_jax.RoPENd` that takes
        ``[..., T, 3]`` (t, h, w) positions.

    Raises:
        ValueError: Unknown rope type, missing required keys, invalid values, or no RoPE in the config.
        FileNotFoundError: ``config`` is a path that does not exist.

    Example:
        >>> rope = from_hf_config({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
        ...                        "max_position_embeddings": 131072, "rope_theta": 500000.0,
        ...                        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
        ...                                         "high_freq_factor": 4.0,
        ...                                         "original_max_position_embeddings": 8192}})
        >>> rope.rope_type, rope.head_dim
        ('llama3', 128)
    """
    config = _text_config(_load(config))
    if not _has_rope(config):
        raise ValueError(
            "this config has no RoPE: none of " + ", ".join(_ROPE_KEYS) + " is set and its model_type "
            f"{config.get('model_type')!r} is not a known RoPE model."
        )
    params = _rope_parameters(config, layer_type)
    model_type = config.get("model_type")
    rope_type = params.get("rope_type") or params.get("type") or "default"
    sections = params.get("mrope_section")
    if rope_type == "mrope":  # legacy Qwen2-VL spelling: default frequencies plus sections
        if sections is None:
            raise ValueError("rope type 'mrope' requires 'mrope_section' (pairs per t/h/w axis); it is missing.")
        rope_type = "default"
    rope_type = _TYPE_ALIASES.get(rope_type, rope_type)
    if model_type == "phi3" and rope_type == "yarn":  # Phi-3's configuration maps its "yarn" to LongRoPE
        rope_type = "longrope"
    theta = params.get("rope_theta") or config.get("rope_theta") or config.get("rotary_emb_base") or 10000.0

    head_dim = _head_dim(config, layer_type)
    partial = params.get("partial_rotary_factor", config.get("partial_rotary_factor"))
    if partial is None and "rotary_pct" in config:
        partial = config["rotary_pct"]
    if partial is None and model_type == "gpt_neox":
        partial = 0.25  # GPT-NeoX's default rotary_pct
    if partial is not None and not 0 < partial <= 1:
        raise ValueError(f"the rotary fraction must lie in (0, 1], got {partial!r}.")
    scaling = _scaling(rope_type, {**params, "partial_rotary_factor": partial or 1.0}, config)
    if rope_type == "proportional":
        rotary_dim = head_dim
    elif config.get("rotary_dim"):  # GPT-J / CodeGen give an absolute count
        rotary_dim = int(config["rotary_dim"])
    else:
        rotary_dim = int(head_dim * (partial or 1.0))

    interleaved = bool(
        config.get("rope_interleave", model_type in _INTERLEAVED_BY_DEFAULT) or model_type in _INTERLEAVED_MODEL_TYPES
    )
    rope = RoPE(head_dim=head_dim, theta=float(theta), rotary_dim=rotary_dim, interleaved=interleaved, scaling=scaling)
    if sections is not None:
        return RoPENd.mrope(rope, sections, interleaved_axes=bool(params.get("mrope_interleaved", False)))
    return rope


# ------------------------------------------------------------------------------------ weight layouts


def _permute_heads(weight, num_heads: int, head_dim: int, rotary_dim: int | None, axis: int, to_half_split: bool):
    xp = jnp if isinstance(weight, jax.Array) else np
    weight = xp.asarray(weight)
    rotary_dim = head_dim if rotary_dim is None else rotary_dim
    if rotary_dim % 2 or not 0 < rotary_dim <= head_dim:
        raise ValueError(f"rotary_dim must be even and in (0, head_dim={head_dim}], got {rotary_dim}.")
    if weight.shape[axis] != num_heads * head_dim:
        raise ValueError(
            f"axis {axis} of the weight has size {weight.shape[axis]}, expected num_heads * head_dim = "
            f"{num_heads} * {head_dim} = {num_heads * head_dim} (weight shape {weight.shape})."
        )
    moved = xp.moveaxis(weight, axis, -1)
    heads = moved.reshape(*moved.shape[:-1], num_heads, head_dim)
    rot, rest = heads[..., :rotary_dim], heads[..., rotary_dim:]
    if to_half_split:  # (p0a, p0b, p1a, p1b, ...) -> (p0a, p1a, ..., p0b, p1b, ...)
        rot = rot.reshape(*rot.shape[:-1], rotary_dim // 2, 2).swapaxes(-1, -2)
    else:
        rot = rot.reshape(*rot.shape[:-1], 2, rotary_dim // 2).swapaxes(-1, -2)
    rot = rot.reshape(*rot.shape[:-2], rotary_dim)
    heads = xp.concatenate([rot, rest], axis=-1)
    return xp.moveaxis(heads.reshape(moved.shape), -1, axis)


def interleaved_to_half_split(weight, *, num_heads: int, head_dim: int, rotary_dim: int | None = None, axis: int = -1):
    """Permute q/k projection outputs from interleaved pairs to half-split pairs (Meta -> Hugging Face).

    With the permuted weight, half-split RoPE (``interleaved=False``) produces the same attention scores as
    interleaved RoPE with the original weight. Works on NumPy or JAX arrays.

    Args:
        weight: A projection kernel or bias whose ``axis`` has ``num_heads * head_dim`` entries: a Flax kernel
            ``[in, N * H]`` (``axis=-1``), a PyTorch weight ``[N * H, in]`` (``axis=0``), or a bias.
        num_heads: Heads in that projection (``num_key_value_heads`` for k).
        head_dim: Features per head.
        rotary_dim: Rotated features per head (partial rotary); the others keep their place.
        axis: The output-feature axis.

    Returns:
        The permuted array, same shape and type.
    """
    return _permute_heads(weight, num_heads, head_dim, rotary_dim, axis, to_half_split=True)


def half_split_to_interleaved(weight, *, num_heads: int, head_dim: int, rotary_dim: int | None = None, axis: int = -1):
    """Inverse of :func:`interleaved_to_half_split` (Hugging Face -> Meta layout)."""
    return _permute_heads(weight, num_heads, head_dim, rotary_dim, axis, to_half_split=False)
