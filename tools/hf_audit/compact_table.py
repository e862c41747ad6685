"""Turn the audit (model_types.json) into the table rope_jax's loader reads: rope_jax/hf_model_types.json.

    python tools/hf_audit/compact_table.py

The audit (audit_transformers.py, run against an installed transformers) records, per model type, free-text
findings and the class defaults. This script keeps what the loader needs, in fixed fields, and adds the
hand-read rules that text cannot carry (which layers skip RoPE, legacy per-layer forms). Fields of an entry:

    group        the audit's behaviour group
    layout       "half" | "interleaved" | "rope_interleave" (the config key decides, default True)
    defaults     the config class's RoPE parameters when config.json names none (flat, or per layer type)
    theta_key    where a legacy theta lives (default "rope_theta"; GPT-NeoX: "rotary_emb_base")
    partial_key  where a legacy rotary fraction lives (default "partial_rotary_factor"; GPT-NeoX: "rotary_pct")
    rotary_dim_key  an absolute rotated-feature count (GPT-J, CodeGen, MiniMax-M2)
    default_ignores_partial  true where plain ("default") RoPE rotates the whole head whatever the fraction
    head_dim_key the head dim of the RoPE ("qk_rope_head_dim" for MLA); else head_dim or hidden / heads
    legacy_layers  "gemma3" | "olmo3": how a flat legacy config splits into sliding / full layer types
    mrope_interleaved  the model interleaves the M-RoPE axes (Qwen3-VL style) even without the config key
    global_head_dim  the class-default head dim of full-attention layers (Gemma 4)
    nope         which layers skip RoPE: "no_rope_layers", "sliding_only", "sliding_only_if_window",
                 "sliding_only_else_none", "full_only", "layer_rope_theta"
    config       the config class's defaults for the sizes the loader reads (hidden_size, num_attention_heads,
                 num_hidden_layers, sliding_window, max_position_embeddings; head_dim where it is a constant
                 rather than hidden_size // num_attention_heads)
    attribute_map  other names of those fields (DBRX: {"hidden_size": "d_model", ...})
    layer_types  the layer pattern the config class derives when config.json gives no layer_types: ``cycle``
                 (repeating from the first layer, or the last with ``from_end``), ``head`` / ``last`` (forced
                 first / last layers; ``last_forced``: even a given list), ``key`` (what sets the period),
                 ``min_layers``, ``depends_on`` (keys that change it); "unfitted" when no pattern fits
    yarn_is_longrope  Phi-3's configuration maps "yarn" (and "su") to LongRoPE
    text_config  the settings live under text_config (multimodal wrappers); text_model_type names its type
    qk           what else touches q/k outside RoPE (query scaling, norms), for porters
    unsupported  why rope_jax refuses this model type (a clear error beats a silently wrong rotation)
    no_rope      why the model has no RoPE at all (``layer_ropes`` gives None for every layer)

Beside the entries: ``aliases`` (model types transformers builds with an audited type's config class:
CONFIG_MAPPING aliases, a wrapper's renames such as Kimi-K2.5's ``kimi_k2``) and ``wrappers`` (every composite
config class: the model type of its ``text_config``; ``by_class`` when the class is fixed, whatever model type
the dict names; ``renames``). Everything but the hand-read rules above comes from ``audit_config_classes.py``.
"""

from __future__ import annotations

import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "rope_jax" / "hf_model_types.json"
ATTENTION = ROOT / "rope_jax" / "hf_attention_types.json"  # written by audit_attention.py
DOCS = ROOT / "docs" / "model_types.md"

