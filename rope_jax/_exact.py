"""Exact float32/uint32 arithmetic on device: a correctly rounded ``pow``, 64-bit fixed point, exact products.

Dynamic NTK must reproduce Hugging Face's frequencies for a traced length: two powers whose float32 results
torch computes through a double-precision ``pow``. ``jnp.power`` in float32 is a few ulp off on some backends, so
this module evaluates ``x ** y`` as ``exp(y * log(x))`` in double-float arithmetic (an unevaluated sum of two
float32 numbers, ~44 significant bits) and rounds once.

Every step is immune to FMA contraction and needs no float64: products use Dekker's algorithm with the operands
split into 12-bit halves by masking the mantissa bits (so every partial product is exact), sums use Knuth's
TwoSum. XLA does not reassociate floating-point arithmetic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

DF = tuple[jax.Array, jax.Array]


def split_constant(
    value: float | Fraction, parts: int = 2, bits: int = 24, *, truncate: bool = False
) -> tuple[float, ...]:
    """``value`` as ``parts`` float32 numbers of at most ``bits`` significant bits each (host side).

    Rounds each part to nearest by default (parts may alternate in sign); ``truncate=True`` takes the leading
    bits of a positive value instead, so every part is non-negative.
    """
    value = Fraction(value)
    out = []
    for _ in range(parts):
        if value == 0:
            out.append(0.0)
            continue
        exponent = math.floor(math.log2(abs(value)))
        scale = Fraction(2) ** (bits - 1 - exponent)
        chunk = Fraction(math.floor(value * scale) if truncate else round(value * scale)) / scale
        out.append(float(np.float32(chunk)))
        value -= Fraction(out[-1])
    return tuple(out)


_LN2 = Fraction("0.693147180559945309417232121458176568075500134360255254120680009493393621969694715605863327")
_LN2_PARTS = split_constant(_LN2, parts=3, bits=12)  # k * part is exact for |k| < 2**12
_SQRT_HALF = np.float32(math.sqrt(0.5))


def split_twelve_bits(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``a = high + low`` with each part at most 12 significant bits (mantissa masking: exact, no multiply)."""
    bits = jax.lax.bitcast_convert_type(a, jnp.uint32)
    high = jax.lax.bitcast_convert_type(bits & jnp.uint32(0xFFFFF000), jnp.float32)
    return high, a - high


def two_sum(a, b) -> DF:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def two_prod(a, b) -> DF:
    p = a * b
    a_hi, a_lo = split_twelve_bits(a)
    b_hi, b_lo = split_twelve_bits(b)
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _renormalise(hi, lo) -> DF:
    s = hi + lo
    return s, lo - (s - hi)


def df_add(a: DF, b: DF) -> DF:
    s, e = two_sum(a[0], b[0])
    return _renormalise(s, e + (a[1] + b[1]))


def df_mul(a: DF, b: DF) -> DF:
    p, e = two_prod(a[0], b[0])
    return _renormalise(p, e + (a[0] * b[1] + a[1] * b[0]))


def _constant(value: float | Fraction, like) -> DF:
    hi, lo = split_constant(value)
    return jnp.full_like(like, hi), jnp.full_like(like, lo)


def df_log(x: jax.Array) -> DF:
    """``log(x)`` for positive normal float32 ``x``, to ~2**-44 relative."""
    mantissa, exponent = jnp.frexp(x)  # x = m * 2**e, m in [0.5, 1)
    low = mantissa < _SQRT_HALF
    mantissa = jnp.where(low, mantissa * 2, mantissa)  # exact; now in [sqrt(0.5), sqrt(2))
    exponent = (exponent - low.astype(exponent.dtype)).astype(jnp.float32)
    numerator = mantissa - 1  # exact (Sterbenz)
    denominator = two_sum(mantissa, jnp.ones_like(mantissa))
    q1 = numerator / denominator[0]  # s = (m - 1) / (m + 1) in double-float
    p_hi, p_lo = two_prod(q1, denominator[0])
    remainder = ((numerator - p_hi) - p_lo) - q1 * denominator[1]
    s = _renormalise(q1, remainder / denominator[0])
    s2 = df_mul(s, s)
    # log(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...); |s| < 0.172 -> 10 terms reach 2**-50.
    series = _constant(Fraction(1, 21), x)
    for k in range(9, -1, -1):
        series = df_add(df_mul(series, s2), _constant(Fraction(1, 2 * k + 1), x))
    log_m = df_mul(series, (2 * s[0], 2 * s[1]))
    total = log_m
    for part in _LN2_PARTS:  # exponent * ln 2, each product exact
        total = df_add(total, (exponent * jnp.float32(part), jnp.zeros_like(x)))
    return total


