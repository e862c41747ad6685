"""Angle error of float32 products vs the precise mode, against float64, and what the precise mode costs.

    python benchmarks/angle_precision.py

For LLaMA-3-like frequencies (head dim 128, theta 500000) and 4096 consecutive positions ending at each
listed position, prints the largest angle error (modulo 2 pi) and the largest error in cos, for
``positions.astype(float32) * inv_freq`` (what PyTorch/Hugging Face compute) and for
``rope_angles(..., precise=True)``. The float64 reference takes the float32 frequencies as exact:
``float64(position) * float64(inv_freq)``. The last lines time both modes on the same inputs in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import rope_jax

ENDS = [1_000, 10_000, 100_000, 1_000_000, 4_000_000, 16_000_000, 2**24]


def errors(positions: np.ndarray, inv_freq: np.ndarray, precise: bool) -> tuple[float, float, float]:
    angles = np.asarray(rope_jax.rope_angles(jnp.asarray(positions, jnp.int32), inv_freq, precise=precise))
    exact = positions.astype(np.float64)[:, None] * inv_freq.astype(np.float64)
    angle_error = np.abs(np.angle(np.exp(1j * (angles.astype(np.float64) - exact)))).max()
    cos_error = np.abs(np.cos(angles.astype(np.float64)) - np.cos(exact))
    return (
        float(angle_error),
        float(cos_error.max()),
        float(cos_error.mean(axis=0).max()),
    )  # mean over positions, worst pair


def timing(inv_freq, length=8192, rounds=15) -> dict[bool, float]:
    positions = jnp.arange(2**24 - length, 2**24, dtype=jnp.int32)[None]
    fns = {
        precise: jax.jit(lambda p, precise=precise: rope_jax.rope_angles(p, inv_freq, precise=precise))
        for precise in (False, True)
    }
    samples: dict[bool, list[float]] = {precise: [] for precise in fns}
    for fn in fns.values():
        jax.block_until_ready(fn(positions))
    for _ in range(rounds):
        for precise, fn in fns.items():
            start = time.perf_counter()
            for _ in range(20):
                out = fn(positions)
            jax.block_until_ready(out)
            samples[precise].append((time.perf_counter() - start) / 20)
    return {precise: statistics.median(times) for precise, times in samples.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="three positions and a short timing")
    args = parser.parse_args(argv)
    ends = [10_000, 1_000_000, 2**24] if args.quick else ENDS
    inv_freq = rope_jax.RoPE(head_dim=128, theta=500000.0).inv_freq
    print("angle error (rad, modulo 2 pi) and cos error over the 4096 positions up to each position, all 64 pairs")
    print(
        f"{'position':>10s} | {'float32: max angle':>18s} {'max cos':>9s} {'worst-pair mean':>15s} | "
        f"{'precise: max angle':>18s} {'max cos':>9s}"
    )
    for end in ends:
        positions = np.arange(max(0, end - 4096), end + 1)
        plain, precise = errors(positions, inv_freq, False), errors(positions, inv_freq, True)
        print(f"{end:>10d} | {plain[0]:18.2e} {plain[1]:9.2e} {plain[2]:15.2e} | {precise[0]:18.2e} {precise[1]:9.2e}")
    times = timing(inv_freq, rounds=3 if args.quick else 15)
    print(
        f"angles for 8192 positions x 64 pairs: float32 {times[False] * 1e6:.1f} us, "
        f"precise {times[True] * 1e6:.1f} us ({times[True] / times[False]:.2f}x); backend {jax.default_backend()}"
    )


if __name__ == "__main__":
    main()