NOPE = {
    "smollm3": "no_rope_layers",
    "llama4_text": "no_rope_layers",
    "cohere2": "sliding_only_else_none",
    "cohere2_moe": "sliding_only_else_none",
    "exaone4": "sliding_only_if_window",
    "exaone_moe": "sliding_only_if_window",
    "kolibri1": "sliding_only_if_window",
    "afmoe": "sliding_only",
    "flint": "sliding_only",
    "lara_mini": "sliding_only",
    "olmo_hybrid": "full_only",
    "granite_swa": "layer_rope_theta",
    "granitemoe_swa": "layer_rope_theta",
}
MROPE_INTERLEAVED = {  # the modeling code interleaves the t/h/w axes whatever the config's mrope_interleaved says
    "cosmos3_edge_text",
    "hy_v4_vl_text",
    "qwen3_5_text",
    "qwen3_5_moe_text",
    "qwen3_vl_text",
    "qwen3_vl_moe_text",
    "qwen4_exp_text",
}
GLOBAL_HEAD_DIM = {  # head dim of full-attention layers when config.json has no global_head_dim
    "gemma4_text": 512,
    "gemma4_unified_text": 512,
    "diffusion_gemma_text": 512,
}
LEGACY_LAYERS = {
    "gemma3_text": "gemma3",
    "gemma3n_text": "gemma3",
    "embedding_gemma2_text": "gemma3",
    "olmo3": "olmo3",
}
UNSUPPORTED = {
    "nanochat": "it rotates by minus the angle (rotate_half = cat(x2, -x1))",
    "deepseek_v4": "it rotates the last rope_dim features with separate main/compress thetas",
    "mistral_large4": "its rotary module holds a learned alpha that comes from the checkpoint, not the config",
    "mistral_large4_text": "its rotary module holds a learned alpha that comes from the checkpoint, not the config",
    "phimoe": "it scales cos/sin by short/long mscale instead of the LongRoPE attention factor",
    "ernie4_5_vl_moe": "it permutes the M-RoPE frequencies (h/w de-interleaved)",
    "ernie4_5_vl_moe_text": "it permutes the M-RoPE frequencies (h/w de-interleaved)",
    "zamba2": "RoPE is off unless use_mem_rope, and head_dim is forced to 2 * hidden / heads",
    "granitemoehybrid": "RoPE is on only with position_embedding_type='rope'",
    "beam": "its full-attention layers are NoPE with an attention scaling",
    "modernbert": "an encoder whose legacy scaling applies to both layer types",
    "modernbert-decoder": "an encoder whose legacy scaling applies to both layer types",
}


CONFIG_FIELDS = (
    "hidden_size",
    "num_attention_heads",
    "num_hidden_layers",
    "sliding_window",
    "max_position_embeddings",
    "qk_rope_head_dim",
    "rotary_dim",
)
VISION = {
    "image": "a vision encoder (its config describes image patches and no vocabulary): its RoPE rotates by 2-D "
    "patch-grid coordinates, not a 1-D text RoPE",
    "video": "a video encoder (its config describes video tubelets and no vocabulary): its RoPE rotates by 3-D "
    "(frame, row, column) patch coordinates, not a 1-D text RoPE",
}

KNOWN_ROPE_TYPES = {"default", "linear", "dynamic", "yarn", "llama3", "longrope", "proportional", "mrope", "su"}


def layout(entry: dict) -> str | None:
    text = entry["layout"]
    if text.startswith("config:rope_interleave"):
        return "rope_interleave"
    if text.startswith("interleaved"):
        return "interleaved"
    if text == "half":
        return "half"
    return None


