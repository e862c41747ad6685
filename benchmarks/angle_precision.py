"""Angle error of float32 products vs the precise mode, against float64, and what the precise mode costs.

The benchmark ships inside the package (`rope-jax bench` runs it too); see
`rope_jax/cli/benchmarks/angle_precision.py` for what it measures.

    python benchmarks/angle_precision.py            # full size for the backend
    python benchmarks/angle_precision.py --quick    # tiny shapes, a smoke test
"""

from rope_jax.cli.benchmarks.angle_precision import main

if __name__ == "__main__":
    main()
