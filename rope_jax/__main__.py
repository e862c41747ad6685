"""Command line: ``python -m rope_jax`` (or ``rope-jax``) runs the demo."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rope-jax", description="Rotary position embeddings for JAX: a short demo of what the library computes."
    )
    parser.add_argument("command", nargs="?", default="demo", choices=["demo"], help="what to run (default: demo)")
    parser.parse_args(argv)
    from rope_jax import demo

    print(demo.run(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
