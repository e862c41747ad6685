"""Empirical check: build each text model's RotaryEmbedding from its default config, rotate basis vectors with the
module-level apply function used by the text attention, and read off which feature pairs are mixed."""
import json, importlib, inspect, re, warnings, signal, sys, os
import torch, transformers
import os  # noqa: E401
HERE = os.path.dirname(os.path.abspath(__file__))
warnings.filterwarnings("ignore"); transformers.logging.set_verbosity_error()
mt = json.load(open(os.path.join(HERE, "model_types.json")))["model_types"]
res = {}
class TO(Exception): pass
def handler(*a): raise TO()
signal.signal(signal.SIGALRM, handler)
for name, e in mt.items():
    if e["role"] != "text": continue
    mod_path = "transformers." + e["modeling_file"].replace("/", ".")[:-3]
    r = {}
    try:
        signal.alarm(20)
        mod = importlib.import_module(mod_path)
        cmod = importlib.import_module("transformers." + e["config_file"].replace("/", ".")[:-3])
        cfg = getattr(cmod, e["config_class"])()
        rot_classes = [c for n, c in inspect.getmembers(mod, inspect.isclass) if re.search(r"Rotary", n) and c.__module__ == mod.__name__ and not re.search(r"Vision|Audio|Vit|Patch|DiT|Sam|Encoder|Positional", n)]
        calls = e["apply_fns_called_by_text_attention"]
        fn_names = calls or ["apply_rotary_pos_emb"]
        R = rot_classes[0](config=cfg)
        layer_types = None
        try:
            rp = cfg.rope_parameters
            nested = [k for k in rp if isinstance(rp[k], dict)] if isinstance(rp, dict) and "rope_type" not in rp else []
        except Exception:
            nested = []
        targets = nested or [None]
        r["per_layer_type"] = {}
        for fn_name, lt in [(f, l) for f in fn_names for l in targets]:
            fn = getattr(mod, fn_name)
            pos = torch.tensor([[1000]])
            x = torch.zeros(1, 1, 8)
            out = R(x, pos, lt) if lt else R(x, pos)
            if isinstance(out, torch.Tensor):  # complex freqs_cis
                D = out.shape[-1] * 2
                q = torch.eye(D).reshape(1, 1, D, D)  # (b, seq, heads, D) for llama4/deepseek_v2 apply_rotary_emb
                qo, _ = fn(q, q.clone(), out)
                qo = qo[0, 0]
            else:
                cos, sin = out
                D = cos.shape[-1]
                sig = list(inspect.signature(fn).parameters)
                if "rotate_half" in str(getattr(mod, "rotate_half", "")) and False: pass
                hd = D if not any(k in (e["apply_fns_called_by_text_attention"] or []) for k in ["apply_rotary_pos_emb_interleave"]) else D
                # width of the head: for partial rotary, cos narrower than head -> use head_dim from config
                try: head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
                except Exception: head = D
                if fn_name == "apply_rotary_pos_emb_interleave" or "half-width" in str(e.get("cos_sin_duplication")):
                    head = max(head, D if "half-width" not in str(e.get("cos_sin_duplication")) else 2 * D)
                if e.get("cos_sin_duplication") == ["none(half-width cos)"] and head < 2 * D: head = 2 * D
                if head < D: head = D
                q = torch.eye(head).reshape(1, head, 1, head)
                def run(qq):
                    if sig[:2] == ["q", "k"]:
                        return fn(qq, qq.clone(), cos, sin)[0]
                    if sig[:1] == ["tensor"]:  # gptj/codegen: (tensor, sin, cos) with (b, seq, heads, d)
                        return fn(qq.transpose(1, 2), sin, cos).transpose(1, 2)
                    return fn(qq, cos, sin)
                try:
                    qo = run(q)
                except RuntimeError:
                    # attention slices the rotary part itself (phi/persimmon/stablelm/gptj...): rotate first cos-width features
                    w = D if sig[:1] != ["tensor"] else 2 * D
                    qo = q.clone(); qo[..., :w] = run(q[..., :w].contiguous())
                    r["attention_slices_prefix_itself"] = True
                qo = qo[0, :, 0, :]
            qo = qo.double()
            n = qo.shape[0]
            supp = {i: sorted(int(j) for j in torch.nonzero(qo[i].abs() > 1e-12).flatten()) for i in range(n)}
            rotated = [i for i in range(n) if supp[i] != [i]]
            def cls(i):
                s_ = supp[i]
                if s_ == [i]: return "id"
                if len(s_) == 2 and set(s_) == {i, i ^ 1}: return "interleaved"
                if len(s_) == 2 and i in s_: return "half"
                if len(s_) == 2 and s_ == [i // 2, i // 2 + n // 2]: return "interleaved_pairs_output_half_order"
                if len(s_) == 2 and i not in s_: return "permuted_out"
                return "other"
            kinds = sorted(set(cls(i) for i in rotated))
            lay = "none" if not rotated else (kinds[0] if len(kinds) == 1 else "mixed:" + ",".join(kinds))
            if lay == "half":
                offs = sorted(set(abs(supp[i][1] - supp[i][0]) for i in rotated))
                lay = f"half(offset {offs})"
            if lay == "permuted_out":
                pass
            partners = {i: supp[i] for i in rotated[:3]}
            r["per_layer_type"][(lt or "all") + ("" if len(fn_names) == 1 else "|" + fn_name)] = {"head": n, "n_rotated": len(rotated), "first_rotated": rotated[:1], "last_rotated": rotated[-1:], "pair_layout": lay, "sample_support": partners, "cos_width": None if isinstance(out, torch.Tensor) else int(out[0].shape[-1])}
        signal.alarm(0)
    except TO:
        r["error"] = "timeout"
    except Exception as ex:
        signal.alarm(0)
        r["error"] = f"{type(ex).__name__}: {ex}"[:200].replace("\n", " ")
    res[name] = r
    print(name, json.dumps(r)[:300].replace("\\n"," "), flush=True)
json.dump(res, open(os.path.join(HERE, "layout_empirical.json"), "w"), indent=1)