def df_exp(z: DF) -> DF:
    """``exp(z)`` for double-float ``z`` with |z| < 80, to ~2**-44 relative."""
    n = jnp.round(z[0] * jnp.float32(1 / math.log(2)))
    r = z
    for part in _LN2_PARTS:  # r = z - n ln 2, each product exact
        r = df_add(r, (-n * jnp.float32(part), jnp.zeros_like(n)))
    # exp(r), |r| <= 0.35: Taylor to r^14 / 14!.
    term_sum = _constant(Fraction(1, math.factorial(14)), n)
    for k in range(13, -1, -1):
        term_sum = df_add(df_mul(term_sum, r), _constant(Fraction(1, math.factorial(k)), n))
    shift = n.astype(jnp.int32)  # ldexp is exact; jnp.exp2(n) is not on every backend
    return jnp.ldexp(term_sum[0], shift), jnp.ldexp(term_sum[1], shift)


def pow_f32(x, exponent_hi, exponent_lo=0.0) -> jax.Array:
    """Float32 ``x ** (exponent_hi + exponent_lo)``, correctly rounded except within ~2**-20 ulp of a tie.

    Args:
        x: positive float32 array.
        exponent_hi, exponent_lo: the exponent as a double-float pair (arrays or scalars broadcasting with x).

    Returns:
        The power, in the broadcast shape of ``x`` and the exponent.
    """
    x = jnp.asarray(x, jnp.float32)
    shape = jnp.broadcast_shapes(x.shape, jnp.shape(exponent_hi), jnp.shape(exponent_lo))
    exponent = (
        jnp.broadcast_to(jnp.asarray(exponent_hi, jnp.float32), shape),
        jnp.broadcast_to(jnp.asarray(exponent_lo, jnp.float32), shape),
    )
    # The log at x's own shape, broadcast after: a log of a broadcast scalar sends XLA's algebraic simplifier
    # round a loop (it logs an error and gives up after 50 passes).
    log_hi, log_lo = df_log(x)
    hi, lo = df_exp(df_mul(exponent, (jnp.broadcast_to(log_hi, shape), jnp.broadcast_to(log_lo, shape))))
    return hi + lo


def mulhi_u32(a: jax.Array, b: jax.Array) -> jax.Array:
    """``floor(a * b / 2**32)`` for uint32 ``a``, ``b`` using 16-bit limbs (every partial product fits)."""
    mask = jnp.uint32(0xFFFF)
    a0, a1 = a & mask, a >> 16
    b0, b1 = b & mask, b >> 16
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> 16) + (p01 & mask) + (p10 & mask)
    return p11 + (p01 >> 16) + (p10 >> 16) + (middle >> 16)


def _shift_right_u64(hi: jax.Array, lo: jax.Array, shift: jax.Array) -> jax.Array:
    """Low 32 bits of ``(hi * 2**32 + lo) >> shift`` for ``0 <= shift < 64`` (per element)."""
    small = jnp.minimum(shift, 31).astype(jnp.uint32)
    from_lo = lo >> small
    from_hi = jnp.where(small == 0, jnp.uint32(0), hi << (jnp.uint32(32) - jnp.maximum(small, 1)))
    large = hi >> (jnp.clip(shift, 32, 63) - 32).astype(jnp.uint32)
    return jnp.where(shift < 32, from_lo | from_hi, large)


