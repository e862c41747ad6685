"""Audit of diffusers' transformers that rotate by RoPE (image, video and audio diffusion models).

    python tools/dit_audit/audit_dit.py

Part 1 (automatic, from the code): every ``models/transformers/*.py`` and ``models/controlnets/*.py`` module whose
source rotates (``rotary``, ``rope``, ``freqs_cis``... as words) is read with ``ast``: its model classes (every
``ModelMixin`` subclass it defines) and whether its RoPE code computes in float64 (``float64`` inside a
function or class whose name says RoPE, or in the ``freqs_dtype`` it passes to ``get_1d_rotary_pos_embed``).

Part 2 (hand-read, ``entries.py``): per model class, its frequency layout, precision, pair layout, token parts
and their coordinates, or why it is refused. The script fails when a scanned class has no entry, an entry names
a class the scan does not find, a supported entry's precision disagrees with the scan's float64 signal, or an
entry reads a config key its class's ``__init__`` does not take; then it writes the packaged table
``rope_jax/dit_model_types.json`` (with the class defaults) and ``docs/dit_model_types.md``.
``tests/fixtures/generate_dit_fixtures.py`` checks every supported entry by running the model's own code.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pathlib
import re
import sys
import warnings

import diffusers
from diffusers.models.modeling_utils import ModelMixin

warnings.filterwarnings("ignore")
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from entries import ENTRIES  # noqa: E402

OUT = ROOT / "rope_jax" / "dit_model_types.json"
DOCS = ROOT / "docs" / "dit_model_types.md"


MODELS = pathlib.Path(diffusers.__file__).parent / "models"
ROTATES = re.compile(r"\brotary|\brope\b|_rope\b|\brope_|RoPE|Rope[A-Z(]|RotaryPosEmbed|freqs_cis")
ROPE_NAME = re.compile(r"rope|rotary|posembed|embednd|freqs", re.IGNORECASE)


def model_class(name):
    return getattr(diffusers, name)


def scan():
    """``{class name: {"module": module, "float64": bool}}`` for every model class of a module that rotates."""
    found = {}
    for folder in ("transformers", "controlnets"):
        for path in sorted((MODELS / folder).glob("*.py")):
            source = path.read_text()
            if not ROTATES.search(source):
                continue
            tree = ast.parse(source)
            rope_code = " ".join(
                ast.get_source_segment(source, node) or ""
                for node in ast.walk(tree)
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and ROPE_NAME.search(node.name)
            )
            module = importlib.import_module(f"diffusers.models.{folder}.{path.stem}")
            imported = [  # RoPE classes a module takes from another (FLUX's ControlNet, Chroma, Wan VACE...)
                inspect.getsource(getattr(module, alias.asname or alias.name))
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
                for alias in node.names
                if ROPE_NAME.search(alias.name) and isinstance(getattr(module, alias.asname or alias.name, None), type)
            ]
            for code in list(imported):  # a deprecation shim (embeddings.FluxPosEmbed) names where the class lives
                for place, name in re.findall(r"from \.(\S+) import (\w+)", code):
                    target = importlib.import_module(f"diffusers.models.{place.lstrip('.')}")
                    imported.append(inspect.getsource(getattr(target, name)))
            rope_code = " ".join([rope_code, *imported])
            float64 = "float64" in rope_code or bool(re.search(r"freqs_dtype = .*float64", source))
            for name, value in vars(module).items():
                if isinstance(value, type) and issubclass(value, ModelMixin) and value.__module__ == module.__name__:
                    found[name] = {"module": path.stem, "float64": float64}
    return found


def config_keys(hand):
    """The config keys an entry reads (strings in its frequency and token specs that name no rule or part)."""
    keys = set()

    def walk(value, key=None):
        if isinstance(value, dict):
            for k, v in value.items():
                if k in ("key", "product", "divide", "sum") or key == "settings":
                    walk(v, "config")
                elif k in ("dims", "theta", "sections", "parameter", "divisors", "width") or key == "patch":
                    walk(v, "config" if k != "parameter" else None)
                elif k == "patch":
                    walk(v, "patch")
                elif k in ("settings", "tokens", "frequencies"):
                    walk(v, k)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and key in ("config", "patch"):
            keys.add(value)

    walk(hand)
    keys.update(hand.get("head_dim", []) if all(isinstance(k, str) for k in hand.get("head_dim", [])) else [])
    keys.update(hand.get("refused_when", {}))
    keys.update(hand.get("refused_unless", {}))
    return keys - {"wan", "cogvideox", "thirds", "halves", "head", "half", "sixths"}


def check(name, hand, signals, defaults):
    problems = []
    if hand.get("module") != signals["module"]:
        problems.append(f"{name}: in module {signals['module']}, the table says {hand.get('module')}")
    if hand.get("unsupported"):
        return problems
    spec = hand["frequencies"]
    float64 = spec.get("precision", "float32") != "float32" or spec.get("float64_ladder", False)
    if float64 != signals["float64"]:
        problems.append(f"{name}: the code computes its RoPE in {'float64' if signals['float64'] else 'float32'}, "
                        f"the table in {'float64' if float64 else 'float32'}")  # fmt: skip
    source = inspect.getsource(model_class(name).__init__)
    for key in hand.get("none_means", {}):  # what __init__ puts in place of None, read by hand: it must say so
        if not re.search(rf"if {key} is None:\s*\n\s*{key} = ", source):
            problems.append(f"{name}: the table says {key}=None means {hand['none_means'][key]}, __init__ does not")
    missing = sorted(k for k in config_keys(hand) if k not in defaults and k not in hand.get("factors", []))
    if missing:
        problems.append(f"{name}: the table reads config keys its __init__ does not take: {missing}")
    return problems


def class_defaults(cls):
    """The ``__init__`` defaults (what ``register_to_config`` records when a config.json leaves a key out)."""
    out = {}
    for key, parameter in inspect.signature(cls.__init__).parameters.items():
        if key != "self" and parameter.default is not inspect.Parameter.empty:
            value = parameter.default
            if isinstance(value, tuple):
                value = list(value)
            if value is None or isinstance(value, (bool, int, float, str, list)):
                out[key] = value
    return out


def main():
    found = scan()
    problems = [f"{name}: its module rotates but the table has no entry" for name in found if name not in ENTRIES]
    problems += [f"{name}: in the table but the scan finds no such class" for name in ENTRIES if name not in found]
    table = {}
    for name, hand in ENTRIES.items():
        hand = json.loads(json.dumps(hand))
        defaults = class_defaults(model_class(name))
        if name in found:
            problems += check(name, hand, found[name], defaults)
        if not hand.get("unsupported"):
            hand["defaults"] = defaults
        table[name] = hand
    if problems:
        raise SystemExit("the scan and the table disagree:\n  " + "\n  ".join(problems))
    OUT.write_text(
        json.dumps({"diffusers_version": diffusers.__version__, "classes": table}, indent=1, sort_keys=True) + "\n"
    )
    DOCS.write_text(docs(table))
    refused = sum(1 for e in table.values() if e.get("unsupported"))
    print(f"{len(table)} classes ({refused} refused) -> {OUT.relative_to(ROOT)}, {DOCS.relative_to(ROOT)}")


PRECISION = {
    "float32": "float32",
    "float64": "float64 angles (exact_frequencies, precise_angles)",
    "float64-rounded": "float64 products rounded to float32 (exact_frequencies)",
}
DIM_RULES = {
    "wan": "d - 4(d//6), 2(d//6), 2(d//6) of the head",
    "cogvideox": "d/4, 3d/8, 3d/8 of the head",
    "thirds": "thirds of the head",
    "halves": "halves of the head",
    "head": "the head",
    "half": "half the head",
    "sixths": "2(W//6) each of the inner width W",
}


def describe_frequencies(spec):
    ladder = spec.get("ladder", "pow")
    if ladder == "learned":
        text = f"learned per head ({spec['parameter']})"
    elif ladder == "mrope":
        text = f"theta^(-2i/d) over the head, t/h/w interleaved by {spec['sections']}"
    else:
        dims = spec["dims"]
        dims = DIM_RULES.get(dims, dims) if isinstance(dims, str) else dims
        rule = {"pow": "theta^(-2i/d)", "linspace": "pi/2 theta^linspace(0, 1)", "exp": "exp(-ln(P) i/n)"}[ladder]
        text = f"{rule} over {dims}, theta {spec.get('theta', 10000.0)}"
    parts = [text, spec.get("arrangement", "blocks")]
    if spec.get("ntk"):
        parts.append("NTK factors per axis")
    if spec.get("pad_front"):
        parts.append("zero-frequency pairs in front, per-head rows of the inner dim")
    if spec.get("divisors"):
        parts.append("angles divided per axis")
    if spec.get("fused_sum"):
        parts.append("axes summed with fused multiply-adds")
    layout = "adjacent pairs" if spec.get("interleaved") else "half-split"
    if spec.get("interleaved_when"):
        layout = "adjacent or half-split pairs by rope_type"
    if spec.get("blocks", 1) > 1:
        layout += f" in {spec['blocks']} blocks"
    parts.append(layout)
    return ", ".join(str(p) for p in parts)


def describe_tokens(tokens):
    out = []
    for part in tokens["parts"]:
        kind = part["part"]
        axes = part.get("axes", [])
        if part.get("kind") and part["kind"] != "index":
            out.append(f"{kind} ({part['kind']})")
        elif kind == "padding":
            out.append(f"padding at 0 (to {part.get('to', 'a multiple of ' + str(part.get('multiple')))})")
        else:
            out.append(f"{kind} ({', '.join(str(a) for a in axes)})")
    patch = [f"{p['key']}[{p['index']}]" if isinstance(p, dict) else str(p) for p in tokens["patch"]]
    return "; ".join(out) + f"; patch {' x '.join(patch)}"


def docs(table):
    lines = [
        "# Diffusion transformer classes",
        "",
        f"Written by `tools/dit_audit/audit_dit.py` from diffusers {diffusers.__version__}'s modeling and pipeline "
        "code;",
        "checked by `tests/test_dit_parity.py` against fixtures from each model's own forward pass.",
        "`rope, coords = rope_jax.dit_rope(config, latent_shape, text_len)` builds both; `rope(q, coords)` rotates.",
        "Frequencies: the ladder, over which features, laid out in blocks or alternating pairs, the pair layout.",
        "Tokens: the parts of the attention sequence in order and each part's coordinates per axis (`index`: the",
        "token's place in its part; `frame`, `row`, `col`: its place in the patch grid; `row_centred`: the row",
        "counted from the grid's middle; `max_half_side`: the largest half side of the images).",
        "",
        "| class | frequencies | tokens | precision | notes |",
        "|---|---|---|---|---|",
    ]
    for name, e in sorted(table.items()):
        if e.get("unsupported"):
            lines.append(f"| `{name}` | refused: {e['unsupported']} | | | |")
            continue
        notes = "; ".join(filter(None, [e.get("text"), e.get("pipeline")]))
        lines.append(
            f"| `{name}` | {describe_frequencies(e['frequencies'])} | {describe_tokens(e['tokens'])} | "
            f"{PRECISION[e['frequencies'].get('precision', 'float32')]} | {notes} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
