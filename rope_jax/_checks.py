"""Argument checks shared by every module: one rule per kind of value, one wording per error.

The contract (README, "Errors"; docs/design.md):

- A wrong *type* is a ``TypeError``, a wrong *value* a ``ValueError``; every message names the argument, what was
  expected and what came.
- Static values (sizes, hyperparameters, flags, choices, frequency tables given as NumPy data) are checked
  completely when a function or object receives them: sizes are Python or NumPy integers (never ``bool``, never a
  float such as ``64.0``), numbers are real, finite and within float32's range (every angle is computed in
  float32), flags are ``True`` / ``False``.
- Arrays that may be traced (activations, positions, coordinates, learned frequencies) are checked on their
  shape and dtype only, at trace time; their values are never read on the host. Host data (NumPy arrays, Python
  numbers) that JAX would convert lossily, such as int64 positions beyond int32 while ``jax_enable_x64`` is off,
  which JAX wraps modulo 2**32, is refused instead.
- A condition on traced values that the library promises to check (a position outside a cos/sin table, a full
  KV cache) goes through :func:`raise_if`.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal number


def describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) or getattr(value, "dtype", None) == np.bool_


# ------------------------------------------------------------------------------------------------ scalars


def integer(name: str, value: Any, *, minimum: int | None = None, why: str = "") -> int:
    """``value`` as a Python int, checked to be an integer ``>= minimum`` (``why``: the reason for the bound).

    Python and NumPy integers and 0-d integer arrays are accepted; ``bool`` and floats (even ``64.0``) are not.
    """
    if _is_bool(value):
        raise TypeError(f"{name} must be an int, got {describe(value)}.")
    try:
        result = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {describe(value)}.") from None
    if minimum is not None and result < minimum:
        expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {expected}{why}, got {result!r}.")
    return result


def positive_int(name: str, value: Any) -> int:
    """``value`` as a Python int ``>= 1``."""
    return integer(name, value, minimum=1)


def even_int(name: str, value: Any, *, minimum: int = 2) -> int:
    """An even int ``>= minimum``: a count of features rotated in pairs."""
    value = integer(name, value)
    if value < minimum or value % 2:
        raise ValueError(f"{name} must be an even int >= {minimum} (features rotate in pairs), got {value!r}.")
    return value


def number(name: str, value: Any, *, above: float | None = None, minimum: float | None = None, why: str = "") -> float:
    """A real number, finite and within float32's range, as a Python float; optionally ``> above``, ``>= minimum``.

    Python and NumPy reals and 0-d real arrays are accepted; ``bool``, complex numbers and strings are not.
    ``why`` is appended to a bound's error (the reason for the bound).
    """
    if _is_bool(value) or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a number, got {describe(value)}.")
    if isinstance(value, numbers.Real):
        result = float(value)
    elif isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 0 and _is_real_dtype(value.dtype):
        try:
            result = float(value)
        except jax.errors.ConcretizationTypeError:
            raise TypeError(f"{name} must be a static number, got a traced array; pass a Python float.") from None
    else:
        raise TypeError(f"{name} must be a real number, got {describe(value)}.")
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite number, got {result!r}.")
    if abs(result) > _FLOAT32_MAX:
        raise ValueError(
            f"{name} must lie within float32's range (|value| <= {_FLOAT32_MAX:.4g}), in which every angle is "
            f"computed; got {result!r}."
        )
    if above is not None and not result > above:
        raise ValueError(f"{name} must be a finite number > {above:g}{why}, got {result!r}.")
    if minimum is not None and not result >= minimum:
        raise ValueError(f"{name} must be >= {minimum:g}{why}, got {result!r}.")
    return result


def positive(name: str, value: Any) -> float:
    """A finite number ``> 0`` that float32 holds as a normal number (``>= 1.2e-38``: it never rounds to 0)."""
    result = number(name, value, above=0.0)
    if result < _FLOAT32_TINY:
        raise ValueError(
            f"{name} must be at least float32's smallest normal number {_FLOAT32_TINY:.4g} (smaller values "
            f"lose their precision or round to 0 in float32), got {result!r}."
        )
    return result


def non_negative(name: str, value: Any) -> float:
    """A finite number ``>= 0``."""
    return number(name, value, minimum=0.0)


def at_least_one(name: str, value: Any) -> float:
    """A stretch factor: a finite number ``>= 1`` (below 1 would compress positions, which no rule does)."""
    return number(
        name,
        value,
        minimum=1.0,
        why=" (it stretches the context by that factor; a factor below 1 would compress positions, which no "
        "published rule does)",
    )


def in_range(name: str, value: Any, low: float, high: float, *, include_low: bool = True) -> float:
    """A finite number in ``[low, high]`` (or ``(low, high]``)."""
    value = number(name, value)
    if value > high or value < low or (value == low and not include_low):
        interval = f"{'[' if include_low else '('}{low:g}, {high:g}]"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}.")
    return value


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` (Python or NumPy): never a truthy string such as ``"false"``, nor ``0`` / ``1``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}.")
    return bool(value)


def function(name: str, value: Any, *, optional: bool = False) -> Any:
    """A callable (or None when ``optional``), returned as is."""
    if (value is None and optional) or callable(value):
        return value
    expected = "a callable or None" if optional else "a callable"
    raise TypeError(f"{name} must be {expected}, got {describe(value)}.")


def floating_dtype(name: str, value: Any, *, optional: bool = False) -> Any:
    """A floating-point dtype (or None when ``optional``), returned as given."""
    if value is None and optional:
        return value
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be a floating-point dtype, got {describe(value)}.") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point dtype (bf16, f16, f32, f64), got {dtype}.")
    return value


def string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {describe(value)}.")
    return value


def one_of(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """One of ``choices``; a value of another type than the (string) choices is a ``TypeError``."""
    names = [repr(choice) for choice in choices]
    alternatives = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    if all(isinstance(choice, str) for choice in choices) and not isinstance(value, str):
        raise TypeError(f"{name} must be one of {alternatives} (a str); got {describe(value)}.")
    if value not in choices:
        raise ValueError(f"{name} must be one of {alternatives}; got {value!r}.")
    return value


def audited(
    table: Mapping[str, Any], name: str, key: Any, *, among: str, loader: str, refusal: str = "unsupported"
) -> Any:
    """``table[key]``, the audit's entry for a model: a ``ValueError`` when the audit has no such entry (``key`` is
    not ``among``: what the table holds and against which version) or refused it (the reason it recorded under
    ``refusal``, and which ``loader`` refuses)."""
    entry = table.get(key) if isinstance(key, str) else None
    if entry is None:
        raise ValueError(f"{name} {key!r} is not {among}.")
    if entry.get(refusal):
        raise ValueError(f"{name} {key!r} is not supported by {loader}: {entry[refusal]}")
    return entry


def sequence(name: str, values: Any, *, length: int | None = None, what: str = "values") -> list[Any]:
    """A list, tuple or 1-D NumPy array (not a string, mapping or set), optionally of ``length`` entries."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        expected = f"a sequence of {length} {what}" if length is not None else f"a sequence of {what}"
        raise TypeError(f"{name} must be {expected}, got {describe(values)}.")
    if length is not None and len(values) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(values)}: {list(values)!r}.")
    return list(values)


