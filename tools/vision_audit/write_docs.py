"""Write docs/vision_model_types.md: every audited vision model type, its outcome and its measured error.

    python tools/vision_audit/write_docs.py

Reads the two packaged tables (``rope_jax.VISION_MODEL_TYPES``, ``rope_jax.TIMM_ARCHITECTURES``) and measures, for
every model type with a parity fixture, the largest ``|rope_jax - reference|`` over every fixture case's rotated q
and k (float32), through the same comparison the parity tests make (``tests/test_vision_parity.py``,
``tests/test_vision_timm_parity.py``). Run from the repository root with the package installed; needs no torch.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

import rope_jax  # noqa: E402
from tests import test_vision_parity, test_vision_timm_parity  # noqa: E402

DOCS = ROOT / "docs" / "vision_model_types.md"
LADDERS = {
    "half": "theta^(-2i/(d/2))",
    "periods": "1 / theta^(2i/(d/2)) (timm: divides by the periods)",
    "third": "theta^(-2i/S), S = 2*((d//3)//2)",
    "head": "theta^(-2i/d)",
    "dinov3": "theta^(-4i/d) (DINOv3)",
}


def describe_layout(layout):
    axes = "thw" if layout["axes"] == 3 else "hw"
    order = "".join(axes[a] for a in layout.get("order", range(layout["axes"])))
    parts = [
        LADDERS[layout["ladder"]],
        ("split even/odd between " if layout.get("split") else "") + f"axes {order}",
        layout.get("arrangement", "blocks"),
        "adjacent pairs" if layout.get("interleaved") else "half-split",
    ]
    if layout.get("blocks", 1) > 1:
        parts.append(f"{layout['blocks']} rotation blocks")
    if layout.get("learned_class_angles"):
        parts.append(f"class token: learned {layout['learned_class_angles']}")
    return ", ".join(parts)


def describe_coords(coords):
    kind = coords.get("grids", "packed")
    parts = [
        {
            "packed": "packed grid_thw",
            "one": "one (h, w) grid",
            "padded": f"padded batch of grids (padding at {coords.get('pad_value', 0)})",
            "config": "grid from the config",
        }[kind]
    ]
    if coords.get("grid_from"):
        grid = coords["grid_from"]
        source = grid["size"] + (f" / {grid['patch']}" if grid.get("patch") else "")
        source += " (w, h)" if grid.get("order") == "wh" else ""
        parts[0] = f"grid {source}" if kind == "config" else f"{parts[0]} (default {source})"
    merge = coords.get("merge", 1)
    if merge != 1:
        parts.append("merge sizes given per grid" if merge == "input" else f"merge blocks of {merge}")
    for key, text in (
        ("temporal", "frame index as an axis"),
        ("window", "window permutation"),
        ("merged_grid", "grid_thw in merged tokens"),
    ):
        if coords.get(key):
            parts.append(text)
    if "centres" in coords:
        parts.append(f"patch centres in [-1, 1] x {coords['centres']:.6g}")
    if coords.get("offset"):
        parts.append(f"+ {coords['offset']}")
    if coords.get("reference_grid"):
        parts.append(f"(i + offset) / n x {coords['reference_grid']} when set")
    if coords.get("class_token"):
        parts.append(f"class token {coords['class_token']} in each grid at 0")
    if coords.get("prefix_tokens"):
        parts.append("prefix tokens at 0: " + " + ".join(map(str, coords["prefix_tokens"])))
    if coords.get("scale_to"):
        parts.append(f"x {coords['scale_to']} / grid width")
    what = {
        "grid_from": lambda v: "grid " + v["size"],
        "memory_frames": lambda v: "keys: the grid per memory frame + pointer tokens at 0",
        "prefix_tokens": lambda v: "prefix tokens " + " + ".join(map(str, v)),
    }
    for name, change in coords.get("parts", {}).items():
        parts.append(f'part="{name}": ' + "; ".join(what[key](value) for key, value in change.items()))
    return ", ".join(parts)


def largest_error(module, name):
    """The largest |rope_jax - reference| over a fixture's cases, q and k."""
    errors = [
        np.abs(actual - expected).max()
        for index in range(len(module.META[name]["cases"]))
        for actual, expected in (module.rotated(name, index, which) for which in "qk")
    ]
    return float(max(errors)), len(errors) // 2


