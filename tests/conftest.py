import os

# Sharding tests need several devices; on CPU XLA can pretend to have 8. Must be set before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

from hypothesis import settings

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("ci")

import jax  # noqa: E402

# Every implicit dtype promotion is an error in the tests: the library must state its casts (float32 angles,
# rotation in float32, output in x.dtype) rather than rely on promotion rules.
jax.config.update("jax_numpy_dtype_promotion", "strict")


def pytest_report_header(config):
    import rope_jax

    return f"rope_jax {rope_jax.__version__} from {os.path.dirname(rope_jax.__file__)}"


def pytest_sessionstart(session):
    """With ROPE_JAX_TEST_INSTALLED=1 (CI), refuse to test a rope_jax imported from the source tree."""
    if os.environ.get("ROPE_JAX_TEST_INSTALLED") == "1":
        import rope_jax

        if "site-packages" not in rope_jax.__file__:
            raise RuntimeError(f"ROPE_JAX_TEST_INSTALLED=1 but rope_jax was imported from {rope_jax.__file__}")
