"""Every example runs end to end with a tiny step count (the full runs are in the README)."""

import pathlib
import runpy

import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> dict:
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_vit_2d_rope_smoke():
    results = load("vit_2d_rope.py")["main"](["--epochs", "1", "--seeds", "1"])
    assert set(results) == {"none", "learned", "axial", "mixed"}
    for row in results.values():
        assert row.shape == (5,) and np.all((row >= 0) & (row <= 1))
