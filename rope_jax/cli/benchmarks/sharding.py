"""Collectives in the compiled HLO of every pure RoPE function, under every layout of q over 8 devices.

    python benchmarks/sharding_collectives.py     # simulates 8 CPU devices when fewer are present

RoPE is elementwise given positions, so under any sharding of batch, sequence or heads its compiled program
should hold no collective. For q ``[B, T, N, H]`` sharded by each layout over a 2 x 4 mesh (positions and
coordinates sharded to match), the table counts the collectives of ``jax.jit(f).lower(...).compile()``, and
checks that the result equals one device's and keeps q's sharding. The last rows are the reductions the maths
needs, each avoidable by an argument: a length-dependent rule deciding from ``max(positions)`` (pass
``length=``) and the table's bounds check (``check=False``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import rope_jax
from rope_jax.cli.benchmarks._timing import COLLECTIVES, markdown_table

B, T, N, H = 8, 32, 8, 16
BOTH = ("data", "model")
LAYOUTS = {
    "batch": P(BOTH),
    "sequence": P(None, BOTH),
    "heads": P(None, None, BOTH),
    "batch x sequence": P("data", "model"),
    "batch x heads": P("data", None, "model"),
}


def functions() -> dict[str, Callable[[jax.Array, jax.Array], jax.Array]]:
    """Name -> ``f(q [B, T, N, H], positions [B, T]) -> [B, T, N, H]``, one per public entry point."""
    rope = rope_jax.RoPE(head_dim=H, theta=500.0)
    precise = rope_jax.RoPE(head_dim=H, theta=500.0, precise_angles=True, interleaved=True, rotary_dim=H // 2)
    dynamic = rope_jax.RoPE(head_dim=H, scaling=rope_jax.DynamicNTK(2.0, 16))
    table = rope.table(T)
    mrope = rope_jax.RoPENd.mrope(rope, [2, 3, 3])
    per_head = rope_jax.mixed_frequencies(jax.random.key(0), N, H, num_axes=2)

    def coords(positions: jax.Array, axes: int) -> jax.Array:
        return jnp.stack([positions // (a + 1) for a in range(axes)], axis=-1)  # [B, T, A], sharded as positions

    def with_cos_sin(q: jax.Array, positions: jax.Array) -> jax.Array:
        cos, sin = rope.cos_sin(positions)
        return rope_jax.rotate(q, cos, sin)

    return {
        "apply_rope": lambda q, p: rope_jax.apply_rope(q, p, theta=500.0),
        "RoPE": rope,
        "RoPE precise, interleaved, partial": precise,
        "RoPE.shift": lambda q, p: rope.shift(q, p),
        "RoPE.cos_sin + rotate": with_cos_sin,
        "RoPETable, check=False": lambda q, p: table(q, p, check=False),
        "apply_rope_nd, axial": lambda q, p: rope_jax.apply_rope_nd(q, coords(p, 2)),
        "RoPENd.mrope": lambda q, p: mrope(q, coords(p, 3)),
        "apply_rope_nd, per-head freqs": lambda q, p: rope_jax.apply_rope_nd(q, coords(p, 2), freqs=per_head),
        "dynamic NTK, length=": lambda q, p: dynamic(q, p, length=T),
        "dynamic NTK from max(positions)": dynamic,
        "RoPETable, check=True": lambda q, p: table(q, p),
    }


def collectives(hlo: str) -> dict[str, int]:
    """Collectives in compiled HLO text, by kind (asynchronous start/done pairs counted once)."""
    counts = {name: len(re.findall(rf"\s{name}(?:-start)?\(", hlo)) for name in COLLECTIVES}
    return {name: count for name, count in counts.items() if count}


def mesh_2x4() -> Mesh:
    devices = jax.devices()
    if len(devices) < 8:
        raise RuntimeError(
            f"the sharding table needs 8 devices, found {len(devices)}; on a CPU set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=8 before JAX starts."
        )
    return Mesh(np.asarray(devices[:8]).reshape(2, 4), ("data", "model"))


def measure(mesh: Mesh | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """For every function and layout: ``collectives``, ``max_error`` against one device, ``keeps_sharding``."""
    mesh = mesh or mesh_2x4()
    q = jax.random.normal(jax.random.key(1), (B, T, N, H), jnp.float32)
    positions = jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32), (B, T))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name, fn in functions().items():
        reference = np.asarray(jax.jit(fn)(q, positions))
        results[name] = {}
        for layout, spec in LAYOUTS.items():
            q_sharding = NamedSharding(mesh, spec)
            p_sharding = NamedSharding(mesh, P(*tuple(spec)[:2]))
            q_sharded, p_sharded = jax.device_put(q, q_sharding), jax.device_put(positions, p_sharding)
            compiled = jax.jit(fn).lower(q_sharded, p_sharded).compile()
            out = compiled(q_sharded, p_sharded)
            results[name][layout] = {
                "collectives": collectives(compiled.as_text() or ""),
                "max_error": float(np.max(np.abs(np.asarray(out) - reference))),
                "keeps_sharding": out.sharding.is_equivalent_to(q_sharding, q.ndim),
            }
    return results


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Markdown: function x layout -> the collectives (``-`` for none), flagged where values or sharding differ."""
    rows = []
    for name, by_layout in results.items():
        row = [name]
        for cell in by_layout.values():
            text = ", ".join(f"{kind} x{count}" for kind, count in cell["collectives"].items()) or "-"
            if cell["max_error"] > 1e-5:
                text += f" (error {cell['max_error']:.1e})"
            if not cell["keeps_sharding"]:
                text += " (resharded)"
            row.append(text)
        rows.append(row)
    return markdown_table(["function", *LAYOUTS], rows)


def main(argv: list[str] | None = None) -> None:
    print(
        f"q [{B}, {T}, {N}, {H}] float32 over a 2 x 4 mesh ({jax.default_backend()}); collectives in the compiled "
        f"HLO of jax.jit(f)(q, positions), positions sharded as q's batch and sequence axes\n"
    )
    print(table(measure()))


if __name__ == "__main__":
    main()
