"""One call from a Hugging Face config to a configured :class:`~rope_jax.nn.RoPEAttention` for one layer.

:func:`attention_layer` reads everything that touches q, k, v, the logits and the output from the audited table
(``ATTENTION_TYPES``, written by ``tools/hf_audit/audit_attention.py`` from transformers' own attention modules
and checked there against them): the layer's RoPE (:func:`rope_jax.layer_ropes`), sliding window, softmax scale,
q/k norm (kind, weights, before or after RoPE), ``clip_qkv``, logit softcap, learned sink logits, output norm,
biases and Llama 4's query temperature. With ``state_dict=`` it also loads the layer's weights
(:func:`rope_jax.hf_weights.attention_params_from_state_dict`, with the fused layout and norm offset the table
gives). No branch here names a model: a model type is a row of data.

Each entry of ``ATTENTION_TYPES`` reads config values through rules ``{"key": name, "default": value}`` (the
config's value, else the class default the audit found; key None: a constant of the model's class); a condition
is ``true``, ``false``, such a rule (truthy), or a list of them (all truthy). Columns: ``qkv_layout``,
``num_kv_heads``, ``bias`` (``qkv`` / ``o`` conditions), ``scale`` (``{"key", "power"}``: ``value ** power``;
none: ``head_dim ** -0.5``), ``qk_norm`` (``kind``, ``over``, ``weights``, ``bias``, ``where``, ``eps``, ``when``,
``layers``), ``norm_offset``, ``clip_qkv``, ``clip_after_norm``, ``softcap``, ``sink_logits``, ``output_norm``,
``temperature``, ``window``; ``verified`` holds the one-call layer's error against transformers, ``unported``
says why a model type has no one-call layer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jax.numpy as jnp

from rope_jax import _checks, hf, hf_weights

if TYPE_CHECKING:
    from flax import nnx

    from rope_jax.nn import RoPEAttention

__all__ = ["ATTENTION_TYPES", "attention_layer", "attention_settings"]

_TABLE = json.loads(resources.files("rope_jax").joinpath("hf_attention_types.json").read_text(encoding="utf-8"))
ATTENTION_TYPES: Mapping[str, Mapping[str, Any]] = MappingProxyType(_TABLE["model_types"])
"""The attention audit of every decoder model type the audit could build: one entry per ``model_type``."""

_HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model")
_HEAD_KEYS = ("num_attention_heads", "n_head")


def _value(rule: Any, config: Mapping[str, Any]) -> Any:
    if isinstance(rule, Mapping):
        value = None if rule["key"] is None else config.get(rule["key"])
        return rule.get("default") if value is None else value
    return rule


def _holds(condition: Any, config: Mapping[str, Any]) -> bool:
    if isinstance(condition, list):
        return all(_holds(part, config) for part in condition)
    return bool(_value(condition, config))


def _layer_type(config: Mapping[str, Any], window_rule: Mapping[str, Any], layer: int) -> str:
    """Layer ``layer``'s type: from ``layer_types``, else the class's default pattern the audit recorded."""
    types = config.get("layer_types")
    if types:
        return str(types[layer])
    try:  # the pattern the config class derives (from an interval, a sliding_window_pattern...)
        return hf.layer_types(config)[layer]
    except ValueError:
        pass
    pattern = window_rule.get("pattern")
    if pattern is None:
        raise ValueError(
            "this config has no layer_types, and its model type derives them from other settings: add the "
            "layer_types list (which layers slide) to the config."
        )
    return str(pattern[layer % len(pattern)])


def _first(config: Mapping[str, Any], keys: tuple[str, ...], what: str) -> int:
    for key in keys:
        if config.get(key) is not None:
            return _checks.positive_int(key, config[key])
    raise ValueError(f"the config has no {what} (none of {', '.join(keys)}).")


def attention_settings(config: Mapping[str, Any] | str | os.PathLike, layer: int) -> dict[str, Any]:
    """What :func:`attention_layer` builds for layer ``layer``, as plain values (for inspection and ports by hand).

    Returns:
        ``{"model_type", "rope", "num_heads", "num_kv_heads", "head_dim", "in_features", "use_bias",
        "softmax_scale", "sliding_window", "qk_norm", "clip_qkv", "logit_softcap", "sink_logits",
        "output_norm", "temperature", "clip_after_norm", "qkv_layout", "norm_offset"}``; the norm entries are dicts of
        :class:`~rope_jax.nn.stages.HeadNorm` settings plus ``"where"`` ("before" / "after" RoPE), or None.

    Raises:
        ValueError: The model type is not in ``ATTENTION_TYPES``, the audit found no one-call port for it, or
            ``layer`` is out of range.
    """
    text = hf.text_config(config)
    model_type = str(text.get("model_type"))
    among = (
        f"among the {len(ATTENTION_TYPES)} model types whose attention the audit ran (transformers "
        f"{_TABLE['transformers_version']}); build RoPEAttention by hand"
    )
    entry = _checks.audited(
        ATTENTION_TYPES, "model_type", model_type, among=among, loader="attention_layer", refusal="unported"
    )
    ropes = hf.layer_ropes(text)
    if _checks.integer("layer", layer) >= len(ropes) or layer < 0:
        raise ValueError(f"layer must be an int in [0, {len(ropes)}), got {layer!r}.")
    rope = ropes[layer]
    heads = _first(text, _HEAD_KEYS, "number of attention heads")
    hidden = _first(text, _HIDDEN_KEYS, "hidden size")
    kv_heads = _checks.positive_int("num_kv_heads", _value(entry["num_kv_heads"], text) or heads)
    head_dim = rope.head_dim if rope is not None else int(text.get("head_dim") or hidden // heads)
    scale = entry.get("scale")
    softmax_scale = None if scale is None else float(_value(scale, text)) ** scale["power"]
    window_rule = entry.get("window")
    window = None
    if window_rule is not None and _holds(window_rule.get("when", True), text):
        sliding = window_rule["layers"] == "all" or _layer_type(text, window_rule, layer) == "sliding_attention"
        size = _value(window_rule, text)
        window = int(size) + window_rule.get("extra_keys", 0) if sliding and size else None
    uses_rope = rope is not None

    def norm(rule: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if rule is None or not _holds(rule.get("when", True), text):
            return None
        layers = rule.get("layers", "all")
        if (layers == "rope" and not uses_rope) or (layers == "nope" and uses_rope):
            return None
        keys = ("kind", "over", "weights", "where")
        return {**{key: rule[key] for key in keys if key in rule}, "use_bias": rule.get("bias", False),
                "epsilon": float(_value(rule["eps"], text))}  # fmt: skip

    temperature = entry.get("temperature")
    if temperature is not None and (not _holds(temperature.get("when", True), text) or uses_rope):
        temperature = None
    clip, softcap = (_value(entry.get(name), text) for name in ("clip_qkv", "softcap"))
    return {
        "model_type": model_type,
        "rope": rope,
        "num_heads": heads,
        "num_kv_heads": kv_heads,
        "head_dim": head_dim,
        "in_features": hidden,
        "use_bias": any(_holds(entry["bias"][part], text) for part in ("qkv", "o")),
        "softmax_scale": softmax_scale,
        "sliding_window": window,
        "qk_norm": norm(entry.get("qk_norm")),
        "clip_qkv": None if clip is None else float(clip),
        "logit_softcap": None if softcap is None else float(softcap),
        "sink_logits": bool(entry.get("sink_logits", False)),
        "output_norm": norm(entry.get("output_norm")),
        "temperature": None
        if temperature is None
        else {name: float(_value(temperature[name], text)) for name in ("floor_scale", "attn_scale")},
        "clip_after_norm": bool(entry.get("clip_after_norm", False)),
        "qkv_layout": entry.get("qkv_layout"),
        "norm_offset": float(entry.get("norm_offset", 0.0)),
    }


def attention_layer(
    config: Mapping[str, Any] | str | os.PathLike,
    layer: int,
    *,
    rngs: nnx.Rngs,
    state_dict: Mapping[str, Any] | None = None,
    prefix: str | None = None,
    ignore: tuple[str, ...] = (),
    dtype: Any = None,
    param_dtype: Any = jnp.float32,
) -> RoPEAttention:
    """The attention of layer ``layer`` of a Hugging Face model as a configured ``RoPEAttention``.

    Args:
        config: The parsed ``config.json`` dict, or a path to it.
        layer: Layer index, ``0 <= layer < num_hidden_layers``.
        rngs: ``nnx.Rngs`` for the parameters.
        state_dict: Optional PyTorch-layout weights (names -> NumPy arrays): when given, the layer's tensors under
            ``prefix`` are loaded, and any tensor there that nothing reads is an error.
        prefix: The attention module's name in ``state_dict`` with its trailing dot (default
            ``"model.layers.{layer}.self_attn."``).
        ignore: Names under ``prefix`` to leave unused on purpose (see
            :func:`~rope_jax.hf_weights.attention_params_from_state_dict`).
        dtype, param_dtype: As for ``RoPEAttention``.

    Returns:
        The module; its ``before_rope`` / ``after_rope`` / ``before_output`` stages, ``softmax_scale``,
        ``sliding_window``, ``logit_softcap`` and ``sink_logits`` are the model type's, read from the table.

    Raises:
        ValueError: See :func:`attention_settings`; a weight that does not fit, or one left unused.

    Example:
        >>> from flax import nnx
        >>> config = {"model_type": "gemma2", "hidden_size": 64, "num_attention_heads": 4,
        ...           "num_key_value_heads": 2, "head_dim": 16, "num_hidden_layers": 2,
        ...           "query_pre_attn_scalar": 16, "attn_logit_softcapping": 50.0, "sliding_window": 4096}
        >>> attn = attention_layer(config, 0, rngs=nnx.Rngs(0))
        >>> attn.softmax_scale, attn.logit_softcap, attn.sliding_window
        (0.25, 50.0, 4096)
    """
    from rope_jax.nn import ClipQKV, HeadNorm, QKNorm, QueryTemperature, RoPEAttention

    settings = attention_settings(config, layer)
    heads, kv_heads, head_dim = settings["num_heads"], settings["num_kv_heads"], settings["head_dim"]
    before: list[Any] = []
    after: list[Any] = []
    outputs: list[Any] = []
    clip = [] if settings["clip_qkv"] is None else [ClipQKV(settings["clip_qkv"])]
    if not settings["clip_after_norm"]:
        before.extend(clip)
    qk_norm = settings["qk_norm"]
    if qk_norm is not None:
        options = {key: value for key, value in qk_norm.items() if key != "where"}
        stage = QKNorm(
            head_dim,
            num_heads=heads,
            num_kv_heads=kv_heads,
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
            **options,
        )
        (before if qk_norm["where"] == "before" else after).append(stage)
    if settings["clip_after_norm"]:  # OLMoE clamps the normalised projections
        before.extend(clip)
    if settings["temperature"] is not None:
        after.append(QueryTemperature(**settings["temperature"]))
    output_norm = settings["output_norm"]
    if output_norm is not None:
        options = {key: value for key, value in output_norm.items() if key != "where"}
        outputs.append(HeadNorm(heads, head_dim, dtype=dtype, param_dtype=param_dtype, rngs=rngs, **options))
    attn = RoPEAttention(
        heads,
        settings["in_features"],
        head_dim=head_dim,
        num_kv_heads=kv_heads,
        rope=settings["rope"],
        use_bias=settings["use_bias"],
        before_rope=before,
        after_rope=after,
        before_output=outputs,
        sliding_window=settings["sliding_window"],
        softmax_scale=settings["softmax_scale"],
        logit_softcap=settings["logit_softcap"],
        sink_logits=settings["sink_logits"],
        dtype=dtype,
        param_dtype=param_dtype,
        rngs=rngs,
    )
    if state_dict is not None:
        params = hf_weights.attention_params_from_state_dict(
            state_dict,
            f"model.layers.{layer}.self_attn." if prefix is None else prefix,
            num_heads=heads,
            head_dim=head_dim,
            num_kv_heads=kv_heads,
            qkv_layout=settings["qkv_layout"],
            norm_offset=settings["norm_offset"],
            ignore=ignore,
        )
        hf_weights.load_attention_params(attn, params)
    return attn
