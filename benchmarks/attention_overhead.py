"""What RoPE costs inside a real attention layer: RoPEAttention with and without its RoPE, in one run.

The benchmark ships inside the package (`rope-jax bench` runs it too); see
`rope_jax/cli/benchmarks/attention_overhead.py` for what it measures.

    python benchmarks/attention_overhead.py            # full size for the backend
    python benchmarks/attention_overhead.py --quick    # tiny shapes, a smoke test
"""

from rope_jax.cli.benchmarks.attention_overhead import main

if __name__ == "__main__":
    main()
