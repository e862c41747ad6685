"""RoPE inside ``nnx.MultiHeadAttention``: an ``attention_fn`` that rotates queries and keys first."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

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
    mask: jax.Array | None = None,
    **kwargs: Any,
) -> jax.Array:
    key_slots = jnp.arange(key.shape[-3])
    query_slots = _query_slots(query.shape[-3], key.shape[-3], mask)
    query = rope(query, jnp.broadcast_to(query_slots, (*query.shape[:-3], query.shape[-3])))
    key = rope(key, jnp.broadcast_to(key_slots, key.shape[:-2]))
    return attention_fn(query, key, value, mask=mask, **kwargs)


def rope_attention_fn(
    rope: PositionalRotation, *, attention_fn: Callable[..., jax.Array] = nnx.dot_product_attention
) -> Callable[..., jax.Array]:
    """RoPE for ``nnx.MultiHeadAttention``: pass the result as its ``attention_fn``.

    Queries and keys are rotated by ``rope`` at their slots (``0 .. T - 1``), then ``attention_fn`` (default
    ``nnx.dot_product_attention``) runs with every other argument unchanged. While decoding with
    ``nnx.MultiHeadAttention``'s own cache (``decode=True``), the cache holds unrotated keys: each step rotates
    every cached key at its slot and the new query at the last slot its mask lets it see, which reproduces the
    full forward. Left padding and packed sequences need no positions here: a RoPE score depends only on the
    distance between two slots, and masks hide the rest (:class:`RoPEAttention` also counts positions over
    real tokens, which length-dependent rules such as dynamic NTK need).

    Args:
        rope: Any :class:`PositionalRotation` (e.g. :class:`rope_jax.RoPE`).
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
    return functools.partial(_rope_dot_product_attention, rope=rope, attention_fn=attention_fn)