def audited_setting(config: Mapping[str, Any], entry: Mapping[str, Any], key: str) -> Any:
    """A config value, else the class default the audit recorded (``entry["defaults"]``), else what the class's
    ``__init__`` puts for None (``entry["none_means"]``, where the audit recorded it)."""
    value = config.get(key)
    if value is None:
        value = entry["defaults"].get(key)
    return entry.get("none_means", {}).get(key) if value is None else value


def learned_parameter(learned: Mapping[str, Any], name: str, *, shape: str = "") -> Any:
    """``learned[name]``: a checkpoint parameter a model's RoPE uses, which the caller must pass."""
    if name not in learned:
        raise ValueError(
            f"this model's RoPE uses the learned parameter {name!r}; pass it from the checkpoint as "
            f"learned={{{name!r}: array}}{f' (shape {shape})' if shape else ''}."
        )
    return learned[name]


def grids(name: str, value: Any, *, one_flat: bool = False) -> list[tuple[int, int, int]]:
    """``[(t, h, w), ...]`` in patches from ``(t, h, w)`` or ``(h, w)`` rows (an image is one frame); with
    ``one_flat`` a single grid may also be given flat, ``(t, h, w)`` or ``(h, w)``."""
    rows = sequence(name, np.asarray(value).tolist() if hasattr(value, "shape") else value)
    if one_flat and rows and not isinstance(rows[0], (Sequence, np.ndarray)):
        rows = [rows]
    result = []
    for row in rows:
        sizes = [positive_int(f"{name} entry", v) for v in sequence(f"{name} entry", row)]
        if len(sizes) not in (2, 3):
            raise ValueError(f"each {name} entry must be (t, h, w) or (h, w) in patches, got {row!r}.")
        t, h, w = [1, *sizes] if len(sizes) == 2 else sizes
        result.append((t, h, w))
    if not result:
        raise ValueError(f"{name} must list at least one image or video grid.")
    return result


