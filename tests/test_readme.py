"""Every Python block of the README runs as written, on its own (a newcomer copies one block at a time).

A block may carry one marker, an HTML comment on the line before it:

- ``<!-- readme-test: needs torch, transformers -->``: runs when those modules import, else is skipped with that
  reason (they are the ``parity`` extra, not a CI dependency);
- ``<!-- readme-test: xfail until ... -->``: expected to fail for the stated reason until the library supports it;
  strict, so the block passing makes this test fail until the marker goes.

Any other marker fails the test: no block is skipped without a stated reason.
"""

import importlib.util
import pathlib
import re

import jax
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<marker>.*?) -->\n)?```python\n(?P<code>.*?)```", re.DOTALL)


def blocks() -> list:
    text = README.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        found.append(pytest.param(match["code"], match["marker"], id=f"README.md:{line}"))
    return found


def test_the_readme_has_its_blocks():
    assert len(blocks()) >= 8


@pytest.mark.parametrize(("code", "marker"), blocks())
def test_block_runs_as_written(code, marker, tmp_path, monkeypatch, request):
    if marker is not None:
        if marker.startswith("needs "):
            missing = [name for name in marker[len("needs ") :].split(", ") if importlib.util.find_spec(name) is None]
            if missing:
                pytest.skip(f"{marker} (pip install '.[parity]'); missing: {', '.join(missing)}")
        elif marker.startswith("xfail until "):
            request.applymarker(pytest.mark.xfail(strict=True, raises=ValueError, reason=marker))
        else:
            pytest.fail(f"unknown README test marker {marker!r}")
    monkeypatch.chdir(tmp_path)  # blocks may write files (a config.json)
    with jax.numpy_dtype_promotion("standard"):  # as a user runs it, not under the suite's strict promotion
        exec(compile(code, str(README), "exec"), {"__name__": "readme_block"})
