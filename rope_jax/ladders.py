"""Frequency ladders of image and video diffusion transformers, each in the arithmetic its reference uses.

A diffusion transformer's RoPE is a frequency matrix ``[A, P]`` built from one ladder per axis (time, height,
width, or a text axis) and a layout (:func:`rope_jax.layout_frequencies`). The ladders differ by rule and by
the arithmetic they are computed in, and the last bit matters at real sizes (an angle of 500 rad moves by
3e-5 rad per float32 ulp of its frequency):

- :func:`pow_ladder`: ``1 / theta ** (2i / d)``, with diffusers' NTK and linear factors, in float32 (torch's
  float32 operation order) or float64 (what diffusers uses on CPU and CUDA for FLUX, Wan, HiDream...);
- :func:`axes_frequencies`: the whole matrix from per-axis feature counts and per-axis theta (uneven blocks
  such as FLUX's 16/56/56, or pairs alternating between the axes);
- :func:`linspace_ladder`: LTX-Video's ``pi / 2 * theta ** linspace(0, 1, n)``;
- :func:`exp_ladder`: Kandinsky 5's ``exp(-ln(max_period) * i / n)``.

Float32 ladders replay torch's operations on the host: ``linspace`` with torch's CPU formula, ``pow`` and ``exp``
through the C library's ``powf`` and ``expf`` (what torch's scalar CPU kernel calls: glibc's are within one ulp
but not always correctly rounded; LTX-Video's 341-value ladder has one such value, and one ulp there moves an
angle by 5e-6 rad), the other steps correctly rounded. Float64 ladders are returned as float64 arrays for
``RoPENd(..., exact_frequencies=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rope_jax import _checks
from rope_jax._exact import c_expf, c_powf, linspace, pair_exponents
from rope_jax.nd import layout_frequencies

__all__ = ["axes_frequencies", "exp_ladder", "linspace_ladder", "pow_ladder"]


def pow_ladder(
    dim: int, *, theta: float, float64: bool = False, ntk_factor: float = 1.0, linear_factor: float = 1.0
) -> np.ndarray:
    """``1 / (theta * ntk_factor) ** (2i / dim) / linear_factor`` for the ``dim // 2`` pairs of ``dim`` features.

    The rule of diffusers' ``get_1d_rotary_pos_embed`` (and of every ``1.0 / theta ** (arange(0, d, 2) / d)``):
    in float32 it rounds as torch's float32 operations do (the C library's ``powf``); with ``float64`` as torch's
    float64 ones (``pow`` of the correctly rounded exponent ``2i / dim``).

    Returns:
        ``[dim // 2]`` float32, or float64 with ``float64=True``.

    Example:
        >>> from rope_jax import pow_ladder
        >>> pow_ladder(4, theta=10000.0).tolist()
        [1.0, 0.009999999776482582]
        >>> pow_ladder(4, theta=10000.0, float64=True).tolist()
        [1.0, 0.01]
    """
    dim = _checks.even_int("dim", dim)
    base = _checks.positive("theta", theta) * _checks.positive("ntk_factor", ntk_factor)
    linear_factor = _checks.positive("linear_factor", linear_factor)
    if _checks.boolean("float64", float64):
        return np.asarray([1.0 / math.pow(base, (2 * i) / dim) / linear_factor for i in range(dim // 2)])
    inv_freq = np.float32(1.0) / c_powf(base, pair_exponents(dim))  # torch's powf, not the rounded power
    return inv_freq / np.float32(linear_factor) if linear_factor != 1.0 else inv_freq


def axes_frequencies(
    axes_dims: Sequence[int],
    *,
    theta: float | Sequence[float] = 10000.0,
    arrangement: str = "blocks",
    order: Sequence[int] | None = None,
    float64: bool = False,
) -> np.ndarray:
    """The frequency matrix of a per-axis RoPE: axis ``a`` rotates ``axes_dims[a]`` features with its own ladder.

    ``pow_ladder(axes_dims[a], theta=theta[a])`` per axis, laid out by :func:`rope_jax.layout_frequencies`:
    ``"blocks"`` (FLUX's 16/56/56 time/height/width, Wan's 44/42/42, HunyuanVideo, Qwen-Image...; with
    interleaved pairs each block rotates adjacent features, with half-split pairs the blocks repeat over the two
    halves as ``cat([t, h, w] * 2)`` does) or ``"alternate"`` (pair ``j`` follows axis ``order[j % A]``: Lumina-Next).

    Args:
        axes_dims: Features per axis (each even).
        theta: One base for every axis, or one per axis (Cosmos's NTK-scaled bases).
        arrangement: ``"blocks"`` or ``"alternate"``.
        order: Axis order of the pairs (default ``0, 1, ...``).
        float64: Float64 ladders (for ``RoPENd(..., exact_frequencies=True)``).

    Returns:
        ``[A, sum(axes_dims) // 2]`` float32 (float64 with ``float64=True``).

    Example:
        >>> import rope_jax
        >>> freqs = rope_jax.axes_frequencies([16, 56, 56], theta=10000.0, float64=True)   # FLUX.1
        >>> freqs.shape, freqs.dtype
        ((3, 64), dtype('float64'))
    """
    axes_dims = [_checks.even_int("axes_dims entry", d) for d in _checks.sequence("axes_dims", axes_dims)]
    if isinstance(theta, (int, float, np.integer, np.floating)):
        thetas: Sequence[float] = [float(theta)] * len(axes_dims)
    else:
        thetas = _checks.positive_numbers("theta", theta, length=len(axes_dims))
    ladders = [pow_ladder(d, theta=t, float64=float64) for d, t in zip(axes_dims, thetas, strict=True)]
    return layout_frequencies(
        ladders, order=order, arrangement=arrangement, dtype=np.float64 if float64 else np.float32
    )


def linspace_ladder(count: int, *, theta: float, float64: bool = False) -> np.ndarray:
    """LTX-Video's ladder ``pi / 2 * theta ** linspace(0, 1, count)``: ``count`` frequencies from ``pi / 2`` to
    ``theta * pi / 2``, geometrically spaced.

    LTX-Video computes it in float32 (torch's ``linspace``, a float32 ``pow``, then ``* pi`` and ``/ 2``); LTX-2
    (``float64=True``) in float64 before rounding the result to float32.

    Returns:
        ``[count]`` float32.

    Example:
        >>> from rope_jax import linspace_ladder
        >>> [round(float(v), 4) for v in linspace_ladder(3, theta=100.0)]
        [1.5708, 15.708, 157.0796]
    """
    count = _checks.positive_int("count", count)
    theta = _checks.positive("theta", theta)
    if _checks.boolean("float64", float64):
        exponents = linspace(0.0, 1.0, count, np.float64)
        return np.asarray([math.pow(theta, e) * math.pi / 2.0 for e in exponents.tolist()], np.float32)
    powers = c_powf(theta, linspace(0.0, 1.0, count, np.float32))
    return (powers * np.float32(math.pi)) / np.float32(2.0)


def exp_ladder(count: int, *, max_period: float = 10000.0) -> np.ndarray:
    """Kandinsky 5's ladder ``exp(-ln(max_period) * i / count)`` for ``i < count``, in float32 as torch computes it.

    Mathematically the default ladder of ``2 * count`` features; its float32 rounding differs.

    Returns:
        ``[count]`` float32.

    Example:
        >>> from rope_jax import exp_ladder
        >>> exp_ladder(2, max_period=10000.0).tolist()
        [1.0, 0.009999999776482582]
    """
    count = _checks.positive_int("count", count)
    max_period = _checks.positive("max_period", max_period)
    arguments = np.float32(-math.log(max_period)) * np.arange(count, dtype=np.float32) / np.float32(count)
    return c_expf(arguments)
