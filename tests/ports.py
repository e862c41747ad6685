"""Tiny Hugging Face causal LMs rebuilt in Flax NNX around rope_jax, for the end-to-end port tests.

Attention is ``rope_jax.nn.RoPEAttention`` loaded with ``rope_jax.hf_weights`` (DeepSeek-V3's MLA is built here
from the pure functions); the MLPs, norms, embeddings and blocks below are the families' own, written only as
far as these test models need them. Weights come from tests/fixtures/ports/<family>.npz (PyTorch ``[out, in]``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import rope_jax
from rope_jax import hf_attention, hf_weights
from rope_jax.nn import RoPEAttention
from rope_jax.positions import attention_mask as make_mask
from rope_jax.positions import positions_from_mask

PORTS = pathlib.Path(__file__).parent / "fixtures" / "ports"
FAMILIES = (
    "llama3.1",
    "qwen2.5",
    "qwen3",
    "phi3.5",
    "gpt-neox",
    "gemma3",
    "gemma3-sliding",
    "cohere",
    "glm",
    "deepseek-v3",
    "phi3.5-switch",
)


def recompute_length(meta: dict) -> int | None:
    """Where Hugging Face's generate() drops the KV cache and recomputes the whole sequence, if it does.

    Phi-3 (LongRoPE) does, the step the sequence outgrows ``original_max_position_embeddings``: every key, in
    every layer, then comes from the long factors. No cache can reproduce that by re-rotating its keys, because a
    deeper layer's keys depend on the earlier layers' outputs: the port recomputes too.
    """
    if meta["model_class"] != "Phi3ForCausalLM":
        return None
    return meta["config"].get("original_max_position_embeddings")


F32 = jnp.float32

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "silu": jax.nn.silu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
}


def load(family: str) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(meta with its ``config``, the fixture arrays, the state dict) of one family."""
    meta = json.loads((PORTS / f"{family}.json").read_text())
    with np.load(PORTS / f"{family}.npz") as data:
        arrays = {name: data[name] for name in data.files}
    # stored as float16 (the values the reference ran with, exactly), used in float32
    prefix = "weights/"
    weights = {name[len(prefix) :]: np.float32(value) for name, value in arrays.items() if name.startswith(prefix)}
    return meta, arrays, weights


# ------------------------------------------------------------------------------------------------ layers


class Dense(nnx.Module):
    """``x @ W.T + b`` with a PyTorch ``[out, in]`` weight."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None):
        self.kernel = nnx.Param(jnp.asarray(weight.T, F32))
        self.bias = nnx.data(None if bias is None else nnx.Param(jnp.asarray(bias, F32)))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x @ self.kernel[...]
        return y if self.bias is None else y + self.bias[...]


class RMSNorm(nnx.Module):
    """``x / rms(x) * (offset + w)`` in float32 (Gemma: offset 1)."""

    def __init__(self, weight: np.ndarray, eps: float, offset: float = 0.0):
        self.scale = nnx.Param(jnp.asarray(weight, F32) + jnp.asarray(offset, F32))
        self.eps = eps

    def __call__(self, x: jax.Array) -> jax.Array:
        variance = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
        return x * jax.lax.rsqrt(variance + jnp.asarray(self.eps, F32)) * self.scale[...]


class LayerNorm(nnx.Module):
    """Mean-centred norm, bias optional (GPT-NeoX has one, Cohere not)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None, eps: float):
        self.scale = nnx.Param(jnp.asarray(weight, F32))
        self.bias = nnx.data(None if bias is None else nnx.Param(jnp.asarray(bias, F32)))
        self.eps = eps

    def __call__(self, x: jax.Array) -> jax.Array:
        centred = x - jnp.mean(x, axis=-1, keepdims=True)
        variance = jnp.mean(jnp.square(centred), axis=-1, keepdims=True)
        y = centred * jax.lax.rsqrt(variance + jnp.asarray(self.eps, F32)) * self.scale[...]
        return y if self.bias is None else y + self.bias[...]


