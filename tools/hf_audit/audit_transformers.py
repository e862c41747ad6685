#!/usr/bin/env python
"""Audit of every transformers model type whose modeling code uses rotary position embeddings.

Run with torch + transformers:  python tools/hf_audit/audit_transformers.py
Writes model_types.json beside this file (and auto_raw.json with the raw per-file signals), merging
layout_empirical.json (verify_layout.py) and config_classes.json (audit_config_classes.py) when present.

Part 1 (automatic): scans models/*/modeling_*.py with `ast`, classifies the rotate/apply functions actually
called by the (text) attention classes, the rotary-embedding class forward (cat vs repeat_interleave
duplication), whether the default-rope init honours partial_rotary_factor, conditional RoPE application
(NoPE rules), and instantiates every config class with no arguments to read defaults.
Part 2 (hand-verified): OVERRIDES dict below, read from the source of this transformers version.
"""
import ast
import glob
import hashlib
import importlib
import json
import os
import re
import sys
import warnings

import transformers

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
T = os.path.dirname(transformers.__file__)
OUT = os.path.dirname(os.path.abspath(__file__))

SIG = re.compile(r"rotate_half|apply_rotary|RotaryEmbedding|rotary_emb|rope_theta|rope_parameters|rotate_every_two")
NONTEXT_CLS = re.compile(r"Vision|Visual|Audio|ViT|Vit|Image|Patch|Merger|Perciever|Encoder2D|Sam|Prompt|Mask|Geometry|Detr|Compressor|Indexer|Tracker|Conformer|Speech|Dit|DiT|Token2Wav|Code2Wav", re.I)
NONTEXT_MT = re.compile(r"vision|visual|audio|vit|image|vqgan|vqmodel|encoder|decoder_model|perciever|prompt|mask|geometry|detr|sam|tracker|bigvgan|token2wav|dit|patcher|adapter|_head$|timestamp", re.I)


# ----------------------------------------------------------------------------------------------- helpers
def strip_fn(fn):
    fn = ast.parse(ast.unparse(fn)).body[0]
    for a in fn.args.args + fn.args.kwonlyargs:
        a.annotation = None
    fn.returns = None
    fn.decorator_list = []
    if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(getattr(fn.body[0], "value", None), ast.Constant):
        fn.body = fn.body[1:] or [ast.Pass()]
    return ast.unparse(fn)


def classify_rotate(src):
    """rotate_half-like function -> pair layout"""
    if re.search(r"0?::2\]", src) and re.search(r"stack", src):
        return "interleaved"
    if "x.shape[-1] // 2" in src or "chunk(" in src:
        if re.search(r"cat\(\(x2, -x1\)", src):
            return "half_reversed_sign"  # rotation by -theta (nanochat)
        return "half"
    return "unknown"


def classify_apply(src, rotate_layouts):
    if "view_as_complex" in src:
        return "interleaved"
    if re.search(r"q\[\.\.\., 0::2\]|x\[\.\.\., 0::2\]|k\[\.\.\., 0::2\]", src) and "q1 * cos - q2 * sin" in src.replace("k1", "q1"):
        return "interleaved"  # *_interleave variants: de-interleave then half-rotate, output is half-split order!
    if "rotate_every_two" in src:
        return "interleaved"
    if "torch.chunk(x, 2" in src or "chunk(x, 2" in src:
        return "half"
    for name, lay in rotate_layouts.items():
        if re.search(rf"\b{name}\(", src):
            return lay
    return "unknown"


def module_functions(tree):
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


class CallVisitor(ast.NodeVisitor):
    def __init__(self):
        self.stack, self.cls, self.hits = [], None, []

    def visit_ClassDef(self, n):
        old, self.cls = self.cls, n.name
        self.generic_visit(n)
        self.cls = old

    def visit_If(self, n):
        self.stack.append(ast.unparse(n.test))
        for x in n.body:
            self.visit(x)
        self.stack.pop()
        self.stack.append("not(" + ast.unparse(n.test) + ")")
        for x in n.orelse:
            self.visit(x)
        self.stack.pop()

    def visit_Call(self, n):
        f = ast.unparse(n.func)
        if re.fullmatch(r"(self\.)?_?(apply_rotary\w*|apply_rope\w*|apply_multidimensional_rope)", f) and self.cls and not re.search("Rotary|Rope", self.cls):
            self.hits.append({"cls": self.cls, "fn": f.replace("self.", ""), "conds": list(self.stack), "line": n.lineno})
        self.generic_visit(n)


