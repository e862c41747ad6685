"""Command line: ``python -m rope_jax`` or ``rope-jax``.

    rope-jax [demo] [--out DIR]        the demo (default command)
    rope-jax inspect CONFIG [--plot PNG]  a config.json or bundled preset, pair by pair
    rope-jax bench [--quick]           the benchmark tables
    rope-jax bench --suite gpu --out DIR  the accelerator suite, written to files

Exit codes: 0 success, 1 bad input (missing/invalid config, no RoPE), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import time

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from rope_jax.cli import demo

    start = time.perf_counter()
    print(demo.run(out=args.out), end="")
    print(f"\ndone in {time.perf_counter() - start:.1f} s; files in {pathlib.Path(args.out).resolve()}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from rope_jax.cli import report

    try:
        text, ropes = report.inspect_config(args.config)
    except (FileNotFoundError, ValueError, TypeError) as error:
        print(f"rope-jax inspect: {error}", file=sys.stderr)
        return 1
    print(text)
    if args.plot:
        try:
            path = report.plot_wavelengths(ropes, args.plot, f"RoPE wavelengths: {args.config}")
        except ImportError:
            print('rope-jax inspect: --plot needs matplotlib (pip install "rope_jax[demo]")', file=sys.stderr)
            return 1
        print(f"\nplot written to {path}")
    return 0


BENCHMARKS = ("rope_throughput", "angle_precision", "attention_overhead")


def _bench(args: argparse.Namespace) -> int:
    argv = ["--quick"] if args.quick else []
    if args.suite == "gpu":
        from rope_jax.cli.benchmarks import suite

        return suite.run(args.out, quick=args.quick, argv=["--suite", "gpu", "--out", args.out, *argv])
    from tqdm import tqdm

    progress = tqdm(BENCHMARKS, file=sys.stderr, unit="benchmark", dynamic_ncols=True)
    for name in progress:
        progress.set_description(name)
        print(f"## {name}\n", flush=True)
        importlib.import_module(f"rope_jax.cli.benchmarks.{name}").main(argv)
        print(flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="rope-jax",
        description="Rotary position embeddings for JAX: demo, config inspection and benchmarks.",
        epilog="Exit codes: 0 success, 1 bad input (missing or invalid config, no RoPE), 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{demo,inspect,bench}")
    demo = commands.add_parser("demo", help="worked example, invariances, frequency ladders, plots (default)")
    demo.add_argument("--out", default="rope_jax_demo", help="folder for the plots (default: ./rope_jax_demo)")
    from rope_jax.cli.report import presets, supported_rope_types

    inspect = commands.add_parser(
        "inspect",
        help="describe the RoPE of a config.json or a bundled preset",
        description="Describe the RoPE of a Hugging Face config.json or a bundled preset, pair by pair.",
        epilog="rope types it reads:\n" + supported_rope_types(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    inspect.add_argument("config", help=f"path to config.json, or a preset: {', '.join(presets())}")
    inspect.add_argument("--plot", metavar="PNG", help="also plot the wavelength of every pair")
    bench = commands.add_parser(
        "bench",
        help="run the benchmarks and print the ratio tables",
        description="Run the benchmarks: every figure is a ratio to a reference timed in the same run.",
        epilog="standard: the three tables (rope_throughput, angle_precision, attention_overhead). gpu: every "
        "figure of the README's GPU section (throughput in bf16 and f32, prefill and decode shapes, compiled HLO, "
        "the layer, the caches, the cache-full check, angle precision) written to --out as results.json, "
        "results.md and hlo.txt; it runs on any backend and picks the accelerator shapes on GPU/TPU.",
    )
    bench.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    bench.add_argument("--suite", choices=["standard", "gpu"], default="standard", help="which benchmarks")
    bench.add_argument("--out", default="rope_jax_bench", help="folder for the gpu suite's files")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo", *(argv or sys.argv[1:])])
    try:
        return {"demo": _demo, "inspect": _inspect, "bench": _bench}[args.command](args)
    except BrokenPipeError:  # `rope-jax inspect ... | head`: the reader left, nothing went wrong here
        sys.stderr.close()
        return 0
