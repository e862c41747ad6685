"""What RoPE costs inside a real attention layer: RoPEAttention with and without its RoPE, in one run.

    python benchmarks/attention_overhead.py           # shapes chosen for the backend
    python benchmarks/attention_overhead.py --quick   # tiny, a smoke test

Same weights, same inputs; the only difference is ``rope=RoPE(...)`` vs ``rope=None``. Reports forward,
forward+backward (gradients of a scalar loss w.r.t. all parameters and the input) and one KV-cache decode step;
the overhead is the ratio of the two taken within each round (interleaved rounds, order rotating), median and
min-max. GPU/TPU: LLaMA-3-8B-like layer (D 4096, 32 query / 8 kv heads, head dim 128, T 4096, bf16; cuDNN
attention for the full passes where it runs); CPU: a small layer.

Then one decode step of the RoPE layer with each kind of cache (``RoPEAttention.init_cache``), all holding
T + 8 slots after a T-token prompt, as a ratio to the plain cache: a sliding-window ring (W = T + 8), attention
sinks (4; rotated keys moved to their ranks by ``RoPE.shift`` at every read), unrotated keys (every cached key
rotated at every step), and both. Last, the cache-full check: the decode step of the caches that can fill with
``check=True`` (a conditional host callback) against ``check=False``.
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

import rope_jax
from rope_jax.cli.benchmarks._timing import fmt, markdown_table, ratio_rows, time_rounds
from rope_jax.nn import RoPEAttention


def config(quick: bool, *, backend: str | None = None) -> dict[str, Any]:
    """Layer shapes, dtype and rounds: tiny for ``quick``; LLaMA-3-8B-like on accelerators; small on CPU."""
    backend = backend or jax.default_backend()
    if quick:
        return dict(batch=1, length=64, width=128, heads=4, kv_heads=2, head_dim=32, dtype=jnp.float32, rounds=3)
    if backend in ("gpu", "tpu"):
        return dict(batch=1, length=4096, width=4096, heads=32, kv_heads=8, head_dim=128, dtype=jnp.bfloat16, rounds=20)
    return dict(batch=1, length=1024, width=512, heads=8, kv_heads=2, head_dim=64, dtype=jnp.float32, rounds=10)


def layer(c: dict[str, Any], *, rope: bool = True, implementation: str | None = None, **kwargs: Any) -> RoPEAttention:
    """A ``RoPEAttention`` of shapes ``c``, weights from seed 0 (the same with and without RoPE)."""
    return RoPEAttention(
        c["heads"],
        c["width"],
        head_dim=c["head_dim"],
        num_kv_heads=c["kv_heads"],
        rope=rope_jax.RoPE(head_dim=c["head_dim"], theta=500000.0) if rope else None,
        implementation=implementation,  # type: ignore[arg-type]
        dtype=c["dtype"],
        param_dtype=c["dtype"],
        rngs=nnx.Rngs(0),
        **kwargs,
    )


def prompt(c: dict[str, Any]) -> jax.Array:
    """``[B, T, D]`` standard-normal inputs."""
    return jax.random.normal(jax.random.key(0), (c["batch"], c["length"], c["width"]), c["dtype"])


def decoder(model: RoPEAttention, prompt: jax.Array, slots: int, dtype: Any, **cache: Any):
    """A pure decode step on ``model``'s cache of ``slots`` slots, prefilled with ``prompt [B, T, D]``.

    Args:
        model: The layer; its cache is (re)built by ``init_cache(B, slots, dtype=dtype, **cache)``.
        prompt: ``[B, T, D]`` tokens prefilled once.
        slots: Cache slots.
        dtype: Cache dtype.
        **cache: Further ``init_cache`` arguments (``mode``, ``sinks``, ``check``).

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


def attention_implementation(c: dict[str, Any], x: jax.Array) -> tuple[str | None, str]:
    """``"cudnn"`` where cuDNN attention runs this layer's forward and backward, else None (XLA); and why."""
    if jax.default_backend() != "gpu":
        return None, f"XLA ({jax.default_backend()})"
    try:
        model = layer(c, implementation="cudnn")
        jax.block_until_ready(
            nnx.jit(lambda m, a: nnx.grad(lambda m, a: jnp.mean(m(a).astype(jnp.float32)))(m, a))(model, x)
        )
        return "cudnn", "cuDNN"
    except Exception as error:  # any failure means: measure with XLA's attention instead
        return None, f"XLA (cuDNN failed: {type(error).__name__}: {str(error).splitlines()[0][:120]})"


