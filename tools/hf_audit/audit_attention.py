"""Audit what every decoder model type's attention does besides RoPE, by running transformers' own modules.

    python tools/hf_audit/audit_attention.py [model_type ...]     (torch + the audited transformers installed)

Writes ``rope_jax/hf_attention_types.json`` (read by ``rope_jax.hf_attention``; joined into ``MODEL_TYPES``'s rows
of docs/model_types.md by compact_table.py). For each language model type of ``rope_jax/hf_model_types.json``:

1. **Found from the code.** The ``config.<key>`` reads of its attention class (its source) name the keys that
   can switch features on (biases, q/k norms, clip, softcap, scale multipliers, Falcon's new architecture,
   sliding windows). A tiny model (hidden 64, 4 query / 2 key-value heads of 16, every layer type) is built
   from the class defaults with those features on, 1-D parameters perturbed.
2. **Read off the running module.** Its parameters name the projections, norms, sink logits and output norm;
   its ``scaling`` / softcap / clip / temperature attributes give values, matched to the config key holding
   that value; the masks it receives give the window (how many keys a query sees, on which layers); the call
   order of its norms and its RoPE function says before or after RoPE; rebuilding without each switched-on key
   says which key a bias or norm depends on.
3. **Checked by running it.** What the structure leaves open (norm kind and offset, statistic per head or over
   the projection, fused layout) is chosen among the stage vocabulary by comparing ``rope_jax.hf_attention.
   attention_layer`` with the module's own output at positions 0.. and 50,000..; the entry keeps the error
   (``verified``). A model type no choice reproduces within 1e-5 is marked ``unported`` with the reason.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import pathlib
import re
import sys
import traceback
import warnings

os.environ["ATEN_CPU_CAPABILITY"] = "default"  # before torch is imported

import numpy as np
import torch
import transformers

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
from tests.fixtures import generate_audit_fixtures as tiny  # noqa: E402  (tiny-model helpers of the RoPE audit)

OUT = ROOT / "rope_jax" / "hf_attention_types.json"
TABLE = json.loads((ROOT / "rope_jax" / "hf_model_types.json").read_text())["model_types"]
AUDIT = json.loads((HERE / "model_types.json").read_text())["model_types"]
T = 12
STARTS = (0, 50000)
WINDOW = 5
TOLERANCE = 1e-5
SEED = 20261128
MAX_PARAMETERS = 20_000_000
FEATURE_FLAGS = re.compile(r"bias|qk_norm|qk_layernorm|use_qk|new_decoder_architecture|temperature|sliding")
KV_KEYS = ("num_key_value_heads", "num_kv_heads", "multi_query_group_num")
# Keys whose value the attention turns into a number it keeps, and the value set here so a match is unambiguous.
VALUE_KEYS = {"softcap": 5.0, "clip": 2.0, "multiplier": 0.3, "scalar": 24.0}

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()


def decoder_types() -> list[str]:
    return sorted(
        name
        for name, entry in TABLE.items()
        if not entry.get("unsupported") and entry["group"] != "wrapper" and not entry.get("alias_of")
    )


def attention_modules(model) -> dict[int, tuple[str, torch.nn.Module]]:
    found = {}
    for name, sub in model.named_modules():
        if type(sub).__name__.endswith("Attention") and isinstance(getattr(sub, "layer_idx", None), int):
            found.setdefault(int(sub.layer_idx), (name, sub))
    return found


def source_keys(cls) -> set[str]:
    """The config keys an attention class reads (``config.<key>`` in its source and its bases')."""
    keys: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("transformers.models"):
            with contextlib.suppress(OSError, TypeError):
                keys |= set(re.findall(r"config\.(\w+)", inspect.getsource(klass)))
    return keys


def base_config(model_type: str) -> dict:
    """Class defaults, with the sizes made tiny, every layer type present and every eps key a distinct value."""
    config = tiny.class_default_config(model_type)
    defaults = transformers.AutoConfig.for_model(model_type).to_dict()
    config.update(hidden_size=64, num_attention_heads=4, initializer_range=0.2)
    if "head_dim" in defaults:
        config["head_dim"] = 16
    for key in KV_KEYS:
        if key in defaults:
            config[key] = 2
    if defaults.get("rotary_dim"):
        config["rotary_dim"] = 8
    if "sliding_window" in defaults:
        config["sliding_window"] = WINDOW
    for key in ("max_position_embeddings", "n_positions"):  # learned-free, but GPT-J / CodeGen size a sin table
        if isinstance(defaults.get(key), int) and defaults[key] < 2 * STARTS[-1]:
            config[key] = 2 * STARTS[-1]
    if TABLE[model_type]["group"] == "P":  # M-RoPE (the RoPE audit's group): t/h/w sections of the tiny head's 8 pairs
        config["rope_parameters"] = {**(TABLE[model_type].get("defaults") or {}), "mrope_section": [2, 3, 3]}
    for index, key in enumerate(sorted(k for k, v in defaults.items() if "eps" in k and isinstance(v, float))):
        config[key] = 1e-5 * (index + 2)
    config.pop("layer_types", None) if "layer_types" in config and "full_every" in TABLE[model_type] else None
    return tiny.shrink(config)


def feature_switches(model_type: str, keys: set[str]) -> dict:
    """Values that switch on what the attention's config keys control."""
    defaults = transformers.AutoConfig.for_model(model_type).to_dict()
    switches = {}
    for key in sorted(keys & set(defaults)):
        value = defaults[key]
        if isinstance(value, bool) and not value and FEATURE_FLAGS.search(key) and "alibi" not in key:
            switches[key] = True
        for word, setting in VALUE_KEYS.items():
            if word in key and (value is None or isinstance(value, (int, float))) and not isinstance(value, bool):
                switches[key] = int(setting) if isinstance(value, int) else setting
    return switches


def buildable(config: dict, switches: dict) -> dict:
    """The switches a config class accepts together (some validate combinations): all, else one by one."""
    try:
        build({**config, **switches})
        return switches
    except Exception:
        kept: dict = {}
        for key, value in switches.items():
            with contextlib.suppress(Exception):
                build({**config, **kept, key: value})
                kept[key] = value
        return kept


def build(config: dict):
    _, text = tiny.hf_config(config)
    text._attn_implementation = "eager"
    model_class = base_model_class(text)
    with contextlib.suppress(TypeError, NotImplementedError), torch.device("meta"):
        # count first: a class default that stays large is refused, not built
        size = sum(p.numel() for p in model_class(text).parameters())
        if size > MAX_PARAMETERS:
            raise ValueError(f"its tiny model still has {size / 1e6:.0f}M parameters (sizes the audit cannot shrink)")
    torch.manual_seed(SEED)
    model = model_class(text).eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 1:
                param.add_(0.1 * torch.randn_like(param))
    return text, model


def base_model_class(text):
    """The model class of a text config: AutoModel's, else the modeling module's ``...Model`` for that config."""
    with contextlib.suppress(ValueError, KeyError):
        return transformers.AutoModel._model_mapping[type(text)]
    module = tiny.modeling_module(text)
    found = [
        cls
        for name, cls in vars(module).items()
        if isinstance(cls, type) and name.endswith("Model") and getattr(cls, "config_class", None) is type(text)
    ]
    if not found:
        raise ValueError(f"no base model class for {type(text).__name__}")
    return min(found, key=lambda cls: len(cls.__name__))


class Replay:
    """A cache stub for calling an attention module again as if ``offset`` tokens were cached before (Llama 4's
    temperature tuning counts cached tokens): it reports that length and returns the new keys unchanged."""

    def __init__(self, offset: int):
        self.offset = offset

    def get_seq_length(self, layer_idx=0):
        return self.offset

    def update(self, key, value, layer_idx, **_):
        return key, value


def run(text, model, start: int) -> dict[int, dict]:
    """One forward at positions start..start+T-1: per layer its input, output, mask and the norm/RoPE call order."""
    records: dict[int, dict] = {}
    events: list[tuple[str, int]] = []
    current = [None]
    hooks = []
    for layer, (_, attn) in attention_modules(model).items():

        def pre(module, args, kwargs, layer=layer):
            current[0] = layer
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            records[layer] = {"x": hidden.detach().clone(), "kwargs": dict(kwargs), "args": args}

        def post(module, args, kwargs, output, layer=layer):
            out = output[0] if isinstance(output, tuple) else output
            records[layer]["out"] = out.detach().clone()

        hooks.append(attn.register_forward_pre_hook(pre, with_kwargs=True))
        hooks.append(attn.register_forward_hook(post, with_kwargs=True))
        for name, sub in attn.named_modules():
            if name and "norm" in name.lower() and "." not in name:
                hooks.append(sub.register_forward_hook(lambda *_, layer=layer: events.append(("norm", layer))))
    module = sys.modules[type(next(iter(attention_modules(model).values()))[1]).__module__]
    names = [n for n in tiny.apply_names(text) if hasattr(module, n)] or [
        n for n in dir(module) if n.startswith("apply_rotary")
    ]
    originals = {n: getattr(module, n) for n in names}

    def spy(fn):
        def wrapped(*args, **kwargs):
            events.append(("rope", current[0]))
            return fn(*args, **kwargs)

        return wrapped

    vocab = getattr(text, "vocab_size", 256) or 256
    ids = torch.from_numpy((np.arange(T) * 7 + 3)[None] % vocab)
    try:
        for n, fn in originals.items():
            setattr(module, n, spy(fn))
        with torch.no_grad():
            model(input_ids=ids, position_ids=torch.arange(start, start + T)[None], use_cache=False)
    finally:
        for n, fn in originals.items():
            setattr(module, n, fn)
        for hook in hooks:
            hook.remove()
    for layer, record in records.items():
        record["order"] = [kind for kind, at in events if at == layer]
        mask = record["kwargs"].get("attention_mask")
        record["visible"] = (
            None
            if mask is None
            else int((mask[0, 0, -1, :T] == 0).sum())
            if mask.dtype != torch.bool
            else int(mask[0, 0, -1, :T].sum())
        )
    return records


def replay_with_offset(model, layer: int, record: dict, offset: int) -> torch.Tensor:
    """The layer's output when ``offset`` tokens are reported cached (see :class:`Replay`)."""
    _, attn = attention_modules(model)[layer]
    kwargs = {**record["kwargs"], "cache": Replay(offset)}
    kwargs.pop("past_key_values", None)
    with torch.no_grad():
        output = attn(*record["args"], **kwargs)
    return output[0] if isinstance(output, tuple) else output


def value_rule(value, config: dict, keys: set[str]) -> dict | None:
    """The config key (among ``keys``) holding ``value``."""
    for key in sorted(keys):
        candidate = config.get(key)
        if isinstance(candidate, (int, float)) and not isinstance(candidate, bool) and np.isclose(candidate, value):
            return {"key": key, "default": transformers.AutoConfig.for_model(config["model_type"]).to_dict().get(key)}
    return None


def structure(model_type: str, config: dict, switches: dict, layer: int) -> dict:
    """Parameters under layer ``layer``'s attention with and without each switch: which key each depends on."""

    def params(cfg) -> dict[str, tuple]:
        _, model = build(cfg)
        _, attn = attention_modules(model)[layer]
        return {name: tuple(p.shape) for name, p in attn.named_parameters()}

    with_all = params({**config, **switches})  # config: without the switches
    depends: dict[str, list[str]] = {}
    for key, value in switches.items():
        if not isinstance(value, bool):
            continue
        without = params({**config, **{k: v for k, v in switches.items() if k != key}})
        for name in set(with_all) - set(without):
            depends.setdefault(name, []).append(key)
    return {"params": with_all, "depends": depends}


def condition(names: list[str], depends: dict[str, list[str]]) -> object:
    keys = sorted({key for name in names for key in depends.get(name, [])})
    if not keys:
        return True
    rules = [{"key": key, "default": False} for key in keys]
    return rules[0] if len(rules) == 1 else rules


def derive(model_type: str) -> tuple[dict, dict]:
    """The attention entry of one model type, and what the check needs (config, model, records)."""
    if TABLE[model_type].get("head_dim_key"):  # the RoPE audit found a separate rope slice of the head
        return {"unported": "multi-head latent attention (low-rank q/kv, a shared rope key): not RoPEAttention's "
                "shape; build it from the pure functions (the DeepSeek-V3 port in tests/ports.py)"}, {}  # fmt: skip
    config = base_config(model_type)
    text, model = build(config)
    first = min(attention_modules(model))
    _, attn = attention_modules(model)[first]
    keys = source_keys(type(attn))
    switches = buildable(config, feature_switches(model_type, keys))
    info = structure(model_type, config, switches, first)
    config = {**config, **switches}
    text, model = build(config)
    full = text.to_dict()
    layers = attention_modules(model)
    params, depends = info["params"], info["depends"]
    _, attn = layers[first]
    entry: dict = {"attention": type(attn).__name__, "switched_on": switches}
    if getattr(attn, "is_causal", True) is False:
        entry["unported"] = "an encoder: its attention is bidirectional (RoPEAttention(causal=False) by hand)"
        return entry, {}
    heads, head_dim = 4, 16
    fused = next((params[n][0] for n in ("qkv_proj.weight", "query_key_value.weight") if n in params), None)
    k_rows = params.get("k_proj.weight", (None,))[0]
    kv = k_rows // head_dim if k_rows else (fused // head_dim - heads) // 2 if fused else None
    rule = next((k for k in KV_KEYS if full.get(k) == kv), None) if kv else None
    # a config key holding K; else as many as query heads (None), or a constant of the class (Falcon's one)
    entry["num_kv_heads"] = {"key": rule, "default": None} if rule else None if kv in (None, heads) else kv
    if "qkv_proj.weight" in params:
        entry["qkv_layout"] = ["concatenated", "codegen"]  # chosen by the check
    names = set(params)
    qkv_bias = [n for n in names if n.split(".")[0] in ("q_proj", "k_proj", "v_proj", "qkv_proj", "query_key_value")
                and n.endswith("bias")]  # fmt: skip
    o_bias = [n for n in names if n.split(".")[0] in ("o_proj", "dense", "out_proj") and n.endswith("bias")]
    entry["bias"] = {
        "qkv": condition(qkv_bias, depends) if qkv_bias else False,
        "o": condition(o_bias, depends) if o_bias else False,
    }
    scaling = getattr(attn, "scaling", None)
    if isinstance(scaling, (int, float)) and not np.isclose(scaling, head_dim**-0.5):
        for power in (-0.5, 1.0):
            found = value_rule(scaling ** (1 / power), full, keys)
            if found:
                entry["scale"] = {**found, "power": power}
                break
        else:  # a constant of the class (Gemma 3n / 4 normalise q and k and scale by 1)
            entry["scale"] = {"key": None, "default": float(scaling), "power": 1.0}
    defaults = transformers.AutoConfig.for_model(model_type).to_dict()
    for key in switches:  # value keys the attention reads: the check below confirms what they do
        for word, column in (("softcap", "softcap"), ("clip", "clip_qkv")):
            if word in key:  # read by the class; whether it acts (Gemma 3 keeps an unused softcap) is checked
                entry[column] = [{"key": key, "default": defaults.get(key)}, None]
    if getattr(attn, "attn_temperature_tuning", False) and hasattr(attn, "floor_scale"):
        entry["temperature"] = {
            "when": {"key": "attn_temperature_tuning", "default": True},
            "floor_scale": value_rule(attn.floor_scale, full, keys),
            "attn_scale": value_rule(attn.attn_scale, full, keys),
        }
    norm_names = [n for n in names if re.match(r"(q|k|query|key)_(norm|layernorm)\.", n)]
    q_norm = sorted(n for n in norm_names if n.startswith(("q_", "query_")))
    records = {start: run(text, model, start) for start in STARTS}
    import rope_jax

    ropes = rope_jax.layer_ropes(text.to_dict())
    has_norm = {
        layer: any(re.match(r"(q|k|qk|query|key)_(norm|layernorm)$", n) for n, _ in module.named_children())
        for layer, (_, module) in layers.items()
    }
    if has_norm[first] or any(has_norm.values()):
        weight = next((params[n] for n in q_norm if n.endswith("weight")), None)
        order = next((r["order"] for r in records[0].values() if "norm" in r["order"]), [])
        where = "after" if "rope" in order and order.index("rope") < order.index("norm") else "before"
        per_head = weight is not None and (
            len(weight) == 2 or any(".norms." in n for n in q_norm) or weight[0] != head_dim
        )
        norm_module = next(m for (_, a) in layers.values() for n, m in a.named_children() if "norm" in n)
        entry["qk_norm"] = {
            "kind": ["rms", "layer"],
            "over": ["head", "projection"] if per_head else "head",
            "weights": None if weight is None else "per_head" if per_head else "shared",
            "bias": any(n.endswith("bias") for n in q_norm),
            "where": where,
            "eps": _norm_eps(norm_module, full),
            "when": condition(q_norm, depends) if q_norm else _flag("use_qk_norm", full),
        }
        with_rope = {layer for layer in layers if ropes[layer] is not None}
        if {layer for layer, on in has_norm.items() if on} == with_rope != set(layers):
            entry["qk_norm"]["layers"] = "rope"
    out_norm = [n for n in names if n.startswith("attn_sub_norm.")]
    if out_norm:
        entry["output_norm"] = {"kind": ["rms", "layer"], "over": "projection", "weights": "per_head",
                                "eps": _norm_eps(attn.attn_sub_norm, full)}  # fmt: skip
    if any(n.split(".")[0] in ("q_norm", "k_norm", "q_layernorm", "query_layernorm") for n in names) or out_norm:
        entry["norm_offset"] = [0.0, 1.0]
    entry["sink_logits"] = "sinks" in names
    if entry.get("clip_qkv") and entry.get("qk_norm"):
        entry["clip_after_norm"] = [False, True]
    visible = {layer: r["visible"] for layer, r in records[0].items()}
    windowed = {layer for layer, count in visible.items() if count is not None and count < T}
    if windowed and "sliding_window" in config:
        counts = {visible[layer] for layer in windowed}
        types = getattr(text, "layer_types", None)
        sliding = {i for i, kind in enumerate(types or []) if kind == "sliding_attention"}
        entry["window"] = {
            "key": "sliding_window",
            "default": transformers.AutoConfig.for_model(model_type).to_dict().get("sliding_window"),
            "extra_keys": counts.pop() - WINDOW if len(counts) == 1 else None,
            "layers": "all" if windowed == set(visible) else "sliding" if windowed == sliding else None,
            "when": condition(["sliding"], {"sliding": [k for k in switches if "sliding" in k]}),
        }
        pattern = default_pattern(model_type)
        if entry["window"]["layers"] == "sliding" and pattern:
            entry["window"]["pattern"] = pattern
        if entry["window"]["layers"] is None or entry["window"]["extra_keys"] is None:
            entry["unported"] = f"its window covers layers {sorted(windowed)} of {sorted(visible)}, no rule found"
    return entry, {"config": config, "text": text, "model": model, "records": records}


def default_pattern(model_type: str) -> list[str] | None:
    """The layer types the config class derives when config.json gives none, as one period (None: not periodic
    or not derived)."""
    types = transformers.AutoConfig.for_model(model_type, num_hidden_layers=12).to_dict().get("layer_types")
    for period in range(1, 7):
        if types and all(kind == types[i % period] for i, kind in enumerate(types)):
            return types[:period]
    return None


def _flag(name: str, config: dict):
    return {"key": name, "default": True} if name in config else True


def _norm_eps(module, config: dict):
    for sub in module.modules():
        for attribute in ("variance_epsilon", "eps", "epsilon"):
            value = getattr(sub, attribute, None)
            if isinstance(value, float):
                rule = value_rule(value, config, {k for k in config if "eps" in k})
                return rule if rule else value
    return 1e-6


# ------------------------------------------------------------------------------------------------ the check


def choices(entry: dict) -> list[tuple[tuple[str, ...], list]]:
    """Open choices of an entry: (path, options)."""
    open_ = []
    for path in (("qkv_layout",), ("qk_norm", "kind"), ("qk_norm", "over"), ("output_norm", "kind"), ("norm_offset",),
                 ("clip_after_norm",), ("softcap",), ("clip_qkv",)):  # fmt: skip
        node = entry
        for part in path[:-1]:
            node = node.get(part) or {}
        if isinstance(node.get(path[-1]), list):
            open_.append((path, node[path[-1]]))
    return open_


def with_choice(entry: dict, picks: dict) -> dict:
    out = json.loads(json.dumps(entry))
    for path, value in picks.items():
        node = out
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return out


def layer_has_no_rope(text, layer: int) -> bool:
    import rope_jax

    return rope_jax.layer_ropes(text.to_dict())[layer] is None


def layers_to_check(text, model) -> list[int]:
    """The first layer of each kind: layer type, with or without RoPE."""
    import rope_jax

    ropes = rope_jax.layer_ropes(text.to_dict())
    types = getattr(text, "layer_types", None) or [None] * len(ropes)
    seen, chosen = set(), []
    for layer in sorted(attention_modules(model)):
        kind = (types[layer], ropes[layer] is None)
        if kind not in seen:
            seen.add(kind)
            chosen.append(layer)
    return chosen


def compare(model_type: str, entry: dict, probe: dict) -> float:
    """Max relative error of the one-call layer against transformers over the checked layers and positions."""
    from flax import nnx

    from rope_jax import hf_attention

    text, model, records = probe["text"], probe["model"], probe["records"]
    hf_attention.ATTENTION_TYPES = {model_type: entry}  # the candidate, before the table is written
    worst = 0.0
    for layer in layers_to_check(text, model):
        name, attn = attention_modules(model)[layer]
        state = {f"{name}.{k}": v.detach().numpy() for k, v in attn.state_dict().items()}
        ours = hf_attention.attention_layer(
            text.to_dict(), layer, rngs=nnx.Rngs(0), state_dict=state, prefix=f"{name}."
        )
        for start in STARTS:
            record = records[start][layer]
            expected = record["out"]
            if start and entry.get("temperature") and layer_has_no_rope(text, layer):
                expected = replay_with_offset(model, layer, record, start)
            positions = positions_for(ours, start)
            out = np.asarray(ours(record["x"].numpy(), positions), np.float64)
            e = expected.numpy().astype(np.float64)
            worst = max(worst, float(np.max(np.abs(out - e).max(-1) / np.abs(e).max(-1))))
    return worst


def positions_for(layer, start: int) -> np.ndarray:
    """Text positions ``[1, T]``; for an M-RoPE layer the same position on its t, h and w axes ``[1, T, 3]``."""
    positions = np.arange(start, start + T)[None]
    axes = getattr(layer.rope, "num_axes", None)
    return positions if axes is None else np.repeat(positions[..., None], axes, axis=-1)


def settle(model_type: str, entry: dict, probe: dict) -> dict:
    """Choose each open option by the check (one at a time, keeping the best), then record the error."""
    picks = {path: options[0] for path, options in choices(entry)}
    for path, options in choices(entry) * 2:  # two rounds: a choice made while another was wrong is revisited
        errors = {}
        for option in options:
            try:
                errors[json.dumps(option)] = compare(model_type, with_choice(entry, {**picks, path: option}), probe)
            except Exception as error:  # a layout that does not fit is one more wrong option
                errors[json.dumps(option)] = float("inf")
                print(f"  {model_type}: {path} = {option} fails: {type(error).__name__}: {str(error)[:120]}")
        best = min(errors, key=errors.get)
        picks[path] = json.loads(best)
    final = with_choice(entry, picks)
    try:
        error = compare(model_type, final, probe)
    except ValueError as failure:
        unused = re.search(r"left unused: (\[.*?\])", str(failure))
        if unused is None:
            raise
        final["unported"] = f"attention parameters outside the stage vocabulary: {unused.group(1)}"
        return final
    except Exception as failure:
        final["unported"] = f"the one-call layer fails: {type(failure).__name__}: {str(failure)[:200]}"
        return final
    if error <= TOLERANCE:
        final["verified"] = {"max_relative_error": float(f"{error:.3g}"), "positions": list(STARTS), "length": T}
    else:
        final["unported"] = f"no choice of stages reproduces its attention (best relative error {error:.2g})"
    return final


def main(argv: list[str]) -> int:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30))
    wanted = argv or decoder_types()
    table = json.loads(OUT.read_text())["model_types"] if argv and OUT.exists() else {}
    for model_type in wanted:
        try:
            entry, probe = derive(model_type)
            if not entry.get("unported"):
                entry = settle(model_type, entry, probe)
        except Exception as error:
            reason = f"{type(error).__name__}: {str(error)[:160]}"
            entry = {"unported": f"the audit could not build and run its tiny model ({reason})"}
            traceback.print_exc(limit=1)
        table[model_type] = entry
        print(f"{model_type:28s} {entry.get('verified') or entry.get('unported')}", flush=True)
    result = {
        "transformers_version": transformers.__version__,
        "torch": torch.__version__,
        "model_types": dict(sorted(table.items())),
    }
    OUT.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    ported = sum(1 for e in table.values() if "verified" in e)
    print(f"{ported} of {len(table)} model types port in one call -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
