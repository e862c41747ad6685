"""What RoPE costs inside a real attention layer: RoPEAttention with and without its RoPE, in one run.

    python benchmarks/attention_overhead.py           # shapes chosen for the backend
    python benchmarks/attention_overhead.py --quick   # tiny, a smoke test

Same weights, same inputs; the only difference is ``rope=RoPE(...)`` vs ``rope=None``. Reports forward,
forward+backward (gradients of a scalar loss w.r.t. all parameters and the input) and one KV-cache decode step,
as medians of interleaved rounds whose order alternates. GPU: LLaMA-3-8B-like layer (D 4096, 32 query /
8 kv heads, head dim 128, T 4096, bf16); CPU: a small layer.

Then one decode step of the RoPE layer with each kind of cache (``RoPEAttention.init_cache``), all holding
T + 8 slots after a T-token prompt, as a ratio to the plain cache: a sliding-window ring (W = T + 8), attention
sinks (4; rotated keys moved to their ranks by ``RoPE.shift`` at every read), unrotated keys (every cached key
rotated at every step), and both.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from flax import nnx

import rope_jax
from rope_jax.nn import RoPEAttention


def config(quick: bool) -> dict:
    if quick:
        return dict(batch=1, length=64, width=128, heads=4, kv_heads=2, head_dim=32, dtype=jnp.float32, rounds=3)
    if jax.default_backend() == "gpu":
        return dict(batch=1, length=4096, width=4096, heads=32, kv_heads=8, head_dim=128, dtype=jnp.bfloat16, rounds=20)
    return dict(batch=1, length=1024, width=512, heads=8, kv_heads=2, head_dim=64, dtype=jnp.float32, rounds=10)


def layers(c: dict):
    rope = rope_jax.RoPE(head_dim=c["head_dim"], theta=500000.0)
    common = dict(head_dim=c["head_dim"], num_kv_heads=c["kv_heads"], dtype=c["dtype"], param_dtype=c["dtype"])
    with_rope = RoPEAttention(c["heads"], c["width"], rope=rope, rngs=nnx.Rngs(0), **common)
    without = RoPEAttention(c["heads"], c["width"], rope=None, rngs=nnx.Rngs(0), **common)  # identical weights
    return {"no RoPE": without, "RoPE": with_rope}


def caches(slots: int) -> dict[str, tuple[dict, dict]]:
    """The caches of ``RoPEAttention`` to compare, each as (layer arguments, ``init_cache`` arguments)."""
    return {
        "plain": ({}, {}),
        "sliding window": ({"sliding_window": slots}, {}),  # a ring of all the slots
        "sinks": ({}, {"sinks": 4}),
        "unrotated": ({}, {"mode": "unrotated"}),
        "sinks, unrotated": ({}, {"sinks": 4, "mode": "unrotated"}),
    }


def decoder(model: RoPEAttention, prompt: jax.Array, slots: int, dtype, **cache):
    """A pure decode step on ``model``'s cache of ``slots`` slots, prefilled with ``prompt [B, T, D]``.

    Args:
        model: The layer; its cache is (re)built by ``init_cache(B, slots, dtype=dtype, **cache)``.
        prompt: ``[B, T, D]`` tokens prefilled once.
        slots: Cache slots.
        dtype: Cache dtype.
        **cache: Further ``init_cache`` arguments (``mode``, ``sinks``).

    Returns:
        A function of ``token [B, 1, D]`` returning ``[B, 1, D]``: the step at position T on the prefilled
        cache, every call the same (nothing is carried over).
    """
    model.init_cache(prompt.shape[0], slots, dtype=dtype, **cache)
    jax.block_until_ready(nnx.jit(lambda m, a: m(a, decode=True))(model, prompt))
    graphdef, state = nnx.split(model)

    @jax.jit
    def decode_once(state, token):
        return nnx.merge(graphdef, state)(token, decode=True)

    return lambda token: decode_once(state, token)


def timed(fn, *args, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / iterations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    c = config(args.quick)
    x = jax.random.normal(jax.random.key(0), (c["batch"], c["length"], c["width"]), c["dtype"])
    token = x[:, :1]
    models = layers(c)

    forward = nnx.jit(lambda m, a: m(a))

    @nnx.jit
    def forward_backward(m, a):
        def loss(m, a):
            return jnp.mean(m(a).astype(jnp.float32) ** 2)

        return nnx.grad(loss, argnums=(0, 1))(m, a)

    slots = c["length"] + 8
    decoders = {name: decoder(model, x, slots, c["dtype"]) for name, model in models.items()}

    def decode_step(name, model):
        return decoders[name](token)

    kinds = {
        "forward": lambda name, m: forward(m, x),
        "forward+backward": lambda name, m: forward_backward(m, x),
        "decode step": decode_step,
    }
    for kind in kinds.values():  # compile and warm up
        for name, model in models.items():
            jax.block_until_ready(kind(name, model))
    samples: dict[tuple[str, str], list[float]] = {(k, n): [] for k in kinds for n in models}
    for round_index in range(c["rounds"]):
        for kind_name, kind in kinds.items():
            # Whichever variant runs second after another kind of pass runs warmer (measured: ~15% on a decode
            # step), so the order alternates every round.
            order = list(models.items())[:: 1 if round_index % 2 == 0 else -1]
            for name, model in order:
                iterations = 20 if kind_name == "decode step" else 3
                run = lambda kind=kind, name=name, model=model: kind(name, model)  # noqa: E731
                samples[(kind_name, name)].append(timed(run, iterations=iterations))
    print(
        f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind}); B {c['batch']}, T {c['length']}, "
        f"D {c['width']}, heads {c['heads']}/{c['kv_heads']}, head dim {c['head_dim']}, {jnp.dtype(c['dtype']).name}; "
        f"median of {c['rounds']} interleaved rounds, order alternating"
    )
    print(f"{'pass':18s} {'no RoPE (ms)':>13s} {'RoPE (ms)':>10s} {'overhead':>9s}")
    for kind_name in kinds:
        base = statistics.median(samples[(kind_name, "no RoPE")])
        rope = statistics.median(samples[(kind_name, "RoPE")])
        print(f"{kind_name:18s} {base * 1e3:13.3f} {rope * 1e3:10.3f} {100 * (rope / base - 1):8.1f}%")
    cache_costs(c, x, token, slots)


def cache_costs(c: dict, x: jax.Array, token: jax.Array, slots: int) -> None:
    """Decode step of the RoPE layer with each of :func:`caches`, as a ratio to the plain cache, in one run.

    Each round times every cache once, in an order that rotates so every cache takes every place; the ratio to
    the plain cache is taken within a round, and the table shows its median and its range over the rounds.

    Args:
        c: The shapes of :func:`config`.
        x: ``[B, T, D]`` prompt prefilled into every cache.
        token: ``[B, 1, D]`` token each step decodes.
        slots: Slots of every cache (the sliding window too).
    """
    rope = rope_jax.RoPE(head_dim=c["head_dim"], theta=500000.0)
    common = dict(head_dim=c["head_dim"], num_kv_heads=c["kv_heads"], dtype=c["dtype"], param_dtype=c["dtype"])
    steps = {}
    for name, (layer, cache) in caches(slots).items():
        model = RoPEAttention(c["heads"], c["width"], rope=rope, rngs=nnx.Rngs(0), **common, **layer)
        steps[name] = decoder(model, x, slots, c["dtype"], **cache)
        jax.block_until_ready(steps[name](token))  # compile and warm up
    names = list(steps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(c["rounds"]):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(timed(steps[name], token, iterations=20))
    plain = statistics.median(samples["plain"])
    print(
        f"\ndecode step by cache: {slots} slots, prompt {c['length']}, 4 sinks; plain cache {plain * 1e3:.3f} ms; "
        f"ratio to it within each of {c['rounds']} rounds (order rotating)"
    )
    print(f"{'cache':18s} {'vs plain':>9s} {'min-max':>12s}")
    for name in names:
        ratios = [t / p for t, p in zip(samples[name], samples["plain"], strict=True)]
        print(f"{name:18s} {statistics.median(ratios):8.2f}x {min(ratios):7.2f}-{max(ratios):.2f}x")
    print("(plain and unrotated check on the device that the cache is not full; the sliding ring and sinks never fill)")


if __name__ == "__main__":
    main()
