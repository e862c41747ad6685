"""N-D RoPE: patch grids, video, learnable mixed frequencies and Qwen2-VL / Qwen3-VL M-RoPE.

Every variant is ``angles = coords . frequencies`` with coordinates ``[..., T, A]`` (A axes: row/column, or
t/h/w) and a frequency matrix ``[A, P]`` (or ``[N, A, P]`` per head), followed by the one rotation primitive
:func:`rope_jax.rotate`:

- axial (EVA-02, RoPE-ViT "axial"): the P pairs split evenly between the axes, each block with its own ladder;
- M-RoPE (Qwen2-VL): the 1D frequencies, each pair driven by one axis, chosen by contiguous ``mrope_section``
  blocks (or interleaved t/h/w, Qwen3-VL);
- RoPE-Mixed (Heo et al. 2024): a dense, learnable ``[N, A, P]`` matrix;
- per-axis ladders placed in blocks or alternating pair by pair (:func:`layout_frequencies`), a ladder dealt
  out between axes (:func:`split_ladder`, Pixtral), and a head cut into per-axis rotation blocks
  (``RoPENd(blocks=...)``, Gemma 4's vision tower).

Coordinates are floats or ints; the origin is the identity rotation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rope_jax import _checks
from rope_jax._exact import divide, fused_multiply_add, precise_angles_pair, rounded_product, split_double
from rope_jax._exact import precise_angles as exact_precise_angles
from rope_jax.frequencies import Default
from rope_jax.rotary import RoPE, rotate, scaled_cos_sin

__all__ = [
    "RoPENd",
    "RoPENdTable",
    "apply_rope_nd",
    "axial_frequencies",
    "axial_rotary_dim",
    "layout_frequencies",
    "mixed_frequencies",
    "mrope_frequencies",
    "nd_angles",
    "split_ladder",
]


# -------------------------------------------------------------------------------------- frequency builders


def axial_rotary_dim(head_dim: int, num_axes: int) -> int:
    """The features axial RoPE rotates by default: the most that split into ``num_axes`` equal even blocks.

    ``num_axes * 2 * ((head_dim // num_axes) // 2)``: the whole head when it divides (64 over 2 axes), else the
    remainder passes through unrotated (80 over 3 axes rotates 78, as MiniMax-M3-VL's vision tower does).
    """
    head_dim = _checks.positive_int("head_dim", head_dim)
    num_axes = _checks.positive_int("num_axes", num_axes)
    rotary_dim = num_axes * 2 * ((head_dim // num_axes) // 2)
    if rotary_dim == 0:
        raise ValueError(f"head_dim {head_dim} is too small to give each of {num_axes} axes a pair of features.")
    return rotary_dim


def axial_frequencies(rotary_dim: int, num_axes: int = 2, *, theta: float = 100.0) -> np.ndarray:
    """Axial frequency matrix: pair block ``a`` (``P / A`` contiguous pairs) follows axis ``a`` only.

    Each block has the ladder ``theta ** (-2j / (rotary_dim / A))``, i.e. every axis gets a 1D RoPE over its
    share of the features (EVA-02, RoPE-ViT "axial"; theta 100 is RoPE-ViT's choice for images).

    Args:
        rotary_dim: Rotated features; ``rotary_dim / 2`` must divide evenly among the axes.
        num_axes: A (2 for images, 3 for video).
        theta: Base of each axis's ladder.

    Returns:
        float32 ``[A, rotary_dim // 2]``.
    """
    rotary_dim = _checks.even_int("rotary_dim", rotary_dim)
    num_axes = _checks.positive_int("num_axes", num_axes)
    pairs = rotary_dim // 2
    if pairs % num_axes:
        raise ValueError(
            f"axial RoPE splits the {pairs} pairs (rotary_dim {rotary_dim}) evenly between {num_axes} axes; "
            f"{pairs} is not divisible by {num_axes}."
        )
    per_axis, _ = Default().frequencies(2 * (pairs // num_axes), theta=theta)
    return layout_frequencies([per_axis] * num_axes)


def layout_frequencies(
    ladders: Sequence[ArrayLike],
    *,
    order: Sequence[int] | None = None,
    arrangement: str = "blocks",
    dtype: type[np.floating] = np.float32,
) -> np.ndarray:
    """Frequency matrix from one ladder per coordinate axis, placed in blocks or alternating pair by pair.

    ``ladders[a]`` holds the frequencies of coordinate axis ``a`` (any lengths, any rule: a default ladder,
    per-axis theta, a learned vector). ``order`` lists the axes in the order their pairs appear (default
    ``0, 1, ...``; ``(1, 0)`` puts the column axis first for models that rotate by (x, y) while their coordinates
    are (h, w)).

    - ``"blocks"``: the pairs of ``order[0]`` first, then those of ``order[1]``... (EVA-02, Qwen2-VL's vision
      tower, uneven blocks such as 16/56/56).
    - ``"alternate"``: pair ``j`` follows axis ``order[j % A]`` with frequency ``ladder[j // A]`` (MoonViT /
      Kimi-K2.5, EfficientLoFTR); the ladders must have equal lengths.

    Args:
        ladders: A 1D frequency vectors (rounded to ``dtype``).
        order: A permutation of ``range(A)``.
        arrangement: ``"blocks"`` or ``"alternate"``.
        dtype: ``np.float32`` (default) or ``np.float64`` (frequencies for ``RoPENd(exact_frequencies=True)``).

    Returns:
        ``[A, P]`` of ``dtype`` with one non-zero (or zero-frequency) entry per column, ``P = sum of the
        lengths``.

    Example:
        >>> from rope_jax import layout_frequencies
        >>> layout_frequencies([[1.0, 0.5], [3.0, 1.5]], order=(1, 0), arrangement="alternate").tolist()
        [[0.0, 1.0, 0.0, 0.5], [3.0, 0.0, 1.5, 0.0]]
    """
    _checks.one_of("arrangement", arrangement, ("blocks", "alternate"))
    _checks.one_of("dtype", dtype, (np.float32, np.float64))
    vectors = [np.asarray(ladder, dtype) for ladder in _checks.sequence("ladders", ladders)]
    if not vectors or any(vector.ndim != 1 for vector in vectors):
        raise ValueError(f"ladders must be a non-empty sequence of 1D frequency vectors, got shapes "
                         f"{[vector.shape for vector in vectors]}.")  # fmt: skip
    num_axes = len(vectors)
    order = _checks.permutation("order", range(num_axes) if order is None else order, num_axes)
    lengths = [len(vector) for vector in vectors]
    freqs = np.zeros((num_axes, sum(lengths)), dtype)
    if arrangement == "blocks":
        start = 0
        for axis in order:
            freqs[axis, start : start + lengths[axis]] = vectors[axis]
            start += lengths[axis]
        return freqs
    if len(set(lengths)) != 1:
        raise ValueError(f"alternating pairs need ladders of equal length, got lengths {lengths}.")
    for slot, axis in enumerate(order):
        freqs[axis, slot::num_axes] = vectors[axis]
    return freqs


def split_ladder(inv_freq: ArrayLike, num_axes: int = 2) -> list[np.ndarray]:
    """Deal one ladder out between axes: axis ``a`` gets ``inv_freq[a::num_axes]`` (Pixtral's vision tower).

    Pixtral builds ``theta ** (-2i / head_dim)`` over the whole head and gives rows the even-indexed
    frequencies, columns the odd-indexed ones; feed the result to :func:`layout_frequencies`.

    Example:
        >>> from rope_jax import split_ladder
        >>> [part.tolist() for part in split_ladder([8.0, 4.0, 2.0, 1.0])]
        [[8.0, 2.0], [4.0, 1.0]]
    """
    inv_freq = np.asarray(inv_freq, np.float32)
    num_axes = _checks.positive_int("num_axes", num_axes)
    if inv_freq.ndim != 1 or len(inv_freq) % num_axes:
        raise ValueError(
            f"inv_freq must be a 1D ladder whose length divides by num_axes={num_axes}, got shape {inv_freq.shape}."
        )
    return [inv_freq[axis::num_axes] for axis in range(num_axes)]


def mrope_frequencies(inv_freq: ArrayLike, sections: Sequence[int], *, interleaved: bool = False) -> np.ndarray:
    """Qwen2-VL M-RoPE: each pair keeps its 1D frequency but follows one of the t/h/w axes.

    Contiguous (Qwen2-VL, Qwen2.5-VL): the first ``sections[0]`` pairs follow t, the next ``sections[1]`` h,
    the rest w. Interleaved (Qwen3-VL, ``mrope_interleaved``): pair ``j`` follows h when ``j % 3 == 1`` and
    ``j < 3 * sections[1]``, w when ``j % 3 == 2`` and ``j < 3 * sections[2]``, otherwise t.

    Args:
        inv_freq: ``[P]`` 1D frequencies (any scaling rule).
        sections: Pairs per axis (``mrope_section``), summing to P.
        interleaved: Qwen3-VL's interleaved assignment.

    Returns:
        float32 ``[len(sections), P]`` with one non-zero per column.
    """
    inv_freq = np.asarray(_checks.frequencies("inv_freq", inv_freq, ndims=(1,)), np.float32)
    pairs = inv_freq.shape[-1]
    sections = list(_checks.integers("sections", sections, minimum=0))
    interleaved = _checks.boolean("interleaved", interleaved)
    if sum(sections) != pairs:
        raise ValueError(
            f"mrope_section {sections} must be non-negative and sum to the number of pairs {pairs} "
            f"(rotary_dim // 2); it sums to {sum(sections)}."
        )
    if interleaved:
        if len(sections) != 3:
            raise ValueError(f"interleaved M-RoPE has exactly 3 sections (t, h, w), got {sections}.")
        owner = np.zeros(pairs, np.int64)
        for axis in (1, 2):
            owner[axis : 3 * sections[axis] : 3] = axis
    else:
        owner = np.repeat(np.arange(len(sections)), sections)
    freqs = np.zeros((len(sections), pairs), np.float32)
    freqs[owner, np.arange(pairs)] = inv_freq
    return freqs


def mixed_frequencies(
    key: jax.Array, num_heads: int, rotary_dim: int, *, num_axes: int = 2, theta: float = 10.0
) -> jax.Array:
    """RoPE-Mixed initialisation (Heo et al. 2024): per head, frequencies along random directions.

    For 2 axes, head ``n`` draws an angle ``phi_n``; the first half of its pairs get the magnitudes
    ``theta ** (-4j / rotary_dim)`` along direction ``phi_n``, the second half along ``phi_n + pi / 2``. For
    other axis counts, the directions are random unit vectors. The matrix is meant to be trained.

    Returns:
        float32 ``[num_heads, num_axes, rotary_dim // 2]``.
    """
    if not (
        isinstance(key, jax.Array) and (jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) or key.shape[-1:] == (2,))
    ):
        raise TypeError(f"key must be a JAX PRNG key such as jax.random.key(0), got {_checks.describe(key)}.")
    rotary_dim = _checks.even_int("rotary_dim", rotary_dim, minimum=4)
    num_heads = _checks.positive_int("num_heads", num_heads)
    num_axes = _checks.positive_int("num_axes", num_axes)
    theta = _checks.positive("theta", theta)
    pairs = rotary_dim // 2
    if pairs % 2:
        raise ValueError(f"RoPE-Mixed needs an even number of pairs, got rotary_dim {rotary_dim}.")
    magnitudes = jnp.asarray(theta, jnp.float32) ** (-jnp.arange(0, rotary_dim, 4, dtype=jnp.float32) / rotary_dim)
    if num_axes == 2:
        phi = jax.random.uniform(key, (num_heads, 1), maxval=2 * math.pi)
        angles = jnp.concatenate(
            [
                jnp.broadcast_to(phi, (num_heads, pairs // 2)),
                jnp.broadcast_to(phi + math.pi / 2, (num_heads, pairs // 2)),
            ],
            axis=-1,
        )
        directions = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)  # [N, 2, P]
    else:
        directions = jax.random.normal(key, (num_heads, num_axes, pairs))
        directions = directions / jnp.linalg.norm(directions, axis=1, keepdims=True)
    return directions * jnp.concatenate([magnitudes, magnitudes])


# --------------------------------------------------------------------------------------- angles, apply


def _total(terms: Iterable[jax.Array]) -> jax.Array:
    """``terms[0] + terms[1] + ...`` in order (float32, elementwise: the rounding of a 1D angle is kept)."""
    return functools.reduce(operator.add, terms)


def _wrap(angles: jax.Array) -> jax.Array:
    two_pi = jnp.float32(2 * math.pi)
    return angles - two_pi * jnp.round(angles / two_pi)


def nd_angles(
    coords: ArrayLike,
    freqs: ArrayLike,
    *,
    precise: bool = False,
    freqs_low: ArrayLike | None = None,
    fused_sum: bool = False,
    divisors: Sequence[float] | None = None,
) -> jax.Array:
    """Angles ``sum_a coords[..., a] * freqs[..., a, :]``.

    Args:
        coords: ``[..., T, A]`` coordinates (int or float).
        freqs: ``[A, P]`` shared or ``[N, A, P]`` per-head frequencies.
        precise: Exact reduction modulo 2 pi per axis; see :func:`rope_jax.rope_angles`.
        freqs_low: Float64 frequencies given as a float32 pair: ``freqs + freqs_low`` (same shape; from
            :meth:`RoPENd.frequency_pair`). Each axis's product is then taken with the double-float frequency:
            rounded once to float32 (what a float64 product cast to float32 gives), or, with ``precise``, reduced
            modulo 2 pi and rounded once (what a float64 angle gives, to float32 rounding; see
            :class:`RoPENd`).
        fused_sum: Sum the axes' terms as torch's CPU matmul does (Mochi's einsum): ``round(c0 * f0)``, then one
            fused multiply-add per further axis, each rounded once. Float32 frequencies only.
        divisors: One number per axis that axis's float32 angles are divided by after the product (Kandinsky
            divides its angle tables by a resolution scale: ``f32(c * f) / s`` rounds differently from
            ``(c / s) * f``). Float32 frequencies, plain sum only.

    Returns:
        ``[..., T, P]`` (shared) or ``[..., T, N, P]`` (per head) float32. The sum runs in float32 elementwise
        (no matmul precision modes), so a matrix with one non-zero per pair reproduces 1D rounding exactly.
    """
    freqs = jnp.asarray(_checks.frequencies("freqs", freqs, ndims=(2, 3)), jnp.float32)
    num_axes = freqs.shape[-2]
    coords = _checks.array("coords", coords, min_ndim=1)
    if coords.shape[-1] != num_axes:
        raise ValueError(
            f"coords must have shape [..., T, A] with A = {num_axes} axes (freqs shape {freqs.shape}), got shape "
            f"{coords.shape}."
        )
    precise = _checks.boolean("precise", precise)
    fused_sum = _checks.boolean("fused_sum", fused_sum)
    per_head = freqs.ndim == 3
    low = None
    if freqs_low is not None:
        low = jnp.asarray(_checks.frequencies("freqs_low", freqs_low, ndims=(freqs.ndim,)), jnp.float32)
        if low.shape != freqs.shape:
            raise ValueError(f"freqs_low must have the shape of freqs {freqs.shape}, got {low.shape}.")
    if divisors is not None:
        divisors = _checks.positive_numbers("divisors", divisors, length=num_axes)
        if precise or low is not None or fused_sum:
            raise ValueError("divisors reproduce float32 angle tables: they take neither precise, freqs_low nor "
                             "fused_sum.")  # fmt: skip
    if fused_sum and (precise or low is not None):
        raise ValueError("fused_sum reproduces float32 matmul rounding; it takes neither precise nor freqs_low.")

    def column(axis: int) -> jax.Array:
        # per head: coordinates [..., T, 1] times frequencies [N, P] -> [..., T, N, P]
        return coords[..., axis, None] if per_head else coords[..., axis]

    def term(axis: int) -> jax.Array:
        freq = freqs[..., axis, :]
        if low is not None:
            if precise:
                return precise_angles_pair(column(axis), freq, low[..., axis, :])
            return rounded_product(column(axis).astype(jnp.float32)[..., None], freq, low[..., axis, :])
        if precise:
            return exact_precise_angles(column(axis), freq)
        angles = column(axis).astype(jnp.float32)[..., None] * freq
        if divisors is not None and divisors[axis] != 1.0:
            angles = divide(angles, divisors[axis])
        return angles

    if fused_sum:
        total = term(0)
        for axis in range(1, num_axes):
            total = fused_multiply_add(column(axis).astype(jnp.float32)[..., None], freqs[..., axis, :], total)
        return total
    total = _total(term(axis) for axis in range(num_axes))
    return _wrap(total) if precise and num_axes > 1 else total


def _check_nd(x: jax.Array, coords: ArrayLike, freqs: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``coords [..., T, A]`` and ``freqs [A, P]`` / ``[N, A, P]`` that fit ``x [..., T, N, H]``."""
    freqs = _checks.frequencies("freqs", freqs, ndims=(2, 3))
    coords = _checks.array("coords", coords)
    num_axes, length = freqs.shape[-2], x.shape[-3]
    if coords.ndim < 2 or coords.shape[-2:] != (length, num_axes):
        raise ValueError(
            f"coords must have shape [..., T, A] with T = x.shape[-3] = {length} and A = {num_axes} axes (freqs "
            f"shape {freqs.shape}), got shape {coords.shape} for x of shape {x.shape}."
        )
    _checks.leading_dims_fit("coords", coords.shape, x.shape, trailing=2)
    if freqs.ndim == 3 and freqs.shape[0] != x.shape[-2]:
        raise ValueError(f"per-head freqs have {freqs.shape[0]} heads but x has {x.shape[-2]} (x shape {x.shape}).")
    if 2 * freqs.shape[-1] > x.shape[-1]:
        raise ValueError(f"freqs rotate {2 * freqs.shape[-1]} features but x has head dim {x.shape[-1]}.")
    return coords, jnp.asarray(freqs, jnp.float32)


def apply_rope_nd(
    x: ArrayLike,
    coords: ArrayLike,
    *,
    freqs: ArrayLike | None = None,
    theta: float = 100.0,
    interleaved: bool = False,
    rotary_dim: int | None = None,
    attention_scaling: float = 1.0,
    precise_angles: bool = False,
    fused_sum: bool = False,
) -> jax.Array:
    """Rotate ``x [..., T, N, H]`` at N-D ``coords [..., T, A]``.

    Args:
        x: Queries or keys.
        coords: Coordinates per token (row/column, t/h/w), int or float.
        freqs: ``[A, rotary_dim // 2]`` (e.g. :func:`mrope_frequencies`) or per-head ``[N, A, rotary_dim // 2]``
            (RoPE-Mixed). Default: :func:`axial_frequencies` with ``theta`` over ``rotary_dim``.
        theta: Base of the default axial ladders.
        interleaved: Pair layout.
        rotary_dim: Rotated features (default: :func:`axial_rotary_dim`, the whole head when it splits evenly
            between the axes; taken from ``freqs`` when given).
        attention_scaling: Multiplies cos and sin.
        precise_angles: Exact angle reduction.
        fused_sum: Sum the axes' terms with fused multiply-adds, as torch's CPU matmul does (see
            :func:`nd_angles`; Mochi's learned frequencies).

    Returns:
        Same shape and dtype as ``x``.

    Raises:
        TypeError, ValueError: as :class:`RoPENd` and :func:`rope_jax.apply_rope` for the same arguments.
    """
    x = _checks.rotary_input(x)
    theta = _checks.positive("theta", theta)
    interleaved = _checks.boolean("interleaved", interleaved)
    attention_scaling = _checks.positive("attention_scaling", attention_scaling)
    precise_angles = _checks.boolean("precise_angles", precise_angles)
    if freqs is None:
        coords = _checks.array("coords", coords, min_ndim=2)
        if rotary_dim is None:
            rotary_dim = axial_rotary_dim(x.shape[-1], coords.shape[-1])
        rotary_dim = _checks.rotary_dim(rotary_dim, x.shape[-1])
        freqs = axial_frequencies(rotary_dim, coords.shape[-1], theta=theta)
    else:
        freqs = _checks.frequencies("freqs", freqs, ndims=(2, 3))
        if rotary_dim is not None and 2 * freqs.shape[-1] != _checks.rotary_dim(rotary_dim, x.shape[-1]):
            raise ValueError(f"rotary_dim {rotary_dim} disagrees with freqs of {freqs.shape[-1]} pairs.")
    coords, freqs = _check_nd(x, coords, freqs)
    angles = nd_angles(coords, freqs, precise=precise_angles, fused_sum=fused_sum)
    cos, sin = scaled_cos_sin(angles, attention_scaling)
    return rotate(x, cos, sin, interleaved=interleaved, per_head=freqs.ndim == 3)


def _nested_tuple(values: np.ndarray) -> tuple:
    return tuple(_nested_tuple(row) for row in values) if values.ndim > 1 else tuple(float(v) for v in values)


def _rotate_in_blocks(
    x: jax.Array, cos: jax.Array, sin: jax.Array, *, interleaved: bool, blocks: int, per_head: bool
) -> jax.Array:
    """:func:`rotate` with the head cut into ``blocks`` equal contiguous blocks, each rotated by its share of the
    pairs (one call of the primitive, on a view)."""
    if blocks == 1:
        return rotate(x, cos, sin, interleaved=interleaved, per_head=per_head)
    # [..., T, N, H] -> [..., T, N, blocks, H / blocks]; cos/sin [..., T, (N,) P] -> [..., T, 1 | N, blocks, P / b]
    blocked = x.reshape(*x.shape[:-1], blocks, x.shape[-1] // blocks)
    if not per_head:
        cos, sin = cos[..., None, :], sin[..., None, :]
    cos, sin = (c.reshape(*c.shape[:-1], blocks, c.shape[-1] // blocks) for c in (cos, sin))
    return rotate(blocked, cos, sin, interleaved=interleaved, per_head=True).reshape(x.shape)


@dataclasses.dataclass(frozen=True)
class RoPENd:
    """An immutable N-D RoPE: a fixed frequency matrix ``[A, P]`` (or per head ``[N, A, P]``), layout and scaling.

    Build it with :meth:`axial` or :meth:`mrope` (or :func:`rope_jax.from_hf_config` for Qwen2-VL / Qwen3-VL,
    :func:`rope_jax.vision_rope`, :func:`rope_jax.dit_rope`). Call it with coordinates ``[..., T, A]``; 1D
    positions ``[..., T]`` are used on every axis (t = h = w), so M-RoPE on pure text is exactly 1D RoPE.

    Precision modes (``exact_frequencies``, ``precise_angles``):

    - ``False, False`` (default): float32 frequencies, ``f32(coord) * freq`` in float32: torch's float32 rounding.
    - ``False, True``: the exact product with the float32 frequencies, reduced modulo 2 pi (long contexts).
    - ``True, False``: float64 frequencies (kept as a float32 pair), the product rounded once to float32: what a
      float64 product cast to float32 before ``cos`` gives (Z-Image).
    - ``True, True``: float64 frequencies, the angle reduced modulo 2 pi exactly: what a float64 angle gives
      (diffusers' FLUX, Wan, HiDream... on CPU and CUDA). The angle is within 2.5e-7 rad of the float64 one for
      integer coordinates, so cos and sin are within float32 rounding of the float64 reference's.

    The extra modes cost device work only when on; the default path is unchanged.

    Every field after ``freqs`` is keyword-only.

    Attributes:
        head_dim: Features per head.
        freqs: ``A`` rows of ``P`` frequencies, or ``N`` such matrices (one per head), as tuples so the object is
            hashable: float32 values, or float64 ones with ``exact_frequencies``.
        interleaved: Pair layout.
        attention_scaling: Factor on cos and sin.
        precise_angles: Exact angle reduction.
        name: What built it (``"axial"``, ``"mrope"``, ``"mrope-interleaved"``, a model's name...).
        blocks: The head is cut into this many equal contiguous blocks, each rotated on its own (in the pair
            layout) by its share of the pairs: block ``b`` takes pairs ``b * P / blocks ...``. 1 (default) is the
            usual single rotation; Gemma 4's vision tower rotates rows in the first half of the head and columns
            in the second, each half half-split (``blocks=2``), Allegro's video transformer three thirds.
            Still one call of :func:`rotate`, on a view.
        exact_frequencies: Keep ``freqs`` in float64 (see the modes above).
        fused_sum: Sum the axes' terms as a chain of fused multiply-adds, as torch's CPU matmul does (Mochi builds
            its angles with an einsum over learned per-head frequencies); see :func:`nd_angles`.
        axis_divisors: One number per axis its angles are divided by (Kandinsky's resolution scale); see
            :func:`nd_angles`.
    """

    head_dim: int
    freqs: Sequence[Sequence[float]] | Sequence[Sequence[Sequence[float]]] | np.ndarray
    _: dataclasses.KW_ONLY
    interleaved: bool = False
    attention_scaling: float = 1.0
    precise_angles: bool = False
    name: str = "nd"
    blocks: int = 1
    exact_frequencies: bool = False
    fused_sum: bool = False
    axis_divisors: Sequence[float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "head_dim", _checks.positive_int("head_dim", self.head_dim))
        if isinstance(self.freqs, jax.Array):
            raise TypeError(
                "freqs must be NumPy data or nested sequences (RoPENd is static and hashable), got a "
                "jax.Array; pass np.asarray(freqs), or use apply_rope_nd for learned frequencies."
            )
        exact = _checks.boolean("exact_frequencies", self.exact_frequencies)
        object.__setattr__(self, "exact_frequencies", exact)
        checked = _checks.frequencies("freqs", self.freqs, ndims=(2, 3))  # types, rank, finite in float32
        freqs = np.asarray(self.freqs, np.float64) if exact else np.asarray(checked)
        if 0 in freqs.shape:
            raise ValueError(f"freqs must have at least one axis and one pair, got shape {freqs.shape}.")
        object.__setattr__(self, "freqs", _nested_tuple(freqs))
        if 2 * freqs.shape[-1] > self.head_dim:
            raise ValueError(f"freqs rotate {2 * freqs.shape[-1]} features but head_dim is {self.head_dim}.")
        object.__setattr__(self, "interleaved", _checks.boolean("interleaved", self.interleaved))
        object.__setattr__(self, "precise_angles", _checks.boolean("precise_angles", self.precise_angles))
        object.__setattr__(self, "fused_sum", _checks.boolean("fused_sum", self.fused_sum))
        if self.fused_sum and (exact or self.precise_angles):
            raise ValueError("fused_sum reproduces float32 matmul rounding: it combines with neither "
                             "exact_frequencies nor precise_angles.")  # fmt: skip
        if self.axis_divisors is not None:
            divisors = _checks.positive_numbers("axis_divisors", self.axis_divisors, length=freqs.shape[-2])
            if exact or self.precise_angles or self.fused_sum:
                raise ValueError("axis_divisors reproduce float32 angle tables: they combine with no other mode.")
            object.__setattr__(self, "axis_divisors", divisors)
        object.__setattr__(self, "attention_scaling", _checks.positive("attention_scaling", self.attention_scaling))
        object.__setattr__(self, "name", _checks.string("name", self.name))
        blocks = _checks.positive_int("blocks", self.blocks)
        if self.head_dim % blocks or freqs.shape[-1] % blocks:
            raise ValueError(
                f"blocks={blocks} must divide both head_dim ({self.head_dim}) and the number of pairs "
                f"({freqs.shape[-1]}): each block rotates an equal share of the head."
            )
        object.__setattr__(self, "blocks", blocks)

    @property
    def num_heads(self) -> int | None:
        """N for per-head frequencies; None when the frequencies are shared by every head."""
        return len(self.freqs) if np.ndim(self.freqs) == 3 else None

    @property
    def frequency_matrix(self) -> np.ndarray:
        """The float32 frequencies ``[A, P]`` or ``[N, A, P]`` (the high part of float64 ones)."""
        return np.asarray(self.freqs, np.float32)

    @property
    def frequency_pair(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(high, low)`` float32 arrays with ``high + low`` the float64 frequencies (``low`` is None unless
        ``exact_frequencies``)."""
        if not self.exact_frequencies:
            return self.frequency_matrix, None
        return split_double(np.asarray(self.freqs, np.float64))

    @property
    def num_axes(self) -> int:
        return np.shape(self.freqs)[-2]

    @property
    def rotary_dim(self) -> int:
        return 2 * np.shape(self.freqs)[-1]

    @classmethod
    def axial(
        cls,
        head_dim: int,
        num_axes: int = 2,
        *,
        theta: float = 100.0,
        rotary_dim: int | None = None,
        interleaved: bool = False,
        precise_angles: bool = False,
    ) -> RoPENd:
        """Axial RoPE over ``num_axes`` (2: rows/columns, 3: t/h/w video); ``rotary_dim`` defaults to
        :func:`axial_rotary_dim`."""
        head_dim = _checks.positive_int("head_dim", head_dim)
        if rotary_dim is None:
            rotary_dim = axial_rotary_dim(head_dim, num_axes)
        rotary_dim = _checks.rotary_dim(rotary_dim, head_dim)
        return cls(
            head_dim,
            axial_frequencies(rotary_dim, num_axes, theta=theta),
            interleaved=interleaved,
            precise_angles=precise_angles,
            name="axial",
        )

    @classmethod
    def mrope(cls, rope: RoPE, sections: Sequence[int], *, interleaved_axes: bool = False) -> RoPENd:
        """M-RoPE from a 1D :class:`~rope_jax.RoPE` (its frequencies, scaling and pair layout) and sections."""
        if not isinstance(rope, RoPE):
            raise TypeError(f"rope must be a rope_jax.RoPE, got {_checks.describe(rope)}.")
        interleaved_axes = _checks.boolean("interleaved_axes", interleaved_axes)
        if rope.scaling.length_dependent:
            raise ValueError(f"M-RoPE with a length-dependent rule ({rope.rope_type}) is not supported.")
        freqs = mrope_frequencies(rope.inv_freq, sections, interleaved=interleaved_axes)
        return cls(
            rope.head_dim,
            freqs,
            interleaved=rope.interleaved,
            attention_scaling=rope.attention_scaling,
            precise_angles=rope.precise_angles,
            name="mrope-interleaved" if interleaved_axes else "mrope",
        )

    def _coords(self, coords: ArrayLike, x_shape: tuple[int, ...] | None = None) -> jax.Array:
        """``[..., T, A]`` as given, or 1D positions ``[..., T]`` repeated on every axis (t = h = w).

        With ``x_shape`` the two readings are told apart by shape, and a shape that fits neither is refused;
        without it, a last axis of size A is read as coordinates.
        """
        coords = _checks.array("coords", coords, min_ndim=1)
        is_nd = coords.ndim >= 2 and coords.shape[-1] == self.num_axes
        if x_shape is not None:  # the caller knows T: [..., T, A] must have T at -2
            length, batch = x_shape[-3], x_shape[:-3]
            is_nd = is_nd and coords.shape[-2] == length
            try:
                positions_fit = coords.shape[-1] == length and np.broadcast_shapes(coords.shape[:-1], batch) == batch
            except ValueError:
                positions_fit = False
            if not (is_nd or positions_fit):
                raise ValueError(
                    f"coords of shape {coords.shape} fit neither [..., T, A] coordinates with T = x.shape[-3] = "
                    f"{length} and A = {self.num_axes} axes nor 1D positions [..., T] whose leading dims broadcast to "
                    f"x's batch dims {batch} (x shape {x_shape})."
                )
        return coords if is_nd else jnp.repeat(coords[..., None], self.num_axes, axis=-1)

    def cos_sin(self, coords: ArrayLike) -> tuple[jax.Array, jax.Array]:
        """cos and sin ``[..., T, P]`` (per head ``[..., T, N, P]``) for ``coords [..., T, A]``, scaling included.

        A last axis of size A is read as coordinates; pass 1D positions through ``__call__`` (which knows T)
        when ``T == A`` could be ambiguous.
        """
        high, low = self.frequency_pair
        angles = nd_angles(
            self._coords(coords),
            high,
            precise=self.precise_angles,
            freqs_low=low,
            fused_sum=self.fused_sum,
            divisors=self.axis_divisors,
        )
        return scaled_cos_sin(angles, self.attention_scaling)

    def __call__(self, x: ArrayLike, coords: ArrayLike) -> jax.Array:
        """Rotate ``x [..., T, N, head_dim]`` at ``coords [..., T, A]`` (or 1D positions ``[..., T]``)."""
        x = _checks.rotary_input(x)
        _checks.head_dim_matches(x, self.head_dim)
        coords, _ = _check_nd(x, self._coords(coords, x.shape), self.frequency_matrix)
        cos, sin = self.cos_sin(coords)
        return _rotate_in_blocks(
            x, cos, sin, interleaved=self.interleaved, blocks=self.blocks, per_head=self.num_heads is not None
        )

    def table(self, coords: ArrayLike, *, host: bool = False) -> RoPENdTable:
        """cos and sin for the tokens at ``coords [..., T, A]``, computed once (the precompute-then-apply design).

        Args:
            coords: The coordinates of every token of the sequences the table will rotate.
            host: Compute on the host in float64 NumPy (cos and sin of the angle this object's precision mode
                defines, each rounded once to float32; with ``exact_frequencies`` and ``precise_angles`` that is
                the float64 reference's own arithmetic) instead of on the device.

        Returns:
            A :class:`RoPENdTable`: ``table(x)`` rotates ``x [..., T, N, head_dim]`` with the same result as
            ``self(x, coords)`` (to float32 rounding of cos and sin).
        """
        if _checks.boolean("host", host):
            cos, sin = (jnp.asarray(c) for c in self._host_cos_sin(np.asarray(self._coords(np.asarray(coords)))))
        else:
            cos, sin = self.cos_sin(coords)
        return RoPENdTable(
            cos=jnp.asarray(cos),
            sin=jnp.asarray(sin),
            head_dim=self.head_dim,
            interleaved=self.interleaved,
            blocks=self.blocks,
            per_head=self.num_heads is not None,
        )

    def _host_cos_sin(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cos and sin in float64 NumPy of the angles of this precision mode, rounded once to float32."""
        freqs = np.asarray(self.freqs, np.float64)  # float32 values, or the float64 ones with exact_frequencies
        values = coords.astype(np.float32).astype(np.float64)
        per_head = freqs.ndim == 3
        angles: np.ndarray | float = 0.0
        for axis in range(self.num_axes):
            column = values[..., axis, None, None] if per_head else values[..., axis, None]
            product = column * freqs[..., axis, :]  # exact for float32 coordinates and frequencies
            if self.precise_angles:  # the float64 angle
                angles = angles + product
            elif self.fused_sum and axis > 0:  # one fused multiply-add: the exact product plus the sum, rounded
                angles = (product + angles).astype(np.float32)
            else:  # float32 rounding of the product (and of the division, and of the running sum)
                term = product.astype(np.float32)
                if self.axis_divisors is not None:
                    term = term / np.float32(self.axis_divisors[axis])
                angles = (angles + term).astype(np.float32)
        scale = np.float32(self.attention_scaling)
        cos = np.cos(np.asarray(angles, np.float64)).astype(np.float32)
        sin = np.sin(np.asarray(angles, np.float64)).astype(np.float32)
        return (cos * scale, sin * scale) if self.attention_scaling != 1.0 else (cos, sin)


@dataclasses.dataclass(frozen=True)
class RoPENdTable:
    """Precomputed cos/sin of one sequence's tokens (:meth:`RoPENd.table`); a pytree, so it can be passed into jit.

    Attributes:
        cos: ``[..., T, P]`` float32 (``[..., T, N, P]`` with per-head frequencies), attention scaling included.
        sin: the same shape.
        head_dim: Features per head of the queries and keys it rotates.
        interleaved: Pair layout.
        blocks: Per-block rotation (see :class:`RoPENd`).
        per_head: Whether cos/sin carry a head axis.
    """

    cos: jax.Array
    sin: jax.Array
    head_dim: int
    interleaved: bool = False
    blocks: int = 1
    per_head: bool = False

    @property
    def length(self) -> int:
        return self.cos.shape[-3 if self.per_head else -2]

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Rotate ``x [..., T, N, head_dim]``, the tokens the table was built for, in order."""
        x = _checks.rotary_input(x)
        _checks.head_dim_matches(x, self.head_dim)
        if x.shape[-3] != self.length:
            raise ValueError(
                f"this table holds cos/sin for T = {self.length} tokens, but x has {x.shape[-3]} (x shape "
                f"{x.shape}); build the table from the coordinates of the tokens you rotate."
            )
        return _rotate_in_blocks(
            x, self.cos, self.sin, interleaved=self.interleaved, blocks=self.blocks, per_head=self.per_head
        )


jax.tree_util.register_dataclass(
    RoPENdTable, data_fields=["cos", "sin"], meta_fields=["head_dim", "interleaved", "blocks", "per_head"]
)
