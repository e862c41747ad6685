"""One table, every scaling rule: the properties any rule must have, checked the same way for all of them."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rope_jax

HEAD_DIM, ORIGINAL = 32, 64
# One instance per registered rule, with the bad value its constructor must refuse (field, value, message).
RULES = {
    "default": (rope_jax.Default(), None),
    "linear": (rope_jax.Linear(factor=4.0), ("factor", 0.5, ">= 1")),
    "ntk": (rope_jax.NTK(factor=4.0), ("factor", float("nan"), "finite")),
    "dynamic": (
        rope_jax.DynamicNTK(factor=2.0, max_position_embeddings=ORIGINAL),
        ("max_position_embeddings", 0, "positive int"),
    ),
    "yarn": (rope_jax.YaRN(factor=4.0, original_max_position_embeddings=ORIGINAL), ("factor", 0.5, ">= 1")),
    "llama3": (
        rope_jax.Llama3(
            factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=ORIGINAL
        ),
        ("high_freq_factor", 0.5, "high_freq_factor >="),
    ),
    "longrope": (
        rope_jax.LongRoPE(
            short_factor=[1.0 + i / 16 for i in range(HEAD_DIM // 2)],
            long_factor=[2.0 + i for i in range(HEAD_DIM // 2)],
            original_max_position_embeddings=ORIGINAL,
            factor=4.0,
        ),
        ("long_factor", [1.0, -1.0] * (HEAD_DIM // 4), "> 0"),
    ),
    "proportional": (rope_jax.Proportional(partial_rotary_factor=0.5), ("partial_rotary_factor", 1.5, r"\[0, 1\]")),
}


def test_the_table_covers_every_registered_rule():
    assert set(RULES) == set(rope_jax.SCALING_RULES)
    for name, (rule, _) in RULES.items():
        assert type(rule) is rope_jax.SCALING_RULES[name] and rule.rope_type == name


def inputs(dtype, length=48, offset=0):
    x = jax.random.normal(jax.random.key(0), (2, length, 3, HEAD_DIM), jnp.float32).astype(dtype)
    positions = jnp.broadcast_to(jnp.arange(length) + offset, (2, length))
    return x, positions


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_jit_equals_eager_and_the_dtype_is_kept(name, dtype):
    rope = rope_jax.RoPE(head_dim=HEAD_DIM, scaling=RULES[name][0])
    x, positions = inputs(dtype, offset=40)  # crosses the original length: length-dependent rules switch
    eager, jitted = rope(x, positions), jax.jit(rope)(x, positions)
    assert eager.dtype == jitted.dtype == dtype and eager.shape == x.shape
    np.testing.assert_allclose(
        np.asarray(jitted, np.float32), np.asarray(eager, np.float32), rtol=1e-6, atol=float(jnp.finfo(dtype).eps)
    )


@pytest.mark.parametrize("name", sorted(RULES))
def test_hashable_static_argument_with_one_trace_across_lengths(name):
    rule = RULES[name][0]
    chex.clear_trace_counter()

    @chex.assert_max_traces(n=1)
    def rotate(x, positions, rope):
        return rope(x, positions)

    rotate = jax.jit(rotate, static_argnums=2)
    x, positions = inputs(jnp.float32)
    outputs = []
    for offset in (0, ORIGINAL // 2, ORIGINAL, 10 * ORIGINAL):  # below and far above the original length
        rope = rope_jax.RoPE(head_dim=HEAD_DIM, scaling=dataclasses.replace(rule))  # equal, not identical
        outputs.append(rotate(x, positions + offset, rope))
    assert all(np.all(np.isfinite(np.asarray(o))) for o in outputs)
    assert hash(rope_jax.RoPE(head_dim=HEAD_DIM, scaling=rule)) == hash(
        rope_jax.RoPE(head_dim=HEAD_DIM, scaling=dataclasses.replace(rule))
    )


@pytest.mark.parametrize("name", sorted(name for name, (_, bad) in RULES.items() if bad is not None))
def test_bad_field_is_refused_at_construction_naming_the_field(name):
    rule, (field, value, message) = RULES[name]
    with pytest.raises(ValueError, match=message) as error:
        dataclasses.replace(rule, **{field: value})
    assert field.split("_")[0] in str(error.value)


@pytest.mark.parametrize("name", sorted(name for name, (rule, _) in RULES.items() if dataclasses.fields(rule)))
def test_wrong_field_type_is_a_type_error(name):
    rule = RULES[name][0]
    field = dataclasses.fields(rule)[0].name
    with pytest.raises(TypeError, match=field):
        dataclasses.replace(rule, **{field: "four"})


@pytest.mark.parametrize("name", sorted(rope_jax.SUPPORTED_ROPE_TYPES))
def test_every_hugging_face_rule_round_trips_through_a_config(name):
    rule = RULES[name][0]
    params = {"rope_type": name, "rope_theta": 10000.0, **dataclasses.asdict(rule)}
    params.pop("max_position_embeddings", None)  # dynamic NTK reads the model's own length
    config = {"hidden_size": 3 * HEAD_DIM, "num_attention_heads": 3, "max_position_embeddings": ORIGINAL}
    rope = rope_jax.from_hf_config({**config, "rope_parameters": params})
    assert rope.scaling == rule
