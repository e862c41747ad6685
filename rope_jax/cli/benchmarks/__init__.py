"""Benchmarks behind ``rope-jax bench``; each module has ``main(argv)`` and prints a table."""
