"""RoPE inside ``nnx.MultiHeadAttention``: an ``attention_fn`` that rotates queries and keys first."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from rope_jax.nn.protocol import PositionalRotation

__all__ = ["rope_attention_fn"]


def _query_slots(query_length: int, key_length: int, mask: jax.Array | None) -> jax.Array:
    """Slot of every query among the keys: ``0 .. T - 1`` for self-attention; while decoding with
    ``nnx.MultiHeadAttention``'s cache (one query, ``S`` cached slots), the last slot the query may see."""
    if query_length == key_length:
        return jnp.arange(query_length)
    if mask is None:
        raise ValueError(
            f"rope_attention_fn got {query_length} queries and {key_length} keys without a mask: it cannot tell "
            "where the queries sit. Self-attention (T == S) or nnx.MultiHeadAttention's decode cache is supported."
        )
    visible = jnp.where(jnp.asarray(mask, bool), jnp.arange(key_length), -1)  # [..., N or 1, T, S]
    return jnp.max(visible, axis=(-3, -1))  # [..., T]


def _rope_dot_product_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    *,
    rope: PositionalRotation,
    attention_fn: Callable[..., jax.Array],
    positions: ArrayLike | Callable[[int], ArrayLike] | None,
    mask: jax.Array | None = None,
    **kwargs: Any,
) -> jax.Array:
    if positions is None:
        key_positions: ArrayLike = jnp.arange(key.shape[-3])
        query_positions: ArrayLike = _query_slots(query.shape[-3], key.shape[-3], mask)
    elif query.shape[-3] != key.shape[-3]:
        raise ValueError(
            f"rope_attention_fn(positions=...) rotates self-attention (as many queries as keys); got "
            f"{query.shape[-3]} queries and {key.shape[-3]} keys (nnx.MultiHeadAttention's decode cache?)."
        )
    else:
        query_positions = key_positions = positions(query.shape[-3]) if callable(positions) else positions
    query = rope(query, jnp.broadcast_to(query_positions, query.shape[:-2]))
    key = rope(key, jnp.broadcast_to(key_positions, key.shape[:-2]))
    return attention_fn(query, key, value, mask=mask, **kwargs)


def rope_attention_fn(
    rope: PositionalRotation,
    *,
    positions: ArrayLike | Callable[[int], ArrayLike] | None = None,
    attention_fn: Callable[..., jax.Array] = nnx.dot_product_attention,
) -> Callable[..., jax.Array]:
    """RoPE for ``nnx.MultiHeadAttention``: pass the result as its ``attention_fn``.

    Queries and keys are rotated by ``rope`` at their slots (``0 .. T - 1``) or at ``positions``, then
    ``attention_fn`` (default ``nnx.dot_product_attention``) runs with every other argument unchanged. While
    decoding with ``nnx.MultiHeadAttention``'s own cache (``decode=True``), the cache holds unrotated keys: each
    step rotates every cached key at its slot and the new query at the last slot its mask lets it see, which
    reproduces the full forward. Left padding and packed sequences need no positions here: a RoPE score depends
    only on the distance between two slots, and masks hide the rest (:class:`RoPEAttention` also counts
    positions over real tokens, which length-dependent rules such as dynamic NTK need).

    Args:
        rope: Any :class:`PositionalRotation` (e.g. :class:`rope_jax.RoPE`).
        positions: Where the tokens sit when not at ``0 .. T - 1``: positions ``[B, T]`` / ``[T]``, or a function
            of T returning them at call time - e.g. a block of a sequence split over devices under
            ``shard_map``: ``lambda t: jax.lax.axis_index("seq") * t + jnp.arange(t)``. Self-attention only.
        attention_fn: The attention kernel to wrap.

    Returns:
        A function with ``attention_fn``'s signature.

    Example:
        >>> import jax.numpy as jnp, rope_jax
        >>> from flax import nnx
        >>> from rope_jax.nn import rope_attention_fn
        >>> attn = nnx.MultiHeadAttention(num_heads=4, in_features=64, decode=False, rngs=nnx.Rngs(0),
        ...                               attention_fn=rope_attention_fn(rope_jax.RoPE(head_dim=16)))
        >>> attn(jnp.ones((2, 10, 64)), is_causal=True).shape
        (2, 10, 64)
    """
    return functools.partial(_rope_dot_product_attention, rope=rope, attention_fn=attention_fn, positions=positions)
