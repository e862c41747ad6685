"""A tiny ViT on scikit-learn's 8x8 digits with four position schemes, then evaluated at higher resolution.

    python examples/vit_2d_rope.py               # ~1-2 minutes on a 2-core CPU
    python examples/vit_2d_rope.py --epochs 1    # smoke test

Each digit becomes a 4x4 grid of 2x2-pixel patches (16 tokens). The same 2-layer transformer is trained with
optax under four position schemes - none, learned absolute embeddings, axial 2D RoPE and learnable RoPE-Mixed
(Heo et al. 2024) - and then evaluated on the test digits upsampled to 12x12 and 16x16 (6x6 and 8x8 patch
grids). Learned embeddings are resized bilinearly to the new grid; RoPE either extrapolates (integer patch
indices, unseen positions) or interpolates (coordinates rescaled into the training range).
Uses only rope_jax's public API.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import rope_jax
from rope_jax.nn import MixedRoPE

PATCH = 2
TRAIN_GRID = (4, 4)
SCHEMES = ("none", "learned", "axial", "mixed")


def patchify(images: np.ndarray) -> np.ndarray:
    """[B, H, W] -> [B, (H / 2) * (W / 2), 4] row-major 2x2 patches."""
    b, h, w = images.shape
    patches = images.reshape(b, h // PATCH, PATCH, w // PATCH, PATCH).transpose(0, 1, 3, 2, 4)
    return patches.reshape(b, (h // PATCH) * (w // PATCH), PATCH * PATCH)


def upsample(images: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(jax.image.resize(jnp.asarray(images), (images.shape[0], size, size), "bilinear"))


class Block(nnx.Module):
    def __init__(self, dim: int, heads: int, scheme: str, rngs: nnx.Rngs):
        self.heads, self.head_dim, self.scheme = heads, dim // heads, scheme
        self.norm1, self.norm2 = nnx.LayerNorm(dim, rngs=rngs), nnx.LayerNorm(dim, rngs=rngs)
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.out = nnx.Linear(dim, dim, rngs=rngs)
        self.mlp1, self.mlp2 = nnx.Linear(dim, 2 * dim, rngs=rngs), nnx.Linear(2 * dim, dim, rngs=rngs)
        self.mixed = MixedRoPE(heads, self.head_dim, rngs=rngs) if scheme == "mixed" else None

    def __call__(self, x, coords):
        b, t, _ = x.shape
        q, k, v = jnp.split(self.qkv(self.norm1(x)).reshape(b, t, 3 * self.heads, self.head_dim), 3, axis=2)
        if self.scheme == "axial":
            q, k = rope_jax.apply_rope_nd(q, coords), rope_jax.apply_rope_nd(k, coords)
        elif self.scheme == "mixed":
            q, k = self.mixed(q, coords), self.mixed(k, coords)
        x = x + self.out(jax.nn.dot_product_attention(q, k, v).reshape(b, t, -1))
        return x + self.mlp2(jax.nn.gelu(self.mlp1(self.norm2(x))))


class ViT(nnx.Module):
    def __init__(self, scheme: str, *, dim: int = 64, heads: int = 4, depth: int = 2, rngs: nnx.Rngs):
        self.scheme = scheme
        self.embed = nnx.Linear(PATCH * PATCH, dim, rngs=rngs)
        learned = scheme == "learned"
        self.position = nnx.Param(0.02 * jax.random.normal(rngs.params(), (*TRAIN_GRID, dim))) if learned else None
        self.blocks = nnx.List([Block(dim, heads, scheme, rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.head = nnx.Linear(dim, 10, rngs=rngs)

    def __call__(self, patches, grid: tuple[int, int], coords):
        x = self.embed(patches)
        if self.position is not None:
            table = jax.image.resize(self.position[...], (*grid, self.position.shape[-1]), "bilinear")
            x = x + table.reshape(1, grid[0] * grid[1], -1)
        for block in self.blocks:
            x = block(x, coords)
        return self.head(self.norm(x.mean(axis=1)))


def train(scheme: str, data, *, epochs: int, seed: int) -> ViT:
    x_train, y_train = data
    model = ViT(scheme, rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.adamw(3e-3, weight_decay=1e-4), wrt=nnx.Param)
    coords = jnp.asarray(rope_jax.patch_grid_coords(*TRAIN_GRID))[None]

    @nnx.jit
    def step(model, optimizer, patches, labels):
        def loss_fn(model):
            logits = model(patches, TRAIN_GRID, coords)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    rng = np.random.default_rng(seed)
    patches = patchify(x_train)
    for _ in range(epochs):
        order = rng.permutation(len(patches))
        for start in range(0, len(order), 128):
            batch = order[start : start + 128]
            step(model, optimizer, jnp.asarray(patches[batch]), jnp.asarray(y_train[batch]))
    return model


def accuracy(model: ViT, images: np.ndarray, labels: np.ndarray, resolution: str) -> float:
    size = images.shape[-1]
    grid = (size // PATCH, size // PATCH)
    coords = rope_jax.patch_grid_coords(*grid, train_grid=TRAIN_GRID, resolution=resolution)
    logits = model(jnp.asarray(patchify(images)), grid, jnp.asarray(coords)[None])
    return float(np.mean(np.asarray(jnp.argmax(logits, -1)) == labels))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=2, help="runs per scheme (results are averaged)")
    args = parser.parse_args(argv)

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    tests = {8: x_test, 12: upsample(x_test, 12), 16: upsample(x_test, 16)}
    columns = [(8, "extrapolate"), (12, "extrapolate"), (12, "interpolate"), (16, "extrapolate"), (16, "interpolate")]
    results = {}
    for scheme in SCHEMES:
        scores = np.zeros((args.seeds, len(columns)))
        for seed in range(args.seeds):
            model = train(scheme, (x_train, y_train), epochs=args.epochs, seed=seed)
            for j, (size, resolution) in enumerate(columns):
                scores[seed, j] = accuracy(model, tests[size], y_test, resolution)
        results[scheme] = scores.mean(axis=0)
        print(f"trained {scheme:8s} ({args.seeds} seeds x {args.epochs} epochs)", flush=True)

    print(f"\ntest accuracy, mean of {args.seeds} seeds ({len(y_test)} digits; trained on 8x8 = 4x4 patches)")
    header = "".join(f"{f'{s}x{s} {r[:6]}':>15s}" for s, r in columns)
    print(f"{'positions':16s}{header}")
    names = {"none": "none", "learned": "learned abs.", "axial": "axial RoPE", "mixed": "RoPE-Mixed"}
    for scheme, row in results.items():
        print(f"{names[scheme]:16s}" + "".join(f"{v:15.3f}" for v in row))
    print("(learned absolute embeddings are resized bilinearly, so they interpolate in both columns)")
    return results


if __name__ == "__main__":
    main()
