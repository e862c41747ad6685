"""Scale-out: RoPE under every sharding (collectives counted in the compiled HLO), RoPEAttention sharded by
annotation, context parallelism under shard_map, and two processes joined by jax.distributed."""

import json
import pathlib
import socket
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import rope_jax
from rope_jax.cli.benchmarks import sharding
from rope_jax.nn import RoPEAttention
from rope_jax.nn.context_parallel import all_gather_attention, load_balanced_order, ring_attention

B, T, D, N, K, H = 4, 16, 64, 8, 4, 8
KERNEL = nnx.initializers.lecun_normal()
COLUMNS = nnx.with_partitioning(KERNEL, (None, "model"))  # q/k/v: heads over "model"
ROWS = nnx.with_partitioning(KERNEL, ("model", None))  # o: its input features over "model"


def layer(**kwargs) -> RoPEAttention:
    return RoPEAttention(N, D, num_kv_heads=K, rope=rope_jax.RoPE(head_dim=H), rngs=nnx.Rngs(0), **kwargs)


def inputs(length=T, seed=0):
    return jax.random.normal(jax.random.key(seed), (B, length, D), jnp.float32)


def close(a, b, atol=2e-6):
    chex.assert_trees_all_close(a, b, atol=atol, rtol=0)


def compiled_text(fn, *args) -> str:
    return jax.jit(fn).lower(*args).compile().as_text() or ""


# -------------------------------------------------------------------------------------- the pure functions


@pytest.mark.slow
def test_pure_functions_compile_without_a_collective_under_every_layout():
    """Every entry point x batch / sequence / heads / batch x sequence / batch x heads over a 2 x 4 mesh: no
    collective, one device's values, q's sharding kept. Only the reductions the maths needs (a length-dependent
    rule deciding from max(positions), the table's bounds check) reduce, and each has an argument that avoids it."""
    results = sharding.measure()
    reducing = {"dynamic NTK from max(positions)", "RoPETable, check=True"}
    for name, by_layout in results.items():
        for layout, cell in by_layout.items():
            assert cell["max_error"] <= 1e-6 and cell["keeps_sharding"], (name, layout, cell)
            allowed = {"all-reduce"} if name in reducing else set()
            assert set(cell["collectives"]) <= allowed, (name, layout, cell["collectives"])
    assert all(results[name]["heads"]["collectives"] == {} for name in reducing)  # heads split nothing to reduce


def test_explicit_sharding_mode_keeps_the_sharding_in_the_type():
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    q = jax.random.normal(jax.random.key(1), (sharding.B, sharding.T, sharding.N, sharding.H))
    positions = jnp.broadcast_to(jnp.arange(sharding.T, dtype=jnp.int32), q.shape[:2])
    functions = sharding.functions()
    expected = {name: jax.jit(fn)(q, positions) for name, fn in functions.items()}
    with jax.set_mesh(mesh):
        for spec in sharding.LAYOUTS.values():
            q_sharded = jax.device_put(q, spec)
            p_sharded = jax.device_put(positions, P(*tuple(spec)[:2]))
            for name, fn in functions.items():
                out = jax.jit(fn)(q_sharded, p_sharded)
                assert jax.typeof(out).sharding.spec == jax.typeof(q_sharded).sharding.spec, (name, spec)
                close(out, expected[name], atol=1e-6)


# ------------------------------------------------------------------------------- the layer, by annotation


def forward_matches_with_one_all_reduce(attn, reference, mesh, x):
    """The sharded layer's jitted forward on rows split over "data" equals one device's and compiles to the one
    all-reduce of the row-parallel o projection. Returns the sharded input."""
    x_sharded = jax.device_put(x, NamedSharding(mesh, P("data")))
    graphdef, state = nnx.split(attn)

    def forward(state, x):
        return nnx.merge(graphdef, state)(x)

    close(jax.jit(forward)(state, x_sharded), reference(x))
    assert sharding.collectives(compiled_text(forward, state, x_sharded)) == {"all-reduce": 1}
    return x_sharded


