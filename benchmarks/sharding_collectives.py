"""Collectives in the compiled HLO of every pure RoPE function under every layout of q over 8 devices.

The benchmark ships inside the package; see `rope_jax/cli/benchmarks/sharding.py` for what it measures.

    python benchmarks/sharding_collectives.py    # simulates 8 CPU devices when fewer are present
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):  # before JAX starts
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"

from rope_jax.cli.benchmarks.sharding import main

if __name__ == "__main__":
    main()
