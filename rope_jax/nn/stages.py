"""The attention vocabulary: the stages :class:`~rope_jax.nn.RoPEAttention` runs between its projections.

    x -> q/k/v projections -> stages before RoPE -> RoPE -> stages after RoPE -> attend -> output stages
      -> o projection

A :class:`Stage` is a callable ``stage(q, k, v, q_positions, k_positions) -> (q, k, v)`` on ``q [B, T, N, H]``,
``k, v [B, S, K, H]`` and their positions ``[B, T]`` (or coordinates ``[B, T, A]``); an :class:`OutputStage`
maps the attention output ``[B, T, N, H]`` to the same shape. Either is an NNX module when it holds parameters.
The vocabulary: :class:`QKNorm` (RMS or LayerNorm, per head or over the projection, shared / per-head / no
weights), :class:`ClipQKV`, :class:`QueryTemperature`, and :class:`HeadNorm` (also an output stage). The attend
step is an attention kernel with the signature of :func:`dot_product_attention` (scale, mask, logit softcap,
sink logits); pass another (ring, splash, a context-parallel all-gather) as ``RoPEAttention(attention_fn=...)``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import jax
import jax.numpy as jnp
from flax import nnx

from rope_jax import _checks
from rope_jax.positions import MaskSpec

__all__ = [
    "AttentionFn",
    "ClipQKV",
    "HeadNorm",
    "OutputStage",
    "QKNorm",
    "QueryTemperature",
    "Stage",
    "dot_product_attention",
]


class Stage(Protocol):
    """A transform of q, k and v at one point of the attention pipeline (before or after RoPE).

    ``q [B, T, N, H]`` sits at ``q_positions``, ``k, v [B, S, K, H]`` at ``k_positions`` (``[B, T]`` / ``[T]``,
    or coordinates ``[B, T, A]``): the same array in a full forward, the new tokens' and the whole cache's when a
    cache holding unrotated keys runs the stages after RoPE at read time.
    """

    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, q_positions: jax.Array, k_positions: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]: ...


class OutputStage(Protocol):
    """A transform of the attention output ``[B, T, N, H]`` before the o projection (BitNet's ``attn_sub_norm``)."""

    def __call__(self, out: jax.Array) -> jax.Array: ...


class AttentionFn(Protocol):
    """The attend step: softmax attention of ``query [B, T, N, H]`` over ``key, value [B, S, K, H]``.

    ``mask`` says which keys each query may see (a :class:`~rope_jax.MaskSpec`: ``mask.array(T, S)`` is the
    boolean ``[B, 1, T, S]`` mask, ``mask.is_causal`` True when it is plain causal order, which a kernel may
    apply by itself); ``scale`` multiplies the logits. Returns ``[B, T, N, H]``. Context-parallel kernels
    (:mod:`rope_jax.nn.context_parallel`) gather the key-side fields of ``mask`` with the keys.

    Two keywords come only from layers that use them, so a kernel written without them keeps working where they
    are off: ``logit_softcap=c`` (float: logits become ``c * tanh(logits / c)`` after scaling, before masking;
    Gemma 2) and ``sink_logits=[N]`` (float32: one learned logit per query head, an extra column of every softmax
    row whose probability is dropped; gpt-oss). :class:`~rope_jax.nn.RoPEAttention` refuses, at construction, a
    custom kernel whose signature cannot take a keyword the layer needs; a kernel may also raise on a value it
    does not support.
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
    logit_softcap: float | None = None,
    sink_logits: jax.Array | None = None,
) -> jax.Array:
    """The default attend step, softmax in float32.

    Without a softcap or sink logits this is ``jax.nn.dot_product_attention`` (XLA, or cuDNN on GPUs, as
    ``implementation`` says). cuDNN's kernel supports neither a logit softcap nor sink logits, so with either the
    softmax is written out in XLA (``implementation`` None or ``"xla"``; ``"cudnn"`` raises): logits, softcap,
    mask, the sink column, float32 softmax, values.

    Args:
        query: ``[B, T, N, H]``.
        key: ``[B, S, K, H]`` with K dividing N (GQA / MQA).
        value: ``[B, S, K, H]``.
        mask: Which keys each query sees (None: all). Plain causal order goes to the kernel as ``is_causal``
            (cuDNN then skips the masked half); anything else as the boolean mask.
        scale: Logit scale (default ``H ** -0.5``).
        implementation: ``None`` (JAX chooses), ``"xla"`` or ``"cudnn"``.
        logit_softcap: ``c``: logits become ``c * tanh(logits / c)`` after scaling, before masking (Gemma 2).
        sink_logits: ``[N]`` learned logits, one per query head, joined to every softmax row and dropped after
            it (gpt-oss): the row's probabilities sum to less than one.

    Returns:
        ``[B, T, N, H]`` in ``query.dtype``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> q, k, v = (jax.random.normal(jax.random.key(i), (1, 3, 2, 4)) for i in range(3))
        >>> from rope_jax import MaskSpec
        >>> plain = dot_product_attention(q, k, v, mask=MaskSpec())  # causal
        >>> bool(jnp.allclose(plain, dot_product_attention(q, k, v, mask=MaskSpec(), logit_softcap=1e6), atol=1e-5))
        True
        >>> sunk = dot_product_attention(q, k, v, mask=MaskSpec(), sink_logits=jnp.full((2,), 30.0))
        >>> float(jnp.abs(sunk).max()) < 1e-6  # a huge sink logit takes all the probability
        True
    """
    if logit_softcap is None and sink_logits is None:
        is_causal = mask is not None and mask.is_causal
        array = None if mask is None or is_causal else mask.array(query.shape[1], key.shape[1])
        # jax.nn.dot_product_attention promotes bf16 logits to float32 implicitly; keep it working for users who
        # run with jax_numpy_dtype_promotion="strict" (rope_jax's own code casts explicitly).
        with jax.numpy_dtype_promotion("standard"):
            return jax.nn.dot_product_attention(
                query, key, value, mask=array, is_causal=is_causal, scale=scale, implementation=implementation
            )
    if implementation == "cudnn":
        raise ValueError(
            "implementation='cudnn' supports neither logit_softcap nor sink_logits (cuDNN's attention has "
            "neither); use implementation=None or 'xla', which writes the softmax out."
        )
    batch, length, heads, head_dim = query.shape
    kv_heads = key.shape[2]
    probs = attention_probabilities(
        query, key, mask=mask, scale=scale, logit_softcap=logit_softcap, sink_logits=sink_logits
    ).reshape(batch, kv_heads, heads // kv_heads, length, key.shape[1])
    out = jnp.einsum("bkgts,bskh->btkgh", probs, value.astype(jnp.float32))
    return out.reshape(batch, length, heads, head_dim).astype(query.dtype)


def attention_probabilities(
    query: jax.Array,
    key: jax.Array,
    *,
    mask: MaskSpec | None = None,
    scale: float | None = None,
    logit_softcap: float | None = None,
    sink_logits: jax.Array | None = None,
) -> jax.Array:
    """The softmax weights of :func:`dot_product_attention`'s written-out path, in float32: logits, softcap,
    mask, the sink column (dropped after the softmax), softmax.

    Args:
        query: ``[B, T, N, H]``.
        key: ``[B, S, K, H]`` with K dividing N (query head n reads key head ``n // (N / K)``).
        mask, scale, logit_softcap, sink_logits: As :func:`dot_product_attention`.

    Returns:
        ``[B, N, T, S]`` float32; with sink logits a row sums to less than one.
    """
    if logit_softcap is not None:
        logit_softcap = _checks.positive("logit_softcap", logit_softcap)
    batch, length, heads, head_dim = query.shape
    kv_heads = key.shape[2]
    groups = heads // kv_heads
    f32 = jnp.float32
    q = query.astype(f32).reshape(batch, length, kv_heads, groups, head_dim)
    logits = jnp.einsum("btkgh,bskh->bkgts", q, key.astype(f32))
    logits = logits * jnp.asarray(head_dim**-0.5 if scale is None else scale, f32)
    if logit_softcap is not None:
        cap = jnp.asarray(logit_softcap, f32)
        logits = jnp.tanh(logits / cap) * cap
    array = None if mask is None else mask.array(length, key.shape[1])
    if array is not None:
        array = jnp.broadcast_to(array, (batch, array.shape[1], length, key.shape[1]))
        grouped = array.reshape(batch, kv_heads, groups, length, -1) if array.shape[1] == heads else array[:, :, None]
        logits = jnp.where(grouped, logits, jnp.finfo(f32).min)
    if sink_logits is not None:
        sinks = jnp.asarray(sink_logits, f32).reshape(1, kv_heads, groups, 1, 1)
        column = jnp.broadcast_to(sinks, (*logits.shape[:-1], 1))
        probs = jax.nn.softmax(jnp.concatenate([logits, column], axis=-1), axis=-1)[..., :-1]
    else:
        probs = jax.nn.softmax(logits, axis=-1)
    return probs.reshape(batch, heads, length, key.shape[1])


_NORM_KINDS = ("rms", "layer")
_NORM_OVER = ("head", "projection")
_NORM_WEIGHTS = ("shared", "per_head", None)


class HeadNorm(nnx.Module):
    """Normalise ``[..., N, H]`` per head or over the whole projection: RMS or LayerNorm, in float32.

    The statistic (mean square; for ``"layer"`` also the mean, subtracted first) is taken over each head's H
    features (``over="head"``) or over all ``N * H`` features of a token (``over="projection"``: OLMo 2's q/k
    norm, BitNet's output norm). The learned scale (and bias) is one ``[H]`` vector shared by the heads
    (``weights="shared"``), one per head ``[N, H]`` (``"per_head"``), or absent (``None``: Llama 4's L2 norm).

    Args:
        num_heads: Heads N of the tensors it normalises.
        head_dim: Features per head H.
        kind: ``"rms"`` (``x / sqrt(mean(x^2) + eps)``) or ``"layer"`` (mean-centred first).
        over: ``"head"`` or ``"projection"``.
        weights: ``"shared"``, ``"per_head"`` or None.
        use_bias: A learned bias of the scale's shape (LayerNorm's), added last.
        epsilon: Added to the mean square.
        dtype: Output dtype (default: the input's).
        param_dtype: Parameter dtype.
        scale_init, bias_init: Initialisers.
        rngs: ``nnx.Rngs``.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> norm = HeadNorm(2, 4, weights=None, rngs=nnx.Rngs(0))
        >>> y = norm(jnp.arange(8.0).reshape(1, 2, 4))
        >>> jnp.allclose(jnp.mean(y**2, axis=-1), 1.0, atol=1e-5).item()
        True
    """

    def __init__(
        self,
        num_heads: int,
        head_dim: int,
        *,
        kind: Literal["rms", "layer"] = "rms",
        over: Literal["head", "projection"] = "head",
        weights: Literal["shared", "per_head"] | None = "shared",
        use_bias: bool = False,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        scale_init: Any = nnx.initializers.ones,
        bias_init: Any = nnx.initializers.zeros,
        rngs: nnx.Rngs,
    ):
        self.num_heads = _checks.positive_int("num_heads", num_heads)
        self.head_dim = _checks.positive_int("head_dim", head_dim)
        self.kind = _checks.one_of("kind", kind, _NORM_KINDS)
        self.over = _checks.one_of("over", over, _NORM_OVER)
        self.weights = _checks.one_of("weights", weights, _NORM_WEIGHTS)
        self.epsilon = _checks.positive("epsilon", epsilon)
        if _checks.boolean("use_bias", use_bias) and weights is None:
            raise ValueError("use_bias=True needs weights='shared' or 'per_head' (a bias has the scale's shape).")
        self.dtype = dtype
        shape = (head_dim,) if weights == "shared" else (num_heads, head_dim)
        self.scale = nnx.data(None if weights is None else nnx.Param(scale_init(rngs.params(), shape, param_dtype)))
        self.bias = nnx.data(nnx.Param(bias_init(rngs.params(), shape, param_dtype)) if use_bias else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [..., N, H]`` -> normalised, same shape, ``dtype`` or x's dtype."""
        spans_heads = self.over == "projection" or self.weights == "per_head"
        if x.shape[-1] != self.head_dim or (spans_heads and x.shape[-2] != self.num_heads):
            heads = self.num_heads if spans_heads else "N"
            raise ValueError(f"HeadNorm expects [..., {heads}, {self.head_dim}], got {tuple(x.shape)}.")
        axes = (-1,) if self.over == "head" else (-2, -1)
        y = x.astype(jnp.float32)
        if self.kind == "layer":
            y = y - jnp.mean(y, axis=axes, keepdims=True)
        y = y * jax.lax.rsqrt(jnp.mean(jnp.square(y), axis=axes, keepdims=True) + jnp.float32(self.epsilon))
        if self.scale is not None:
            y = y * self.scale[...].astype(jnp.float32)
        if self.bias is not None:
            y = y + self.bias[...].astype(jnp.float32)
        return y.astype(self.dtype or x.dtype)


class QKNorm(nnx.Module):
    """Normalise q and k, each with its own :class:`HeadNorm` (``q_norm``, ``k_norm``): a stage before RoPE
    (Qwen 3, Gemma 3, OLMo 2, Cohere, StableLM, Persimmon) or after it (HunYuan, Llama 4).

    Args:
        head_dim: Features per head H.
        num_heads, num_kv_heads: Query and key heads N, K; needed for per-head weights and projection norms.
        kind, over, weights, use_bias, epsilon, dtype, param_dtype, scale_init, bias_init: As for
            :class:`HeadNorm`. The default is an RMS norm per head with one ``[H]`` scale each for q and k.
        rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        head_dim: int,
        *,
        num_heads: int | None = None,
        num_kv_heads: int | None = None,
        kind: Literal["rms", "layer"] = "rms",
        over: Literal["head", "projection"] = "head",
        weights: Literal["shared", "per_head"] | None = "shared",
        use_bias: bool = False,
        epsilon: float = 1e-6,
        dtype: Any = None,
        param_dtype: Any = None,
        scale_init: Any = nnx.initializers.ones,
        bias_init: Any = nnx.initializers.zeros,
        rngs: nnx.Rngs,
    ):
        if (over == "projection" or weights == "per_head") and (num_heads is None or num_kv_heads is None):
            raise ValueError(
                f"QKNorm(over={over!r}, weights={weights!r}) needs num_heads and num_kv_heads (its statistic or "
                "weights span the heads); got None."
            )
        norm = dict(
            kind=kind,
            over=over,
            weights=weights,
            use_bias=use_bias,
            epsilon=epsilon,
            dtype=dtype,
            param_dtype=jnp.float32 if param_dtype is None else param_dtype,
            scale_init=scale_init,
            bias_init=bias_init,
            rngs=rngs,
        )
        self.q_norm = HeadNorm(1 if num_heads is None else num_heads, head_dim, **norm)
        self.k_norm = HeadNorm(1 if num_kv_heads is None else num_kv_heads, head_dim, **norm)

    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, q_positions: jax.Array, k_positions: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        return self.q_norm(q), self.k_norm(k), v


class ClipQKV(nnx.Module):
    """Clamp q, k and v to ``[-clip, clip]`` (OLMo's and DBRX's ``clip_qkv``): a stage before RoPE.

    Args:
        clip: The bound (> 0).
    """

    def __init__(self, clip: float):
        self.clip = _checks.positive("clip", clip)

    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, q_positions: jax.Array, k_positions: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        def clamp(x: jax.Array) -> jax.Array:
            return jnp.clip(x, jnp.asarray(-self.clip, x.dtype), jnp.asarray(self.clip, x.dtype))

        return clamp(q), clamp(k), clamp(v)


class QueryTemperature(nnx.Module):
    """Scale each query by ``log1p(floor((p + 1) / floor_scale)) * attn_scale + 1`` at its position p (Llama 4's
    temperature tuning on its layers without RoPE); keys and values are unchanged.

    Hugging Face counts p as the token's slot (tokens already cached plus its index), which equals its position
    in unpadded sequences that start at 0; rope_jax uses the position, as its masks do.

    Args:
        floor_scale: Positions per step of the logarithm (Llama 4: 8192).
        attn_scale: The slope (Llama 4: 0.1).
    """

    def __init__(self, floor_scale: float, attn_scale: float):
        self.floor_scale = _checks.positive("floor_scale", floor_scale)
        self.attn_scale = _checks.number("attn_scale", attn_scale)

    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, q_positions: jax.Array, k_positions: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        positions = jnp.asarray(q_positions)
        if positions.ndim == 3:
            raise ValueError("QueryTemperature needs 1D positions [B, T] or [T], got N-D coordinates.")
        f32 = jnp.float32
        steps = jnp.floor((positions.astype(f32) + f32(1.0)) / f32(self.floor_scale))
        scales = jnp.log1p(steps) * f32(self.attn_scale) + f32(1.0)
        scales = jnp.broadcast_to(scales, q.shape[:2])[..., None, None]
        return (q.astype(f32) * scales).astype(q.dtype), k, v