@pytest.mark.parametrize("mode", [AxisType.Auto, AxisType.Explicit])
def test_rope_attention_shards_by_annotation_and_compiles_to_one_all_reduce(mode):
    """Built under jax.set_mesh with partitioned initialisers, the kernels are born sharded; the forward and each
    decode step equal one device and compile to the single all-reduce of the row-parallel o projection; the
    cache is created sharded; gradients equal one device's."""
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(mode, mode))
    x = inputs()
    reference = layer()
    with jax.set_mesh(mesh):
        attn = layer(kernel_init=COLUMNS, out_kernel_init=ROWS)
        assert attn.k_proj.kernel[...].sharding.spec == P(None, "model")
        assert attn.o_proj.kernel[...].sharding.spec == P("model", None)
        x_sharded = forward_matches_with_one_all_reduce(attn, reference, mesh, x)

        attn.init_cache(B, T + 4)  # by default: rows over "data", KV heads over "model", as the kernels
        expected = NamedSharding(mesh, P("data", None, "model"))
        assert attn.kv_cache.get_value().keys.sharding.is_equivalent_to(expected, 4)
        reference.init_cache(B, T + 4)
        step = nnx.jit(lambda m, a: m(a, decode=True))
        close(step(attn, x_sharded[:, :10]), reference(x[:, :10], decode=True))
        close(step(attn, x_sharded[:, 10:11]), reference(x[:, 10:11], decode=True))
        graphdef, state = nnx.split(attn)

        def decode(state, token):
            return nnx.merge(graphdef, state)(token, decode=True)

        assert sharding.collectives(compiled_text(decode, state, x_sharded[:, 11:12])) == {"all-reduce": 1}

        def loss(module, x):
            return jnp.sum(module(x) ** 2)

        grads = nnx.jit(nnx.grad(loss))(attn, x_sharded)
        expected = nnx.grad(loss)(layer(), x)
        close(jax.tree.leaves(nnx.state(grads, nnx.Param)), jax.tree.leaves(nnx.state(expected, nnx.Param)), atol=1e-4)


def test_init_cache_inside_nnx_jit_is_born_sharded():
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    with jax.set_mesh(mesh):
        attn = layer(kernel_init=COLUMNS, out_kernel_init=ROWS)
        nnx.jit(lambda m: m.init_cache(B, T))(attn)
        assert attn.kv_cache.get_value().keys.sharding.spec == P("data", None, "model", None)
        narrow = RoPEAttention(8, D, num_kv_heads=2, head_dim=H, kernel_init=COLUMNS, rngs=nnx.Rngs(0))
        narrow.init_cache(B, T)  # 2 KV heads cannot split over 4 devices: replicated, rows still over "data"
        assert narrow.kv_cache.get_value().keys.sharding.spec == P("data", None, None, None)


def test_fewer_kv_heads_than_the_model_axis_replicate_k_and_v_and_keep_one_all_reduce():
    """GQA with 2 KV heads on a 4-device model axis: q column-parallel, k/v replicated by annotation (automatic
    sharding mode; explicit mode refuses this layout, see below)."""
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    replicated = nnx.with_partitioning(KERNEL, (None, None))
    x = inputs()
    reference = RoPEAttention(8, D, num_kv_heads=2, head_dim=H, rope=rope_jax.RoPE(head_dim=H), rngs=nnx.Rngs(0))
    with jax.set_mesh(mesh):
        attn = RoPEAttention(
            8,
            D,
            num_kv_heads=2,
            head_dim=H,
            rope=rope_jax.RoPE(head_dim=H),
            kernel_init=COLUMNS,
            kv_kernel_init=replicated,
            out_kernel_init=ROWS,
            rngs=nnx.Rngs(0),
        )
        assert attn.v_proj.kernel[...].sharding.spec == P(None, None)
        forward_matches_with_one_all_reduce(attn, reference, mesh, x)


def test_kv_heads_that_do_not_split_over_the_model_axis_are_refused():
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    with jax.set_mesh(mesh):
        attn = RoPEAttention(8, D, num_kv_heads=2, head_dim=H, rngs=nnx.Rngs(0))
        with pytest.raises(ValueError, match=r"splits 2 KV heads over mesh axis 'model' \(4 devices\)"):
            attn.init_cache(B, T, sharding=NamedSharding(mesh, P("data", None, "model")))
        with pytest.raises(ValueError, match=r"splits 3 rows over mesh axis 'model' \(4 devices\)"):
            attn.init_cache(3, T, sharding=NamedSharding(mesh, P("model")))


# ------------------------------------------------------------------------------------ context parallelism


