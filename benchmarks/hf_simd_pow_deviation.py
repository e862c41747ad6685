"""How far torch's vectorised (Sleef) pow moves Hugging Face's inv_freq from the fixtures' glibc values.

    pip install -e ".[parity]"
    python benchmarks/hf_simd_pow_deviation.py

Builds each fixture config's rotary module with torch's native CPU kernels (AVX2/AVX-512 here, unlike the
fixtures, which pin ATEN_CPU_CAPABILITY=default), then reports how many frequencies differ from rope_jax's and
the relative difference this makes in rotated queries at positions around 10k and 100k.
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import torch
import transformers

import rope_jax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from tests.reference import rope_float64

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
MODULES = {
    "llama": "Llama",
    "qwen2": "Qwen2",
    "gpt_oss": "GptOss",
    "deepseek_v3": "DeepseekV3",
    "gpt_neox": "GPTNeoX",
    "phi3": "Phi3",
}
CONFIG_CLASSES = {
    "Llama": "LlamaConfig",
    "Qwen2": "Qwen2Config",
    "GptOss": "GptOssConfig",
    "DeepseekV3": "DeepseekV3Config",
    "GPTNeoX": "GPTNeoXConfig",
    "Phi3": "Phi3Config",
}


def native_inv_freq(config: dict) -> np.ndarray:
    prefix = MODULES[config["model_type"]]
    modeling = getattr(transformers.models, config["model_type"])
    modeling = getattr(modeling, f"modeling_{config['model_type']}")
    config_obj = getattr(transformers, CONFIG_CLASSES[prefix])(**{k: v for k, v in config.items() if k != "model_type"})
    return getattr(modeling, f"{prefix}RotaryEmbedding")(config_obj).inv_freq.numpy()


def main() -> None:
    meta = json.loads((FIXTURES / "hf_rope.json").read_text())
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'fixture':22s} {'pairs':>5s} {'differ':>6s} {'max ulp':>7s} {'rel. diff @10k':>15s} {'@100k':>9s}")
    rng = np.random.default_rng(0)
    for name, case in meta.items():
        if name.startswith("_") or case["config"]["model_type"] not in MODULES:
            continue
        rope = rope_jax.from_hf_config(case["config"], layer_type=case["layer_type"])
        native = native_inv_freq(case["config"])
        ulps = np.abs(native.view(np.int32).astype(np.int64) - rope.inv_freq.view(np.int32).astype(np.int64))
        x = rng.standard_normal((256, 1, rope.head_dim))
        diffs = []
        for start in (10_000, 100_000):
            positions = np.arange(start, start + 256)
            ours = rope_float64(x, positions, rope.inv_freq, rotary_dim=rope.rotary_dim)
            theirs = rope_float64(x, positions, native, rotary_dim=rope.rotary_dim)
            diffs.append(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))
        print(
            f"{name:22s} {len(native):5d} {int((ulps > 0).sum()):6d} {int(ulps.max()):7d} "
            f"{diffs[0]:15.1e} {diffs[1]:9.1e}"
        )


if __name__ == "__main__":
    main()
