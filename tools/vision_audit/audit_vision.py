"""Audit of transformers' vision / video encoders that rotate by 2-D or 3-D patch coordinates.

    ATEN_CPU_CAPABILITY=default python tools/vision_audit/audit_vision.py

Part 1 (automatic, from the code): every ``models/*/modeling_*.py`` with a rotary module or rotation function
in a vision class is found with ``ast``; for each, the script reads the rotary module's ladder width (``dim // 2``,
``2 * ((dim // 3) // 2)``, the whole head, DINOv3's ``arange(0, 1, 4 / head_dim)``), how it recomposes the
per-axis angles (which axis first, blocks or alternating pairs, half-split or adjacent pairs, per-axis blocks),
the token order the tower builds (``get_vision_position_ids`` merge size and time axis, ``flip`` / ``+ 1``,
window permutation, class tokens) and the vision config class defaults (instantiated with no arguments).

Part 2 (hand-read, ``ENTRIES`` below): the same facts written as the table's fields, for every model type the
scan finds. The script fails when the two disagree or when the scan finds a model type the hand table lacks,
so a new transformers release cannot slip a new layout past the table. Then it writes the packaged table
``rope_jax/vision_model_types.json``. ``tests/fixtures/generate_vision_fixtures.py`` checks the table by running each
tower's own rotation; ``tools/vision_audit/write_docs.py`` writes ``docs/vision_model_types.md`` from the table and
the fixtures.

Table fields: ``layout``: ``ladder`` (``half``/``third``/``head``/``dinov3``), ``axes``, ``split`` (one ladder
dealt between the axes), ``order`` (axis order of the pairs), ``arrangement`` (``blocks``/``alternate``),
``interleaved`` (adjacent pairs), ``blocks`` (per-axis rotation blocks), ``learned_class_angles``;
``coords``: ``grids`` (``packed`` grid_thw, ``one`` grid per batch, ``padded`` batch of grids, ``config``: the grid
is a setting), ``grid_from`` (``size`` / ``patch`` config keys, ``order`` ``wh`` for (width, height) pairs),
``merge`` (config key, int, or ``input``: merge sizes the processor gives per grid), ``merged_grid`` (grid_thw is given in merged tokens), ``temporal`` (frame index as
an axis), ``offset``, ``reference_grid`` (timm: interpolate to this grid), ``centres`` (normalised patch centres
times this scale), ``class_token`` (one per grid, first/last), ``prefix_tokens`` (numbers and config keys summed:
unrotated tokens in front), ``window`` (config keys whose product is the window in pixels), ``scale_to``
(positions times this setting / the grid width), ``pad_value``, ``memory_frames`` (keys tiled per memory frame,
then pointer tokens), ``parts`` (other token sets: column changes by name); ``head_dim_from`` (hidden key, then
the keys it is divided by); ``defaults`` (class defaults); ``unsupported`` (why rope_jax.vision_rope refuses it; rope_jax.from_hf_config refuses
every vision model type with the same reason, or points to vision_rope); ``language_model`` (a language model
from_hf_config loads, listed for its 2-D positions).
"""

from __future__ import annotations

import ast
import glob
import importlib
import json
import pathlib
import re
import warnings

import transformers

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "rope_jax" / "vision_model_types.json"
MODELS = pathlib.Path(transformers.__file__).parent / "models"
VISION_CLASS = re.compile(
    r"Vision|Visual|ViT|Memory|DINOv3|Dinov3|Sapiens|Eomt|Jepa|JEPA|LoFTR|LightGlue|MLCD|Pixtral|Sam\d|Sam3|EdgeTam|NeoMME"
)

# ------------------------------------------------------------------------------------- hand-read entries
HALF = {"ladder": "half", "axes": 2}
QWEN = {"layout": HALF, "coords": {"merge": "spatial_merge_size"}}
TWO_PI = 6.283185307179586  # 2 * math.pi, as the DINOv3 towers scale their patch centres
HW = ["hidden_size", "num_heads"]
DINOV3 = {  # 2 pi x patch centres, class and register tokens in front (unrotated)
    "layout": {"ladder": "dinov3", "axes": 2},
    "coords": {"grids": "one", "centres": TWO_PI, "prefix_tokens": [1, "num_register_tokens"]},
    "head_dim_from": HW,
    "reads_head_dim": False,
}