class GatedMLP(nnx.Module):
    """``down(act(gate(x)) * up(x))``; Phi-3 fuses gate and up into one ``gate_up_proj``."""

    def __init__(self, w: dict[str, np.ndarray], prefix: str, activation: str):
        if f"{prefix}gate_up_proj.weight" in w:
            gate, up = np.split(w[f"{prefix}gate_up_proj.weight"], 2, axis=0)
        else:
            gate, up = w[f"{prefix}gate_proj.weight"], w[f"{prefix}up_proj.weight"]
        self.gate, self.up, self.down = Dense(gate), Dense(up), Dense(w[f"{prefix}down_proj.weight"])
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(ACTIVATIONS[self.activation](self.gate(x)) * self.up(x))


class NeoXMLP(nnx.Module):
    def __init__(self, w: dict[str, np.ndarray], prefix: str, activation: str):
        self.up = Dense(w[f"{prefix}dense_h_to_4h.weight"], w[f"{prefix}dense_h_to_4h.bias"])
        self.down = Dense(w[f"{prefix}dense_4h_to_h.weight"], w[f"{prefix}dense_4h_to_h.bias"])
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(ACTIVATIONS[self.activation](self.up(x)))


class CachedAttention(nnx.Module):
    """The KV cache and masked softmax attention shared by the attentions built here from the pure functions
    (not ``RoPEAttention``): a ``rope_jax.PlainCache`` threaded through by hand, as a Linen or hand-written model
    would (keys cached already rotated)."""

    def _setup_cache(self, heads: int, key_dim: int, value_dim: int) -> None:
        self.heads, self.key_dim, self.value_dim = heads, key_dim, value_dim
        self.kv_cache: nnx.Cache | None = nnx.data(None)

    def init_cache(self, batch_size: int, max_length: int) -> None:
        cache = rope_jax.PlainCache.create(
            batch_size, max_length, self.heads, self.key_dim, value_dim=self.value_dim, check=True
        )
        self.kv_cache = nnx.Cache(cache)

    def _positions(self, new_mask: jax.Array, decode: bool) -> jax.Array:
        if decode:
            return self.kv_cache.get_value().token_positions(new_mask)
        return positions_from_mask(new_mask)

    def _attend(self, q, k, v, positions, new_mask, decode: bool, scale: float) -> jax.Array:
        """q ``[B, T, N, Hk]``, k ``[B, T, K, Hk]``, v ``[B, T, K, Hv]`` -> ``[B, T, N * Hv]``."""
        if decode:
            cache, view = self.kv_cache.get_value().append(k, v, positions, new_mask)
            self.kv_cache.set_value(cache)
            k, v, mask = view.keys, view.values, view.mask(positions)
        else:
            length = q.shape[1]
            mask = make_mask(length, length, causal=True, key_mask=new_mask)
        groups = q.shape[2] // k.shape[2]
        k, v = jnp.repeat(k, groups, axis=2), jnp.repeat(v, groups, axis=2)
        logits = jnp.einsum("btnh,bsnh->bnts", q, k) * jnp.asarray(scale, F32)
        logits = jnp.where(mask, logits, jnp.finfo(F32).min)
        out = jnp.einsum("bnts,bsnh->btnh", jax.nn.softmax(logits, axis=-1), v)
        return out.reshape(*out.shape[:2], -1)


