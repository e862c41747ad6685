"""rope_jax.hf_weights: Hugging Face attention weights -> RoPEAttention parameters.

The end-to-end checks are tests/test_ports.py (whole models against transformers); these pin each piece: the
two fused layouts, transposition, zero-filled biases, q/k norm offsets, the pair permutation (scores unchanged,
partial rotary included), the state-dict naming schemes, the loader, and the argument checks.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import rope_jax
from rope_jax import hf_weights
from rope_jax.nn import RoPEAttention
from tests import ports

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------------------------------ split_fused_qkv


def test_concatenated_layout_is_q_then_k_then_v_rows():
    n, k, h, d = 4, 2, 3, 5
    fused = randn((n + 2 * k) * h, d)
    q, kk, v = hf_weights.split_fused_qkv(fused, num_heads=n, num_kv_heads=k, head_dim=h)
    np.testing.assert_array_equal(q, fused[: n * h])
    np.testing.assert_array_equal(kk, fused[n * h : (n + k) * h])
    np.testing.assert_array_equal(v, fused[(n + k) * h :])


def test_per_head_layout_is_gpt_neox_view_then_chunk():
    """GPT-NeoX: qkv.view(..., N, 3 * H).chunk(3, -1) on the projection's output features."""
    n, h, d = 3, 4, 6
    fused, bias = randn(3 * n * h, d), randn(3 * n * h)
    x = randn(2, d)
    out = (x @ fused.T + bias).reshape(2, n, 3 * h)
    expected = [out[..., i * h : (i + 1) * h].reshape(2, n * h) for i in range(3)]
    weights = hf_weights.split_fused_qkv(fused, num_heads=n, head_dim=h, layout="per_head")
    biases = hf_weights.split_fused_qkv(bias, num_heads=n, head_dim=h, layout="per_head")
    for w, b, e in zip(weights, biases, expected, strict=True):
        np.testing.assert_allclose(x @ w.T + b, e, rtol=1e-6, atol=1e-6)


def test_jax_arrays_stay_jax_arrays():
    q, _, _ = hf_weights.split_fused_qkv(jnp.ones((12, 3)), num_heads=2, head_dim=2)
    assert isinstance(q, jax.Array)
    params = hf_weights.attention_params(*(jnp.ones((4, 4)),) * 4, num_heads=2, head_dim=2, to_half_split=True)
    assert all(isinstance(v, jax.Array) for p in params.values() for v in p.values())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(num_heads=2, head_dim=2, num_kv_heads=1, layout="per_head"), ValueError, "num_kv_heads must equal"),
        (dict(num_heads=2, head_dim=3), ValueError, r"18 rows .* got shape \(12, 3\)"),
        (dict(num_heads=2, head_dim=2, layout="rows"), ValueError, "layout must be one of"),
        (dict(num_heads=2.0, head_dim=2), TypeError, "num_heads must be an int"),
        (dict(num_heads=0, head_dim=2), ValueError, "num_heads must be a positive int"),
    ],
)
def test_split_checks(kwargs, error, match):
    with pytest.raises(error, match=match):
        hf_weights.split_fused_qkv(np.ones((12, 3), np.float32), **kwargs)


def test_split_rejects_non_float_weights():
    with pytest.raises(TypeError, match="floating-point array, got dtype int"):
        hf_weights.split_fused_qkv(np.ones((12, 3), np.int32), num_heads=2, head_dim=2)


# ------------------------------------------------------------------------------------------ attention_params


def test_kernels_are_transposed_and_missing_biases_are_zeros():
    n, k, h, d = 4, 2, 3, 10
    q, kk, v, o = randn(n * h, d), randn(k * h, d), randn(k * h, d), randn(d, n * h)
    qb, kb, vb = randn(n * h), randn(k * h), randn(k * h)
    params = hf_weights.attention_params(
        q, kk, v, o, num_heads=n, num_kv_heads=k, head_dim=h, q_bias=qb, k_bias=kb, v_bias=vb
    )
    for name, weight in zip(("q_proj", "k_proj", "v_proj", "o_proj"), (q, kk, v, o), strict=True):
        np.testing.assert_array_equal(params[name]["kernel"], weight.T)
    np.testing.assert_array_equal(params["q_proj"]["bias"], qb)
    np.testing.assert_array_equal(params["o_proj"]["bias"], np.zeros(d, np.float32))  # Qwen 2: none on o_proj
    no_bias = hf_weights.attention_params(q, kk, v, o, num_heads=n, num_kv_heads=k, head_dim=h)
    assert all("bias" not in p for p in no_bias.values())


