"""Inverse frequencies for every RoPE scaling rule.

Each rule is one hashable frozen dataclass (a :class:`Scaling`) whose fields are the rule's hyperparameters,
checked when it is constructed. ``rule.frequencies(rotary_dim, theta=...)`` returns
``(inv_freq, attention_scaling)``: ``inv_freq`` is a float32 vector of ``rotary_dim // 2`` angular frequencies
(radians per position, one per rotated pair) and ``attention_scaling`` is the factor Hugging Face multiplies
into cos and sin (YaRN's mscale, LongRoPE's factor; 1.0 elsewhere). :data:`SCALING_RULES` maps each
``rope_type`` to its class; the Hugging Face loader, the command line and the documentation read it.

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
import types
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rope_jax import _checks
from rope_jax._exact import pair_exponents, pow_f32, rounded_powf, scaled_integer_f32, split_constant

__all__ = [
    "NTK",
    "SCALING_RULES",
    "Default",
    "DynamicNTK",
    "Linear",
    "Llama3",
    "LongRoPE",
    "Proportional",
    "Scaling",
    "YaRN",
]

_f32 = np.float32
_ONE = np.float32(1.0)

Frequencies = tuple[np.ndarray | jax.Array, float]
"""``(inv_freq [rotary_dim // 2] float32, attention_scaling)``."""


# ------------------------------------------------------------------------------ float32 building blocks


def _reciprocal(values: np.ndarray) -> np.ndarray:
    return _ONE / values


def _base_frequencies(rotary_dim: int, theta: float) -> np.ndarray:
    """``1 / theta ** (2i / d)`` exactly as Hugging Face's float32 default initialisation rounds it."""
    return _reciprocal(rounded_powf(theta, pair_exponents(rotary_dim)))


def _as_length(length: ArrayLike) -> jax.Array:
    return jnp.asarray(length, dtype=jnp.int32)


# --------------------------------------------------------------------------------------------- the base

_RuleT = TypeVar("_RuleT", bound="Scaling")
_REGISTRY: dict[str, type[Scaling]] = {}


class Scaling:
    """A frequency rule: hashable, so that a :class:`~rope_jax.RoPE` holding it can be a static jit argument.

    Subclasses are frozen dataclasses whose fields are the rule's hyperparameters (named as in Hugging Face's
    ``rope_parameters``), checked in ``__post_init__``. They implement ``_frequencies``; :meth:`frequencies`
    checks the shared arguments first. A subclass joins :data:`SCALING_RULES` with the :func:`register`
    decorator, which is all the loader and the command line need to know about it.
    """

    rope_type: ClassVar[str]
    length_dependent: ClassVar[bool] = False
    """Whether the frequencies depend on the current sequence length (then ``length`` matters)."""
    min_rotary_dim: ClassVar[int] = 2
    hugging_face: ClassVar[bool] = True
    """Whether Hugging Face configs name this ``rope_type`` (static NTK is rope_jax's own)."""

    def frequencies(self, rotary_dim: int, *, theta: float, length: ArrayLike | None = None) -> Frequencies:
        """The rule's frequencies and attention scaling.

        Args:
            rotary_dim: Rotated features (even); there are ``rotary_dim // 2`` pairs.
            theta: The base (``rope_theta``).
            length: Current sequence length, for length-dependent rules (int or traced int scalar); ``None``
                gives the frequencies at the original length. Ignored by the other rules.

        Returns:
            ``(inv_freq, attention_scaling)``: ``inv_freq`` float32 ``[rotary_dim // 2]`` (a NumPy array, or a
            ``jax.Array`` when a length-dependent rule gets a ``length``).
        """
        rotary_dim = _checks.even_int("rotary_dim", rotary_dim, minimum=self.min_rotary_dim)
        theta = _checks.positive("theta", theta)
        if length is not None:
            length = _checks.length("length", length)
        return self._frequencies(rotary_dim, theta, length)

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        raise NotImplementedError

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @classmethod
    def from_hf(cls: type[_RuleT], params: Mapping[str, Any], config: Mapping[str, Any]) -> _RuleT:
        """The rule described by a Hugging Face RoPE parameter dict.

        Fields are read from ``params`` by name (``null`` counts as missing); :meth:`_hf_derived` supplies the
        values Hugging Face takes from elsewhere in the model config.

        Args:
            params: The flat RoPE dict of one layer type (``rope_parameters`` or legacy ``rope_scaling``).
            config: The whole (text) model config.

        Raises:
            TypeError: ``params`` or ``config`` is not a mapping, or a field has the wrong type.
            ValueError: a required field is missing or out of its range.
        """
        for name, value in (("params", params), ("config", config)):
            if not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a mapping (a config dict), got {_checks.describe(value)}.")
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        values = {f.name: params[f.name] for f in fields if params.get(f.name) is not None}
        values.update(cls._hf_derived(params, config))
        required = [
            f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if values.get(name) is None]
        if missing:
            raise ValueError(
                f"rope type {cls.rope_type!r} requires {required}; missing {missing} (received keys: {sorted(params)})."
            )
        return cls(**values)

    @classmethod
    def _hf_derived(cls, params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        """Field values Hugging Face derives from the model config rather than reading from ``params``."""
        return {}


def register(cls: type[_RuleT]) -> type[_RuleT]:
    """Class decorator: add a :class:`Scaling` subclass to :data:`SCALING_RULES` under its ``rope_type``."""
    if cls.rope_type in _REGISTRY:
        raise ValueError(f"rope type {cls.rope_type!r} is registered already, by {_REGISTRY[cls.rope_type]}.")
    _REGISTRY[cls.rope_type] = cls
    return cls


SCALING_RULES: Mapping[str, type[Scaling]] = types.MappingProxyType(_REGISTRY)
"""Every rule by its ``rope_type`` (read-only): what ``from_hf_config``, ``rope-jax inspect`` and the docs use."""


def _original_length(params: Mapping[str, Any], config: Mapping[str, Any], rope_type: str) -> int:
    """The pre-training length, where Hugging Face reads it: a top-level ``original_max_position_embeddings``
    (Phi-3) wins, then the RoPE dict, then the model's ``max_position_embeddings``."""
    for name, value in (
        ("original_max_position_embeddings", config.get("original_max_position_embeddings")),
        ("original_max_position_embeddings", params.get("original_max_position_embeddings")),
        ("max_position_embeddings", config.get("max_position_embeddings")),
    ):
        if value is not None:
            return _checks.positive_int(name, value)
    raise ValueError(
        f"rope type {rope_type!r} requires original_max_position_embeddings (or max_position_embeddings); "
        f"neither is set (received keys: {sorted(params)})."
    )


def _extension_fields(rope_type: str, params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The pre-training length and the factor of a context-extension rule (YaRN, LongRoPE) as HF reads them."""
    original = _original_length(params, config, rope_type)
    return {
        "original_max_position_embeddings": original,
        "factor": _implied_factor(params, config, original, rope_type),
    }


def _implied_factor(params: Mapping[str, Any], config: Mapping[str, Any], original: int, rope_type: str) -> float:
    """The config's ``factor``; when missing or null, ``max_position_embeddings / original`` as in HF."""
    if params.get("factor") is not None:
        return params["factor"]
    if config.get("max_position_embeddings") is None:
        raise ValueError(
            f"rope type {rope_type!r} without a 'factor' needs max_position_embeddings and "
            "original_max_position_embeddings to derive it."
        )
    return _checks.positive_int("max_position_embeddings", config["max_position_embeddings"]) / original


# ------------------------------------------------------------------------------------------------ rules


@register
@dataclasses.dataclass(frozen=True)
class Default(Scaling):
    """The original RoPE frequencies ``theta ** (-2i / rotary_dim)``; attention scaling 1.

    Example:
        >>> from rope_jax import Default
        >>> Default().frequencies(4, theta=10000.0)[0]
        array([1.  , 0.01], dtype=float32)
    """

    rope_type: ClassVar[str] = "default"

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        return _base_frequencies(rotary_dim, theta), 1.0


@register
@dataclasses.dataclass(frozen=True)
class Linear(Scaling):
    """Linear scaling / position interpolation (kaiokendev; Chen et al. 2023): every frequency / ``factor``.

    Equivalent to dividing positions by ``factor``.

    Attributes:
        factor: The context stretch (>= 1).
    """

    factor: float
    rope_type: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        self._set("factor", _checks.at_least_one("factor", self.factor))

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        return _base_frequencies(rotary_dim, theta) / _f32(self.factor), 1.0


@register
@dataclasses.dataclass(frozen=True)
class NTK(Scaling):
    """Static NTK-aware scaling (bloc97): the base becomes ``theta * factor ** (d / (d - 2))``.

    High frequencies stay (nearly) untouched, the lowest one is divided by ``factor``. Hugging Face has no
    static NTK type (its ``"dynamic"`` type applies this formula with a length-dependent factor); checkpoints
    such as Code Llama simply ship the enlarged ``rope_theta``.

    Attributes:
        factor: The context stretch (>= 1).
    """

    factor: float
    rope_type: ClassVar[str] = "ntk"
    min_rotary_dim: ClassVar[int] = 4
    hugging_face: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._set("factor", _checks.at_least_one("factor", self.factor))

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        base = _checks.positive(
            "the NTK base theta * factor ** (d / (d - 2))", theta * self.factor ** (rotary_dim / (rotary_dim - 2))
        )
        return _base_frequencies(rotary_dim, base), 1.0


@register
@dataclasses.dataclass(frozen=True)
class DynamicNTK(Scaling):
    """Dynamic NTK scaling (emozilla), as Hugging Face's ``"dynamic"`` type on a freshly built module.

    Up to ``max_position_embeddings`` the frequencies are the default ones; beyond, the base grows to
    ``theta * (factor * length / max_position_embeddings - (factor - 1)) ** (d / (d - 2))``. Nothing is cached:
    a shorter sequence after a longer one gets the short-sequence frequencies.

    A traced ``length`` works: everything runs on device in Hugging Face's float32 operation order, with the
    two powers correctly rounded by double-float arithmetic (torch evaluates ``ratio ** (d / (d - 2))`` with a
    float64 exponent); the choice between scaled and default frequencies is a ``jnp.where``.

    Attributes:
        factor: Scaling factor (>= 1).
        max_position_embeddings: The length up to which the default frequencies are used.
    """

    factor: float
    max_position_embeddings: int
    rope_type: ClassVar[str] = "dynamic"
    length_dependent: ClassVar[bool] = True
    min_rotary_dim: ClassVar[int] = 4

    def __post_init__(self) -> None:
        self._set("factor", _checks.at_least_one("factor", self.factor))
        self._set(
            "max_position_embeddings", _checks.positive_int("max_position_embeddings", self.max_position_embeddings)
        )

    @classmethod
    def _hf_derived(cls, params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        return {"max_position_embeddings": config.get("max_position_embeddings")}  # the model's, not the dict's

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        original = _base_frequencies(rotary_dim, theta)
        if length is None:
            return original, 1.0
        length = _as_length(length)
        factor, max_positions = self.factor, self.max_position_embeddings
        grown = jnp.maximum(length, max_positions)
        # torch rounds factor * length to float32 before subtracting; XLA may contract a plain multiply into the
        # subtraction (FMA) and skip that rounding, so the product is rounded explicitly (lengths below 2**24).
        product = jnp.where(
            grown < 2**24,
            scaled_integer_f32(jnp.minimum(grown, 2**24 - 1), factor),
            jnp.float32(factor) * grown.astype(jnp.float32),
        )
        ratio = product / jnp.float32(max_positions) - jnp.float32(factor - 1)
        base = jnp.float32(theta) * pow_f32(ratio, *split_constant(rotary_dim / (rotary_dim - 2)))
        scaled = 1.0 / pow_f32(base, jnp.asarray(pair_exponents(rotary_dim)))
        return jnp.where(length > max_positions, scaled, jnp.asarray(original)), 1.0


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


@register
@dataclasses.dataclass(frozen=True)
class YaRN(Scaling):
    """YaRN (Peng et al. 2023): interpolate low frequencies, keep high ones, ramp in between.

    Pairs that turn fewer than ``beta_slow`` times over the original context are divided by ``factor``; pairs
    that turn more than ``beta_fast`` times are kept; a linear ramp blends the pairs between. With
    ``truncate=False`` (gpt-oss) the ramp bounds are not rounded to whole pairs.

    The attention factor: an explicit ``attention_factor`` wins; else, when both ``mscale`` and
    ``mscale_all_dim`` are set (DeepSeek), ``mscale(factor, mscale) / mscale(factor, mscale_all_dim)``; else
    ``0.1 * ln(factor) + 1``.

    Attributes:
        factor: The context stretch (>= 1).
        original_max_position_embeddings: The pre-training context length.
        beta_fast, beta_slow: Ramp bounds in turns over the original context (``None``: 32 and 1, as Hugging
            Face reads a missing or null value).
        mscale, mscale_all_dim: DeepSeek's attention-factor parameters.
        attention_factor: Explicit attention factor.
        truncate: Round the ramp bounds to whole pairs (False for gpt-oss).
    """

    factor: float
    original_max_position_embeddings: int
    beta_fast: float | None = 32.0
    beta_slow: float | None = 1.0
    mscale: float | None = None
    mscale_all_dim: float | None = None
    attention_factor: float | None = None
    truncate: bool = True
    rope_type: ClassVar[str] = "yarn"

    def __post_init__(self) -> None:
        self._set("factor", _checks.at_least_one("factor", self.factor))
        self._set(
            "original_max_position_embeddings",
            _checks.positive_int("original_max_position_embeddings", self.original_max_position_embeddings),
        )
        for name in ("beta_fast", "beta_slow", "attention_factor"):
            if getattr(self, name) is not None:
                self._set(name, _checks.positive(name, getattr(self, name)))
        for name in ("mscale", "mscale_all_dim"):
            if getattr(self, name) is not None:
                self._set(name, _checks.non_negative(name, getattr(self, name)))
        self._set("truncate", _checks.boolean("truncate", self.truncate))
        beta_fast, beta_slow = self.beta_fast or 32.0, self.beta_slow or 1.0
        if beta_fast < beta_slow:
            raise ValueError(f"YaRN needs beta_fast >= beta_slow, got beta_fast={beta_fast}, beta_slow={beta_slow}.")

    @classmethod
    def _hf_derived(cls, params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        return _extension_fields(cls.rope_type, params, config)

    def _attention_factor(self) -> float:
        if self.attention_factor is not None:
            return self.attention_factor
        if self.mscale and self.mscale_all_dim:
            return _yarn_mscale(self.factor, self.mscale) / _yarn_mscale(self.factor, self.mscale_all_dim)
        return _yarn_mscale(self.factor)

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        _checks.number("theta", theta, above=1.0, why=" for YaRN (its ramp is placed by log(theta))")
        factor, original = self.factor, self.original_max_position_embeddings
        beta_fast = self.beta_fast or 32.0  # Hugging Face treats a missing or null beta as the paper's default
        beta_slow = self.beta_slow or 1.0

        def correction_dim(rotations: float) -> float:
            # The pair index whose wavelength fits `rotations` times into the original context.
            return (rotary_dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(theta))

        low, high = correction_dim(beta_fast), correction_dim(beta_slow)
        if self.truncate:
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, rotary_dim - 1)
        if low == high:
            high += 0.001  # avoid a zero-width ramp, as the reference does

        pos_freqs = rounded_powf(theta, pair_exponents(rotary_dim))
        extrapolation = _reciprocal(pos_freqs)
        interpolation = _reciprocal(_f32(factor) * pos_freqs)
        ramp = np.clip((np.arange(rotary_dim // 2, dtype=_f32) - _f32(low)) / _f32(high - low), _f32(0), _ONE)
        keep = _ONE - ramp  # 1 where a pair keeps its original (extrapolated) frequency
        inv_freq = interpolation * (_ONE - keep) + extrapolation * keep
        return inv_freq, float(self._attention_factor())


@register
@dataclasses.dataclass(frozen=True)
class Llama3(Scaling):
    """Llama 3.1 scaling: long wavelengths / ``factor``, short ones kept, a smooth blend between.

    Wavelengths above ``original_max_position_embeddings / low_freq_factor`` are interpolated, those below
    ``original_max_position_embeddings / high_freq_factor`` are kept. Equal edges (Llama 4 Scout and Maverick)
    leave no band to blend: a step, where Hugging Face would divide 0 by 0 at a wavelength exactly on the edge.

    Attributes:
        factor: The context stretch (>= 1).
        low_freq_factor, high_freq_factor: Band edges (``high_freq_factor >= low_freq_factor``).
        original_max_position_embeddings: The pre-training context length.

    Example:
        >>> from rope_jax import Llama3
        >>> rule = Llama3(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        ...               original_max_position_embeddings=8192)
        >>> inv_freq, scaling = rule.frequencies(128, theta=500000.0)
        >>> inv_freq.shape, scaling
        ((64,), 1.0)
    """

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int
    rope_type: ClassVar[str] = "llama3"

    def __post_init__(self) -> None:
        self._set("factor", _checks.at_least_one("factor", self.factor))
        self._set("low_freq_factor", _checks.positive("low_freq_factor", self.low_freq_factor))
        self._set("high_freq_factor", _checks.positive("high_freq_factor", self.high_freq_factor))
        self._set(
            "original_max_position_embeddings",
            _checks.positive_int("original_max_position_embeddings", self.original_max_position_embeddings),
        )
        if self.high_freq_factor < self.low_freq_factor:
            raise ValueError(
                "Llama 3 scaling needs high_freq_factor >= low_freq_factor, "
                f"got high_freq_factor={self.high_freq_factor}, low_freq_factor={self.low_freq_factor}."
            )

    @classmethod
    def _hf_derived(cls, params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        return {"original_max_position_embeddings": _original_length(params, config, cls.rope_type)}

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        inv_freq = _base_frequencies(rotary_dim, theta)
        factor, low_freq_factor, high_freq_factor = self.factor, self.low_freq_factor, self.high_freq_factor
        old_context = self.original_max_position_embeddings
        low_freq_wavelen = _f32(old_context / low_freq_factor)
        high_freq_wavelen = _f32(old_context / high_freq_factor)
        wavelen = _reciprocal(inv_freq) * _f32(2 * math.pi)  # torch: `2 * math.pi / inv_freq`
        scaled = np.where(wavelen > low_freq_wavelen, inv_freq / _f32(factor), inv_freq)
        if high_freq_factor == low_freq_factor:  # Llama 4 Scout: no band between the edges to blend
            return scaled.astype(_f32), 1.0
        smooth = (_reciprocal(wavelen) * _f32(old_context) - _f32(low_freq_factor)) / _f32(
            high_freq_factor - low_freq_factor
        )
        smoothed = (_ONE - smooth) * scaled / _f32(factor) + smooth * scaled
        is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        return np.where(is_medium, smoothed, scaled).astype(_f32), 1.0


@register
@dataclasses.dataclass(frozen=True)
class LongRoPE(Scaling):
    """LongRoPE (Phi-3/3.5): per-pair rescale factors, "short" up to the original length, "long" beyond.

    The choice is made from ``length`` (``max(positions) + 1``) like Hugging Face's module does, on device, so
    a traced length works. The attention factor defaults to ``sqrt(1 + ln(factor) / ln(original))``.

    Attributes:
        short_factor: ``rotary_dim // 2`` divisors used while ``length <= original_max_position_embeddings``.
        long_factor: ``rotary_dim // 2`` divisors used beyond.
        original_max_position_embeddings: The pre-training context length.
        factor: Context extension factor (``max_position_embeddings / original`` when a config omits it).
        attention_factor: Explicit attention factor, overriding the default.
    """

    short_factor: tuple[float, ...]
    long_factor: tuple[float, ...]
    original_max_position_embeddings: int
    factor: float
    attention_factor: float | None = None
    rope_type: ClassVar[str] = "longrope"
    length_dependent: ClassVar[bool] = True

    def __post_init__(self) -> None:
        # Tuples keep the rule hashable when a config hands over lists.
        self._set("short_factor", _checks.positive_numbers("short_factor", self.short_factor))
        self._set(
            "long_factor", _checks.positive_numbers("long_factor", self.long_factor, length=len(self.short_factor))
        )
        self._set(
            "original_max_position_embeddings",
            _checks.positive_int("original_max_position_embeddings", self.original_max_position_embeddings),
        )
        self._set("factor", _checks.at_least_one("factor", self.factor))
        if self.attention_factor is not None:
            self._set("attention_factor", _checks.positive("attention_factor", self.attention_factor))
        elif self.factor > 1:
            _checks.integer(
                "original_max_position_embeddings",
                self.original_max_position_embeddings,
                minimum=2,
                why=" for LongRoPE's default attention factor sqrt(1 + ln(factor) / ln(original)); pass "
                "attention_factor= to set it yourself",
            )

    @classmethod
    def _hf_derived(cls, params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
        return _extension_fields(cls.rope_type, params, config)

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        pairs = rotary_dim // 2
        if len(self.short_factor) != pairs:
            raise ValueError(
                f"LongRoPE short_factor and long_factor must have rotary_dim // 2 = {pairs} entries, "
                f"got {len(self.short_factor)}."
            )
        factor, original = self.factor, self.original_max_position_embeddings
        attention_factor = self.attention_factor
        if attention_factor is None:
            attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
        pos_freqs = rounded_powf(theta, pair_exponents(rotary_dim))
        short = _reciprocal(np.asarray(self.short_factor, dtype=_f32) * pos_freqs)
        if length is None:
            return short, float(attention_factor)
        long = _reciprocal(np.asarray(self.long_factor, dtype=_f32) * pos_freqs)
        chosen = jnp.where(_as_length(length) > original, long, short)
        return chosen, float(attention_factor)


@register
@dataclasses.dataclass(frozen=True)
class Proportional(Scaling):
    """Proportional RoPE (p-RoPE, Gemma 4): the first pairs rotate, the rest get frequency zero.

    Unlike GPT-NeoX-style partial rotary, the exponent uses the whole head dim and the rotation covers the
    whole head (half-split pairs ``(i, i + head_dim / 2)``); only ``int(partial_rotary_factor * head_dim // 2)``
    pairs get a non-zero frequency. A :class:`~rope_jax.RoPE` with this rule always rotates the whole head.

    Attributes:
        partial_rotary_factor: Fraction of the pairs that rotate, in ``[0, 1]``.
        factor: Linear stretch of the rotating pairs (>= 1).
    """

    partial_rotary_factor: float = 1.0
    factor: float = 1.0
    rope_type: ClassVar[str] = "proportional"

    def __post_init__(self) -> None:
        self._set(
            "partial_rotary_factor",
            _checks.in_range("partial_rotary_factor", self.partial_rotary_factor, 0.0, 1.0),
        )
        self._set("factor", _checks.at_least_one("factor", self.factor))

    def _frequencies(self, rotary_dim: int, theta: float, length: ArrayLike | None) -> Frequencies:
        head_dim = rotary_dim  # the whole head rotates
        rotated_pairs = int(self.partial_rotary_factor * head_dim // 2)
        rotated = _reciprocal(rounded_powf(theta, pair_exponents(2 * rotated_pairs, denominator=head_dim)))
        inv_freq = np.concatenate([rotated, np.zeros(head_dim // 2 - rotated_pairs, dtype=_f32)])
        return inv_freq / _f32(self.factor), 1.0
