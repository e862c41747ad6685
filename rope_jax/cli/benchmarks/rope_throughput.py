"""Throughput of apply_rope on q and k against the memory roofline, measured in one run.

    python benchmarks/rope_throughput.py            # size chosen for the backend
    python benchmarks/rope_throughput.py --quick    # tiny size, a smoke test

Every variant reads q and k once and writes rotated q and k once, so an elementwise pass over the same
tensors (``-q, -k``) is the memory roofline: the table reports each variant's time as a multiple of that pass,
measured in the same process, interleaved round by round. The median of the rounds is reported.

Variants:
    copy pass         -q, -k: the roofline.
    rope_jax          rope_jax.apply_rope (angles per position and pair, one fused rotation).
    rope_jax precise  the same with precise_angles=True.
    cos/sin table     rope_jax.RoPETable: precomputed rows gathered by position (check=False).
    complex (naive)   precompute-then-apply with complex numbers: interleaved pairs times exp(i angle).
    per-element trig  sin/cos evaluated for every element (angles broadcast over heads before the trig).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

import rope_jax


def shapes_for_backend(quick: bool) -> dict:
    if quick:
        return dict(batch=1, length=128, q_heads=4, kv_heads=2, head_dim=64, dtype=jnp.bfloat16)
    if jax.default_backend() == "gpu":
        return dict(batch=8, length=4096, q_heads=32, kv_heads=8, head_dim=128, dtype=jnp.bfloat16)
    return dict(batch=1, length=2048, q_heads=32, kv_heads=8, head_dim=128, dtype=jnp.bfloat16)


def variants(head_dim: int, max_length: int):
    rope = rope_jax.RoPE(head_dim=head_dim, theta=500000.0)
    precise = rope_jax.RoPE(head_dim=head_dim, theta=500000.0, precise_angles=True)
    table = rope.table(max_length)
    inv_freq = jnp.asarray(rope.inv_freq)

    def complex_naive(x, positions):
        angles = positions.astype(jnp.float32)[..., None, None] * inv_freq  # [B, T, 1, P]
        pairs = x.astype(jnp.float32).reshape(*x.shape[:-1], head_dim // 2, 2)
        rotated = jax.lax.complex(pairs[..., 0], pairs[..., 1]) * jnp.exp(
            jax.lax.complex(jnp.zeros_like(angles), angles)
        )
        return jnp.stack([rotated.real, rotated.imag], axis=-1).reshape(x.shape).astype(x.dtype)

    def per_element_trig(x, positions):
        angles = positions.astype(jnp.float32)[..., None, None] * jnp.ones((x.shape[-2], 1)) * inv_freq
        return rope_jax.rotate(x, jnp.cos(angles), jnp.sin(angles), per_head=True)

    def pair(fn):
        return jax.jit(lambda q, k, positions: (fn(q, positions), fn(k, positions)))

    return {
        "copy pass": jax.jit(lambda q, k, positions: (-q, -k)),
        "rope_jax": pair(rope),
        "rope_jax precise": pair(precise),
        "cos/sin table": pair(lambda x, p: table(x, p, check=False)),
        "complex (naive)": pair(complex_naive),
        "per-element trig": pair(per_element_trig),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, for a smoke test")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    s = shapes_for_backend(args.quick)
    rounds = args.rounds or (3 if args.quick else 15)
    key_q, key_k = jax.random.split(jax.random.key(0))
    q = jax.random.normal(key_q, (s["batch"], s["length"], s["q_heads"], s["head_dim"]), s["dtype"])
    k = jax.random.normal(key_k, (s["batch"], s["length"], s["kv_heads"], s["head_dim"]), s["dtype"])
    positions = jnp.broadcast_to(jnp.arange(s["length"], dtype=jnp.int32), (s["batch"], s["length"]))
    fns = variants(s["head_dim"], s["length"])
    half_split = fns["rope_jax"](q, k, positions)
    interleaved = jax.jit(
        lambda q, k, p: (
            rope_jax.apply_rope(q, p, theta=500000.0, interleaved=True),
            rope_jax.apply_rope(k, p, theta=500000.0, interleaved=True),
        )
    )
    interleaved = interleaved(q, k, positions)
    for name, fn in fns.items():  # compile, warm up, and check every variant computes the same rotation
        out = jax.block_until_ready(fn(q, k, positions))
        reference = interleaved if name == "complex (naive)" else half_split
        if name != "copy pass":
            err = max(
                float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
                for a, b in zip(out, reference, strict=True)
            )
            assert err < 0.05, f"{name} disagrees with rope_jax by {err}"
    bytes_moved = 2 * (q.size + k.size) * q.dtype.itemsize
    iterations = max(1, int(0.2 / _time_once(fns["copy pass"], q, k, positions)))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(iterations):
                out = fn(q, k, positions)
            jax.block_until_ready(out)
            samples[name].append((time.perf_counter() - start) / iterations)
    copy = statistics.median(samples["copy pass"])
    print(
        f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind}); "
        f"q {tuple(q.shape)}, k {tuple(k.shape)}, {q.dtype}; {bytes_moved / 1e6:.1f} MB read+written per call; "
        f"median of {rounds} rounds x {iterations} calls"
    )
    print(f"{'variant':18s} {'time (ms)':>10s} {'x copy pass':>12s} {'copy / variant':>15s} {'GB/s':>8s}")
    for name, times in samples.items():
        t = statistics.median(times)
        print(f"{name:18s} {t * 1e3:10.3f} {t / copy:12.2f} {copy / t:15.2f} {bytes_moved / t / 1e9:8.1f}")


def _time_once(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return max(time.perf_counter() - start, 1e-6)


if __name__ == "__main__":
    main()
