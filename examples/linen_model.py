"""Using rope_jax from Flax Linen: the pure functions inside an ``nn.Module``.

    python examples/linen_model.py

NNX users have rope_jax.nn.RoPEAttention; Linen models call rope_jax.apply_rope (or a RoPE object from
from_hf_config) on their projected queries and keys, exactly as below. Uses only the public API.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

import rope_jax


class LinenRoPEAttention(nn.Module):
    """Causal GQA self-attention with RoPE, in Linen.

    Attributes:
        num_heads: Query heads.
        num_kv_heads: Key/value heads (divides num_heads).
        head_dim: Features per head.
        rope: A rope_jax RoPE (hashable, so a valid Linen attribute); default: theta 10000 on the whole head.
    """

    num_heads: int
    num_kv_heads: int
    head_dim: int
    rope: rope_jax.RoPE | None = None

    @nn.compact
    def __call__(self, x, positions=None):
        _, length, width = x.shape
        rope = self.rope or rope_jax.RoPE(head_dim=self.head_dim)
        positions = jnp.arange(length)[None] if positions is None else positions
        q = nn.DenseGeneral((self.num_heads, self.head_dim), use_bias=False, name="q")(x)
        k = nn.DenseGeneral((self.num_kv_heads, self.head_dim), use_bias=False, name="k")(x)
        v = nn.DenseGeneral((self.num_kv_heads, self.head_dim), use_bias=False, name="v")(x)
        q, k = rope(q, positions), rope(k, positions)  # V is never rotated
        out = jax.nn.dot_product_attention(q, k, v, is_causal=True)
        return nn.DenseGeneral(width, axis=(-2, -1), use_bias=False, name="out")(out)


def main() -> jax.Array:
    model = LinenRoPEAttention(num_heads=8, num_kv_heads=2, head_dim=32)
    x = jax.random.normal(jax.random.key(0), (2, 16, 128))
    params = model.init(jax.random.key(1), x)
    out = jax.jit(model.apply)(params, x)
    shifted = jax.jit(model.apply)(params, x, jnp.arange(16)[None] + 100)
    print(f"output {out.shape}; shifting every position by 100 changes it by {float(jnp.abs(out - shifted).max()):.1e}")
    return out


if __name__ == "__main__":
    main()