def entry(base, **changes):
    out = json.loads(json.dumps(base))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            out[section][field] = value
        else:
            out[section] = value
    return out


ENTRIES = {
    # tower dir: (vision model type, wrapper types, entry)
    "qwen2_vl": ("qwen2_vl_vision", ["qwen2_vl"], entry(QWEN, head_dim_from=["embed_dim", "num_heads"])),
    "qwen2_5_vl": ("qwen2_5_vl_vision", ["qwen2_5_vl"], entry(QWEN, head_dim_from=HW, coords__window=["window_size"])),
    "qwen2_5_omni": ("qwen2_5_omni_vision_encoder", [], entry(QWEN, head_dim_from=HW, coords__window=["window_size"])),
    "qwen3_vl": ("qwen3_vl_vision", ["qwen3_vl"], entry(QWEN, head_dim_from=HW)),
    "qwen3_vl_moe": ("qwen3_vl_moe_vision", ["qwen3_vl_moe"], entry(QWEN, head_dim_from=HW)),
    "qwen3_5": ("qwen3_5_vision", ["qwen3_5"], entry(QWEN, head_dim_from=HW)),
    "qwen3_5_moe": ("qwen3_5_moe_vision", ["qwen3_5_moe"], entry(QWEN, head_dim_from=HW)),
    "qwen3_omni_moe": ("qwen3_omni_moe_vision_encoder", [], entry(QWEN, head_dim_from=HW)),
    "qwen4_exp": ("qwen4_exp_vision", ["qwen4_exp"], entry(QWEN, head_dim_from=HW)),
    "glm4v": ("glm4v_vision", ["glm4v"], entry(QWEN, head_dim_from=HW)),
    "glm4v_moe": ("glm4v_moe_vision", ["glm4v_moe"], entry(QWEN, head_dim_from=HW)),
    "glm_ocr": ("glm_ocr_vision", ["glm_ocr"], entry(QWEN, head_dim_from=HW)),
    "glm5_next": ("glm5_next_vision", ["glm5_next"], entry(QWEN, head_dim_from=HW)),
    "cohere_compass": ("cohere_compass_vision", ["cohere_compass"], entry(QWEN, head_dim_from=HW)),
    "ernie4_5_vl_moe": ("ernie4_5_vl_moe_vision", ["ernie4_5_vl_moe"], entry(QWEN, head_dim_from=HW)),
    "dots3_note": ("dots3_note_vision_encoder", ["dots3_note"], entry(QWEN, head_dim_from=HW)),
    "lfm3_vl": ("lfm3_vl_vision", ["lfm3_vl"], entry(QWEN, head_dim_from=HW)),
    "exaone4_5": ("exaone4_5_vision", ["exaone4_5"], entry(QWEN, head_dim_from=HW, coords__window=["window_size"])),
    "paddleocr_vl": ("paddleocr_vl_vision", ["paddleocr_vl"], entry(QWEN, head_dim_from=HW, coords__merge=1)),
    "video_llama_3": (
        "video_llama_3_vision",
        ["video_llama_3"],
        entry(QWEN, head_dim_from=HW, coords__merge="input"),  # image_merge_sizes / video_merge_sizes
    ),
    "minimax_m3_vl": (
        "minimax_m3_vl_vision",
        ["minimax_m3_vl"],
        entry(QWEN, head_dim_from=HW, layout={"ladder": "third", "axes": 3}, coords__temporal=True),
    ),
    "kimi_k25": (
        "kimi_k25_vision",
        ["kimi_k25"],
        entry(QWEN, head_dim_from=HW, layout={**HALF, "order": [1, 0], "arrangement": "alternate"}, coords__merge=1),
    ),
    "step3p7": (
        "step3p5_vision",
        ["step3p7"],
        entry(QWEN, head_dim_from=HW, layout={**HALF, "order": [1, 0]}, coords={"grids": "one"}),
    ),
    "inkling2": (
        "inkling2_vision",
        ["inkling2"],
        entry(
            QWEN,
            head_dim_from=HW,
            layout={**HALF, "order": [1, 0], "interleaved": True},
            coords={
                "merge": "spatial_merge_size",
                "merged_grid": True,
                "offset": 1,
                "class_token": "first",
            },
        ),
    ),
    "muse_glimmer": (
        "muse_glimmer_vision",
        ["muse_glimmer"],
        entry(
            QWEN,
            head_dim_from=HW,
            layout={**HALF, "order": [1, 0]},
            coords__merge=1,
            coords__offset=1,
            coords__window=["pos_emb_height", "patch_size"],
        ),
    ),
    "muse_spark": (
        "muse_spark_vision",
        ["muse_spark"],
        entry(
            QWEN,
            head_dim_from=HW,
            layout={**HALF, "order": [1, 0]},
            coords__merge=1,
            coords__offset=1,
            coords__window=["pos_emb_height", "patch_size"],
        ),
    ),
    "pixtral": (
        "pixtral",
        [],
        {
            "layout": {"ladder": "head", "axes": 2, "split": True},
            "coords": {"merge": 1},
            "head_dim_from": HW,
        },
    ),
    "gemma4": (
        "gemma4_vision",
        ["gemma4"],
        {
            "layout": {**HALF, "order": [1, 0], "blocks": 2},
            "coords": {"grids": "padded", "pad_value": -1},
            "head_dim_from": HW,
        },
    ),
    "llama4": (
        "llama4_vision_model",
        [],
        {
            "layout": {**HALF, "order": [1, 0], "interleaved": True},
            "coords": {
                "grids": "config",
                "grid_from": {"size": "image_size", "patch": "patch_size"},
                "offset": 1,
                "class_token": "last",
            },
            "head_dim_from": HW,
            "reads_head_dim": False,
        },
    ),
    "mlcd": (
        "mlcd_vision_model",
        [],
        {
            "layout": {**HALF, "learned_class_angles": "class_pos_emb"},
            "coords": {"grids": "one", "prefix_tokens": [1]},
            "head_dim_from": HW,
        },
    ),
    "dinov3_vit": ("dinov3_vit", [], DINOV3),
    "eomt_dinov3": (
        "eomt_dinov3",
        [],
        entry(DINOV3, coords__parts={"queries": {"prefix_tokens": ["num_queries", 1, "num_register_tokens"]}}),
    ),
    "sapiens2": ("sapiens2", [], DINOV3),
    "sam3": (
        "sam3_vit_model",
        ["sam3"],
        {
            "layout": {**HALF, "order": [1, 0], "interleaved": True},
            "coords": {  # global layers: the whole grid scaled to the window; windowed layers: the window grid
                "grids": "config",
                "grid_from": {"size": "image_size", "patch": "patch_size", "order": "wh"},
                "scale_to": "window_size",
                "parts": {"window": {"grid_from": {"size": "window_size"}}},
            },
            "head_dim_from": HW,
            "reads_head_dim": False,
        },
    ),
    **{
        tower: (
            tower,
            [],
            {
                "layout": {**HALF, "order": [1, 0], "interleaved": True},
                "coords": {  # feat sizes are (width, height); keys: one grid per memory frame, then pointers
                    "grids": "config",
                    "grid_from": {"size": "memory_attention_rope_feat_sizes", "order": "wh"},
                    "parts": {"memory": {"memory_frames": True}},
                },
                "head_dim_from": [
                    "memory_attention_hidden_size",
                    "memory_attention_downsample_rate",
                    "memory_attention_num_attention_heads",
                ],
                "reads_head_dim": False,
            },
        )
        for tower in ("sam2_video", "sam3_tracker_video")
    },
    "edgetam_video": (
        "edgetam_video",
        [],
        {
            "unsupported": (
                "its memory attention rotates the queries by one grid and the keys by a second grid of spatially pooled "
                "memory tokens plus unrotated perceiver latents; the table does not describe that key layout yet. Build it "
                "from rope_jax.layout_frequencies and rope_jax.patch_grid_coords (see docs/vision_model_types.md)"
            )
        },
    ),
    "efficientloftr": (
        "efficientloftr",
        [],
        {
            "unsupported": (
                "its RoPE belongs to a matcher over feature maps whose grid follows the backbone's strides and the "
                "aggregation kernel, not to a patch grid; build it from layout_frequencies(arrangement='alternate') and "
                "patch_grid_coords(...) + 1 (see docs/vision_model_types.md)"
            )
        },
    ),
    "lightglue": (
        "lightglue",
        [],
        {
            "unsupported": (
                "its angles are a learned projection Linear(2, head_dim / 2) of normalised keypoints, not a frequency "
                "ladder: use RoPENd(head_dim, projector.weight.T, interleaved=True) with the normalised keypoints as "
                "coordinates (see docs/vision_model_types.md)"
            )
        },
    ),
    "neomme": (
        "neomme",
        [],
        {
            "language_model": True,  # rope_jax.from_hf_config loads it (1-D positions)
            "unsupported": (
                "it rotates its language model (not a vision tower) by 2-D (row, column) position ids with pairs "
                "alternating between the axes: rope_jax.from_hf_config gives its rotation for 1-D (text) positions; "
                "for 2-D position ids build it with layout_frequencies(split_ladder(inv_freq), "
                "arrangement='alternate') and its position_ids moved to the last axis"
            ),
        },
    ),
    "vjepa2": (
        "vjepa2",
        [],
        {
            "unsupported": (
                "V-JEPA 2 does not rotate: it tiles a half-split sin/cos table (theta ** (-2i / d) repeated over the two "
                "halves) but applies it to adjacent pairs (2i, 2i + 1), so the two features of a pair turn by different "
                "angles and their norm changes (0.17x to 1.40x on random inputs); that is not a rotation rope_jax can "
                "express, and reproducing it would need a second transform"
            )
        },
    ),
}


