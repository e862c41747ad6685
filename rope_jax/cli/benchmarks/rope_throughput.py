"""Throughput of apply_rope on q and k against the memory roofline, measured in one run.

    python benchmarks/rope_throughput.py            # size chosen for the backend
    python benchmarks/rope_throughput.py --quick    # tiny size, a smoke test

Every variant reads q and k once and writes rotated q and k once, so an elementwise pass over the same
tensors (``-q, -k``) is the memory roofline: the table reports each variant's time as a multiple of that pass,
measured in the same process, interleaved round by round (the ratio is taken within each round; median and
min-max over the rounds).

Variants:
    copy pass            -q, -k: the roofline.
    rope_jax             rope_jax.apply_rope (RoPE(...) called on q and k): what users get on this platform.
    rope_jax precise     the same with precise_angles=True.
    cos/sin table        rope_jax.RoPETable: precomputed rows gathered by position (check=False).
    CPU form             the CPU formulation forced: cos/sin evaluated once per position and pair (read back
                         through a gather), pairs read through a reshape into a size-2 axis.
    GPU form             the GPU/TPU formulation forced: cos/sin left to XLA's fusion, pairs read by slices.
    precise, CPU form    precise angles, each formulation.
    precise, GPU form
    interleaved, CPU form   interleaved pairs (Meta / GPT-J layout), each formulation.
    interleaved, GPU form
    complex (naive)      precompute-then-apply with complex numbers: interleaved pairs times exp(i angle).
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp

import rope_jax
from rope_jax import rotary
from rope_jax.cli.benchmarks._timing import fmt, markdown_table, ratio_rows, time_rounds

THETA = 500000.0


def shapes_for_backend(quick: bool, *, backend: str | None = None) -> dict[str, Any]:
    """q/k shapes (prefill): tiny for ``quick``; LLaMA-3-8B attention at B 8, T 4096 on accelerators."""
    backend = backend or jax.default_backend()
    if quick:
        return dict(batch=1, length=128, q_heads=4, kv_heads=2, head_dim=64)
    if backend in ("gpu", "tpu"):
        return dict(batch=8, length=4096, q_heads=32, kv_heads=8, head_dim=128)
    return dict(batch=1, length=2048, q_heads=32, kv_heads=8, head_dim=128)


def decode_shape(quick: bool) -> dict[str, Any]:
    """One decoded token per row, positions near 100k (a long-context decode step)."""
    if quick:
        return dict(batch=4, length=1, q_heads=4, kv_heads=2, head_dim=64, first_position=100_000)
    return dict(batch=64, length=1, q_heads=32, kv_heads=8, head_dim=128, first_position=100_000)


def inputs(shape: dict[str, Any], dtype: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``q [B, T, N, H]``, ``k [B, T, K, H]`` (standard normal) and int32 positions ``[B, T]``.

    Positions are ``0 .. T - 1``; with ``first_position`` (decode shapes) row ``b`` starts at
    ``first_position + 7 b``, so rows disagree as in a batch of different prompts.
    """
    batch, length, head_dim = shape["batch"], shape["length"], shape["head_dim"]
    key_q, key_k = jax.random.split(jax.random.key(0))
    q = jax.random.normal(key_q, (batch, length, shape["q_heads"], head_dim), dtype)
    k = jax.random.normal(key_k, (batch, length, shape["kv_heads"], head_dim), dtype)
    positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))
    if "first_position" in shape:
        positions = positions + shape["first_position"] + 7 * jnp.arange(batch, dtype=jnp.int32)[:, None]
    return q, k, positions


