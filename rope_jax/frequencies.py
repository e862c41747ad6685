"""Inverse frequencies for every RoPE scaling rule.

Each rule is a pure function returning ``(inv_freq, attention_scaling)``: ``inv_freq`` is a float32 vector of
``rotary_dim // 2`` angular frequencies (radians per position, one per rotated pair) and ``attention_scaling``
is the factor Hugging Face multiplies into cos and sin (YaRN's mscale, LongRoPE's factor; 1.0 elsewhere).

Float32 fidelity. Checkpoints ported from Hugging Face were run with frequencies computed by float32 torch
operations, and at positions past ~10k a one-ulp difference in a high frequency already moves the angle by
1e-4 rad. So the static rules below replay Hugging Face's float32 operation order step by step on the host
(NumPy): float32 exponents ``f32(2i) / f32(d)``, torch's ``c / t == reciprocal(t) * c`` for a Python scalar
divided by a tensor, float32 comparisons. Every step is correctly rounded; ``pow`` is taken in float64 on the
float32 operands and rounded once. That reproduces torch whenever torch's own ``pow`` is correctly rounded
(glibc's, which torch uses with ``ATEN_CPU_CAPABILITY=default``); torch's AVX2/AVX-512 builds use Sleef's
vectorised ``pow``, which is off by one ulp for ~1.5% of frequencies (see README, "Exactness").

Length-dependent rules (dynamic NTK, LongRoPE) take ``length``, the current sequence length
(``max(positions) + 1`` in Hugging Face), which may be a traced value: the choice happens on device with
``jnp.where``, without Python state or retracing.

References:
    Su et al. 2021 (RoFormer); kaiokendev 2023 (linear / position interpolation); bloc97 2023 (NTK-aware,
    dynamic NTK by emozilla); Peng et al. 2023 (YaRN, arXiv:2309.00071); Meta 2024 (Llama 3.1 scaling);
    Ding et al. 2024 (LongRoPE, arXiv:2402.13753); Gemma 4 "proportional" RoPE (Hugging Face transformers).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from rope_jax._doublefloat import pow_f32, scaled_integer_f32, split_constant

__all__ = [
    "NTK",
    "Default",
    "DynamicNTK",
    "Linear",
    "Llama3",
    "LongRoPE",
    "Proportional",
    "Scaling",
    "YaRN",
    "default_frequencies",
    "dynamic_ntk_frequencies",
    "linear_frequencies",
    "llama3_frequencies",
    "longrope_frequencies",
    "ntk_frequencies",
    "proportional_frequencies",
    "yarn_frequencies",
]

_f32 = np.float32
_ONE = np.float32(1.0)


# --------------------------------------------------------------------------------------------- validation


def _check_rotary_dim(rotary_dim: int, *, minimum: int = 2) -> None:
    if isinstance(rotary_dim, bool) or not isinstance(rotary_dim, (int, np.integer)):
        raise TypeError(f"rotary_dim must be an int, got {type(rotary_dim).__name__} {rotary_dim!r}.")
    if rotary_dim < minimum or rotary_dim % 2:
        raise ValueError(
            f"rotary_dim must be an even number >= {minimum} (features are rotated in pairs), got {rotary_dim}."
        )


def _check_positive_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")


def _check_factor(name: str, value: float) -> None:
    _check_positive_finite(name, value)
    if value < 1:
        raise ValueError(
            f"{name} must be >= 1 (it stretches the context by that factor), got {value!r}. "
            "A factor below 1 would compress positions, which no published rule does."
        )


def _check_length(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


# ------------------------------------------------------------------------------ float32 building blocks


def _exponents(rotary_dim: int, denominator: int | None = None) -> np.ndarray:
    """``f32(2i) / f32(d)`` for the pairs of ``rotary_dim``: torch's ``arange(0, d, 2).float() / d``."""
    return np.arange(0, rotary_dim, 2, dtype=_f32) / _f32(denominator or rotary_dim)


def _pow(base: float, exponents: np.ndarray) -> np.ndarray:
    """Correctly rounded float32 ``f32(base) ** exponents`` (float64 power of the float32 operands)."""
    return np.power(np.float64(_f32(base)), exponents.astype(np.float64)).astype(_f32)


def _reciprocal(values: np.ndarray) -> np.ndarray:
    return _ONE / values


def _base_frequencies(rotary_dim: int, theta: float) -> np.ndarray:
    """``1 / theta ** (2i / d)`` exactly as Hugging Face's float32 default initialisation rounds it."""
    return _reciprocal(_pow(theta, _exponents(rotary_dim)))


