"""Coordinate and mask builders: where each token sits, and which keys each query may see.

1D positions for left-padded batches and packed sequences, the boolean attention mask that goes with them,
and the N-D coordinates of ViT patch grids, videos and Qwen2-VL multimodal sequences (M-RoPE ids). Pure
functions; :class:`rope_jax.nn.RoPEAttention` uses them, and Linen or hand-written models can too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rope_jax import _checks

__all__ = [
    "MaskSpec",
    "attention_mask",
    "mrope_positions",
    "packed_patch_coords",
    "patch_centre_coords",
    "patch_grid_coords",
    "positions_from_mask",
    "positions_from_segments",
    "video_coords",
    "window_order",
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
    sliding_window: int | jax.Array | None = None,
    query_positions: ArrayLike | None = None,
    key_positions: ArrayLike | None = None,
) -> jax.Array | None:
    """Boolean ``[B or 1, 1, T, S]`` mask (True = attend) for ``jax.nn.dot_product_attention``, or None.

    Causality and the window compare slots (``query_offset + t`` against ``s``) or, given ``query_positions``
    and ``key_positions``, positions: then tokens may come in any order (load-balanced context parallelism).

    Args:
        query_length: T.
        key_length: S.
        causal: Query ``t`` (at absolute slot ``query_offset + t``) sees keys at slots ``<=`` its own; with
            positions, keys at positions ``<=`` its own.
        key_mask: ``[B, S]`` True for real keys (padding, empty cache slots are False).
        query_segments, key_segments: ``[B, T]`` / ``[B, S]`` segment ids; attention stays within a segment.
        query_offset: Slot of the first query (decoding with a cache), scalar or ``[B]``.
        sliding_window: W (an int, or a 0-d integer array, traced or not): query slot ``q`` sees only key slots
            ``q - W < k <= q`` (its last W keys, itself included; Hugging Face's ``sliding_window_overlay``, as in
            Mistral and Gemma), or the same on positions. Needs ``causal``.
        query_positions, key_positions: ``[B, T]`` / ``[B, S]`` (or ``[T]`` / ``[S]``) positions to compare
            instead of slots (integers or fractions); both or neither.

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
        sliding_window = _checks.length("sliding_window", sliding_window)  # a traced int: per-layer windows under scan
        if not causal:
            raise ValueError("sliding_window restricts a query to its last keys; it needs causal=True.")
    if (query_segments is None) != (key_segments is None):
        raise ValueError("query_segments and key_segments come together (attention stays within a segment); got one.")
    if (query_positions is None) != (key_positions is None):
        raise ValueError("query_positions and key_positions come together: pass both or neither.")
    masks = []
    if causal:
        if query_positions is None:
            offset = _checks.array("query_offset", query_offset, kinds="int")
            if offset.ndim > 1:
                raise ValueError(f"query_offset must be a scalar or [B], got shape {offset.shape}.")
            queries = offset[..., None] + jnp.arange(query_length, dtype=offset.dtype)
            keys = jnp.arange(key_length, dtype=offset.dtype)
        else:
            queries = _checks.array("query_positions", query_positions, kinds="real", min_ndim=1)
            keys = _checks.array("key_positions", key_positions, kinds="real", min_ndim=1)
            if queries.shape[-1] != query_length or keys.shape[-1] != key_length:
                raise ValueError(
                    f"query_positions / key_positions must end in T = {query_length} / S = {key_length}, got "
                    f"{queries.shape} and {keys.shape}."
                )
        keys = keys[..., None, :]
        allowed = queries[..., :, None] >= keys  # [T, S] or [B, T, S]
        if sliding_window is not None:
            allowed = allowed & (keys > queries[..., :, None] - sliding_window)
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


