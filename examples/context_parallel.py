"""Context parallelism with RoPEAttention: one sequence split over 8 devices, in order or load-balanced.

    python examples/context_parallel.py          # simulates 8 CPU devices when fewer are present

Inside ``jax.shard_map`` over a ``"seq"`` mesh axis, each device holds a block of the tokens with their true
positions: it projects and rotates them locally (RoPE is elementwise in the tokens), and the attend step brings
the other blocks' keys - by all-gather, or round a ring of ``ppermute``s with an online softmax. Masks compare
positions, so the zigzag order that balances causal work (device i: chunks i and 15 - i of 16) needs nothing
else. For each strategy and order the table shows the largest difference from the same layer on one device,
for the output and for the gradients (parameters and input), and the collectives the compiled step holds.
"""

from __future__ import annotations

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):  # before JAX starts
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"

import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

import rope_jax
from rope_jax.nn import RoPEAttention
from rope_jax.nn.context_parallel import all_gather_attention, load_balanced_order, ring_attention

DEVICES, BATCH, LENGTH, WIDTH, HEADS, KV_HEADS = 8, 2, 64, 64, 8, 2


def layer(**kwargs) -> RoPEAttention:
    rope = rope_jax.RoPE(head_dim=WIDTH // HEADS, theta=10_000.0)
    return RoPEAttention(HEADS, WIDTH, num_kv_heads=KV_HEADS, rope=rope, rngs=nnx.Rngs(0), **kwargs)


def sharded_loss(attn: RoPEAttention, mesh: Mesh, order: np.ndarray):
    """``loss(state, x, weights) -> (scalar, out)``: the layer under shard_map on tokens permuted by ``order``."""
    graphdef, _ = nnx.split(attn)
    positions = jnp.broadcast_to(jnp.asarray(order, jnp.int32), (BATCH, LENGTH))

    def local(state, x, positions, weights):
        out = nnx.merge(graphdef, state)(x, positions)
        return jax.lax.psum(jnp.sum(out * weights), "seq"), out

    def loss(state, x, weights):
        return jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(P(), P(None, "seq"), P(None, "seq"), P(None, "seq")),
            out_specs=(P(), P(None, "seq")),
        )(state, x[:, order], positions, weights[:, order])

    return loss


def collectives(hlo: str) -> str:
    counts = {
        name: len(re.findall(rf"\s{name}(?:-start)?\(", hlo))
        for name in ("all-gather", "all-reduce", "collective-permute", "all-to-all", "reduce-scatter")
    }
    return ", ".join(f"{name} x{n}" for name, n in counts.items() if n) or "-"


def main() -> dict[str, dict[str, float]]:
    mesh = Mesh(np.asarray(jax.devices()[:DEVICES]), ("seq",))
    x = jax.random.normal(jax.random.key(0), (BATCH, LENGTH, WIDTH))
    weights = jax.random.normal(jax.random.key(1), (BATCH, LENGTH, WIDTH))
    reference = layer()
    graphdef, state = nnx.split(reference)

    def reference_loss(state, x):
        return jnp.sum(nnx.merge(graphdef, state)(x) * weights)

    expected_out = reference(x)
    expected_grads = jax.grad(reference_loss, argnums=(0, 1))(state, x)
    orders = {"in order": np.arange(LENGTH), "zigzag": load_balanced_order(LENGTH, DEVICES)}
    print(
        f"B {BATCH}, T {LENGTH} over {DEVICES} devices ({LENGTH // DEVICES} tokens each), D {WIDTH}, heads "
        f"{HEADS}/{KV_HEADS}; largest difference from one device\n"
    )
    print(f"{'strategy':11s} {'order':9s} {'output':>9s} {'gradients':>10s}  collectives (forward + backward)")
    results = {}
    for strategy, kernel in (("all-gather", all_gather_attention), ("ring", ring_attention)):
        attn = layer(attention_fn=kernel("seq"))
        _, state = nnx.split(attn)
        for order_name, order in orders.items():
            loss = sharded_loss(attn, mesh, order)
            step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
            (_, out), grads = step(state, x, weights)
            out_error = float(jnp.max(jnp.abs(out - expected_out[:, order])))
            grad_error = max(
                float(jnp.max(jnp.abs(a - b)))
                for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(expected_grads), strict=True)
            )
            hlo = step.lower(state, x, weights).compile().as_text() or ""
            print(f"{strategy:11s} {order_name:9s} {out_error:9.1e} {grad_error:10.1e}  {collectives(hlo)}")
            results[f"{strategy}, {order_name}"] = {"output": out_error, "gradients": grad_error}
    return results


if __name__ == "__main__":
    main()