def compact(name: str, entry: dict) -> dict:
    keys = entry.get("config_keys") or {}
    params = keys.get("rope_parameters") or {}
    rotary = entry.get("rotary_dim", "")
    group = "wrapper" if entry["role"].startswith("composite") else entry["group"].split("_")[0]
    out: dict = {"group": group, "layout": layout(entry)}
    if params:
        out["defaults"] = params
    if name.startswith("gpt_neox"):
        out["theta_key"], out["partial_key"] = "rotary_emb_base", "rotary_pct"
    if rotary.startswith("absolute `rotary_dim`") or rotary.startswith("partial_rotary_factor = rotary_dim"):
        out["rotary_dim_key"] = "rotary_dim"
    if "IGNORES" in rotary or "ignored by default rope" in rotary:
        out["default_ignores_partial"] = True
    if rotary.startswith("qk_rope_head_dim"):
        out["head_dim_key"] = "qk_rope_head_dim"
    if name in LEGACY_LAYERS:
        out["legacy_layers"] = LEGACY_LAYERS[name]
    semantics = entry.get("config_class_semantics") or {}
    config = {k: v for k, v in (semantics.get("defaults") or {}).items() if k in CONFIG_FIELDS}
    if semantics.get("head_dim") == "class default" and "head_dim" in (semantics.get("defaults") or {}):
        config["head_dim"] = semantics["defaults"]["head_dim"]
    if config:
        out["config"] = config
    if semantics.get("attribute_map"):
        out["attribute_map"] = semantics["attribute_map"]
    if semantics.get("layer_types"):
        out["layer_types"] = semantics["layer_types"]
    if name in NOPE:
        out["nope"] = NOPE[name]
    if name in MROPE_INTERLEAVED:
        out["mrope_interleaved"] = True
    if name in GLOBAL_HEAD_DIM:
        out["global_head_dim"] = GLOBAL_HEAD_DIM[name]
    if name.startswith("phi3") or name.startswith("phi4_multimodal"):
        out["yarn_is_longrope"] = True
    if entry.get("text_config"):
        out["text_config"] = True
        if entry.get("text_config_model_type"):
            out["text_model_type"] = entry["text_config_model_type"]
    if entry.get("qk_extras"):
        out["qk"] = entry["qk_extras"]
    rope_types = (
        {params.get("rope_type")}
        if "rope_type" in params
        else {value.get("rope_type") for value in params.values() if isinstance(value, dict)}
    )
    unknown = rope_types - KNOWN_ROPE_TYPES - {None}
    if semantics.get("vision"):
        out["group"] = "vision"
        out["unsupported"] = VISION[semantics["vision"]]
    elif entry["group"].startswith("X_"):
        out["no_rope"] = "its attention never applies the rotary code it defines"
    elif name in UNSUPPORTED:
        out["unsupported"] = UNSUPPORTED[name]
    elif unknown:
        out["unsupported"] = f"its rope type {sorted(unknown)} is a vision RoPE (use rope_jax.RoPENd)"
    elif entry["group"].startswith(("X_", "U_", "L_")) or out["layout"] is None:
        out["unsupported"] = entry.get("notes") or unreviewed_reason(entry)
    return out


def unreviewed_reason(entry: dict) -> str:
    """Why the audit leaves a model type out, in words a user can act on."""
    if entry["group"].startswith("X_"):
        return "its attention never applies the rotary code it defines: the model has no RoPE"
    ran = entry.get("layout_empirical_default_config")
    if isinstance(ran, str) and ran.startswith("not run"):
        return (
            "unverified: the audit could not run its rotary code from a default config "
            f"({ran.removeprefix('not run: ')[:60]}), so its pair layout and inputs are unconfirmed"
        )
    if entry["layout"] == "unknown":
        calls = entry.get("apply_fns_called_by_text_attention") or []
        calls = ", ".join(calls) if isinstance(calls, list) else calls.strip("[]").replace("'", "")
        return f"the audit found no language-model rotation to classify (its attention calls: {calls or 'none'})"
    condition = entry.get("nope_layers", "")
    if condition and condition != "none":
        pairs = "(2i, 2i+1)" if entry["layout"].startswith("interleaved") else "(i, i+P)"
        return (
            f"unreviewed: it rotates {pairs} pairs, but only where its code says so ({condition[:70]}), "
            "and its config keys were not audited"
        )
    return f"unreviewed: its pairs read {entry['layout']!r} and its config keys were not audited"


