"""Position and mask builders for attention with RoPE: left padding, packed sequences, KV-cache decoding.

Pure functions; :class:`rope_jax.nn.RoPEAttention` uses them, and Linen or hand-written models can too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["attention_mask", "positions_from_mask", "positions_from_segments"]


def positions_from_mask(mask) -> jax.Array:
    """Positions for a (left-)padded batch: ``cumsum(mask) - 1`` over real tokens, 0 on padding.

    Args:
        mask: ``[B, T]`` 1/True for real tokens.

    Returns:
        int32 ``[B, T]``: the first real token of every row is at position 0, whatever padding precedes it.
    """
    mask = jnp.asarray(mask).astype(jnp.int32)
    return jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0) * mask


def positions_from_segments(segment_ids) -> jax.Array:
    """Positions for packed sequences: they restart at 0 where the segment id changes.

    Args:
        segment_ids: ``[B, T]`` integer ids; consecutive tokens with the same id form one sequence.

    Returns:
        int32 ``[B, T]``.
    """
    segment_ids = jnp.asarray(segment_ids)
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
    key_mask=None,
    query_segments=None,
    key_segments=None,
    query_offset=0,
) -> jax.Array | None:
    """Boolean ``[B or 1, 1, T, S]`` mask (True = attend) for ``jax.nn.dot_product_attention``, or None.

    Args:
        query_length: T.
        key_length: S.
        causal: Query ``t`` (at absolute slot ``query_offset + t``) sees keys at slots ``<=`` its own.
        key_mask: ``[B, S]`` True for real keys (padding, empty cache slots are False).
        query_segments, key_segments: ``[B, T]`` / ``[B, S]`` segment ids; attention stays within a segment.
        query_offset: Slot of the first query (decoding with a cache), scalar or ``[B]``.

    Returns:
        The mask, or None when nothing is masked.
    """
    masks = []
    if causal:
        query_slots = jnp.asarray(query_offset)[..., None] + jnp.arange(query_length)  # [T] or [B, T]
        allowed = query_slots[..., :, None] >= jnp.arange(key_length)  # [T, S] or [B, T, S]
        masks.append(allowed.reshape((-1, 1, query_length, key_length)))
    if key_mask is not None:
        masks.append(jnp.asarray(key_mask, bool)[:, None, None, :])
    if query_segments is not None:
        same = jnp.asarray(query_segments)[:, :, None] == jnp.asarray(key_segments)[:, None, :]
        masks.append(same[:, None])
    if not masks:
        return None
    mask = masks[0]
    for other in masks[1:]:
        mask = mask & other
    return mask
