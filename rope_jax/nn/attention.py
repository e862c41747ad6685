"""``RoPEAttention``: multi-head attention with rotary position embeddings, as a short pipeline of stages.

    x -> q/k/v projections -> stages before RoPE -> RoPE -> stages after RoPE -> attend -> output stages
      -> o projection

A model family is a choice of stages (:mod:`rope_jax.nn.stages`) and attend options (scale, window, logit
softcap, sink logits); :func:`rope_jax.hf_attention.attention_layer` reads that choice for a Hugging Face layer
from the audited table.

The KV caches are :mod:`rope_jax.kv_cache` objects held in an ``nnx.Cache``; masks compare positions, never slots.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from rope_jax import _checks, kv_cache
from rope_jax.nn.protocol import PositionalRotation
from rope_jax.nn.stages import (
    AttentionFn,
    OutputStage,
    QKNorm,
    Stage,
    attention_probabilities,
    dot_product_attention,
)
from rope_jax.positions import MaskSpec, positions_from_mask, positions_from_segments
from rope_jax.rotary import RoPE

__all__ = ["RoPEAttention", "raise_if_cache_overflowed"]

_IMPLEMENTATIONS = (None, "xla", "cudnn")
_CACHE_MODES = ("rotated", "unrotated")
_DEFAULT_KERNEL_INIT = nnx.initializers.lecun_normal()
_DEFAULT_BIAS_INIT = nnx.initializers.zeros_init()


class RoPEAttention(nnx.Module):
    """Multi-head attention with rotary position embeddings: GQA/MQA, masks, packed sequences, KV caches.

    Queries and keys are rotated by ``rope`` (any :class:`PositionalRotation`: :class:`~rope_jax.RoPE`,
    :func:`~rope_jax.from_hf_config`'s result, :class:`~rope_jax.RoPENd`, :class:`MixedRoPE`, or None for no
    positions); values never are. The RoPE attention scaling (YaRN mscale, LongRoPE factor) is applied to cos and
    sin of both q and k, exactly as Hugging Face does. Masks compare positions, not slots (causal: a key at a
    position ``<=`` the query's, within a segment), so tokens may come in any order, e.g. load-balanced for
    context parallelism; with N-D coordinates the order is the token order.

    Args:
        num_heads: Query heads N.
        in_features: Model width D (the order of ``nnx.MultiHeadAttention``).
        head_dim: Features per head H (default: ``rope.head_dim``, else ``in_features // num_heads``).
        num_kv_heads: Key/value heads K (GQA; 1 = MQA); must divide ``num_heads``. Default: ``num_heads``.
        rope: The RoPE to apply, or None.
        use_bias: Bias in the q/k/v/o projections.
        qk_norm: RMS-normalise q and k per head before the rotation (Qwen 3, Gemma 3): a :class:`QKNorm` first
            in ``before_rope``, with ``norm_epsilon``.
        norm_epsilon: Epsilon of the ``qk_norm`` norms.
        before_rope: Further :class:`~rope_jax.nn.stages.Stage` s on q, k, v between the projections and RoPE
            (after ``qk_norm``), in order: e.g. :class:`~rope_jax.nn.stages.ClipQKV`, a LayerNorm
            :class:`~rope_jax.nn.stages.QKNorm`.
        after_rope: Stages after RoPE (HunYuan's q/k norm, Llama 4's L2 norm and temperature tuning).
        before_output: :class:`~rope_jax.nn.stages.OutputStage` s on the attention output ``[B, T, N, H]``
            before ``o_proj`` (BitNet's ``attn_sub_norm``: a :class:`~rope_jax.nn.stages.HeadNorm` over the
            projection).
        sliding_window: W, or None for full attention: every query sees only its last W keys, itself included
            (key positions ``p - W < k <= p``, Hugging Face's convention for Mistral, Gemma 2/3, gpt-oss), in the
            full forward and in decoding, where the cache becomes a ring of W slots.
        softmax_scale: Logit scale; default ``head_dim ** -0.5`` (Gemma 2/3: ``query_pre_attn_scalar ** -0.5``;
            Granite: ``attention_multiplier``; DeepSeek-V3 multiplies it by mscale squared).
        logit_softcap: ``c``: logits become ``c * tanh(logits / c)`` before masking (Gemma 2), or None.
        sink_logits: Learn one sink logit per query head (``sink_logits``, ``[N]``, zeros at init), an extra
            column of every softmax row whose probability is dropped (gpt-oss).
        attention_fn: The attend step (an :class:`~rope_jax.nn.stages.AttentionFn`; default
            :func:`~rope_jax.nn.stages.dot_product_attention` with ``implementation``): plug ring, splash or
            all-gather attention in here. With ``logit_softcap`` / ``sink_logits`` it receives them as the
            keywords ``logit_softcap=`` / ``sink_logits=``; a kernel whose signature cannot take them is refused
            here.
        implementation: ``None`` (let JAX choose), ``"xla"`` or ``"cudnn"``, for the default ``attention_fn``.
            Without softcap and sink logits the default runs ``jax.nn.dot_product_attention`` (cuDNN where JAX
            picks it or ``"cudnn"`` asks); with either, a float32 softmax written out in XLA (cuDNN supports
            neither: ``"cudnn"`` is then refused).
        kernel_init, bias_init: Initialisers of the q/k/v projections, e.g.
            ``nnx.with_partitioning(nnx.initializers.lecun_normal(), (None, "model"))`` (column-parallel heads).
        kv_kernel_init, kv_bias_init: Initialisers of the k/v projections when they differ from q's (default:
            ``kernel_init`` / ``bias_init``), e.g. replicated (``(None, None)``) when fewer KV heads than the
            model axis has devices cannot split.
        out_kernel_init, out_bias_init: Initialisers of the o projection (default: ``kernel_init`` /
            ``bias_init``), e.g. ``nnx.with_partitioning(..., ("model", None))`` (row-parallel).
        norm_scale_init: Initialiser of the q/k norm scales (``qk_norm``).
        dtype, param_dtype, precision: As for ``nnx.Linear``.
        rngs: ``nnx.Rngs``.

    Call: ``attn(x [B, T, D], positions=None, *, attention_mask=None, segment_ids=None, causal=True,
    decode=False) -> [B, T, D]``. Positions default to the real-token count from ``attention_mask`` (left
    padding), to restarting counts per segment with ``segment_ids`` (packing), else ``0 .. T - 1`` (which lets
    a cuDNN kernel skip the masked half; given positions build an explicit mask).

    Decoding: ``init_cache(batch_size, max_length)`` once, then calls with ``decode=True`` append to the cache -
    a prompt first (with its ``attention_mask`` if left-padded), then one token at a time. ``reset_cache()``
    empties it. ``init_cache`` also builds the caches of long-running generation (see :meth:`init_cache`).
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
        norm_epsilon: float = 1e-6,
        before_rope: Sequence[Stage] = (),
        after_rope: Sequence[Stage] = (),
        before_output: Sequence[OutputStage] = (),
        sliding_window: int | None = None,
        softmax_scale: float | None = None,
        logit_softcap: float | None = None,
        sink_logits: bool = False,
        attention_fn: AttentionFn | None = None,
        implementation: Literal["xla", "cudnn"] | None = None,
        kernel_init: Callable[..., jax.Array] = _DEFAULT_KERNEL_INIT,
        bias_init: Callable[..., jax.Array] = _DEFAULT_BIAS_INIT,
        kv_kernel_init: Callable[..., jax.Array] | None = None,
        kv_bias_init: Callable[..., jax.Array] | None = None,
        out_kernel_init: Callable[..., jax.Array] | None = None,
        out_bias_init: Callable[..., jax.Array] | None = None,
        norm_scale_init: Callable[..., jax.Array] = nnx.initializers.ones,
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
        if rope is not None and not (callable(rope) and hasattr(rope, "head_dim") and hasattr(rope, "num_heads")):
            raise TypeError(
                "rope must be a PositionalRotation (rope_jax.RoPE, RoPENd, from_hf_config's result, MixedRoPE) or "
                f"None, got {type(rope).__name__} {rope!r}."
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
        use_bias = _checks.boolean("use_bias", use_bias)
        _checks.function("attention_fn", attention_fn, optional=True)
        for name, init in (
            ("kernel_init", kernel_init),
            ("bias_init", bias_init),
            ("kv_kernel_init", kv_kernel_init),
            ("kv_bias_init", kv_bias_init),
            ("out_kernel_init", out_kernel_init),
            ("out_bias_init", out_bias_init),
            ("norm_scale_init", norm_scale_init),
        ):
            _checks.function(name, init, optional=True)
        _checks.floating_dtype("dtype", dtype, optional=True)
        _checks.floating_dtype("param_dtype", param_dtype)
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
        self.logit_softcap = None if logit_softcap is None else _checks.positive("logit_softcap", logit_softcap)
        sink_logits = _checks.boolean("sink_logits", sink_logits)
        extras = [
            name for name, on in (("logit_softcap", logit_softcap is not None), ("sink_logits", sink_logits)) if on
        ]
        if extras and implementation == "cudnn" and attention_fn is None:
            raise ValueError(
                f"implementation='cudnn' cannot apply {' and '.join(extras)} (cuDNN's attention supports neither); "
                "use implementation=None or 'xla'."
            )
        if attention_fn is not None:
            _check_accepts(attention_fn, extras)
        self.attention_fn = attention_fn
        self.dtype, self.param_dtype = dtype, param_dtype
        linear = dict(use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, precision=precision, rngs=rngs)
        kv = dict(
            kernel_init=kernel_init if kv_kernel_init is None else kv_kernel_init,
            bias_init=bias_init if kv_bias_init is None else kv_bias_init,
            **linear,
        )
        self.q_proj = nnx.Linear(
            in_features, num_heads * head_dim, kernel_init=kernel_init, bias_init=bias_init, **linear
        )
        self.k_proj = nnx.Linear(in_features, num_kv_heads * head_dim, **kv)
        self.v_proj = nnx.Linear(in_features, num_kv_heads * head_dim, **kv)
        self.o_proj = nnx.Linear(
            num_heads * head_dim,
            in_features,
            kernel_init=kernel_init if out_kernel_init is None else out_kernel_init,
            bias_init=bias_init if out_bias_init is None else out_bias_init,
            **linear,
        )
        self.sink_logits = nnx.data(nnx.Param(jnp.zeros((num_heads,), param_dtype)) if sink_logits else None)
        before: list[Stage] = []
        if _checks.boolean("qk_norm", qk_norm):
            norm = QKNorm(
                head_dim,
                epsilon=norm_epsilon,
                dtype=dtype,
                param_dtype=param_dtype,
                scale_init=norm_scale_init,
                rngs=rngs,
            )
            before.append(norm)
        for name, stages in (
            ("before_rope", before_rope),
            ("after_rope", after_rope),
            ("before_output", before_output),
        ):
            for stage in _checks.sequence(name, stages, what="stages"):
                _checks.function(f"each of {name}", stage)
        self.before_rope = nnx.List([*before, *before_rope])
        self.after_rope = nnx.List(list(after_rope))
        self.before_output = nnx.List(list(before_output))
        self.kv_cache: nnx.Cache[kv_cache.KVCache] | None = nnx.data(None)

    # --------------------------------------------------------------------------------------- the stages

    def _qkv(self, x: jax.Array, positions: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Projections and the stages before RoPE: q ``[B, T, N, H]``, k and v ``[B, T, K, H]``."""
        batch, length = x.shape[:2]
        q = self.q_proj(x).reshape(batch, length, self.num_heads, self.head_dim)
        k = self.k_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        v = self.v_proj(x).reshape(batch, length, self.num_kv_heads, self.head_dim)
        return _run(self.before_rope, q, k, v, positions, positions)

    def _rotate(self, q: jax.Array, k: jax.Array, positions: ArrayLike, **rope: Any) -> tuple[jax.Array, jax.Array]:
        if self.rope is None:
            return q, k
        return self.rope(q, positions, **rope), self.rope(k, positions, **rope)

    def _attend(
        self,
        q: jax.Array,
        k: jax.Array,
        v: jax.Array,
        mask: MaskSpec,
        out_sharding: Any = None,
    ) -> jax.Array:
        """The attend step, the output stages and the o projection: ``[B, T, N, H]`` queries -> ``[B, T, D]``
        (sharded as ``out_sharding`` in explicit sharding mode, where the row-parallel projection needs it said)."""
        if out_sharding is not None and self.num_kv_heads < self.num_heads:
            _check_explicit_groups(q, self.num_kv_heads)
        extras: dict[str, Any] = {}
        if self.logit_softcap is not None:
            extras["logit_softcap"] = self.logit_softcap
        if self.sink_logits is not None:
            extras["sink_logits"] = self.sink_logits[...].astype(jnp.float32)
        if self.attention_fn is None:
            out = dot_product_attention(
                q, k, v, mask=mask, scale=self.softmax_scale, implementation=self.implementation, **extras
            )
        else:
            out = self.attention_fn(q, k, v, mask=mask, scale=self.softmax_scale, **extras)
        for stage in self.before_output:
            out = stage(out)
        batch, length = q.shape[:2]
        return self.o_proj(out.reshape(batch, length, self.num_heads * self.head_dim), out_sharding=out_sharding)

    def _check_inputs(
        self,
        x: ArrayLike,
        positions: ArrayLike | None,
        attention_mask_: ArrayLike | None,
        segment_ids: ArrayLike | None,
    ) -> jax.Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"x must be floating-point activations [B, T, {self.in_features}], got dtype {x.dtype}.")
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape [B, T, {self.in_features}], got {x.shape}.")
        batch, length = x.shape[:2]
        for name, value in (("attention_mask", attention_mask_), ("segment_ids", segment_ids)):
            if value is not None and jnp.shape(value) != (batch, length):
                raise ValueError(f"{name} must have shape [B, T] = {(batch, length)}, got {jnp.shape(value)}.")
        if positions is not None:
            shape = jnp.shape(positions)
            time_axis = -2 if len(shape) == 3 else -1
            if (
                not 1 <= len(shape) <= 3
                or shape[time_axis] != length
                or (len(shape) > 1 and shape[0] not in (1, batch))
            ):
                raise ValueError(
                    f"positions must be [B, T] / [T] (or [B, T, A] coordinates) with B = {batch} (or 1) and T = "
                    f"{length}, got {shape}."
                )
        return x

    def _full_sequence(
        self,
        x: jax.Array,
        positions: ArrayLike | None,
        attention_mask_: ArrayLike | None,
        segment_ids: ArrayLike | None,
        causal: bool,
    ) -> tuple[jax.Array, jax.Array, jax.Array, MaskSpec]:
        """Rotated q, k, v and what each query may see, for a forward over whole sequences (no cache); shared by
        __call__ and attention_weights so the two cannot disagree.

        Positions default to restarting counts per segment, else the real-token count of the mask (left padding),
        else ``0 .. T - 1``. Padding keys are masked; with segment ids, id 0 marks padding too.
        """
        batch, length = x.shape[:2]
        plain = positions is None and attention_mask_ is None and segment_ids is None
        if positions is None:
            if segment_ids is not None:
                positions = positions_from_segments(segment_ids)
            elif attention_mask_ is not None:
                positions = positions_from_mask(attention_mask_)
            else:
                positions = jnp.arange(length)[None]
        positions = jnp.asarray(positions)
        q, k, v = self._qkv(x, positions)
        q, k = self._rotate(q, k, positions)
        q, k, v = _run(self.after_rope, q, k, v, positions, positions)
        if plain and self.sliding_window is None:
            return q, k, v, MaskSpec(causal=causal)  # order only: a kernel may apply it by itself
        key_valid = None if attention_mask_ is None else jnp.asarray(attention_mask_, bool)
        if segment_ids is not None:
            segment_ids = jnp.asarray(segment_ids)
            key_valid = segment_ids > 0 if key_valid is None else key_valid & (segment_ids > 0)
        order = _order(positions, (batch, length), jnp.arange(length, dtype=jnp.int32))
        mask = MaskSpec(
            query_positions=order,
            key_positions=order,
            key_valid=key_valid,
            query_segments=segment_ids,
            key_segments=segment_ids,
            causal=causal,
            sliding_window=self.sliding_window,
        )
        return q, k, v, mask

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
        causal = _checks.boolean("causal", causal)
        if _checks.boolean("decode", decode):
            if segment_ids is not None:
                raise ValueError("decode=True does not take segment_ids; decode each packed sequence in its own row.")
            return self._decode(x, positions, attention_mask)
        q, k, v, mask = self._full_sequence(x, positions, attention_mask, segment_ids, causal)
        return self._attend(q, k, v, mask, _explicit_sharding(x))

    def attention_weights(
        self,
        x: ArrayLike,
        positions: ArrayLike | None = None,
        *,
        attention_mask: ArrayLike | None = None,
        segment_ids: ArrayLike | None = None,
        causal: bool = True,
    ) -> jax.Array:
        """Softmax attention weights ``[B, N, T, T]`` (float32) of a full forward; for inspection and tests. With
        sink logits a row sums to less than one (the sink's share is left out)."""
        x = self._check_inputs(x, positions, attention_mask, segment_ids)
        q, k, _, spec = self._full_sequence(x, positions, attention_mask, segment_ids, causal)
        sinks = None if self.sink_logits is None else self.sink_logits[...]
        return attention_probabilities(
            q, k, mask=spec, scale=self.softmax_scale, logit_softcap=self.logit_softcap, sink_logits=sinks
        )

    # ------------------------------------------------------------------------------------------ cache

    def init_cache(
        self,
        batch_size: int,
        max_length: int,
        *,
        dtype: Any = None,
        mode: Literal["rotated", "unrotated"] = "rotated",
        sinks: int | None = None,
        check: bool = False,
        sharding: jax.sharding.NamedSharding | None = None,
    ) -> None:
        """Create an empty KV cache for ``batch_size`` rows (a :mod:`rope_jax.kv_cache` object in ``kv_cache``).

        Which cache:

        * Default (full attention, ``mode="rotated"``, no sinks): a :class:`~rope_jax.kv_cache.PlainCache` of
          ``max_length`` slots holding rotated keys, as Hugging Face. A call that does not fit writes nothing
          and returns NaN; :func:`raise_if_cache_overflowed` (once, after a generation loop) or ``check=True``
          (at that call, at the cost of a host round trip every step) raise.
        * ``sliding_window=W`` on the layer: ``min(max_length, W)`` slots. With ``max_length >= W`` they form a
          ring (:class:`~rope_jax.kv_cache.WindowCache`): each new token overwrites the one that just left the
          window, memory stays O(W) and positions grow without bound.
        * ``sinks=S`` (StreamingLLM attention sinks, llama.cpp context shift; a
          :class:`~rope_jax.kv_cache.SinkCache`): the first S tokens stay, the rest of the ``max_length`` slots
          keep the most recent tokens. Positions are ranks in the cache (``0 .. n - 1``), so they never leave
          the trained range; each kept key is read moved to its rank by one :meth:`RoPE.shift` from the key as
          written, which equals a fresh prefill of ``sinks + kept tokens``. Calls take at most
          ``max_length - S`` tokens and neither ``attention_mask`` nor ``positions``.
        * ``mode="unrotated"``: caches raw keys and rotates every cached key at read time with the frequencies
          of the current length, so length-dependent rules (dynamic NTK, LongRoPE) see one consistent context,
          and sinks need no shift. Costs one rotation of the whole cache per step.

        The caches other than the default need 1D positions and, for sinks or ``"unrotated"``, a
        :class:`rope_jax.RoPE` (or no RoPE). Works eagerly and inside ``nnx.jit``.

        Args:
            batch_size: Rows B.
            max_length: Cache slots (see above).
            dtype: Floating cache dtype (default: the layer's dtype, else its param dtype).
            mode: ``"rotated"`` (default) or ``"unrotated"`` keys.
            sinks: Attention-sink count S (``1 <= S < max_length``), or None; only for full-attention layers.
            check: Raise at the call that overflows the cache (only the default and ``"unrotated"`` caches fill).
            sharding: Where keys and values live (``NamedSharding`` of ``[B, S, K, H]``, e.g. batch over
                ``"data"`` and KV heads over ``"model"``); the cache is created sharded. Default: from the
                kernels: KV heads over the mesh axis that splits ``k_proj``'s output features (if it splits whole
                heads), rows over the other mesh axes (if they divide ``batch_size``); unsharded for unsharded
                kernels.
        """
        batch_size = _checks.positive_int("batch_size", batch_size)
        max_length = _checks.positive_int("max_length", max_length)
        _checks.one_of("mode", mode, _CACHE_MODES)
        if sinks is not None:
            sinks = _checks.positive_int("sinks", sinks)
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
        kind: type[kv_cache.KVCache] = kv_cache.PlainCache
        extra: dict[str, Any] = {}
        if sinks is not None:
            kind, extra = kv_cache.SinkCache, {"sinks": sinks}
        elif self.sliding_window is not None and max_length >= self.sliding_window:
            kind, max_length = kv_cache.WindowCache, self.sliding_window
        cache = kind.create(
            batch_size,
            max_length,
            self.num_kv_heads,
            self.head_dim,
            dtype=dtype or self.dtype or self.param_dtype,
            rotated=mode == "rotated",
            check=check,
            sharding=self._cache_sharding(batch_size) if sharding is None else sharding,
            **extra,
        )
        self.kv_cache = nnx.Cache(cache)

    def _cache_sharding(self, batch_size: int) -> jax.sharding.NamedSharding | None:
        """The cache's default sharding, from the kernels': KV heads over the mesh axis that splits ``k_proj``'s
        output features (when it splits whole heads), rows over the other mesh axes (when they divide them)."""
        kernel = self.k_proj.kernel[...]
        sharding = jax.typeof(kernel).sharding if isinstance(kernel, jax.core.Tracer) else kernel.sharding
        if not isinstance(sharding, jax.sharding.NamedSharding) or sharding.mesh.empty:
            return None
        mesh, spec = sharding.mesh, (*sharding.spec, None, None)

        split = _checks.mesh_axes(spec[1])
        heads = split if self.num_kv_heads % _checks.devices_along(mesh, split) == 0 else ()
        rows = tuple(name for name in mesh.axis_names if name not in split and mesh.shape[name] > 1)
        rows = rows if rows and batch_size % _checks.devices_along(mesh, rows) == 0 else ()
        if not heads and not rows:
            return None
        partition = jax.sharding.PartitionSpec(rows or None, None, heads or None, None)
        return jax.sharding.NamedSharding(mesh, partition)

    def _cache(self, purpose: str) -> kv_cache.KVCache:
        if self.kv_cache is None:
            raise ValueError(f"{purpose} needs a KV cache: call init_cache(batch_size, max_length) first.")
        return self.kv_cache.get_value()

    @property
    def next_position(self) -> jax.Array:
        """int32 ``[B]``: the position the next decoded token of each row gets (one past its last real token; with
        sinks, the cached tokens, before any eviction the next token causes)."""
        return self._cache("next_position").next_position()

    def reset_cache(self) -> None:
        """Empty the cache, keeping its shape and kind (usable inside jit)."""
        cache = self._cache("reset_cache")
        assert self.kv_cache is not None  # checked by _cache
        self.kv_cache.set_value(cache.reset())

    def _decode(self, x: jax.Array, positions: ArrayLike | None, attention_mask_: ArrayLike | None) -> jax.Array:
        cache = self._cache("decode=True")
        batch, length = x.shape[:2]
        if batch != cache.batch_size:
            raise ValueError(f"x has batch {batch} but the cache was built for {cache.batch_size} rows.")
        if length == 0:  # nothing to write or attend: the cache stays as it is
            return jnp.zeros((batch, 0, self.in_features), x.dtype if self.dtype is None else self.dtype)
        if positions is None:
            positions = cache.token_positions(attention_mask_, length=length)
        elif not jnp.issubdtype(jnp.asarray(positions).dtype, jnp.integer):
            raise TypeError(
                f"decoding needs integer positions (the cache keeps and compares them), got dtype "
                f"{jnp.asarray(positions).dtype}."
            )
        elif isinstance(cache, kv_cache.SinkCache):
            raise ValueError(
                f"a cache with sinks numbers the tokens itself (ranks 0 .. {cache.slots - 1} in the cache), so it "
                f"takes no positions; got positions of shape {jnp.shape(positions)}."
            )
        positions = jnp.asarray(positions)
        times = cache.index + jnp.arange(length, dtype=cache.index.dtype)
        order = _order(positions, (batch, length), times)
        q, k, v = self._qkv(x, positions)
        if cache.rotated:
            q, k = self._rotate(q, k, positions)
            q, k, v = _run(self.after_rope, q, k, v, positions, positions)
        cache, view = cache.append(k, v, order, attention_mask_, rope=self.rope)
        keys, values = view.keys, view.values
        if not cache.rotated:  # every key at its position, with this length's rule, then the stages after RoPE
            if self.rope is not None:
                current_length = jnp.max(order) + 1
                q, _ = self._rotate(q, q, positions, length=current_length)
                keys, _ = self._rotate(keys, keys, view.positions, length=current_length)
            q, keys, values = _run(self.after_rope, q, keys, values, positions, view.positions)
        mask = view.mask_spec(order, sliding_window=self.sliding_window)
        out = self._attend(q, keys.astype(q.dtype), values.astype(q.dtype), mask, _explicit_sharding(x))
        assert self.kv_cache is not None
        self.kv_cache.set_value(cache)
        return jnp.where(view.overflow, jnp.asarray(jnp.nan, out.dtype), out)


def _explicit_sharding(x: jax.Array) -> Any:
    """``x``'s sharding in explicit sharding mode (the output keeps it), else None (the partitioner decides)."""
    return jax.typeof(x).sharding if _checks.explicit_mesh() else None


def _check_explicit_groups(q: jax.Array, num_kv_heads: int) -> None:
    """In explicit sharding mode, GQA groups the query heads by KV head; the split needs whole KV heads per
    device along the mesh axes that split the query heads."""
    spec = jax.typeof(q).sharding.spec
    axes = spec[2] if len(spec) > 2 else None
    names = _checks.mesh_axes(axes)
    devices = _checks.devices_along(jax.sharding.get_abstract_mesh(), names)
    if num_kv_heads % devices:
        raise ValueError(
            f"in explicit sharding mode the {num_kv_heads} KV heads must split over the mesh axis that splits the "
            f"query heads ({names[0] if len(names) == 1 else names!r}, {devices} devices) for grouped-query "
            "attention. Use automatic sharding mode for this layout (AxisType.Auto: k/v replicated works there), "
            "or a model axis whose size divides the KV heads."
        )


def _run(stages: Sequence[Stage], q: jax.Array, k: jax.Array, v: jax.Array, q_positions: Any, k_positions: Any):
    for stage in stages:
        q, k, v = stage(q, k, v, q_positions, k_positions)
    return q, k, v


def _check_accepts(attention_fn: Callable[..., Any], keywords: Sequence[str]) -> None:
    """Refuse a custom attend step whose signature cannot take the keywords this layer passes it."""
    try:
        parameters = inspect.signature(attention_fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): it will tell at the first call
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    names = {p.name for p in parameters}
    missing = [name for name in keywords if name not in names]
    if missing:
        raise TypeError(
            f"attention_fn {getattr(attention_fn, '__name__', attention_fn)!r} does not take "
            f"{', '.join(missing)}, which this layer passes it (see rope_jax.nn.stages.AttentionFn): add the "
            "keyword to the kernel (and raise there if it cannot apply it), or use the default attention_fn."
        )


def _order(positions: jax.Array, shape: tuple[int, int], token_order: jax.Array) -> jax.Array:
    """``[B, T]``: what masks compare - 1-D positions ``[B, T]`` / ``[T]`` themselves (integers as int32,
    fractional ones as given); with N-D coordinates ``[B, T, A]``, the token order."""
    if positions.ndim == 3:
        return jnp.broadcast_to(token_order, shape).astype(jnp.int32)
    if jnp.issubdtype(positions.dtype, jnp.integer):
        return jnp.broadcast_to(positions, shape).astype(jnp.int32)
    return jnp.broadcast_to(positions, shape)  # fractional positions compare as they are


def raise_if_cache_overflowed(module: nnx.Module) -> None:
    """Raise a ValueError if the KV cache of any :class:`RoPEAttention` in ``module`` overflowed.

    Reads one flag per layer from the device: call it outside jit, e.g. once after a generation loop, to keep
    decode steps free of host round trips (``init_cache(check=False)``, the default).
    """
    for path, layer in nnx.iter_modules(module):
        if isinstance(layer, RoPEAttention) and layer.kv_cache is not None:
            try:
                layer.kv_cache.get_value().raise_if_overflowed()
            except ValueError as error:
                where = ".".join(str(part) for part in path) or "the module"
                raise ValueError(f"{where}: {error}") from None
