"""Command line: ``python -m rope_jax`` or ``rope-jax``.

    rope-jax [demo] [--out DIR]        the demo (default command)
    rope-jax inspect CONFIG [--plot PNG]  a config.json or bundled preset, pair by pair
    rope-jax bench [--quick]           the benchmark tables
    rope-jax bench --suite gpu --out DIR  the accelerator suite, written to files

Exit codes: 0 success, 1 bad input (missing/invalid config, no RoPE, an output path that cannot be written),
2 usage error. Every error is one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pathlib
import sys
import time
from typing import NoReturn

__all__ = ["main"]

COMMANDS = ("demo", "inspect", "bench")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (exit code 2), pointing at ``--help`` instead of printing the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fail(command: str, message: object) -> int:
    """Print ``message`` on one line of stderr; exit code 1 (bad input)."""
    print(f"rope-jax {command}: {' '.join(str(message).split())}", file=sys.stderr)
    return 1


def _make_folder(option: str, path: str) -> str | None:
    """Create the output folder ``path`` (and its parents) before any work; a reason when that is impossible."""
    try:
        pathlib.Path(path).mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{option} {path!r} exists and is not a folder."
    except NotADirectoryError:
        return f"{option} {path!r} lies inside a file, not a folder."
    except OSError as error:
        return f"cannot create the {option} folder {path!r}: {error.strerror or error}."
    return None


def _plot_target_problem(path: str) -> str | None:
    """Why ``inspect --plot path`` could not write its figure (checked before the report is built), or None."""
    if importlib.util.find_spec("matplotlib") is None:
        return '--plot needs matplotlib (pip install "rope_jax[demo]").'
    target = pathlib.Path(path)
    folder = target.parent
    if not path or target.is_dir():
        return f"--plot {path!r} is a folder; give a file name such as wavelengths.png."
    if not folder.is_dir():
        return f"--plot {path!r}: the folder {str(folder)!r} does not exist."
    if not os.access(folder, os.W_OK):
        return f"--plot {path!r}: the folder {str(folder)!r} is not writable."
    from matplotlib.figure import Figure

    formats = sorted(Figure().canvas.get_supported_filetypes())
    if target.suffix and target.suffix[1:].lower() not in formats:
        return f"--plot {path!r}: matplotlib cannot write {target.suffix!r} files; use one of {', '.join(formats)}."
    return None


def _demo(args: argparse.Namespace) -> int:
    problem = _make_folder("--out", args.out)
    if problem:
        return _fail("demo", problem)
    from rope_jax.cli import demo

    start = time.perf_counter()
    print(demo.run(out=args.out), end="")
    print(f"\ndone in {time.perf_counter() - start:.1f} s; files in {pathlib.Path(args.out).resolve()}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from rope_jax.cli import report

    if args.plot is not None:
        problem = _plot_target_problem(args.plot)
        if problem:
            return _fail("inspect", problem)
    try:
        text, ropes = report.inspect_config(args.config)
    except (OSError, ValueError, TypeError) as error:  # what the loader and the checks raise for a bad config
        return _fail("inspect", error)
    except Exception as error:  # anything else is a defect: still one line, with its class to report
        return _fail(
            "inspect", f"{args.config!r} could not be read ({type(error).__name__}: {error}); please report it."
        )
    print(text)
    if args.plot is not None:
        try:
            path = report.plot_wavelengths(ropes, args.plot, f"RoPE wavelengths: {args.config}")
        except (OSError, ValueError) as error:
            return _fail("inspect", f"--plot {args.plot!r}: {error}")
        print(f"\nplot written to {path}")
    return 0


BENCHMARKS = ("rope_throughput", "angle_precision", "attention_overhead")


def _bench(args: argparse.Namespace) -> int:
    argv = ["--quick"] if args.quick else []
    if args.suite == "gpu":
        problem = _make_folder("--out", args.out)
        if problem:
            return _fail("bench", problem)
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
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["demo", *argv]  # `rope-jax [--out DIR]`: the demo is the default command
    parser = _Parser(
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
    try:
        return {"demo": _demo, "inspect": _inspect, "bench": _bench}[args.command](args)
    except BrokenPipeError:  # `rope-jax inspect ... | head`: the reader left, nothing went wrong here
        sys.stderr.close()
        return 0
