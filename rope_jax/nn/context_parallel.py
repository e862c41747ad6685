"""Context parallelism: attention kernels for a sequence split over devices, plugged into ``attention_fn``.

Run :class:`~rope_jax.nn.RoPEAttention` inside ``jax.shard_map`` over a mesh axis that splits the sequence; each
device holds a block of tokens with their *true* positions, projects and rotates them locally (RoPE is
elementwise), and the attend step below brings the other devices' keys and values:

* :func:`all_gather_attention`: gather every block's keys, values and key positions, then attend (one
  all-gather each; memory for the whole sequence's keys on every device).
* :func:`ring_attention`: pass the key/value blocks round the ring with ``ppermute`` and accumulate the softmax
  block by block (online softmax), holding one block at a time.

Masks compare positions, so any token order works; :func:`load_balanced_order` gives the zigzag order that
balances causal work (device ``i`` holds chunks ``i`` and ``2n - 1 - i`` of ``2n``).
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from rope_jax import _checks
from rope_jax._checks import raise_if
from rope_jax.nn.stages import AttentionFn, dot_product_attention
from rope_jax.positions import MaskSpec

__all__ = ["all_gather_attention", "load_balanced_order", "ring_attention"]


def load_balanced_order(length: int, num_shards: int) -> np.ndarray:
    """The zigzag order of ``length`` tokens over ``num_shards`` devices: int ``[length]`` indices.

    The sequence is cut into ``2 * num_shards`` chunks; device ``i`` gets chunks ``i`` and ``2 n - 1 - i``, so
    every device holds as many early (cheap under a causal mask) as late tokens. Permute tokens and positions
    with it before sharding: ``x[:, order]``, ``positions[:, order]``; ``np.argsort(order)`` undoes it.

    Example:
        >>> from rope_jax.nn.context_parallel import load_balanced_order
        >>> load_balanced_order(8, 2).tolist()
        [0, 1, 6, 7, 2, 3, 4, 5]
    """
    length = _checks.positive_int("length", length)
    num_shards = _checks.positive_int("num_shards", num_shards)
    if length % (2 * num_shards):
        raise ValueError(
            f"a load-balanced order cuts the sequence into 2 * num_shards = {2 * num_shards} equal chunks; "
            f"length {length} is not a multiple of it. Pad the sequence."
        )
    chunks = np.arange(length).reshape(2 * num_shards, -1)
    return np.concatenate([np.concatenate([chunks[i], chunks[2 * num_shards - 1 - i]]) for i in range(num_shards)])


def _require_positions(mask: MaskSpec, strategy: str) -> None:
    if mask.query_positions is None or mask.key_positions is None:
        raise ValueError(
            f"{strategy} needs the tokens' positions to mask across devices: call the attention with "
            "positions= (each device's true positions, e.g. load_balanced_order's), not the default 0 .. T - 1."
        )


def _raise_not_a_permutation(bad: jax.Array) -> None:
    if bad:
        raise ValueError(
            "the gathered key positions of a row are not a permutation of 0 .. T - 1: tokens are missing, repeated "
            "or out of order with their positions (permute tokens and positions together)."
        )


def all_gather_attention(
    axis_name: str, *, check_positions: bool = False, implementation: Literal["xla", "cudnn"] | None = None
) -> AttentionFn:
    """An attend step that gathers keys and values from every device of ``axis_name`` (inside ``shard_map``).

    Args:
        axis_name: The mesh axis that splits the sequence.
        check_positions: Raise (through a host callback) unless every row's gathered key positions are a
            permutation of ``0 .. T - 1`` (a whole, unpacked, unpadded sequence).
        implementation: For ``jax.nn.dot_product_attention``.

    Returns:
        An :class:`~rope_jax.nn.stages.AttentionFn` for ``RoPEAttention(attention_fn=...)``.
    """
    check_positions = _checks.boolean("check_positions", check_positions)

    def attend(query: jax.Array, key: jax.Array, value: jax.Array, *, mask: MaskSpec, scale: float) -> jax.Array:
        _require_positions(mask, "all_gather_attention")

        def gather(array: Any) -> Any:
            return None if array is None else jax.lax.all_gather(array, axis_name, axis=1, tiled=True)

        key_positions = gather(mask.key_positions)
        mask = mask.with_keys(positions=key_positions, valid=gather(mask.key_valid), segments=gather(mask.key_segments))
        if check_positions:
            positions = jnp.sort(key_positions, axis=-1)
            bad = jnp.any(positions != jnp.arange(positions.shape[-1], dtype=positions.dtype))
            raise_if(bad, _raise_not_a_permutation, bad)
        return dot_product_attention(
            query, gather(key), gather(value), mask=mask, scale=scale, implementation=implementation
        )

    return attend


def ring_attention(axis_name: str) -> AttentionFn:
    """An attend step that passes key/value blocks round the devices of ``axis_name`` (inside ``shard_map``).

    Each of the ``n`` steps attends the local queries to one block (its mask from the block's key positions),
    keeps a running maximum, denominator and numerator per query (the online softmax of flash attention, in
    float32), and hands the block to the next device with ``ppermute``. Memory holds one block; ``n - 1``
    collective permutes per call. Differentiable (``ppermute`` transposes to the reverse ring).

    Returns:
        An :class:`~rope_jax.nn.stages.AttentionFn` for ``RoPEAttention(attention_fn=...)``.
    """

    def attend(query: jax.Array, key: jax.Array, value: jax.Array, *, mask: MaskSpec, scale: float) -> jax.Array:
        _require_positions(mask, "ring_attention")
        size = jax.lax.axis_size(axis_name)
        ring = [(i, (i + 1) % size) for i in range(size)]
        batch, length, heads, _ = query.shape
        kv_heads = key.shape[2]
        q = query.astype(jnp.float32).reshape(batch, length, kv_heads, heads // kv_heads, -1)
        shape = (batch, kv_heads, heads // kv_heads, length)
        running_max = jnp.full(shape, -jnp.inf, jnp.float32)
        denominator = jnp.zeros(shape, jnp.float32)
        numerator = jnp.zeros((*shape, value.shape[-1]), jnp.float32)
        block = (key, value, mask.key_positions, mask.key_valid, mask.key_segments)
        for step in range(size):
            k, v, positions, valid, segments = block
            visible = mask.with_keys(positions=positions, valid=valid, segments=segments).array(length, k.shape[1])
            logits = jnp.einsum("btkgh,bskh->bkgts", q, k.astype(jnp.float32)) * jnp.float32(scale)
            if visible is not None:
                logits = jnp.where(visible[:, :, None], logits, -jnp.inf)  # [B, 1, T, S] -> [B, 1, 1, T, S]
            new_max = jnp.maximum(running_max, jnp.max(logits, axis=-1))
            shift = jnp.where(jnp.isneginf(new_max), 0.0, new_max)  # rows with nothing visible yet
            weights = jnp.exp(logits - shift[..., None])
            correction = jnp.exp(running_max - shift)
            denominator = denominator * correction + weights.sum(axis=-1)
            numerator = numerator * correction[..., None] + jnp.einsum(
                "bkgts,bskh->bkgth", weights, v.astype(jnp.float32)
            )
            running_max = new_max
            if step < size - 1:
                block = jax.tree.map(lambda a: jax.lax.ppermute(a, axis_name, ring), block)
        out = numerator / jnp.where(denominator > 0, denominator, 1.0)[..., None]  # no visible key: 0
        out = jnp.moveaxis(out, 3, 1)  # [B, T, K, G, Hv]
        return out.reshape(batch, length, heads, -1).astype(query.dtype)

    return attend