def scan_modeling(path):
    src = open(path).read()
    tree = ast.parse(src)
    fns = module_functions(tree)
    rotate_layouts = {}
    for name, fn in fns.items():
        if re.search(r"rotate", name):
            rotate_layouts[name] = classify_rotate(ast.unparse(fn))
    apply_layouts = {}
    apply_src = {}
    for name, fn in fns.items():
        if re.search(r"apply_.*(rot|rope)", name):
            s = ast.unparse(fn)
            apply_src[name] = s
            apply_layouts[name] = classify_apply(s, rotate_layouts)
    # rotary classes
    rot = {}
    for n in tree.body:
        if isinstance(n, ast.ClassDef) and re.search(r"Rotary|Rope|RoPE", n.name):
            info = {}
            for m in n.body:
                if isinstance(m, ast.FunctionDef) and m.name in ("forward", "compute_default_rope_parameters", "__init__"):
                    s = strip_fn(m)
                    info[m.name] = hashlib.md5(s.encode()).hexdigest()[:8]
                    if m.name == "forward":
                        info["forward_dup"] = ("repeat_interleave" if "repeat_interleave(freqs" in s else "cat" if "cat((freqs, freqs)" in s
                                               else "polar(complex)" if "polar" in s else "mrope_recompose" if "recomposition" in s
                                               else "none(half-width cos)" if "emb = freqs" in s or "cos = freqs.cos()" in s else "other")
                        info["per_layer_type_forward"] = "layer_type" in s
                    if m.name == "compute_default_rope_parameters":
                        info["default_uses_partial_rotary_factor"] = "partial_rotary_factor" in s
                        m2 = re.search(r"get\('partial_rotary_factor', ([0-9.]+)\)", s)
                        if m2:
                            info["default_partial_fallback"] = float(m2.group(1))
                        info["default_theta_source"] = "config.rope_theta" if "config.rope_theta" in s else "rope_parameters"
                        info["per_layer_type_init"] = "layer_type]" in s
                if isinstance(m, ast.FunctionDef) and m.name == "__init__":
                    s = ast.unparse(m)
                    info["has_custom_rope_types"] = sorted(set(re.findall(r"rope_type == '(\w+)'", s)))
            rot[n.name] = info
    v = CallVisitor()
    v.visit(tree)
    text_calls = [h for h in v.hits if not NONTEXT_CLS.search(h["cls"])]
    return {
        "rotate_layouts": rotate_layouts,
        "apply_layouts": apply_layouts,
        "rotary_classes": rot,
        "calls": v.hits,
        "text_calls": text_calls,
        "apply_slices_prefix": {k: bool(re.search(r"\[\.\.\., :(rotary_dim|rot_dim)\]", s)) for k, s in apply_src.items()},
        "apply_slices_suffix": {k: bool(re.search(r"\[\.\.\., -rope_dim:\]", s)) for k, s in apply_src.items()},
        "apply_cos_repeat_interleave": {k: "repeat_interleave" in s for k, s in apply_src.items()},
        "mentions": sorted(set(re.findall(r"config\.(\w*(?:rope|rotary|theta|nope|partial|interleave|mrope|query_pre_attn_scalar|attn_temperature_tuning|floor_scale|attn_scale|qk_layernorm|use_qk_norm|layer_rope_theta|use_mem_rope|position_embedding_type|sliding_window_pattern|alibi)\w*)", src))),
    }


def derive_layout(s):
    calls = s["text_calls"] or s["calls"]
    fns = sorted(set(h["fn"] for h in calls))
    conds = sorted(set(c for h in calls for c in h["conds"]))
    if any("rope_interleave" in c for c in conds):
        return "config:rope_interleave", fns, conds
    lays = set()
    for f in fns:
        lay = s["apply_layouts"].get(f)
        if lay is None:
            continue
        lays.add(lay)
    # cohere-style: rotate interleaved in apply, duplication done by repeat_interleave in forward
    if not lays and s["rotate_layouts"]:
        lays = set(s["rotate_layouts"].values())
    if len(lays) == 1:
        return lays.pop(), fns, conds
    return "ambiguous:" + ",".join(sorted(lays)), fns, conds