def test_norm_offset_and_the_norms_come_together():
    w = np.ones((4, 4), np.float32)
    norm = randn(2)
    params = hf_weights.attention_params(w, w, w, w, num_heads=2, head_dim=2, q_norm=norm, k_norm=norm, norm_offset=1.0)
    np.testing.assert_array_equal(params["q_norm"]["scale"], norm + np.float32(1))
    with pytest.raises(ValueError, match="q_norm and k_norm come together"):
        hf_weights.attention_params(w, w, w, w, num_heads=2, head_dim=2, q_norm=norm)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (
            ((8, 6), (4, 6), (4, 6), (6, 8)),
            r"the k_proj weight must have 8 rows \(K \* H = 2 \* 4\).*got shape \(4, 6\)",
        ),
        (((8, 6), (8, 5), (8, 6), (6, 8)), "the k_proj weight has 5 input features, q_proj has 6"),
        (((8, 6), (8, 6), (8, 6), (8, 6)), r"o_proj weight must have shape \[D, N \* H\] = \(6, 8\), got \(8, 6\)"),
    ],
)
def test_attention_params_shape_checks(shapes, match):
    with pytest.raises(ValueError, match=match):
        hf_weights.attention_params(*(np.ones(s, np.float32) for s in shapes), num_heads=2, head_dim=4)


def test_bias_shape_check():
    w = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"the v_proj bias must have shape \(4,\), got \(3,\)"):
        hf_weights.attention_params(w, w, w, w, num_heads=2, head_dim=2, v_bias=np.ones(3, np.float32))