def integers(name: str, values: Any, *, length: int | None = None, minimum: int | None = None) -> tuple[int, ...]:
    """A sequence of ints (each checked by :func:`integer`), as a tuple."""
    entries = sequence(name, values, length=length, what="ints")
    return tuple(integer(f"{name}[{i}]", value, minimum=minimum) for i, value in enumerate(entries))


def positive_numbers(name: str, values: Any, *, length: int | None = None) -> tuple[float, ...]:
    """A sequence of finite numbers ``> 0`` (each checked by :func:`positive`), as a tuple of floats."""
    entries = sequence(name, values, length=length, what="numbers")
    return tuple(positive(f"{name}[{i}]", value) for i, value in enumerate(entries))


def optional_mapping(name: str, value: Any) -> Any:
    """A dict (a JSON object) or None, returned as is."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict (a JSON object) or null, got {describe(value)}.")
    return value


def permutation(name: str, values: Any, size: int) -> tuple[int, ...]:
    """A permutation of ``range(size)``, as a tuple of ints."""
    result = integers(name, values)
    if sorted(result) != list(range(size)):
        raise ValueError(f"{name} must be a permutation of {list(range(size))}, got {list(result)}.")
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


def length(name: str, value: Any) -> int | jax.Array:
    """A sequence length: an int ``>= 1`` (Python, NumPy), or a 0-d integer ``jax.Array`` (possibly traced, so its
    value is not read), returned as is."""
    if isinstance(value, jax.Array) and not _is_bool(value):  # possibly traced: dtype and rank only
        if value.ndim != 0 or not jnp.issubdtype(value.dtype, jnp.integer):
            raise TypeError(f"{name} must be an int or a 0-d integer array, got {value.dtype} shape {value.shape}.")
        return value
    return positive_int(name, value)


# ------------------------------------------------------------------------------------------------ arrays


def _is_real_dtype(dtype: Any) -> bool:
    return dtype != np.bool_ and (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating))


def _host_array(name: str, value: Any) -> np.ndarray:
    """Host data (NumPy, Python numbers, nested lists) as a NumPy array; refuses what JAX would convert lossily."""
    try:
        host = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name} must be an array of numbers, got {describe(value)}.") from None
    if host.dtype == object:
        raise TypeError(f"{name} must be an array of numbers, got {describe(value)} (NumPy made it dtype object).")
    target = jax.dtypes.canonicalize_dtype(host.dtype) if host.dtype.kind in "iuf" else host.dtype
    if host.size and target.itemsize < host.itemsize:
        finite = host if host.dtype.kind in "iu" else host[np.isfinite(host)]
        low, high = (finite.min(), finite.max()) if finite.size else (0, 0)
        info = np.iinfo(target) if host.dtype.kind in "iu" else np.finfo(target)
        if low < info.min or high > info.max:
            raise ValueError(
                f"{name} hold values from {low} to {high}, beyond {target} (what JAX makes of {host.dtype} while "
                f"jax_enable_x64 is off), which JAX would {'wrap' if host.dtype.kind in 'iu' else 'turn into inf'} "
                "silently. Enable 64-bit mode (jax.config.update('jax_enable_x64', True)) or pass values within "
                f"[{info.min}, {info.max}]."
            )
    return host


def array(name: str, value: Any, *, kinds: str = "real", ndim: int | None = None, min_ndim: int = 0) -> jax.Array:
    """``value`` as a ``jax.Array`` of a ``kinds`` dtype: ``"real"`` (integers or floats), ``"float"``, ``"int"``
    or ``"mask"`` (bools, integers or floats).

    JAX arrays (traced or not) are taken as they are: only their dtype and rank are checked. Host data is converted
    by JAX after :func:`_host_array` has refused lossy conversions. ``bool`` and complex dtypes are never accepted.
    """
    if not isinstance(value, jax.Array):
        host = _host_array(name, value)
        _dtype_is(name, host.dtype, kinds)  # before JAX converts (or refuses) it
        value = jnp.asarray(host)
    _dtype_is(name, value.dtype, kinds)
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dims, got shape {value.shape}.")
    if value.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dims, got shape {value.shape}.")
    return value


def _dtype_is(name: str, dtype: Any, kinds: str) -> None:
    accepted = {
        "real": _is_real_dtype(dtype),
        "float": jnp.issubdtype(dtype, jnp.floating),
        "int": dtype != np.bool_ and jnp.issubdtype(dtype, jnp.integer),
        "mask": dtype == np.bool_ or _is_real_dtype(dtype),
    }[kinds]
    if not accepted:
        expected = {
            "real": "integers or floats",
            "float": "a floating-point array (bf16, f16, f32, f64)",
            "int": "integers",
            "mask": "bools, integers or floats",
        }[kinds]
        raise TypeError(f"{name} must be {expected}, got dtype {dtype}.")


def frequencies(name: str, value: Any, *, ndims: tuple[int, ...]) -> jax.Array | np.ndarray:
    """A frequency vector or matrix: floats or ints of rank in ``ndims``; host data must be finite.

    JAX arrays (learned, possibly traced frequencies) are returned as they are; NumPy data is checked for NaN and
    inf (a static hyperparameter) and returned as float32 NumPy.
    """
    if isinstance(value, jax.Array):
        array(name, value)
        result: jax.Array | np.ndarray = value
    else:
        host = _host_array(name, value)
        if not _is_real_dtype(host.dtype):
            raise TypeError(f"{name} must hold integers or floats, got dtype {host.dtype}.")
        result = host.astype(np.float32)
        if not np.isfinite(result).all():
            raise ValueError(f"{name} must be finite (in float32), got {host.tolist()!r}.")
    if result.ndim not in ndims:
        expected = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{name} must be {expected}, got shape {result.shape}.")
    return result


def rotary_input(x: Any, *, name: str = "x") -> jax.Array:
    """Queries or keys: a floating array ``[..., T, N, H]``."""
    return array(name, x, kinds="float", min_ndim=3)


def leading_dims_fit(name: str, shape: tuple[int, ...], x_shape: tuple[int, ...], *, trailing: int = 1) -> None:
    """``shape`` minus its ``trailing`` dims broadcasts to ``x_shape[:-3]`` (x's batch dims) without enlarging them."""
    batch, leading = tuple(x_shape[:-3]), tuple(shape[: len(shape) - trailing])
    try:
        fits = np.broadcast_shapes(leading, batch) == batch
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} of shape {tuple(shape)} has leading dims {leading}, which do not broadcast to x's batch dims "
            f"{batch} (x shape {tuple(x_shape)}): the result has x's shape, so {name} may have fewer or size-1 "
            "batch dims, never more or larger ones."
        )


