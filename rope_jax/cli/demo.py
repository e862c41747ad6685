"""The demo: the RoFormer worked example, shift invariance, permutation equivariance, frequency ladders, 2D grids."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from rope_jax.frequencies import Linear, Llama3, YaRN
from rope_jax.nd import apply_rope_nd, mixed_frequencies
from rope_jax.positions import patch_grid_coords
from rope_jax.rotary import RoPE, apply_rope

TOKENS = ("The", "cat", "sat", "on", "mat")
# The RoFormer worked example: 5 tokens, d = 4, with exact expected values.
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
                jnp.sum(
                    apply_rope(q, jnp.asarray([offset + 5]), precise_angles=p)
                    * apply_rope(k, jnp.asarray([offset + 2]), precise_angles=p)
                )
            )
            for p in (False, True)
        ]
        results.append((offset, *scores))
    return results


def _table(title: str, rows, columns, values) -> str:
    lines = [title, "         " + "".join(f"{c:>9s}" for c in columns)]
    lines += [f"  {r:6s} " + "".join(f"{v:9.4f}" for v in row) for r, row in zip(rows, values, strict=True)]
    return "\n".join(lines)


def permutation_equivariance(*, length: int = 6, width: int = 32, seed: int = 0) -> dict[str, float]:
    """max |attn(shuffled x) - shuffled attn(x)| for attention without positions and with RoPE (no causal mask)."""
    from flax import nnx

    from rope_jax.nn import RoPEAttention

    x = jax.random.normal(jax.random.key(seed), (1, length, width))
    perm = np.random.default_rng(seed).permutation(length)
    gaps = {}
    for name, rope in (("no positions", None), ("RoPE", RoPE(head_dim=width // 4))):
        attn = RoPEAttention(4, width, rope=rope, rngs=nnx.Rngs(seed))
        gaps[name] = float(jnp.max(jnp.abs(attn(x[:, perm], causal=False) - attn(x, causal=False)[:, perm])))
    return gaps


def ladders(head_dim: int = 128, original: int = 4096) -> dict[str, RoPE]:
    """The context-extension rules the demo compares, at one head dim and original context."""
    return {
        "base 10k": RoPE(head_dim=head_dim),
        "NTK base 100k": RoPE(head_dim=head_dim, theta=100_000.0),
        "linear x4": RoPE(head_dim=head_dim, scaling=Linear(4.0)),
        "YaRN x4": RoPE(head_dim=head_dim, scaling=YaRN(factor=4.0, original_max_position_embeddings=original)),
        "Llama 3 x8": RoPE(
            head_dim=head_dim,
            scaling=Llama3(
                factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=original
            ),
        ),
    }


def ladder_summary(original: int = 4096) -> list[str]:
    """Per rule: how many pairs keep their frequency (extrapolate), how many are stretched (interpolate)."""
    rules = ladders(original=original)
    base = rules["base 10k"].inv_freq
    lines = [f"{'rule':14s} {'kept (<1.01x)':>14s} {'stretched':>10s} {'max stretch':>12s}  (head dim 128)"]
    for name, rope in rules.items():
        stretch = base / rope.inv_freq
        kept = int((stretch < 1.01).sum())
        lines.append(f"{name:14s} {kept:14d} {len(stretch) - kept:10d} {stretch.max():12.2f}")
    return lines


def patch_similarity(grid: int = 14, head_dim: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Score of the centre patch's rotated query against every patch's rotated key.

    Every token carries the same all-ones vector (equal weight on every pair), so the map shows position alone.
    """
    coords = jnp.asarray(patch_grid_coords(grid, grid))
    x = jnp.ones((grid * grid, 1, head_dim), jnp.float32)
    centre = (grid // 2) * grid + grid // 2
    maps = {}
    for name, freqs in (("axial", None), ("mixed (random init)", mixed_frequencies(jax.random.key(seed), 1, head_dim))):
        rotated = apply_rope_nd(x, coords, freqs=freqs)
        maps[name] = np.asarray(jnp.sum(rotated * rotated[centre], axis=(-1, -2))).reshape(grid, grid)
    return maps


def _plots(out: pathlib.Path, example: dict) -> list[pathlib.Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, key, title in ((axes[0], "weights", "with RoPE"), (axes[1], "weights_no_position", "without positions")):
        image = ax.imshow(example[key], vmin=0, vmax=0.45, cmap="viridis")
        ax.set_xticks(range(5), TOKENS)
        ax.set_yticks(range(5), TOKENS)
        ax.set_title(f"attention weights, {title}")
        for (i, j), value in np.ndenumerate(example[key]):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8)
    paths.append(out / "worked_example_attention.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, rope in ladders().items():
        ax.semilogy(2 * np.pi / rope.inv_freq.astype(np.float64), marker=".", label=name)
    ax.axhline(4096, color="k", ls="--", lw=1, label="original context 4096")
    ax.set_xlabel("pair index (head dim 128)")
    ax.set_ylabel("wavelength (positions)")
    ax.set_title("frequency ladders: where each rule interpolates and where it extrapolates")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "frequency_ladders.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    maps = patch_similarity()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (name, values) in zip(axes, maps.items(), strict=True):
        image = ax.imshow(values, cmap="coolwarm")
        ax.set_title(f"{name}: centre query vs every patch")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    paths.append(out / "patch_grid_similarity.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def run(out: str | pathlib.Path | None = None) -> str:
    """Text of the demo; with ``out`` also writes its plots there (needs matplotlib)."""
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
    parts.append("\n".join(lines))
    gaps = permutation_equivariance()
    parts.append(
        "Permutation: max |attention(shuffled tokens) - shuffled attention(tokens)| (no causal mask)\n"
        f"  without positions {gaps['no positions']:.1e}  (equivariant: order is invisible)\n"
        f"  with RoPE         {gaps['RoPE']:.1e}  (order matters)"
    )
    parts.append("Frequency ladders (original context 4096):\n  " + "\n  ".join(ladder_summary()))
    if out is not None:
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        try:
            paths = _plots(out, example)
        except ImportError:
            parts.append('(plots skipped: matplotlib is not installed; pip install -e ".[demo]")')
        else:
            parts.append("Plots:\n" + "\n".join(f"  {path}" for path in paths))
    return "\n\n".join(parts) + "\n"
