"""Hugging Face attention weights -> :class:`rope_jax.nn.RoPEAttention` parameters.

A Hugging Face checkpoint stores PyTorch ``nn.Linear`` weights ``[out, in]``; ``RoPEAttention`` holds Flax
kernels ``[in, out]``. Families name and pack the projections differently:

=================  ======================================================  ===================
family             q / k / v                                               output
=================  ======================================================  ===================
LLaMA, Qwen, ...   ``q_proj``, ``k_proj``, ``v_proj``                      ``o_proj``
GPT-J, Phi         ``q_proj``, ``k_proj``, ``v_proj``                      ``out_proj``, ``dense``
Phi-3              ``qkv_proj``: rows ``[q (N*H); k (K*H); v]``            ``o_proj``
CodeGen            ``qkv_proj``: 4 shards, each ``[q; v; k]`` of ``N*H/4``  ``out_proj``
GPT-NeoX, Falcon   ``query_key_value``: per group of N/K heads, its q heads,  ``dense``
                   then one k head, then one v head (``[K, N/K + 2, H]``;
                   GPT-NeoX: K = N, ``[N, 3, H]``)
=================  ======================================================  ===================

Besides the projections a layer may hold q/k norms (``q_norm``, ``q_layernorm``, ``query_layernorm``, or one
norm per head as ``q_layernorm.norms.{i}``; weight and bias; ``[H]``, ``[N, H]`` or ``[N * H]``), learned
sink logits (``sinks``, ``[N]``) and a norm of the attention output (``attn_sub_norm``).

:func:`split_fused_qkv` unpacks the fused layouts, :func:`attention_params` turns PyTorch weights into
``RoPEAttention`` parameters (optionally permuting q/k from interleaved to half-split pairs, see
:func:`rope_jax.interleaved_to_half_split`), :func:`attention_params_from_state_dict` finds the weights of one
layer in a state dict by those names and refuses to leave any behind, and :func:`load_attention_params` writes
the result into a ``RoPEAttention``. Everything except the last works on NumPy or JAX arrays without Flax.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rope_jax import _checks

if TYPE_CHECKING:
    from rope_jax.nn import RoPEAttention

__all__ = [
    "attention_params",
    "attention_params_from_state_dict",
    "half_split_to_interleaved",
    "interleaved_to_half_split",
    "load_attention_params",
    "split_fused_qkv",
]

Array = np.ndarray | jax.Array
Params = dict[str, dict[str, Array]]
_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
_LAYOUTS = ("concatenated", "per_head", "grouped", "codegen")
_CODEGEN_SHARDS = 4  # CodeGen's qkv_proj is written for 4-way model parallelism
_OUTPUT_NAMES = ("o_proj", "dense", "out_proj")
_NORM_NAMES = (("q_norm", "k_norm"), ("q_layernorm", "k_layernorm"), ("query_layernorm", "key_layernorm"))
_OUTPUT_NORM_NAMES = ("attn_sub_norm",)
_SINK_NAMES = ("sinks",)


def _array(value: Any, name: str) -> Array:
    """A floating NumPy or JAX array (JAX arrays stay on device)."""
    if isinstance(value, jax.Array):
        array: Array = value
    else:
        try:
            array = np.asarray(value)
        except Exception:  # torch tensors that need .numpy(), ragged lists, ...
            raise TypeError(f"{name} must be a NumPy or JAX array, got {type(value).__name__}.") from None
    if not np.issubdtype(array.dtype, np.floating) and array.dtype != jnp.bfloat16:
        raise TypeError(f"{name} must be a floating-point array, got dtype {array.dtype}.")
    return array


def _xp(array: Array) -> Any:
    return jnp if isinstance(array, jax.Array) else np


def _check_rows(array: Array, name: str, rows: int, what: str) -> None:
    if array.ndim not in (1, 2) or array.shape[0] != rows:
        raise ValueError(
            f"{name} must have {rows} rows ({what}) on axis 0, as a PyTorch weight [out, in] or a bias [out]; "
            f"got shape {tuple(array.shape)}."
        )


# -------------------------------------------------------------------- q/k features between the two pair layouts


def _output_axis(array: Array, size: int, axis: int | None, what: str) -> int:
    """The axis holding the ``size`` q/k output features: ``axis``, checked; by default the last one, refused when
    another axis has the same size (a PyTorch weight ``[out, in]`` with ``in == out`` would be permuted along its
    input features without any error)."""
    shape = tuple(array.shape)
    if axis is not None:
        axis = _checks.integer("axis", axis)
        if not -array.ndim <= axis < array.ndim:
            raise ValueError(f"axis {axis} is out of range for a weight of shape {shape}.")
        if shape[axis] != size:
            raise ValueError(
                f"axis {axis} of the weight has size {shape[axis]}, expected num_heads * head_dim = {what} = {size} "
                f"(weight shape {shape})."
            )
        return axis
    matches = [a for a, n in enumerate(shape) if n == size]
    layouts = (
        "axis=0 for a PyTorch weight [out, in] (Meta's and Hugging Face's checkpoints), axis=-1 for a Flax kernel "
        "[in, out], a bias or activations [..., N * H]"
    )
    if array.ndim == 0 or shape[-1] != size:
        found = f"axis {matches[0]} has" if len(matches) == 1 else f"axes {matches} have" if matches else "no axis has"
        raise ValueError(
            f"the last axis of the weight (shape {shape}) has size {shape[-1] if array.ndim else None}, expected "
            f"num_heads * head_dim = {what} = {size}; {found} that size. Pass the axis of the output features: "
            f"{layouts}."
        )
    if len(matches) > 1:
        raise ValueError(
            f"axes {matches} of the weight (shape {shape}) all have num_heads * head_dim = {what} = {size} entries, "
            f"so the axis of the q/k output features is ambiguous; pass it: {layouts}."
        )
    return array.ndim - 1


def _permute_heads(
    weight: ArrayLike, num_heads: int, head_dim: int, rotary_dim: int | None, axis: int | None, to_half_split: bool
) -> Array:
    array = _array(weight, "weight")
    num_heads = _checks.positive_int("num_heads", num_heads)
    head_dim = _checks.positive_int("head_dim", head_dim)
    rotary_dim = _checks.rotary_dim(rotary_dim, head_dim)
    axis = _output_axis(array, num_heads * head_dim, axis, f"{num_heads} * {head_dim}")
    xp = _xp(array)
    moved = xp.moveaxis(array, axis, -1)
    heads = moved.reshape(*moved.shape[:-1], num_heads, head_dim)
    rot, rest = heads[..., :rotary_dim], heads[..., rotary_dim:]
    if to_half_split:  # (p0a, p0b, p1a, p1b, ...) -> (p0a, p1a, ..., p0b, p1b, ...)
        rot = rot.reshape(*rot.shape[:-1], rotary_dim // 2, 2).swapaxes(-1, -2)
    else:
        rot = rot.reshape(*rot.shape[:-1], 2, rotary_dim // 2).swapaxes(-1, -2)
    rot = rot.reshape(*rot.shape[:-2], rotary_dim)
    heads = xp.concatenate([rot, rest], axis=-1)
    return xp.moveaxis(heads.reshape(moved.shape), -1, axis)


def interleaved_to_half_split(
    weight: ArrayLike, *, num_heads: int, head_dim: int, rotary_dim: int | None = None, axis: int | None = None
) -> Array:
    """Permute q/k projection outputs from interleaved pairs to half-split pairs (Meta -> Hugging Face).

    With the permuted weight, half-split RoPE (``interleaved=False``) produces the same attention scores as
    interleaved RoPE with the original weight. Works on NumPy or JAX arrays.

    Args:
        weight: A floating array with an axis of ``num_heads * head_dim`` output features: a PyTorch weight
            ``[N * H, in]`` (Meta's and Hugging Face's checkpoints: ``axis=0``), a Flax kernel ``[in, N * H]``,
            a bias ``[N * H]`` or activations ``[..., N * H]`` (the last axis).
        num_heads: Heads in that projection (``num_key_value_heads`` for k).
        head_dim: Features per head.
        rotary_dim: Rotated features per head (partial rotary); the others keep their place.
        axis: The output-feature axis. Default: the last axis, and only when no other axis has the same size:
            a square PyTorch weight ``[out, in]`` must say ``axis=0`` (its last axis is the input features).

    Returns:
        The permuted array, same shape and type.

    Raises:
        TypeError: ``weight`` not a floating array, a size or ``axis`` not an int.
        ValueError: no such axis, an axis of the wrong size, or an ambiguous default (pass ``axis``).

    Example:
        >>> import numpy as np
        >>> w = np.arange(8.0)[:, None] * np.ones((1, 8))   # PyTorch [out, in], 2 heads of 4, in = out = 8
        >>> interleaved_to_half_split(w, num_heads=2, head_dim=4, axis=0)[:, 0].tolist()
        [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]
    """
    return _permute_heads(weight, num_heads, head_dim, rotary_dim, axis, to_half_split=True)


def half_split_to_interleaved(
    weight: ArrayLike, *, num_heads: int, head_dim: int, rotary_dim: int | None = None, axis: int | None = None
) -> Array:
    """Inverse of :func:`interleaved_to_half_split` (Hugging Face -> Meta layout); the same arguments."""
    return _permute_heads(weight, num_heads, head_dim, rotary_dim, axis, to_half_split=False)


# ----------------------------------------------------------------------------------- Hugging Face attention


def split_fused_qkv(
    weight: ArrayLike,
    *,
    num_heads: int,
    head_dim: int,
    num_kv_heads: int | None = None,
    layout: Literal["concatenated", "per_head", "grouped", "codegen"] = "concatenated",
) -> tuple[Array, Array, Array]:
    """Split a fused q/k/v projection (PyTorch weight ``[out, in]`` or bias ``[out]``) into q, k and v.

    Args:
        weight: The fused weight ``[(N + 2K) * H, in]`` or bias ``[(N + 2K) * H]``.
        num_heads: Query heads N.
        head_dim: Features per head H.
        num_kv_heads: Key/value heads K (default N). ``"per_head"`` and ``"codegen"`` require K == N.
        layout: ``"concatenated"``: all q rows, then all k rows, then all v rows (Phi-3 ``qkv_proj``).
            ``"per_head"``: rows grouped by head, each head holding its q, k, v rows in turn, ``[N, 3, H]``
            (GPT-NeoX / Pythia ``query_key_value``). ``"grouped"``: K groups, each its N/K query heads, then
            its key head, then its value head, ``[K, N/K + 2, H]`` (Falcon ``query_key_value``; K = N is
            ``"per_head"``, K = 1 is ``"concatenated"``). ``"codegen"``: 4 shards of rows, each its quarter of
            q, then of v, then of k (CodeGen ``qkv_proj``).

    Returns:
        ``(q [N * H, ...], k [K * H, ...], v [K * H, ...])`` in the input's array type, still PyTorch layout.

    Raises:
        TypeError: ``weight`` is not a floating array, or a size is not an int.
        ValueError: Non-positive sizes, an unknown layout, ``"per_head"`` / ``"codegen"`` with K != N, ``"grouped"``
            with K not dividing N, ``"codegen"`` with ``N * H`` not a multiple of 4, or a row count other than
            ``(N + 2K) * H``.

    Example:
        >>> import numpy as np
        >>> fused = np.arange(12.0).reshape(2, 3, 2).reshape(12)  # 2 heads of 2: per head (q, k, v)
        >>> q, k, v = split_fused_qkv(fused, num_heads=2, head_dim=2, layout="per_head")
        >>> q.tolist(), k.tolist(), v.tolist()
        ([0.0, 1.0, 6.0, 7.0], [2.0, 3.0, 8.0, 9.0], [4.0, 5.0, 10.0, 11.0])
    """
    num_heads = _checks.positive_int("num_heads", num_heads)
    head_dim = _checks.positive_int("head_dim", head_dim)
    num_kv_heads = num_heads if num_kv_heads is None else _checks.positive_int("num_kv_heads", num_kv_heads)
    _checks.one_of("layout", layout, _LAYOUTS)
    if layout in ("per_head", "codegen") and num_kv_heads != num_heads:
        raise ValueError(
            f"layout {layout!r} packs as many k and v heads as query heads, so num_kv_heads must equal num_heads "
            f"({num_heads}); got {num_kv_heads}."
        )
    if layout == "grouped" and num_heads % num_kv_heads:
        raise ValueError(f"layout 'grouped' needs num_kv_heads ({num_kv_heads}) to divide num_heads ({num_heads}).")
    if layout == "codegen" and (num_heads * head_dim) % _CODEGEN_SHARDS:
        raise ValueError(
            f"layout 'codegen' splits N * H = {num_heads * head_dim} rows into {_CODEGEN_SHARDS} shards; "
            f"it is not a multiple of {_CODEGEN_SHARDS}."
        )
    array = _array(weight, "weight")
    q_rows, kv_rows = num_heads * head_dim, num_kv_heads * head_dim
    _check_rows(
        array,
        "the fused weight",
        q_rows + 2 * kv_rows,
        f"(N + 2K) * H = ({num_heads} + 2 * {num_kv_heads}) * {head_dim}",
    )
    rest = tuple(array.shape[1:])
    if layout == "concatenated":
        return array[:q_rows], array[q_rows : q_rows + kv_rows], array[q_rows + kv_rows :]
    if layout == "codegen":
        shards = array.reshape(_CODEGEN_SHARDS, 3, q_rows // _CODEGEN_SHARDS, *rest)
        q, v, k = (shards[:, i].reshape(q_rows, *rest) for i in range(3))
        return q, k, v
    group = num_heads // num_kv_heads
    groups = array.reshape(num_kv_heads, group + 2, head_dim, *rest)
    q = groups[:, :group].reshape(q_rows, *rest)
    return q, groups[:, group].reshape(kv_rows, *rest), groups[:, group + 1].reshape(kv_rows, *rest)


def attention_params(
    q_weight: ArrayLike,
    k_weight: ArrayLike,
    v_weight: ArrayLike,
    o_weight: ArrayLike,
    *,
    num_heads: int,
    head_dim: int,
    num_kv_heads: int | None = None,
    q_bias: ArrayLike | None = None,
    k_bias: ArrayLike | None = None,
    v_bias: ArrayLike | None = None,
    o_bias: ArrayLike | None = None,
    q_norm: ArrayLike | None = None,
    k_norm: ArrayLike | None = None,
    q_norm_bias: ArrayLike | None = None,
    k_norm_bias: ArrayLike | None = None,
    sink_logits: ArrayLike | None = None,
    output_norm: ArrayLike | None = None,
    norm_offset: float = 0.0,
    to_half_split: bool = False,
    rotary_dim: int | None = None,
) -> Params:
    """``RoPEAttention`` parameters from PyTorch attention weights.

    Args:
        q_weight: ``[N * H, D]`` (PyTorch ``nn.Linear`` layout ``[out, in]``).
        k_weight: ``[K * H, D]``.
        v_weight: ``[K * H, D]``.
        o_weight: ``[D, N * H]``.
        num_heads: Query heads N.
        head_dim: Features per head H.
        num_kv_heads: Key/value heads K (default N).
        q_bias, k_bias, v_bias, o_bias: Biases ``[out]``, or None. ``RoPEAttention(use_bias=True)`` has all
            four: when any is given, the missing ones become zeros (Qwen 2 has q/k/v biases and none on o_proj).
        q_norm, k_norm: q/k norm weights, or None: ``[H]`` shared by the heads (Qwen 3, Gemma 3), one per head
            ``[N, H]`` / ``[K, H]`` (Cohere, StableLM), or over the whole projection ``[N * H]`` / ``[K * H]``
            (OLMo 2; returned as ``[N, H]`` / ``[K, H]``).
        q_norm_bias, k_norm_bias: LayerNorm biases of the q/k norms (Persimmon), shaped like the weights.
        sink_logits: ``[N]`` learned sink logits (gpt-oss ``sinks``).
        output_norm: ``[N * H]`` weight of a norm of the attention output (BitNet ``attn_sub_norm``; returned
            as ``[N, H]``).
        norm_offset: Added to the norm weights: 1.0 for Gemma, whose RMSNorm multiplies by ``1 + w``.
        to_half_split: Permute the q/k output features from interleaved pairs ``(2i, 2i + 1)`` to half-split
            pairs ``(i, i + P)`` (:func:`rope_jax.interleaved_to_half_split`): load a checkpoint that rotates
            adjacent pairs (Meta's LLaMA, Cohere, GLM) into a half-split RoPE. Scores are unchanged.
        rotary_dim: Rotated features per head for ``to_half_split`` (partial rotary); default H.

    Returns:
        ``{"q_proj": {"kernel": [D, N * H], "bias": [N * H]}, "k_proj": ..., "v_proj": ..., "o_proj":
        {"kernel": [N * H, D], ...}}`` plus, when given, ``"q_norm"`` / ``"k_norm"``: ``{"scale": ..., "bias":
        ...}``, ``"sink_logits"``: ``{"value": [N]}`` and ``"output_norm"``: ``{"scale": [N, H]}``; the ``"bias"``
        entries only when a bias was given. NumPy arrays, or JAX arrays for JAX inputs.

    Raises:
        TypeError: A weight is not a floating array, or a size is not an int.
        ValueError: A shape does not match N, K, H, or the model width D; ``k_norm`` without ``q_norm``.

    Example:
        >>> import numpy as np
        >>> w = np.ones((8, 6), np.float32)  # 2 heads of 4, width 6
        >>> params = attention_params(w, w, w, w.T, num_heads=2, head_dim=4, q_bias=np.zeros(8, np.float32))
        >>> params["q_proj"]["kernel"].shape, params["o_proj"]["bias"].shape
        ((6, 8), (6,))
    """
    num_heads = _checks.positive_int("num_heads", num_heads)
    head_dim = _checks.positive_int("head_dim", head_dim)
    num_kv_heads = num_heads if num_kv_heads is None else _checks.positive_int("num_kv_heads", num_kv_heads)
    to_half_split = _checks.boolean("to_half_split", to_half_split)
    norm_offset = _checks.number("norm_offset", norm_offset)
    if rotary_dim is not None:
        rotary_dim = _checks.rotary_dim(rotary_dim, head_dim)
    weights = {
        name: _array(value, f"{name} weight")
        for name, value in zip(_PROJECTIONS, (q_weight, k_weight, v_weight, o_weight), strict=True)
    }
    rows = {"q_proj": num_heads, "k_proj": num_kv_heads, "v_proj": num_kv_heads}
    for name, heads in rows.items():
        what = f"{'N' if name == 'q_proj' else 'K'} * H = {heads} * {head_dim}"
        _check_rows(weights[name], f"the {name} weight", heads * head_dim, what)
        if weights[name].ndim != 2:
            raise ValueError(f"the {name} weight must be 2-D [out, in], got shape {tuple(weights[name].shape)}.")
    width = weights["q_proj"].shape[1]
    for name in ("k_proj", "v_proj"):
        if weights[name].shape[1] != width:
            raise ValueError(
                f"the {name} weight has {weights[name].shape[1]} input features, q_proj has {width}; they read "
                "the same hidden states."
            )
    expected_o = (width, num_heads * head_dim)
    if tuple(weights["o_proj"].shape) != expected_o:
        raise ValueError(
            f"the o_proj weight must have shape [D, N * H] = {expected_o}, got {tuple(weights['o_proj'].shape)}."
        )
    given = dict(zip(_PROJECTIONS, (q_bias, k_bias, v_bias, o_bias), strict=True))
    biases: dict[str, Array] = {}
    if any(value is not None for value in given.values()):
        for name, value in given.items():
            out = weights[name].shape[0]
            if value is None:
                xp = _xp(weights[name])
                biases[name] = xp.zeros((out,), weights[name].dtype)
                continue
            bias = _array(value, f"{name} bias")
            if tuple(bias.shape) != (out,):
                raise ValueError(f"the {name} bias must have shape ({out},), got {tuple(bias.shape)}.")
            biases[name] = bias

    params: Params = {}
    for name, weight in weights.items():
        params[name] = {"kernel": _xp(weight).swapaxes(weight, 0, 1)}
        if name in biases:
            params[name]["bias"] = biases[name]
    if to_half_split:
        for name, heads in (("q_proj", num_heads), ("k_proj", num_kv_heads)):
            for key, value in params[name].items():
                params[name][key] = interleaved_to_half_split(
                    value, num_heads=heads, head_dim=head_dim, rotary_dim=rotary_dim, axis=-1
                )
    if (q_norm is None) != (k_norm is None):
        raise ValueError("q_norm and k_norm come together (RoPEAttention(qk_norm=True) has both); got only one.")
    norms: tuple[tuple[str, ArrayLike | None, ArrayLike | None, int], ...] = (
        ("q_norm", q_norm, q_norm_bias, num_heads),
        ("k_norm", k_norm, k_norm_bias, num_kv_heads),
    )
    for name, norm_weight, norm_bias, heads in norms:
        if norm_weight is None:
            if norm_bias is not None:
                raise ValueError(f"{name} bias without a {name} weight.")
            continue
        entry = {"scale": _norm_weight(norm_weight, f"{name} weight", heads, head_dim, to_half_split, rotary_dim)}
        if norm_offset:
            entry["scale"] = entry["scale"] + np.asarray(norm_offset, entry["scale"].dtype)
        if norm_bias is not None:
            entry["bias"] = _norm_weight(norm_bias, f"{name} bias", heads, head_dim, to_half_split, rotary_dim)
            if entry["bias"].shape != entry["scale"].shape:
                raise ValueError(
                    f"the {name} bias has shape {tuple(entry['bias'].shape)}, its weight {tuple(entry['scale'].shape)}."
                )
        params[name] = entry
    if sink_logits is not None:
        sinks = _array(sink_logits, "sink_logits")
        if tuple(sinks.shape) != (num_heads,):
            raise ValueError(f"sink_logits must have shape (N,) = ({num_heads},), got {tuple(sinks.shape)}.")
        params["sink_logits"] = {"value": sinks}
    if output_norm is not None:
        scale = _array(output_norm, "output_norm weight")
        if tuple(scale.shape) != (num_heads * head_dim,):
            raise ValueError(
                f"the output_norm weight must have shape (N * H,) = ({num_heads * head_dim},), got "
                f"{tuple(scale.shape)}."
            )
        scale = scale.reshape(num_heads, head_dim)
        params["output_norm"] = {"scale": scale + np.asarray(norm_offset, scale.dtype) if norm_offset else scale}
    return params


def _norm_weight(value: ArrayLike, name: str, heads: int, head_dim: int, to_half_split: bool, rotary_dim) -> Array:
    """A q/k norm weight or bias as ``[H]`` (shared) or ``[heads, H]`` (per head, or over the projection)."""
    array = _array(value, name)
    if tuple(array.shape) == (head_dim,):
        per_head = array.reshape(1, head_dim)
    elif tuple(array.shape) in ((heads, head_dim), (heads * head_dim,)):
        per_head = array.reshape(heads, head_dim)
    else:
        raise ValueError(
            f"the {name} must have shape (H,) = ({head_dim},), [heads, H] = ({heads}, {head_dim}) or "
            f"(heads * H,) = ({heads * head_dim},); got {tuple(array.shape)}."
        )
    if to_half_split:  # the norm weight follows the features it scales
        per_head = interleaved_to_half_split(per_head, num_heads=1, head_dim=head_dim, rotary_dim=rotary_dim, axis=-1)
    return per_head.reshape(head_dim) if tuple(array.shape) == (head_dim,) else per_head


def attention_params_from_state_dict(
    state_dict: Mapping[str, ArrayLike],
    prefix: str,
    *,
    num_heads: int,
    head_dim: int,
    num_kv_heads: int | None = None,
    qkv_layout: Literal["concatenated", "per_head", "grouped", "codegen"] | None = None,
    norm_offset: float = 0.0,
    to_half_split: bool = False,
    rotary_dim: int | None = None,
    ignore: Iterable[str] = (),
) -> Params:
    """:func:`attention_params` for one layer of a Hugging Face state dict, found by its names; no weight left.

    Reads, each ``.weight`` and ``.bias`` when present: ``{prefix}q_proj`` / ``k_proj`` / ``v_proj``, or a fused
    ``qkv_proj`` (Phi-3 ``"concatenated"``, CodeGen ``"codegen"``) or ``query_key_value`` (GPT-NeoX, Falcon:
    ``"grouped"``); the output ``o_proj``, ``dense`` or ``out_proj``; q/k norms ``q_norm`` / ``k_norm``,
    ``q_layernorm`` / ``k_layernorm`` (also one per head: ``q_layernorm.norms.{i}``) or ``query_layernorm`` /
    ``key_layernorm``; ``sinks``; ``attn_sub_norm``. Every other tensor under ``prefix`` is an error naming it,
    unless ``ignore`` lists it: a weight the layer would silently lose is worse than a refusal.

    Args:
        state_dict: Names -> arrays (convert torch tensors with ``.numpy()`` first).
        prefix: The attention module's name with its trailing dot, e.g. ``"model.layers.0.self_attn."``.
        num_heads, head_dim, num_kv_heads, norm_offset, to_half_split, rotary_dim: As for
            :func:`attention_params`.
        qkv_layout: How a fused projection packs q, k and v (see :func:`split_fused_qkv`). Default: told by
            name and shape, ``"grouped"`` for ``query_key_value``; ``qkv_proj`` is ``"concatenated"`` only when
            K != N, since with K == N Phi-3's and CodeGen's layouts have the same shape: then it is refused
            unless given (:func:`rope_jax.hf_attention.attention_layer` reads it from the audited table).
        ignore: Names under ``prefix`` (``fnmatch`` patterns, without the prefix) to leave unused on purpose,
            e.g. ``["rotary_emb.inv_freq"]``.

    Returns:
        What :func:`attention_params` returns.

    Raises:
        KeyError: None of the known projection names is under ``prefix``, or a companion tensor is missing.
        ValueError: A tensor under ``prefix`` that nothing reads (naming it), or a fused layout that its shape
            cannot tell and ``qkv_layout`` does not name.
        TypeError, ValueError: As for :func:`attention_params`.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}.")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}.")
    if qkv_layout is not None:
        _checks.one_of("qkv_layout", qkv_layout, _LAYOUTS)
    if isinstance(ignore, str):
        raise TypeError(f"ignore must be a collection of names, got the str {ignore!r}; wrap it in a list.")
    ignore = tuple(ignore)
    heads = _checks.positive_int("num_heads", num_heads)
    kv_heads = heads if num_kv_heads is None else _checks.positive_int("num_kv_heads", num_kv_heads)
    local = {name[len(prefix) :]: value for name, value in state_dict.items() if name.startswith(prefix)}
    used: set[str] = set()

    def get(name: str) -> ArrayLike | None:
        if name in local:
            used.add(name)
        return local.get(name)

    def require(name: str) -> ArrayLike:
        value = get(name)
        if value is None:
            raise KeyError(f"no {prefix}{name} in the state dict.")
        return value

    q: ArrayLike
    k: ArrayLike
    v: ArrayLike
    q_b: ArrayLike | None
    k_b: ArrayLike | None
    v_b: ArrayLike | None
    fused = next((name for name in ("qkv_proj", "query_key_value") if f"{name}.weight" in local), None)
    if fused is not None:
        layout = qkv_layout or _fused_layout(fused, heads, kv_heads, prefix)
        split = functools.partial(
            split_fused_qkv, num_heads=heads, head_dim=head_dim, num_kv_heads=kv_heads, layout=layout
        )
        q, k, v = split(require(f"{fused}.weight"))
        fused_bias = get(f"{fused}.bias")
        q_b, k_b, v_b = (None, None, None) if fused_bias is None else split(fused_bias)
    elif "q_proj.weight" in local:
        q, k, v = (require(f"{name}.weight") for name in ("q_proj", "k_proj", "v_proj"))
        q_b, k_b, v_b = (get(f"{name}.bias") for name in ("q_proj", "k_proj", "v_proj"))
    else:
        near = sorted(local)[:8]
        raise KeyError(
            f"no attention weights under {prefix!r}: expected {prefix}q_proj.weight, {prefix}qkv_proj.weight or "
            f"{prefix}query_key_value.weight; names under the prefix: {near}."
        )
    out = next((name for name in _OUTPUT_NAMES if f"{name}.weight" in local), None)
    if out is None:
        raise KeyError(
            f"no {prefix}o_proj.weight in the state dict (nor {prefix}dense.weight / {prefix}out_proj.weight)."
        )
    norms: dict[str, ArrayLike | None] = {}
    for q_name, k_name in _NORM_NAMES:
        if f"{q_name}.weight" in local or f"{q_name}.norms.0.weight" in local:
            for key, name, count in (("q_norm", q_name, heads), ("k_norm", k_name, kv_heads)):
                norms[key], norms[f"{key}_bias"] = _read_norm(get, name, count)
            break
    sinks = next((get(name) for name in _SINK_NAMES if name in local), None)
    output_norm = next((get(f"{name}.weight") for name in _OUTPUT_NORM_NAMES if f"{name}.weight" in local), None)
    params = attention_params(
        q,
        k,
        v,
        require(f"{out}.weight"),
        num_heads=heads,
        head_dim=head_dim,
        num_kv_heads=kv_heads,
        q_bias=q_b,
        k_bias=k_b,
        v_bias=v_b,
        o_bias=get(f"{out}.bias"),
        sink_logits=sinks,
        output_norm=output_norm,
        norm_offset=norm_offset,
        to_half_split=to_half_split,
        rotary_dim=rotary_dim,
        **norms,
    )
    left = sorted(name for name in local if name not in used and not any(fnmatch.fnmatchcase(name, p) for p in ignore))
    if left:
        raise ValueError(
            f"{len(left)} tensor(s) under {prefix!r} would be left unused: {[prefix + name for name in left]}. "
            "The layer would compute something else than the checkpoint; if they are deliberately not part of "
            "the attention, pass ignore=[...] with their names (without the prefix)."
        )
    return params