def _as_length(length) -> jax.Array:
    return jnp.asarray(length, dtype=jnp.int32)


# ------------------------------------------------------------------------------------------------ rules


def default_frequencies(rotary_dim: int, *, theta: float = 10000.0) -> tuple[np.ndarray, float]:
    """The original RoPE frequencies ``theta ** (-2i / rotary_dim)``.

    Args:
        rotary_dim: Number of rotated features (even); there are ``rotary_dim // 2`` pairs.
        theta: The base (``rope_theta``).

    Returns:
        ``(inv_freq, 1.0)`` with ``inv_freq`` float32 ``[rotary_dim // 2]``.

    Example:
        >>> default_frequencies(4, theta=10000.0)[0]
        array([1.  , 0.01], dtype=float32)
    """
    _check_rotary_dim(rotary_dim)
    _check_positive_finite("theta", theta)
    return _base_frequencies(rotary_dim, theta), 1.0


def linear_frequencies(rotary_dim: int, *, theta: float, factor: float) -> tuple[np.ndarray, float]:
    """Linear scaling / position interpolation (kaiokendev; Chen et al. 2023): every frequency / ``factor``.

    Equivalent to dividing positions by ``factor``. Returns ``(inv_freq [rotary_dim // 2], 1.0)``.
    """
    _check_rotary_dim(rotary_dim)
    _check_positive_finite("theta", theta)
    _check_factor("factor", factor)
    return _base_frequencies(rotary_dim, theta) / _f32(factor), 1.0


def ntk_frequencies(rotary_dim: int, *, theta: float, factor: float) -> tuple[np.ndarray, float]:
    """Static NTK-aware scaling (bloc97): the base becomes ``theta * factor ** (d / (d - 2))``.

    High frequencies stay (nearly) untouched, the lowest one is divided by ``factor``. Hugging Face has no
    static NTK type (its "dynamic" type applies this formula with a length-dependent factor); checkpoints such
    as Code Llama simply ship the enlarged ``rope_theta``. Returns ``(inv_freq [rotary_dim // 2], 1.0)``.
    """
    _check_rotary_dim(rotary_dim, minimum=4)
    _check_positive_finite("theta", theta)
    _check_factor("factor", factor)
    return _base_frequencies(rotary_dim, theta * factor ** (rotary_dim / (rotary_dim - 2))), 1.0


