#!/usr/bin/env python
"""What each audited model type's config class does to the fields rope_jax's loader reads, found by running it.

    python tools/hf_audit/audit_config_classes.py      (any env with transformers; no torch needed)

transformers never reads a config.json as a plain dict: it builds the model type's config class, whose
dataclass defaults fill the keys a publisher left out, whose ``attribute_map`` aliases other names
(DBRX ``d_model`` -> ``hidden_size``), whose ``__post_init__`` derives fields (layer types from an interval,
the head dim from the hidden size), and, for multimodal wrappers, whose sub-config specs pick the class of
the text model. This script finds each of those for every model type of ``model_types.json`` by
instantiating the class with probe values, and checks every rule it records against the class:

* ``defaults``: the loader-read fields of ``Config()`` (canonical names).
* ``attribute_map``: the aliases of the loader-read fields.
* ``head_dim``: ``"hidden_size // num_attention_heads"`` when a missing head dim follows the given sizes,
  ``"class default"`` when it stays the constant default, ``"overwritten"`` when a given one is replaced.
* ``layer_types``: the default layer pattern as ``cycle`` (types repeating from the first layer, or from the
  last with ``from_end``), ``head`` (types forced on the first layers), ``last`` (type forced on the last
  layer, ``last_forced`` when even a given list gets it) and ``key`` (the config key or keyword that sets the
  cycle's period); ``min_layers`` when smaller models get another layout; ``depends_on`` names other keys
  (with their defaults) that change the pattern when set otherwise (the loader then needs ``layer_types``);
  ``"unfitted"`` when no such pattern reproduces the class.
* ``vision``: the config describes image or video patches (``patch_size`` / ``image_size``) and no vocabulary.
* ``wrappers``: for every composite config class in transformers, the class its ``text_config`` is built
  with (``by_class``: whatever model type the dict names) or the default model type, plus the model types
  its ``__post_init__`` renames (Kimi-K2.5: ``kimi_k2`` -> ``deepseek_v3``).
* ``aliases``: model types transformers maps to the class of another (``CONFIG_MAPPING``, wrapper renames).

Writes ``config_classes.json`` beside this file; ``audit_transformers.py`` merges it into ``model_types.json``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import textwrap
import warnings

import transformers
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
HERE = os.path.dirname(os.path.abspath(__file__))

FIELDS = (
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "num_hidden_layers",
    "sliding_window",
    "max_position_embeddings",
    "global_head_dim",
    "qk_rope_head_dim",
    "rotary_dim",
)
PROBE_LAYERS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 24, 25, 31)
VISION_KEYS = ("patch_size", "image_size")
VIDEO_KEYS = ("tubelet_size", "num_frames", "frames_per_clip")


def canonical(cls, name: str) -> str:
    """The attribute a canonical field name is stored under (``attribute_map`` resolved)."""
    return dict(getattr(cls, "attribute_map", {}) or {}).get(name, name)


def build(cls, **kwargs):
    try:
        return cls(**kwargs)
    except Exception:
        return None


def post_init_source(cls) -> str:
    sources = []
    for klass in cls.__mro__:
        if klass.__module__.startswith("transformers.models.") and "__post_init__" in klass.__dict__:
            sources.append(textwrap.dedent(inspect.getsource(klass.__dict__["__post_init__"])))
    return "\n".join(sources)


def keyword_names(source: str) -> list[str]:
    """Keywords ``__post_init__`` reads from ``kwargs`` (not dataclass fields: they never reach ``to_dict``)."""
    return sorted(set(re.findall(r"kwargs\.(?:get|pop)\(\s*[\"'](\w+)[\"']", source)))


def jsonable(value):
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


# ------------------------------------------------------------------------------------------------ head dim


def head_dim_rule(cls, defaults: dict) -> str | None:
    heads, hidden = defaults.get("num_attention_heads"), defaults.get("hidden_size")
    fields = cls.__dataclass_fields__
    if canonical(cls, "head_dim") not in fields or not isinstance(heads, int) or not isinstance(hidden, int):
        return None
    probe = 48 if hidden // heads != 48 else 40
    config = build(cls, **{canonical(cls, "hidden_size"): heads * probe, canonical(cls, "num_attention_heads"): heads})
    if config is None:
        return "unprobed"
    value = field_value(config, config.to_dict(), "head_dim")
    given = build(cls, **{canonical(cls, "head_dim"): 24})
    if given is not None and field_value(given, given.to_dict(), "head_dim") != 24:
        return "overwritten"
    if value is None or value == probe:
        return "hidden_size // num_attention_heads"
    if value == defaults.get("head_dim"):
        return "class default"
    return "other"


# ---------------------------------------------------------------------------------------------- layer types


def layer_types_for(cls, layers: int, **kwargs) -> list[str] | None:
    config = build(cls, **{canonical(cls, "num_hidden_layers"): layers}, **kwargs)
    types = None if config is None else getattr(config, "layer_types", None)
    return None if types is None else list(types)


def expand(pattern: dict, layers: int, period: int | None = None) -> list[str]:
    """The layer types a pattern gives (the loader's rule, in rope_jax/hf.py, written again here to check it)."""
    cycle = pattern["cycle"]
    if period is not None:
        odd = next(t for t in cycle if cycle.count(t) == 1)
        other = next(t for t in cycle if t != odd)
        cycle = [odd] + [other] * (period - 1) if cycle[0] == odd else [other] * (period - 1) + [odd]
    types = [cycle[(layers - 1 - i if pattern.get("from_end") else i) % len(cycle)] for i in range(layers)]
    for i, kind in enumerate(pattern.get("head", [])[:layers]):
        types[i] = kind
    if pattern.get("last") and layers:
        types[-1] = pattern["last"]
    return types


def fit(samples: dict[int, list[str]]) -> dict | None:
    """The simplest pattern reproducing every sample: shortest cycle, then fewest forced layers."""
    kinds = sorted({t for types in samples.values() for t in types})
    for period in range(1, 13):
        for head in range(0, 4):
            for last in [None, *kinds]:
                for from_end in (False, True):
                    pattern = guess(samples, period, head, last, from_end)
                    if pattern and all(expand(pattern, n) == types for n, types in samples.items()):
                        return pattern
    return None


def guess(samples, period, head, last, from_end) -> dict | None:
    longest = samples[max(samples)]
    n = len(longest)
    cycle: list[str | None] = [None] * period
    for i, kind in enumerate(longest):
        if i < head or (last and i == n - 1):
            continue
        j = (n - 1 - i if from_end else i) % period
        if cycle[j] not in (None, kind):
            return None
        cycle[j] = kind
    if None in cycle:
        return None
    pattern: dict = {"cycle": cycle}
    if head:
        pattern["head"] = longest[:head]
    if last:
        pattern["last"] = last
    if from_end:
        pattern["from_end"] = True
    return pattern


def period_key(cls, pattern: dict, candidates: list[str]) -> str | None:
    """The config key (field or keyword) whose value sets the cycle's period, checked at two other periods."""
    cycle = pattern["cycle"]
    if len(cycle) < 2 or len(set(cycle)) != 2 or not any(cycle.count(t) == 1 for t in set(cycle)):
        return None
    for key in candidates:
        ok = True
        for period in (3, 5):
            types = layer_types_for(cls, 17, **{key: period})
            if types is None or types != expand(pattern, 17, period):
                ok = False
                break
        if ok:
            return key
    return None


def switches(cls, defaults: dict) -> dict:
    """Probe values for the fields that could switch the layer pattern (windows, flags, layer counts)."""
    out = {}
    for name in cls.__dataclass_fields__:
        if name.startswith("_") or name in (canonical(cls, "num_hidden_layers"), "layer_types") or name not in defaults:
            continue
        value = defaults[name]
        if isinstance(value, bool):
            out[name] = not value
        elif re.search(r"layer|indices|idxs|ids$", name) and (value is None or isinstance(value, list)):
            out[name] = [1] if value != [1] else [2]  # which layers attend (Bamba's attn_layer_indices)
        elif re.search(r"window|interval|pattern|every|layers$|period|offset", name):
            if value is None:
                out[name] = 4096
            elif isinstance(value, int):
                out[name] = None if "window" in name else value + 1
    return out


def layer_pattern(cls, keywords: list[str]) -> dict | str | None:
    samples = {n: layer_types_for(cls, n) for n in PROBE_LAYERS}
    if all(types is None for types in samples.values()):
        return None
    pattern = None
    for minimum in PROBE_LAYERS[:-4]:  # small models may get their own layout (OLMo-Hybrid: one full layer)
        tail = {n: types for n, types in samples.items() if n >= minimum}
        if all(types is not None and len(types) == n for n, types in tail.items()):
            pattern = fit(tail)
        if pattern is not None:
            if minimum > 1:
                pattern["min_layers"] = minimum
            break
    if pattern is None:
        return "unfitted"
    base = cls()
    data = base.to_dict()
    defaults = {name: field_value(base, data, name) for name in cls.__dataclass_fields__}
    layers = canonical(cls, "num_hidden_layers")
    ints = [k for k, v in defaults.items() if isinstance(v, int) and not isinstance(v, bool) and k != layers]
    key = period_key(cls, pattern, keywords + ints)
    if key:
        pattern["key"] = key
    forced = layer_types_for(cls, 6, layer_types=[pattern["cycle"][0]] * 6)
    if pattern.get("last") and forced and forced[-1] == pattern["last"] != pattern["cycle"][0]:
        pattern["last_forced"] = True
    depends = {}
    for name, value in switches(cls, defaults).items():
        if name == key:
            continue
        types = layer_types_for(cls, 13, **{name: value})
        if types is not None and types != samples[13]:
            field = cls.__dataclass_fields__[name]  # the value a config.json without the key gets
            depends[name] = jsonable(defaults[name] if field.default is dataclasses.MISSING else field.default)
    if depends:
        pattern["depends_on"] = depends
    return pattern


# ------------------------------------------------------------------------------------------------ wrappers


def text_spec(cls) -> dict | None:
    spec = (getattr(cls, "sub_configs_defaults", None) or {}).get("text_config")
    if spec is None:
        return None
    by_class = issubclass(spec.config_class, transformers.PretrainedConfig)
    out = {"model_type": spec.model_type or getattr(spec.config_class, "model_type", None), "by_class": by_class}
    renames = {}
    source = post_init_source(cls)
    for literal in sorted(set(re.findall(r"[\"'](\w+)[\"']", source))):
        if literal in CONFIG_MAPPING or literal == "model_type":
            continue
        config = build(cls, text_config={"model_type": literal})
        text = None if config is None else getattr(config, "text_config", None)
        if text is not None and text.model_type != literal:
            renames[literal] = text.model_type
    if renames:
        out["renames"] = renames
    return out


# ---------------------------------------------------------------------------------------------------- main


def field_value(config, data: dict, name: str):
    """A field after ``__init__``; per-layer configs (Gemma 4) refuse a global read, ``to_dict`` has it."""
    try:
        return getattr(config, name, None)
    except Exception:
        return data.get(canonical(type(config), name))


def semantics(cls) -> dict:
    config = cls()
    out: dict = {"config_class": cls.__name__}
    data = config.to_dict()
    values = {name: field_value(config, data, name) for name in FIELDS}
    out["defaults"] = {name: jsonable(value) for name, value in values.items() if value is not None}
    aliases = {k: v for k, v in (getattr(cls, "attribute_map", {}) or {}).items() if k in (*FIELDS, "layer_types")}
    if aliases:
        out["attribute_map"] = aliases
    rule = head_dim_rule(cls, out["defaults"])
    if rule:
        out["head_dim"] = rule
    pattern = layer_pattern(cls, keyword_names(post_init_source(cls)))
    if pattern is not None:
        out["layer_types"] = pattern
    if any(key in data for key in VISION_KEYS) and "vocab_size" not in data:
        out["vision"] = "video" if any(key in data for key in VIDEO_KEYS) else "image"
    return out


def main() -> None:
    audit = json.load(open(os.path.join(HERE, "model_types.json")))
    names = sorted(set(audit["model_types"]) | set(audit.get("config_only_model_types", {})))
    result: dict = {"transformers_version": transformers.__version__, "model_types": {}, "wrappers": {}}
    for name in names:
        if name not in CONFIG_MAPPING:
            continue
        try:
            result["model_types"][name] = semantics(CONFIG_MAPPING[name])
        except Exception as error:
            result["model_types"][name] = {"error": f"{type(error).__name__}: {error}"[:200]}
        print(name, json.dumps(result["model_types"][name])[:240], flush=True)
    for name in sorted(CONFIG_MAPPING.keys()):
        try:
            spec = text_spec(CONFIG_MAPPING[name])
        except Exception as error:
            spec = {"error": f"{type(error).__name__}: {error}"[:200]}
        if spec:
            result["wrappers"][name] = spec
    aliases = {}
    for name in CONFIG_MAPPING.keys():
        own = CONFIG_MAPPING[name].model_type
        if own != name and own in audit["model_types"]:
            aliases[name] = {"model_type": own, "found": "CONFIG_MAPPING maps it to the same config class"}
    for wrapper, spec in result["wrappers"].items():
        for old, new in (spec.get("renames") or {}).items():
            aliases[old] = {"model_type": new, "found": f"the {wrapper} config class renames its text_config to it"}
    result["aliases"] = dict(sorted(aliases.items()))
    json.dump(result, open(os.path.join(HERE, "config_classes.json"), "w"), indent=1, sort_keys=True)
    print(len(result["model_types"]), "model types,", len(result["wrappers"]), "wrappers,", len(aliases), "aliases")


if __name__ == "__main__":
    main()
