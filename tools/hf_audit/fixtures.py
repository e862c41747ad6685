"""Minimal parity-fixture config.json dicts, one per behaviour group. Values are class defaults plus published values
(published values marked 'from memory' in FIXTURE_SOURCES were NOT re-checked against the Hub in this sandbox)."""
import json, warnings, transformers
warnings.filterwarnings("ignore"); transformers.logging.set_verbosity_error()
from transformers import AutoConfig
import os  # noqa: E401
HERE = os.path.dirname(os.path.abspath(__file__))
L3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
FIXTURES = {
 "A_llama_half_full": {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 32, "max_position_embeddings": 131072, "rope_theta": 500000.0, "rope_scaling": L3},
 "A2_llama_half_honours_partial": {"model_type": "solar_open"},
 "B_partial_half(gpt_neox)": {"model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8, "num_hidden_layers": 6, "rotary_pct": 0.25, "rotary_emb_base": 10000, "max_position_embeddings": 2048},
 "B_partial_half(phi)": {"model_type": "phi", "hidden_size": 2560, "num_attention_heads": 32, "num_hidden_layers": 32, "partial_rotary_factor": 0.4, "rope_theta": 10000.0, "max_position_embeddings": 2048},
 "B_partial_half(glm4_moe)": {"model_type": "glm4_moe", "hidden_size": 4096, "num_attention_heads": 96, "num_key_value_heads": 8, "head_dim": 128, "partial_rotary_factor": 0.5, "rope_theta": 1000000.0, "max_position_embeddings": 131072},
 "B_partial_half(phi3_longrope)": {"model_type": "phi3", "hidden_size": 3072, "num_attention_heads": 32, "num_hidden_layers": 32, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "rope_theta": 10000.0,
                                   "rope_scaling": {"type": "longrope", "short_factor": [1.0] * 48, "long_factor": [1.0 + i / 8 for i in range(48)]}},
 "C_interleaved_partial": {"model_type": "glm4", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128, "partial_rotary_factor": 0.5, "rope_theta": 10000.0, "max_position_embeddings": 32768},
 "D_interleaved_full": {"model_type": "cohere", "hidden_size": 8192, "num_attention_heads": 64, "rope_theta": 8000000.0, "use_qk_norm": False, "max_position_embeddings": 131072},
 "E_nope(smollm3)": {"model_type": "smollm3", "hidden_size": 2048, "num_attention_heads": 16, "num_key_value_heads": 4, "num_hidden_layers": 36, "rope_theta": 5000000.0, "no_rope_layer_interval": 4, "max_position_embeddings": 65536},
 "E_nope(cohere2)": {"model_type": "cohere2", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 32, "sliding_window": 4096, "sliding_window_pattern": 4, "rope_theta": 50000.0},
 "E_nope(exaone4)": {"model_type": "exaone4", "hidden_size": 5120, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 64, "sliding_window": 4096, "sliding_window_pattern": 4, "rope_theta": 1000000.0, "max_position_embeddings": 131072,
                     "rope_scaling": {"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
 "F_per_layer_theta": {"model_type": "granite_swa", "num_hidden_layers": 8, "layer_rope_theta": [10000.0, 0, 10000.0, 500000.0, 10000.0, 0, 10000.0, 500000.0]},
 "G_llama4": {"model_type": "llama4_text", "hidden_size": 5120, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 48, "rope_theta": 500000.0, "max_position_embeddings": 10485760,
              "rope_scaling": {"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 1.0, "high_freq_factor": 1.0, "original_max_position_embeddings": 8192},
              "no_rope_layer_interval": 4, "attn_temperature_tuning": True, "floor_scale": 8192, "attn_scale": 0.1, "use_qk_norm": True, "attention_chunk_size": 8192},
 "H_gemma3_per_layer_theta": {"model_type": "gemma3_text", "hidden_size": 2560, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "num_hidden_layers": 34, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
                              "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "sliding_window": 1024, "sliding_window_pattern": 6, "query_pre_attn_scalar": 256, "max_position_embeddings": 131072},
 "H_gemma4_proportional": {"model_type": "gemma4_text", "num_hidden_layers": 12},
 "H_modernbert": {"model_type": "modernbert", "hidden_size": 768, "num_attention_heads": 12, "num_hidden_layers": 22, "global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "global_attn_every_n_layers": 3},
 "I_olmo3": {"model_type": "olmo3", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32, "rope_theta": 500000.0, "sliding_window": 4096, "max_position_embeddings": 65536,
             "rope_scaling": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 8192, "attention_factor": 1.2079441541679836}},
 "J_gpt_oss": {"model_type": "gpt_oss", "hidden_size": 2880, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "num_hidden_layers": 24, "rope_theta": 150000.0, "sliding_window": 128, "max_position_embeddings": 131072,
               "rope_scaling": {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 4096}},
 "K_mla_interleaved(deepseek_v3)": {"model_type": "deepseek_v3", "hidden_size": 7168, "num_attention_heads": 128, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128, "kv_lora_rank": 512, "q_lora_rank": 1536, "max_position_embeddings": 163840, "rope_theta": 10000,
                                    "rope_scaling": {"type": "yarn", "factor": 40, "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096}},
 "K_mla_interleaved(deepseek_v2)": {"model_type": "deepseek_v2", "hidden_size": 2048, "num_attention_heads": 16, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128, "kv_lora_rank": 512, "q_lora_rank": None, "max_position_embeddings": 163840, "rope_theta": 10000,
                                    "rope_scaling": {"type": "yarn", "factor": 40, "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707, "original_max_position_embeddings": 4096}},
 "K_mla_half": {"model_type": "minicpm3"},
 "L_special(nanochat)": {"model_type": "nanochat"},
 "L_special(deepseek_v4)": {"model_type": "deepseek_v4", "num_hidden_layers": 4},
 "M_hunyuan_alpha": {"model_type": "hunyuan_v1_dense", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "rope_theta": 10000.0, "max_position_embeddings": 262144,
                     "rope_scaling": {"type": "dynamic", "alpha": 1000.0, "factor": 1.0, "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.0}},
 "N_gptj": {"model_type": "gptj", "n_embd": 4096, "n_head": 16, "rotary_dim": 64, "n_positions": 2048, "n_layer": 28},
 "O_per_layer_partial": {"model_type": "mimo_v2_flash"},
 "P_mrope": {"model_type": "qwen2_vl_text", "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "rope_theta": 1000000.0, "max_position_embeddings": 32768, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}},
 "falcon_legacy_names": {"model_type": "falcon", "hidden_size": 4544, "num_attention_heads": 71, "alibi": False, "new_decoder_architecture": False, "multi_query": True, "rope_theta": 10000.0},
}
FIXTURE_SOURCES = {k: "class defaults" if len(v) <= 2 else "published values from memory (not re-checked against the Hub here) + class defaults" for k, v in FIXTURES.items()}
if __name__ == "__main__":
    out = {}
    for name, fx in FIXTURES.items():
        kw = {k: v for k, v in fx.items() if k != "model_type"}
        try:
            c = AutoConfig.for_model(fx["model_type"], **json.loads(json.dumps(kw)))
            try: hd = c.head_dim
            except Exception as e: hd = f"<{type(e).__name__}>"
            st = {"rope_parameters": c.rope_parameters if hasattr(c, "rope_parameters") else None, "head_dim": hd}
            for k in ("no_rope_layers", "layer_rope_theta", "partial_rotary_factor", "rotary_dim"):
                if hasattr(c, k): st[k] = getattr(c, k)
            try: st["layer_types"] = c.layer_types
            except Exception: pass
        except Exception as e:
            st = {"error": f"{type(e).__name__}: {e}"[:300]}
        out[name] = {"config_json": fx, "source": FIXTURE_SOURCES[name], "transformers_standardized": st}
        print(name, json.dumps(st, default=str)[:260])
    json.dump(out, open(os.path.join(HERE, "fixtures.json"), "w"), indent=1, default=str)
