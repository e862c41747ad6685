"""Dump transformers' inv_freq / attention_scaling for each fixture (parity targets for rope_jax)."""
import json, importlib, inspect, re, warnings, torch, transformers
warnings.filterwarnings("ignore"); transformers.logging.set_verbosity_error()
from transformers import AutoConfig
from fixtures import FIXTURES
import os  # noqa: E401
HERE = os.path.dirname(os.path.abspath(__file__))
mt_all = json.load(open(os.path.join(HERE, "model_types.json")))["model_types"]
out = {}
for name, fx in FIXTURES.items():
    mt = fx["model_type"]; e = mt_all.get(mt)
    r = {"model_type": mt}
    try:
        cfg = AutoConfig.for_model(mt, **{k: v for k, v in fx.items() if k != "model_type"})
        mod = importlib.import_module("transformers." + e["modeling_file"].replace("/", ".")[:-3])
        rc = [c for n, c in inspect.getmembers(mod, inspect.isclass) if "Rotary" in n and c.__module__ == mod.__name__ and not re.search(r"Vision|Audio|Vit|Patch|DiT|Sam|Encoder|Positional", n)][0]
        R = rc(config=cfg)
        bufs = {k: v for k, v in R.named_buffers() if k.endswith("inv_freq") and "original" not in k}
        if not bufs and hasattr(R, "embed_positions"):  # gptj/codegen sincos table
            r["embed_positions_row1"] = R.embed_positions[1].tolist()
        r["inv_freq"] = {k: [float(x) for x in v.flatten().tolist()] for k, v in bufs.items()}
        r["attention_scaling"] = {k: float(getattr(R, k)) for k in dir(R) if k.endswith("attention_scaling") and isinstance(getattr(R, k), (int, float))}
        r["rope_type"] = getattr(R, "rope_type", None)
        if hasattr(R, "alpha"): r["learned_alpha_param"] = True
    except Exception as ex:
        r["error"] = f"{type(ex).__name__}: {ex}"[:200]
    out[name] = r
    print(name, r.get("rope_type"), {k: (len(v), v[:2], v[-1:]) for k, v in r.get("inv_freq", {}).items()}, r.get("attention_scaling"), r.get("error", ""))
json.dump(out, open(os.path.join(HERE, "golden_inv_freq.json"), "w"), indent=0)
