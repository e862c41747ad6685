"""Audit of timm's ViTs with RoPE (``timm.models.eva``: EVA-02, PE, RoPE-ViT axial and mixed, the SBB rope ViTs,
timm's DINOv3 / Sapiens2 / LingBot ports).

    .venv-timm/bin/python tools/vision_audit/audit_timm.py

Needs torch, torchvision and timm (see the docs page for the one-time setup of that environment). Every
architecture registered in ``timm.models.eva`` is built on the meta device (no weights, any size) and read from
the instance: the rotary module's class and settings (temperature, grid offset, grid indexing, reference grid,
rotate-half), the attention's pair layout and prefix tokens, the patch grid. From those facts the script writes
one entry per architecture in the vision table's columns (``rope_jax/vision_timm_architectures.json``), read by
``rope_jax.vision_rope`` with the same code as the transformers towers. ``tests/fixtures/generate_timm_fixtures.py``
checks the entries against timm's own forward.

Layouts (from ``timm/layers/pos_embed_sincos.py``):

- ``RotaryEmbeddingCat`` (EVA-02, PE, RoPE-ViT axial, SBB): per axis the ladder ``1 / T ** (j / (d / 4))`` over
  ``d / 4`` bands (rope_jax's ``half`` ladder), blocks in grid-channel order (``ij``: rows then columns, ``xy``:
  columns then rows), pairs interleaved unless ``rotate_half``; coordinates ``(i + offset) / n * ref`` when a
  reference grid is set, ``i + offset`` otherwise; the prefix tokens (class, registers) are not rotated.
- ``RotaryEmbeddingMixed`` (RoPE-ViT mixed): learned per-layer, per-head frequencies: refused with the recipe.
- ``RotaryEmbeddingDinoV3``: periods ``T ** (2j / (d / 2))``, angles ``2 pi c / period`` over patch centres.
"""

from __future__ import annotations

import json
import pathlib
import warnings

import timm
import torch

warnings.filterwarnings("ignore")
ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "rope_jax" / "vision_timm_architectures.json"
TWO_PI = 6.283185307179586
# Eva settings that choose the rotary layout: a timm config's model_args may not change them (the audit of the
# architecture fixes them); its other RoPE settings (sizes, tokens, temperature, offset, reference grid) are read.
FIXED = ("use_rot_pos_emb", "rope_type", "rope_grid_indexing", "rope_rotate_half")
ROPE_TYPES = {"RotaryEmbeddingCat": "cat", "RotaryEmbeddingMixed": "mixed", "RotaryEmbeddingDinoV3": "dinov3"}
MIXED_RECIPE = (
    "its frequencies are learned per layer and per head (RoPE-Mixed): rotate layer l with "
    "rope_jax.apply_rope_nd(q, coords, freqs=freqs[::-1, l].transpose(1, 0, 2), interleaved=True), where freqs is "
    "the checkpoint's rope.freqs [2, depth, heads, head_dim / 2] (x then y) and coords = "
    "rope_jax.patch_grid_coords(h, w, num_prefix_tokens=1) (see docs/vision_model_types.md)"
)


def family(name: str) -> str:
    for key, label in (
        ("rope_mixed", "RoPE-ViT mixed"),
        ("rope_reg", "SBB ViT with RoPE"),
        ("_pe_", "PE (Perception Encoder)"),
        ("_rope_", "RoPE-ViT axial"),
        ("eva02", "EVA-02"),
        ("eva_giant", "EVA"),
        ("dinov3", "DINOv3 (timm port)"),
        ("sapiens2", "Sapiens2 (timm port)"),
        ("lingbot", "LingBot (timm port)"),
    ):
        if key in name:
            return label
    return "timm Eva"


def entry(name: str) -> dict:
    with torch.device("meta"):
        model = timm.create_model(name)
    rope, attention = model.rope, model.blocks[0].attn
    patch = model.patch_embed
    defaults = {
        "embed_dim": model.embed_dim,
        "num_heads": attention.num_heads,
        "img_size": list(patch.img_size),
        "patch_size": list(patch.patch_size),
        "class_token": model.cls_token is not None,
        "num_reg_tokens": 0 if model.reg_token is None else model.reg_token.shape[1],
        "dynamic_img_size": model.dynamic_img_size,
    }
    assert model.num_prefix_tokens == defaults["class_token"] + defaults["num_reg_tokens"]
    out = {"family": family(name), "rope_module": type(rope).__name__ if rope is not None else None}
    if rope is None:
        out["unsupported"] = "no RoPE: it adds absolute position embeddings only (use_rot_pos_emb=False)"
        return out
    half = bool(attention.rotate_half)
    assert getattr(rope, "rotate_half", half) == half, "the rotary module and the attention disagree on the layout"
    fixed = {
        "use_rot_pos_emb": True,
        "rope_type": ROPE_TYPES[out["rope_module"]],
        "rope_grid_indexing": rope.grid_indexing,
        "rope_rotate_half": half,
    }
    out["defaults"] = {**defaults, **fixed, "rope_temperature": float(rope.temperature)}
    out["fixed_settings"] = list(FIXED)
    if out["rope_module"] == "RotaryEmbeddingMixed":
        out["unsupported"] = MIXED_RECIPE
        return out
    order = [1, 0] if rope.grid_indexing == "xy" else [0, 1]
    coords = {
        "grids": "one",
        "grid_from": {"size": "img_size", "patch": "patch_size"},
        "prefix_tokens": ["class_token", "num_reg_tokens"],
    }
    if out["rope_module"] == "RotaryEmbeddingCat":
        assert rope.grid_type == "index" and not rope.in_pixels, "only index grids with inverse-frequency bands"
        ladder = "half"
        coords["offset"] = "rope_grid_offset"
        coords["reference_grid"] = "ref_feat_shape"  # None: no interpolation
        out["defaults"]["rope_grid_offset"] = float(rope.grid_offset)
        out["defaults"]["ref_feat_shape"] = None if rope.ref_feat_shape is None else list(rope.ref_feat_shape)
    elif out["rope_module"] == "RotaryEmbeddingDinoV3":
        assert rope.min_period is None and rope.grid_offset == 0 and rope.normalize_coords == "separate"
        ladder = "periods"
        coords["centres"] = TWO_PI
        out["approximate"] = (
            "timm divides the angles by periods theta ** (2j / (d / 2)); rope_jax multiplies by their float32 "
            "reciprocals (the arithmetic of transformers' DINOv3), so an angle may differ by one float32 ulp"
        )
    else:
        raise SystemExit(f"{name}: an unaudited rotary module {out['rope_module']}")
    out["layout"] = {"ladder": ladder, "axes": 2, "order": order, "interleaved": not half}
    out["coords"] = coords
    out["head_dim_from"] = ["embed_dim", "num_heads"]
    out["reads_head_dim"] = False
    out["theta_key"] = "rope_temperature"
    return out


def main():
    names = timm.list_models(module="eva")
    table = {name: entry(name) for name in names}
    OUT.write_text(
        json.dumps({"timm_version": timm.__version__, "architectures": table}, indent=1, sort_keys=True) + "\n"
    )
    refused = sum(1 for e in table.values() if e.get("unsupported"))
    print(f"{len(table)} timm architectures ({refused} refused) -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