def _fused_layout(name: str, heads: int, kv_heads: int, prefix: str) -> Literal["concatenated", "grouped"]:
    """The layout of a fused projection when its name and shape decide it; refuse when they cannot."""
    if name == "query_key_value":
        return "grouped"  # GPT-NeoX / Persimmon ([N, 3, H], K = N) and every Falcon form are grouped
    if kv_heads != heads:
        return "concatenated"  # CodeGen's shards hold as many k and v heads as q heads
    raise ValueError(
        f"{prefix}qkv_proj packs q, k and v either as Phi-3 does (all q rows, then k, then v) or as CodeGen does "
        "(4 shards of q, v, k); with num_kv_heads == num_heads both have the same shape. Pass "
        "qkv_layout='concatenated' (Phi-3) or 'codegen' (CodeGen), or build the layer with "
        "rope_jax.hf_attention.attention_layer, which reads it from the audited table."
    )


def _read_norm(get, name: str, heads: int) -> tuple[ArrayLike | None, ArrayLike | None]:
    """A norm's weight and bias; one norm per head (``{name}.norms.{i}``) stacked to ``[heads, H]``."""
    if get(f"{name}.norms.0.weight") is None:
        return get(f"{name}.weight"), get(f"{name}.bias")
    parts = [(get(f"{name}.norms.{i}.weight"), get(f"{name}.norms.{i}.bias")) for i in range(heads)]
    if any(weight is None for weight, _ in parts) or get(f"{name}.norms.{heads}.weight") is not None:
        raise ValueError(f"{name}.norms must hold one norm per head ({heads}).")
    weights = [_array(weight, f"{name}.norms weight") for weight, _ in parts]
    stacked = _xp(weights[0]).stack(weights)
    if all(bias is None for _, bias in parts):
        return stacked, None
    biases = [_array(bias, f"{name}.norms bias") for _, bias in parts if bias is not None]
    if len(biases) != heads:
        raise ValueError(f"{name}.norms: some heads have a bias, some not.")
    return stacked, _xp(biases[0]).stack(biases)


