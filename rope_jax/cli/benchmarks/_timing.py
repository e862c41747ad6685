"""What every benchmark shares: interleaved rounds, ratios taken within a round, spreads, HLO summaries.

Machines are shared and noisy, so no figure is a bare time: each variant is timed once per round, in an order
that rotates from round to round, and compared with a reference measured in the same round.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


def spread(values: list[float]) -> dict[str, float]:
    """``{"median", "min", "max"}`` of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def time_rounds(
    calls: dict[str, Callable[..., Any]], *, rounds: int, seconds: float = 0.05, iterations: int | None = None
) -> dict[str, list[float]]:
    """Seconds per call of each of ``calls``, one sample per round, the order rotating every round.

    Every call runs once first (compilation, warm-up). Each sample times ``iterations`` back-to-back calls and
    waits for the last result: asynchronous dispatch overlaps the calls as it would in a real loop. By default
    ``iterations`` makes the first call's sample last about ``seconds``; every variant uses the same count.

    Args:
        calls: Name -> a function of no arguments returning arrays.
        rounds: Samples per call.
        seconds: Target duration of one sample of the first call (when ``iterations`` is None).
        iterations: Calls per sample.

    Returns:
        Name -> ``rounds`` seconds-per-call samples.
    """
    for call in calls.values():
        jax.block_until_ready(call())
    if iterations is None:
        first = next(iter(calls.values()))
        start = time.perf_counter()
        jax.block_until_ready(first())
        iterations = max(1, min(1000, round(seconds / max(time.perf_counter() - start, 1e-6))))
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call = calls[name]
            start = time.perf_counter()
            for _ in range(iterations):
                out = call()
            jax.block_until_ready(out)
            samples[name].append((time.perf_counter() - start) / iterations)
    return samples


def ratio_rows(samples: dict[str, list[float]], reference: str) -> dict[str, dict[str, Any]]:
    """Per variant: its time (ms) and its ratio to ``reference`` taken within each round, as spreads."""
    base = samples[reference]
    return {
        name: {
            "ms": spread([1e3 * t for t in times]),
            "ratio": spread([t / b for t, b in zip(times, base, strict=True)]),
        }
        for name, times in samples.items()
    }


def fmt(s: dict[str, float], digits: int = 2, suffix: str = "") -> str:
    """``median (min-max)`` of a :func:`spread`."""
    return f"{s['median']:.{digits}f}{suffix} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ HLO

_NOT_KERNELS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "after-all", "partition-id"}
_INSTRUCTION = re.compile(r"^\s*(ROOT\s+)?%?([\w.\-]+)\s*=\s*(\([^=]*?\)|\S+)\s+([\w\-]+)\(")
COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")


def entry_instructions(hlo: str) -> list[dict[str, Any]]:
    """``{"name", "shape", "opcode", "operands", "root"}`` of each instruction of compiled HLO's ENTRY computation."""
    lines = hlo.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ENTRY"))
    out = []
    for line in lines[start + 1 :]:
        if line.startswith("}"):
            break
        match = _INSTRUCTION.match(line)
        if match:
            operands = line[match.end() :].split(")", 1)[0]
            out.append(
                {
                    "name": match.group(2),
                    "shape": match.group(3),
                    "opcode": match.group(4),
                    "operands": re.findall(r"%?([\w.\-]+)", operands),
                    "root": bool(match.group(1)),
                }
            )
    return out


def collectives(hlo: str) -> dict[str, int]:
    """How many of each collective the compiled HLO text holds (start/done pairs counted once)."""
    counts = {}
    for name in COLLECTIVES:
        n = len(re.findall(rf"\s{name}(?:-start)?\(", hlo))
        if n:
            counts[name] = n
    return counts


def hlo_summary(fn: Callable[..., Any], *args: Any, length: int, pairs: int) -> dict[str, Any]:
    """What ``jax.jit(fn)(*args)`` compiles to on the default backend.

    Args:
        fn: The function.
        *args: Its arguments.
        length: Sequence length T of the inputs.
        pairs: Rotated pairs P.

    Returns:
        ``kernels`` (ENTRY instructions that launch work: fusions, custom calls, copies...), their ``opcodes``,
        ``fusions``, ``intermediates`` (shapes of the buffers written and read back inside the call: every
        kernel output that is not a result), ``cos_sin_materialised`` (one of them is float32 ``[..., T, ..., P]``:
        cos and/or sin written to memory rather than computed inside the rotation) and ``collectives``; plus the
        compiled ``text``.
    """
    text = jax.jit(fn).lower(*args).compile().as_text() or ""
    instructions = entry_instructions(text)
    by_name = {i["name"]: i for i in instructions}
    outputs, pending = set(), [i["name"] for i in instructions if i["root"]]
    while pending:  # the results, followed back through tuples and bitcasts (which move no data)
        name = pending.pop()
        outputs.add(name)
        if name in by_name and by_name[name]["opcode"] in ("tuple", "bitcast", "get-tuple-element"):
            pending += [operand for operand in by_name[name]["operands"] if operand not in outputs]
    kernels = [i for i in instructions if i["opcode"] not in _NOT_KERNELS]
    intermediates = [
        shape  # a multi-output kernel writes a tuple: every element counts
        for i in kernels
        if i["name"] not in outputs
        for shape in re.findall(r"\w+\[[\d,]*\]", i["shape"])
    ]
    materialised = []
    for shape in intermediates:
        dims = re.match(r"f32\[([\d,]+)\]", shape)
        if dims:
            sizes = [int(d) for d in dims.group(1).split(",")]
            if sizes[-1] == pairs and length in sizes[:-1]:
                materialised.append(shape)
    return {
        "kernels": len(kernels),
        "opcodes": [i["opcode"] for i in kernels],
        "fusions": sum(i["opcode"] == "fusion" for i in kernels),
        "cos_sin_materialised": bool(materialised),
        "intermediates": intermediates,
        "collectives": collectives(text),
        "text": text,
    }
