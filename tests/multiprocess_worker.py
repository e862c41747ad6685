"""One process of the two-process test (tests/test_scale_out.py): a sharded RoPEAttention across processes.

    python tests/multiprocess_worker.py PROCESS_ID COORDINATOR_PORT

Each process simulates 4 CPU devices; ``jax.distributed`` joins them into one 8-device runtime over 127.0.0.1
with gloo collectives. The layer's kernels are created sharded (q/k/v column-parallel over "model", o
row-parallel), the batch is split over "data" and the cache too; a forward, a prefill and a decode step run on
the 2 x 4 mesh. Process 0 compares every result with the same layer on one device and prints one JSON line.
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import json

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import rope_jax
from rope_jax.nn import RoPEAttention

B, T, D, N, K, H = 4, 12, 64, 8, 4, 8


def layer(**kwargs) -> RoPEAttention:
    return RoPEAttention(N, D, num_kv_heads=K, rope=rope_jax.RoPE(head_dim=H), rngs=nnx.Rngs(0), **kwargs)


def run(attn: RoPEAttention, x: jax.Array, cache_sharding=None) -> list[jax.Array]:
    forward = nnx.jit(lambda m, a: m(a))(attn, x)
    attn.init_cache(B, T + 4, sharding=cache_sharding)
    step = nnx.jit(lambda m, a: m(a, decode=True))
    return [forward, step(attn, x[:, :8]), step(attn, x[:, 8:9])]


def main(process_id: int, port: int) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id, initialization_timeout=60
    )
    assert jax.device_count() == 8 and jax.local_device_count() == 4, (jax.device_count(), jax.local_device_count())
    x = np.asarray(jax.random.normal(jax.random.key(1), (B, T, D)))
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    kernel = nnx.initializers.lecun_normal()
    with jax.set_mesh(mesh):
        attn = layer(
            kernel_init=nnx.with_partitioning(kernel, (None, "model")),
            out_kernel_init=nnx.with_partitioning(kernel, ("model", None)),
        )
        rows = NamedSharding(mesh, P("data"))
        x_sharded = jax.make_array_from_callback(x.shape, rows, lambda index: x[index])
        sharded = run(attn, x_sharded, NamedSharding(mesh, P("data", None, "model")))
        gathered = [multihost_utils.process_allgather(out, tiled=True) for out in sharded]
        kernel_sharding = attn.q_proj.kernel[...].sharding.spec
    if process_id == 0:
        reference = run(layer(), jnp.asarray(x))
        errors = [
            float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(gathered, reference, strict=True)
        ]
        print(json.dumps({"errors": errors, "devices": jax.device_count(), "kernel": str(kernel_sharding)}), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
