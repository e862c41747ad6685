"""What ``RoPEAttention(rope=...)`` accepts: anything that rotates queries and keys at positions."""

from __future__ import annotations

from typing import Protocol

import jax
from jax.typing import ArrayLike

__all__ = ["PositionalRotation"]


class PositionalRotation(Protocol):
    """What ``RoPEAttention(rope=...)`` and :func:`rope_attention_fn` accept: something that rotates q/k.

    :class:`rope_jax.RoPE`, :class:`rope_jax.RoPENd`, :func:`rope_jax.from_hf_config`'s result and
    :class:`MixedRoPE` all are. A custom one needs these three members.
    """

    @property
    def head_dim(self) -> int:
        """Features per head it rotates."""
        ...

    @property
    def num_heads(self) -> int | None:
        """Heads with their own frequencies (per-head RoPE), or None when every head shares them."""
        ...

    def __call__(self, x: ArrayLike, positions: ArrayLike, /) -> jax.Array:
        """Rotate ``x [B, T, N, H]`` at ``positions [B, T]`` (or coordinates ``[B, T, A]``)."""
        ...