# ------------------------------------------------------------------------------------------ config part
KEYRE = re.compile(r"rope|rotary|theta|mrope|interleave|nope|head_dim|partial|layer_types|sliding_window_pattern|alpha$|max_position|num_attention_heads$|hidden_size$|^n_head$|^n_embd$|^d_model$|qk_layernorm|use_qk_norm|query_pre_attn_scalar|attn_temperature|floor_scale|attn_scale|position_embedding_type|alibi|use_mem_rope|llama_4|force_rope", re.I)


def jsonable(v):
    try:
        json.dumps(v)
        return v
    except Exception:
        return repr(v)


def compress_list(v):
    if isinstance(v, list) and len(v) > 12:
        return {"len": len(v), "first12": v[:12]}
    return v


def config_info(mod_dir, cf, cls_name):
    entry = {"config_class": cls_name, "config_file": f"models/{mod_dir}/{cf}"}
    try:
        mod = importlib.import_module(f"transformers.models.{mod_dir}.{cf[:-3]}")
        C = getattr(mod, cls_name)
        entry["attribute_map"] = dict(getattr(C, "attribute_map", {}) or {})
        entry["default_theta_class_attr"] = jsonable(getattr(C, "default_theta", None))
        dr = getattr(C, "default_rope_type", "default")
        if dr != "default":
            entry["default_rope_type_class_attr"] = dr
        ig = getattr(C, "ignore_keys_at_rope_validation", None)
        if ig:
            entry["ignore_keys_at_rope_validation"] = sorted(ig)
        entry["overrides_convert_rope_params_to_dict"] = "convert_rope_params_to_dict" in C.__dict__
        c = C()
        d = c.to_dict()
        entry["defaults"] = {k: compress_list(jsonable(v)) for k, v in d.items() if KEYRE.search(k) and not isinstance(v, dict)}
        if isinstance(d.get("rope_parameters"), dict):
            entry["defaults"]["rope_parameters"] = jsonable(d["rope_parameters"])
        try:
            hd = getattr(c, "head_dim", "<absent>")
            entry["head_dim_attr_after_init"] = jsonable(hd)
        except Exception as e:
            entry["head_dim_attr_after_init"] = f"<{type(e).__name__}: per-layer>"
        entry["has_text_config"] = "text_config" in d
        if isinstance(d.get("text_config"), dict):
            entry["text_config_model_type"] = d["text_config"].get("model_type")
    except Exception as e:
        entry["error"] = f"{type(e).__name__}: {e}"[:300]
    return entry


def config_classes(d):
    out = []
    for cf in sorted(glob.glob(f"{d}/configuration_*.py")):
        csrc = open(cf).read()
        for cm in re.finditer(r"^class (\w+)\((.*?)\):", csrc, re.M):
            start = cm.end()
            nxt = re.search(r"^class ", csrc[start:], re.M)
            body = csrc[start : start + (nxt.start() if nxt else len(csrc))]
            mt = re.search(r'^\s+model_type = "([^"]+)"', body, re.M)
            if mt:
                out.append((cm.group(1), mt.group(1), os.path.basename(cf)))
    return out


# ------------------------------------------------------------------------------------------ overrides
# Hand-verified from the source of this transformers version (file:line refer to models/<dir>/...).
from audit_overrides import OVERRIDES, CONFIG_ONLY_NOTES, GLOBAL_NOTES  # noqa: E402


def role_of(mt, cfg, layout):
    if cfg.get("has_text_config"):
        return "composite(text_config owns the text RoPE)"
    if NONTEXT_MT.search(mt):
        return "non-text component (vision/audio/other encoder)"
    return "text"


