"""KV caches for decoding with RoPE: each kind a small immutable pytree with pure functions, usable without Flax.

A cache holds, per slot, a key and a value, the position its mask compares, and whether the slot holds a real
token. ``cache.append(keys, values, positions)`` writes new tokens and returns the updated cache together with a
:class:`CacheView`: the keys and values the new queries attend over, their positions and validity, and
``view.mask(query_positions)``, the attention mask. Masks compare positions, never slots, so tokens may arrive in
any order. :class:`rope_jax.nn.RoPEAttention` keeps one of these in an ``nnx.Cache``; a Linen or hand-written
model can thread one through its decode step the same way::

    cache = rope_jax.PlainCache.create(batch_size, max_length, num_kv_heads, head_dim)
    positions = cache.token_positions(length=1)                   # [B, 1]
    q, k = rope(q, positions), rope(k, positions)
    cache, view = cache.append(k, v, positions)
    out = jax.nn.dot_product_attention(q, view.keys, view.values, mask=view.mask(positions))

Kinds:

* :class:`PlainCache`: up to ``slots`` tokens in order, as Hugging Face's static cache. A call that does not
  fit writes nothing and sets ``view.overflow`` and the sticky ``cache.overflowed``; with ``check=True`` it also
  raises (see :class:`PlainCache`).
* :class:`WindowCache`: a ring of ``W`` slots for a sliding-window layer whose queries see their last ``W``
  keys; memory stays O(W) and positions grow without bound.
* :class:`SinkCache`: StreamingLLM attention sinks: the first ``sinks`` tokens stay, the other slots keep the
  most recent tokens. Positions are ranks in the cache, so they never leave ``0 .. slots - 1``.

Every kind stores keys ``rotated`` at their positions (the default, as Hugging Face), or unrotated, for the
caller to rotate at read time with the frequencies of the current length (what length-dependent rules such as
dynamic NTK and LongRoPE need).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rope_jax import _checks
from rope_jax._checks import raise_if
from rope_jax.positions import MaskSpec, positions_from_mask

__all__ = ["CacheView", "KVCache", "PlainCache", "SinkCache", "WindowCache"]

CacheT = TypeVar("CacheT", bound="KVCache")


@dataclasses.dataclass(frozen=True)
class CacheView:
    """What the new queries attend over after :meth:`KVCache.append`.

    Attributes:
        keys: ``[B, S, K, H]``.
        values: ``[B, S, K, H]``.
        positions: int32 ``[B, S]``: the position of each key that masks compare.
        valid: bool ``[B, S]``: the slot holds a real token (not padding, not empty, not just evicted).
        overflow: bool ``[]``: the call did not fit in the cache and wrote nothing; its output should not be used.
    """

    keys: jax.Array
    values: jax.Array
    positions: jax.Array
    valid: jax.Array
    overflow: jax.Array

    def mask_spec(self, query_positions: ArrayLike, *, sliding_window: int | None = None) -> MaskSpec:
        """What the queries at ``query_positions`` may see: valid keys at positions ``<=`` theirs.

        Args:
            query_positions: int ``[B, T]`` (or ``[T]``) positions of the queries.
            sliding_window: W: a query at ``p`` sees only keys at ``p - W < position <= p`` (its last W keys,
                itself included, Hugging Face's convention).
        """
        queries = jnp.broadcast_to(
            jnp.asarray(query_positions), (self.positions.shape[0], jnp.shape(query_positions)[-1])
        )
        return MaskSpec(
            query_positions=queries, key_positions=self.positions, key_valid=self.valid, sliding_window=sliding_window
        )

    def mask(self, query_positions: ArrayLike, *, sliding_window: int | None = None) -> jax.Array:
        """Boolean ``[B, 1, T, S]`` attention mask of :meth:`mask_spec`."""
        spec = self.mask_spec(query_positions, sliding_window=sliding_window)
        mask = spec.array(jnp.shape(query_positions)[-1], self.positions.shape[1])
        assert mask is not None  # positions are always compared
        return mask


jax.tree_util.register_dataclass(
    CacheView, data_fields=["keys", "values", "positions", "valid", "overflow"], meta_fields=[]
)


def _raise_cache_full(index: jax.Array, new_tokens: int, slots: int) -> None:
    if index + new_tokens > slots:
        raise ValueError(
            f"KV cache is full: {int(index)} of {int(slots)} slots used and {int(new_tokens)} more tokens "
            "arrived. Create it with more slots (init_cache(..., max_length=...)); nothing was written."
        )


def _raise_overflowed(overflowed: jax.Array, slots: int) -> None:
    if overflowed:
        raise ValueError(
            f"a KV cache of {slots} slots overflowed: a decode call did not fit, wrote nothing and returned NaN. "
            "Create the cache with more slots (init_cache(..., max_length=...))."
        )


@dataclasses.dataclass(frozen=True)
class KVCache:
    """The fields and functions every cache kind shares (create one through a kind's :meth:`create`).

    Attributes:
        keys: ``[B, S, K, H]`` cached keys (rotated or not, see ``rotated``).
        values: ``[B, S, K, H]``.
        positions: int32 ``[B, S]``: the position each key was written at.
        valid: bool ``[B, S]``: the slot holds a real token.
        index: int32 ``[]``: tokens written so far, padding included.
        overflowed: bool ``[]``: some call did not fit (sticky; only a :class:`PlainCache` can fill).
        rotated: Keys are stored rotated at their positions (static).
        check: Raise from the device when a call does not fit (static; see :class:`PlainCache`).
    """

    keys: jax.Array
    values: jax.Array
    positions: jax.Array
    valid: jax.Array
    index: jax.Array
    overflowed: jax.Array
    rotated: bool = True
    check: bool = False

    @classmethod
    def create(
        cls: type[CacheT],
        batch_size: int,
        slots: int,
        num_kv_heads: int,
        head_dim: int,
        *,
        dtype: Any = jnp.float32,
        value_dim: int | None = None,
        rotated: bool = True,
        check: bool = False,
        sharding: jax.sharding.NamedSharding | None = None,
        **kind: Any,
    ) -> CacheT:
        """An empty cache of ``slots`` slots for ``batch_size`` rows.

        Args:
            batch_size: Rows B.
            slots: Slots S (for a :class:`WindowCache`, the window W).
            num_kv_heads: Key/value heads K.
            head_dim: Features per head H.
            dtype: Floating dtype of keys and values.
            value_dim: Features per value head, when not H (DeepSeek's MLA).
            rotated: Store keys rotated (default) or as projected.
            check: Raise when a call does not fit (see :class:`PlainCache`).
            sharding: Where keys and values live, e.g. ``NamedSharding(mesh, P("data", None, "model"))`` (batch
                over data, KV heads over model); positions and flags follow its first two axes. Arrays are
                created already sharded. Default: JAX's default placement.
            **kind: The kind's own settings (``sinks=`` for :class:`SinkCache`).
        """
        batch_size = _checks.positive_int("batch_size", batch_size)
        slots = _checks.positive_int("slots", slots)
        shape = (
            batch_size,
            slots,
            _checks.positive_int("num_kv_heads", num_kv_heads),
            _checks.positive_int("head_dim", head_dim),
        )
        value_shape = shape if value_dim is None else (*shape[:3], _checks.positive_int("value_dim", value_dim))
        dtype = jnp.dtype(dtype)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"a KV cache holds floating-point keys and values; dtype must be floating, got {dtype}.")
        rotated = _checks.boolean("rotated", rotated)
        check = _checks.boolean("check", check)
        cls._check_kind(slots, **kind)

        def zeros() -> dict[str, jax.Array]:
            return {
                "keys": jnp.zeros(shape, dtype),
                "values": jnp.zeros(value_shape, dtype),
                "positions": jnp.zeros(shape[:2], jnp.int32),
                "valid": jnp.zeros(shape[:2], bool),
                "index": jnp.zeros((), jnp.int32),
                "overflowed": jnp.zeros((), bool),
            }

        if sharding is None:
            arrays = zeros()
        else:  # born sharded: each device creates its own block, eagerly and inside jit alike
            shardings = _shardings(sharding, shape)
            arrays = jax.jit(lambda: {name: _constrain(a, shardings[name]) for name, a in zeros().items()})()
        return cls(**arrays, rotated=rotated, check=check, **kind)

    @property
    def slots(self) -> int:
        return self.keys.shape[1]

    @property
    def batch_size(self) -> int:
        return self.keys.shape[0]

    def next_position(self) -> jax.Array:
        """int32 ``[B]``: one past the largest position held in each row (0 for an empty row)."""
        return jnp.max(jnp.where(self.valid, self.positions + 1, 0), axis=-1)

    def token_positions(self, token_mask: ArrayLike | None = None, *, length: int | None = None) -> jax.Array:
        """int32 ``[B, T]`` positions of the next ``T`` tokens: after what the cache holds, counting real tokens.

        Args:
            token_mask: ``[B, T]`` True for real tokens (padding gets the position of the last real one).
            length: T, when ``token_mask`` is None (every token real).
        """
        token_mask = self._token_mask(token_mask, length)
        return self.next_position()[:, None] + positions_from_mask(token_mask)

    def reset(self: CacheT) -> CacheT:
        """The same cache, empty (shapes and settings kept)."""
        return jax.tree.map(jnp.zeros_like, self)

    def raise_if_overflowed(self) -> None:
        """Raise a ValueError if any call so far did not fit (reads one flag from the device; call it outside
        jit, e.g. once after a generation loop)."""
        raise_if(self.overflowed, _raise_overflowed, self.overflowed, self.slots)

    def append(
        self: CacheT,
        keys: ArrayLike,
        values: ArrayLike,
        positions: ArrayLike,
        token_mask: ArrayLike | None = None,
        *,
        rope: Any = None,
    ) -> tuple[CacheT, CacheView]:
        """Write ``T`` new tokens; return the new cache and what the new queries attend over.

        Args:
            keys: ``[B, T, K, H]`` (rotated at ``positions`` if the cache is ``rotated``).
            values: ``[B, T, K, H]``.
            positions: int ``[B, T]`` (or ``[T]``) positions of the new tokens, e.g. :meth:`token_positions`.
            token_mask: ``[B, T]`` True for real tokens (default: all).
            rope: The :class:`rope_jax.RoPE` that rotated the keys; a rotated :class:`SinkCache` moves kept keys
                with its ``shift``. Other kinds ignore it.

        Returns:
            ``(cache, view)``.
        """
        keys, values = jnp.asarray(keys), jnp.asarray(values)
        expected = (self.batch_size, keys.shape[1] if keys.ndim == 4 else -1, *self.keys.shape[2:])
        for name, array, features in (("keys", keys, self.keys.shape[3]), ("values", values, self.values.shape[3])):
            if array.shape != (*expected[:3], features):
                raise ValueError(
                    f"{name} must have shape [B, T, K, H] = {(*expected[:3], features)} for this cache (T: the new "
                    f"tokens), got {array.shape}."
                )
        positions = jnp.broadcast_to(jnp.asarray(positions), expected[:2])
        if not jnp.issubdtype(positions.dtype, jnp.integer):
            raise TypeError(f"a KV cache stores integer positions; got positions of dtype {positions.dtype}.")
        token_mask = self._token_mask(token_mask, expected[1])
        keys, values = _sharded_like(keys, self.keys), _sharded_like(values, self.values)
        positions, token_mask = (
            _sharded_like(positions.astype(jnp.int32), self.positions),
            _sharded_like(token_mask, self.valid),
        )
        return self._append(keys, values, positions, token_mask, rope)

    # --------------------------------------------------------------------------------------- for the kinds

    @classmethod
    def _check_kind(cls, slots: int, **kind: Any) -> None:
        """Check the kind's own settings at creation (none for the base)."""
        if kind:
            raise TypeError(f"{cls.__name__} takes no {', '.join(sorted(kind))}.")

    def _token_mask(self, token_mask: ArrayLike | None, length: int | None) -> jax.Array:
        if token_mask is None:
            if length is None:
                raise ValueError("pass token_mask [B, T] or length=T.")
            return jnp.ones((self.batch_size, length), bool)
        token_mask = jnp.asarray(token_mask, bool)
        if token_mask.ndim != 2 or token_mask.shape[0] != self.batch_size:
            raise ValueError(f"token_mask must have shape [B, T] with B = {self.batch_size}, got {token_mask.shape}.")
        return token_mask

    def _append(self, keys, values, positions, token_mask, rope) -> tuple[Any, CacheView]:
        raise NotImplementedError

    def _ring_write(self, slots: jax.Array, keys, values, positions, token_mask, index: jax.Array) -> Any:
        """The cache with the last tokens that fit written at ``slots`` (one slot per new token)."""
        keep = min(keys.shape[1], self.slots)  # static: a longer chunk's earlier tokens would be overwritten
        at = slots[-keep:]

        def write(cached: jax.Array, new: jax.Array) -> jax.Array:
            return cached.at[:, at].set(new[:, -keep:].astype(cached.dtype))

        return dataclasses.replace(
            self,
            keys=write(self.keys, keys),
            values=write(self.values, values),
            positions=write(self.positions, positions),
            valid=write(self.valid, token_mask),
            index=index,
        )


def _sharded_like(new: jax.Array, cached: jax.Array) -> jax.Array:
    """``new`` with ``cached``'s sharding per axis in explicit sharding mode (where arrays that meet in one
    operation must agree); unchanged otherwise, where the partitioner places it."""
    if not _checks.explicit_mesh():
        return new
    return jax.sharding.reshard(new, jax.typeof(cached).sharding.spec)


def _constrain(array: jax.Array, sharding: jax.sharding.NamedSharding) -> jax.Array:
    """``array`` placed as ``sharding`` inside a computation: a reshard on explicit mesh axes, else a constraint."""
    explicit = all(kind == jax.sharding.AxisType.Explicit for kind in sharding.mesh.axis_types)
    return jax.sharding.reshard(array, sharding) if explicit else jax.lax.with_sharding_constraint(array, sharding)


def _shardings(keys: jax.sharding.NamedSharding, shape: tuple[int, ...]) -> dict[str, jax.sharding.NamedSharding]:
    """Shardings of every cache array from the keys' one: positions and flags follow its batch and slot axes."""
    if not isinstance(keys, jax.sharding.NamedSharding):
        raise TypeError(f"sharding must be a jax.sharding.NamedSharding for the keys, got {type(keys).__name__}.")
    spec = tuple(keys.spec) + (None,) * (len(shape) - len(keys.spec))
    for size, axes, what in zip(shape, spec, ("rows", "slots", "KV heads", "features per head"), strict=False):
        names = _checks.mesh_axes(axes)
        devices = _checks.devices_along(keys.mesh, names)
        if size % devices:
            raise ValueError(
                f"the cache sharding {keys.spec} splits {size} {what} over mesh axis "
                f"{names[0] if len(names) == 1 else names!r} ({devices} devices), which does not divide them. "
                "Replicate that axis (None in the PartitionSpec) or pick a mesh axis whose size divides it."
            )
    rows = jax.sharding.NamedSharding(keys.mesh, jax.sharding.PartitionSpec(*spec[:2]))
    scalar = jax.sharding.NamedSharding(keys.mesh, jax.sharding.PartitionSpec())
    return {"keys": keys, "values": keys, "positions": rows, "valid": rows, "index": scalar, "overflowed": scalar}


@dataclasses.dataclass(frozen=True)
class PlainCache(KVCache):
    """Up to ``slots`` tokens in order, as Hugging Face's static cache.

    A call whose tokens do not fit never drops any silently: it writes nothing (the cache keeps its contents
    and can be used on), sets ``view.overflow`` (:class:`rope_jax.nn.RoPEAttention` then returns NaN) and the
    sticky ``overflowed`` flag, which :meth:`raise_if_overflowed` turns into a ValueError once, e.g. after a
    generation loop. With ``check=True`` the call itself also raises, through a host callback the device takes
    only then; on a GPU the conditional around it reads its predicate on the host at every step, which doubled
    a decode step on an H200 (README, GPU section), so it is off by default.
    """

    def _append(self, keys, values, positions, token_mask, rope) -> tuple[PlainCache, CacheView]:
        length = keys.shape[1]
        if length > self.slots:
            raise ValueError(f"{length} tokens cannot fit in a cache of {self.slots} slots; create a larger one.")
        full = self.index + length > self.slots
        if self.check:
            raise_if(full, _raise_cache_full, self.index, length, self.slots)
        zero = jnp.zeros((), self.index.dtype)
        start = jnp.minimum(self.index, self.slots - length)  # where dynamic_update_slice writes (it clamps)

        def write(cached: jax.Array, new: jax.Array) -> jax.Array:  # a full cache rewrites what it holds
            at = (zero, start) + (zero,) * (cached.ndim - 2)
            new = jnp.where(full, jax.lax.dynamic_slice(cached, at, new.shape), new.astype(cached.dtype))
            return jax.lax.dynamic_update_slice(cached, new, at)

        cache = dataclasses.replace(
            self,
            keys=write(self.keys, keys),
            values=write(self.values, values),
            positions=write(self.positions, positions),
            valid=write(self.valid, token_mask),
            index=jnp.where(full, self.index, self.index + length),
            overflowed=self.overflowed | full,
        )
        return cache, CacheView(cache.keys, cache.values, cache.positions, cache.valid, full)


@dataclasses.dataclass(frozen=True)
class WindowCache(KVCache):
    """A ring of W slots for a layer whose queries see their last W keys (``slots`` = W).

    Token ``t`` (counting padding) lives in slot ``t % W``. The new tokens attend over the ring as it was plus
    themselves (an early token of a long chunk may still need a key a later one overwrites); then the last
    W of them are written. Never full.
    """

    def _append(self, keys, values, positions, token_mask, rope) -> tuple[WindowCache, CacheView]:
        length = keys.shape[1]
        times = self.index + jnp.arange(length, dtype=self.index.dtype)
        view = _concatenated(self, self.keys, self.positions, self.valid, keys, values, positions, token_mask)
        return self._ring_write(times % self.slots, keys, values, positions, token_mask, self.index + length), view


@dataclasses.dataclass(frozen=True)
class SinkCache(KVCache):
    """Attention sinks (StreamingLLM, llama.cpp's context shift): the first ``sinks`` tokens stay, the other
    slots keep the most recent tokens, the oldest evicted first.

    Positions are ranks in the cache (``0 .. n - 1``), so they never leave the trained range. Keys are stored as
    written; a rotated cache reads each one moved to its current rank by one :meth:`rope_jax.RoPE.shift` from
    the key as written, which equals a fresh prefill of the sinks and the kept tokens (shifting stored keys at
    every eviction would pile up float32 rounding). Calls take at most ``slots - sinks`` tokens, no padding, and
    no positions but :meth:`token_positions`' own.

    Attributes:
        sinks: Tokens kept at the start (``1 <= sinks < slots``; static).
    """

    sinks: int = 4

    @classmethod
    def _check_kind(cls, slots: int, **kind: Any) -> None:
        unknown = set(kind) - {"sinks"}
        if unknown:
            raise TypeError(f"SinkCache takes sinks=, not {', '.join(sorted(unknown))}.")
        sinks = _checks.positive_int("sinks", kind.get("sinks", cls.sinks))
        if sinks >= slots:
            raise ValueError(
                f"a cache with sinks={sinks} needs more slots (init_cache's max_length) than sinks to keep a "
                f"recent token, got {slots}."
            )

    def _ranks(self, length: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """For a call of ``length`` tokens: their slots ``[T]``, the current rank of each cached key ``[B, S]``,
        and the slots the call overwrites ``[S]`` (their tokens are evicted by it)."""
        ring = self.slots - self.sinks
        if length > ring:
            raise ValueError(
                f"a cache with {self.slots} slots and sinks={self.sinks} takes at most {ring} tokens per call, "
                f"got {length}."
            )
        index = self.index
        times = index + jnp.arange(length, dtype=index.dtype)
        new_slots = jnp.where(times < self.sinks, times, self.sinks + (times - self.sinks) % ring)
        slot = jnp.arange(self.slots, dtype=index.dtype)
        slot_times = jnp.where(slot < self.sinks, slot, index - 1 - (index - 1 - slot) % ring)  # latest token
        evicted = jnp.maximum(index + length - self.slots, 0)  # so far, this call's included
        ranks = jnp.broadcast_to(slot_times - jnp.where(slot < self.sinks, 0, evicted), self.positions.shape)
        overwritten = jnp.zeros(self.slots, bool).at[new_slots].set(True)
        return new_slots, ranks.astype(jnp.int32), overwritten

    def token_positions(self, token_mask: ArrayLike | None = None, *, length: int | None = None) -> jax.Array:
        """int32 ``[B, T]``: the ranks the next T tokens get (right after the kept ones, evictions counted)."""
        if token_mask is not None:
            raise ValueError(
                "a cache with sinks takes no attention_mask (padding would become the sinks); got one of shape "
                f"{jnp.shape(token_mask)}."
            )
        if length is None:
            raise ValueError("pass length=T: the number of new tokens.")
        _, ranks, overwritten = self._ranks(length)
        kept = self.valid & ~overwritten
        following = jnp.max(jnp.where(kept, ranks + 1, 0), axis=-1)
        return following[:, None] + jnp.arange(length, dtype=jnp.int32)

    def _append(self, keys, values, positions, token_mask, rope) -> tuple[SinkCache, CacheView]:
        length = keys.shape[1]
        new_slots, ranks, overwritten = self._ranks(length)
        stored = self.keys
        if self.rotated and rope is not None:
            stored = rope.shift(stored, ranks - self.positions)  # one shift from each key as written
        view = _concatenated(self, stored, ranks, self.valid & ~overwritten, keys, values, positions, token_mask)
        return self._ring_write(new_slots, keys, values, positions, token_mask, self.index + length), view


def _concatenated(cache: KVCache, old_keys, old_positions, old_valid, keys, values, positions, token_mask) -> CacheView:
    """A view of the cached keys (as given) followed by the new ones."""
    return CacheView(
        keys=jnp.concatenate([old_keys, keys.astype(old_keys.dtype)], axis=1),
        values=jnp.concatenate([cache.values, values.astype(cache.values.dtype)], axis=1),
        positions=jnp.concatenate([old_positions, positions], axis=1),
        valid=jnp.concatenate([old_valid, token_mask], axis=1),
        overflow=jnp.zeros((), bool),
    )


_DATA = ["keys", "values", "positions", "valid", "index", "overflowed"]
for _kind, _meta in ((PlainCache, []), (WindowCache, []), (SinkCache, ["sinks"])):
    jax.tree_util.register_dataclass(_kind, data_fields=_DATA, meta_fields=["rotated", "check", *_meta])
