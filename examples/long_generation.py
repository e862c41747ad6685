"""Endless generation with attention sinks: 10,000 steps, positions inside a 256-token trained range.

    python examples/long_generation.py            # 10,000 steps, ~a minute on a 2-core CPU
    python examples/long_generation.py --quick    # 400 steps, a smoke test

A small decoder (2 RoPEAttention layers, random weights: the point is the cache, not the text) was built for
positions ``0 .. 255`` (a ``max_position_embeddings`` of 256). It samples 10,000 tokens after a 16-token prompt
twice, with the same weights and keys:

* the plain cache, ``init_cache(1, prompt + steps)``: every token gets the next position, so positions run to
  10,015, far past the trained range, and the cache grows with every token;
* attention sinks, ``init_cache(1, 256, sinks=4)``: the first 4 tokens stay, the rest of the 256 slots keep the
  most recent tokens, and positions are ranks in the cache, so they never pass 255 and memory stays fixed.

Generation runs as a jitted ``lax.scan`` over chunks of steps; the script counts its traces (one per scheme: the
cache never changes shape), checks every logit is finite, prints the cache sizes and saves a plot of the newest
token's position against the step (``--out``/long_generation.png). Uses only the public API.
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import rope_jax
from rope_jax.nn import RoPEAttention, raise_if_cache_overflowed

VOCAB, WIDTH, HEADS, KV_HEADS, HEAD_DIM, DEPTH = 64, 64, 4, 2, 16, 2
TRAINED_RANGE, SINKS, PROMPT, CHUNK = 256, 4, 16, 200


class Decoder(nnx.Module):
    """Token embedding, ``DEPTH`` pre-norm blocks of RoPE attention and an MLP, tied output embedding."""

    def __init__(self, rngs: nnx.Rngs):
        rope = rope_jax.RoPE(head_dim=HEAD_DIM)
        self.embed = nnx.Embed(VOCAB, WIDTH, rngs=rngs)
        self.attn = nnx.List(
            [
                RoPEAttention(HEADS, WIDTH, head_dim=HEAD_DIM, num_kv_heads=KV_HEADS, rope=rope, rngs=rngs)
                for _ in range(DEPTH)
            ]
        )
        self.mlps = nnx.List([nnx.Linear(WIDTH, WIDTH, rngs=rngs) for _ in range(DEPTH)])
        self.norms = nnx.List([nnx.RMSNorm(WIDTH, rngs=rngs) for _ in range(2 * DEPTH + 1)])

    def __call__(self, tokens: jax.Array) -> jax.Array:
        """Decode ``tokens [B, T]`` (int) through the layers' caches; returns logits ``[B, T, VOCAB]``."""
        x = self.embed(tokens)
        for i, (attn, mlp) in enumerate(zip(self.attn, self.mlps, strict=True)):
            x = x + attn(self.norms[2 * i](x), decode=True)
            x = x + mlp(jax.nn.gelu(self.norms[2 * i + 1](x)))
        return self.embed.attend(self.norms[-1](x))

    def init_cache(self, max_length: int, **cache) -> None:
        """A cache of ``max_length`` slots for one row in every layer (``cache``: ``init_cache``'s options)."""
        for attn in self.attn:
            attn.init_cache(1, max_length, **cache)


