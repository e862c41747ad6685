"""Hugging Face attention weights -> :class:`rope_jax.nn.RoPEAttention` parameters.

A Hugging Face checkpoint stores PyTorch ``nn.Linear`` weights ``[out, in]``; ``RoPEAttention`` holds Flax
kernels ``[in, out]``. Families name and pack the projections differently:

=================  ==========================================  ==========================================
family             q / k / v                                   output
=================  ==========================================  ==========================================
LLaMA, Qwen, ...   ``q_proj``, ``k_proj``, ``v_proj``          ``o_proj``
Phi-3              ``qkv_proj``: rows ``[q (N*H); k (K*H); v]``  ``o_proj``
GPT-NeoX, Pythia   ``query_key_value``: rows per head ``[N, 3, H]``  ``dense``
=================  ==========================================  ==========================================

:func:`split_fused_qkv` unpacks the two fused layouts, :func:`attention_params` turns PyTorch weights into
``RoPEAttention`` kernels and biases (optionally permuting q/k from interleaved to half-split pairs, see
:func:`rope_jax.interleaved_to_half_split`), :func:`attention_params_from_state_dict` finds the weights of one
layer in a state dict by those names, and :func:`load_attention_params` writes the result into a
``RoPEAttention``. Everything except the last works on NumPy or JAX arrays without Flax.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
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
_LAYOUTS = ("concatenated", "per_head")


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
    layout: Literal["concatenated", "per_head"] = "concatenated",
) -> tuple[Array, Array, Array]:
    """Split a fused q/k/v projection (PyTorch weight ``[out, in]`` or bias ``[out]``) into q, k and v.

    Args:
        weight: The fused weight ``[(N + 2K) * H, in]`` or bias ``[(N + 2K) * H]``.
        num_heads: Query heads N.
        head_dim: Features per head H.
        num_kv_heads: Key/value heads K (default N). ``"per_head"`` requires K == N.
        layout: ``"concatenated"``: all q rows, then all k rows, then all v rows (Phi-3 ``qkv_proj``).
            ``"per_head"``: rows grouped by head, each head holding its q, k, v rows in turn, ``[N, 3, H]``
            (GPT-NeoX / Pythia ``query_key_value``).

    Returns:
        ``(q [N * H, ...], k [K * H, ...], v [K * H, ...])`` in the input's array type, still PyTorch layout.

    Raises:
        TypeError: ``weight`` is not a floating array, or a size is not an int.
        ValueError: Non-positive sizes, an unknown layout, ``"per_head"`` with K != N, or a row count other
            than ``(N + 2K) * H``.

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
    if layout == "per_head" and num_kv_heads != num_heads:
        raise ValueError(
            f"layout 'per_head' packs one k and one v head per query head, so num_kv_heads must equal num_heads "
            f"({num_heads}); got {num_kv_heads}."
        )
    array = _array(weight, "weight")
    q_rows, kv_rows = num_heads * head_dim, num_kv_heads * head_dim
    _check_rows(
        array,
        "the fused weight",
        q_rows + 2 * kv_rows,
        f"(N + 2K) * H = ({num_heads} + 2 * {num_kv_heads}) * {head_dim}",
    )
    if layout == "concatenated":
        return array[:q_rows], array[q_rows : q_rows + kv_rows], array[q_rows + kv_rows :]
    heads = array.reshape(num_heads, 3, head_dim, *array.shape[1:])
    q, k, v = (heads[:, i].reshape(q_rows, *array.shape[1:]) for i in range(3))
    return q, k, v


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
        q_norm, k_norm: Per-head RMS-norm weights ``[H]`` (Qwen 3, Gemma 3 q/k norm), or None.
        norm_offset: Added to the norm weights: 1.0 for Gemma, whose RMSNorm multiplies by ``1 + w``.
        to_half_split: Permute the q/k output features from interleaved pairs ``(2i, 2i + 1)`` to half-split
            pairs ``(i, i + P)`` (:func:`rope_jax.interleaved_to_half_split`): load a checkpoint that rotates
            adjacent pairs (Meta's LLaMA, Cohere, GLM) into a half-split RoPE. Scores are unchanged.
        rotary_dim: Rotated features per head for ``to_half_split`` (partial rotary); default H.

    Returns:
        ``{"q_proj": {"kernel": [D, N * H], "bias": [N * H]}, "k_proj": ..., "v_proj": ..., "o_proj":
        {"kernel": [N * H, D], ...}}`` plus ``"q_norm"`` / ``"k_norm"``: ``{"scale": [H]}`` when given; the
        ``"bias"`` entries only when a bias was given. NumPy arrays, or JAX arrays for JAX inputs.

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
    for name, value in (("q_norm", q_norm), ("k_norm", k_norm)):
        if value is None:
            continue
        scale = _array(value, f"{name} weight")
        if tuple(scale.shape) != (head_dim,):
            raise ValueError(
                f"the {name} weight must have shape (head_dim,) = ({head_dim},), got {tuple(scale.shape)}."
            )
        if to_half_split:  # the norm weight follows the features it scales
            scale = interleaved_to_half_split(scale, num_heads=1, head_dim=head_dim, rotary_dim=rotary_dim)
        params[name] = {"scale": scale + np.asarray(norm_offset, scale.dtype) if norm_offset else scale}
    return params


def attention_params_from_state_dict(
    state_dict: Mapping[str, ArrayLike],
    prefix: str,
    *,
    num_heads: int,
    head_dim: int,
    num_kv_heads: int | None = None,
    norm_offset: float = 0.0,
    to_half_split: bool = False,
    rotary_dim: int | None = None,
) -> Params:
    """:func:`attention_params` for one layer of a Hugging Face state dict, found by its names.

    Reads ``{prefix}q_proj`` / ``k_proj`` / ``v_proj`` / ``o_proj`` (LLaMA, Qwen, Gemma, Cohere, ...),
    ``{prefix}qkv_proj`` + ``o_proj`` (Phi-3, concatenated) or ``{prefix}query_key_value`` + ``dense``
    (GPT-NeoX, per head), each ``.weight`` and ``.bias`` when present, and ``q_norm`` / ``k_norm`` weights.

    Args:
        state_dict: Names -> arrays (convert torch tensors with ``.numpy()`` first).
        prefix: The attention module's name with its trailing dot, e.g. ``"model.layers.0.self_attn."``.
        num_heads, head_dim, num_kv_heads, norm_offset, to_half_split, rotary_dim: As for
            :func:`attention_params`.

    Returns:
        What :func:`attention_params` returns.

    Raises:
        KeyError: None of the known projection names is under ``prefix``.
        TypeError, ValueError: As for :func:`attention_params`.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}.")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}.")

    def get(name: str) -> ArrayLike | None:
        return state_dict.get(prefix + name)

    def require(name: str) -> ArrayLike:
        value = get(name)
        if value is None:
            raise KeyError(f"no {prefix}{name} in the state dict.")
        return value

    layout: Literal["concatenated", "per_head"]
    q: ArrayLike
    k: ArrayLike
    v: ArrayLike
    q_b: ArrayLike | None
    k_b: ArrayLike | None
    v_b: ArrayLike | None
    if get("qkv_proj.weight") is not None or get("query_key_value.weight") is not None:
        if get("qkv_proj.weight") is not None:
            fused, layout, out = "qkv_proj", "concatenated", "o_proj"
        else:
            fused, layout, out = "query_key_value", "per_head", "dense"
        split = functools.partial(
            split_fused_qkv, num_heads=num_heads, head_dim=head_dim, num_kv_heads=num_kv_heads, layout=layout
        )
        q, k, v = split(require(f"{fused}.weight"))
        fused_bias = get(f"{fused}.bias")
        q_b, k_b, v_b = (None, None, None) if fused_bias is None else split(fused_bias)
    elif get("q_proj.weight") is not None:
        q, k, v = (require(f"{name}.weight") for name in ("q_proj", "k_proj", "v_proj"))
        q_b, k_b, v_b = (get(f"{name}.bias") for name in ("q_proj", "k_proj", "v_proj"))
        out = "o_proj"
    else:
        near = sorted(name for name in state_dict if name.startswith(prefix))[:8]
        raise KeyError(
            f"no attention weights under {prefix!r}: expected {prefix}q_proj.weight, {prefix}qkv_proj.weight or "
            f"{prefix}query_key_value.weight; names under the prefix: {near}."
        )
    return attention_params(
        q,
        k,
        v,
        require(f"{out}.weight"),
        num_heads=num_heads,
        head_dim=head_dim,
        num_kv_heads=num_kv_heads,
        q_bias=q_b,
        k_bias=k_b,
        v_bias=v_b,
        o_bias=get(f"{out}.bias"),
        q_norm=get("q_norm.weight"),
        k_norm=get("k_norm.weight"),
        norm_offset=norm_offset,
        to_half_split=to_half_split,
        rotary_dim=rotary_dim,
    )


def load_attention_params(attn: RoPEAttention, params: Mapping[str, Mapping[str, ArrayLike]]) -> RoPEAttention:
    """Write :func:`attention_params`' result into a ``RoPEAttention`` in place (cast to its parameter dtype).

    Args:
        attn: The module; built with ``use_bias`` and ``qk_norm`` matching the parameters.
        params: ``{"q_proj": {"kernel": ..., "bias": ...}, ..., "q_norm": {"scale": ...}, ...}``.

    Returns:
        ``attn``, for chaining.

    Raises:
        ValueError: A shape differs from the module's, or the module has a bias / q-k norm the parameters lack
            (or the reverse).
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping like attention_params returns, got {type(params).__name__}.")
    from rope_jax.nn.stages import QKNorm

    norm = next((stage for stage in attn.before_rope if isinstance(stage, QKNorm)), None)
    for name in (*_PROJECTIONS, "q_norm", "k_norm"):
        module = getattr(norm if name in ("q_norm", "k_norm") else attn, name, None)
        given = params.get(name)
        if module is None:
            if given is not None:
                raise ValueError(f"the parameters have {name} but the module has none (build it with qk_norm=True).")
            continue
        if given is None:
            raise ValueError(f"the module has {name} but the parameters do not.")
        for key in ("kernel", "bias", "scale"):
            variable = getattr(module, key, None)
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
