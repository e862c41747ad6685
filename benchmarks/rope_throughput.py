"""Throughput of apply_rope on q and k against the memory roofline, measured in one run.

The benchmark ships inside the package (`rope-jax bench` runs it too); see
`rope_jax/cli/benchmarks/rope_throughput.py` for what it measures.

    python benchmarks/rope_throughput.py            # full size for the backend
    python benchmarks/rope_throughput.py --quick    # tiny shapes, a smoke test
"""

from rope_jax.cli.benchmarks.rope_throughput import main

if __name__ == "__main__":
    main()
