"""The README's porting section runs as written: every Python block under its heading, in a fresh namespace."""

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).parent.parent / "README.md"


def porting_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Porting a Hugging Face model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_porting_section_has_the_one_call_example():
    assert any("attention_layer(" in block for block in porting_blocks())


@pytest.mark.parametrize("index", range(len(porting_blocks())))
def test_porting_block_runs_as_written(index):
    block = porting_blocks()[index]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, f"README.md porting block {index}", "exec"), {})
    for line in re.findall(r"^# (\{.*\})$", block, flags=re.MULTILINE):  # a printed value shown as a comment
        assert line in printed.getvalue()
