"""Angles and the one rotation primitive.

Every RoPE variant is ``angles = coordinates . frequencies`` followed by a rotation of feature pairs by those
angles. This module holds the 1D angle computation (plain float32, or a precise fixed-point mode for very long
contexts), the rotation, and the user-facing :func:`apply_rope`, :class:`RoPE` and :class:`RoPETable`.

Shapes follow ``jax.nn.dot_product_attention``: ``x`` is ``[..., T, N, H]`` (length, heads, head dim) and
positions are ``[..., T]``. Angles are ``[..., T, P]`` with ``P = rotary_dim // 2`` pairs and are shared by all
heads.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rope_jax import _checks
from rope_jax._checks import raise_if
from rope_jax._exact import precise_angles
from rope_jax.frequencies import Default, Proportional, Scaling

__all__ = ["RoPE", "RoPETable", "apply_rope", "rope_angles", "rotate"]

# --------------------------------------------------------------------------------------------- angles


def rope_angles(positions: ArrayLike, inv_freq: ArrayLike, *, precise: bool = False) -> jax.Array:
    """Rotation angles for each position and pair.

    Args:
        positions: ``[..., T]`` integer or float positions.
        inv_freq: ``[P]`` frequencies (radians per position), used as float32.
        precise: If False (default), ``positions.astype(float32) * inv_freq`` - the same float32 rounding as
            PyTorch/Hugging Face, whose error grows with the angle (~0.03 rad at position 1e6, ~0.5 rad at
            1.6e7). If True, the exact product reduced modulo 2 pi, in float32 and uint32 arithmetic only: error
            below 1e-6 rad for ``|position| < 2**36``, any integer or float dtype; beyond, it grows in proportion
            to the position (about ``|position| * 2**-60`` turns) and never wraps. Float positions beyond
            ``2**64`` (or NaN / inf) give NaN angles.

    Returns:
        ``[..., T, P]`` float32 angles (in ``[-pi, pi)`` when ``precise``).

    Raises:
        TypeError: positions not integers or floats, inv_freq not real, precise not a bool.
        ValueError: inv_freq not 1-D, or NumPy frequencies holding NaN / inf.
    """
    positions = _checks.array("positions", positions)
    inv_freq = jnp.asarray(_checks.frequencies("inv_freq", inv_freq, ndims=(1,)), jnp.float32)
    if _checks.boolean("precise", precise):
        return precise_angles(positions, inv_freq)
    return positions.astype(jnp.float32)[..., None] * inv_freq


# ------------------------------------------------------------------------------------- the one rotation


def rotate(
    x: ArrayLike, cos: jax.Array, sin: jax.Array, *, interleaved: bool = False, per_head: bool = False
) -> jax.Array:
    """Rotate feature pairs of ``x`` by angles given as cos/sin: the single rotation primitive.

    Pair ``j`` is ``(x[j], x[j + P])`` (half-split: GPT-NeoX / Hugging Face LLaMA) or ``(x[2j], x[2j + 1])``
    (interleaved: GPT-J / Meta / complex form); it becomes ``(x1 cos - x2 sin, x2 cos + x1 sin)``. Features past
    ``2P`` pass through unchanged. Computed in float32, returned in ``x.dtype``.

    Args:
        x: ``[..., T, N, H]``.
        cos: ``[..., T, P]``, shared by the N heads (leading dims broadcast against ``x``'s), or
            ``[..., T, N, P]`` with ``per_head=True``.
        sin: same shape as ``cos``.
        interleaved: pair layout.
        per_head: whether cos/sin carry a head axis (per-head frequencies, e.g. RoPE-Mixed).

    Returns:
        Array shaped like ``x``, dtype ``x.dtype``.

    Raises:
        TypeError: x, cos or sin not floating, a flag not a bool.
        ValueError: cos and sin of different shapes, more pairs than ``H // 2``, or shapes that do not broadcast
            to x's ``[..., T, (N,) P]`` without enlarging it.
    """
    x = _checks.rotary_input(x)
    interleaved = _checks.boolean("interleaved", interleaved)
    per_head = _checks.boolean("per_head", per_head)
    cos = _checks.array("cos", cos, kinds="float", min_ndim=2 if per_head else 1)
    sin = _checks.array("sin", sin, kinds="float")
    if sin.shape != cos.shape:
        raise ValueError(f"sin must have the shape of cos {cos.shape}, got {sin.shape}.")
    pairs = cos.shape[-1]
    if not 1 <= pairs <= x.shape[-1] // 2:
        raise ValueError(
            f"cos and sin hold P = {pairs} pairs per position; x's head dim {x.shape[-1]} holds 1 to "
            f"{x.shape[-1] // 2} pairs (x shape {x.shape})."
        )
    _cos_sin_fit(cos.shape, x.shape, per_head)
    rotary_dim = 2 * pairs
    if not per_head:  # one angle set for all heads
        cos, sin = cos[..., None, :], sin[..., None, :]
    part = x if rotary_dim == x.shape[-1] else x[..., :rotary_dim]
    out = jax.lax.platform_dependent(
        part,
        cos,
        sin,
        cpu=functools.partial(_rotate_by_pair_axis, interleaved=interleaved),
        default=functools.partial(_rotate_by_slices, interleaved=interleaved),
    ).astype(x.dtype)
    if rotary_dim == x.shape[-1]:
        return out
    return x.at[..., :rotary_dim].set(out)  # pass-through features keep their bits


def _cos_sin_fit(shape: tuple[int, ...], x_shape: tuple[int, ...], per_head: bool) -> None:
    """cos/sin ``[..., T, P]`` (or ``[..., T, N, P]`` per head) broadcast to ``x``'s without enlarging it."""
    target = (*x_shape[:-1], shape[-1])  # [..., T, N, P]
    given = tuple(shape) if per_head else (*shape[:-1], 1, shape[-1])
    try:
        fits = np.broadcast_shapes(given, target) == target
    except ValueError:
        fits = False
    if not fits:
        layout = "[..., T, N, P]" if per_head else "[..., T, P]"
        expected = target if per_head else (*target[:-2], target[-1])
        raise ValueError(
            f"cos and sin of shape {tuple(shape)} must broadcast to {layout} = {expected} for x of shape {x_shape} "
            "without enlarging it."
        )


def _rotate_by_pair_axis(part: jax.Array, cos: jax.Array, sin: jax.Array, *, interleaved: bool) -> jax.Array:
    """The rotation with the pairs read through a reshape into a size-2 axis (the CPU form, float32 result).

    XLA:CPU compiles slices + concatenate into a loop ~20x slower than an elementwise pass; this runs at copy
    speed there. On a GPU the same reshape costs a second pass over q and k (measured 2x the copy pass on an H200).
    """
    pairs = cos.shape[-1]
    if interleaved:
        view = part.reshape(*part.shape[:-1], pairs, 2).astype(jnp.float32)
        x1, x2, pair_axis = view[..., 0], view[..., 1], -1
    else:
        view = part.reshape(*part.shape[:-1], 2, pairs).astype(jnp.float32)
        x1, x2, pair_axis = view[..., 0, :], view[..., 1, :], -2
    out = jnp.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=pair_axis)
    return out.reshape(part.shape)


