"""The built-in demo: the seeds' worked example computed by the library, and the shift-invariance check."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rope_jax.rotary import apply_rope

TOKENS = ("The", "cat", "sat", "on", "mat")
# The shared example of the RoFormer chapter in the seeds: 5 tokens, d = 4.
WORKED_EXAMPLE = {
    "Q": np.array([[1, 0, 1, 0], [0, 2, 0, 1], [1, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]], np.float32),
    "K": np.array([[0, 1, 0, 1], [1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0.5, 0.5]], np.float32),
    "V": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0.5, 0.5, 0.5, 0.5]], np.float32),
}


def worked_example(*, theta: float = 10000.0) -> dict[str, np.ndarray]:
    """Rotated Q/K, attention weights and output for the worked example, with RoPE and without positions.

    Returns:
        Dict of float32 arrays: ``q_rot``, ``k_rot`` ``[5, 4]``; ``weights``, ``weights_no_position``
        ``[5, 5]``; ``output``, ``output_no_position`` ``[5, 4]``.
    """
    positions = jnp.arange(len(TOKENS))
    q, k, v = (jnp.asarray(WORKED_EXAMPLE[name]) for name in "QKV")
    q_rot = apply_rope(q[:, None, :], positions, theta=theta)[:, 0]
    k_rot = apply_rope(k[:, None, :], positions, theta=theta)[:, 0]
    scale = 1.0 / np.sqrt(q.shape[-1])
    weights = jax.nn.softmax(q_rot @ k_rot.T * scale, axis=-1)
    plain = jax.nn.softmax(q @ k.T * scale, axis=-1)
    return {
        "q_rot": np.asarray(q_rot),
        "k_rot": np.asarray(k_rot),
        "weights": np.asarray(weights),
        "output": np.asarray(weights @ v),
        "weights_no_position": np.asarray(plain),
        "output_no_position": np.asarray(plain @ v),
    }


def shift_invariance(
    *, offsets=(0, 1000, 100_000, 10_000_000), head_dim: int = 64, seed: int = 0
) -> list[tuple[int, float, float]]:
    """Score of one query/key pair 3 positions apart, both shifted by each offset.

    Returns:
        ``[(offset, score with float32 angles, score with precise angles)]``: the first drifts as positions grow
        (float32 angle products), the second stays put.
    """
    rng = np.random.default_rng(seed)
    q, k = (jnp.asarray(rng.standard_normal((1, 1, head_dim)), jnp.float32) for _ in range(2))
    results = []
    for offset in offsets:
        scores = [
            float(
                jnp.sum(apply_rope(q, [offset + 5], precise_angles=p) * apply_rope(k, [offset + 2], precise_angles=p))
            )
            for p in (False, True)
        ]
        results.append((offset, *scores))
    return results


def _table(title: str, rows, columns, values) -> str:
    lines = [title, "         " + "".join(f"{c:>9s}" for c in columns)]
    lines += [f"  {r:6s} " + "".join(f"{v:9.4f}" for v in row) for r, row in zip(rows, values, strict=True)]
    return "\n".join(lines)


def run() -> str:
    """Text of the short demo."""
    example = worked_example()
    dims = ("d0", "d1", "d2", "d3")
    parts = [
        "rope_jax demo: the worked example 'the cat sat on the mat' (d = 4, base 10000, half-split pairs)",
        _table("Rotated Q", TOKENS, dims, example["q_rot"]),
        _table("Rotated K", TOKENS, dims, example["k_rot"]),
        _table("Attention weights with RoPE", TOKENS, TOKENS, example["weights"]),
        _table("Attention weights without positions", TOKENS, TOKENS, example["weights_no_position"]),
        _table("Output with RoPE (V is not rotated)", TOKENS, dims, example["output"]),
    ]
    checks = shift_invariance()
    lines = [
        "Shift invariance: score of a query at m + 5 and a key at m + 2 (head dim 64)",
        f"  {'m':>10s}  {'float32 angles':>15s}  {'precise angles':>15s}",
    ]
    lines += [f"  {offset:>10d}  {plain:+15.6f}  {precise:+15.6f}" for offset, plain, precise in checks]
    return "\n\n".join(parts) + "\n\n" + "\n".join(lines) + "\n"
