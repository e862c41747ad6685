"""What RoPE costs inside a real attention layer: RoPEAttention with and without its RoPE, in one run.

    python benchmarks/attention_overhead.py           # shapes chosen for the backend
    python benchmarks/attention_overhead.py --quick   # tiny, a smoke test

Same weights, same inputs; the only difference is ``rope=RoPE(...)`` vs ``rope=None``. Reports forward,
forward+backward (gradients of a scalar loss w.r.t. all parameters and the input) and one KV-cache decode step,
as medians of interleaved rounds whose order alternates. GPU: LLaMA-3-8B-like layer (D 4096, 32 query /
8 kv heads, head dim 128, T 4096, bf16); CPU: a small layer.
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

    decoders = {}
    for name, model in models.items():
        model.init_cache(c["batch"], c["length"] + 8, dtype=c["dtype"])
        jax.block_until_ready(nnx.jit(lambda m, a: m(a, decode=True))(model, x))  # prefill the whole prompt
        graphdef, state = nnx.split(model)

        @jax.jit
        def decode_once(state, token, graphdef=graphdef):
            # A pure step on the prefilled cache: always the token at position T, nothing carried over.
            return nnx.merge(graphdef, state)(token, decode=True)

        decoders[name] = (decode_once, state)

    def decode_step(name, model):
        fn, state = decoders[name]
        return fn(state, token)

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


if __name__ == "__main__":
    main()
