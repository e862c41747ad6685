"""Argument checks shared by every module: one rule per kind of value, one wording per error.

A wrong *type* is a ``TypeError``, a wrong *value* a ``ValueError``; every message names the argument, what
was expected and what came. Sizes accept Python and NumPy integers (never ``bool``); numbers accept Python and
NumPy reals. Array checks run at trace time on shapes and dtypes only.

Device-side conditions (a position past a table, a full cache) cannot raise from inside ``jit``;
:func:`raise_if` routes them through a host callback that is taken only when the condition holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_INTEGERS = (int, np.integer)
_REALS = (int, float, np.integer, np.floating)


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    """``value`` as a Python int, checked to be an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, _INTEGERS):
        raise TypeError(f"{name} must be an int, got {_describe(value)}.")
    if minimum is not None and value < minimum:
        expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {expected}, got {value!r}.")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """``value`` as a Python int ``>= 1``."""
    return integer(name, value, minimum=1)


def even_int(name: str, value: Any, *, minimum: int = 2) -> int:
    """An even int ``>= minimum``: a count of features rotated in pairs."""
    value = integer(name, value)
    if value < minimum or value % 2:
        raise ValueError(f"{name} must be an even int >= {minimum} (features rotate in pairs), got {value!r}.")
    return value


def number(name: str, value: Any) -> float:
    """A finite real number, as a Python float."""
    if isinstance(value, bool) or not isinstance(value, _REALS):
        raise TypeError(f"{name} must be a number, got {_describe(value)}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def positive(name: str, value: Any) -> float:
    """A finite number ``> 0``."""
    value = number(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return value


def at_least_one(name: str, value: Any) -> float:
    """A stretch factor: a finite number ``>= 1`` (below 1 would compress positions, which no rule does)."""
    value = number(name, value)
    if value < 1:
        raise ValueError(
            f"{name} must be >= 1 (it stretches the context by that factor), got {value!r}. "
            "A factor below 1 would compress positions, which no published rule does."
        )
    return value


def in_range(name: str, value: Any, low: float, high: float, *, include_low: bool = True) -> float:
    """A finite number in ``[low, high]`` (or ``(low, high]``)."""
    value = number(name, value)
    if value > high or value < low or (value == low and not include_low):
        interval = f"{'[' if include_low else '('}{low:g}, {high:g}]"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}.")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_describe(value)}.")
    return bool(value)


def one_of(name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value


def optional_mapping(name: str, value: Any) -> Any:
    """A dict (a JSON object) or None, returned as is."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict (a JSON object) or null, got {_describe(value)}.")
    return value


def sequence(name: str, values: Any) -> list[Any]:
    """A list, tuple or array of values (not a string or a mapping), as a list."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence, got {_describe(values)}.")
    return list(values)


def permutation(name: str, values: Any, size: int) -> tuple[int, ...]:
    """A permutation of ``range(size)``, as a tuple of ints."""
    result = tuple(integer(f"{name} entry", value) for value in sequence(name, values))
    if sorted(result) != list(range(size)):
        raise ValueError(f"{name} must be a permutation of {list(range(size))}, got {list(result)}.")
    return result


def positive_numbers(name: str, values: Any, *, length: int) -> tuple[float, ...]:
    """A sequence of ``length`` finite numbers ``> 0``, as a tuple of floats."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence of {length} numbers, got {_describe(values)}.")
    if len(values) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(values)}.")
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold numbers, got {list(values)!r}.") from None
    if not all(math.isfinite(v) and v > 0 for v in result):
        raise ValueError(f"{name} entries must be finite and > 0, got {list(values)!r}.")
    return result


def rotary_dim(value: Any, head_dim: int) -> int:
    """The rotated feature count: ``head_dim`` when None, else an even int in ``[2, head_dim]``."""
    if value is None:
        value = head_dim
        name = f"rotary_dim (defaulted to the head dim {head_dim})"
    else:
        name = "rotary_dim"
    value = even_int(name, value)
    if value > head_dim:
        raise ValueError(f"rotary_dim ({value}) must not exceed the head dim ({head_dim}).")
    return value


# ------------------------------------------------------------------------------------------------ arrays


def rotary_input(x: Any, *, name: str = "x") -> jax.Array:
    """Queries or keys: a floating array ``[..., T, N, H]``."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array (bf16, f16, f32, f64), got dtype {x.dtype}.")
    if x.ndim < 3:
        raise ValueError(f"{name} must have shape [..., T, N, H] (at least 3 dims), got shape {x.shape}.")
    return x


def positions_for(positions: Any, x_shape: tuple[int, ...], *, name: str = "positions") -> jax.Array:
    """Positions ``[..., T]`` (int or float) matching ``x [..., T, N, H]``, leading dims broadcasting."""
    positions = jnp.asarray(positions)
    if positions.dtype == jnp.bool_ or not (
        jnp.issubdtype(positions.dtype, jnp.integer) or jnp.issubdtype(positions.dtype, jnp.floating)
    ):
        raise TypeError(f"{name} must be integers or floats, got dtype {positions.dtype}.")
    length = x_shape[-3]
    if positions.ndim < 1 or positions.shape[-1] != length:
        raise ValueError(
            f"{name} must have shape [..., T] with T = x.shape[-3] = {length}, got shape {positions.shape} "
            f"for x of shape {x_shape}."
        )
    try:
        np.broadcast_shapes(positions.shape[:-1], x_shape[:-3])
    except ValueError:
        raise ValueError(
            f"{name} leading dims {positions.shape[:-1]} do not broadcast against x's batch dims "
            f"{x_shape[:-3]} (x shape {x_shape}, {name} shape {positions.shape})."
        ) from None
    return positions


def head_dim_matches(x: jax.Array, head_dim: int) -> None:
    if x.shape[-1] != head_dim:
        raise ValueError(f"x has head dim {x.shape[-1]} but this RoPE was built for head_dim={head_dim}.")


# ------------------------------------------------------------------------------------------ on device


def raise_if(bad: Any, check: Callable[..., None], *args: Any) -> None:
    """Run ``check(*args)``, which raises a clear error when its inputs are bad (JAX never raises on its own).

    Concrete values are checked at once. Traced ones are checked on the device: a host callback taken only when
    ``bad`` is true (``check`` re-tests its inputs, since under vmap the conditional becomes a select).
    """
    if any(isinstance(value, jax.core.Tracer) for value in (bad, *args)):
        jax.lax.cond(bad, lambda: jax.debug.callback(check, *args), lambda: None)
    else:
        check(*args)