@pytest.mark.parametrize("order", ["contiguous", "zigzag"])
@pytest.mark.parametrize("strategy", [all_gather_attention, ring_attention])
def test_context_parallelism_equals_one_device_forward_and_gradient(strategy, order):
    """The sequence split over 8 devices under shard_map, each block rotated at its true positions, the keys
    brought by the attend step (all-gather, or ring with ppermute): one device's output and gradients."""
    devices, length = 8, 32
    mesh = Mesh(np.asarray(jax.devices()[:devices]), ("seq",))
    permutation = np.arange(length) if order == "contiguous" else load_balanced_order(length, devices)
    x, weights = inputs(length, seed=3), jax.random.normal(jax.random.key(4), (B, length, D))
    positions = jnp.broadcast_to(jnp.asarray(permutation, jnp.int32), (B, length))
    parallel, reference = layer(attention_fn=strategy("seq")), layer()
    graphdef, state = nnx.split(parallel)

    def sharded_loss(state, x):
        def local(state, x, positions, weights):
            out = nnx.merge(graphdef, state)(x, positions)
            return jax.lax.psum(jnp.sum(out * weights), "seq"), out

        loss, out = jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(P(), P(None, "seq"), P(None, "seq"), P(None, "seq")),
            out_specs=(P(), P(None, "seq")),
        )(state, x[:, permutation], positions, weights[:, permutation])
        return loss, out

    (loss, out), grads = jax.jit(jax.value_and_grad(sharded_loss, argnums=(0, 1), has_aux=True))(state, x)

    def reference_loss(state, x):
        return jnp.sum(nnx.merge(*nnx.split(reference)[:1], state)(x) * weights)

    expected_out = reference(x)
    expected_loss, expected_grads = jax.value_and_grad(reference_loss, argnums=(0, 1))(nnx.split(reference)[1], x)
    close(out, expected_out[:, permutation], atol=3e-6)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
    close(grads, expected_grads, atol=1e-4)


def test_context_parallel_kernels_need_positions_and_can_check_them():
    mesh = Mesh(np.asarray(jax.devices()[:8]), ("seq",))
    x = inputs(32, seed=5)

    def run(attn, positions):
        graphdef, state = nnx.split(attn)

        def local(state, x, *positions):
            return nnx.merge(graphdef, state)(x, *positions)

        specs = (P(), P(None, "seq")) + ((P(None, "seq"),) if positions else ())
        return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P(None, "seq"))(state, x, *positions)

    with pytest.raises(ValueError, match="needs the tokens' positions"):
        run(layer(attention_fn=ring_attention("seq")), ())
    repeated = jnp.zeros((B, 32), jnp.int32)  # every token at position 0: not a permutation
    checked = layer(attention_fn=all_gather_attention("seq", check_positions=True))
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"not a permutation of 0 \.\. T - 1"):
        jax.block_until_ready(jax.jit(lambda: run(checked, (repeated,)))())
    with pytest.raises(ValueError, match="length 30 is not a multiple of it"):
        load_balanced_order(30, 8)


def test_rope_attention_fn_takes_positions():
    """nnx.MultiHeadAttention with rope_attention_fn(positions=...): a block of a longer sequence rotated at its
    true positions, so its scores are the full sequence's (here: the last half attends like the whole)."""
    rope = rope_jax.RoPE(head_dim=H)
    mha = nnx.MultiHeadAttention(
        N, D, decode=False, use_bias=False, rngs=nnx.Rngs(0), attention_fn=rope_jax.nn.rope_attention_fn(rope)
    )
    shifted = nnx.MultiHeadAttention(
        N,
        D,
        decode=False,
        use_bias=False,
        rngs=nnx.Rngs(0),
        attention_fn=rope_jax.nn.rope_attention_fn(rope, positions=lambda length: 100 + jnp.arange(length)),
    )
    x = inputs()
    close(shifted(x, is_causal=True), mha(x, is_causal=True), atol=1e-5)  # relative positions unchanged


# --------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_run_a_sharded_layer_like_one_device():
    """Two processes on 127.0.0.1 with 4 simulated devices each, joined by jax.distributed (gloo): a forward, a
    prefill and a decode step on the 8 global devices equal one device. Both end within the timeout, or are
    killed; no process outlives the test."""
    worker = pathlib.Path(__file__).with_name("multiprocess_worker.py")
    port = free_port()
    processes = [
        subprocess.Popen(
            [sys.executable, str(worker), str(rank), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    try:
        outputs = [process.communicate(timeout=240) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
    report = json.loads(outputs[0][0].strip().splitlines()[-1])
    assert report["devices"] == 8 and report["kernel"] == "P(None, 'model')"
    assert max(report["errors"]) <= 2e-6, report


def test_explicit_mode_refuses_kv_heads_that_cannot_follow_the_query_heads():
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    with jax.set_mesh(mesh):
        attn = RoPEAttention(
            8,
            D,
            num_kv_heads=2,
            head_dim=H,
            kernel_init=COLUMNS,
            kv_kernel_init=nnx.with_partitioning(KERNEL, (None, None)),
            rngs=nnx.Rngs(0),
        )
        x = jax.device_put(inputs(), NamedSharding(mesh, P("data")))
        with pytest.raises(ValueError, match=r"the 2 KV heads must split over the mesh axis that splits the query"):
            nnx.jit(lambda m, a: m(a))(attn, x)
