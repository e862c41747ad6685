"""rope_jax: rotary position embeddings (RoPE) for JAX/Flax with exact Hugging Face parity.

One idea underneath: angles = coordinates . frequencies, then rotate feature pairs by those angles.

Quick start:
    >>> import jax.numpy as jnp, rope_jax
    >>> q = jnp.ones((2, 16, 8, 64))                      # [B, T, N, H]
    >>> q = rope_jax.apply_rope(q, jnp.arange(16)[None])  # positions [B, T]
    >>> rope = rope_jax.from_hf_config("config.json")     # any supported Hugging Face config
"""

from rope_jax import nn
from rope_jax.attention import attention_mask, positions_from_mask, positions_from_segments
from rope_jax.frequencies import (
    NTK,
    Default,
    DynamicNTK,
    Linear,
    Llama3,
    LongRoPE,
    Proportional,
    Scaling,
    YaRN,
    default_frequencies,
    dynamic_ntk_frequencies,
    linear_frequencies,
    llama3_frequencies,
    longrope_frequencies,
    ntk_frequencies,
    proportional_frequencies,
    yarn_frequencies,
)
from rope_jax.hf import (
    SUPPORTED_ROPE_TYPES,
    from_hf_config,
    half_split_to_interleaved,
    interleaved_to_half_split,
)
from rope_jax.nd import (
    RoPENd,
    apply_rope_nd,
    axial_frequencies,
    mixed_frequencies,
    mrope_frequencies,
    mrope_positions,
    nd_angles,
    patch_grid_coords,
    video_coords,
)
from rope_jax.rotary import RoPE, RoPETable, apply_rope, rope_angles, rotate

__version__ = "0.1.0"

__all__ = [
    "NTK",
    "SUPPORTED_ROPE_TYPES",
    "Default",
    "DynamicNTK",
    "Linear",
    "Llama3",
    "LongRoPE",
    "Proportional",
    "RoPE",
    "RoPENd",
    "RoPETable",
    "Scaling",
    "YaRN",
    "apply_rope",
    "apply_rope_nd",
    "attention_mask",
    "axial_frequencies",
    "default_frequencies",
    "dynamic_ntk_frequencies",
    "from_hf_config",
    "half_split_to_interleaved",
    "interleaved_to_half_split",
    "linear_frequencies",
    "llama3_frequencies",
    "longrope_frequencies",
    "mixed_frequencies",
    "mrope_frequencies",
    "mrope_positions",
    "nd_angles",
    "nn",
    "ntk_frequencies",
    "patch_grid_coords",
    "positions_from_mask",
    "positions_from_segments",
    "proportional_frequencies",
    "rope_angles",
    "rotate",
    "video_coords",
    "yarn_frequencies",
]