def scaled_integer_f32(length: jax.Array, value: float) -> jax.Array:
    """``f32(f32(value) * f32(length))`` rounded exactly like one float32 multiply, immune to FMA contraction.

    torch rounds ``factor * seq_len`` to float32 before subtracting; under jit XLA may contract that multiply
    into the subtraction and skip the rounding. Here the exact product is formed in 64-bit integer arithmetic on
    uint32 words and rounded to 24 significant bits (ties to even) explicitly. ``length`` must be a
    non-negative int32 below 2**24 (exactly representable, as float32 lengths in torch are).
    """
    numerator, denominator = float(np.float32(value)).as_integer_ratio()  # value = m / 2**k, m < 2**24
    m, scale_exponent = numerator, 1 - denominator.bit_length()
    count = length.astype(jnp.uint32)
    lo = count * jnp.uint32(m)
    hi = mulhi_u32(count, jnp.uint32(m))
    bits = jnp.where(hi > 0, 64 - jax.lax.clz(hi).astype(jnp.int32), 32 - jax.lax.clz(lo).astype(jnp.int32))
    drop = jnp.maximum(bits - 24, 0)
    keep = _shift_right_u64(hi, lo, drop)
    half_bit = jnp.where(drop > 0, _shift_right_u64(hi, lo, jnp.maximum(drop - 1, 0)) & 1, 0)
    # sticky: any bit below the half bit set <=> shifting back does not reproduce the low bits
    below = jnp.maximum(drop - 1, 0)
    rebuilt_lo = jnp.where(
        below >= 32,
        jnp.uint32(0),
        (lo >> jnp.minimum(below, 31).astype(jnp.uint32)) << jnp.minimum(below, 31).astype(jnp.uint32),
    )
    sticky_lo = jnp.where(below >= 32, lo != 0, rebuilt_lo != lo)
    hi_mask_shift = jnp.clip(below - 32, 0, 31).astype(jnp.uint32)
    sticky_hi = jnp.where(below > 32, ((hi >> hi_mask_shift) << hi_mask_shift) != hi, False)
    sticky = sticky_lo | sticky_hi
    round_up = (half_bit == 1) & (sticky | ((keep & 1) == 1))
    keep = keep + round_up.astype(jnp.uint32)
    return jnp.ldexp(keep.astype(jnp.float32), drop + scale_exponent)


# ------------------------------------------------------------------------ angles reduced modulo one turn

# 1 / (2 pi) to 90 bits, as six float32 chunks of 12 significant bits each: the product of a chunk and a
# 12-bit slice of a float32 frequency is exact in float32. Truncated, so every chunk is non-negative: the fractional
# part of a tiny negative product would round to 1.0 and break the exact fixed-point conversion.
_INV_TWO_PI = Fraction("0.1591549430918953357688837633725143620344596457404564487476673440588967976342265350901138")
_INV_TWO_PI_CHUNKS = split_constant(_INV_TWO_PI, parts=6, bits=12, truncate=True)
_TWO_POW_32 = np.float32(2.0**32)


