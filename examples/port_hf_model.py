"""Port a Hugging Face model's RoPE and attention layer to JAX and check them against HF's own outputs.

    python examples/port_hf_model.py

1. For every model config in tests/fixtures (Llama 3.1, Qwen 2.5, gpt-oss, DeepSeek-V3, GPT-NeoX, Phi-3.5,
   Gemma 4, GPT-J, Qwen2-VL, Qwen3-VL, ...): ``from_hf_config(config.json)``, rotate the fixture's queries and
   compare with what transformers computed.
2. A whole ``LlamaAttention`` layer (GQA 8/2, Llama 3.1 scaling, positions past 20k): build
   ``RoPEAttention`` from the same config, load HF's q/k/v/o weights (PyTorch ``[out, in]`` -> Flax
   ``[in, out]``) and compare outputs. Uses only the public API.
"""

from __future__ import annotations

import json
import pathlib

import jax.numpy as jnp
import numpy as np
from flax import nnx

import rope_jax
from rope_jax.nn import RoPEAttention

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def relative_error(actual, expected) -> float:
    return float(np.linalg.norm(np.asarray(actual) - expected) / np.linalg.norm(expected))


def attention_from_hf(config: dict, weights: dict) -> RoPEAttention:
    """RoPEAttention with a HF LlamaAttention's weights (torch Linear weights are [out, in])."""
    rope = rope_jax.from_hf_config(config)
    attn = RoPEAttention(
        config["num_attention_heads"],
        config["hidden_size"],
        head_dim=rope.head_dim,
        num_kv_heads=config["num_key_value_heads"],
        rope=rope,
        rngs=nnx.Rngs(0),
    )
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        getattr(attn, name).kernel[...] = jnp.asarray(weights[f"{name}.weight"].T)
    return attn


def main(argv=None) -> dict[str, float]:
    meta = json.loads((FIXTURES / "hf_rope.json").read_text())
    arrays = np.load(FIXTURES / "hf_rope.npz")
    errors = {}
    print(f"{'model':22s} {'rope type':18s} {'head':>5s} {'rotary':>6s} {'max position':>12s} {'rel. error':>11s}")
    for name, case in meta.items():
        if name.startswith("_"):
            continue
        rope = rope_jax.from_hf_config(case["config"], layer_type=case["layer_type"])
        q, positions, expected = (arrays[f"{name}/{key}"] for key in ("q", "positions", "q_out"))
        out = np.asarray(rope(q, positions))
        if case["hf_apply"].endswith("interleave"):  # DeepSeek's HF kernel de-interleaves its output
            out = rope_jax.interleaved_to_half_split(out, num_heads=1, head_dim=rope.head_dim)
        errors[name] = relative_error(out, expected)
        kind = getattr(rope, "rope_type", None) or rope.name
        print(
            f"{name:22s} {kind:18s} {rope.head_dim:5d} {rope.rotary_dim:6d} {int(positions.max()):12d} "
            f"{errors[name]:11.1e}"
        )

    attention = meta["_attention"]
    weights = {w: arrays[f"llama-attention/{w}"] for w in attention["weights"]}
    attn = attention_from_hf(attention["config"], weights)
    out = attn(arrays["llama-attention/x"], arrays["llama-attention/positions"])
    errors["llama-attention"] = relative_error(out, arrays["llama-attention/out"])
    print(
        f"\nwhole LlamaAttention layer (GQA 8/2, llama3 scaling, positions 20000+): "
        f"relative error {errors['llama-attention']:.1e}"
    )
    return errors


if __name__ == "__main__":
    main()
