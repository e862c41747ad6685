"""End-to-end ports: tiny transformers causal LMs rebuilt around rope_jax give transformers' logits and tokens.

For Llama 3.1 (llama3 scaling), Qwen 2.5 (yarn, q/k/v bias), Qwen 3 (q/k norm), Phi-3.5 (LongRoPE, fused
qkv_proj), GPT-NeoX (partial rotary, per-head fused query_key_value), Gemma 3 (sliding and full layers with
their own RoPE, 1 + w norms, query_pre_attn_scalar), Cohere and GLM (adjacent pairs, logit scale, GLM's half
rotary) and DeepSeek-V3 (MLA with its separate rope slice, yarn with mscale): float32 logits within 1e-4 of
transformers on a prompt, on the same prompt at positions past the original context, on a left-padded batch, and
16 greedy tokens with rope_jax's KV cache identical to ``generate(do_sample=False)``, also where Gemma 3's window
is shorter than the prompt (RoPEAttention's ring cache) and where Phi-3 generates across its LongRoPE switch.
Fixtures: tests/fixtures/generate_port_fixtures.py.
"""

import functools

import jax
import numpy as np
import pytest

import rope_jax
from tests import ports

TOLERANCE = 1e-4


@functools.cache
def model(family: str):
    return ports.build(family)


@functools.cache
def jitted(family: str):
    from flax import nnx

    @nnx.jit
    def forward(model, tokens, positions, mask):
        return model(tokens, positions, attention_mask=mask)

    return forward


def forward(family: str, tokens, positions=None, mask=None) -> np.ndarray:
    lm, _, _ = model(family)
    return np.asarray(jitted(family)(lm, tokens, positions, mask))


@pytest.mark.parametrize("family", ports.FAMILIES)
def test_fixture_records_its_provenance(family):
    meta, arrays, _ = ports.load(family)
    assert {"transformers", "torch", "ATEN_CPU_CAPABILITY"} <= set(meta["generated_with"])
    assert meta["config"]["num_hidden_layers"] == 2 and meta["config"]["hidden_size"] <= 256
    assert arrays["generated"].shape == (2, 16)


@pytest.mark.parametrize("family", ports.FAMILIES)
def test_prompt_logits(family):
    _, _, arrays = model(family)
    out = forward(family, arrays["prompt"])
    assert out.dtype == np.float32
    assert ports.relative_error(out, arrays["prompt_logits"]) <= TOLERANCE


@pytest.mark.parametrize("family", ports.FAMILIES)
def test_logits_at_positions_past_the_original_context(family):
    _, meta, arrays = model(family)
    positions = arrays["offset_positions"]
    assert positions.min() >= (rope_jax.hf.original_context_length(meta["config"]) or 0)
    out = forward(family, arrays["prompt"], positions)
    assert ports.relative_error(out, arrays["offset_logits"]) <= TOLERANCE


@pytest.mark.parametrize("family", ports.FAMILIES)
def test_left_padded_batch(family):
    _, _, arrays = model(family)
    real = arrays["padded_mask"].astype(bool)
    assert not real.all()
    out = forward(family, arrays["padded_tokens"], mask=arrays["padded_mask"])  # positions from the mask
    assert ports.relative_error(out[real], arrays["padded_logits"][real]) <= TOLERANCE


@pytest.mark.parametrize("family", ports.FAMILIES)
def test_greedy_generation_with_kv_cache_matches_generate(family):
    lm, meta, arrays = model(family)
    recompute = ports.recompute_length(meta)
    tokens = ports.greedy(lm, arrays["padded_tokens"], arrays["padded_mask"], meta["new_tokens"], recompute)
    np.testing.assert_array_equal(tokens, arrays["generated"])


def test_phi35_offset_is_past_the_longrope_switch():
    """At positions past 4096 HF switches to the long factors: the offset logits really differ from the prompt's,
    so the offset test above checks the switch (and the LongRoPE attention factor), not only rounding."""
    _, meta, arrays = model("phi3.5")
    rope = rope_jax.from_hf_config(meta["config"])
    long_freq = np.asarray(jax.jit(rope.frequencies)(int(arrays["offset_positions"].max()) + 1))
    assert not np.array_equal(long_freq, np.asarray(rope.inv_freq))
    assert ports.relative_error(arrays["offset_logits"], arrays["prompt_logits"]) > 1e-2


def test_gemma3_layers_rotate_with_their_own_rope():
    lm, meta, _ = model("gemma3")
    sliding, full = (block.attn.rope for block in lm.blocks)
    assert meta["config"]["layer_types"] == ["sliding_attention", "full_attention"]
    assert sliding.rope_type == "default" and sliding.theta == 10000.0
    assert full.rope_type == "linear" and full.theta == 1000000.0


