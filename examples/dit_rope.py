"""FLUX-style image + text tokens rotated by rope_jax.dit_rope, checked against a float64 NumPy reference.

    python examples/dit_rope.py [--size 1024] [--text 512]

A FLUX.1 transformer attends over its prompt's text tokens (all at coordinate 0: unrotated) followed by the
image's 2x2-packed latent patches at (0, row, column), with 16/56/56 features per axis and adjacent pairs.
diffusers computes these angles in float64 (on CPU and CUDA): ``dit_rope`` turns on rope_jax's exact-frequency
mode for it. The script rotates random queries three ways and prints each one's worst error against the
float64 reference (relative to max |q|):

- the one call's RoPE (float64 frequencies, angles reduced exactly): within float32 rounding;
- the same frequencies in plain float32 (the default mode), for comparison;
- a cos/sin table computed once on the host in float64 (``rope.table(coords, host=True)``).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import rope_jax

FLUX_DEV = {"_class_name": "FluxTransformer2DModel", "num_attention_heads": 24, "guidance_embeds": True}


def reference(q: np.ndarray, coords: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Adjacent-pair rotation with float64 angles and cos/sin, as diffusers' FluxPosEmbed computes them."""
    angles = coords.astype(np.float64) @ freqs  # [T, P]
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    x1, x2 = q[..., 0::2].astype(np.float64), q[..., 1::2].astype(np.float64)
    out = np.empty(q.shape, np.float64)
    out[..., 0::2], out[..., 1::2] = x1 * cos - x2 * sin, x2 * cos + x1 * sin
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (a multiple of 16)")
    parser.add_argument("--text", type=int, default=512, help="prompt tokens")
    args = parser.parse_args(argv)

    latent = (args.size // 8, args.size // 8)  # the VAE latent FLUX's pipeline packs 2x2 into tokens
    rope, coords = rope_jax.dit_rope(FLUX_DEV, latent_shape=latent, text_len=args.text)
    print(f"{rope.name}: {coords.shape[0]} tokens ({args.text} text at 0, then the image), axes {coords.shape[1]}, "
          f"head dim {rope.head_dim}, exact_frequencies={rope.exact_frequencies}, "
          f"precise_angles={rope.precise_angles}")  # fmt: skip

    q = np.random.default_rng(0).standard_normal((coords.shape[0], 4, rope.head_dim)).astype(np.float32)
    expected = reference(q, coords, np.asarray(rope.freqs, np.float64))
    scale = float(np.abs(q).max())
    float32 = rope_jax.RoPENd(rope.head_dim, rope.frequency_matrix, interleaved=True)  # the default mode
    table = rope.table(coords, host=True)
    results = {
        "dit_rope (float64 frequencies, exact angles)": jax.jit(rope.__call__)(jnp.asarray(q), coords),
        "same frequencies in plain float32": float32(q, coords),
        "host float64 table": jax.jit(lambda t, x: t(x))(table, jnp.asarray(q)),
    }
    errors = {}
    for name, rotated in results.items():
        errors[name] = float(np.abs(np.asarray(rotated, np.float64) - expected).max()) / scale
        print(f"  {name:45s} max error {errors[name]:.2e} of max |q|")
    return errors


if __name__ == "__main__":
    main()
