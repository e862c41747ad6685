"""The attention vocabulary: the stages :class:`~rope_jax.nn.RoPEAttention` runs between its projections.

    x -> q/k/v projections -> stages before RoPE -> RoPE -> stages after RoPE -> attend -> o projection

A stage is a callable ``stage(q, k, v, positions) -> (q, k, v)`` on ``q [B, T, N, H]``, ``k, v [B, T, K, H]`` and
the positions ``[B, T]`` (or coordinates ``[B, T, A]``); an NNX module when it holds parameters. The attend step
is an attention kernel with the signature of :func:`dot_product_attention`; pass another (ring, splash, a
context-parallel all-gather) as ``RoPEAttention(attention_fn=...)``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import jax
from flax import nnx

from rope_jax import _checks
from rope_jax.positions import MaskSpec

__all__ = ["AttentionFn", "QKNorm", "Stage", "dot_product_attention"]


class Stage(Protocol):
    """A transform of q, k and v at one point of the attention pipeline."""

    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, positions: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]: ...


class AttentionFn(Protocol):
    """The attend step: softmax attention of ``query [B, T, N, H]`` over ``key, value [B, S, K, H]``.

    ``mask`` says which keys each query may see (a :class:`~rope_jax.MaskSpec`: ``mask.array(T, S)`` is the
    boolean ``[B, 1, T, S]`` mask, ``mask.is_causal`` True when it is plain causal order, which a kernel may
    apply by itself); ``scale`` multiplies the logits. Returns ``[B, T, N, H]``. Context-parallel kernels
    (:mod:`rope_jax.nn.context_parallel`) gather the key-side fields of ``mask`` with the keys.
    """

    def __call__(
        self, query: jax.Array, key: jax.Array, value: jax.Array, *, mask: MaskSpec, scale: float
    ) -> jax.Array: ...


def dot_product_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    *,
    mask: MaskSpec | None = None,
    scale: float | None = None,
    implementation: Literal["xla", "cudnn"] | None = None,
) -> jax.Array:
    """The default attend step: ``jax.nn.dot_product_attention`` (XLA, or cuDNN on GPUs), softmax in float32.

    Args:
        query: ``[B, T, N, H]``.
        key: ``[B, S, K, H]`` with K dividing N (GQA / MQA).
        value: ``[B, S, K, H]``.
        mask: Which keys each query sees (None: all). Plain causal order goes to the kernel as ``is_causal``
            (cuDNN then skips the masked half); anything else as the boolean mask.
        scale: Logit scale (default ``H ** -0.5``).
        implementation: ``None`` (JAX chooses), ``"xla"`` or ``"cudnn"``.

    Returns:
        ``[B, T, N, H]`` in ``query.dtype``.
    """
    is_causal = mask is not None and mask.is_causal
    array = None if mask is None or is_causal else mask.array(query.shape[1], key.shape[1])
    # jax.nn.dot_product_attention promotes bf16 logits to float32 implicitly; keep it working for users who run
    # with jax_numpy_dtype_promotion="strict" (rope_jax's own code casts explicitly).
    with jax.numpy_dtype_promotion("standard"):
        return jax.nn.dot_product_attention(
            query, key, value, mask=array, is_causal=is_causal, scale=scale, implementation=implementation
        )


class QKNorm(nnx.Module):
    """RMS-normalise q and k per head, each with its own learned scale ``[H]`` (Qwen 3, Gemma 3, OLMo 2 per head).

    Args:
        head_dim: Features per head H.
        epsilon: Added to the mean square.
        dtype, param_dtype: As for ``nnx.RMSNorm``.
        scale_init: Initialiser of the two scales (e.g. wrapped in ``nnx.with_partitioning``).
        rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        head_dim: int,
        *,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = None,
        scale_init: Any = nnx.initializers.ones,
        rngs: nnx.Rngs,
    ):
        head_dim = _checks.positive_int("head_dim", head_dim)
        norm = dict(epsilon=epsilon, dtype=dtype, scale_init=scale_init, rngs=rngs)
        if param_dtype is not None:
            norm["param_dtype"] = param_dtype
        self.q_norm = nnx.RMSNorm(head_dim, **norm)
        self.k_norm = nnx.RMSNorm(head_dim, **norm)

    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, positions: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        return self.q_norm(q), self.k_norm(k), v