def generate(model: Decoder, prompt: jax.Array, steps: int, key: jax.Array) -> dict:
    """Prefill ``prompt [1, PROMPT]``, then sample ``steps`` tokens, ``CHUNK`` per call of one jitted scan.

    Returns:
        ``newest`` int ``[steps]``: the position of the newest token after each step (the highest position any
        query or key has); ``finite``: whether every logit was finite; ``traces``: how often the scan was traced;
        ``cache_bytes``: the size of every layer's cache together.
    """
    logits = nnx.jit(lambda m, t: m(t))(model, prompt)
    graphdef, state = nnx.split(model)
    traces = 0

    @jax.jit
    def chunk(state, token, key):  # CHUNK steps from the last token [1]
        nonlocal traces
        traces += 1

        def step(carry, key):
            state, token = carry
            model = nnx.merge(graphdef, state)
            logits = model(token[:, None])[:, 0]  # [1, VOCAB]
            newest = model.attn[0].next_position[0] - 1
            return (nnx.state(model), jax.random.categorical(key, logits)), (newest, jnp.all(jnp.isfinite(logits)))

        (state, token), (newest, finite) = jax.lax.scan(step, (state, token), jax.random.split(key, CHUNK))
        return state, token, newest, jnp.all(finite)

    first, *chunk_keys = jax.random.split(key, steps // CHUNK + 1)
    token, newest, finite = jax.random.categorical(first, logits[:, -1]), [], True
    for chunk_key in chunk_keys:
        state, token, positions, all_finite = chunk(state, token, chunk_key)
        newest.append(np.asarray(positions))
        finite = finite and bool(all_finite)
    model = nnx.merge(graphdef, state)
    raise_if_cache_overflowed(model)  # one read after the loop: no decode step waited for the host
    cache_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves(nnx.state(model, nnx.Cache)))
    return {"newest": np.concatenate(newest), "finite": finite, "traces": traces, "cache_bytes": cache_bytes}


def plot(results: dict, path: pathlib.Path) -> None:
    """Save the newest token's position against the step for each scheme, with the trained range marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, result in results.items():
        steps = np.arange(1, len(result["newest"]) + 1)
        ax.plot(steps, result["newest"], label=f"{label} ({result['cache_bytes'] / 1024:.0f} KiB of cache)")
    ax.axhline(
        TRAINED_RANGE - 1, color="grey", ls="--", lw=1, zorder=0, label=f"trained range (0 .. {TRAINED_RANGE - 1})"
    )
    ax.set_yscale("log")
    ax.set_ylim(PROMPT / 2, None)
    ax.set_xlabel("generated tokens")
    ax.set_ylabel("position of the newest token")
    ax.set_title(f"{len(steps):,} sampled tokens, {PROMPT}-token prompt")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Run both schemes; returns ``{"plain cache": result, "4 sinks, 256 slots": result}`` (see :func:`generate`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10_000, help=f"tokens to generate (a multiple of {CHUNK})")
    parser.add_argument("--quick", action="store_true", help="400 steps: a smoke test")
    parser.add_argument("--out", default="docs", help="folder for long_generation.png")
    args = parser.parse_args(argv)
    steps = 400 if args.quick else args.steps
    if steps <= 0 or steps % CHUNK:
        parser.error(f"--steps must be a positive multiple of {CHUNK}, got {steps}")

    prompt = jax.random.randint(jax.random.key(1), (1, PROMPT), 0, VOCAB)
    schemes = {
        "plain cache": (PROMPT + steps, {}),
        f"{SINKS} sinks, {TRAINED_RANGE} slots": (TRAINED_RANGE, {"sinks": SINKS}),
    }
    results = {}
    for label, (slots, cache) in schemes.items():
        model = Decoder(nnx.Rngs(0))  # the same weights for both
        model.init_cache(slots, **cache)
        results[label] = generate(model, prompt, steps, jax.random.key(2))

    print(f"{steps:,} tokens sampled after a {PROMPT}-token prompt; trained range 0 .. {TRAINED_RANGE - 1}")
    print(f"{'cache':20s} {'highest position':>17s} {'cache KiB':>10s} {'traces':>7s} {'finite':>7s}")
    for label, result in results.items():
        print(
            f"{label:20s} {int(result['newest'].max()):17,d} {result['cache_bytes'] / 1024:10.0f} "
            f"{result['traces']:7d} {result['finite']!s:>7s}"
        )
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        plot(results, out / "long_generation.png")
        print(f"plot written to {out / 'long_generation.png'}")
    except ImportError:
        print("(plot skipped: matplotlib is not installed)")
    return results


if __name__ == "__main__":
    main()