def _rotate_by_slices(part: jax.Array, cos: jax.Array, sin: jax.Array, *, interleaved: bool) -> jax.Array:
    """The rotation with the pairs read by slices (the GPU/TPU form, float32 result): one fused kernel there.

    Half-split pairs are the two halves (Hugging Face's ``rotate_half``); interleaved pairs take each feature's
    neighbour from two shifted copies, with cos/sin repeated per feature.
    """
    pairs = cos.shape[-1]
    x = part.astype(jnp.float32)
    if not interleaved:
        x1, x2 = x[..., :pairs], x[..., pairs:]
        return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    even = jnp.arange(2 * pairs) % 2 == 0
    neighbour = jnp.where(even, -jnp.roll(x, -1, axis=-1), jnp.roll(x, 1, axis=-1))  # -x[2i + 1] | x[2i]
    return x * jnp.repeat(cos, 2, axis=-1) + neighbour * jnp.repeat(sin, 2, axis=-1)


def scaled_cos_sin(angles: jax.Array, attention_scaling: float) -> tuple[jax.Array, jax.Array]:
    """cos and sin of ``angles [..., T, P]`` (attention scaling included), in the form that is fastest per platform.

    On GPU and TPU they are left to fuse into the rotation, which then evaluates them per element: compute is
    cheap there and the whole RoPE stays one kernel at memory speed. XLA:CPU would make the same fusion 3-13x
    slower than an elementwise pass (the trig runs again for every head and output half), so on CPU they are
    evaluated once per position and pair (:func:`_evaluated_once`). Both forms are elementwise in every axis of
    ``angles``: under any sharding neither needs a collective.
    """
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    if attention_scaling != 1.0:  # as Hugging Face: cos * scaling, sin * scaling, in float32
        cos, sin = cos * jnp.float32(attention_scaling), sin * jnp.float32(attention_scaling)
    return jax.lax.platform_dependent(cos, sin, cpu=_evaluated_once, default=lambda cos, sin: (cos, sin))