_PARAM_SLOTS = ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm", "sink_logits", "output_norm")


def _slots(attn: RoPEAttention) -> dict[str, Any]:
    """The module's parameter holders by the names :func:`attention_params` uses (None where it has none)."""
    from rope_jax.nn.stages import HeadNorm, QKNorm

    norms = [stage for stage in (*attn.before_rope, *attn.after_rope) if isinstance(stage, QKNorm)]
    if len(norms) > 1:
        raise ValueError(f"the module has {len(norms)} QKNorm stages; load their parameters by hand.")
    outputs = [stage for stage in attn.before_output if isinstance(stage, HeadNorm)]
    if len(outputs) > 1:
        raise ValueError(f"the module has {len(outputs)} output norms; load their parameters by hand.")
    norm = norms[0] if norms and norms[0].q_norm.scale is not None else None  # a weightless norm loads nothing
    outputs = [stage for stage in outputs if stage.scale is not None]
    return {
        "q_proj": attn.q_proj,
        "k_proj": attn.k_proj,
        "v_proj": attn.v_proj,
        "o_proj": attn.o_proj,
        "q_norm": None if norm is None else norm.q_norm,
        "k_norm": None if norm is None else norm.k_norm,
        "sink_logits": attn if attn.sink_logits is not None else None,
        "output_norm": outputs[0] if outputs else None,
    }