class MLA(CachedAttention):
    """DeepSeek-V3 multi-head latent attention from the pure functions: low-rank q and kv, RoPE on a separate
    ``qk_rope_head_dim`` slice whose key is shared by all heads, softmax scale times mscale squared. Its cache
    holds the expanded, rotated keys per head (simple, not the compressed latent)."""

    def __init__(self, w: dict[str, np.ndarray], prefix: str, config: dict, rope: rope_jax.RoPE):
        self.nope, self.rope_dim = config["qk_nope_head_dim"], config["qk_rope_head_dim"]
        self.v_dim, self.kv_rank = config["v_head_dim"], config["kv_lora_rank"]
        self.q_a = Dense(w[f"{prefix}q_a_proj.weight"])
        self.q_a_norm = RMSNorm(w[f"{prefix}q_a_layernorm.weight"], eps=1e-6)  # HF builds these with its default
        self.q_b = Dense(w[f"{prefix}q_b_proj.weight"])
        self.kv_a = Dense(w[f"{prefix}kv_a_proj_with_mqa.weight"])
        self.kv_a_norm = RMSNorm(w[f"{prefix}kv_a_layernorm.weight"], eps=1e-6)
        self.kv_b = Dense(w[f"{prefix}kv_b_proj.weight"])
        self.o = Dense(w[f"{prefix}o_proj.weight"])
        self.rope = rope
        params = config["rope_parameters"]
        scale = (self.nope + self.rope_dim) ** -0.5
        if params.get("rope_type", "default") != "default" and params.get("mscale_all_dim"):
            mscale = 0.1 * params["mscale_all_dim"] * math.log(params["factor"]) + 1.0
            scale *= mscale * mscale
        self.scale = scale
        self._setup_cache(config["num_attention_heads"], self.nope + self.rope_dim, self.v_dim)

    def __call__(self, x, positions=None, *, attention_mask=None, decode=False):
        batch, length = x.shape[:2]
        q = self.q_b(self.q_a_norm(self.q_a(x))).reshape(batch, length, self.heads, self.nope + self.rope_dim)
        q_pass, q_rot = q[..., : self.nope], q[..., self.nope :]
        compressed = self.kv_a(x)
        kv = self.kv_b(self.kv_a_norm(compressed[..., : self.kv_rank]))
        kv = kv.reshape(batch, length, self.heads, self.nope + self.v_dim)
        k_pass, v = kv[..., : self.nope], kv[..., self.nope :]
        k_rot = compressed[..., self.kv_rank :][:, :, None, :]  # one rope key for all heads
        new_mask = jnp.ones((batch, length), bool) if attention_mask is None else jnp.asarray(attention_mask, bool)
        positions = self._positions(new_mask, decode) if positions is None else positions
        q = jnp.concatenate([q_pass, self.rope(q_rot, positions)], axis=-1)
        k_rot = jnp.broadcast_to(self.rope(k_rot, positions), (batch, length, self.heads, self.rope_dim))
        k = jnp.concatenate([k_pass, k_rot], axis=-1)
        return self.o(self._attend(q, k, v, positions, new_mask, decode, self.scale))


class Block(nnx.Module):
    """One decoder layer. ``kind``: "pre" (LLaMA: x + attn(n1 x), then + mlp(n2 .)), "parallel" (GPT-NeoX:
    x + attn(n1 x) + mlp(n2 x)), "parallel_shared" (Cohere: one norm feeds both), "sandwich" (Gemma 3: norms
    before and after attention and MLP)."""

    def __init__(self, kind: str, attn, mlp, norms: list):
        self.kind, self.attn, self.mlp, self.norms = kind, attn, mlp, nnx.List(norms)

    def __call__(self, x, positions, attention_mask, decode):
        def attend(h):
            return self.attn(h, positions, attention_mask=attention_mask, decode=decode)

        n = self.norms
        if self.kind == "pre":
            h = x + attend(n[0](x))
            return h + self.mlp(n[1](h))
        if self.kind == "parallel":
            return x + attend(n[0](x)) + self.mlp(n[1](x))
        if self.kind == "parallel_shared":
            normed = n[0](x)
            return x + attend(normed) + self.mlp(normed)
        h = x + n[1](attend(n[0](x)))
        return h + n[3](self.mlp(n[2](h)))


class CausalLM(nnx.Module):
    def __init__(
        self, embed: np.ndarray, blocks: list[Block], final_norm, head: np.ndarray, *, embed_scale=1.0, logit_scale=1.0
    ):
        self.embed = nnx.Param(jnp.asarray(embed, F32))
        self.blocks = nnx.List(blocks)
        self.final_norm = final_norm
        self.head = nnx.Param(jnp.asarray(head, F32))
        self.embed_scale, self.logit_scale = embed_scale, logit_scale

    def __call__(self, tokens, positions=None, *, attention_mask=None, decode=False):
        x = jnp.take(self.embed[...], jnp.asarray(tokens), axis=0)
        if self.embed_scale != 1.0:
            x = x * jnp.asarray(self.embed_scale, F32)
        for block in self.blocks:
            x = block(x, positions, attention_mask, decode)
        logits = self.final_norm(x) @ self.head[...].T
        return logits if self.logit_scale == 1.0 else logits * jnp.asarray(self.logit_scale, F32)

    def init_cache(self, batch_size: int, max_length: int, **cache) -> None:
        for block in self.blocks:
            block.attn.init_cache(batch_size, max_length, **cache)