def positions_for(positions: Any, x_shape: tuple[int, ...], *, name: str = "positions") -> jax.Array:
    """Positions ``[..., T]`` (int or float) matching ``x [..., T, N, H]``, leading dims broadcasting to x's."""
    positions = array(name, positions)
    length = x_shape[-3]
    if positions.ndim < 1 or positions.shape[-1] != length:
        raise ValueError(
            f"{name} must have shape [..., T] with T = x.shape[-3] = {length}, got shape {positions.shape} "
            f"for x of shape {x_shape}."
        )
    leading_dims_fit(name, positions.shape, x_shape)
    return positions


def head_dim_matches(x: jax.Array, head_dim: int) -> None:
    if x.shape[-1] != head_dim:
        raise ValueError(f"x has head dim {x.shape[-1]} but this RoPE was built for head_dim={head_dim}.")


# ------------------------------------------------------------------------------------------ on device


def raise_if(bad: Any, check: Callable[..., None], *args: Any) -> None:
    """Run ``check(*args)``, which raises a clear error when its inputs are bad (JAX never raises on its own).

    Concrete values are checked at once: the error reaches the caller as raised (a ``ValueError``). Traced ones
    are checked on the device by a host callback taken only when ``bad`` is true (``check`` re-tests its inputs,
    since under vmap the conditional becomes a select). Eager transformations (``vmap``, ``grad`` outside ``jit``)
    run the callback in Python and the error arrives as raised. Inside a compiled computation JAX does not re-raise
    a callback's exception: the call fails with ``jax.errors.JaxRuntimeError`` whose message ends with the error's
    class and text (JAX 0.10.2 on CPU, where the jitted call itself raises).
    """
    if any(isinstance(value, jax.core.Tracer) for value in (bad, *args)):
        jax.lax.cond(bad, lambda: jax.debug.callback(check, *args), lambda: None)
    else:
        check(*args)


# ---------------------------------------------------------------------------------------------- sharding


def mesh_axes(axes: Any) -> tuple[str, ...]:
    """The mesh axis names one entry of a ``PartitionSpec`` names: None, one name or several."""
    return () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)


def devices_along(mesh: Any, names: tuple[str, ...]) -> int:
    """How many devices the mesh axes ``names`` span together (1 for none)."""
    return int(np.prod([mesh.shape[name] for name in names]))


def explicit_mesh() -> bool:
    """Whether the current abstract mesh has an explicit axis (explicit sharding mode: shardings are types)."""
    mesh = jax.sharding.get_abstract_mesh()
    return not mesh.empty and jax.sharding.AxisType.Explicit in mesh.axis_types