def transformers_rows():
    table = rope_jax.VISION_MODEL_TYPES
    measured = {name: largest_error(test_vision_parity, name) for name in test_vision_parity.CASES}
    rows = []
    for model_type, e in sorted(table.items()):
        if e.get("vision_model_type"):
            target = e["vision_model_type"]
            error, cases = measured[target]
            outcome = f"its `vision_config` (`{target}`)"
            rows.append(f"| `{model_type}` | {e['tower']} | {outcome} | | | as `{target}` | {error:.1e} |")
        elif e.get("unsupported"):
            rows.append(f"| `{model_type}` | {e['tower']} | refused: {e['unsupported']} | | | | |")
        else:
            error, cases = measured[model_type]
            layout, coords = describe_layout(e["layout"]), describe_coords(e["coords"])
            rows.append(f"| `{model_type}` | {e['tower']} | loads | {layout} | {coords} | {cases} | {error:.1e} |")
    return rows


def settings(defaults):
    """An architecture's RoPE settings, as timm builds it."""
    size = [s // p for s, p in zip(defaults["img_size"], defaults["patch_size"], strict=True)]
    parts = [f"T {defaults['rope_temperature']:g}", f"grid {size[0]} x {size[1]}"]
    if defaults.get("ref_feat_shape"):
        parts.append("ref {} x {}".format(*defaults["ref_feat_shape"]))
    if defaults.get("rope_grid_offset"):
        parts.append(f"offset {defaults['rope_grid_offset']:g}")
    parts.append(f"{int(defaults['class_token']) + defaults['num_reg_tokens']} prefix tokens")
    if defaults["dynamic_img_size"]:
        parts.append("any grid")
    return ", ".join(parts)


def timm_rows():
    module = test_vision_timm_parity
    measured = {name: largest_error(module, name) for name in module.NAMES}
    covered_by = {other: name for name in module.NAMES for other in module.META[name]["covers"]}
    rows = []
    for name, e in sorted(rope_jax.TIMM_ARCHITECTURES.items()):
        fixture = covered_by.get(name)
        error = f"{measured[fixture][0]:.1e}" if fixture else ""
        checked = "" if fixture is None else ("its own" if fixture == name else f"as `{fixture}`")
        if e.get("unsupported"):
            what = "recipe below" if e["rope_module"] == "RotaryEmbeddingMixed" else ""
            rows.append(
                f"| `{name}` | {e['family']} | refused: {e['unsupported']} | | | | {checked} {what} | {error} |"
            )
            continue
        outcome = "loads (to an angle ulp: see the note)" if e.get("approximate") else "loads"
        layout, coords = describe_layout(e["layout"]), describe_coords(e["coords"])
        rows.append(
            f"| `{name}` | {e['family']} | {outcome} | {layout} | {coords} | {settings(e['defaults'])} | {checked} "
            f"| {error} |"
        )
    return rows


HEADER = """# Vision model types

Written by `tools/vision_audit/write_docs.py` from the audited tables and the parity fixtures. Every row is one
model type (transformers) or architecture (timm): how `rope_jax.vision_rope` builds its RoPE, or why it is refused,
and the largest error measured against the reference's own rotation: max |rope_jax - reference| over every
fixture case's rotated q and k, float32 (the parity tests allow 1e-6).

```python
import rope_jax

# a transformers vision config (or a multimodal config holding one), as a dict or a config.json path
rope, coords = rope_jax.vision_rope({"model_type": "qwen2_5_vl_vision"}, grid_thw=[(1, 28, 42), (4, 14, 14)])
# a timm config: the architecture, and its model_args if any (timm's and transformers' timm_wrapper config.json)
rope, coords = rope_jax.vision_rope({"architecture": "eva02_base_patch14_448"}, grid_thw=[(32, 48)])
print(rope.name, coords.shape)  # eva02_base_patch14_448 (1537, 2): the class token, then 32 x 48 patches
# rope(q, coords) rotates q [..., T, heads, head_dim] as the model does
```

**Frequencies**: the ladder, how it is dealt to the axes (axis order, blocks or alternating pairs), the pair
layout. **Coordinates**: where the tokens' grids come from and what each token's coordinate is (`part=` selects
another token set of the same tower). **Cases**: the fixture's inputs (non-square grids; packed images and videos,
padded batches, a second image size, memory frames where the tower takes them).
"""

TRANSFORMERS = """
## transformers {version}

Audited by `tools/vision_audit/audit_vision.py` (the scan of the modeling code must agree with the hand-read
entries), fixtures from each tower's own forward by `tests/fixtures/generate_vision_fixtures.py`.

| model type | tower | outcome | frequencies | coordinates | cases | max error |
|---|---|---|---|---|---|---|
"""

TIMM = """
## timm {version}

Audited by `tools/vision_audit/audit_timm.py` (every `timm.models.eva` architecture built on the meta device and
read from the instance). Architectures whose rotary settings are the same (sizes aside) compute the same rotation;
one tiny model per such group is run by `tests/fixtures/generate_timm_fixtures.py` at two grids, one of them resized
(timm's reference-grid interpolation `(i + offset) / n * ref`; the coordinates and bands of the axial models are
matched with timm's bit for bit). A config's `model_args` may change sizes, tokens, temperature, offset and reference
grid; settings that choose the layout (`rope_type`, `rope_grid_indexing`, `rope_rotate_half`) are refused.

| architecture | family | outcome | frequencies | coordinates | settings | fixture | max error |
|---|---|---|---|---|---|---|---|
"""

FOOTER = """
## Recipes for what vision_rope refuses

- **RoPE-Mixed** (timm `vit_*_rope_mixed*`): the frequencies are learned per layer and per head, so there is no one
  RoPE object; per layer `l`, with the checkpoint's `rope.freqs` (`[2, depth, heads, head_dim / 2]`, x then y):

  ```python
  import numpy as np, rope_jax

  freqs = np.random.default_rng(0).normal(size=(2, 12, 6, 32)).astype(np.float32)  # the checkpoint's rope.freqs
  q = np.ones((1, 1 + 14 * 14, 6, 64), np.float32)  # [B, class token + patches, heads, head_dim]
  coords = rope_jax.patch_grid_coords(14, 14, num_prefix_tokens=1)
  rotated = rope_jax.apply_rope_nd(q, coords, freqs=freqs[::-1, 0].transpose(1, 0, 2), interleaved=True)
  ```

- **MLCD** loads, given its learned class-token angles: `vision_rope(config, grid_thw=[(h, w)],
  learned={"class_pos_emb": weights})`.
- **LightGlue, EfficientLoFTR, EdgeTAM video, NeoMME**: the table's reason says what to build them from.
- **V-JEPA 2** is not a rotation (see its row); `rope_jax.from_hf_config` refuses it with the same reason, and
  points every vision tower above to `vision_rope`.

## Regenerating

```bash
# transformers: the table and the fixtures (the [parity] extra: CPU torch + transformers)
python tools/vision_audit/audit_vision.py
ATEN_CPU_CAPABILITY=default python tests/fixtures/generate_vision_fixtures.py
# timm needs torchvision matching its torch: a separate environment (the [parity-timm] extra)
python -m venv .venv-timm && .venv-timm/bin/pip install -e ".[parity-timm]"
.venv-timm/bin/python tools/vision_audit/audit_timm.py
ATEN_CPU_CAPABILITY=default .venv-timm/bin/python tests/fixtures/generate_timm_fixtures.py
# this page
python tools/vision_audit/write_docs.py
```
"""


def main():
    text = HEADER
    text += TRANSFORMERS.format(version=rope_jax.vision.AUDITED_TRANSFORMERS) + "\n".join(transformers_rows()) + "\n"
    text += TIMM.format(version=rope_jax.vision.AUDITED_TIMM) + "\n".join(timm_rows()) + "\n"
    notes = sorted({e["approximate"] for e in rope_jax.TIMM_ARCHITECTURES.values() if e.get("approximate")})
    text += "".join(f"\nNote: {note}.\n" for note in notes)
    DOCS.write_text(text + FOOTER)
    print(f"wrote {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