def _evaluated_once(cos: jax.Array, sin: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cos, sin)`` unchanged, read back through an identity gather so XLA computes each value once.

    XLA never fuses an expensive producer through a gather, and ``optimization_barrier`` does not stop the fusion
    (XLA:CPU removes barriers before fusing). The gather runs over a new leading axis of size 2 that no sharding
    touches: an identity gather over the sequence or heads axis would make the SPMD partitioner all-gather that
    axis (and raise in explicit sharding mode).
    """
    both = jnp.stack([cos, sin])
    both = jnp.take(both, jnp.arange(2), axis=0)
    return both[0], both[1]


def apply_rope(
    x: ArrayLike,
    positions: ArrayLike,
    *,
    theta: float = 10000.0,
    interleaved: bool = False,
    rotary_dim: int | None = None,
    inv_freq: ArrayLike | None = None,
    attention_scaling: float = 1.0,
    precise_angles: bool = False,
) -> jax.Array:
    """Apply rotary position embeddings to queries or keys.

    Args:
        x: ``[..., T, N, H]`` floating-point queries or keys.
        positions: ``[..., T]`` integer or float positions; leading dims broadcast against ``x.shape[:-3]``.
        theta: RoPE base, used when ``inv_freq`` is not given.
        interleaved: Pair layout: False pairs ``(i, i + P)`` (GPT-NeoX / HF LLaMA), True pairs ``(2i, 2i + 1)``.
        rotary_dim: Number of leading features to rotate (even); defaults to ``H``. The rest pass through.
        inv_freq: Optional ``[rotary_dim // 2]`` frequencies from any rule in :mod:`rope_jax.frequencies`.
        attention_scaling: Multiplies cos and sin (YaRN / LongRoPE attention factor); a finite number > 0.
        precise_angles: Exact angle reduction for very long contexts; see :func:`rope_angles`.

    Returns:
        Rotated array, same shape and dtype as ``x``.

    Raises:
        TypeError: an argument of the wrong type (x not floating, positions not real, a flag not a bool, ...).
        ValueError: shapes that do not match (see :class:`RoPE`), or a hyperparameter out of its range, with the
            same rules as :class:`RoPE`.

    Example:
        >>> import jax.numpy as jnp
        >>> from rope_jax import apply_rope
        >>> q = jnp.ones((1, 8, 4, 64))               # [B, T, N, H]
        >>> apply_rope(q, jnp.arange(8)[None]).shape
        (1, 8, 4, 64)
    """
    x = _checks.rotary_input(x)
    positions = _checks.positions_for(positions, x.shape)
    rotary_dim = _checks.rotary_dim(rotary_dim, x.shape[-1])
    theta = _checks.positive("theta", theta)
    attention_scaling = _checks.positive("attention_scaling", attention_scaling)
    interleaved = _checks.boolean("interleaved", interleaved)
    precise_angles = _checks.boolean("precise_angles", precise_angles)
    if inv_freq is None:
        inv_freq, _ = Default().frequencies(rotary_dim, theta=theta)
    inv_freq = _checks.frequencies("inv_freq", inv_freq, ndims=(1,))
    if inv_freq.shape != (rotary_dim // 2,):
        raise ValueError(f"inv_freq must have shape (rotary_dim // 2,) = ({rotary_dim // 2},), got {inv_freq.shape}.")
    cos, sin = scaled_cos_sin(rope_angles(positions, inv_freq, precise=precise_angles), attention_scaling)
    return rotate(x, cos, sin, interleaved=interleaved)


# -------------------------------------------------------------------------------------- the RoPE object


@dataclasses.dataclass(frozen=True)
class RoPE:
    """A complete, immutable RoPE configuration: frequencies, scaling rule, layout and angle mode.

    Hashable (usable as a static jit argument) and safe to close over. Call it on queries or keys.

    Every field after ``head_dim`` is keyword-only.

    Attributes:
        head_dim: Features per head (``H``).
        theta: Base (``rope_theta``).
        rotary_dim: Rotated features (even, <= head_dim); defaults to ``head_dim``. Proportional RoPE always
            rotates the whole head.
        interleaved: Pair layout (see :func:`rotate`).
        scaling: Frequency rule from :mod:`rope_jax.frequencies` (``Default()``, ``YaRN(...)``, ...).
        precise_angles: Exact angle reduction for very long contexts (see :func:`rope_angles`).
        inv_freq: float32 ``[rotary_dim // 2]``: the frequencies at the original context length (what a Hugging
            Face module holds after initialisation).
        attention_scaling: Factor applied to cos and sin.

    Example:
        >>> import jax.numpy as jnp
        >>> from rope_jax import Llama3, RoPE
        >>> rope = RoPE(head_dim=128, theta=500000.0,
        ...             scaling=Llama3(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        ...                            original_max_position_embeddings=8192))
        >>> q = jnp.ones((2, 16, 32, 128))           # [B, T, N, head_dim]
        >>> rope(q, jnp.arange(16)[None]).shape      # positions [B, T]
        (2, 16, 32, 128)
        >>> rope == RoPE(head_dim=128, theta=500000.0, scaling=rope.scaling)  # hashable, compared by value
        True
    """

    head_dim: int
    _: dataclasses.KW_ONLY
    theta: float = 10000.0
    rotary_dim: int | None = None
    interleaved: bool = False
    scaling: Scaling = dataclasses.field(default_factory=Default)
    precise_angles: bool = False
    inv_freq: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)
    attention_scaling: float = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        head_dim = _checks.positive_int("head_dim", self.head_dim)
        if not isinstance(self.scaling, Scaling):
            raise TypeError(f"scaling must be a rope_jax Scaling rule (e.g. YaRN(...)), got {self.scaling!r}.")
        if isinstance(self.scaling, Proportional) and self.rotary_dim not in (None, head_dim):
            raise ValueError(
                "Proportional RoPE rotates the whole head (its leftover pairs get frequency zero); "
                f"rotary_dim must be None or head_dim={head_dim}, got {self.rotary_dim}."
            )
        object.__setattr__(self, "head_dim", head_dim)
        object.__setattr__(self, "theta", _checks.positive("theta", self.theta))
        rotary_dim = _checks.rotary_dim(self.rotary_dim, head_dim)
        object.__setattr__(self, "rotary_dim", rotary_dim)
        object.__setattr__(self, "interleaved", _checks.boolean("interleaved", self.interleaved))
        object.__setattr__(self, "precise_angles", _checks.boolean("precise_angles", self.precise_angles))
        inv_freq, attention_scaling = self.scaling.frequencies(rotary_dim, theta=self.theta)
        object.__setattr__(self, "inv_freq", np.asarray(inv_freq, np.float32))
        object.__setattr__(self, "attention_scaling", float(attention_scaling))

    @property
    def rope_type(self) -> str:
        """The scaling rule's ``rope_type`` (``"default"``, ``"yarn"``, ...)."""
        return self.scaling.rope_type

    @property
    def num_heads(self) -> None:
        """None: the frequencies are shared by every head."""
        return None

    def frequencies(self, length: ArrayLike | None = None) -> np.ndarray | jax.Array:
        """``[rotary_dim // 2]`` frequencies for a sequence of ``length`` (only length-dependent rules care).

        ``length``: an int >= 1, or a 0-d integer ``jax.Array`` (possibly traced).
        """
        if length is not None:
            length = _checks.length("length", length)
        if length is None or not self.scaling.length_dependent:
            return self.inv_freq
        return self.scaling.frequencies(cast(int, self.rotary_dim), theta=self.theta, length=length)[0]

    def cos_sin(self, positions: ArrayLike, *, length: ArrayLike | None = None) -> tuple[jax.Array, jax.Array]:
        """cos and sin ``[..., T, P]`` for ``positions [..., T]``, attention scaling included.

        ``length`` is what dynamic NTK and LongRoPE decide from; it defaults to ``max(positions) + 1`` as in
        Hugging Face (pass the cache length when decoding for one consistent choice).
        """
        positions = _checks.array("positions", positions)
        if self.scaling.length_dependent and length is None and positions.size:
            length = jnp.max(positions).astype(jnp.int32) + 1
        angles = rope_angles(positions, self.frequencies(length), precise=self.precise_angles)
        return scaled_cos_sin(angles, self.attention_scaling)

    def __call__(self, x: ArrayLike, positions: ArrayLike, *, length: ArrayLike | None = None) -> jax.Array:
        """Rotate ``x [..., T, N, head_dim]`` at ``positions [..., T]``; returns ``x``'s shape and dtype."""
        x = _checks.rotary_input(x)
        _checks.head_dim_matches(x, self.head_dim)
        positions = _checks.positions_for(positions, x.shape)
        cos, sin = self.cos_sin(positions, length=length)
        return rotate(x, cos, sin, interleaved=self.interleaved)

    def shift(self, x: ArrayLike, delta: ArrayLike) -> jax.Array:
        """Move already-rotated queries or keys ``x [..., T, N, head_dim]`` by ``delta`` positions.

        RoPE is a rotation, so a key rotated at position ``p`` becomes the key rotated at ``p + delta`` by one more
        rotation by ``delta`` (no projection recomputed): what KV-cache context shifts and attention sinks do.
        The rotation is by the pure angle: the attention scaling already sits in ``x`` and is not applied twice.

        Accuracy: with ``precise_angles=True`` the result equals rotating the raw key at ``p + delta`` to ~1e-7
        relative error at any position below 2**24 (both angles are exact to 1e-6 rad). In the default float32 mode
        it differs from Hugging Face's float32 rotation at ``p + delta`` by at most the float32 rounding of the
        angles themselves, about ``(|p| + |delta|) * inv_freq * 2**-24`` rad (3e-4 rad at p = 5000 for the
        fastest pair): the same error either rotation already carries.

        Length-dependent rules (dynamic NTK, LongRoPE: ``scaling.length_dependent``) change every frequency with
        the sequence length, so a key rotated at one length cannot be moved exactly; this raises rather than
        return a different rotation (cache unrotated keys instead: ``RoPEAttention.init_cache(mode="unrotated")``).

        Args:
            x: ``[..., T, N, head_dim]`` rotated queries or keys.
            delta: Position change (integers or floats; negative moves back): a scalar, ``[..., T]`` per token, or
                ``[..., 1]`` per row (e.g. ``[B, 1]``); the leading dims broadcast against ``x.shape[:-3]``.

        Returns:
            ``x`` rotated by ``delta``, same shape and dtype.

        Example:
            >>> import jax.numpy as jnp
            >>> from rope_jax import RoPE
            >>> rope, k = RoPE(head_dim=8, precise_angles=True), jnp.ones((1, 3, 2, 8))   # [B, T, N, H]
            >>> moved = rope.shift(rope(k, jnp.arange(3)[None]), 100)
            >>> bool(jnp.allclose(moved, rope(k, jnp.arange(3)[None] + 100), atol=1e-6))
            True
        """
        if self.scaling.length_dependent:
            raise ValueError(
                f"RoPE.shift needs frequencies that do not depend on the sequence length; the {self.rope_type!r} "
                "rule rescales them with the length, so a shifted key would not equal one rotated at its new "
                "position. Cache unrotated keys instead (RoPEAttention.init_cache(..., mode='unrotated'))."
            )
        x = _checks.rotary_input(x)
        _checks.head_dim_matches(x, self.head_dim)
        delta = _checks.array("delta", delta)
        if delta.ndim == 0 or delta.shape[-1] == 1:  # one change for every token (of each row)
            _checks.leading_dims_fit("delta", delta.shape, x.shape)
            delta = jnp.broadcast_to(delta, (*delta.shape[:-1], x.shape[-3]))
        delta = _checks.positions_for(delta, x.shape, name="delta")
        cos, sin = scaled_cos_sin(rope_angles(delta, self.inv_freq, precise=self.precise_angles), 1.0)
        return rotate(x, cos, sin, interleaved=self.interleaved)

    def table(self, max_length: int, *, length: ArrayLike | None = None) -> RoPETable:
        """Precompute cos/sin for positions ``0 .. max_length - 1`` (the precompute-then-index design).

        Length-dependent rules are decided once, from ``length`` (default: ``max_length``).
        """
        max_length = _checks.positive_int("max_length", max_length)
        length = max_length if length is None else _checks.length("length", length)
        cos, sin = self.cos_sin(jnp.arange(max_length), length=length)
        return RoPETable(cos=cos, sin=sin, interleaved=self.interleaved)


def _raise_out_of_table(low: jax.Array, high: jax.Array, table_length: int) -> None:
    if low < 0 or high >= table_length:
        raise ValueError(
            f"positions must lie in [0, {int(table_length)}) for this cos/sin table, got positions from "
            f"{int(low)} to {int(high)}. Build a longer table with RoPE.table(max_length)."
        )


@dataclasses.dataclass(frozen=True)
class RoPETable:
    """Precomputed cos/sin rows for positions ``0 .. L - 1``; a pytree, so it can be passed into jit.

    Attributes:
        cos: ``[L, P]`` float32, attention scaling included.
        sin: ``[L, P]`` float32.
        interleaved: Pair layout.
    """

    cos: jax.Array
    sin: jax.Array
    interleaved: bool = False

    def __post_init__(self) -> None:
        # cos and sin are pytree leaves (JAX rebuilds the table with tracers or placeholders): checked when used.
        object.__setattr__(self, "interleaved", _checks.boolean("interleaved", self.interleaved))

    @property
    def max_length(self) -> int:
        return self.cos.shape[0]

    def __call__(self, x: ArrayLike, positions: ArrayLike, *, check: bool = True) -> jax.Array:
        """Rotate ``x [..., T, N, H]`` at integer ``positions [..., T]`` by looking rows up in the table.

        JAX clamps out-of-range gather indices silently; this never does. Concrete positions outside ``[0, L)``
        raise a ``ValueError`` at once. Traced positions (under ``jit``, ``vmap``, ``scan``...) are checked on the
        device with ``check=True``: a conditional host callback, taken only when a position is out of range, makes
        the computation fail; JAX reports that as ``jax.errors.JaxRuntimeError`` (a ``RuntimeError``, not the
        ``ValueError``: JAX does not re-raise a callback's exception class) whose message ends with the same
        ``ValueError`` text. With ``check=False`` such positions produce NaN instead of a wrong rotation.
        """
        x = _checks.rotary_input(x)
        positions = _checks.positions_for(positions, x.shape)
        if not jnp.issubdtype(positions.dtype, jnp.integer):
            raise TypeError(f"table lookups need integer positions; positions has dtype {positions.dtype}.")
        check = _checks.boolean("check", check)
        cos, sin = _checks.array("cos", self.cos, kinds="float"), _checks.array("sin", self.sin, kinds="float")
        if cos.ndim != 2 or sin.shape != cos.shape:
            raise ValueError(f"a table's cos and sin must both be [L, P], got shapes {cos.shape} and {sin.shape}.")
        if 2 * cos.shape[-1] > x.shape[-1]:
            raise ValueError(f"the table rotates {2 * cos.shape[-1]} features but x has only {x.shape[-1]}.")
        if positions.size and (check or not isinstance(positions, jax.core.Tracer)):  # concrete: always checked
            low, high = jnp.min(positions), jnp.max(positions)
            raise_if((low < 0) | (high >= self.max_length), _raise_out_of_table, low, high, self.max_length)
        # Rows follow the positions' sharding (a replicated table read locally: no collective); explicit
        # sharding mode wants that said.
        rows = None
        if _checks.explicit_mesh():
            rows = jax.sharding.PartitionSpec(*jax.typeof(positions).sharding.spec, None)
        cos = cos.at[positions].get(mode="fill", fill_value=jnp.nan, out_sharding=rows)
        sin = sin.at[positions].get(mode="fill", fill_value=jnp.nan, out_sharding=rows)
        return rotate(x, cos, sin, interleaved=self.interleaved)


jax.tree_util.register_dataclass(RoPETable, data_fields=["cos", "sin"], meta_fields=["interleaved"])
