"""Flax NNX modules built on rope_jax's pure functions: attention with RoPE, and learnable N-D frequencies.

Importing this module imports Flax; ``import rope_jax`` alone does not (``rope_jax.nn`` is loaded on first use).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, Protocol

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from rope_jax import _checks
from rope_jax._checks import raise_if
from rope_jax.nd import apply_rope_nd, mixed_frequencies
from rope_jax.positions import attention_mask as make_mask
from rope_jax.positions import positions_from_mask, positions_from_segments
from rope_jax.rotary import RoPE

__all__ = ["MixedRoPE", "PositionalRotation", "RoPEAttention", "rope_attention_fn"]


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


class MixedRoPE(nnx.Module):
    """RoPE-Mixed (Heo et al. 2024): learnable per-head N-D frequencies ``[N, A, P]`` held as an ``nnx.Param``.

    Each head rotates its pairs by ``sum_a freqs[n, a, p] * coords[a]``; the directions start random per head
    (:func:`rope_jax.mixed_frequencies`) and are trained with the rest of the model (e.g. by optax through
    ``nnx.Optimizer``). Axial RoPE is the special case of a block matrix shared by all heads.

    Args:
        num_heads: Heads N of the queries/keys it will rotate.
        head_dim: Features per head.
        num_axes: Coordinate axes A (2 for images).
        theta: Base of the initial magnitudes (the paper uses 10 for mixed frequencies).
        rotary_dim: Rotated features (default: head_dim).
        interleaved: Pair layout.
        rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
        >>> import jax.numpy as jnp, rope_jax
        >>> from flax import nnx
        >>> from rope_jax.nn import MixedRoPE
        >>> rope = MixedRoPE(num_heads=4, head_dim=32, rngs=nnx.Rngs(0))
        >>> q = jnp.ones((1, 196, 4, 32))                             # [B, T, N, H]
        >>> rope(q, rope_jax.patch_grid_coords(14, 14)[None]).shape   # coords [B, T, 2]
        (1, 196, 4, 32)
    """

    def __init__(
        self,
        num_heads: int,
        head_dim: int,
        *,
        num_axes: int = 2,
        theta: float = 10.0,
        rotary_dim: int | None = None,
        interleaved: bool = False,
        rngs: nnx.Rngs,
    ):
        self.head_dim = _checks.positive_int("head_dim", head_dim)
        self.num_heads = _checks.positive_int("num_heads", num_heads)
        rotary_dim = _checks.rotary_dim(rotary_dim, self.head_dim)
        self.freqs = nnx.Param(
            mixed_frequencies(rngs.params(), self.num_heads, rotary_dim, num_axes=num_axes, theta=theta)
        )
        self.interleaved = _checks.boolean("interleaved", interleaved)

    def __call__(self, x: ArrayLike, coords: ArrayLike) -> jax.Array:
        """Rotate ``x [..., T, N, H]`` at ``coords [..., T, A]``."""
        return apply_rope_nd(x, coords, freqs=self.freqs[...], interleaved=self.interleaved)


# ------------------------------------------------------------------------ RoPE inside nnx.MultiHeadAttention


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


# ------------------------------------------------------------------------------------------ RoPEAttention

_IMPLEMENTATIONS = (None, "xla", "cudnn")
_CACHE_MODES = ("rotated", "unrotated")


def _raise_cache_full(slot: jax.Array, new_tokens: int, max_length: int) -> None:
    if slot + new_tokens > max_length:
        raise ValueError(
            f"KV cache is full: {int(slot)} of {int(max_length)} slots used and {int(new_tokens)} more tokens "
            "arrived. Call init_cache with a larger max_length (nothing was truncated)."
        )


class RoPEAttention(nnx.Module):
    """Multi-head attention with rotary position embeddings: GQA/MQA, masks, packed sequences, KV cache.

    Queries and keys are rotated by ``rope`` (any :class:`PositionalRotation`: :class:`~rope_jax.RoPE`,
    :func:`~rope_jax.from_hf_config`'s result, :class:`~rope_jax.RoPENd`, :class:`MixedRoPE`, or None for no
    positions); values never are. The RoPE attention scaling (YaRN mscale, LongRoPE factor) is applied to cos and
    sin of both q and k, exactly as Hugging Face does. Attention runs through ``jax.nn.dot_product_attention``
    (softmax in float32).

    Args:
        num_heads: Query heads N.
        in_features: Model width D (the order of ``nnx.MultiHeadAttention``).
        head_dim: Features per head H (default: ``rope.head_dim``, else ``in_features // num_heads``).
        num_kv_heads: Key/value heads K (GQA; 1 = MQA); must divide ``num_heads``. Default: ``num_heads``.
        rope: The RoPE to apply, or None.
        use_bias: Bias in the q/k/v/o projections.
        qk_norm: RMS-normalise q and k per head before the rotation (Qwen3, Gemma 3, OLMo 2).
        sliding_window: W, or None for full attention: every query sees only its last W keys, itself included
            (key slots ``q - W < k <= q``, Hugging Face's convention for Mistral, Gemma 2/3, gpt-oss), in the full
            forward and in decoding, where the cache becomes a ring of W slots.
        softmax_scale: Logit scale; default ``head_dim ** -0.5`` (DeepSeek-V3 multiplies it by mscale squared).
        implementation: ``None`` (let JAX choose), ``"xla"`` or ``"cudnn"``.
        dtype, param_dtype, precision: As for ``nnx.Linear``.
        rngs: ``nnx.Rngs``.

    Call: ``attn(x [B, T, D], positions=None, *, attention_mask=None, segment_ids=None, causal=True,
    decode=False) -> [B, T, D]``. Positions default to the real-token count from ``attention_mask`` (left
    padding), to restarting counts per segment with ``segment_ids`` (packing), else ``0 .. T - 1``.

    Decoding: ``init_cache(batch_size, max_length)`` once (outside jit), then calls with ``decode=True`` append to
    the cache - a prompt first (with its ``attention_mask`` if left-padded), then one token at a time. Keys are
    cached already rotated. ``reset_cache()`` empties it. ``init_cache`` also builds the caches of long-running
    generation: a sliding-window ring, attention sinks that re-position the kept keys, and unrotated keys
    rotated at read time (see :meth:`init_cache`).
    """

    def __init__(
        self,
        num_heads: int,
        in_features: int,
        *,
        head_dim: int | None = None,
        num_kv_heads: int | None = None,
        rope: PositionalRotation | None = None,
        use_bias: bool = False,
        qk_norm: bool = False,
        sliding_window: int | None = None,
        softmax_scale: float | None = None,
        implementation: Literal["xla", "cudnn"] | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        rngs: nnx.Rngs,
    ):
        num_heads = _checks.positive_int("num_heads", num_heads)
        in_features = _checks.positive_int("in_features", in_features)
        num_kv_heads = num_heads if num_kv_heads is None else _checks.positive_int("num_kv_heads", num_kv_heads)
        if num_heads > in_features:
            raise ValueError(
                f"num_heads ({num_heads}) exceeds in_features ({in_features}): RoPEAttention takes "
                "(num_heads, in_features, ...) like nnx.MultiHeadAttention; check the two are not swapped."
            )
        if num_heads % num_kv_heads:
            raise ValueError(
                f"num_kv_heads ({num_kv_heads}) must divide num_heads ({num_heads}): each key/value head serves "
                "a whole group of query heads."
            )
        if rope is not None:
            rope_heads = rope.num_heads
            if rope_heads is not None and not num_heads == num_kv_heads == rope_heads:
                raise ValueError(
                    f"the RoPE has per-head frequencies for {rope_heads} heads; it needs "
                    f"num_heads == num_kv_heads == {rope_heads}, got {num_heads} and {num_kv_heads}."
                )
        if head_dim is None:
            if rope is not None:
                head_dim = rope.head_dim
            elif in_features % num_heads:
                raise ValueError(
                    f"in_features ({in_features}) is not a multiple of num_heads ({num_heads}), so the head dim "
                    "cannot be derived: pass head_dim=. RoPEAttention takes (num_heads, in_features, ...) like "
                    "nnx.MultiHeadAttention; check the two are not swapped."
                )
            else:
                head_dim = in_features // num_heads
        head_dim = _checks.positive_int("head_dim", head_dim)
        if rope is not None and rope.head_dim != head_dim:
            raise ValueError(f"head_dim {head_dim} does not match the RoPE's head_dim {rope.head_dim}.")
        _checks.one_of("implementation", implementation, _IMPLEMENTATIONS)
        self.in_features, self.num_heads, self.num_kv_heads, self.head_dim = (
            in_features,
            num_heads,
            num_kv_heads,
            head_dim,
        )
        self.rope: PositionalRotation | None = rope
        self.sliding_window = None if sliding_window is None else _checks.positive_int("sliding_window", sliding_window)
        self.softmax_scale = (
            head_dim**-0.5 if softmax_scale is None else _checks.positive("softmax_scale", softmax_scale)
        )
        self.implementation: Literal["xla", "cudnn"] | None = implementation
        self.dtype, self.param_dtype = dtype, param_dtype
        linear = dict(use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, precision=precision, rngs=rngs)
        self.q_proj = nnx.Linear(in_features, num_heads * head_dim, **linear)
        self.k_proj = nnx.Linear(in_features, num_kv_heads * head_dim, **linear)
        self.v_proj = nnx.Linear(in_features, num_kv_heads * head_dim, **linear)
        self.o_proj = nnx.Linear(num_heads * head_dim, in_features, **linear)
        norm = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.q_norm: nnx.RMSNorm | None = nnx.data(nnx.RMSNorm(head_dim, **norm) if qk_norm else None)
        self.k_norm: nnx.RMSNorm | None = nnx.data(nnx.RMSNorm(head_dim, **norm) if qk_norm else None)
        self.cached_key: nnx.Cache[jax.Array] | None = nnx.data(None)
        self.cached_value: nnx.Cache[jax.Array] | None = nnx.data(None)
        self.cached_mask: nnx.Cache[jax.Array] | None = nnx.data(None)
        self.cache_index: nnx.Cache[jax.Array] | None = nnx.data(None)
        self.cached_position: nnx.Cache[jax.Array] | None = nnx.data(None)  # [B, S]; not in the plain cache
        self.cache_mode = "rotated"
        self.cache_sinks: int | None = None
        self.cache_check = True

    # ----------------------------------------------------------------------------------------- pieces

    def _project(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        batch, length = x.shape[:2]
        q = self.q_proj(x).reshape(batch, length, self.num_heads, self.head_dim)
        k = self.k_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        v = self.v_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        return q, k, v

    def _rotate(self, q: jax.Array, k: jax.Array, positions: ArrayLike) -> tuple[jax.Array, jax.Array]:
        if self.rope is None:
            return q, k
        return self.rope(q, positions), self.rope(k, positions)

    def _attend(self, q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, causal_only: bool) -> jax.Array:
        # jax.nn.dot_product_attention promotes bf16 logits to float32 implicitly; keep it working for users who
        # run with jax_numpy_dtype_promotion="strict" (rope_jax's own code casts explicitly).
        with jax.numpy_dtype_promotion("standard"):
            if causal_only:  # no explicit mask: lets cuDNN skip the masked half
                out = jax.nn.dot_product_attention(
                    q, k, v, is_causal=True, scale=self.softmax_scale, implementation=self.implementation
                )
            else:
                out = jax.nn.dot_product_attention(
                    q, k, v, mask=mask, scale=self.softmax_scale, implementation=self.implementation
                )
        batch, length = q.shape[:2]
        return self.o_proj(out.reshape(batch, length, self.num_heads * self.head_dim))

    def _check_inputs(
        self,
        x: ArrayLike,
        positions: ArrayLike | None,
        attention_mask_: ArrayLike | None,
        segment_ids: ArrayLike | None,
    ) -> jax.Array:
        x = jnp.asarray(x)
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape [B, T, {self.in_features}], got {x.shape}.")
        batch, length = x.shape[:2]
        for name, value in (("attention_mask", attention_mask_), ("segment_ids", segment_ids)):
            if value is not None and jnp.shape(value) != (batch, length):
                raise ValueError(f"{name} must have shape [B, T] = {(batch, length)}, got {jnp.shape(value)}.")
        if positions is not None:
            shape = jnp.shape(positions)
            if len(shape) < 1 or (shape[-1] != length and (len(shape) < 2 or shape[-2] != length)):
                raise ValueError(
                    f"positions must be [B, T] / [T] (or [B, T, A] coordinates) with T = {length}, got {shape}."
                )
        return x

    def _full_sequence(
        self,
        x: jax.Array,
        positions: ArrayLike | None,
        attention_mask_: ArrayLike | None,
        segment_ids: ArrayLike | None,
        causal: bool,
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None, bool]:
        """Rotated q, k, v and the mask of a forward over whole sequences (no cache); shared by __call__ and
        attention_weights so the two cannot disagree.

        Positions default to restarting counts per segment, else the real-token count of the mask (left padding),
        else ``0 .. T - 1``. Padding keys are masked; with segment ids, id 0 marks padding too.
        """
        length = x.shape[1]
        if positions is None:
            if segment_ids is not None:
                positions = positions_from_segments(segment_ids)
            elif attention_mask_ is not None:
                positions = positions_from_mask(attention_mask_)
            else:
                positions = jnp.arange(length)[None]
        q, k, v = self._project(x)
        q, k = self._rotate(q, k, positions)
        key_mask = None if attention_mask_ is None else jnp.asarray(attention_mask_, bool)
        if segment_ids is not None:
            real = jnp.asarray(segment_ids) > 0
            key_mask = real if key_mask is None else key_mask & real
        mask = make_mask(
            length,
            length,
            causal=causal,
            key_mask=key_mask,
            query_segments=segment_ids,
            key_segments=segment_ids,
            sliding_window=self.sliding_window,
        )
        return q, k, v, mask, key_mask is None and segment_ids is None and self.sliding_window is None

    # ------------------------------------------------------------------------------------------- calls

    def __call__(
        self,
        x: ArrayLike,
        positions: ArrayLike | None = None,
        *,
        attention_mask: ArrayLike | None = None,
        segment_ids: ArrayLike | None = None,
        causal: bool = True,
        decode: bool = False,
    ) -> jax.Array:
        """Attend over ``x [B, T, D]``; returns ``[B, T, D]`` (see the class docstring for the arguments)."""
        x = self._check_inputs(x, positions, attention_mask, segment_ids)
        if decode:
            if segment_ids is not None:
                raise ValueError("decode=True does not take segment_ids; decode each packed sequence in its own row.")
            return self._decode(x, positions, attention_mask)
        q, k, v, mask, unmasked = self._full_sequence(x, positions, attention_mask, segment_ids, causal)
        return self._attend(q, k, v, mask, causal_only=causal and unmasked)

    def attention_weights(
        self,
        x: ArrayLike,
        positions: ArrayLike | None = None,
        *,
        attention_mask: ArrayLike | None = None,
        segment_ids: ArrayLike | None = None,
        causal: bool = True,
    ) -> jax.Array:
        """Softmax attention weights ``[B, N, T, T]`` (float32) of a full forward; for inspection and tests."""
        x = self._check_inputs(x, positions, attention_mask, segment_ids)
        q, k, _, mask, _ = self._full_sequence(x, positions, attention_mask, segment_ids, causal)
        k = jnp.repeat(k, self.num_heads // self.num_kv_heads, axis=2)
        logits = jnp.einsum("btnh,bsnh->bnts", q.astype(jnp.float32), k.astype(jnp.float32)) * self.softmax_scale
        if mask is not None:
            logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
        return jax.nn.softmax(logits, axis=-1)

    # ------------------------------------------------------------------------------------------ cache

    def init_cache(
        self,
        batch_size: int,
        max_length: int,
        *,
        dtype: Any = None,
        mode: Literal["rotated", "unrotated"] = "rotated",
        sinks: int | None = None,
        check: bool = True,
    ) -> None:
        """Allocate an empty KV cache for ``batch_size`` rows (call outside jit).

        Which cache:

        * Default (full attention, ``mode="rotated"``, no sinks): ``max_length`` slots holding rotated keys, as
          Hugging Face; decoding past ``max_length`` tokens raises.
        * ``sliding_window=W`` on the layer: ``min(max_length, W)`` slots. With ``max_length >= W`` they form a
          ring: each new token overwrites the one that just left the window, memory stays O(W) and positions grow
          without bound.
        * ``sinks=S`` (StreamingLLM attention sinks, llama.cpp context shift): the first S tokens stay, the rest
          of the ``max_length`` slots keep the most recent tokens, the oldest evicted first. Positions are ranks in
          the cache (``0 .. n - 1``), so they never leave the trained range: each key is stored as written and
          attention reads it moved to its current rank by one :meth:`RoPE.shift`, which equals a fresh prefill of
          ``sinks + kept tokens`` (no rounding piles up over evictions). Calls take at most ``max_length - S``
          tokens and neither ``attention_mask`` (padding would become the sinks) nor ``positions``.
        * ``mode="unrotated"``: caches raw keys and rotates every cached key at read time with the frequencies of
          the current length, so length-dependent rules (dynamic NTK, LongRoPE) see one consistent context, and
          sinks need no shift. Costs one rotation of the whole cache per step.

        The caches other than the default need 1D positions and, for sinks or ``"unrotated"``, a
        :class:`rope_jax.RoPE` (or no RoPE).

        A cache that can fill (the default and ``"unrotated"`` ones, and a window ring shorter than the window)
        never drops a token: a call whose tokens do not fit leaves the cache as it was and returns NaN. With
        ``check=True`` (default) it also raises a ValueError, through a host callback the device takes only then;
        on a GPU the conditional around it reads its predicate on the host at every step. ``check=False`` leaves
        that out: decoding never waits for the host, and a full cache shows as NaN outputs (the measured cost
        of both is in the README's GPU section).

        Args:
            batch_size: Rows B.
            max_length: Cache slots (see above).
            dtype: Cache dtype (default: the layer's dtype, else its param dtype).
            mode: ``"rotated"`` (default) or ``"unrotated"`` keys.
            sinks: Attention-sink count S (``1 <= S < max_length``), or None; only for full-attention layers.
            check: Raise when a call overflows the cache (see above); the state is kept and NaN returned either way.
        """
        batch_size = _checks.positive_int("batch_size", batch_size)
        max_length = _checks.positive_int("max_length", max_length)
        _checks.one_of("mode", mode, _CACHE_MODES)
        check = _checks.boolean("check", check)
        if sinks is not None:
            sinks = _checks.positive_int("sinks", sinks)
            if sinks >= max_length:
                raise ValueError(
                    f"a cache with sinks={sinks} needs max_length > sinks to keep any recent token, got "
                    f"max_length={max_length}."
                )
            if self.sliding_window is not None:
                raise ValueError(
                    f"sinks apply to full-attention layers; this layer has sliding_window={self.sliding_window}, "
                    "whose ring cache already keeps the last W keys. Pass sinks=None."
                )
        if (sinks is not None or mode == "unrotated") and not isinstance(self.rope, (RoPE, type(None))):
            raise TypeError(
                f"sinks and mode='unrotated' need a 1D rope_jax.RoPE (shift, length-aware frequencies), got "
                f"{type(self.rope).__name__}."
            )
        rope = self.rope
        if sinks is not None and mode == "rotated" and isinstance(rope, RoPE) and rope.scaling.length_dependent:
            raise ValueError(
                f"sinks with rotated keys move kept keys with RoPE.shift, which the length-dependent "
                f"{rope.rope_type!r} rule cannot do exactly. Use init_cache(..., mode='unrotated')."
            )
        if self.sliding_window is not None:
            max_length = min(max_length, self.sliding_window)
        dtype = dtype or self.dtype or self.param_dtype
        shape = (batch_size, max_length, self.num_kv_heads, self.head_dim)
        self.cached_key = nnx.Cache(jnp.zeros(shape, dtype))
        self.cached_value = nnx.Cache(jnp.zeros(shape, dtype))
        self.cached_mask = nnx.Cache(jnp.zeros((batch_size, max_length), bool))
        self.cache_index = nnx.Cache(jnp.zeros((), jnp.int32))
        plain = mode == "rotated" and sinks is None and self.sliding_window is None
        self.cached_position = None if plain else nnx.Cache(jnp.zeros((batch_size, max_length), jnp.int32))
        self.cache_mode, self.cache_sinks, self.cache_check = mode, sinks, check

    def _cache(self, purpose: str) -> tuple[nnx.Cache, nnx.Cache, nnx.Cache, nnx.Cache]:
        """The cache variables (key, value, mask, index), or a clear error naming ``purpose``."""
        if self.cached_key is None or self.cached_value is None or self.cached_mask is None or self.cache_index is None:
            raise ValueError(f"{purpose} needs a KV cache: call init_cache(batch_size, max_length) first.")
        return self.cached_key, self.cached_value, self.cached_mask, self.cache_index

    @property
    def next_position(self) -> jax.Array:
        """int32 ``[B]``: the position the next decoded token of each row gets (its real tokens so far; with
        sinks, the cached tokens, before any eviction the next token causes)."""
        cached_mask = self._cache("next_position")[2][...]
        if self.cached_position is None:  # the plain cache holds every token so far
            return cached_mask.sum(axis=-1, dtype=jnp.int32)
        return jnp.max(jnp.where(cached_mask, self.cached_position[...] + 1, 0), axis=-1)

    def reset_cache(self) -> None:
        """Empty the cache, keeping its shape (usable inside jit)."""
        variables = self._cache("reset_cache")
        for variable in variables if self.cached_position is None else (*variables, self.cached_position):
            variable[...] = jnp.zeros_like(variable[...])

    def _decode(self, x: jax.Array, positions: ArrayLike | None, attention_mask_: ArrayLike | None) -> jax.Array:
        cached_key, cached_value, cached_mask, cache_index = self._cache("decode=True")
        batch, length = x.shape[:2]
        max_length = cached_key.shape[1]
        if batch != cached_key.shape[0]:
            raise ValueError(f"x has batch {batch} but the cache was built for {cached_key.shape[0]} rows.")
        if self.cached_position is not None:
            return self._decode_ring(x, positions, attention_mask_, self.cached_position)
        slot = cache_index[...]
        full = slot + length > max_length
        if self.cache_check:
            raise_if(full, _raise_cache_full, slot, length, max_length)
        new_mask = jnp.ones((batch, length), bool) if attention_mask_ is None else jnp.asarray(attention_mask_, bool)
        if positions is None:
            positions = self.next_position[:, None] + positions_from_mask(new_mask)
        q, k, v = self._project(x)
        q, k = self._rotate(q, k, positions)
        zero = jnp.zeros((), slot.dtype)  # one index dtype for all axes, also with jax_enable_x64
        start = jnp.minimum(slot, max_length - length)  # where dynamic_update_slice writes (it clamps)

        def write(cached: jax.Array, new: jax.Array) -> jax.Array:  # a full cache rewrites what it holds
            at = (zero, start) + (zero,) * (cached.ndim - 2)
            new = jnp.where(full, jax.lax.dynamic_slice(cached, at, new.shape), new.astype(cached.dtype))
            return jax.lax.dynamic_update_slice(cached, new, at)

        keys, values = write(cached_key[...], k), write(cached_value[...], v)
        key_mask = write(cached_mask[...], new_mask)
        cached_key[...], cached_value[...], cached_mask[...] = keys, values, key_mask
        cache_index[...] = jnp.where(full, slot, slot + length)
        mask = make_mask(length, max_length, causal=True, key_mask=key_mask, query_offset=slot)
        out = self._attend(q, keys.astype(q.dtype), values.astype(q.dtype), mask, causal_only=False)
        return jnp.where(full, jnp.asarray(jnp.nan, out.dtype), out)

    def _decode_ring(
        self, x: jax.Array, positions: ArrayLike | None, attention_mask_: ArrayLike | None, cached_position: nnx.Cache
    ) -> jax.Array:
        """Decoding with a ring of slots (sliding window, sinks) or unrotated keys.

        Token ``t`` (counting padding) lives in slot ``t`` among the sinks, else in ``sinks + (t - sinks) % R``
        of the ``R`` ring slots. The new tokens attend over the cache as it was plus themselves (a window may
        still need a key the chunk is about to overwrite); then the last tokens that fit are written.
        """
        cached_key, cached_value, cached_mask, cache_index = self._cache("decode=True")
        batch, length = x.shape[:2]
        slots, sinks, window = cached_key.shape[1], self.cache_sinks or 0, self.sliding_window
        ring = slots - sinks
        if self.cache_sinks is not None:
            if attention_mask_ is not None:
                raise ValueError(
                    "a cache with sinks takes no attention_mask (padding would become the sinks); got one of shape "
                    f"{jnp.shape(attention_mask_)}."
                )
            if positions is not None:
                raise ValueError(
                    f"a cache with sinks numbers the tokens itself (ranks 0 .. {slots - 1} in the cache), so it "
                    f"takes no positions; got positions of shape {jnp.shape(positions)}."
                )
            if length > ring:
                raise ValueError(
                    f"a cache with {slots} slots and sinks={sinks} takes at most {ring} tokens per call, got {length}."
                )
        index = cache_index[...]
        full = jnp.zeros((), bool)
        if self.cache_sinks is None and (window is None or slots < window):  # nothing may be evicted
            full = index + length > slots
            if self.cache_check:
                raise_if(full, _raise_cache_full, index, length, slots)
        times = index + jnp.arange(length, dtype=index.dtype)  # [T], padding included
        new_slots = jnp.where(times < sinks, times, sinks + (times - sinks) % ring)
        slot = jnp.arange(slots, dtype=index.dtype)
        slot_times = jnp.where(slot < sinks, slot, index - 1 - (index - 1 - slot) % ring)  # latest token per slot

        stored_keys, written_positions = cached_key[...], cached_position[...]
        old_keys, old_positions = stored_keys, written_positions
        if self.cache_sinks is not None:  # positions are ranks: each eviction moves the later tokens back by one
            evicted = jnp.maximum(index + length - slots, 0)  # so far, this chunk's included
            old_positions = jnp.broadcast_to(slot_times - jnp.where(slot < sinks, 0, evicted), old_positions.shape)
            if self.cache_mode == "rotated" and isinstance(self.rope, RoPE):
                # One shift from the key as written: shifting the stored keys by one at every eviction would
                # accumulate float32 rounding (keys 2.6e-5 off after 252 evictions; 2.6e-6 this way).
                old_keys = self.rope.shift(stored_keys, old_positions - written_positions)
        new_mask = jnp.ones((batch, length), bool) if attention_mask_ is None else jnp.asarray(attention_mask_, bool)
        if positions is None:
            next_position = jnp.max(jnp.where(cached_mask[...], old_positions + 1, 0), axis=-1)
            positions = next_position[:, None] + positions_from_mask(new_mask)
        positions = jnp.broadcast_to(jnp.asarray(positions), (batch, length))
        q, k, v = self._project(x)
        if self.cache_mode == "rotated":
            q, k = self._rotate(q, k, positions)
        keys = jnp.concatenate([old_keys, k.astype(old_keys.dtype)], axis=1)
        if self.cache_mode == "unrotated" and isinstance(self.rope, RoPE):  # every key at its position, now
            current_length = jnp.max(positions).astype(jnp.int32) + 1  # what length-dependent rules decide from
            key_positions = jnp.concatenate([old_positions, positions.astype(jnp.int32)], axis=1)
            q = self.rope(q, positions, length=current_length)
            keys = self.rope(keys, key_positions, length=current_length)
        values = jnp.concatenate([cached_value[...], v.astype(cached_value.dtype)], axis=1)

        key_times = jnp.concatenate([slot_times, times])
        visible = key_times <= times[:, None]  # [T, S + T]
        if window is not None:
            visible = visible & (key_times > times[:, None] - window)
        if self.cache_sinks is not None:  # the slots this chunk overwrites hold the evicted tokens
            overwritten = jnp.zeros(slots, bool).at[new_slots].set(True)
            visible = visible & jnp.concatenate([~overwritten, jnp.ones(length, bool)])
        key_mask = jnp.concatenate([cached_mask[...], new_mask], axis=1)  # [B, S + T]
        mask = (visible[None] & key_mask[:, None, :])[:, None]  # [B, 1, T, S + T]
        out = self._attend(q, keys.astype(q.dtype), values.astype(q.dtype), mask, causal_only=False)

        keep = min(length, ring)  # static: a longer chunk's earlier tokens would be overwritten by its later ones
        write = jnp.where(full, slots, new_slots[length - keep :])  # a full cache writes nothing (slot out of range)
        cached_key[...] = stored_keys.at[:, write].set(k[:, length - keep :].astype(stored_keys.dtype), mode="drop")
        cached_value[...] = (
            cached_value[...].at[:, write].set(v[:, length - keep :].astype(cached_value.dtype), mode="drop")
        )
        cached_mask[...] = cached_mask[...].at[:, write].set(new_mask[:, length - keep :], mode="drop")
        cached_position[...] = written_positions.at[:, write].set(
            positions[:, length - keep :].astype(jnp.int32), mode="drop"
        )
        cache_index[...] = jnp.where(full, index, index + length)
        return jnp.where(full, jnp.asarray(jnp.nan, out.dtype), out)
