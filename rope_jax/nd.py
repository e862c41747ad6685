"""N-D RoPE: patch grids, video, learnable mixed frequencies and Qwen2-VL / Qwen3-VL M-RoPE.

Every variant is ``angles = coords . frequencies`` with coordinates ``[..., T, A]`` (A axes: row/column, or
t/h/w) and a frequency matrix ``[A, P]`` (or ``[N, A, P]`` per head), followed by the one rotation primitive
:func:`rope_jax.rotate`:

- axial (EVA-02, RoPE-ViT "axial"): the P pairs split evenly between the axes, each block with its own ladder;
- M-RoPE (Qwen2-VL): the 1D frequencies, each pair driven by one axis, chosen by contiguous ``mrope_section``
  blocks (or interleaved t/h/w, Qwen3-VL);
- RoPE-Mixed (Heo et al. 2024): a dense, learnable ``[N, A, P]`` matrix.

Coordinates are floats or ints; the origin is the identity rotation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rope_jax.frequencies import _check_positive_finite, _check_rotary_dim, default_frequencies
from rope_jax.rotary import (
    RoPE,
    _check_positions,
    _check_x,
    _cos_sin,
    _resolve_rotary_dim,
    rope_angles,
    rotate,
)

__all__ = [
    "RoPENd",
    "apply_rope_nd",
    "axial_frequencies",
    "mixed_frequencies",
    "mrope_frequencies",
    "mrope_positions",
    "nd_angles",
    "patch_grid_coords",
    "video_coords",
]


# -------------------------------------------------------------------------------------- frequency builders


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
    _check_rotary_dim(rotary_dim)
    pairs = rotary_dim // 2
    if isinstance(num_axes, bool) or not isinstance(num_axes, int) or num_axes < 1:
        raise ValueError(f"num_axes must be a positive int, got {num_axes!r}.")
    if pairs % num_axes:
        raise ValueError(
            f"axial RoPE splits the {pairs} pairs (rotary_dim {rotary_dim}) evenly between {num_axes} axes; "
            f"{pairs} is not divisible by {num_axes}."
        )
    per_axis, _ = default_frequencies(2 * (pairs // num_axes), theta=theta)
    freqs = np.zeros((num_axes, pairs), np.float32)
    for axis in range(num_axes):
        freqs[axis, axis * len(per_axis) : (axis + 1) * len(per_axis)] = per_axis
    return freqs


def mrope_frequencies(inv_freq, sections: Sequence[int], *, interleaved: bool = False) -> np.ndarray:
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
    inv_freq = np.asarray(inv_freq, np.float32)
    pairs = inv_freq.shape[-1]
    sections = [int(s) for s in sections]
    if sum(sections) != pairs or any(s < 0 for s in sections):
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
    _check_rotary_dim(rotary_dim, minimum=4)
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


# ------------------------------------------------------------------------------------ coordinate builders


def patch_grid_coords(
    height: int,
    width: int,
    *,
    num_prefix_tokens: int = 0,
    train_grid: tuple[int, int] | None = None,
    resolution: str = "extrapolate",
) -> np.ndarray:
    """(row, column) coordinates of an ``height x width`` patch grid, row-major as ViTs flatten patches.

    Prefix tokens (CLS, registers) come first and get coordinate 0 on both axes, so they are left unrotated
    (the rotation at the origin is the identity; patch (0, 0) is unrotated too, as in any RoPE).

    Resolution change: for a model trained on ``train_grid`` and run on a different grid, ``"extrapolate"``
    keeps integer patch indices (new rows/columns get unseen positions) and ``"interpolate"`` rescales them by
    ``train / new`` per axis so the grid spans the training range (fractional positions).

    Returns:
        float32 ``[num_prefix_tokens + height * width, 2]``.
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if resolution not in ("extrapolate", "interpolate"):
        raise ValueError(f"resolution must be 'extrapolate' or 'interpolate', got {resolution!r}.")
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    if resolution == "interpolate":
        if train_grid is None:
            raise ValueError("resolution='interpolate' needs train_grid=(height, width) of the training grid.")
        rows = rows * np.float32(train_grid[0] / height)
        cols = cols * np.float32(train_grid[1] / width)
    coords = np.stack([rows.ravel(), cols.ravel()], axis=-1)
    return np.concatenate([np.zeros((num_prefix_tokens, 2), np.float32), coords])


def video_coords(frames: int, height: int, width: int) -> np.ndarray:
    """(t, h, w) coordinates of a video's patches, frame by frame, row-major: int32 ``[frames * height * width, 3]``."""
    t, h, w = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    return np.stack([t.ravel(), h.ravel(), w.ravel()], axis=-1).astype(np.int32)