# ------------------------------------------------------------------------------------------------ families


def rope_attention(config: dict, w: dict, prefix: str, rope, **kwargs) -> RoPEAttention:
    """RoPEAttention with the HF layer's weights, through rope_jax.hf_weights."""
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    norm_offset = kwargs.pop("norm_offset", 0.0)
    to_half_split = kwargs.pop("to_half_split", False)
    params = hf_weights.attention_params_from_state_dict(
        w,
        prefix,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=rope.head_dim,
        norm_offset=norm_offset,
        to_half_split=to_half_split,
        rotary_dim=rope.rotary_dim if to_half_split else None,
        qkv_layout=hf_attention.ATTENTION_TYPES[config["model_type"]].get("qkv_layout"),  # Phi-3: concatenated
    )
    attn = RoPEAttention(
        heads,
        config["hidden_size"],
        head_dim=rope.head_dim,
        num_kv_heads=kv_heads,
        rope=rope,
        use_bias="bias" in params["q_proj"],
        qk_norm="q_norm" in params,
        norm_epsilon=config.get("rms_norm_eps", config.get("layer_norm_eps", 1e-6)),
        rngs=nnx.Rngs(0),
        **kwargs,
    )
    return hf_weights.load_attention_params(attn, params)


def adjacent_pairs_rope(config: dict, half_split: bool):
    """Cohere's and GLM's RoPE: Hugging Face rotates adjacent pairs (2i, 2i + 1) there. With ``half_split`` the
    same frequencies on half-split pairs, for q/k weights permuted with ``to_half_split``."""
    rope = rope_jax.from_hf_config(config)
    assert rope.interleaved, "from_hf_config must give Cohere and GLM adjacent pairs"
    return dataclasses.replace(rope, interleaved=False) if half_split else rope