def measure_layer(c: dict[str, Any]) -> dict[str, Any]:
    """Forward, forward+backward and a decode step with and without RoPE, as spreads of the ratio."""
    x = prompt(c)
    implementation, implementation_note = attention_implementation(c, x)
    passes: dict[str, dict[str, Any]] = {"forward": {}, "forward+backward": {}, "decode step": {}}
    for name in ("no RoPE", "RoPE"):
        # Pure functions of the state under jax.jit: nnx.jit's per-call graph traversal costs host time that
        # could hide a device-side difference.
        graphdef, state = nnx.split(layer(c, rope=name == "RoPE", implementation=implementation))

        def loss(state, x, graphdef=graphdef):
            return jnp.mean(nnx.merge(graphdef, state)(x).astype(jnp.float32) ** 2)

        forward = jax.jit(lambda state, x, graphdef=graphdef: nnx.merge(graphdef, state)(x))
        forward_backward = jax.jit(jax.grad(loss, argnums=(0, 1)))
        passes["forward"][name] = lambda f=forward, s=state: f(s, x)
        passes["forward+backward"][name] = lambda f=forward_backward, s=state: f(s, x)
        step = decoder(layer(c, rope=name == "RoPE"), x, c["length"] + 8, c["dtype"])
        passes["decode step"][name] = lambda step=step: step(x[:, :1])
    results = {}
    for pass_name, calls in passes.items():
        results[pass_name] = ratio_rows(time_rounds(calls, rounds=c["rounds"]), "no RoPE")
    return {"attention": implementation_note, "rounds": c["rounds"], "passes": results}


def caches(slots: int) -> dict[str, tuple[dict, dict]]:
    """The caches of ``RoPEAttention`` to compare, each as (layer arguments, ``init_cache`` arguments)."""
    return {
        "plain": ({}, {}),
        "sliding window": ({"sliding_window": slots}, {}),  # a ring of all the slots
        "sinks": ({}, {"sinks": 4}),
        "unrotated": ({}, {"mode": "unrotated"}),
        "sinks, unrotated": ({}, {"sinks": 4, "mode": "unrotated"}),
    }


def measure_caches(c: dict[str, Any]) -> dict[str, Any]:
    """Decode step of the RoPE layer with each of :func:`caches`, as a ratio to the plain cache, in one run."""
    x, slots = prompt(c), c["length"] + 8
    steps = {
        name: decoder(layer(c, **layer_args), x, slots, c["dtype"], **cache)
        for name, (layer_args, cache) in caches(slots).items()
    }
    samples = time_rounds({name: (lambda s=s: s(x[:, :1])) for name, s in steps.items()}, rounds=c["rounds"])
    return {"slots": slots, "rounds": c["rounds"], "rows": ratio_rows(samples, "plain")}


def measure_check(c: dict[str, Any]) -> dict[str, Any]:
    """Decode step with ``check=True`` against ``check=False``, for each cache that can fill."""
    x, slots = prompt(c), c["length"] + 8
    rows = {}
    for name, cache in (("plain", {}), ("unrotated", {"mode": "unrotated"})):
        steps = {
            f"check={check}": decoder(layer(c), x, slots, c["dtype"], check=check, **cache) for check in (False, True)
        }
        calls = {name: (lambda s=s: s(x[:, :1])) for name, s in steps.items()}
        rows[name] = ratio_rows(time_rounds(calls, rounds=c["rounds"]), "check=False")
    return {"slots": slots, "rounds": c["rounds"], "rows": rows}


def describe(c: dict[str, Any]) -> str:
    return (
        f"B {c['batch']}, T {c['length']}, D {c['width']}, heads {c['heads']}/{c['kv_heads']}, head dim "
        f"{c['head_dim']}, {jnp.dtype(c['dtype']).name}"
    )


def layer_table(result: dict[str, Any]) -> str:
    rows = [
        [
            name,
            fmt(row["no RoPE"]["ms"], 3),
            fmt(row["RoPE"]["ms"], 3),
            fmt({k: 100 * (v - 1) for k, v in row["RoPE"]["ratio"].items()}, 1, "%"),
        ]
        for name, row in result["passes"].items()
    ]
    return f"attention: {result['attention']}; median (min-max) of {result['rounds']} interleaved rounds\n\n" + (
        markdown_table(["pass", "no RoPE (ms)", "RoPE (ms)", "RoPE overhead"], rows)
    )


def cache_table(result: dict[str, Any]) -> str:
    rows = [[name, fmt(row["ratio"], 2, "x"), fmt(row["ms"], 3)] for name, row in result["rows"].items()]
    return (
        f"decode step by cache: {result['slots']} slots, 4 sinks; ratio to the plain cache within each of "
        f"{result['rounds']} rounds\n\n" + markdown_table(["cache", "vs plain", "step (ms)"], rows)
    )


def check_table(result: dict[str, Any]) -> str:
    rows = []
    for cache, row in result["rows"].items():
        rows.append(
            [
                cache,
                fmt(row["check=False"]["ms"], 3),
                fmt(row["check=True"]["ms"], 3),
                fmt(row["check=True"]["ratio"], 2, "x"),
            ]
        )
    return (
        f"decode step with the cache-full check (check=True: a conditional host callback) and without "
        f"(check=False: NaN on overflow); {result['slots']} slots; median (min-max) of {result['rounds']} rounds\n\n"
        + markdown_table(["cache", "check=False (ms)", "check=True (ms)", "True / False"], rows)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    c = config(args.quick)
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind}); {describe(c)}\n")
    print(layer_table(measure_layer(c)) + "\n")
    print(cache_table(measure_caches(c)) + "\n")
    print(check_table(measure_check(c)))


if __name__ == "__main__":
    main()
