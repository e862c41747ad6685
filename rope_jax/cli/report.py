"""``rope-jax inspect``: what RoPE a config.json (or a bundled preset) describes, pair by pair."""

from __future__ import annotations

import dataclasses
import math
import pathlib

import numpy as np

from rope_jax.frequencies import SCALING_RULES
from rope_jax.hf import (
    config_path,
    from_hf_config,
    layer_ropes,
    num_layers,
    original_context_length,
    preset_names,
    rope_layer_types,
)
from rope_jax.hf import load_config as load_config_of
from rope_jax.nd import RoPENd
from rope_jax.rotary import RoPE
from rope_jax.vision import VISION_MODEL_TYPES, tower_rope

AXES = "thw"


def presets() -> list[str]:
    """Names of the bundled configs (RoPE-relevant keys of public checkpoints' config.json)."""
    return preset_names()


def load_config(name_or_path: str) -> tuple[dict, str]:
    """A config.json path, a model folder holding one or a preset name -> (config dict, label), read by
    :func:`rope_jax.hf.load_config` (the same rules and errors as from Python)."""
    path = config_path(name_or_path)
    preset = not pathlib.Path(name_or_path).exists()
    return load_config_of(name_or_path), (f"{name_or_path} (bundled preset)" if preset else str(path))


def supported_rope_types() -> str:
    """One line per registered scaling rule: its ``rope_type``, class and first docstring line."""
    lines = []
    for rope_type, rule in SCALING_RULES.items():
        summary = (rule.__doc__ or "").strip().split("\n")[0]
        lines.append(f"  {rope_type:13s} {rule.__name__:13s} {summary}")
    return "\n".join(lines)


def describe(rope: RoPE | RoPENd, original_length: int | None = None) -> str:
    """A text report: type, dims, layout, scaling, then frequency and wavelength per pair."""
    lines = []
    if isinstance(rope, RoPENd):
        matrix = rope.frequency_matrix
        inv_freq, owner = matrix.sum(axis=0), np.argmax(matrix != 0, axis=0)
        sections = [int((owner == a).sum()) for a in range(rope.num_axes)]
        lines.append(f"rope type      {rope.name} (multimodal, {rope.num_axes} axes, pairs per axis {sections})")
        base = None
    else:
        inv_freq, owner = rope.inv_freq, None
        base = RoPE(head_dim=rope.head_dim, theta=rope.theta, rotary_dim=rope.rotary_dim).inv_freq
        lines.append(f"rope type      {rope.rope_type} ({type(rope.scaling).__name__})")
        lines.append(f"theta          {rope.theta:g}")
        if rope.scaling.length_dependent:
            lines.append("               frequencies below are those at the original length; they change with it")
    rotary_dim = int(rope.rotary_dim or rope.head_dim)
    rotated = 100 * rotary_dim / rope.head_dim
    lines += [
        f"head dim       {rope.head_dim}",
        f"rotary dim     {rotary_dim} ({rotated:.0f}% of the head, {rotary_dim // 2} pairs)",
        "layout         " + ("interleaved pairs (2i, 2i+1)" if rope.interleaved else "half-split pairs (i, i+P)"),
        f"attn scaling   {rope.attention_scaling:.6f} (applied to cos and sin)",
    ]
    if isinstance(rope, RoPE) and dataclasses.fields(rope.scaling):  # type: ignore[arg-type]
        lines.append(f"scaling        {rope.scaling}")
    header = f"{'pair':>5s} {'inv_freq':>12s} {'wavelength':>12s}"
    if base is not None:
        header += f" {'unscaled':>12s} {'stretch':>8s}"
    if original_length:
        header += f" {'turns/ctx':>10s}"
    if owner is not None:
        header += f" {'axis':>5s}"
    lines += ["", header]
    for i, w in enumerate(np.asarray(inv_freq, np.float64)):
        wavelength = 2 * math.pi / w if w > 0 else math.inf
        row = f"{i:5d} {w:12.6g} {wavelength:12.6g}"
        if base is not None:
            row += f" {2 * math.pi / base[i]:12.6g} {base[i] / w if w > 0 else math.inf:8.3f}"
        if original_length:
            row += f" {original_length / wavelength:10.3g}"
        if owner is not None:
            row += f" {AXES[owner[i]] if isinstance(rope, RoPENd) and rope.num_axes == 3 else owner[i]:>5}"
        lines.append(row)
    return "\n".join(lines)


def _ranges(indices: list[int]) -> str:
    """[0, 1, 2, 4] -> '0-2, 4'."""
    spans: list[list[int]] = []
    for i in indices:
        if spans and spans[-1][1] == i - 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def inspect_config(name_or_path: str) -> tuple[str, list[tuple[str | None, RoPE | RoPENd]]]:
    """Full ``inspect`` text for a preset or path, plus the RoPE objects it describes.

    With a layer count in the config, every layer is accounted for (:func:`rope_jax.layer_ropes`): which
    layers share which RoPE and which apply none. Otherwise one section per layer type.
    """
    config, label = load_config(name_or_path)
    entry = VISION_MODEL_TYPES.get(str(config.get("model_type")))
    if "architecture" in config or (entry is not None and not entry.get("vision_model_type")):  # a vision tower
        tower, entry = tower_rope(config)  # a transformers vision config, or a timm one ({"architecture": ...})
        layout = ", ".join(f"{key} {value}" for key, value in sorted(entry["layout"].items()))
        coords = ", ".join(f"{key} {value}" for key, value in sorted(entry["coords"].items()))
        source = entry.get("tower") or f"timm {config['architecture']} ({entry['family']})"
        text = f"config         {label}\nvision tower   {source}\nfrequencies    {layout}\n"
        text += f"coordinates    {coords}\n" + describe(tower)
        return text, [(None, tower)]
    original = original_context_length(config)
    parts = [f"config         {label}"]
    ropes: list[tuple[str | None, RoPE | RoPENd]] = []
    if num_layers(config) is not None:
        per_layer = layer_ropes(config)
        distinct = list(dict.fromkeys(per_layer))
        nope = [i for i, rope in enumerate(per_layer) if rope is None]
        parts.append(f"layers         {len(per_layer)}" + (f"; no RoPE on layers {_ranges(nope)}" if nope else ""))
        for rope in distinct:
            if rope is None:
                continue
            layers = _ranges([i for i, other in enumerate(per_layer) if other == rope])
            ropes.append((f"layers {layers}", rope))
            if len(distinct) > 1:
                parts.append(f"\n[layers {layers}]")
            parts.append(describe(rope, original))
    else:
        for layer_type in rope_layer_types(config):
            rope = from_hf_config(config, layer_type=layer_type)
            ropes.append((layer_type, rope))
            if layer_type is not None:
                parts.append(f"\n[{layer_type}]")
            parts.append(describe(rope, original))
    if original:
        parts.append(
            f"\nturns/ctx: full turns of each pair over {original} positions (the original context); "
            "pairs under ~1 turn never completed a cycle in training."
        )
    return "\n".join(parts), ropes


def plot_wavelengths(ropes, path: str, title: str) -> str:
    """Wavelength per pair (log scale) for each RoPE; writes a PNG and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, rope in ropes:
        inv = rope.frequency_matrix.sum(axis=0) if isinstance(rope, RoPENd) else rope.inv_freq
        inv = np.asarray(inv, np.float64)
        wavelength = np.where(inv > 0, 2 * np.pi / np.maximum(inv, 1e-300), np.nan)
        ax.semilogy(np.arange(len(inv)), wavelength, marker=".", label=label or "all layers")
    ax.set_xlabel("pair index")
    ax.set_ylabel("wavelength (positions)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
