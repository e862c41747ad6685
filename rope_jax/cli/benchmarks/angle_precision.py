"""Angle error of float32 products vs the precise mode, against float64, and what the precise mode costs.

    python benchmarks/angle_precision.py

For LLaMA-3-like frequencies (head dim 128, theta 500000) and 4096 consecutive positions ending at each
listed position, prints the largest angle error (modulo 2 pi) and the largest error in cos, for
``positions.astype(float32) * inv_freq`` (what PyTorch/Hugging Face compute) and for
``rope_angles(..., precise=True)``, computed on the default backend. The float64 reference takes the float32
frequencies as exact: ``float64(position) * float64(inv_freq)``. The last line times both modes on the same
inputs in one run (interleaved rounds).
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import rope_jax
from rope_jax.cli.benchmarks._timing import fmt, markdown_table, ratio_rows, time_rounds

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


def timing(inv_freq, length=8192, rounds=15) -> dict[str, list[float]]:
    """Seconds per call of the float32 and the precise angles for ``length`` positions ending at 2**24."""
    positions = jnp.arange(2**24 - length, 2**24, dtype=jnp.int32)[None]
    fns = {
        name: jax.jit(lambda p, precise=precise: rope_jax.rope_angles(p, inv_freq, precise=precise))
        for name, precise in (("float32", False), ("precise", True))
    }
    return time_rounds({name: (lambda fn=fn: fn(positions)) for name, fn in fns.items()}, rounds=rounds)


def measure(ends: list[int], *, rounds: int) -> dict[str, Any]:
    """The error table and the timing, as data: ``{"rows": [...], "timing": name -> {"ms", "ratio"}}``."""
    inv_freq = rope_jax.RoPE(head_dim=128, theta=500000.0).inv_freq
    rows = []
    for end in ends:
        positions = np.arange(max(0, end - 4096), end + 1)
        plain, precise = errors(positions, inv_freq, False), errors(positions, inv_freq, True)
        rows.append(
            {
                "position": end,
                "float32": dict(zip(("max_angle", "max_cos", "worst_pair_mean_cos"), plain, strict=True)),
                "precise": dict(zip(("max_angle", "max_cos", "worst_pair_mean_cos"), precise, strict=True)),
            }
        )
    return {"rows": rows, "timing": ratio_rows(timing(inv_freq, rounds=rounds), "float32"), "rounds": rounds}


def table(result: dict[str, Any]) -> str:
    """The error table and the timing line of :func:`measure`'s result, in markdown."""
    header = ["position", "float32: max angle", "max cos", "worst-pair mean", "precise: max angle", "max cos"]
    rows = [
        [
            str(row["position"]),
            *(f"{row['float32'][key]:.2e}" for key in ("max_angle", "max_cos", "worst_pair_mean_cos")),
            *(f"{row['precise'][key]:.2e}" for key in ("max_angle", "max_cos")),
        ]
        for row in result["rows"]
    ]
    timing = result["timing"]
    return (
        "angle error (rad, modulo 2 pi) and cos error over the 4096 positions up to each position, all 64 pairs\n\n"
        + markdown_table(header, rows)
        + f"\n\nangles for 8192 positions x 64 pairs: float32 {fmt(timing['float32']['ms'], 4)} ms, precise "
        f"{fmt(timing['precise']['ms'], 4)} ms, precise / float32 {fmt(timing['precise']['ratio'], 2, 'x')}; "
        f"median (min-max) of {result['rounds']} rounds"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="three positions and a short timing")
    args = parser.parse_args(argv)
    ends = [10_000, 1_000_000, 2**24] if args.quick else ENDS
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind})\n")
    print(table(measure(ends, rounds=3 if args.quick else 15)))


if __name__ == "__main__":
    main()
