"""The accelerator suite: every figure of the README's GPU section, in one process, written to files.

    rope-jax bench --suite gpu --out DIR            # installed
    PYTHONPATH=. python3 -m rope_jax bench --suite gpu --out DIR   # from a checkout, nothing installed
    rope-jax bench --suite gpu --out DIR --quick    # tiny shapes: the CPU smoke test CI runs

It runs on any backend and picks its shapes from it (the accelerator shapes on GPU and TPU). Sections:

1. ``rope_throughput`` in bfloat16 and float32 at the prefill shape (q ``[8, 4096, 32, 128]``, k
   ``[8, 4096, 8, 128]`` on an accelerator) and a decode shape (batch 64, one token, positions near 100k):
   rope_jax (default, precise angles, table, both cos/sin formulations) against the elementwise copy pass.
2. The compiled HLO of the jitted calls on this backend: kernels per call, and whether cos/sin are written to
   memory (materialised) or computed inside the rotation.
3. ``attention_overhead`` with a LLaMA-3-8B-like layer: RoPE's share of the forward and forward+backward
   passes and of a KV-cache decode step; the decode step by kind of cache.
4. The cache-full check: the decode step with ``init_cache(..., check=True)`` against ``check=False``.
5. ``angle_precision``'s error table, computed on this backend, and the cost of precise angles.

Every timing is a ratio to a reference measured in the same round (interleaved rounds, order rotating),
reported as median and min-max. Writes ``results.json`` (every figure), ``results.md`` (the tables) and
``hlo.txt`` (the compiled rope_jax call) to DIR, prints the markdown on stdout and the progress on stderr.
A section that fails is recorded with its error and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import datetime
import functools
import json
import pathlib
import platform
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import rope_jax
from rope_jax.cli.benchmarks import angle_precision, attention_overhead, rope_throughput
from rope_jax.cli.benchmarks._timing import hlo_summary, markdown_table

TARGETS = {
    "copy_over_rope": 0.98,  # rope_jax >= 0.98 of the copy pass's throughput
    "forward_overhead": 0.01,
    "forward_backward_overhead": 0.02,
    "precise_over_default": 1.2,
}


def environment(quick: bool, argv: list[str]) -> dict[str, Any]:
    """What the figures were measured on."""
    import flax
    import jaxlib

    device = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device": device.device_kind,
        "devices": jax.device_count(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "numpy": np.__version__,
        "rope_jax": rope_jax.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "rope-jax bench " + " ".join(argv),
        "quick": quick,
    }


def hlo_section(quick: bool) -> tuple[dict[str, Any], str]:
    """Kernels per call and materialised cos/sin of each rope_throughput variant, bf16 prefill shape."""
    shape = rope_throughput.shapes_for_backend(quick)
    q, k, positions = rope_throughput.inputs(shape, jnp.bfloat16)
    summaries, texts = {}, []
    for name, fn in rope_throughput.variants(shape["head_dim"], shape["length"] - 1).items():
        summary = hlo_summary(fn, q, k, positions, length=shape["length"], pairs=shape["head_dim"] // 2)
        texts.append(f"# {name}\n{summary.pop('text')}")
        summaries[name] = summary
    return {"shape": {"q": list(q.shape), "k": list(k.shape)}, "rows": summaries}, "\n\n".join(texts)


def hlo_table(result: dict[str, Any]) -> str:
    rows = [
        [
            name,
            str(row["kernels"]),
            str(row["fusions"]),
            "yes" if row["cos_sin_materialised"] else "no",
            ", ".join(row["intermediates"]) or "-",
        ]
        for name, row in result["rows"].items()
    ]
    s = result["shape"]
    header = ["variant", "kernels", "fusions", "cos/sin materialised", "intermediate buffers"]
    return f"q {tuple(s['q'])}, k {tuple(s['k'])}, bfloat16; compiled for this backend\n\n" + markdown_table(
        header, rows
    )


def targets(sections: dict[str, Any]) -> list[list[str]]:
    """Each target of the accelerator issue against the figure measured (rows of a markdown table)."""
    rows = []
    for key in ("throughput bfloat16 prefill", "throughput float32 prefill"):
        result = sections.get(key, {})
        if "rows" in result:
            ratio = result["rows"]["rope_jax"]["ratio"]["median"]
            precise = result["rows"]["rope_jax precise"]["ratio"]["median"] / ratio
            rows.append([f"{key}: copy / rope_jax", f">= {TARGETS['copy_over_rope']}", f"{1 / ratio:.3f}"])
            rows.append([f"{key}: precise / default", f"<= {TARGETS['precise_over_default']}", f"{precise:.3f}"])
    layer = sections.get("attention layer", {})
    if "passes" in layer:
        for pass_name, target in (("forward", "forward_overhead"), ("forward+backward", "forward_backward_overhead")):
            overhead = layer["passes"][pass_name]["RoPE"]["ratio"]["median"] - 1
            rows.append([f"RoPE overhead, {pass_name}", f"<= {100 * TARGETS[target]:.0f}%", f"{100 * overhead:.1f}%"])
    return rows


def steps(quick: bool) -> list[tuple[str, Callable[[], Any], Callable[[Any], str]]]:
    """(title, measure, format) of every step of the suite, in order."""
    rounds = 3 if quick else 15
    layer = attention_overhead.config(quick)
    if quick:
        layer["rounds"] = 3
    out: list[tuple[str, Callable[[], Any], Callable[[Any], str]]] = []
    for kind, shape in (
        ("prefill", rope_throughput.shapes_for_backend(quick)),
        ("decode", rope_throughput.decode_shape(quick)),
    ):
        for dtype in (jnp.bfloat16, jnp.float32):
            measure: Callable[[], Any] = functools.partial(rope_throughput.measure, shape, dtype, rounds=rounds)
            out.append((f"throughput {jnp.dtype(dtype).name} {kind}", measure, rope_throughput.table))
    ends = [10_000, 1_000_000, 2**24] if quick else angle_precision.ENDS
    out += [
        ("attention layer", lambda: attention_overhead.measure_layer(layer), attention_overhead.layer_table),
        ("decode step by cache", lambda: attention_overhead.measure_caches(layer), attention_overhead.cache_table),
        ("cache-full check", lambda: attention_overhead.measure_check(layer), attention_overhead.check_table),
        ("angle precision", lambda: angle_precision.measure(ends, rounds=rounds), angle_precision.table),
    ]
    return out


def run(out: str | pathlib.Path, *, quick: bool, argv: list[str]) -> int:
    """Run the suite, write ``results.json``, ``results.md`` and ``hlo.txt`` to ``out``, print the markdown.

    Returns:
        0, or 1 if a section failed (its error is in both files).
    """
    from tqdm import tqdm

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    env = environment(quick, argv)
    sections: dict[str, Any] = {}
    markdown: dict[str, str] = {}
    hlo_text = ""
    plan = steps(quick)
    failed: list[str] = []
    text = ""
    with tqdm(total=len(plan) + 1, file=sys.stderr, unit="section", dynamic_ncols=True) as progress:
        for title, measure, format_ in [*plan[:4], ("compiled HLO", lambda: hlo_section(quick), None), *plan[4:]]:
            progress.set_description(title)
            section_start = time.perf_counter()
            try:
                result = measure()
                if title == "compiled HLO":
                    result, hlo_text = result
                    format_ = hlo_table
                markdown[title] = format_(result)  # type: ignore[misc]
            except Exception as error:  # record it and measure the rest
                result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
                markdown[title] = f"**failed**: `{result['error'][:500]}`"
                failed.append(title)
            result["seconds"] = round(time.perf_counter() - section_start, 1)
            sections[title] = result
            env["seconds"] = round(time.perf_counter() - start, 1)
            text = write(out, env, sections, markdown, hlo_text, failed)  # after every section: a run cut short
            progress.update()  # still leaves what it measured
    print(text)
    return 1 if failed else 0


def write(
    out: pathlib.Path,
    env: dict[str, Any],
    sections: dict[str, Any],
    markdown: dict[str, str],
    hlo_text: str,
    failed: list[str],
) -> str:
    """Write ``results.json``, ``results.md`` and ``hlo.txt``; returns the markdown."""
    summary = targets(sections)
    document = {"environment": env, "targets": summary, "sections": sections}
    (out / "results.json").write_text(json.dumps(document, indent=1))
    (out / "hlo.txt").write_text(hlo_text)
    text = render(env, summary, markdown, failed)
    (out / "results.md").write_text(text)
    return text


def render(env: dict[str, Any], summary: list[list[str]], markdown: dict[str, str], failed: list[str]) -> str:
    """The markdown report."""
    lines = [
        f"# rope_jax accelerator suite: {env['device']} ({env['backend']})",
        "",
        f"JAX {env['jax']}, Flax {env['flax']}, NumPy {env['numpy']}, rope_jax {env['rope_jax']}, Python "
        f"{env['python']}; {env['date']}; {env['seconds']} s in all{'; --quick shapes' if env['quick'] else ''}.",
        f"Command: `{env['command']}`.",
        "",
    ]
    if summary:
        lines += ["## Targets", "", markdown_table(["figure", "target", "measured (median)"], summary), ""]
    for title, body in markdown.items():
        lines += [f"## {title}", "", body, ""]
    if failed:
        lines += [f"Failed sections: {', '.join(failed)} (tracebacks in results.json)."]
    return "\n".join(lines)