def dynamic_ntk_frequencies(
    rotary_dim: int,
    *,
    theta: float,
    factor: float,
    max_position_embeddings: int,
    length=None,
) -> tuple[np.ndarray | jax.Array, float]:
    """Dynamic NTK scaling (emozilla), as Hugging Face's ``"dynamic"`` type on a freshly built module.

    Up to ``max_position_embeddings`` the frequencies are the default ones; beyond, the base grows to
    ``theta * (factor * length / max_position_embeddings - (factor - 1)) ** (d / (d - 2))``. Nothing is cached:
    a shorter sequence after a longer one gets the short-sequence frequencies.

    ``length`` may be traced: everything runs on device in Hugging Face's float32 operation order, with the two
    powers correctly rounded by double-float arithmetic (torch evaluates ``ratio ** (d / (d - 2))`` with a
    float64 exponent); the choice between scaled and default frequencies is a ``jnp.where``.

    Args:
        rotary_dim: Number of rotated features (even, >= 4).
        theta: The base.
        factor: Scaling factor (>= 1).
        max_position_embeddings: The length up to which the default frequencies are used.
        length: Current sequence length (``max(positions) + 1``), int or traced int scalar. ``None`` gives the
            frequencies at the original length.

    Returns:
        ``(inv_freq [rotary_dim // 2], 1.0)``; ``inv_freq`` is a NumPy array when ``length`` is None, else a
        ``jax.Array``.
    """
    _check_rotary_dim(rotary_dim, minimum=4)
    _check_positive_finite("theta", theta)
    _check_factor("factor", factor)
    _check_length("max_position_embeddings", max_position_embeddings)
    original = _base_frequencies(rotary_dim, theta)
    if length is None:
        return original, 1.0
    length = _as_length(length)
    grown = jnp.maximum(length, max_position_embeddings)
    # torch rounds factor * length to float32 before subtracting; XLA may contract a plain multiply into the
    # subtraction (FMA) and skip that rounding, so the product is rounded explicitly (lengths below 2**24).
    product = jnp.where(
        grown < 2**24,
        scaled_integer_f32(jnp.minimum(grown, 2**24 - 1), factor),
        jnp.float32(factor) * grown.astype(jnp.float32),
    )
    ratio = product / jnp.float32(max_position_embeddings) - jnp.float32(factor - 1)
    base = jnp.float32(theta) * pow_f32(ratio, *split_constant(rotary_dim / (rotary_dim - 2)))
    scaled = 1.0 / pow_f32(jnp.broadcast_to(base, original.shape), jnp.asarray(_exponents(rotary_dim)))
    return jnp.where(length > max_position_embeddings, scaled, jnp.asarray(original)), 1.0


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def yarn_frequencies(
    rotary_dim: int,
    *,
    theta: float,
    factor: float,
    original_max_position_embeddings: int,
    beta_fast: float | None = 32.0,
    beta_slow: float | None = 1.0,
    mscale: float | None = None,
    mscale_all_dim: float | None = None,
    attention_factor: float | None = None,
    truncate: bool = True,
) -> tuple[np.ndarray, float]:
    """YaRN (Peng et al. 2023): interpolate low frequencies, keep high ones, ramp in between.

    Pairs that turn fewer than ``beta_slow`` times over the original context are divided by ``factor``; pairs
    that turn more than ``beta_fast`` times are kept; a linear ramp blends the pairs between. With
    ``truncate=False`` (gpt-oss) the ramp bounds are not rounded to whole pairs.

    The attention factor: an explicit ``attention_factor`` wins; else, when both ``mscale`` and
    ``mscale_all_dim`` are set (DeepSeek), ``mscale(factor, mscale) / mscale(factor, mscale_all_dim)``; else
    ``0.1 * ln(factor) + 1``.

    Returns:
        ``(inv_freq [rotary_dim // 2], attention_factor)``.
    """
    _check_rotary_dim(rotary_dim)
    _check_positive_finite("theta", theta)
    _check_factor("factor", factor)
    _check_length("original_max_position_embeddings", original_max_position_embeddings)
    beta_fast = beta_fast or 32.0  # Hugging Face treats a missing or null beta as the paper's default
    beta_slow = beta_slow or 1.0
    _check_positive_finite("beta_fast", beta_fast)
    _check_positive_finite("beta_slow", beta_slow)
    if beta_fast < beta_slow:
        raise ValueError(f"YaRN needs beta_fast >= beta_slow, got beta_fast={beta_fast}, beta_slow={beta_slow}.")
    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = _yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim)
        else:
            attention_factor = _yarn_mscale(factor)
    _check_positive_finite("attention_factor", attention_factor)

    def correction_dim(rotations: float) -> float:
        # The pair index whose wavelength fits `rotations` times into the original context.
        return (rotary_dim * math.log(original_max_position_embeddings / (rotations * 2 * math.pi))) / (
            2 * math.log(theta)
        )

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rotary_dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp, as the reference does

    pos_freqs = _pow(theta, _exponents(rotary_dim))
    extrapolation = _reciprocal(pos_freqs)
    interpolation = _reciprocal(_f32(factor) * pos_freqs)
    ramp = np.clip((np.arange(rotary_dim // 2, dtype=_f32) - _f32(low)) / _f32(high - low), _f32(0), _ONE)
    keep = _ONE - ramp  # 1 where a pair keeps its original (extrapolated) frequency
    inv_freq = interpolation * (_ONE - keep) + extrapolation * keep
    return inv_freq, float(attention_factor)


def llama3_frequencies(
    rotary_dim: int,
    *,
    theta: float,
    factor: float,
    low_freq_factor: float,
    high_freq_factor: float,
    original_max_position_embeddings: int,
) -> tuple[np.ndarray, float]:
    """Llama 3.1 scaling: long wavelengths / ``factor``, short ones kept, a smooth blend between.

    Wavelengths above ``original_max_position_embeddings / low_freq_factor`` are interpolated, those below
    ``original_max_position_embeddings / high_freq_factor`` are kept. Returns ``(inv_freq, 1.0)``.
    """
    _check_rotary_dim(rotary_dim)
    _check_positive_finite("theta", theta)
    _check_factor("factor", factor)
    _check_positive_finite("low_freq_factor", low_freq_factor)
    _check_positive_finite("high_freq_factor", high_freq_factor)
    _check_length("original_max_position_embeddings", original_max_position_embeddings)
    if high_freq_factor <= low_freq_factor:
        raise ValueError(
            "Llama 3 scaling needs high_freq_factor > low_freq_factor, "
            f"got high_freq_factor={high_freq_factor}, low_freq_factor={low_freq_factor}."
        )
    inv_freq = _base_frequencies(rotary_dim, theta)
    old_context = original_max_position_embeddings
    low_freq_wavelen = _f32(old_context / low_freq_factor)
    high_freq_wavelen = _f32(old_context / high_freq_factor)
    wavelen = _reciprocal(inv_freq) * _f32(2 * math.pi)  # torch: `2 * math.pi / inv_freq`
    scaled = np.where(wavelen > low_freq_wavelen, inv_freq / _f32(factor), inv_freq)
    smooth = (_reciprocal(wavelen) * _f32(old_context) - _f32(low_freq_factor)) / _f32(
        high_freq_factor - low_freq_factor
    )
    smoothed = (_ONE - smooth) * scaled / _f32(factor) + smooth * scaled
    is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(is_medium, smoothed, scaled).astype(_f32), 1.0


def longrope_frequencies(
    rotary_dim: int,
    *,
    theta: float,
    short_factor: Sequence[float],
    long_factor: Sequence[float],
    original_max_position_embeddings: int,
    factor: float,
    attention_factor: float | None = None,
    length=None,
) -> tuple[np.ndarray | jax.Array, float]:
    """LongRoPE (Phi-3/3.5): per-pair rescale factors, "short" up to the original length, "long" beyond.

    The choice is made from ``length`` (``max(positions) + 1``) like Hugging Face's module does, on device, so
    a traced length works. The attention factor defaults to ``sqrt(1 + ln(factor) / ln(original))``.

    Args:
        rotary_dim: Number of rotated features.
        theta: The base.
        short_factor: ``rotary_dim // 2`` divisors used while ``length <= original_max_position_embeddings``.
        long_factor: ``rotary_dim // 2`` divisors used beyond.
        original_max_position_embeddings: The pre-training context length.
        factor: Context extension factor (``max_position_embeddings / original`` when a config omits it).
        attention_factor: Explicit attention factor, overriding the default.
        length: Current sequence length; ``None`` gives the short (original-length) frequencies.

    Returns:
        ``(inv_freq [rotary_dim // 2], attention_factor)``.
    """
    _check_rotary_dim(rotary_dim)
    _check_positive_finite("theta", theta)
    _check_factor("factor", factor)
    _check_length("original_max_position_embeddings", original_max_position_embeddings)
    pairs = rotary_dim // 2
    for name, values in (("short_factor", short_factor), ("long_factor", long_factor)):
        if len(values) != pairs:
            raise ValueError(f"LongRoPE {name} must have rotary_dim // 2 = {pairs} entries, got {len(values)}.")
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"LongRoPE {name} entries must be finite and > 0, got {list(values)}.")
    if attention_factor is None:
        attention_factor = (
            1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original_max_position_embeddings))
        )
    _check_positive_finite("attention_factor", attention_factor)
    pos_freqs = _pow(theta, _exponents(rotary_dim))
    short = _reciprocal(np.asarray(short_factor, dtype=_f32) * pos_freqs)
    if length is None:
        return short, float(attention_factor)
    long = _reciprocal(np.asarray(long_factor, dtype=_f32) * pos_freqs)
    chosen = jnp.where(_as_length(length) > original_max_position_embeddings, long, short)
    return chosen, float(attention_factor)


