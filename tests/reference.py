"""Independent float64 NumPy reference for RoPE (written from the formula, not from the library)."""

import numpy as np


def inv_freq_float64(rotary_dim: int, theta: float) -> np.ndarray:
    return theta ** (-np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)


def rope_float64(x, positions, inv_freq, *, interleaved=False, rotary_dim=None, scaling=1.0) -> np.ndarray:
    """x [..., T, N, H], positions [..., T], inv_freq [P] -> float64 rotated x (pairs rotated, rest untouched)."""
    x = np.asarray(x, np.float64)
    rotary_dim = x.shape[-1] if rotary_dim is None else rotary_dim
    inv_freq = np.asarray(inv_freq, np.float64)
    angles = np.asarray(positions, np.float64)[..., None, None] * inv_freq  # [..., T, 1, P]
    cos, sin = np.cos(angles) * scaling, np.sin(angles) * scaling
    out = x.copy()
    pairs = rotary_dim // 2
    if interleaved:
        first, second = np.arange(0, rotary_dim, 2), np.arange(1, rotary_dim, 2)
    else:
        first, second = np.arange(pairs), np.arange(pairs, rotary_dim)
    x1, x2 = x[..., first], x[..., second]
    out[..., first] = x1 * cos - x2 * sin
    out[..., second] = x2 * cos + x1 * sin
    return out


def dynamic_ntk_float32_chain(length, *, rotary_dim, theta, factor, max_position_embeddings) -> np.ndarray:
    """Hugging Face's dynamic-NTK frequencies for one length, rounded as torch rounds them (host, NumPy).

    torch evaluates ``ratio ** (d / (d - 2))`` as ``std::pow(float, double)`` and the per-pair powers as float32
    ``pow``; both are taken here in float64 and rounded once; everything else is float32.
    """
    f32 = np.float32
    grown = f32(max(int(length), max_position_embeddings))
    ratio = (f32(factor) * grown) / f32(max_position_embeddings) - f32(factor - 1)
    base = f32(theta) * f32(np.float64(ratio) ** (rotary_dim / (rotary_dim - 2)))
    exponents = np.arange(0, rotary_dim, 2, dtype=f32) / f32(rotary_dim)
    powers = (np.float64(base) ** exponents.astype(np.float64)).astype(f32)
    return f32(1) / powers
