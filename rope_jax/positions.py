"""Coordinate and mask builders: where each token sits, and which keys each query may see.

1D positions for left-padded batches and packed sequences, the boolean attention mask that goes with them,
and the N-D coordinates of ViT patch grids, videos and Qwen2-VL multimodal sequences (M-RoPE ids). Pure
functions; :class:`rope_jax.nn.RoPEAttention` uses them, and Linen or hand-written models can too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rope_jax import _checks

__all__ = [
    "attention_mask",
    "mrope_positions",
    "patch_grid_coords",
    "positions_from_mask",
    "positions_from_segments",
    "video_coords",
]


def positions_from_mask(mask: ArrayLike) -> jax.Array:
    """Positions for a (left-)padded batch: ``cumsum(mask) - 1`` over real tokens, 0 on padding.

    Args:
        mask: ``[B, T]`` (or ``[..., T]``) bool or numeric: True / non-zero for real tokens.

    Returns:
        int32 ``[B, T]``: the first real token of every row is at position 0, whatever padding precedes it.
    """
    mask = _mask("mask", mask).astype(jnp.int32)
    return jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0) * mask


def _mask(name: str, mask: ArrayLike) -> jax.Array:
    """A bool mask ``[..., T]``; numeric masks (Hugging Face's 0/1 ``attention_mask``) count non-zero as True."""
    mask = _checks.array(name, mask, kinds="mask")
    if mask.ndim < 1:
        raise ValueError(f"{name} must have at least 1 dim [..., T], got shape {mask.shape}.")
    return mask if mask.dtype == jnp.bool_ else mask != 0


def positions_from_segments(segment_ids: ArrayLike) -> jax.Array:
    """Positions for packed sequences: they restart at 0 where the segment id changes.

    Args:
        segment_ids: ``[B, T]`` (or ``[..., T]``) integer ids; consecutive tokens with the same id form one
            sequence.

    Returns:
        int32 ``[B, T]``.
    """
    segment_ids = _checks.array("segment_ids", segment_ids, kinds="int", min_ndim=1)
    index = jnp.arange(segment_ids.shape[-1], dtype=jnp.int32)
    starts = jnp.concatenate(
        [jnp.ones_like(segment_ids[..., :1], dtype=bool), segment_ids[..., 1:] != segment_ids[..., :-1]], axis=-1
    )
    start_index = jax.lax.cummax(jnp.where(starts, index, 0), axis=segment_ids.ndim - 1)
    return index - start_index


def attention_mask(
    query_length: int,
    key_length: int,
    *,
    causal: bool = True,
    key_mask: ArrayLike | None = None,
    query_segments: ArrayLike | None = None,
    key_segments: ArrayLike | None = None,
    query_offset: ArrayLike = 0,
    sliding_window: int | None = None,
) -> jax.Array | None:
    """Boolean ``[B or 1, 1, T, S]`` mask (True = attend) for ``jax.nn.dot_product_attention``, or None.

    Args:
        query_length: T.
        key_length: S.
        causal: Query ``t`` (at absolute slot ``query_offset + t``) sees keys at slots ``<=`` its own.
        key_mask: ``[B, S]`` True for real keys (padding, empty cache slots are False).
        query_segments, key_segments: ``[B, T]`` / ``[B, S]`` segment ids; attention stays within a segment.
        query_offset: Slot of the first query (decoding with a cache), scalar or ``[B]``.
        sliding_window: W: query slot ``q`` sees only key slots ``q - W < k <= q`` (its last W keys, itself
            included; Hugging Face's ``sliding_window_overlay``, as in Mistral and Gemma). Needs ``causal``.

    Returns:
        The mask, or None when nothing is masked.

    Raises:
        TypeError: a length or window not an int, ``causal`` not a bool, masks or ids of the wrong dtype.
        ValueError: shapes that do not match ``query_length`` / ``key_length``, one of the segment ids without
            the other, a window without ``causal``.
    """
    query_length = _checks.integer("query_length", query_length, minimum=0)
    key_length = _checks.integer("key_length", key_length, minimum=0)
    causal = _checks.boolean("causal", causal)
    if sliding_window is not None:
        sliding_window = _checks.positive_int("sliding_window", sliding_window)
        if not causal:
            raise ValueError("sliding_window restricts a query to its last keys; it needs causal=True.")
    if (query_segments is None) != (key_segments is None):
        raise ValueError("query_segments and key_segments come together (attention stays within a segment); got one.")
    masks = []
    if causal:
        offset = _checks.array("query_offset", query_offset, kinds="int")
        if offset.ndim > 1:
            raise ValueError(f"query_offset must be a scalar or [B], got shape {offset.shape}.")
        index_dtype = offset.dtype
        query_slots = offset.astype(index_dtype)[..., None] + jnp.arange(query_length, dtype=index_dtype)
        key_slots = jnp.arange(key_length, dtype=index_dtype)
        allowed = query_slots[..., :, None] >= key_slots  # [T, S] or [B, T, S]
        if sliding_window is not None:
            allowed = allowed & (key_slots > query_slots[..., :, None] - sliding_window)
        masks.append(allowed.reshape((-1, 1, query_length, key_length)))
    if key_mask is not None:
        key_mask = _mask("key_mask", key_mask)
        if key_mask.shape[-1:] != (key_length,) or key_mask.ndim != 2:
            raise ValueError(f"key_mask must have shape [B, S] with S = {key_length}, got {key_mask.shape}.")
        masks.append(key_mask[:, None, None, :])
    if query_segments is not None:
        query_segments = _checks.array("query_segments", query_segments, kinds="int", ndim=2)
        key_segments = _checks.array("key_segments", key_segments, kinds="int", ndim=2)
        if query_segments.shape[-1] != query_length or key_segments.shape[-1] != key_length:
            raise ValueError(
                f"query_segments must be [B, T] with T = {query_length} and key_segments [B, S] with S = "
                f"{key_length}; got shapes {query_segments.shape} and {key_segments.shape}."
            )
        same = query_segments[:, :, None] == key_segments[:, None, :]
        masks.append(same[:, None])
    if not masks:
        return None
    mask = masks[0]
    for other in masks[1:]:
        mask = mask & other
    return mask


# ------------------------------------------------------------------------------------ coordinate builders


def patch_grid_coords(
    height: int,
    width: int,
    *,
    num_prefix_tokens: int = 0,
    train_grid: tuple[int, int] | None = None,
    resolution: str = "extrapolate",
) -> np.ndarray:
    """(row, column) coordinates of an ``height x width`` patch grid, row-major as ViTs flatten patches.

    Prefix tokens (CLS, registers) come first and get coordinate 0 on both axes, so they are left unrotated
    (the rotation at the origin is the identity; patch (0, 0) is unrotated too, as in any RoPE).

    Resolution change: for a model trained on ``train_grid`` (two positive ints: rows, columns) and run on a
    different grid, ``"extrapolate"`` keeps integer patch indices (new rows/columns get unseen positions) and
    ``"interpolate"`` rescales them by ``train / new`` per axis so the grid spans the training range (fractional
    positions).

    Returns:
        float32 ``[num_prefix_tokens + height * width, 2]``.
    """
    height = _checks.positive_int("height", height)
    width = _checks.positive_int("width", width)
    num_prefix_tokens = _checks.integer("num_prefix_tokens", num_prefix_tokens, minimum=0)
    _checks.one_of("resolution", resolution, ("extrapolate", "interpolate"))
    train = None if train_grid is None else _checks.integers("train_grid", train_grid, length=2, minimum=1)
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    if resolution == "interpolate":
        if train is None:
            raise ValueError("resolution='interpolate' needs train_grid=(height, width) of the training grid.")
        rows = rows * np.float32(train[0] / height)
        cols = cols * np.float32(train[1] / width)
    coords = np.stack([rows.ravel(), cols.ravel()], axis=-1)
    return np.concatenate([np.zeros((num_prefix_tokens, 2), np.float32), coords])


def video_coords(frames: int, height: int, width: int) -> np.ndarray:
    """(t, h, w) coordinates of a video's patches, frame by frame, row-major: int32 ``[frames * height * width, 3]``.

    Example:
        >>> from rope_jax import video_coords
        >>> video_coords(2, 1, 2).tolist()
        [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1]]
    """
    frames = _checks.positive_int("frames", frames)
    height = _checks.positive_int("height", height)
    width = _checks.positive_int("width", width)
    t, h, w = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    return np.stack([t.ravel(), h.ravel(), w.ravel()], axis=-1).astype(np.int32)


def mrope_positions(segments: Sequence[tuple[str, Any]], *, spatial_merge_size: int = 2) -> np.ndarray:
    """Qwen2-VL M-RoPE position ids for one sequence of text, images and videos: int32 ``[T, 3]`` (t, h, w).

    The same ids as Hugging Face's ``Qwen2VLModel.get_rope_index`` (transformers 5) for that layout: text tokens
    get ``t = h = w`` = a running index; a vision block with patch grid ``(t, h, w)`` contributes
    ``t * (h / m) * (w / m)`` tokens (``m = spatial_merge_size``) at ``(start + i, start + j, start + k)``, and the
    running index then advances by ``max(h, w) / m``. Pure text therefore reduces to 1D positions.

    To convert Hugging Face's ``position_ids [3, B, T]`` to this layout: ``jnp.moveaxis(position_ids, 0, -1)``.
    Padding tokens (outside an attention mask) get position 0 in Hugging Face; stack rows and pad the same way.

    Args:
        segments: ``("text", n_tokens)``, ``("image", (t, h, w))`` or ``("video", (t, h, w))`` in sequence order;
            ``n_tokens`` an int >= 0, grids three positive ints in patches before merging, as ``image_grid_thw`` /
            ``video_grid_thw``.
        spatial_merge_size: The vision tower's patch merge size (2 for Qwen2-VL).
    """
    spatial_merge_size = _checks.positive_int("spatial_merge_size", spatial_merge_size)
    blocks, start = [], 0
    for i, segment in enumerate(_checks.sequence("segments", segments, what="(kind, value) pairs")):
        kind, value = _checks.sequence(f"segments[{i}]", segment, length=2, what="(kind, value) pairs")
        kind = _checks.one_of(f"segments[{i}] kind", kind, ("text", "image", "video"))
        if kind == "text":
            n = _checks.integer(f"segments[{i}] token count", value, minimum=0)
            blocks.append(np.repeat((start + np.arange(n))[:, None], 3, axis=1))
            start += n
        else:
            t, h, w = _checks.integers(f"segments[{i}] grid (t, h, w)", value, length=3, minimum=1)
            if h % spatial_merge_size or w % spatial_merge_size:
                raise ValueError(
                    f"{kind} grid {(t, h, w)} is not divisible by spatial_merge_size {spatial_merge_size}."
                )
            grid = video_coords(t, h // spatial_merge_size, w // spatial_merge_size)
            blocks.append(grid + start)
            start += max(h, w) // spatial_merge_size
    return np.concatenate(blocks).astype(np.int32) if blocks else np.zeros((0, 3), np.int32)