def proportional_frequencies(
    head_dim: int, *, theta: float, partial_rotary_factor: float = 1.0, factor: float = 1.0
) -> tuple[np.ndarray, float]:
    """Proportional RoPE (p-RoPE, Gemma 4): the first pairs rotate, the rest get frequency zero.

    Unlike GPT-NeoX-style partial rotary, the exponent uses the whole ``head_dim`` and the rotation covers the
    whole head (half-split pairs ``(i, i + head_dim / 2)``); only ``int(partial_rotary_factor * head_dim // 2)``
    pairs get a non-zero frequency.

    Returns:
        ``(inv_freq [head_dim // 2], 1.0)``.
    """
    _check_rotary_dim(head_dim)
    _check_positive_finite("theta", theta)
    _check_factor("factor", factor)
    if not 0.0 <= partial_rotary_factor <= 1.0:
        raise ValueError(f"partial_rotary_factor must lie in [0, 1], got {partial_rotary_factor!r}.")
    rotated_pairs = int(partial_rotary_factor * head_dim // 2)
    rotated = _reciprocal(_pow(theta, _exponents(2 * rotated_pairs, denominator=head_dim)))
    inv_freq = np.concatenate([rotated, np.zeros(head_dim // 2 - rotated_pairs, dtype=_f32)])
    return inv_freq / _f32(factor), 1.0


# ----------------------------------------------------------------------------------- typed rule objects


class Scaling:
    """A frequency rule, hashable so that a :class:`~rope_jax.RoPE` holding it can be a static jit argument.

    Subclasses are frozen dataclasses whose fields are the rule's hyperparameters and whose ``rule`` is the pure
    function they configure; ``frequencies`` forwards the fields (and the length, for length-dependent rules).
    """

    rope_type: ClassVar[str]
    length_dependent: ClassVar[bool] = False
    rule: ClassVar[Callable[..., tuple[np.ndarray | jax.Array, float]]]

    def frequencies(self, rotary_dim: int, theta: float, length=None) -> tuple[np.ndarray | jax.Array, float]:
        """``(inv_freq [rotary_dim // 2], attention_scaling)``; ``length`` matters to length-dependent rules."""
        extra = {"length": length} if self.length_dependent else {}
        return type(self).rule(rotary_dim, theta=theta, **_fields(self), **extra)


def _fields(rule) -> dict:
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule)}


@dataclasses.dataclass(frozen=True)
class Default(Scaling):
    """No scaling: ``theta ** (-2i / rotary_dim)``."""

    rope_type: ClassVar[str] = "default"
    rule: ClassVar = staticmethod(default_frequencies)


@dataclasses.dataclass(frozen=True)
class Linear(Scaling):
    """Linear scaling / position interpolation: see :func:`linear_frequencies`."""

    factor: float
    rope_type: ClassVar[str] = "linear"
    rule: ClassVar = staticmethod(linear_frequencies)


@dataclasses.dataclass(frozen=True)
class NTK(Scaling):
    """Static NTK-aware base change: see :func:`ntk_frequencies`."""

    factor: float
    rope_type: ClassVar[str] = "ntk"
    rule: ClassVar = staticmethod(ntk_frequencies)


@dataclasses.dataclass(frozen=True)
class DynamicNTK(Scaling):
    """Dynamic NTK scaling decided from the current length: see :func:`dynamic_ntk_frequencies`."""

    factor: float
    max_position_embeddings: int
    rope_type: ClassVar[str] = "dynamic"
    rule: ClassVar = staticmethod(dynamic_ntk_frequencies)
    length_dependent: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True)
class YaRN(Scaling):
    """YaRN: see :func:`yarn_frequencies`."""

    factor: float
    original_max_position_embeddings: int
    beta_fast: float | None = 32.0
    beta_slow: float | None = 1.0
    mscale: float | None = None
    mscale_all_dim: float | None = None
    attention_factor: float | None = None
    truncate: bool = True
    rope_type: ClassVar[str] = "yarn"
    rule: ClassVar = staticmethod(yarn_frequencies)


@dataclasses.dataclass(frozen=True)
class Llama3(Scaling):
    """Llama 3.1 scaling: see :func:`llama3_frequencies`."""

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int
    rope_type: ClassVar[str] = "llama3"
    rule: ClassVar = staticmethod(llama3_frequencies)


@dataclasses.dataclass(frozen=True)
class LongRoPE(Scaling):
    """LongRoPE short/long factors, chosen from the current length: see :func:`longrope_frequencies`."""

    short_factor: tuple[float, ...]
    long_factor: tuple[float, ...]
    original_max_position_embeddings: int
    factor: float
    attention_factor: float | None = None
    rope_type: ClassVar[str] = "longrope"
    rule: ClassVar = staticmethod(longrope_frequencies)
    length_dependent: ClassVar[bool] = True

    def __post_init__(self):
        # Tuples keep the rule hashable when a config hands over lists.
        object.__setattr__(self, "short_factor", tuple(float(v) for v in self.short_factor))
        object.__setattr__(self, "long_factor", tuple(float(v) for v in self.long_factor))


@dataclasses.dataclass(frozen=True)
class Proportional(Scaling):
    """Proportional RoPE (Gemma 4): see :func:`proportional_frequencies`; rotates the whole head."""

    partial_rotary_factor: float = 1.0
    factor: float = 1.0
    rope_type: ClassVar[str] = "proportional"
    rule: ClassVar = staticmethod(proportional_frequencies)