@dataclasses.dataclass(frozen=True)
class MaskSpec:
    """Which keys each query may see, as data: the masks' inputs rather than the boolean array they give.

    Attention kernels that split the keys (ring or all-gather context parallelism) gather or pass the key-side
    fields with the keys and build each block's mask with :meth:`array`; a kernel with its own causal masking
    uses :attr:`is_causal`. A pytree (arrays as leaves, ``causal`` and ``sliding_window`` static).

    Attributes:
        query_positions: ``[B, T]`` positions of the queries (integers or fractions), or None (causality by token
            order).
        key_positions: ``[B, S]`` positions of the keys, or None.
        key_valid: bool ``[B, S]``: real keys (padding and empty cache slots are False), or None (all real).
        query_segments, key_segments: ``[B, T]`` / ``[B, S]`` segment ids (attention stays within one), or None.
        causal: A query sees keys at positions ``<=`` its own (or, without positions, slots).
        sliding_window: W: only keys at positions ``p - W < k <= p``.
    """

    query_positions: jax.Array | None = None
    key_positions: jax.Array | None = None
    key_valid: jax.Array | None = None
    query_segments: jax.Array | None = None
    key_segments: jax.Array | None = None
    causal: bool = True
    sliding_window: int | None = None

    @property
    def is_causal(self) -> bool:
        """Nothing but causality by token order: a kernel may mask by itself (``is_causal=True``)."""
        fields = (self.query_positions, self.key_positions, self.key_valid, self.query_segments, self.key_segments)
        return self.causal and self.sliding_window is None and all(field is None for field in fields)

    def array(self, query_length: int, key_length: int) -> jax.Array | None:
        """Boolean ``[B or 1, 1, T, S]`` mask (True = attend), or None when nothing is masked."""
        return attention_mask(
            query_length,
            key_length,
            causal=self.causal,
            key_mask=self.key_valid,
            query_segments=self.query_segments,
            key_segments=self.key_segments,
            sliding_window=self.sliding_window,
            query_positions=self.query_positions,
            key_positions=self.key_positions,
        )

    def with_keys(
        self, *, positions: jax.Array | None, valid: jax.Array | None, segments: jax.Array | None
    ) -> MaskSpec:
        """The same queries against another set of keys (a gathered sequence, a block of a ring)."""
        return dataclasses.replace(self, key_positions=positions, key_valid=valid, key_segments=segments)


jax.tree_util.register_dataclass(
    MaskSpec,
    data_fields=["query_positions", "key_positions", "key_valid", "query_segments", "key_segments"],
    meta_fields=["causal", "sliding_window"],
)


# ------------------------------------------------------------------------------------ coordinate builders


def patch_grid_coords(
    height: int,
    width: int,
    *,
    num_prefix_tokens: int = 0,
    train_grid: tuple[int, int] | None = None,
    resolution: str = "extrapolate",
    offset: float = 0.0,
) -> np.ndarray:
    """(row, column) coordinates of an ``height x width`` patch grid, row-major as ViTs flatten patches.

    Prefix tokens (CLS, registers) come first and get coordinate 0 on both axes, so they are left unrotated
    (the rotation at the origin is the identity; patch (0, 0) is unrotated too, as in any RoPE).

    Resolution change: for a model trained on ``train_grid`` (two positive ints: rows, columns) and run on a
    different grid, ``"extrapolate"`` keeps integer patch indices (new rows/columns get unseen positions);
    ``"interpolate"`` rescales them so the grid spans the training range (fractional positions) with timm's
    EVA-02 arithmetic, ``(i / new) * train`` in float32, bit for bit; ``"scale"`` multiplies by the float32
    ratio instead, ``i * (train / new)`` (SAM3's rounding, and what ``"interpolate"`` computed before it followed
    timm: the two differ by an ulp or so).

    ``offset`` is added to the patch indices before any rescaling, in float32 (timm's ``grid_offset``: PE counts
    patches from 1, ``(i + 1) / new * train``).

    Example:
        >>> from rope_jax import patch_grid_coords
        >>> patch_grid_coords(2, 2, offset=1.0, train_grid=(4, 4), resolution="interpolate").tolist()
        [[2.0, 2.0], [2.0, 4.0], [4.0, 2.0], [4.0, 4.0]]

    Returns:
        float32 ``[num_prefix_tokens + height * width, 2]``.
    """
    height = _checks.positive_int("height", height)
    width = _checks.positive_int("width", width)
    num_prefix_tokens = _checks.integer("num_prefix_tokens", num_prefix_tokens, minimum=0)
    _checks.one_of("resolution", resolution, ("extrapolate", "interpolate", "scale"))
    train = None if train_grid is None else _checks.integers("train_grid", train_grid, length=2, minimum=1)
    start = np.float32(_checks.number("offset", offset))
    rows, cols = np.meshgrid(*(np.arange(n, dtype=np.float32) + start for n in (height, width)), indexing="ij")
    if resolution != "extrapolate":
        if train is None:
            raise ValueError(f"resolution={resolution!r} needs train_grid=(height, width) of the training grid.")
        if resolution == "interpolate":  # timm: arange(n) / n * ref
            rows = rows / np.float32(height) * np.float32(train[0])
            cols = cols / np.float32(width) * np.float32(train[1])
        else:
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