@pytest.mark.parametrize("family", ["cohere", "glm"])
def test_adjacent_pair_models_with_weights_permuted_to_half_split_pairs(family):
    """Cohere and GLM rotate adjacent pairs (GLM only the first half of each head); permuting their q/k weights
    (hf_weights to_half_split) and rotating half-split pairs instead gives the same logits."""
    lm, _, arrays = ports.build(family, half_split=True)
    assert not lm.blocks[0].attn.rope.interleaved
    out = np.asarray(lm(arrays["prompt"], arrays["offset_positions"]))
    assert ports.relative_error(out, arrays["offset_logits"]) <= TOLERANCE


def test_gemma3_small_window_really_slides():
    """gemma3-sliding has the same weights as gemma3 and a 5-token window: HF's logits differ once the prompt is
    longer than the window, and the sliding model above reproduces them."""
    _, _, full = model("gemma3")
    _, meta, sliding = model("gemma3-sliding")
    window = meta["config"]["sliding_window"]
    np.testing.assert_array_equal(
        full["weights/model.embed_tokens.weight"], sliding["weights/model.embed_tokens.weight"]
    )
    assert ports.relative_error(sliding["prompt_logits"][:, :window], full["prompt_logits"][:, :window]) < 1e-6
    assert ports.relative_error(sliding["prompt_logits"][:, window:], full["prompt_logits"][:, window:]) > 1e-2


def test_deepseek_rope_slice_is_interleaved():
    _, meta, _ = model("deepseek-v3")
    rope = rope_jax.from_hf_config(meta["config"])
    assert meta["config"]["rope_interleave"] and rope.interleaved
    assert rope.head_dim == rope.rotary_dim == meta["config"]["qk_rope_head_dim"]


@pytest.mark.parametrize("family", ports.FAMILIES)
def test_hub_style_config_gives_the_same_rope(family):
    """The config as the Hub spells it (rope_theta / rope_scaling, rotary_pct, rope_local_base_freq) and as
    transformers 5 writes it (rope_parameters) build the same RoPE for every layer type."""
    _, meta, _ = model(family)
    for layer_type in sorted(set(meta["config"].get("layer_types") or [None]), key=str):
        hub = rope_jax.from_hf_config(meta["hub_config"], layer_type=layer_type)
        saved = rope_jax.from_hf_config(meta["config"], layer_type=layer_type)
        assert hub == saved
        np.testing.assert_array_equal(hub.inv_freq, saved.inv_freq)
        assert hub.attention_scaling == saved.attention_scaling


@pytest.mark.parametrize("family", [f for f in ports.FAMILIES if f != "deepseek-v3"])  # MLA: not RoPEAttention
def test_one_call_layer_equals_the_hand_built_port(family):
    """rope_jax.hf_attention.attention_layer(config, i, state_dict=...) builds each layer of these ports exactly as
    the hand-written port above does (stages, scale, window, norm offset read from the table)."""
    from flax import nnx

    from rope_jax import hf_attention

    lm, meta, arrays = model(family)
    config = meta["config"]
    _, _, weights = ports.load(family)
    prefix = "gpt_neox.layers.{}.attention." if family == "gpt-neox" else "model.layers.{}.self_attn."
    x = np.asarray(jax.random.normal(jax.random.key(0), (2, 12, config["hidden_size"])))
    positions = arrays["offset_positions"]
    for i, block in enumerate(lm.blocks):
        one_call = hf_attention.attention_layer(
            config, i, rngs=nnx.Rngs(0), state_dict=weights, prefix=prefix.format(i)
        )
        np.testing.assert_allclose(np.asarray(one_call(x, positions)), np.asarray(block.attn(x, positions)), atol=2e-6)


def test_phi3_generation_recomputes_when_it_outgrows_the_original_context():
    """phi3.5-switch generates across original_max_position_embeddings (24): Hugging Face then drops its cache and
    recomputes every layer's keys with the long factors. Decoding on through the cache gives other tokens; the
    recompute (tests/ports.py recompute_length) gives transformers' tokens, checked above."""
    lm, meta, arrays = model("phi3.5-switch")
    switch = ports.recompute_length(meta)
    assert switch == 24 and arrays["padded_tokens"].shape[1] < switch < arrays["padded_tokens"].shape[1] + 16
    tokens = ports.greedy(lm, arrays["padded_tokens"], arrays["padded_mask"], meta["new_tokens"])
    assert not np.array_equal(tokens, arrays["generated"])
