"""rope_jax: rotary position embeddings (RoPE) for JAX/Flax with exact Hugging Face parity.

One idea underneath: angles = coordinates . frequencies, then rotate feature pairs by those angles.

``import rope_jax`` imports JAX and NumPy only; the Flax NNX modules live in :mod:`rope_jax.nn`, which is
imported on first use (``rope_jax.nn.RoPEAttention``) or explicitly (``from rope_jax.nn import ...``).

Quick start:
    >>> import jax.numpy as jnp, rope_jax
    >>> q = jnp.ones((2, 16, 8, 64))                      # [B, T, N, H]
    >>> rope_jax.apply_rope(q, jnp.arange(16)[None]).shape  # positions [B, T]
    (2, 16, 8, 64)
    >>> rope = rope_jax.from_hf_config({"model_type": "llama", "hidden_size": 512, "num_attention_heads": 8,
    ...                                 "rope_theta": 500000.0})
    >>> rope.head_dim, rope.rope_type
    (64, 'default')
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from rope_jax.dit import DIT_MODEL_TYPES, dit_rope
from rope_jax.frequencies import (
    NTK,
    SCALING_RULES,
    Default,
    DynamicNTK,
    Linear,
    Llama3,
    LongRoPE,
    Proportional,
    Scaling,
    YaRN,
)
from rope_jax.hf import MODEL_TYPES, SUPPORTED_ROPE_TYPES, from_hf_config, layer_ropes
from rope_jax.hf_weights import half_split_to_interleaved, interleaved_to_half_split
from rope_jax.kv_cache import CacheView, KVCache, PlainCache, SinkCache, WindowCache
from rope_jax.ladders import axes_frequencies, exp_ladder, linspace_ladder, pow_ladder
from rope_jax.nd import (
    RoPENd,
    RoPENdTable,
    apply_rope_nd,
    axial_frequencies,
    axial_rotary_dim,
    layout_frequencies,
    mixed_frequencies,
    mrope_frequencies,
    nd_angles,
    split_ladder,
)
from rope_jax.positions import (
    MaskSpec,
    attention_mask,
    mrope_positions,
    packed_patch_coords,
    patch_centre_coords,
    patch_grid_coords,
    positions_from_mask,
    positions_from_segments,
    video_coords,
    window_order,
)
from rope_jax.rotary import RoPE, RoPETable, apply_rope, rope_angles, rotate
from rope_jax.vision import TIMM_ARCHITECTURES, VISION_MODEL_TYPES, vision_rope

if TYPE_CHECKING:
    from rope_jax import nn as nn

__version__ = "0.2.0"

# `nn` is deliberately not in __all__: `from rope_jax import *` must not rebind a user's `nn` (flax.linen).
__all__ = [
    "DIT_MODEL_TYPES",
    "MODEL_TYPES",
    "NTK",
    "SCALING_RULES",
    "SUPPORTED_ROPE_TYPES",
    "TIMM_ARCHITECTURES",
    "VISION_MODEL_TYPES",
    "CacheView",
    "Default",
    "DynamicNTK",
    "KVCache",
    "Linear",
    "Llama3",
    "LongRoPE",
    "MaskSpec",
    "PlainCache",
    "Proportional",
    "RoPE",
    "RoPENd",
    "RoPENdTable",
    "RoPETable",
    "Scaling",
    "SinkCache",
    "WindowCache",
    "YaRN",
    "apply_rope",
    "apply_rope_nd",
    "attention_mask",
    "axes_frequencies",
    "axial_frequencies",
    "axial_rotary_dim",
    "dit_rope",
    "exp_ladder",
    "from_hf_config",
    "half_split_to_interleaved",
    "interleaved_to_half_split",
    "layer_ropes",
    "layout_frequencies",
    "linspace_ladder",
    "mixed_frequencies",
    "mrope_frequencies",
    "mrope_positions",
    "nd_angles",
    "packed_patch_coords",
    "patch_centre_coords",
    "patch_grid_coords",
    "positions_from_mask",
    "positions_from_segments",
    "pow_ladder",
    "rope_angles",
    "rotate",
    "split_ladder",
    "video_coords",
    "vision_rope",
    "window_order",
]


def __getattr__(name: str) -> ModuleType:
    """Import the Flax-dependent :mod:`rope_jax.nn` on first use (PEP 562)."""
    if name == "nn":
        return importlib.import_module("rope_jax.nn")
    raise AttributeError(f"module 'rope_jax' has no attribute {name!r}")