def main() -> None:
    audit = json.loads((HERE / "model_types.json").read_text())
    table = {}
    for name, entry in sorted(audit["model_types"].items()):
        if entry["role"].startswith("non-text"):
            continue  # vision / audio parts: not loaded from a language model's config
        table[name] = compact(name, entry)
    for name, entry in sorted(audit.get("config_only_model_types", {}).items()):
        base = {"LlamaForCausalLM": "llama", "DeepseekV3ForCausalLM": "deepseek_v3"}.get(
            entry["runs_on_modeling_class"]
        )
        if base in table:
            own = compact(
                name, {**audit["model_types"][base], "config_class_semantics": entry.get("config_class_semantics")}
            )
            table[name] = {**own, "defaults": entry["config_keys"].get("rope_parameters") or {}}
    for legacy in ("RefinedWebModel", "RefinedWeb"):  # the original Falcon releases
        table[legacy] = {**table["falcon"], "alias_of": "falcon"}
    aliases = {name: alias["model_type"] for name, alias in audit["aliases"].items() if alias["model_type"] in table}
    wrappers = {}
    for name, spec in sorted(audit["wrappers"].items()):
        if "model_type" in spec:
            wrappers[name] = {"text": spec["model_type"], **({"by_class": True} if spec["by_class"] else {})}
            if spec.get("renames"):
                wrappers[name]["renames"] = spec["renames"]
    result = {
        "transformers_version": audit["transformers_version"],
        "model_types": table,
        "aliases": aliases,
        "wrappers": wrappers,
    }
    OUT.write_text(json.dumps(result, indent=0, sort_keys=True) + "\n")
    DOCS.write_text(render(result))
    print(f"{len(table)} model types from transformers {audit['transformers_version']} -> {OUT}, {DOCS}")


def _theta(defaults: dict) -> str:
    if not defaults:
        return "10000"
    if "rope_theta" in defaults:
        return f"{defaults['rope_theta']:g}"
    return ", ".join(f"{k.split('_')[0]} {v['rope_theta']:g}" for k, v in sorted(defaults.items()) if v)


def _rotary(entry: dict) -> str:
    defaults = entry.get("defaults") or {}
    if entry.get("rotary_dim_key"):
        return "`rotary_dim` features"
    if entry.get("head_dim_key"):
        return "`qk_rope_head_dim` slice"
    partial = defaults.get("partial_rotary_factor")
    key = entry.get("partial_key", "partial_rotary_factor")
    if entry.get("default_ignores_partial"):
        return "whole head (default RoPE)"
    return f"`{key}` (default {partial if partial is not None else 1})"