_HINTS = {
    "q_norm": "a QKNorm stage (qk_norm=True)",
    "k_norm": "a QKNorm stage (qk_norm=True)",
    "sink_logits": "sink_logits=True",
    "output_norm": "a HeadNorm in before_output",
}


def load_attention_params(attn: RoPEAttention, params: Mapping[str, Mapping[str, ArrayLike]]) -> RoPEAttention:
    """Write :func:`attention_params`' result into a ``RoPEAttention`` in place (cast to its parameter dtype).

    Args:
        attn: The module, built with the stages the parameters need: ``use_bias``, a
            :class:`~rope_jax.nn.stages.QKNorm` (before or after RoPE) for ``q_norm`` / ``k_norm``,
            ``sink_logits=True``, a :class:`~rope_jax.nn.stages.HeadNorm` output stage for ``output_norm``.
        params: ``{"q_proj": {"kernel": ..., "bias": ...}, ..., "q_norm": {"scale": ..., "bias": ...}, ...}``.

    Returns:
        ``attn``, for chaining.

    Raises:
        ValueError: A shape differs from the module's, or the module has a parameter the parameters lack (or
            the reverse).
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping like attention_params returns, got {type(params).__name__}.")
    unknown = sorted(set(params) - set(_PARAM_SLOTS))
    if unknown:
        raise ValueError(f"unknown parameter groups {unknown}; expected some of {list(_PARAM_SLOTS)}.")
    for name, module in _slots(attn).items():
        given = params.get(name)
        if module is None:
            if given is not None:
                raise ValueError(f"the parameters have {name} but the module has none (build it with {_HINTS[name]}).")
            continue
        if given is None:
            raise ValueError(f"the module has {name} but the parameters do not.")
        keys = ("value",) if name == "sink_logits" else ("kernel", "bias", "scale")
        for key in keys:
            variable = attn.sink_logits if name == "sink_logits" else getattr(module, key, None)
            value = given.get(key)
            if variable is None and value is None:
                continue
            if variable is None:
                raise ValueError(f"the parameters have {name}.{key} but the module has none (use_bias=False?).")
            if value is None:
                raise ValueError(
                    f"the module has {name}.{key} but the parameters do not; RoPEAttention(use_bias=True) biases "
                    "all four projections: pass zeros for the missing ones."
                )
            current = variable[...]
            array = jnp.asarray(value)
            if array.shape != current.shape:
                raise ValueError(
                    f"{name}.{key} has shape {tuple(array.shape)}, the module expects {tuple(current.shape)}."
                )
            variable[...] = array.astype(current.dtype)
    return attn