@pytest.mark.parametrize("rotary_dim", [None, 4])
def test_to_half_split_keeps_attention_scores(rotary_dim):
    """Interleaved RoPE on the original q/k weights == half-split RoPE on the permuted ones (partial rotary too),
    biases and q/k norms included."""
    n, k, h, d = 4, 2, 8, 16
    q, kk, v, o = randn(n * h, d), randn(k * h, d), randn(k * h, d), randn(d, n * h)
    qb, kb, norm_q, norm_k = randn(n * h), randn(k * h), randn(h), randn(h)
    common = dict(num_heads=n, num_kv_heads=k, head_dim=h, q_bias=qb, k_bias=kb, q_norm=norm_q, k_norm=norm_k)
    x = randn(1, 7, d)
    positions = 30000 + np.arange(7)[None]

    def scores(params, interleaved):
        rope = rope_jax.RoPE(h, rotary_dim=rotary_dim, interleaved=interleaved)
        attn = RoPEAttention(n, d, num_kv_heads=k, rope=rope, use_bias=True, qk_norm=True, rngs=nnx.Rngs(0))
        hf_weights.load_attention_params(attn, params)
        return np.asarray(attn.attention_weights(x, positions))

    original = hf_weights.attention_params(q, kk, v, o, **common)
    permuted = hf_weights.attention_params(q, kk, v, o, **common, to_half_split=True, rotary_dim=rotary_dim)
    assert not np.array_equal(permuted["q_proj"]["kernel"], original["q_proj"]["kernel"])
    np.testing.assert_array_equal(permuted["v_proj"]["kernel"], original["v_proj"]["kernel"])
    np.testing.assert_allclose(scores(permuted, False), scores(original, True), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------ state dicts


@pytest.mark.parametrize(
    ("family", "prefix", "fused", "layout"),
    [
        ("phi3.5", "model.layers.1.self_attn.", "qkv_proj", "concatenated"),
        ("gpt-neox", "gpt_neox.layers.1.attention.", "query_key_value", "per_head"),
    ],
)
def test_state_dict_finds_fused_layouts(family, prefix, fused, layout):
    meta, _, w = ports.load(family)
    config = meta["config"]
    n = config["num_attention_heads"]
    h = config["hidden_size"] // n
    params = hf_weights.attention_params_from_state_dict(w, prefix, num_heads=n, head_dim=h, qkv_layout=layout)
    _, k, _ = hf_weights.split_fused_qkv(w[f"{prefix}{fused}.weight"], num_heads=n, head_dim=h, layout=layout)
    np.testing.assert_array_equal(params["k_proj"]["kernel"], k.T)
    assert ("bias" in params["q_proj"]) == (family == "gpt-neox")


def test_state_dict_reads_separate_projections_biases_and_norms():
    _, _, w = ports.load("qwen3")
    prefix = "model.layers.0.self_attn."
    params = hf_weights.attention_params_from_state_dict(w, prefix, num_heads=4, num_kv_heads=2, head_dim=16)
    np.testing.assert_array_equal(params["q_norm"]["scale"], w[f"{prefix}q_norm.weight"])
    _, _, w = ports.load("qwen2.5")
    params = hf_weights.attention_params_from_state_dict(w, prefix, num_heads=4, num_kv_heads=2, head_dim=16)
    np.testing.assert_array_equal(params["k_proj"]["bias"], w[f"{prefix}k_proj.bias"])
    assert not params["o_proj"]["bias"].any()


def test_state_dict_errors_name_what_is_missing():
    _, _, w = ports.load("llama3.1")
    with pytest.raises(KeyError, match=r"no attention weights under 'model.layers.7.self_attn.'"):
        hf_weights.attention_params_from_state_dict(w, "model.layers.7.self_attn.", num_heads=4, head_dim=16)
    partial = {k: v for k, v in w.items() if "o_proj" not in k}
    with pytest.raises(KeyError, match=r"no model.layers.0.self_attn.o_proj.weight"):
        hf_weights.attention_params_from_state_dict(
            partial, "model.layers.0.self_attn.", num_heads=4, num_kv_heads=2, head_dim=16
        )
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        hf_weights.attention_params_from_state_dict([1], "x.", num_heads=4, head_dim=16)


# ------------------------------------------------------------------------------------------ the loader


def make(use_bias=False, qk_norm=False):
    return RoPEAttention(2, 6, head_dim=4, rope=rope_jax.RoPE(4), use_bias=use_bias, qk_norm=qk_norm, rngs=nnx.Rngs(0))


def test_loader_writes_every_parameter():
    weights = randn(8, 6), randn(8, 6), randn(8, 6), randn(6, 8)
    params = hf_weights.attention_params(
        *weights, num_heads=2, head_dim=4, q_bias=randn(8), q_norm=randn(4), k_norm=randn(4)
    )
    attn = hf_weights.load_attention_params(make(use_bias=True, qk_norm=True), params)
    np.testing.assert_array_equal(attn.o_proj.kernel[...], weights[3].T)
    np.testing.assert_array_equal(attn.q_proj.bias[...], params["q_proj"]["bias"])
    np.testing.assert_array_equal(attn.before_rope[0].k_norm.scale[...], params["k_norm"]["scale"])
    assert attn.q_proj.kernel[...].dtype == jnp.float32


def test_loader_refuses_mismatches():
    w = np.ones((8, 6), np.float32)
    plain = hf_weights.attention_params(w, w, w, w.T, num_heads=2, head_dim=4)
    with pytest.raises(ValueError, match=r"the module has q_proj\.bias but the parameters do not"):
        hf_weights.load_attention_params(make(use_bias=True), plain)
    with pytest.raises(ValueError, match="the module has q_norm but the parameters do not"):
        hf_weights.load_attention_params(make(qk_norm=True), plain)
    biased = hf_weights.attention_params(w, w, w, w.T, num_heads=2, head_dim=4, o_bias=np.ones(6, np.float32))
    with pytest.raises(ValueError, match=r"the parameters have q_proj\.bias but the module has none"):
        hf_weights.load_attention_params(make(), biased)
    wide = hf_weights.attention_params(
        *(np.ones((8, 7), np.float32),) * 3, np.ones((7, 8), np.float32), num_heads=2, head_dim=4
    )
    with pytest.raises(ValueError, match=r"q_proj.kernel has shape \(7, 8\), the module expects \(6, 8\)"):
        hf_weights.load_attention_params(make(), wide)


def test_importing_hf_weights_does_not_import_flax():
    code = "import sys, rope_jax.hf_weights\nprint('flax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


# ------------------------------------------------------------------------------- every layout, no weight left


def test_codegen_layout_is_four_shards_of_q_v_k():
    """CodeGen: qkv.view(..., 4, 3 * local).split(local) -> (q, v, k) per shard, then the shards in order."""
    n, h, d = 4, 4, 6
    fused = randn(3 * n * h, d)
    x = randn(2, d)
    out = (x @ fused.T).reshape(2, 4, 3, n * h // 4)
    expected = {"q": out[:, :, 0].reshape(2, -1), "v": out[:, :, 1].reshape(2, -1), "k": out[:, :, 2].reshape(2, -1)}
    q, k, v = hf_weights.split_fused_qkv(fused, num_heads=n, head_dim=h, layout="codegen")
    for name, w in (("q", q), ("k", k), ("v", v)):
        np.testing.assert_allclose(x @ w.T, expected[name], rtol=1e-6, atol=1e-6)


def test_grouped_layout_is_falcon_view_and_contains_the_two_older_layouts():
    """Falcon's new architecture: qkv.view(..., K, N/K + 2, H); q = [..., :-2], k = [..., -2], v = [..., -1]."""
    n, kv, h, d = 4, 2, 3, 5
    fused = randn((n + 2 * kv) * h, d)
    rows = fused.reshape(kv, n // kv + 2, h, d)
    q, k, v = hf_weights.split_fused_qkv(fused, num_heads=n, num_kv_heads=kv, head_dim=h, layout="grouped")
    np.testing.assert_array_equal(q, rows[:, :-2].reshape(n * h, d))
    np.testing.assert_array_equal(k, rows[:, -2].reshape(kv * h, d))
    np.testing.assert_array_equal(v, rows[:, -1].reshape(kv * h, d))
    per_head = randn(3 * n * h, d)
    for a, b in zip(
        hf_weights.split_fused_qkv(per_head, num_heads=n, head_dim=h, layout="grouped"),
        hf_weights.split_fused_qkv(per_head, num_heads=n, head_dim=h, layout="per_head"),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    mqa = randn((n + 2) * h, d)
    for a, b in zip(
        hf_weights.split_fused_qkv(mqa, num_heads=n, num_kv_heads=1, head_dim=h, layout="grouped"),
        hf_weights.split_fused_qkv(mqa, num_heads=n, num_kv_heads=1, head_dim=h),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def layer(prefix="a.", n=4, k=4, h=4, d=8, **extra):
    weights = {f"{prefix}q_proj.weight": randn(n * h, d), f"{prefix}k_proj.weight": randn(k * h, d),
               f"{prefix}v_proj.weight": randn(k * h, d), f"{prefix}o_proj.weight": randn(d, n * h)}  # fmt: skip
    return {**weights, **{prefix + name: value for name, value in extra.items()}}


def test_a_tensor_nothing_reads_is_an_error_naming_it_unless_ignored():
    w = layer(**{"gate_proj.weight": randn(16, 8), "rotary_emb.inv_freq": randn(2)})
    with pytest.raises(ValueError, match=r"2 tensor\(s\) under 'a.' would be left unused: \['a.gate_proj.weight', "):
        hf_weights.attention_params_from_state_dict(w, "a.", num_heads=4, head_dim=4)
    params = hf_weights.attention_params_from_state_dict(
        w, "a.", num_heads=4, head_dim=4, ignore=["gate_proj.*", "rotary_emb.inv_freq"]
    )
    assert set(params) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    with pytest.raises(TypeError, match="wrap it in a list"):
        hf_weights.attention_params_from_state_dict(w, "a.", num_heads=4, head_dim=4, ignore="gate_proj.weight")


@pytest.mark.parametrize("name", ["dense", "out_proj"])
def test_output_projection_names(name):
    w = layer()
    w[f"a.{name}.weight"] = w.pop("a.o_proj.weight")
    w[f"a.{name}.bias"] = randn(8)
    params = hf_weights.attention_params_from_state_dict(w, "a.", num_heads=4, head_dim=4)
    np.testing.assert_array_equal(params["o_proj"]["bias"], w[f"a.{name}.bias"])


def test_qkv_proj_with_as_many_kv_heads_as_heads_is_refused_unless_told():
    fused = {"a.qkv_proj.weight": randn(48, 8), "a.out_proj.weight": randn(8, 16)}
    with pytest.raises(ValueError, match="qkv_layout='concatenated' \\(Phi-3\\) or 'codegen'"):
        hf_weights.attention_params_from_state_dict(fused, "a.", num_heads=4, head_dim=4)
    told = hf_weights.attention_params_from_state_dict(fused, "a.", num_heads=4, head_dim=4, qkv_layout="codegen")
    q, _, _ = hf_weights.split_fused_qkv(fused["a.qkv_proj.weight"], num_heads=4, head_dim=4, layout="codegen")
    np.testing.assert_array_equal(told["q_proj"]["kernel"], q.T)
    gqa = {"a.qkv_proj.weight": randn(32, 8), "a.o_proj.weight": randn(8, 16)}  # K = 2 != N: only Phi-3's fits
    assert hf_weights.attention_params_from_state_dict(gqa, "a.", num_heads=4, num_kv_heads=2, head_dim=4)


def test_every_norm_sink_and_output_norm_weight_is_read():
    per_head = {f"q_layernorm.norms.{i}.weight": randn(4) for i in range(4)}
    per_head.update({f"k_layernorm.norms.{i}.weight": randn(4) for i in range(4)})
    w = layer(**per_head)  # StableLM: one LayerNorm per head
    params = hf_weights.attention_params_from_state_dict(w, "a.", num_heads=4, head_dim=4)
    np.testing.assert_array_equal(params["q_norm"]["scale"][2], per_head["q_layernorm.norms.2.weight"])
    shared = layer(**{"q_layernorm.weight": randn(4), "q_layernorm.bias": randn(4), "k_layernorm.weight": randn(4),
                      "k_layernorm.bias": randn(4)})  # fmt: skip  # Persimmon
    params = hf_weights.attention_params_from_state_dict(shared, "a.", num_heads=4, head_dim=4)
    np.testing.assert_array_equal(params["k_norm"]["bias"], shared["a.k_layernorm.bias"])
    projection = layer(k=2, **{"q_norm.weight": randn(16), "k_norm.weight": randn(8)})  # OLMo 2
    params = hf_weights.attention_params_from_state_dict(projection, "a.", num_heads=4, num_kv_heads=2, head_dim=4)
    assert params["q_norm"]["scale"].shape == (4, 4) and params["k_norm"]["scale"].shape == (2, 4)
    extras = layer(**{"sinks": randn(4), "attn_sub_norm.weight": randn(16), "query_layernorm.weight": randn(4),
                      "key_layernorm.weight": randn(4)})  # fmt: skip  # gpt-oss, BitNet, HunYuan
    params = hf_weights.attention_params_from_state_dict(extras, "a.", num_heads=4, head_dim=4)
    np.testing.assert_array_equal(params["sink_logits"]["value"], extras["a.sinks"])
    np.testing.assert_array_equal(params["output_norm"]["scale"].reshape(-1), extras["a.attn_sub_norm.weight"])
    np.testing.assert_array_equal(params["q_norm"]["scale"], extras["a.query_layernorm.weight"])


def test_loader_fills_a_layer_built_from_stages():
    from rope_jax.nn import HeadNorm, QKNorm

    rngs = nnx.Rngs(0)
    attn = RoPEAttention(
        4, 8, head_dim=4, rope=rope_jax.RoPE(4), sink_logits=True,
        after_rope=[QKNorm(4, num_heads=4, num_kv_heads=4, kind="layer", weights="per_head", use_bias=True,
                           rngs=rngs)],
        before_output=[HeadNorm(4, 4, over="projection", weights="per_head", rngs=rngs)],
        rngs=rngs,
    )  # fmt: skip
    norms = {f"q_layernorm.norms.{i}.{p}": randn(4) for i in range(4) for p in ("weight", "bias")}
    norms.update({f"k_layernorm.norms.{i}.{p}": randn(4) for i in range(4) for p in ("weight", "bias")})
    w = layer(**norms, **{"sinks": randn(4), "attn_sub_norm.weight": randn(16)})
    hf_weights.load_attention_params(
        attn, hf_weights.attention_params_from_state_dict(w, "a.", num_heads=4, head_dim=4)
    )
    np.testing.assert_array_equal(attn.after_rope[0].k_norm.bias[...][3], w["a.k_layernorm.norms.3.bias"])
    np.testing.assert_array_equal(attn.sink_logits[...], w["a.sinks"])
    np.testing.assert_array_equal(attn.before_output[0].scale[...].reshape(-1), w["a.attn_sub_norm.weight"])
    plain = hf_weights.attention_params_from_state_dict(layer(), "a.", num_heads=4, head_dim=4)
    with pytest.raises(ValueError, match="the module has q_norm but the parameters do not"):
        hf_weights.load_attention_params(attn, plain)
