"""Flax NNX modules built on rope_jax's pure functions: attention with RoPE, and learnable N-D frequencies.

Importing this package imports Flax; ``import rope_jax`` alone does not (``rope_jax.nn`` is loaded on first use).

* :class:`RoPEAttention` (``attention``): attention as a short pipeline of stages (``stages``), its KV caches
  from :mod:`rope_jax.kv_cache`.
* :class:`MixedRoPE` (``mixed``): learnable RoPE-Mixed frequencies.
* :func:`rope_attention_fn` (``flax_interop``): RoPE inside ``nnx.MultiHeadAttention``.
* :class:`PositionalRotation` (``protocol``): what ``rope=`` accepts.
* :mod:`~rope_jax.nn.context_parallel`: attend steps for a sequence split over devices (all-gather, ring).
"""

from rope_jax.nn import context_parallel
from rope_jax.nn.attention import RoPEAttention, raise_if_cache_overflowed
from rope_jax.nn.flax_interop import rope_attention_fn
from rope_jax.nn.mixed import MixedRoPE
from rope_jax.nn.protocol import PositionalRotation
from rope_jax.nn.stages import (
    AttentionFn,
    ClipQKV,
    HeadNorm,
    OutputStage,
    QKNorm,
    QueryTemperature,
    Stage,
    dot_product_attention,
)

__all__ = [
    "AttentionFn",
    "ClipQKV",
    "HeadNorm",
    "MixedRoPE",
    "OutputStage",
    "PositionalRotation",
    "QKNorm",
    "QueryTemperature",
    "RoPEAttention",
    "Stage",
    "context_parallel",
    "dot_product_attention",
    "raise_if_cache_overflowed",
    "rope_attention_fn",
]
