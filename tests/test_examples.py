"""Every example runs end to end with a tiny step count (the full runs are in the README)."""

import pathlib
import runpy

import jax
import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> dict:
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


@pytest.fixture(autouse=True)
def standard_dtype_promotion():
    """The examples are user scripts around optax, which relies on standard promotion; the library itself is
    tested under strict promotion everywhere else."""
    with jax.numpy_dtype_promotion("standard"):
        yield


@pytest.mark.slow
def test_vit_2d_rope_smoke():
    results = load("vit_2d_rope.py")["main"](["--epochs", "1", "--seeds", "1"])
    assert set(results) == {"none", "learned", "axial", "mixed"}
    for row in results.values():
        assert row.shape == (5,) and np.all((row >= 0) & (row <= 1))


def test_linen_model_matches_the_nnx_module_and_is_shift_invariant():
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import rope_jax
    from rope_jax.nn import RoPEAttention

    module = load("linen_model.py")["LinenRoPEAttention"](num_heads=4, num_kv_heads=2, head_dim=16)
    x = jax.random.normal(jax.random.key(0), (2, 10, 32))
    params = module.init(jax.random.key(1), x)
    out = module.apply(params, x)
    np.testing.assert_allclose(
        np.asarray(out), np.asarray(module.apply(params, x, jnp.arange(10)[None] + 500)), atol=1e-4
    )
    # The same weights in the NNX module give the same output.
    nnx_attn = RoPEAttention(4, 32, head_dim=16, num_kv_heads=2, rope=rope_jax.RoPE(head_dim=16), rngs=nnx.Rngs(0))
    p = params["params"]
    nnx_attn.q_proj.kernel[...] = p["q"]["kernel"].reshape(32, 64)
    nnx_attn.k_proj.kernel[...] = p["k"]["kernel"].reshape(32, 32)
    nnx_attn.v_proj.kernel[...] = p["v"]["kernel"].reshape(32, 32)
    nnx_attn.o_proj.kernel[...] = p["out"]["kernel"].reshape(64, 32)
    np.testing.assert_allclose(np.asarray(nnx_attn(x)), np.asarray(out), atol=1e-5)


@pytest.mark.slow
def test_port_hf_model_reproduces_every_fixture_and_a_whole_attention_layer():
    errors = load("port_hf_model.py")["main"]([])
    assert len(errors) >= 17
    assert max(errors.values()) <= 1e-5, errors


@pytest.mark.slow
def test_length_extrapolation_quick_run_reports_every_rule_length_and_plot(tmp_path, capsys):
    example = load("length_extrapolation.py")
    results = example["main"](["--quick", "--out", str(tmp_path)])
    size, rules, multiples = example["QUICK_SIZE"], example["RULES"], example["EVAL_MULTIPLES"]
    lengths, depths = len(multiples), len(example["PASSKEY_DEPTHS"])
    assert set(results) == {"copy", "passkey"}
    for task, shape in (
        ("copy", (len(size.seeds), len(size.budgets), lengths)),
        ("passkey", (len(size.seeds), len(size.budgets), depths, lengths)),
    ):
        assert set(results[task]) == set(rules)
        for accuracy in results[task].values():
            assert accuracy.shape == shape and np.all((accuracy >= 0) & (accuracy <= 1))
    printed = capsys.readouterr().out
    train_length = example["TRAIN_LENGTH"]
    for multiple in multiples:
        assert f"{multiple * train_length} ({multiple}L)" in printed
    for rule in rules:
        for budget in size.budgets:
            # Two tables (copy, passkey), each with a row per rule and budget: "mean (min-max)" per length.
            prefix = f"{rule:12s} {budget:5d}"
            rows = [line[len(prefix) :].split() for line in printed.splitlines() if line.startswith(prefix)]
            assert len(rows) == 2, (rule, budget)
            for row in rows:
                means = [float(cell) for cell in row[::2]]
                assert len(means) == lengths and all(0 <= mean <= 1 for mean in means)
    for name in ("finetune", "lengths", "passkey_depth"):
        png = tmp_path / f"length_extrapolation_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_long_generation_keeps_positions_in_range_with_one_trace(tmp_path):
    results = load("long_generation.py")["main"](["--quick", "--out", str(tmp_path)])
    plain, sinks = results["plain cache"], results["4 sinks, 256 slots"]
    assert plain["newest"].shape == sinks["newest"].shape == (400,)
    assert int(plain["newest"][-1]) == 16 + 400 - 1  # every token a new position, past the trained 0 .. 255
    assert int(sinks["newest"].max()) == 255 and int(sinks["newest"][-1]) == 255
    assert sinks["traces"] == plain["traces"] == 1 and sinks["finite"] and plain["finite"]
    assert sinks["cache_bytes"] < plain["cache_bytes"]
    assert (tmp_path / "long_generation.png").exists()


@pytest.mark.slow
def test_context_parallel_example_matches_one_device_for_every_strategy_and_order(capsys):
    results = load("context_parallel.py")["main"]()
    assert set(results) == {f"{s}, {o}" for s in ("all-gather", "ring") for o in ("in order", "zigzag")}
    for errors in results.values():
        assert errors["output"] <= 2e-6 and errors["gradients"] <= 1e-4, errors
    printed = capsys.readouterr().out
    assert "collective-permute" in printed and "all-gather" in printed


def test_dit_rope_example_meets_float32_rounding_where_plain_float32_does_not():
    errors = load("dit_rope.py")["main"](["--size", "512", "--text", "300"])
    exact, plain, table = errors.values()
    assert exact < 2.5e-7 and table < 1.5e-7 < plain