def main():
    print("transformers", transformers.__version__)
    raw, result = {}, {}
    for path in sorted(glob.glob(f"{T}/models/*/modeling_*.py")):
        src = open(path).read()
        if not SIG.search(src):
            continue
        rel = os.path.relpath(path, f"{T}/models")
        mod_dir = rel.split("/")[0]
        s = scan_modeling(path)
        raw[rel] = s
        layout, fns, conds = derive_layout(s)
        for cls_name, mt, cf in config_classes(os.path.dirname(path)):
            if mt in result and result[mt]["modeling_file"] != f"models/{rel}":
                continue  # esm has two modeling files; keep first
            cfg = config_info(mod_dir, cf, cls_name)
            defaults = cfg.get("defaults", {})
            rp = defaults.get("rope_parameters")
            nested = isinstance(rp, dict) and any(isinstance(v, dict) or v is None for v in rp.values()) and "rope_type" not in rp
            nope_conds = [c for c in conds if not re.search(r"rope_interleave|rotary_dim is not None|num_complete_blocks|chunk_kv", c)]
            rot_infos = list(s["rotary_classes"].values())
            text_rot = [v for k, v in s["rotary_classes"].items() if not NONTEXT_CLS.search(k)] or rot_infos
            uses_partial = any(v.get("default_uses_partial_rotary_factor") for v in text_rot)
            partial_fb = next((v["default_partial_fallback"] for v in text_rot if "default_partial_fallback" in v), None)
            theta_default = None
            if isinstance(rp, dict):
                theta_default = rp.get("rope_theta") if not nested else {k: (v or {}).get("rope_theta") if isinstance(v, dict) else None for k, v in rp.items()}
            entry = {
                "modeling_file": f"models/{rel}",
                "config_file": cfg.get("config_file"),
                "config_class": cfg.get("config_class"),
                "role": role_of(mt, cfg, layout),
                "layout": layout,
                "layout_auto": layout,
                "apply_fns_called_by_text_attention": fns,
                "rope_conditions_auto": conds,
                "cos_sin_duplication": sorted(set(v.get("forward_dup", "?") for v in text_rot)),
                "rotary_dim": ("head_dim * partial_rotary_factor (default-rope init honours it" + (f", fallback {partial_fb})" if partial_fb is not None else ")"))
                if uses_partial else "head_dim (default-rope init IGNORES partial_rotary_factor; scaled rope types from ROPE_INIT_FUNCTIONS do use it)",
                "head_dim": "head_dim key if set and truthy, else hidden_size // num_attention_heads",
                "head_dim_default": cfg.get("head_dim_attr_after_init"),
                "config_keys": defaults,
                "default_theta_class_attr": cfg.get("default_theta_class_attr"),
                "theta_default": theta_default,
                "rope_parameters_nested_by_layer_type": bool(nested),
                "attribute_map": cfg.get("attribute_map", {}),
                "text_config": bool(cfg.get("has_text_config")),
                "text_config_model_type": cfg.get("text_config_model_type"),
                "overrides_convert_rope_params_to_dict": cfg.get("overrides_convert_rope_params_to_dict"),
                "config_mentions_in_modeling": s["mentions"],
                "per_layer": "nested rope_parameters per layer_type: " + ",".join(rp.keys()) if nested else "uniform (same cos/sin for every layer)",
                "nope_layers": "none" if not nope_conds else "conditional: " + " | ".join(nope_conds),
                "qk_extras": [],
                "rope_type_quirks": "",
                "notes": "",
                "verified": False,
            }
            if "error" in cfg:
                entry["config_error"] = cfg["error"]
            if cfg.get("ignore_keys_at_rope_validation"):
                entry["ignore_keys_at_rope_validation"] = cfg["ignore_keys_at_rope_validation"]
            ov = OVERRIDES.get(mt) or OVERRIDES.get("@" + mod_dir)
            if ov:
                entry.update(ov)
                entry["verified"] = True
            if not s["calls"]:
                entry["group"] = "X_rope_code_present_but_never_applied"
                entry["layout"] = "none (rotary helpers defined/copied but no attention calls them => NO RoPE)"
            if "group" not in entry:
                dup = entry["cos_sin_duplication"]
                if entry["role"] != "text":
                    entry["group"] = "Z_non_text_component"
                elif entry["layout"] == "half" and entry["nope_layers"] == "none" and not nested:
                    if any("mrope" in x for x in dup):
                        entry["group"] = "P_mrope"
                    elif uses_partial:
                        entry["group"] = "A2_llama_half_honours_partial"
                    else:
                        entry["group"] = "A_llama_half_full"
                else:
                    entry["group"] = "H_per_layer_theta_nested" if nested and entry["layout"] == "half" and entry["nope_layers"] == "none" else "U_unreviewed_special"
            result[mt] = entry
    # config-only model types (config file exists and mentions rope, but no modeling file with rotary code)
    seen_dirs = {r.split("/")[0] for r in raw}
    config_only = {}
    for d in sorted(glob.glob(f"{T}/models/*/")):
        name = os.path.basename(d.rstrip("/"))
        if name in seen_dirs or glob.glob(f"{d}/modeling_*.py"):
            continue
        for cf in glob.glob(f"{d}/configuration_*.py"):
            if re.search(r"rope_parameters|rope_theta|rotary", open(cf).read()):
                for cls_name, mt, cff in config_classes(d):
                    try:
                        from transformers.models.auto import modeling_auto as _ma
                        runs_on = _ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(mt) or _ma.MODEL_MAPPING_NAMES.get(mt)
                    except Exception:
                        runs_on = None
                    ci = config_info(name, cff, cls_name)
                    config_only[mt] = {"config_file": f"models/{name}/{cff}", "runs_on_modeling_class": runs_on,
                                       "config_keys": ci.get("defaults"), "attribute_map": ci.get("attribute_map"),
                                       "overrides_convert_rope_params_to_dict": ci.get("overrides_convert_rope_params_to_dict"),
                                       "note": CONFIG_ONLY_NOTES.get(mt, "config + modular only; auto-mapped onto another model's modeling class (RoPE behaviour = that class's, fed by this config class)")}
    # merge empirical basis-vector check (verify_layout.py) if present
    emp_path = os.path.join(OUT, "layout_empirical.json")
    if os.path.exists(emp_path):
        emp = json.load(open(emp_path))
        for mt, r in emp.items():
            if mt not in result:
                continue
            summ = {}
            for k, v in r.get("per_layer_type", {}).items():
                lay = v["pair_layout"]
                if "interleaved_pairs_output_half_order" in lay:
                    lay = "interleaved_pairs_output_half_order"
                summ[k] = {"head_dim": v["head"], "n_rotated_features": v["n_rotated"], "pairs": lay,
                           "rotated_index_range": [v["first_rotated"][0], v["last_rotated"][0]] if v["first_rotated"] else None}
            result[mt]["layout_empirical_default_config"] = summ or ("not run: " + r.get("error", "")[:120])
    # merge what each config class does to the loader-read fields (audit_config_classes.py) if present
    classes_path = os.path.join(OUT, "config_classes.json")
    classes = json.load(open(classes_path)) if os.path.exists(classes_path) else {}
    for mt, semantics in classes.get("model_types", {}).items():
        for table in (result, config_only):
            if mt in table:
                table[mt]["config_class_semantics"] = semantics
    json.dump(raw, open(os.path.join(OUT, "auto_raw.json"), "w"), indent=1, default=str)
    out = {
        "transformers_version": transformers.__version__,
        "generated_by": "audit_transformers.py",
        "field_help": {
            "layout": "half = rotate_half pairs (i, i+d/2); interleaved = pairs (2i, 2i+1); config:<key> = chosen by config flag; half_reversed_sign = half pairs but rotation by -theta",
            "role": "text = standalone text model type; composite = wrapper whose text_config holds the text RoPE; non-text = vision/audio/etc component",
            "verified": "true = hand-checked override applied; false = automatic heuristics only",
        },
        "global_notes": GLOBAL_NOTES,
        "model_types": dict(sorted(result.items())),
        "config_only_model_types": config_only,
        "wrappers": classes.get("wrappers", {}),
        "aliases": classes.get("aliases", {}),
    }
    json.dump(out, open(os.path.join(OUT, "model_types.json"), "w"), indent=1, default=str)
    n_text = sum(1 for v in result.values() if v["role"] == "text")
    print(f"modeling files: {len(raw)}  model types: {len(result)}  text: {n_text}  verified: {sum(v['verified'] for v in result.values())}")


if __name__ == "__main__":
    sys.path.insert(0, OUT)
    main()