def variants(head_dim: int, max_position: int) -> dict[str, Any]:
    """Name -> jitted ``f(q, k, positions) -> (q, k)`` for every variant in the module docstring."""
    rope = rope_jax.RoPE(head_dim=head_dim, theta=THETA)
    precise = rope_jax.RoPE(head_dim=head_dim, theta=THETA, precise_angles=True)
    table = rope.table(max_position + 1)
    inv_freq = jnp.asarray(rope.inv_freq)

    def formulation(platform: str, precise: bool = False, interleaved: bool = False):
        def rotate(x, positions):
            angles = rope_jax.rope_angles(positions, inv_freq, precise=precise)
            cos, sin = jnp.cos(angles), jnp.sin(angles)
            if platform == "cpu":
                cos, sin = rotary._evaluated_once(cos, sin)
            form = rotary._rotate_by_pair_axis if platform == "cpu" else rotary._rotate_by_slices
            return form(x, cos[..., None, :], sin[..., None, :], interleaved=interleaved).astype(x.dtype)

        return rotate

    def complex_naive(x, positions):
        angles = positions.astype(jnp.float32)[..., None, None] * inv_freq  # [B, T, 1, P]
        pairs = x.astype(jnp.float32).reshape(*x.shape[:-1], head_dim // 2, 2)
        rotated = jax.lax.complex(pairs[..., 0], pairs[..., 1]) * jnp.exp(
            jax.lax.complex(jnp.zeros_like(angles), angles)
        )
        return jnp.stack([rotated.real, rotated.imag], axis=-1).reshape(x.shape).astype(x.dtype)

    def pair(fn):
        return jax.jit(lambda q, k, positions: (fn(q, positions), fn(k, positions)))

    return {
        "copy pass": jax.jit(lambda q, k, positions: (-q, -k)),
        "rope_jax": pair(rope),
        "rope_jax precise": pair(precise),
        "cos/sin table": pair(lambda x, p: table(x, p, check=False)),
        "CPU form": pair(formulation("cpu")),
        "GPU form": pair(formulation("gpu")),
        "precise, CPU form": pair(formulation("cpu", precise=True)),
        "precise, GPU form": pair(formulation("gpu", precise=True)),
        "interleaved, CPU form": pair(formulation("cpu", interleaved=True)),
        "interleaved, GPU form": pair(formulation("gpu", interleaved=True)),
        "complex (naive)": pair(complex_naive),
    }


def measure(shape: dict[str, Any], dtype: Any, *, rounds: int) -> dict[str, Any]:
    """Time every variant at ``shape`` in ``dtype``, after checking each computes the same rotation.

    Returns:
        ``{"shape", "dtype", "megabytes", "rows": name -> {"ms", "ratio"} spreads (ratio: x the copy pass)}``.
    """
    q, k, positions = inputs(shape, dtype)
    fns = variants(shape["head_dim"], int(jnp.max(positions)))
    half_split = fns["rope_jax"](q, k, positions)
    interleaved = jax.jit(
        lambda q, k, p: (
            rope_jax.apply_rope(q, p, theta=THETA, interleaved=True),
            rope_jax.apply_rope(k, p, theta=THETA, interleaved=True),
        )
    )(q, k, positions)
    for name, fn in fns.items():
        if name == "copy pass":
            continue
        reference = interleaved if "interleaved" in name or name == "complex (naive)" else half_split
        err = max(
            float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
            for a, b in zip(fn(q, k, positions), reference, strict=True)
        )
        # A wrong rotation is O(1) off; bf16 rounding and float32 angles near 100k (4e-3 rad) stay below this.
        assert err < 0.05, f"{name} disagrees with rope_jax by {err}"
    calls = {name: (lambda fn=fn: fn(q, k, positions)) for name, fn in fns.items()}
    samples = time_rounds(calls, rounds=rounds)
    return {
        "shape": {
            "q": list(q.shape),
            "k": list(k.shape),
            "positions": f"{int(positions.min())}..{int(positions.max())}",
        },
        "dtype": jnp.dtype(dtype).name,
        "megabytes": 2 * (q.size + k.size) * q.dtype.itemsize / 1e6,
        "rounds": rounds,
        "rows": ratio_rows(samples, "copy pass"),
    }


def table(result: dict[str, Any]) -> str:
    """A markdown table of :func:`measure`'s result."""
    rows = []
    copy_ms = result["rows"]["copy pass"]["ms"]["median"]
    for name, row in result["rows"].items():
        ratio = row["ratio"]
        rows.append(
            [
                name,
                fmt(row["ms"], 3),
                fmt(ratio, 2, "x"),
                f"{1 / ratio['median']:.2f}",
                f"{result['megabytes'] / 1e3 / (row['ms']['median'] / 1e3):.0f}",
            ]
        )
    s = result["shape"]
    caption = (
        f"q {tuple(s['q'])}, k {tuple(s['k'])}, {result['dtype']}, positions {s['positions']}; "
        f"{result['megabytes']:.1f} MB read+written per call; copy pass {copy_ms:.3f} ms; "
        f"median (min-max) of {result['rounds']} interleaved rounds"
    )
    header = ["variant", "time (ms)", "x copy pass", "copy / variant", "GB/s"]
    return caption + "\n\n" + markdown_table(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, for a smoke test")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind})\n")
    print(table(measure(shapes_for_backend(args.quick), jnp.dtype(args.dtype), rounds=rounds)))


if __name__ == "__main__":
    main()
