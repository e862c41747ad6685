"""Does RoPE "generalise to longer sequences"? Train at length 64, evaluate up to 512, six position schemes.

    python examples/length_extrapolation.py              # a few minutes on a 2-core CPU
    python examples/length_extrapolation.py --steps 20   # smoke test

Task (needs position): a stream of random tokens; at every position t >= 16 predict the token seen 16 steps
earlier. A 2-layer causal transformer built from rope_jax.nn.RoPEAttention is trained with optax at length 64
with plain RoPE, and once more with no positions at all. The RoPE model's weights are then evaluated at lengths
64, 128, 256 and 512 with plain RoPE and with the context-extension rules applied at inference time only
(no fine-tuning): linear interpolation, NTK-aware and YaRN (factor = length / 64) and dynamic NTK (original
length 64). Prints an accuracy/loss table and saves the accuracy-vs-length plot. Uses only the public API.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import rope_jax
from rope_jax.nn import RoPEAttention

TRAIN_LENGTH, LAG, VOCAB = 64, 16, 16
LENGTHS = (64, 128, 256, 512)
WIDTH, HEADS, HEAD_DIM = 64, 4, 16


def scheme_rope(scheme: str, length: int):
    """The RoPE used at evaluation length ``length`` (the model was trained with plain RoPE at 64)."""
    factor = max(1.0, length / TRAIN_LENGTH)
    if scheme == "none":
        return None
    if scheme == "RoPE":
        return rope_jax.RoPE(head_dim=HEAD_DIM)
    if scheme == "linear":
        return rope_jax.RoPE(head_dim=HEAD_DIM, scaling=rope_jax.Linear(factor))
    if scheme == "NTK":
        return rope_jax.RoPE(head_dim=HEAD_DIM, scaling=rope_jax.NTK(factor))
    if scheme == "dynamic NTK":
        return rope_jax.RoPE(
            head_dim=HEAD_DIM, scaling=rope_jax.DynamicNTK(factor=2.0, max_position_embeddings=TRAIN_LENGTH)
        )
    if scheme == "YaRN":
        return rope_jax.RoPE(
            head_dim=HEAD_DIM, scaling=rope_jax.YaRN(factor=factor, original_max_position_embeddings=TRAIN_LENGTH)
        )
    raise ValueError(scheme)


class Model(nnx.Module):
    def __init__(self, rope, rngs: nnx.Rngs, depth: int = 2):
        self.embed = nnx.Embed(VOCAB, WIDTH, rngs=rngs)
        self.attn = nnx.List(
            [RoPEAttention(HEADS, WIDTH, head_dim=HEAD_DIM, rope=rope, rngs=rngs) for _ in range(depth)]
        )
        self.norms = nnx.List([nnx.RMSNorm(WIDTH, rngs=rngs) for _ in range(2 * depth + 1)])
        self.mlps = nnx.List([nnx.Linear(WIDTH, WIDTH, rngs=rngs) for _ in range(depth)])
        self.out = nnx.Linear(WIDTH, VOCAB, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens)
        for i, (attn, mlp) in enumerate(zip(self.attn, self.mlps, strict=True)):
            x = x + attn(self.norms[2 * i](x))
            x = x + mlp(jax.nn.gelu(self.norms[2 * i + 1](x)))
        return self.out(self.norms[-1](x))


def batch(key, size: int, length: int):
    tokens = jax.random.randint(key, (size, length), 0, VOCAB)
    targets = jnp.concatenate([jnp.zeros((size, LAG), tokens.dtype), tokens[:, :-LAG]], axis=1)
    weights = (jnp.arange(length) >= LAG).astype(jnp.float32)[None]
    return tokens, targets, jnp.broadcast_to(weights, (size, length))


def loss_and_accuracy(model, tokens, targets, weights):
    logits = model(tokens)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
    total = weights.sum()
    return (loss * weights).sum() / total, (correct * weights).sum() / total


def train(rope, steps: int, seed: int) -> Model:
    model = Model(rope, nnx.Rngs(seed))
    warmup = min(100, steps // 4)
    schedule = optax.warmup_cosine_decay_schedule(0.0, 3e-3, warmup, max(steps, warmup + 1))
    optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, tokens, targets, weights):
        (loss, accuracy), grads = nnx.value_and_grad(loss_and_accuracy, has_aux=True)(model, tokens, targets, weights)
        optimizer.update(model, grads)
        return loss, accuracy

    key = jax.random.key(seed + 100)
    start, label = time.perf_counter(), "RoPE" if rope is not None else "no positions"
    for i in range(steps):
        key, sub = jax.random.split(key)
        loss, accuracy = step(model, optimizer, *batch(sub, 32, TRAIN_LENGTH))
        if i % 25 == 0 or i == steps - 1:
            done = (i + 1) / steps
            bar = "#" * int(30 * done) + "." * (30 - int(30 * done))
            sys.stdout.write(
                f"\r  training ({label:12s}) [{bar}] {i + 1}/{steps} loss {float(loss):.3f} "
                f"acc {float(accuracy):.3f} ({time.perf_counter() - start:.0f} s)"
            )
            sys.stdout.flush()
    print()
    return model


def evaluate(trained: Model, scheme: str, length: int, seed: int = 7) -> tuple[float, float]:
    model = Model(scheme_rope(scheme, length), nnx.Rngs(0))
    nnx.update(model, nnx.state(trained, nnx.Param))  # same weights, evaluation-time RoPE
    loss, accuracy = nnx.jit(loss_and_accuracy)(model, *batch(jax.random.key(seed), 16, length))
    return float(loss), float(accuracy)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", default="length_extrapolation.png", help="where to save the plot")
    args = parser.parse_args(argv)
    rope_model = train(rope_jax.RoPE(head_dim=HEAD_DIM), args.steps, seed=0)
    plain_model = train(None, args.steps, seed=0)
    schemes = ("none", "RoPE", "linear", "NTK", "dynamic NTK", "YaRN")
    results = {s: [evaluate(plain_model if s == "none" else rope_model, s, n) for n in LENGTHS] for s in schemes}

    print(f"\nlag-{LAG} copy, trained at length {TRAIN_LENGTH}; accuracy (loss) at each evaluation length")
    print(f"{'positions':14s}" + "".join(f"{n:>17d}" for n in LENGTHS))
    for scheme, row in results.items():
        print(f"{scheme:14s}" + "".join(f"{acc:9.3f} ({loss:5.2f})" for loss, acc in row))
    print(f"(chance: {1 / VOCAB:.3f}; rules other than RoPE/none apply factor = length / {TRAIN_LENGTH} at inference)")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(plot skipped: matplotlib is not installed)")
        return results
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for scheme, row in results.items():
        ax.plot(LENGTHS, [acc for _, acc in row], marker="o", label=scheme)
    ax.set_xscale("log", base=2)
    ax.set_xticks(LENGTHS, [str(n) for n in LENGTHS])
    ax.axvline(TRAIN_LENGTH, color="k", ls="--", lw=1)
    ax.set_xlabel("evaluation length (trained at 64)")
    ax.set_ylabel(f"accuracy, lag-{LAG} copy")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = pathlib.Path(args.out)
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")
    return results


if __name__ == "__main__":
    main()
