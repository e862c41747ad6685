"""The command line: demo, inspect (every preset, every error), bench, help and exit codes."""

import json
import subprocess
import sys

import pytest

from rope_jax.cli import main
from rope_jax.cli.report import presets


def test_demo_writes_its_plots(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for needle in ("Rotated Q", "Shift invariance", "Permutation", "Frequency ladders", "0.4052"):
        assert needle in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "frequency_ladders.png",
        "patch_grid_similarity.png",
        "worked_example_attention.png",
    ]


@pytest.mark.parametrize("preset", presets())
def test_inspect_every_preset(preset, capsys):
    assert main(["inspect", preset]) == 0
    text = capsys.readouterr().out
    assert "rope type" in text and "wavelength" in text


def test_inspect_a_file_with_a_plot(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, "rope_theta": 5e5})
    )
    assert main(["inspect", str(config), "--plot", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").stat().st_size > 0
    assert "head dim       64" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no config file"),
        ("{oops", "not valid JSON"),
        ("[1, 2]", "not a config object"),
        ('{"model_type": "bert", "hidden_size": 768, "num_attention_heads": 12}', "has no RoPE"),
    ],
)
def test_inspect_errors_exit_1(tmp_path, capsys, content, message):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    assert main(["inspect", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_help_and_usage_errors():
    result = subprocess.run([sys.executable, "-m", "rope_jax", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "inspect" in result.stdout and "Exit codes" in result.stdout
    result = subprocess.run([sys.executable, "-m", "rope_jax", "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2


@pytest.mark.slow
def test_bench_quick(capsys):
    assert main(["bench", "--quick"]) == 0
    text = capsys.readouterr().out
    assert "[###] 3/3 attention_overhead" in text and "x copy pass" in text and "overhead" in text
    assert "decode step by cache" in text and all(
        f"\n{name} " in text for name in ("sliding window", "sinks, unrotated")
    )


def test_inspect_accounts_for_every_layer(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"model_type": "smollm3", "hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 8})
    )
    assert main(["inspect", str(config)]) == 0
    assert "no RoPE on layers 3, 7" in capsys.readouterr().out


def test_inspect_help_lists_every_rope_type_it_reads(capsys):
    with pytest.raises(SystemExit):
        main(["inspect", "--help"])
    text = capsys.readouterr().out
    assert all(rope_type in text for rope_type in ("default", "yarn", "llama3", "longrope", "proportional", "ntk"))