def mrope_positions(segments: Sequence[tuple[str, object]], *, spatial_merge_size: int = 2) -> np.ndarray:
    """Qwen2-VL M-RoPE position ids for one sequence of text, images and videos: int32 ``[T, 3]`` (t, h, w).

    The same ids as Hugging Face's ``Qwen2VLModel.get_rope_index`` (transformers 5) for that layout: text tokens
    get ``t = h = w`` = a running index; a vision block with patch grid ``(t, h, w)`` contributes
    ``t * (h / m) * (w / m)`` tokens (``m = spatial_merge_size``) at ``(start + i, start + j, start + k)``, and the
    running index then advances by ``max(h, w) / m``. Pure text therefore reduces to 1D positions.

    To convert Hugging Face's ``position_ids [3, B, T]`` to this layout: ``jnp.moveaxis(position_ids, 0, -1)``.
    Padding tokens (outside an attention mask) get position 0 in Hugging Face; stack rows and pad the same way.

    Args:
        segments: ``("text", n_tokens)``, ``("image", (t, h, w))`` or ``("video", (t, h, w))`` in sequence order;
            grids are in patches before merging, as ``image_grid_thw`` / ``video_grid_thw``.
        spatial_merge_size: The vision tower's patch merge size (2 for Qwen2-VL).
    """
    blocks, start = [], 0
    for kind, value in segments:
        if kind == "text":
            n = int(value)
            blocks.append(np.repeat((start + np.arange(n))[:, None], 3, axis=1))
            start += n
        elif kind in ("image", "video"):
            t, h, w = (int(v) for v in value)
            if h % spatial_merge_size or w % spatial_merge_size:
                raise ValueError(
                    f"{kind} grid {(t, h, w)} is not divisible by spatial_merge_size {spatial_merge_size}."
                )
            grid = video_coords(t, h // spatial_merge_size, w // spatial_merge_size)
            blocks.append(grid + start)
            start += max(h, w) // spatial_merge_size
        else:
            raise ValueError(f"segment kind must be 'text', 'image' or 'video', got {kind!r}.")
    return np.concatenate(blocks).astype(np.int32) if blocks else np.zeros((0, 3), np.int32)


# --------------------------------------------------------------------------------------- angles, apply


def _wrap(angles: jax.Array) -> jax.Array:
    two_pi = jnp.float32(2 * math.pi)
    return angles - two_pi * jnp.round(angles / two_pi)


def nd_angles(coords, freqs, *, precise: bool = False) -> jax.Array:
    """Angles ``sum_a coords[..., a] * freqs[..., a, :]``.

    Args:
        coords: ``[..., T, A]`` coordinates (int or float).
        freqs: ``[A, P]`` shared or ``[N, A, P]`` per-head frequencies.
        precise: Exact reduction modulo 2 pi per axis (shared frequencies only); see :func:`rope_jax.rope_angles`.

    Returns:
        ``[..., T, P]`` (shared) or ``[..., T, N, P]`` (per head) float32. The sum runs in float32 elementwise
        (no matmul precision modes), so a matrix with one non-zero per pair reproduces 1D rounding exactly.
    """
    coords = jnp.asarray(coords)
    freqs = jnp.asarray(freqs, jnp.float32)
    num_axes = freqs.shape[-2]
    if precise:
        if freqs.ndim != 2:
            raise ValueError("precise angles support shared [A, P] frequencies, not per-head ones.")
        total = sum(rope_angles(coords[..., a], freqs[a], precise=True) for a in range(num_axes))
        return _wrap(total) if num_axes > 1 else total
    values = coords.astype(jnp.float32)
    if freqs.ndim == 3:  # per head: [..., T, 1, 1] * [N, P] summed over axes -> [..., T, N, P]
        return sum(values[..., a, None, None] * freqs[:, a, :] for a in range(num_axes))
    return sum(values[..., a, None] * freqs[a] for a in range(num_axes))


def _check_nd(x, coords, freqs) -> tuple[jax.Array, jax.Array, jax.Array]:
    x = _check_x(x)
    coords = jnp.asarray(coords)
    freqs = jnp.asarray(freqs)
    if freqs.ndim not in (2, 3):
        raise ValueError(f"freqs must be [A, P] or per-head [N, A, P], got shape {freqs.shape}.")
    if coords.ndim < 2 or coords.shape[-1] != freqs.shape[-2]:
        raise ValueError(
            f"coords must have shape [..., T, A] with A = {freqs.shape[-2]} axes (freqs shape {freqs.shape}), "
            f"got shape {coords.shape}."
        )
    _check_positions(coords[..., 0], x.shape, name="coords")
    if freqs.ndim == 3 and freqs.shape[0] != x.shape[-2]:
        raise ValueError(f"per-head freqs have {freqs.shape[0]} heads but x has {x.shape[-2]} (x shape {x.shape}).")
    if 2 * freqs.shape[-1] > x.shape[-1]:
        raise ValueError(f"freqs rotate {2 * freqs.shape[-1]} features but x has head dim {x.shape[-1]}.")
    return x, coords, freqs


def apply_rope_nd(
    x,
    coords,
    *,
    freqs=None,
    theta: float = 100.0,
    interleaved: bool = False,
    rotary_dim: int | None = None,
    attention_scaling: float = 1.0,
    precise_angles: bool = False,
) -> jax.Array:
    """Rotate ``x [..., T, N, H]`` at N-D ``coords [..., T, A]``.

    Args:
        x: Queries or keys.
        coords: Coordinates per token (row/column, t/h/w), int or float.
        freqs: ``[A, rotary_dim // 2]`` (e.g. :func:`mrope_frequencies`) or per-head ``[N, A, rotary_dim // 2]``
            (RoPE-Mixed). Default: :func:`axial_frequencies` with ``theta`` over ``rotary_dim``.
        theta: Base of the default axial ladders.
        interleaved: Pair layout.
        rotary_dim: Rotated features (default: head dim; taken from ``freqs`` when given).
        attention_scaling: Multiplies cos and sin.
        precise_angles: Exact angle reduction (shared frequencies only).

    Returns:
        Same shape and dtype as ``x``.
    """
    if freqs is None:
        rotary_dim = _resolve_rotary_dim(rotary_dim, jnp.shape(x)[-1])
        freqs = axial_frequencies(rotary_dim, jnp.shape(coords)[-1], theta=theta)
    elif rotary_dim is not None and 2 * jnp.shape(freqs)[-1] != rotary_dim:
        raise ValueError(f"rotary_dim {rotary_dim} disagrees with freqs of {jnp.shape(freqs)[-1]} pairs.")
    x, coords, freqs = _check_nd(x, coords, freqs)
    cos, sin = _cos_sin(nd_angles(coords, freqs, precise=precise_angles), attention_scaling)
    return rotate(x, cos, sin, interleaved=interleaved, per_head=freqs.ndim == 3)


@dataclasses.dataclass(frozen=True)
class RoPENd:
    """An immutable N-D RoPE: a fixed frequency matrix ``[A, P]``, layout and attention scaling.

    Build it with :meth:`axial` or :meth:`mrope` (or :func:`rope_jax.from_hf_config` for Qwen2-VL / Qwen3-VL).
    Call it with coordinates ``[..., T, A]``; 1D positions ``[..., T]`` are used on every axis (t = h = w), so
    M-RoPE on pure text is exactly 1D RoPE.

    Attributes:
        head_dim: Features per head.
        freqs: ``A`` rows of ``P`` float32 frequencies (tuples, so the object is hashable).
        interleaved: Pair layout.
        attention_scaling: Factor on cos and sin.
        precise_angles: Exact angle reduction.
        name: What built it (``"axial"``, ``"mrope"``, ``"mrope-interleaved"``...).
    """

    head_dim: int
    freqs: tuple[tuple[float, ...], ...]
    interleaved: bool = False
    attention_scaling: float = 1.0
    precise_angles: bool = False
    name: str = "nd"

    def __post_init__(self):
        freqs = np.asarray(self.freqs, np.float32)
        if freqs.ndim != 2:
            raise ValueError(f"freqs must be a [A, P] matrix, got shape {freqs.shape}.")
        object.__setattr__(self, "freqs", tuple(tuple(float(v) for v in row) for row in freqs))
        if 2 * freqs.shape[1] > self.head_dim:
            raise ValueError(f"freqs rotate {2 * freqs.shape[1]} features but head_dim is {self.head_dim}.")
        _check_positive_finite("attention_scaling", self.attention_scaling)

    @property
    def frequency_matrix(self) -> np.ndarray:
        return np.asarray(self.freqs, np.float32)

    @property
    def num_axes(self) -> int:
        return len(self.freqs)

    @property
    def rotary_dim(self) -> int:
        return 2 * len(self.freqs[0])

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
        """Axial RoPE over ``num_axes`` (2: rows/columns, 3: t/h/w video)."""
        rotary_dim = _resolve_rotary_dim(rotary_dim, head_dim)
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

    def _coords(self, coords, length: int | None = None) -> jax.Array:
        """``[..., T, A]`` as given, or 1D positions ``[..., T]`` repeated on every axis (t = h = w)."""
        coords = jnp.asarray(coords)
        is_nd = coords.ndim >= 2 and coords.shape[-1] == self.num_axes
        if length is not None:  # the caller knows T: [..., T, A] must have T at -2
            is_nd = is_nd and coords.shape[-2] == length
        return coords if is_nd else jnp.repeat(coords[..., None], self.num_axes, axis=-1)

    def cos_sin(self, coords) -> tuple[jax.Array, jax.Array]:
        """cos and sin ``[..., T, P]`` for ``coords [..., T, A]``, scaling included.

        A last axis of size A is read as coordinates; pass 1D positions through ``__call__`` (which knows T)
        when ``T == A`` could be ambiguous.
        """
        angles = nd_angles(self._coords(coords), self.frequency_matrix, precise=self.precise_angles)
        return _cos_sin(angles, self.attention_scaling)

    def __call__(self, x, coords) -> jax.Array:
        """Rotate ``x [..., T, N, head_dim]`` at ``coords [..., T, A]`` (or 1D positions ``[..., T]``)."""
        x = _check_x(x)
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"x has head dim {x.shape[-1]} but this RoPE was built for head_dim={self.head_dim}.")
        x, coords, _ = _check_nd(x, self._coords(coords, length=x.shape[-3]), self.frequency_matrix)
        cos, sin = self.cos_sin(coords)
        return rotate(x, cos, sin, interleaved=self.interleaved)