def add_u64(a: tuple[jax.Array, jax.Array], b: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """(hi, lo) + (hi, lo) modulo 2**64 on uint32 words."""
    lo = a[1] + b[1]
    carry = (lo < a[1]).astype(jnp.uint32)
    return a[0] + b[0] + carry, lo


def turns_per_position(inv_freq: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``frac(inv_freq / 2 pi)`` as a 64-bit fixed-point fraction of a turn: ``(hi, lo)`` uint32 words.

    ``inv_freq`` (float32, exact) is split into two 12-bit slices by masking its mantissa; each slice times each
    12-bit chunk of ``1 / (2 pi)`` is an exact float32 whose fractional part is converted to fixed point
    exactly (floors and power-of-two scalings), then the terms are summed with carries. Only the bits below
    2**-64 of a turn are dropped. Works for traced frequencies (dynamic NTK, learned ones) alike.
    """
    inv_freq = jnp.asarray(inv_freq, jnp.float32)
    slices = split_twelve_bits(inv_freq)
    total = (jnp.zeros(inv_freq.shape, jnp.uint32), jnp.zeros(inv_freq.shape, jnp.uint32))
    for piece in slices:
        for chunk in _INV_TWO_PI_CHUNKS:
            turns = piece * jnp.float32(chunk)  # exact: 12 x 12 significant bits
            fraction = turns - jnp.floor(turns)
            scaled = fraction * _TWO_POW_32
            hi = jnp.floor(scaled)
            lo = jnp.floor((scaled - hi) * _TWO_POW_32)
            total = add_u64(total, (hi.astype(jnp.uint32), lo.astype(jnp.uint32)))
    return total


def _magnitude_words(whole: jax.Array) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
    """``|whole|`` as uint32 words ``(low, high)`` and its sign ``whole < 0``, without wrapping.

    Signed integers of at most 32 bits keep their int32 path (``high`` is None); unsigned ones are never negative
    (sign None); 64-bit integers (x64 mode) split into two words. Float values must be whole numbers below 2**64.
    """
    dtype = whole.dtype
    if jnp.issubdtype(dtype, jnp.floating):
        magnitude = jnp.abs(whole)
        high = jnp.floor(magnitude * dtype.type(2.0**-32))
        low = magnitude - high * dtype.type(2.0**32)  # exact: both are whole numbers of magnitude's precision
        return low.astype(jnp.uint32), high.astype(jnp.uint32), whole < 0
    signed = jnp.issubdtype(dtype, jnp.signedinteger)
    if dtype.itemsize <= 4:
        if signed:
            as_int32 = whole.astype(jnp.int32)
            return jnp.abs(as_int32).astype(jnp.uint32), None, as_int32 < 0  # |-2**31| wraps to 2**31 in uint32
        return whole.astype(jnp.uint32), None, None
    magnitude = (jnp.abs(whole) if signed else whole).astype(jnp.uint64)  # |-2**63| wraps to 2**63 in uint64
    low = (magnitude & jnp.uint64(0xFFFFFFFF)).astype(jnp.uint32)
    return low, (magnitude >> jnp.uint64(32)).astype(jnp.uint32), (whole < 0) if signed else None


def _whole_and_fraction(positions: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """Integer positions as they are, or float ones split into their floor (float32, float64 kept) and float32
    fractional part; the fraction is NaN where the floor is out of the domain (2**64 or more, NaN, inf)."""
    if jnp.issubdtype(positions.dtype, jnp.integer):
        return positions, None
    values = positions if positions.dtype == jnp.float64 else positions.astype(jnp.float32)
    whole = jnp.floor(values)
    in_domain = jnp.abs(whole) < values.dtype.type(2.0**64)  # False for NaN and inf too
    return whole, jnp.where(in_domain, values - whole, jnp.nan).astype(jnp.float32)


def _turns_at(whole: jax.Array, turns: tuple[jax.Array, jax.Array]) -> jax.Array:
    """``whole * turns`` modulo one turn, as a uint32 fraction of a turn (exact up to the dropped 2**-64 bits)."""
    hi, lo = turns
    magnitude, high_word, negative = _magnitude_words(whole)
    magnitude = magnitude[..., None]
    turn = magnitude * hi + mulhi_u32(magnitude, lo)  # wraps modulo 2**32 == modulo one turn
    if high_word is not None:  # p = high * 2**32 + low: high * 2**32 * (hi * 2**-32 + lo * 2**-64) adds high * lo
        turn = turn + high_word[..., None] * lo
    if negative is not None:
        turn = jnp.where(negative[..., None], jnp.uint32(0) - turn, turn)
    return turn


def signed_turns_per_position(inv_freq: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`turns_per_position` for frequencies of either sign (a negative one is the two's complement of its
    magnitude's turns; learned frequencies can be negative)."""
    inv_freq = jnp.asarray(inv_freq, jnp.float32)
    hi, lo = turns_per_position(jnp.abs(inv_freq))
    negated = add_u64((~hi, ~lo), (jnp.zeros_like(hi), jnp.ones_like(lo)))
    negative = inv_freq < 0
    return jnp.where(negative, negated[0], hi), jnp.where(negative, negated[1], lo)


def precise_angles(positions: jax.Array, inv_freq: jax.Array) -> jax.Array:
    """``positions * inv_freq`` reduced to ``[-pi, pi)``, error below 1e-6 rad for |position| < 2**36.

    Integer positions times the fixed-point turns-per-position are computed exactly modulo one turn with uint32
    arithmetic (no float64, no x64 mode); the fractional part of float positions adds a small float32 product.
    A position's magnitude is read as two 32-bit words, so no dtype wraps (uint32 and 64-bit positions, floats up
    to 2**64); the only error beyond 2**36 is the 64-bit fixed-point frequency's, about ``|position| * 2**-60``
    turns. Float positions of 2**64 or more, NaN or inf give NaN. Frequencies may be negative (learned ones).
    """
    whole, fractional = _whole_and_fraction(positions)
    turn = _turns_at(whole, signed_turns_per_position(inv_freq))
    signed_turn = jax.lax.bitcast_convert_type(turn, jnp.int32).astype(jnp.float32)  # in [-2**31, 2**31)
    angles = signed_turn * jnp.float32(2 * math.pi / 2.0**32)
    if fractional is not None:
        angles = angles + fractional[..., None] * inv_freq
    return angles


# ------------------------------------------------------------------ float64 frequencies as float32 pairs


def fused_multiply_add(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """``a * b + c`` rounded once to float32 (an FMA), from an exact product and an exact sum (correctly rounded
    except within ~2**-20 ulp of a tie), whatever the backend does with a plain ``a * b + c``."""
    product, product_error = two_prod(a, b)
    total, sum_error = two_sum(product, c)
    return total + (sum_error + product_error)


def divide(a: jax.Array, divisor: float) -> jax.Array:
    """``a / divisor`` correctly rounded in float32 (but within ~2**-20 ulp of a tie), whatever XLA makes of a
    division by a constant (XLA:CPU multiplies by the rounded reciprocal, an ulp off for some quotients): the
    quotient is corrected once by its exact remainder."""
    d = jnp.float32(divisor)
    quotient = a / d
    product, error = two_prod(quotient, jnp.full_like(quotient, d))
    remainder = (a - product) - error  # exact: the product is within an ulp of a
    return quotient + remainder / d


def split_double(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 ``values`` as ``(high, low)`` float32 arrays with ``high + low`` equal to them to ~2**-48 relative
    (host side): ``high`` is the float32 rounding, ``low`` the float32 rounding of what is left."""
    values = np.asarray(values, np.float64)
    high = values.astype(np.float32)
    return high, (values - high.astype(np.float64)).astype(np.float32)


def rounded_product(coords: jax.Array, high: jax.Array, low: jax.Array) -> jax.Array:
    """``f32(coords * (high + low))``: the product with a double-float factor, rounded once to float32.

    ``coords * high`` is split exactly (:func:`two_prod`); the small terms are added before the one rounding, so
    the result is the correctly rounded product except within ~2**-20 ulp of a tie, what torch gives for
    ``(coords.double() * freqs_f64).float()``.
    """
    product, error = two_prod(coords, high)
    return product + (error + coords * low)


_TURN_UNIT = split_constant(Fraction(2 * math.pi) / 2**32)  # one 2**-32 turn in radians, double-float


def precise_angles_pair(positions: jax.Array, high: jax.Array, low: jax.Array) -> jax.Array:
    """``positions * (high + low)`` reduced to about ``[-pi, pi)``, for float64 frequencies as a float32 pair.

    The turns per position of ``high`` and of ``low`` (either sign) are each exact 64-bit fixed-point fractions
    (:func:`turns_per_position`); their sum is the double-float frequency's, and the integer part of the position
    times it is exact modulo one turn. The result is converted to radians in double-float arithmetic and rounded
    once: for integer positions the angle is the float32 rounding of the exact one (error <= 1.2e-7 rad plus
    2**-32 of a turn); a fractional part adds ``fraction * (high + low)`` in float32.
    """
    turns = add_u64(signed_turns_per_position(high), signed_turns_per_position(low))
    whole, fraction = _whole_and_fraction(positions)
    turn = _turns_at(whole, turns)
    signed = jax.lax.bitcast_convert_type(turn, jnp.int32)
    coarse = jax.lax.bitcast_convert_type(turn & jnp.uint32(0xFFFFFF00), jnp.int32)  # 24 bits: exact in float32
    coarse_f, fine_f = coarse.astype(jnp.float32), (signed - coarse).astype(jnp.float32)
    product, error = two_prod(coarse_f, jnp.float32(_TURN_UNIT[0]))
    angles = product + (error + coarse_f * jnp.float32(_TURN_UNIT[1]) + fine_f * jnp.float32(_TURN_UNIT[0]))
    if fraction is not None:
        angles = angles + fraction[..., None] * (high + low)
    return angles


def linspace(start: float, end: float, steps: int, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """torch's CPU ``linspace`` in ``dtype`` arithmetic (host side): ``start + step * i`` for the first half,
    ``end - step * (steps - 1 - i)`` for the rest, ``step = (end - start) / (steps - 1)``, each operation rounded
    to ``dtype`` (torch's scalar kernel, the one ``ATEN_CPU_CAPABILITY=default`` runs)."""
    start_v, end_v = dtype(start), dtype(end)
    if steps == 1:
        return np.asarray([start_v], dtype)
    step = dtype((end_v - start_v) / dtype(steps - 1))
    index = np.arange(steps)
    head = start_v + step * index.astype(dtype)
    tail = end_v - step * (steps - 1 - index).astype(dtype)
    return np.where(index < steps // 2, head, tail).astype(dtype)


def _c_math(name: str) -> Any:
    """The C library's float32 ``name`` (``powf``, ``expf``) through ctypes, or None where it cannot be found.

    The process's own symbols hold it where Python links the C math library (Linux, macOS); elsewhere the library
    is looked up by name."""
    for load in (lambda: ctypes.CDLL(None), lambda: ctypes.CDLL(ctypes.util.find_library("m") or "")):
        try:
            function = getattr(load(), name)
        except (OSError, AttributeError, TypeError):
            continue
        function.restype = ctypes.c_float
        function.argtypes = [ctypes.c_float] * (2 if name == "powf" else 1)
        return function
    return None


def pair_exponents(rotary_dim: int, denominator: int | None = None) -> np.ndarray:
    """``f32(2i) / f32(d)`` for the pairs of ``rotary_dim`` (host side): torch's ``arange(0, d, 2).float() / d``."""
    return np.arange(0, rotary_dim, 2, dtype=np.float32) / np.float32(denominator or rotary_dim)


def rounded_powf(base: float, exponents: np.ndarray) -> np.ndarray:
    """Correctly rounded float32 ``f32(base) ** exponents`` (host side: the float64 power of the float32 operands)."""
    return np.power(np.float64(np.float32(base)), np.asarray(exponents, np.float64)).astype(np.float32)


def c_powf(base: float, exponents: np.ndarray) -> np.ndarray:
    """Float32 ``f32(base) ** exponents`` as the C library's ``powf`` rounds it (what torch's scalar CPU kernel
    calls for a float32 ``pow``; glibc's is within 1 ulp, not always correctly rounded). Falls back to the correctly
    rounded power where no C library is found."""
    exponents = np.asarray(exponents, np.float32)
    powf = _c_math("powf")
    if powf is None:
        return rounded_powf(base, exponents)
    return np.asarray([powf(float(np.float32(base)), float(e)) for e in exponents.ravel()], np.float32).reshape(
        exponents.shape
    )


def c_expf(arguments: np.ndarray) -> np.ndarray:
    """Float32 ``exp`` as the C library's ``expf`` rounds it (see :func:`c_powf`)."""
    arguments = np.asarray(arguments, np.float32)
    expf = _c_math("expf")
    if expf is None:
        return np.exp(arguments.astype(np.float64)).astype(np.float32)
    return np.asarray([expf(float(a)) for a in arguments.ravel()], np.float32).reshape(arguments.shape)