def render(result: dict) -> str:
    """docs/model_types.md: one row per model type, from the table (regenerated with it)."""
    table = result["model_types"]
    layouts = {"half": "(i, i+P)", "interleaved": "(2i, 2i+1)", "rope_interleave": "`rope_interleave` (True)"}
    lines = [
        "# Supported Hugging Face model types",
        "",
        f"Generated by `python tools/hf_audit/compact_table.py` from the audit of transformers "
        f"{result['transformers_version']} ({len(table)} model types whose language model uses RoPE). "
        "`rope_jax.from_hf_config` and `rope_jax.layer_ropes` read `rope_jax/hf_model_types.json`, the same "
        "table. Pairs: the rotated feature pairs. Rotary: how many features rotate. Theta: the class default when "
        "config.json names none. Layers: per-layer RoPE or layers without it. Outside RoPE: what else touches "
        "q/k, for porters (rope_jax applies none of it). A model type outside this table loads with the generic "
        "rules and a warning naming the layout it assumed (`interleaved=` overrides it).",
        "",
        "The attention columns come from `python tools/hf_audit/audit_attention.py` (`rope_jax/hf_attention_types."
        "json`, joined into `MODEL_TYPES` as `attention`), which runs each model type's own attention module: "
        "scale (`key ** power`; blank: `head_dim ** -0.5`), q/k norm (kind, statistic per head or over the "
        "projection, weights, before / after RoPE), clip / softcap / sinks, output norm, window (keys a query "
        "sees), and whether `rope_jax.hf_attention.attention_layer(config, i)` reproduces it (the largest "
        "relative error at positions 0.. and 50,000..) or why not.",
        "",
        "| model type | group | pairs | rotary | theta | layers | outside RoPE | status | scale | q/k norm | "
        "clip / softcap / sinks | output norm | window | one-call layer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    attention = json.loads(ATTENTION.read_text())["model_types"] if ATTENTION.exists() else {}
    for name, entry in sorted(table.items()):
        layers = entry.get("nope") or entry.get("legacy_layers") or ""
        if not layers and entry.get("defaults") and "rope_theta" not in entry["defaults"]:
            layers = "per layer type"
        outside = "; ".join(entry.get("qk", [])).replace("|", "/")
        if len(outside) > 160:
            outside = outside[:157] + "..."
        status = "unsupported: " + entry["unsupported"].replace("|", "/")[:120] if entry.get("unsupported") else "yes"
        if entry.get("text_config"):
            status += f" (reads `text_config`: {entry.get('text_model_type') or 'text model'})"
        lines.append(
            f"| `{name}` | {entry['group']} | {layouts.get(entry['layout'], '?')} | {_rotary(entry)} | "
            f"{_theta(entry.get('defaults') or {})} | {layers} | {outside} | {status} | "
            + " | ".join(attention_cells(attention.get(name)))
            + " |"
        )
    return "\n".join(lines) + "\n"


def _rule(rule) -> str:
    if isinstance(rule, list):
        return " and ".join(_rule(part) for part in rule)
    if isinstance(rule, dict):
        return f"`{rule['key']}`" + (f" ({rule['default']})" if rule.get("default") is not None else "")
    return str(rule).lower()


def attention_cells(entry: dict | None) -> list[str]:
    """The attention columns of one row (blank where the attention audit did not reach the model type)."""
    if entry is None:
        return [""] * 5 + ["not audited"]
    if "attention" not in entry:
        return [""] * 5 + ["no: " + entry["unported"].replace("|", "/")[:110]]
    scale = entry.get("scale")
    scale_text = "" if scale is None else f"{_rule(scale)} ** {scale['power']:g}"
    norm = entry.get("qk_norm")
    norm_text = ""
    if norm:
        weights = {"shared": "one scale", "per_head": "scale per head", None: "no weights"}[norm["weights"]]
        norm_text = (
            f"{norm['kind'].upper() if norm['kind'] == 'rms' else 'LayerNorm'} over the {norm['over']}, {weights}"
            + (" + bias" if norm.get("bias") else "")
            + f", {norm['where']} RoPE"
            + (", RoPE layers only" if norm.get("layers") == "rope" else "")
            + (f", if {_rule(norm['when'])}" if norm.get("when") is not True else "")
        )
        if entry.get("norm_offset"):
            norm_text += ", weight 1 + w"
    extras = []
    if entry.get("clip_qkv"):
        extras.append(f"clip {_rule(entry['clip_qkv'])}")
    if entry.get("softcap"):
        extras.append(f"softcap {_rule(entry['softcap'])}")
    if entry.get("sink_logits"):
        extras.append("sinks")
    if entry.get("temperature"):
        extras.append("query temperature on NoPE layers")
    output = entry.get("output_norm")
    output_text = "" if not output else f"{output['kind'].upper()} over the projection"
    window = entry.get("window")
    window_text = ""
    if window:
        layers = "every layer" if window["layers"] == "all" else "sliding layers"
        window_text = f"{_rule(window)}" + (f" + {window['extra_keys']}" if window.get("extra_keys") else "")
        window_text += f" keys, {layers}"
    if "verified" in entry:
        verdict = f"yes ({entry['verified']['max_relative_error']:.1e})"
    else:
        verdict = "no: " + entry.get("unported", "").replace("|", "/")[:110]
    return [scale_text, norm_text, ", ".join(extras), output_text, window_text, verdict]


if __name__ == "__main__":
    main()