def build(family: str, *, half_split: bool = False) -> tuple[CausalLM, dict, dict[str, np.ndarray]]:
    """The rope_jax model of one family, its fixture meta and arrays.

    ``half_split`` (Cohere, GLM): load the q/k weights permuted to half-split pairs and rotate with a half-split
    RoPE instead of rotating adjacent pairs (same scores; the layout Hugging Face uses for LLaMA).
    """
    meta, arrays, w = load(family)
    config = meta["config"]
    layers = range(config["num_hidden_layers"])
    act = config.get("hidden_act") or config.get("hidden_activation")

    if family == "gpt-neox":
        rope = rope_jax.from_hf_config(config)
        eps = config["layer_norm_eps"]
        blocks = []
        for i in layers:
            p = f"gpt_neox.layers.{i}."
            norms = [
                LayerNorm(w[f"{p}{n}.weight"], w[f"{p}{n}.bias"], eps)
                for n in ("input_layernorm", "post_attention_layernorm")
            ]
            attn = rope_attention(config, w, f"{p}attention.", rope)
            blocks.append(
                Block(
                    "parallel" if config["use_parallel_residual"] else "pre", attn, NeoXMLP(w, f"{p}mlp.", act), norms
                )
            )
        final = LayerNorm(w["gpt_neox.final_layer_norm.weight"], w["gpt_neox.final_layer_norm.bias"], eps)
        return CausalLM(w["gpt_neox.embed_in.weight"], blocks, final, w["lm_head.weight"]), meta, arrays

    embed = w["model.embed_tokens.weight"]
    head = w.get("lm_head.weight", embed)
    blocks = []
    if family == "cohere":
        rope = adjacent_pairs_rope(config, half_split)
        eps = config["layer_norm_eps"]
        for i in layers:
            p = f"model.layers.{i}."
            attn = rope_attention(config, w, f"{p}self_attn.", rope, to_half_split=half_split)
            norms = [LayerNorm(w[f"{p}input_layernorm.weight"], None, eps)]
            blocks.append(Block("parallel_shared", attn, GatedMLP(w, f"{p}mlp.", act), norms))
        final = LayerNorm(w["model.norm.weight"], None, eps)
        return CausalLM(embed, blocks, final, head, logit_scale=config["logit_scale"]), meta, arrays

    eps = config["rms_norm_eps"]
    if family.startswith("gemma3"):
        for i in layers:
            p = f"model.layers.{i}."
            layer_type = config["layer_types"][i]
            rope = rope_jax.from_hf_config(config, layer_type=layer_type)
            slides = family == "gemma3-sliding" and layer_type == "sliding_attention"
            window = config["sliding_window"] if slides else None
            attn = rope_attention(
                config,
                w,
                f"{p}self_attn.",
                rope,
                norm_offset=1.0,
                softmax_scale=config["query_pre_attn_scalar"] ** -0.5,
                sliding_window=window,
            )
            names = (
                "input_layernorm",
                "post_attention_layernorm",
                "pre_feedforward_layernorm",
                "post_feedforward_layernorm",
            )
            norms = [RMSNorm(w[f"{p}{n}.weight"], eps, offset=1.0) for n in names]
            blocks.append(Block("sandwich", attn, GatedMLP(w, f"{p}mlp.", act), norms))
        final = RMSNorm(w["model.norm.weight"], eps, offset=1.0)
        scale = float(np.float32(config["hidden_size"] ** 0.5))  # HF keeps it as a float32 buffer
        return CausalLM(embed, blocks, final, head, embed_scale=scale), meta, arrays

    rope = adjacent_pairs_rope(config, half_split) if family == "glm" else rope_jax.from_hf_config(config)
    for i in layers:
        p = f"model.layers.{i}."
        if family == "deepseek-v3":
            attn = MLA(w, f"{p}self_attn.", config, rope)
        else:
            attn = rope_attention(config, w, f"{p}self_attn.", rope, to_half_split=half_split)
        norms = [RMSNorm(w[f"{p}{n}.weight"], eps) for n in ("input_layernorm", "post_attention_layernorm")]
        blocks.append(Block("pre", attn, GatedMLP(w, f"{p}mlp.", act), norms))
    return CausalLM(embed, blocks, RMSNorm(w["model.norm.weight"], eps), head), meta, arrays


# ------------------------------------------------------------------------------------------------ running


def greedy(
    model: CausalLM, tokens: np.ndarray, mask: np.ndarray, new_tokens: int, recompute_at: int | None = None
) -> np.ndarray:
    """Greedy decoding with the KV cache: the prompt in one call, then one jitted step per token.

    ``recompute_at``: once the sequence (padding included) grows past this many tokens while the cache holds at
    most that many, empty the cache and prefill the whole sequence again (:func:`recompute_length`).
    """
    batch, length = tokens.shape
    model.init_cache(batch, length + new_tokens)

    @nnx.jit
    def prefill(model, tokens, mask):
        return jnp.argmax(model(tokens, attention_mask=mask, decode=True)[:, -1], axis=-1)

    @nnx.jit
    def step(model, token):
        return jnp.argmax(model(token[:, None], decode=True)[:, -1], axis=-1)

    token = prefill(model, jnp.asarray(tokens), jnp.asarray(mask))
    out = [token]
    for _ in range(new_tokens - 1):
        if recompute_at is not None and length + len(out) - 1 == recompute_at:  # the cache is about to outgrow it
            model.init_cache(batch, length + new_tokens)
            sequence = jnp.concatenate([jnp.asarray(tokens), jnp.stack(out, axis=1)], axis=1)
            sequence_mask = jnp.concatenate([jnp.asarray(mask, bool), jnp.ones((batch, len(out)), bool)], axis=1)
            token = prefill(model, sequence, sequence_mask)
        else:
            token = step(model, token)
        out.append(token)
    return np.asarray(jnp.stack(out, axis=1))


def relative_error(actual, expected) -> float:
    """Max over positions of ``|a - e| / max|e|`` per position's logit vector."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(actual - expected).max(-1) / np.abs(expected).max(-1)))