# --------------------------------------------------------------------------------------- automatic scan
def _calls(tree):
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and VISION_CLASS.search(node.name):
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    name = ast.unparse(call.func).split(".")[-1]
                    if re.fullmatch(r"apply_\w*(rot|rope)\w*|vision_apply_rotary_emb|rotate_queries_or_keys", name):
                        found.add(name)
    return found


def scan(path):
    """Signals read from one modeling file; None when no vision class rotates."""
    src = open(path).read()
    tree = ast.parse(src)
    calls = _calls(tree)
    if not calls:
        return None
    text = {n.name: ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    recompose = [  # the vision rotary modules' own recomposition (a text M-RoPE module has one too)
        ast.unparse(m)
        for n in ast.walk(tree)
        if isinstance(n, ast.ClassDef) and VISION_CLASS.search(n.name) and re.search(r"Rotary|Rope", n.name)
        for m in n.body
        if isinstance(m, ast.FunctionDef) and m.name == "recomposition_frequencies"
    ]
    rotary = " ".join(
        s for name, s in text.items() if re.search(r"Rotary|Rope|RoPE", name) and VISION_CLASS.search(name)
    )
    signals = {"apply": sorted(calls)}
    if "2 * (dim // 3 // 2)" in rotary:
        signals["ladder"] = "third"
    elif "arange(0, 1, 4 / self.head_dim" in rotary or "arange(0, 1, 4 / head_dim" in rotary:
        signals["ladder"] = "dinov3"
    elif "inv_freq[0::2], inv_freq[1::2]" in rotary:
        signals["ladder"] = "head"
    elif (
        "spatial_dim = dim // 2" in rotary
        or "freq_dim = config.hidden_size // config.num_attention_heads // 2" in rotary
    ):
        signals["ladder"] = "half"
    for body in recompose:
        if "repeat_interleave(2" in body:
            signals["interleaved"] = True
        if "cat([freq_h, freq_h, freq_w, freq_w]" in body:
            signals["blocks"] = 2
        if "flip" in body or "cat([freq_w, freq_h]" in body:
            signals["order"] = [1, 0]
        if "transpose(1, 2).flip(-1)" in body:
            signals["arrangement"] = "alternate"
    model = " ".join(s for name, s in text.items() if VISION_CLASS.search(name))
    merge = re.search(r"get_vision_position_ids\(\w+, (?:spatial_merge_size=)?([\w.]+)", model)
    if merge:
        signals["merge"] = merge.group(1).split(".")[-1]
        if re.search(rf"self\.{signals['merge']} = 1\b", model):  # Muse: positions and windows run un-merged
            signals["merge"] = "1"
    signals["window"] = "get_vision_window_index(" in model
    signals["offset"] = (
        1 if re.search(r"position_ids\.flip\(-1\) \+ 1|position_ids \+ 1\)|frequencies_x \+ 1", model) else 0
    )
    return signals


AGREE = {  # scan signal -> where the hand entry keeps it, and the entry's default
    "ladder": ("layout", "ladder", None),
    "interleaved": ("layout", "interleaved", False),
    "blocks": ("layout", "blocks", 1),
    "order": ("layout", "order", [0, 1]),
    "arrangement": ("layout", "arrangement", "blocks"),
    "window": ("coords", "window", False),
    "offset": ("coords", "offset", 0),
}
MERGE_NAMES = {
    "spatial_merge_size": "spatial_merge_size",
    "merge": "spatial_merge_size",
    "1": 1,
    "merge_sizes": "input",
}


def check(tower, signals, hand):
    problems = []
    for key, (section, field, default) in AGREE.items():
        if key not in signals:
            continue
        value = hand.get(section, {}).get(field, default)
        expected = signals[key]
        if key == "window":
            value = bool(value)
        if key == "order" and hand["layout"].get("axes") == 3:
            continue
        if value != expected:
            problems.append(f"{tower}: the code says {key}={expected!r}, the table {value!r}")
    if "merge" in signals and "coords" in hand:
        if MERGE_NAMES.get(signals["merge"], signals["merge"]) != hand["coords"].get("merge", 1):
            problems.append(
                f"{tower}: the code merges by {signals['merge']!r}, the table {hand['coords'].get('merge')!r}"
            )
    return problems


def config_defaults(tower, model_type):
    """Class defaults of the config class whose model_type is ``model_type`` (RoPE-relevant keys)."""
    for path in sorted(glob.glob(str(MODELS / tower / "configuration_*.py"))):
        module = importlib.import_module(f"transformers.models.{tower}.{pathlib.Path(path).stem}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and getattr(value, "model_type", None) == model_type
                and value.__module__ == module.__name__
            ):
                values = value().to_dict()
                keep = re.compile(
                    r"rope|theta|head|hidden_size|embed_dim|merge|window|patch_size|image_size|register|"
                    r"pos_emb_height|memory_attention"
                )
                out = {k: v for k, v in values.items() if keep.search(k) and not isinstance(v, dict)}
                params = values.get("rope_parameters")
                if isinstance(params, dict) and params.get("rope_theta") is not None:
                    out["rope_theta"] = params["rope_theta"]
                return out
    raise LookupError(f"no config class with model_type {model_type!r} in models/{tower}")


def main():
    found = {}
    for path in sorted(glob.glob(str(MODELS / "*" / "modeling_*.py"))):
        signals = scan(path)
        if signals is not None:
            found[pathlib.Path(path).parent.name] = signals
    text_only = {"deepseek_ocr2", "granite4_vision"}  # their vision classes rotate by 1-D positions
    problems = [
        f"{t}: a vision class rotates but the table has no entry"
        for t in found
        if t not in ENTRIES and t not in text_only
    ]
    problems += [f"{t}: in the table but the scan finds no rotation" for t in ENTRIES if t not in found]
    table = {}
    for tower, (model_type, wrappers, hand) in ENTRIES.items():
        hand = dict(hand)
        if not hand.get("unsupported"):
            problems += check(tower, found.get(tower, {}), hand)
            hand["defaults"] = config_defaults(tower, model_type)
            if hand["head_dim_from"] == HW:  # the code reads config.num_attention_heads: an alias of num_heads in some
                heads = "num_heads" if "num_heads" in hand["defaults"] else "num_attention_heads"
                hand["head_dim_from"] = ["hidden_size", heads]
            missing = [key for key in hand["head_dim_from"] if key not in hand["defaults"]]
            if missing:
                problems.append(f"{tower}: head_dim_from names {missing}, which its config class does not have")
        hand["tower"] = tower
        hand["apply"] = found.get(tower, {}).get("apply", [])
        table[model_type] = hand
        for wrapper in wrappers:
            table[wrapper] = {"vision_model_type": model_type, "tower": tower}
    if problems:
        raise SystemExit("the scan and the table disagree:\n  " + "\n  ".join(problems))
    OUT.write_text(
        json.dumps({"transformers_version": transformers.__version__, "model_types": table}, indent=1, sort_keys=True)
        + "\n"
    )
    print(
        f"{len(ENTRIES)} towers ({sum(1 for e in table.values() if e.get('unsupported'))} refused), "
        f"{len(table)} model types -> {OUT.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
