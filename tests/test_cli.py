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
    captured = capsys.readouterr()
    text = captured.out
    assert "## attention_overhead" in text and "x copy pass" in text and "RoPE overhead" in text
    assert "decode step by cache" in text and all(
        f"| {name} |" in text for name in ("sliding window", "sinks, unrotated")
    )
    assert "3/3" in captured.err  # the progress bar goes to stderr, the tables to stdout


@pytest.mark.slow
def test_gpu_suite_quick_writes_every_section(tmp_path, capsys):
    """The accelerator suite, at --quick shapes on the CPU: both files, every section, no failure."""
    assert main(["bench", "--suite", "gpu", "--out", str(tmp_path), "--quick"]) == 0
    captured = capsys.readouterr()
    results = json.loads((tmp_path / "results.json").read_text())
    markdown = (tmp_path / "results.md").read_text()
    sections = [
        "throughput bfloat16 prefill",
        "throughput float32 prefill",
        "throughput bfloat16 decode",
        "throughput float32 decode",
        "compiled HLO",
        "attention layer",
        "decode step by cache",
        "cache-full check",
        "angle precision",
    ]
    assert list(results["sections"]) == sections
    for title in sections:
        assert "error" not in results["sections"][title], results["sections"][title]
        assert f"## {title}\n" in markdown
    assert captured.out.strip() == markdown.strip()  # the report on stdout, the progress on stderr
    assert "9/9" in captured.err
    env = results["environment"]
    assert env["backend"] == "cpu" and env["jax"] and env["device"] and env["quick"] is True
    throughput = results["sections"]["throughput bfloat16 prefill"]["rows"]
    assert {"copy pass", "rope_jax", "rope_jax precise", "cos/sin table"} <= set(throughput)
    assert all(set(row["ratio"]) == {"median", "min", "max"} for row in throughput.values())
    hlo = results["sections"]["compiled HLO"]["rows"]
    assert hlo["rope_jax"]["cos_sin_materialised"] is True  # the CPU form evaluates cos/sin once
    assert hlo["GPU form"]["cos_sin_materialised"] is False and hlo["copy pass"]["kernels"] == 2
    check = results["sections"]["cache-full check"]["rows"]
    assert set(check) == {"plain", "unrotated"} and all(
        set(row) == {"check=False", "check=True"} for row in check.values()
    )
    assert results["targets"][0][0] == "throughput bfloat16 prefill: copy / rope_jax"
    assert (tmp_path / "hlo.txt").read_text().count("ENTRY") == len(hlo)


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


@pytest.mark.parametrize(
    ("config", "tower"),
    [
        ({"architecture": "vit_pe_core_base_patch16_224"}, "timm vit_pe_core_base_patch16_224 (PE"),
        ({"model_type": "sam2_video"}, "vision tower   sam2_video"),
    ],
)
def test_inspect_a_vision_tower(tmp_path, capsys, config, tower):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert tower in out and "coordinates" in out and "head dim" in out