def _merge_sizes(merge_size: Any, count: int) -> list[int]:
    if isinstance(merge_size, (int, np.integer)) and not isinstance(merge_size, bool):
        return [_checks.positive_int("merge_size", merge_size)] * count
    sizes = [_checks.positive_int("merge_size entry", m) for m in _checks.sequence("merge_size", merge_size)]
    if len(sizes) != count:
        raise ValueError(f"merge_size lists {len(sizes)} sizes for {count} grids; give one per grid or one int.")
    return sizes


def packed_patch_coords(
    grid_thw: Any,
    *,
    merge_size: int | Sequence[int] = 1,
    temporal: bool = False,
    offset: int = 0,
    class_token: str | None = None,
) -> np.ndarray:
    """Coordinates of packed images and videos in a vision tower's token order: int32 ``[T, 2]`` (h, w) or
    ``[T, 3]`` (t, h, w).

    Each grid ``(t, h, w)`` (patches before merging, as ``grid_thw`` / ``image_grid_thw``; ``(h, w)`` for an
    image) contributes its frames one after the other. Within a frame, patches come in spatial-merge-block order:
    the ``merge_size x merge_size`` blocks row-major, the patches of each block row-major (Qwen2-VL and every
    tower that merges patches after the encoder); ``merge_size=1`` is plain row-major order. The same
    coordinates as transformers' ``get_vision_position_ids``.

    Args:
        grid_thw: ``[(t, h, w), ...]`` or ``[(h, w), ...]`` in patches.
        merge_size: The spatial merge size, one for all grids or one per grid (VideoLLaMA 3).
        temporal: Add the frame index as a leading axis (3-axis towers: MiniMax-M3-VL); else every frame repeats
            the (h, w) of the first.
        offset: Added to every patch coordinate (Llama 4, Inkling2 and Muse count patches from 1).
        class_token: ``"first"`` or ``"last"``: one token per grid before or after its patches, at the origin
            (coordinate 0 on every axis, so its rotation is the identity).

    Example:
        >>> from rope_jax import packed_patch_coords
        >>> packed_patch_coords([(1, 2, 4)], merge_size=2).tolist()
        [[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 3], [1, 2], [1, 3]]
    """
    grids = _checks.grids("grid_thw", grid_thw)
    merges = _merge_sizes(merge_size, len(grids))
    temporal = _checks.boolean("temporal", temporal)
    offset = _checks.integer("offset", offset)
    _checks.one_of("class_token", class_token, (None, "first", "last"))
    num_axes = 3 if temporal else 2
    blocks = []
    for (t, h, w), merge in zip(grids, merges, strict=True):
        if h % merge or w % merge:
            raise ValueError(f"grid {(t, h, w)} is not divisible by merge_size {merge}.")
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        shape = (h // merge, merge, w // merge, merge)
        rows, cols = (a.reshape(shape).transpose(0, 2, 1, 3).ravel() for a in (rows, cols))
        frame = np.stack([rows, cols], axis=-1) + offset
        coords = np.tile(frame, (t, 1))
        if temporal:
            coords = np.concatenate([np.repeat(np.arange(t), h * w)[:, None] + offset, coords], axis=-1)
        cls = np.zeros((1, num_axes), coords.dtype)
        parts = {"first": [cls, coords], "last": [coords, cls], None: [coords]}[class_token]
        blocks.extend(parts)
    return np.concatenate(blocks).astype(np.int32)


def window_order(grid_thw: Any, *, merge_size: int, window: int) -> np.ndarray:
    """The token permutation of window attention over merged patches (Qwen2.5-VL): int32 ``[T]``.

    Qwen2.5-VL groups the merged tokens of each frame into ``window x window`` windows (the last ones cut by the
    grid's edge), windows row-major, tokens row-major inside, and reorders the patches (whole merge blocks) that
    way before its encoder. Index :func:`packed_patch_coords` with it: ``coords[window_order(...)]``.

    Args:
        grid_thw: ``[(t, h, w), ...]`` in patches.
        merge_size: The spatial merge size.
        window: Window side in merged tokens (``window_size // merge_size // patch_size`` in Qwen2.5-VL).

    Example:
        >>> from rope_jax import window_order
        >>> window_order([(1, 2, 6)], merge_size=1, window=2).tolist()
        [0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]
    """
    merge = _checks.positive_int("merge_size", merge_size)
    window = _checks.positive_int("window", window)
    order, start = [], 0
    for t, h, w in _checks.grids("grid_thw", grid_thw):
        if h % merge or w % merge:
            raise ValueError(f"grid {(t, h, w)} is not divisible by merge_size {merge}.")
        gh, gw = h // merge, w // merge
        index = np.arange(t * gh * gw).reshape(t, gh, gw)
        pad_h, pad_w = -gh % window, -gw % window
        padded = np.pad(index, ((0, 0), (0, pad_h), (0, pad_w)), constant_values=-1)
        nh, nw = (gh + pad_h) // window, (gw + pad_w) // window
        padded = padded.reshape(t, nh, window, nw, window).transpose(0, 1, 3, 2, 4).ravel()
        merged = padded[padded >= 0] + start
        order.append((merged[:, None] * merge * merge + np.arange(merge * merge)).ravel())
        start += t * gh * gw
    return np.concatenate(order).astype(np.int32)


def patch_centre_coords(height: int, width: int, *, scale: float = 1.0) -> np.ndarray:
    """Patch centres normalised to ``[-1, 1]`` per axis, times ``scale``: float32 ``[height * width, 2]``.

    DINOv3 (and EoMT-DINOv3, Sapiens2) rotate by ``2 pi`` times these centres: ``(i + 0.5) / n * 2 - 1`` for
    row and column, row-major, every step rounded to float32 in that order, then multiplied by the float32
    ``scale`` (pass ``2 * math.pi``) as the reference code does before the frequencies. Prefix tokens (class,
    registers) are not rotated: give them zero coordinates.

    Example:
        >>> from rope_jax import patch_centre_coords
        >>> patch_centre_coords(1, 2).tolist()
        [[0.0, -0.5], [0.0, 0.5]]
    """
    height = _checks.positive_int("height", height)
    width = _checks.positive_int("width", width)
    scale = np.float32(_checks.number("scale", scale))
    f32 = np.float32

    def centres(n: int) -> np.ndarray:
        return (np.arange(n, dtype=f32) + f32(0.5)) / f32(n) * f32(2.0) - f32(1.0)

    rows, cols = np.meshgrid(centres(height), centres(width), indexing="ij")
    return (np.stack([rows.ravel(), cols.ravel()], axis=-1) * scale).astype(f32)
