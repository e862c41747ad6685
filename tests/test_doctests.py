"""Every ``>>>`` example in the package's docstrings runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import rope_jax

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(rope_jax.__path__, prefix="rope_jax.")
    if ".benchmarks." not in info.name
)


def test_every_module_is_visited():
    assert {"rope_jax.frequencies", "rope_jax.rotary", "rope_jax.nn", "rope_jax.hf", "rope_jax.positions"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", ["rope_jax", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
