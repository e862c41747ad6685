"""Hand-verified overrides (transformers 5.24.0). Paths are relative to transformers/models/.

Only keys that differ from / refine the automatic scan are given. Keys: layout, rotary_dim, head_dim, per_layer,
nope_layers, qk_extras, rope_type_quirks, notes, config_keys_extra (legacy/top-level keys feeding RoPE), group.
"""

LLAMA_HD = "head_dim key (truthy) else hidden_size // num_attention_heads"

GLOBAL_NOTES = [
    "modeling_rope_utils.py: ROPE_INIT_FUNCTIONS = linear, dynamic, yarn, longrope, llama3, proportional. 'default' is NOT in it: "
    "every model defines its own compute_default_rope_parameters (13 distinct bodies). 124 rotary classes use the llama body that "
    "IGNORES partial_rotary_factor (dim = head_dim); ~40 honour it (glm/phi/neox/stablelm/persimmon/nemotron/qwen3_next/qwen3_5/minimax_m2/...).",
    "All ROPE_INIT_FUNCTIONS (linear/dynamic/yarn/longrope/llama3) DO apply partial_rotary_factor from rope_parameters. So for a llama-like model "
    "(default body ignores it) a partial_rotary_factor only takes effect when rope_type != default (and then apply_rotary_pos_emb broadcasts/fails).",
    "dynamic/yarn/longrope read head_dim via getattr(config,'head_dim', hidden//heads) (no `or`): a config with head_dim=None (e.g. hunyuan_v1 default) "
    "raises TypeError; linear/llama3/default use `getattr(...) or hidden//heads`.",
    "yarn: truncate is read from config.rope_parameters.get('truncate', True) (TOP-LEVEL dict, not the per-layer dict) - for nested per-layer "
    "rope_parameters the per-layer 'truncate' is ignored (modeling_rope_utils.py:472). beta_fast/beta_slow use `or 32`/`or 1` so 0 means default. "
    "factor None -> max_position_embeddings/original_max_position_embeddings. attention_factor default: mscale&mscale_all_dim -> "
    "get_mscale(f,mscale)/get_mscale(f,mscale_all_dim) else 0.1*ln(f)+1 (f<=1 -> 1). Ramp uses torch.float32 arange(dim//2).",
    "standardize_rope_params (modeling_rope_utils.py:806): flat dict -> setdefault rope_type from legacy 'type' (the 'type' key is kept), "
    "rope_theta from config attr; for llama3/yarn/longrope sets original_max_position_embeddings: if the config object HAS an attribute "
    "original_max_position_embeddings (phi3, phimoe, ...) it OVERWRITES the dict value, else setdefault(max_position_embeddings).",
    "convert_rope_params_to_dict (base): rope_scaling (legacy) REPLACES rope_parameters when truthy; rope_theta/partial_rotary_factor from "
    "kwargs or class attrs are setdefault'ed into the (each nested) dict. Nesting is detected only for keys in config.layer_types "
    "(or _rope_type_labels).",
    "longrope: factor None -> max_pos/original_max; attention_factor default sqrt(1+ln(f)/ln(original_max)) (1 if f<=1); short_factor used "
    "at init, long_factor when max(position_ids)+1 > original_max_position_embeddings (dynamic switch per forward).",
    "dynamic: recomputed in forward when seq_len > max_seq_len_cached: base*((factor*seq/max_pos)-(factor-1))**(dim/(dim-2)).",
    "All compute_default bodies use torch.arange(0, dim, 2, dtype=float)/dim in float32 and `1.0 / base ** (...)` (base python float).",
    "cos/sin are cast to x.dtype in most forwards (olmo/olmo2/olmo3/ernie4_5/flex_olmo/olmo_hybrid/beam/lfm3 keep float32 cos/sin; "
    "cohere/ernie/esm/hunyuan_vl compute the rotation in float32 then cast back).",
    "*_interleave apply functions (deepseek_v3 & co.) de-interleave: out = cat([x0*cos - x1*sin, x1*cos + x0*sin]) where x0=x[...,0::2], "
    "x1=x[...,1::2] -> pairs (2i,2i+1) are rotated but the OUTPUT is written in half-split order (a fixed permutation of features; q.k is "
    "unchanged, but q/k tensors differ elementwise from a true interleaved rotation). deepseek_v2/llama4 (view_as_complex) keep interleaved order.",
]

CONFIG_ONLY_NOTES = {
    "sarvam_mla": "configuration + modular only (no modeling_*.py); DeepSeek-V3-like MLA with rope_interleave default True",
}

O = {}

O["llama"] = dict(group="A_llama_half_full", layout="half", rotary_dim="head_dim (partial_rotary_factor ignored by default rope)", head_dim=LLAMA_HD,
                  notes="Reference behaviour. rope_scaling legacy dict with 'type' accepted; llama3 rope_type needs factor/low_freq_factor/high_freq_factor/original_max_position_embeddings.")

O["gpt_neox"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default partial 0.25",
                     head_dim="hidden_size // num_attention_heads (no head_dim key)",
                     config_keys_extra={"rotary_pct": 0.25, "rotary_emb_base": 10000.0, "partial_rotary_factor": 0.25},
                     rope_type_quirks="convert_rope_params_to_dict (gpt_neox/configuration_gpt_neox.py): rope_theta <- kwargs 'rotary_emb_base' (NOT rope_theta), partial_rotary_factor <- 'rotary_pct' default 0.25; if the legacy rope_scaling dict is given it replaces rope_parameters and then gets these setdefaults.",
                     notes="Naive loader reading rope_theta/partial_rotary_factor misses rotary_emb_base/rotary_pct.")
O["gpt_neox_japanese"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); rotary_pct default 1.0",
                              head_dim="hidden_size // num_attention_heads",
                              config_keys_extra={"rotary_pct": 1.0, "rotary_emb_base": 10000.0},
                              rope_type_quirks="same as gpt_neox but rotary_pct default 1.0")
O["phi"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 0.5",
                head_dim="hidden_size // num_attention_heads", qk_extras=["qk_layernorm (default False): LayerNorm over head_dim per head, BEFORE rope"])
O["persimmon"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 0.5",
                      head_dim="hidden_size // num_attention_heads", qk_extras=["qk_layernorm default True: LayerNorm(head_dim) per head before rope"])
O["stablelm"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 0.25",
                     head_dim="hidden_size // num_attention_heads", qk_extras=["qk_layernorm default False: per-head LayerNorm (separate weights per head) before rope"])
O["nemotron"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 0.5", head_dim=LLAMA_HD)
O["recurrent_gemma"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 0.5", head_dim="head_dim key default 256",
                            per_layer="only 'sliding_attention' (attention) blocks have attention/RoPE; 'linear_attention' = recurrent blocks")
O["qwen3_next"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 0.25 (configuration_qwen3_next.py:127 kwargs.setdefault)",
                       head_dim="head_dim key default 256", per_layer="RoPE only in full_attention layers (linear_attention = gated delta net)",
                       qk_extras=["q_norm/k_norm per head (RMSNorm, zero-centred weight 1+w) before rope", "q_proj doubled for output gate"])
O["glm4_moe"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 0.5", head_dim=LLAMA_HD,
                     qk_extras=["use_qk_norm default False: per-head RMSNorm before rope"],
                     notes="UNLIKE glm/glm4, glm4_moe (GLM-4.5/4.6) uses half-split rotate_half (glm4_moe/modeling_glm4_moe.py:131) with partial 0.5.")
O["minimax_m2"] = dict(group="B_partial_half", layout="half", rotary_dim="partial_rotary_factor = rotary_dim / head_dim when a top-level `rotary_dim` key exists (configuration_minimax_m2.py convert_rope_params_to_dict)",
                       config_keys_extra={"rotary_dim": "published 64 with head_dim 128"}, qk_extras=["use_qk_norm: RMSNorm over the FULL q/k projection (all heads) before rope"])
O["phi3"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); default 1.0", head_dim="hidden_size // num_attention_heads",
                 config_keys_extra={"original_max_position_embeddings": 4096},
                 rope_type_quirks="phi3/configuration_phi3.py convert_rope_params_to_dict: rope_type 'su' or 'yarn' (legacy 'type') is renamed to 'longrope' AFTER standardize; "
                                  "top-level original_max_position_embeddings overrides the dict one. BUG in 5.24: a legacy {'type':'su'} dict fails validation with KeyError "
                                  "(original_max_position_embeddings is only copied for llama3/yarn/longrope and the rename happens after) - verified with legacy_tests.py.",
                 notes="longrope attention factor uses max_position_embeddings/original_max when factor absent.")
O["phimoe"] = dict(group="A_llama_half_full", layout="half", rope_type_quirks="longrope with explicit short_mscale/long_mscale in rope_parameters: forward (PhimoeRotaryEmbedding) multiplies cos/sin by long_mscale if seq_len > original_max_position_embeddings else short_mscale, instead of attention_factor; inv_freq recomputed every forward with rope_init_fn(config) (short factors).")
O["phi4_multimodal"] = dict(group="B_partial_half", layout="half", rotary_dim="int(head_dim * partial_rotary_factor)", rope_type_quirks="same su/yarn->longrope renaming as phi3")

O["glm"] = dict(group="C_interleaved_partial", layout="interleaved", rotary_dim="int(head_dim * partial_rotary_factor); default 0.5; rotated part = FIRST rotary_dim features",
                head_dim="head_dim key default 128",
                notes="apply_rotary_pos_emb (glm/modeling_glm.py) takes cos[..., :d/2].repeat_interleave(2) and an interleaved rotate_half (x[...,0::2], x[...,1::2] stacked) -> adjacent pairs (2i,2i+1) of the first rotary_dim features, frequency i for pair i.")
O["glm4"] = dict(O["glm"])
O["glm4v_text"] = dict(group="C_interleaved_partial", layout="interleaved", rotary_dim="int(head_dim * partial_rotary_factor) default 0.5", per_layer="mrope: mrope_section in rope_parameters (text_config)", notes="glm4v text uses rotate_half_llm (interleaved) + mrope; glm4v_moe_text uses half-split.")
O["glm_ocr_text"] = dict(O["glm4v_text"])
O["glm4v_moe_text"] = dict(group="P_mrope", layout="half", rotary_dim="int(head_dim * partial_rotary_factor) default 0.5", notes="half-split unlike glm4v_text")

O["cohere"] = dict(group="D_interleaved_full", layout="interleaved", rotary_dim="head_dim", head_dim="hidden_size // num_attention_heads",
                   qk_extras=["use_qk_norm (default False): CohereLayerNorm per head (no bias, mean-centred) before rope", "logit_scale on output logits (not rope)"],
                   notes="CohereRotaryEmbedding.forward builds emb = repeat_interleave(freqs, 2) and rotate_half is interleaved (cohere/modeling_cohere.py); q/k computed in float32.")
O["cohere2"] = dict(group="E_nope_on_some_layers", layout="interleaved", rotary_dim="head_dim", head_dim=LLAMA_HD,
                    nope_layers="RoPE ONLY on layers with layer_types[i]=='sliding_attention' AND config.sliding_window not None (Cohere2Attention: self.sliding_window = config.sliding_window if sliding else None; `if self.sliding_window is not None: apply_rotary`). full_attention layers are NoPE. Default layer_types: sliding unless (i+1) % sliding_window_pattern(4) == 0.",
                    config_keys_extra={"sliding_window_pattern": 4, "sliding_window": 4096})
O["cohere2_moe"] = dict(group="E_nope_on_some_layers", layout="interleaved", nope_layers="RoPE on sliding layers, plus on any layer where mlp_layer_types[i]=='dense' and prefix_dense_sliding_window_pattern == 1 (force_rope, cohere2_moe/modeling_cohere2_moe.py:299); others NoPE")
O["exaone4"] = dict(group="E_nope_on_some_layers", layout="half",
                    nope_layers="`if self.sliding_window is None or self.is_sliding: apply_rotary` (exaone4/modeling_exaone4.py:234): if config.sliding_window is None every layer gets RoPE; otherwise only layer_types[i]=='sliding_attention' layers; full_attention layers NoPE. default layer_types from sliding_window_pattern (4): full when (i+1)%4==0.",
                    qk_extras=["q_norm/k_norm per head RMSNorm before rope (post-norm architecture)"])
O["exaone_moe"] = dict(O["exaone4"])
O["kolibri1"] = dict(O["exaone4"])
O["afmoe"] = dict(group="E_nope_on_some_layers", layout="half", nope_layers="RoPE only where layer_types[i]=='sliding_attention' (is_local_attention); full layers NoPE", qk_extras=["q_norm/k_norm per head before rope", "output gate"])
O["flint"] = dict(group="E_nope_on_some_layers", layout="half", nope_layers="RoPE only on sliding_attention layers (and only if config.sliding_window not None)")
O["lara_mini"] = dict(group="E_nope_on_some_layers", layout="half", nope_layers="position_embeddings passed only to layer_type=='sliding_attention' layers (modeling_lara_mini.py:976); full_attention NoPE; linear_attention has no attention RoPE")
O["olmo_hybrid"] = dict(group="E_nope_on_some_layers", layout="half", nope_layers="position_embeddings only for layer_types[i]=='full_attention' (modeling_olmo_hybrid.py:953); rotary_emb is None (NO RoPE anywhere) when rope_parameters is None or rope_parameters['rope_theta'] is None - released checkpoints set it to None (modeling_olmo_hybrid.py:895)")
O["beam"] = dict(group="E_nope_on_some_layers", layout="half", nope_layers="rope_parameters[layer_type] is None -> NoPE with position-dependent attention scaling (default: full_attention=None) (beam/modeling_beam.py:562)")
O["granitemoehybrid"] = dict(group="E_nope_on_some_layers", layout="half", nope_layers="RoPE ONLY if config.position_embedding_type == 'rope' (default None => NO RoPE at all; modeling_granitemoehybrid.py:1057)",
                             config_keys_extra={"position_embedding_type": None})
O["granite_swa"] = dict(group="F_per_layer_theta", layout="half", per_layer="layer_rope_theta list (len num_hidden_layers; default [rope_theta]*L): one rotary per distinct non-zero theta; theta 0 => NoPE (modeling_granite_swa.py:456)", nope_layers="layer_rope_theta[i] == 0")
O["granitemoe_swa"] = dict(O["granite_swa"])
O["muse_spark_text"] = dict(group="F_per_layer_theta", layout="half", nope_layers="layer_rope_theta[i] == 0 => NoPE (value otherwise only used as a flag; single rotary at rope_parameters.rope_theta). Default: 0 when (L-1-i) % 4 == 0 (configuration_muse_spark.py:175)")
O["muse_glimmer_text"] = dict(O["muse_spark_text"])
O["zamba2"] = dict(group="E_nope_on_some_layers", layout="half", nope_layers="RoPE only if config.use_mem_rope (default False => no RoPE)", head_dim="attribute_map head_dim -> attention_head_dim, FORCED in __post_init__ to 2*hidden_size//num_attention_heads (config.json value overwritten); use_long_context=True forces max_position_embeddings=16384")
O["smollm3"] = dict(group="E_nope_on_some_layers", layout="half",
                    nope_layers="no_rope_layers: list[int] per layer, 1 = USE rope, 0 = NoPE (SmolLM3Attention.use_rope = config.no_rope_layers[layer_idx]). Default (no_rope_layers None): [int((i+1) % no_rope_layer_interval != 0)] with interval 4 => layers 3,7,11,... (0-based) are NoPE.",
                    config_keys_extra={"no_rope_layers": None, "no_rope_layer_interval": 4, "rope_theta": 2000000.0})
O["llama4_text"] = dict(group="G_llama4", layout="interleaved",
                        nope_layers="no_rope_layers: 1 = use rope, 0 = NoPE; default [int((i+1) % no_rope_layer_interval(4) != 0)] (configuration_llama4.py:169; empty list also -> default). layer_types derived: chunked_attention if use_rope and attention_chunk_size else full_attention.",
                        qk_extras=["use_qk_norm (default True): Llama4TextL2Norm (x * rsqrt(mean(x^2)+eps), no weight) applied AFTER rope, only on rope layers",
                                   "attn_temperature_tuning (default True) on NoPE layers only: q *= log1p(floor((pos+1)/floor_scale)) * attn_scale + 1, floor_scale 8192, attn_scale 0.1"],
                        notes="apply_rotary_emb uses view_as_complex on reshape(...,-1,2): true interleaved pairs, output interleaved order. rope_scaling llama3 in published configs (factor 16/8, original 8192).",
                        config_keys_extra={"no_rope_layers": None, "no_rope_layer_interval": 4, "attn_temperature_tuning": True, "floor_scale": 8192, "attn_scale": 0.1, "use_qk_norm": True})

O["gemma3_text"] = dict(group="H_gemma3_per_layer_theta", layout="half", head_dim="head_dim key (default 256)",
                        per_layer="rope_parameters nested {sliding_attention:{rope_theta 10000}, full_attention:{rope_theta 1e6}}; layer_types default: full when (i+1) % sliding_window_pattern(6) == 0",
                        rope_type_quirks="configuration_gemma3.py:132 convert_rope_params_to_dict: legacy rope_scaling is merged ONLY into full_attention; rope_theta -> full_attention (default 1e6); rope_local_base_freq -> sliding_attention (default 1e4). If a FLAT new-style rope_parameters is passed it is not split: nested default keys are ADDED and the flat keys are ignored.",
                        qk_extras=["q_norm/k_norm per head (Gemma RMSNorm: x*(1+w)) before rope", "scaling = query_pre_attn_scalar ** -0.5 (default 256)", "attn_logit_softcapping None"],
                        config_keys_extra={"rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "sliding_window_pattern": 6, "query_pre_attn_scalar": 256})
O["gemma3n_text"] = dict(O["gemma3_text"], nope_layers="none; kv-shared layers (last num_kv_shared_layers) reuse rotated keys from the last non-shared layer of the same type; queries still rotated")
O["t5gemma2_text"] = dict(O["gemma3_text"])
O["t5gemma2_decoder"] = dict(O["gemma3_text"])
O["embedding_gemma2_text"] = dict(O["gemma3_text"])
O["gemma4_text"] = dict(group="H_gemma4_proportional", layout="half",
                        rotary_dim="sliding: head_dim (default rope). full_attention: rope_type 'proportional' partial_rotary_factor 0.25: inv_freq = 1/theta**(arange(0, 2*int(p*hd//2), 2)/hd) padded with ZEROS to hd/2 -> exponent denominator is head_dim (not rotary dim) and the rotated pairs are (i, i+hd/2) for i < p*hd/2",
                        head_dim="sliding: head_dim (default 256); full_attention layers: per_layer_config head_dim = global_head_dim (default 512, configuration_gemma4.py:208)",
                        per_layer="nested rope_parameters {sliding_attention: default 1e4, full_attention: proportional p=0.25 theta 1e6}",
                        qk_extras=["q_norm/k_norm before rope", "v_norm", "attention_k_eq_v on full layers", "kv-shared layers reuse keys"])
O["gemma4_unified_text"] = dict(O["gemma4_text"])
O["diffusion_gemma_text"] = dict(O["gemma4_text"], notes="default init honours per-layer partial_rotary_factor")
O["gemma"] = dict(group="A_llama_half_full", layout="half", head_dim="head_dim key default 256", qk_extras=["scaling head_dim**-0.5 (standard)"])
O["gemma2"] = dict(group="A_llama_half_full", layout="half", head_dim="head_dim key default 256", per_layer="layer_types sliding/full alternate but RoPE is uniform (single theta)",
                   qk_extras=["scaling = query_pre_attn_scalar ** -0.5 (default 256)", "attn_logit_softcapping 50.0"], config_keys_extra={"query_pre_attn_scalar": 256})
O["vaultgemma"] = dict(O["gemma2"])
O["t5gemma"] = dict(O["gemma2"], role="composite(encoder/decoder sub-configs own rope)")

O["olmo3"] = dict(group="I_olmo3_per_layer", layout="half", head_dim="hidden_size // num_attention_heads",
                  per_layer="nested {sliding_attention, full_attention}; default theta 500000 both; layer_types default: full when (i+1)%4==0",
                  rope_type_quirks="olmo3/configuration_olmo3.py convert_rope_params_to_dict: legacy rope_scaling (e.g. yarn) is merged ONLY into full_attention; legacy rope_theta goes to full_attention, and sliding_attention gets kwargs.pop('rope_theta', default) AFTER the first pop => sliding ALWAYS gets class default 500000 (verified: rope_theta=1234 -> full 1234, sliding 500000). A FLAT rope_parameters dict (new-style, not nested) is IGNORED: nested defaults are added next to the flat keys.",
                  qk_extras=["q_norm/k_norm RMSNorm over the FULL projection (num_heads*head_dim) before reshape, before rope (like olmo2)"],
                  notes="cos/sin kept in float32 (not cast to x.dtype); apply casts result back to q dtype.")
O["olmo2"] = dict(group="A_llama_half_full", layout="half", qk_extras=["q_norm/k_norm RMSNorm over full projection (hidden) before per-head reshape, before rope"], notes="cos/sin float32; result cast to input dtype")
O["flex_olmo"] = dict(O["olmo2"])
O["olmo"] = dict(group="A_llama_half_full", layout="half", qk_extras=["clip_qkv optional clamp of q/k/v before rope"])
O["olmoe"] = dict(group="A_llama_half_full", layout="half", qk_extras=["q_norm/k_norm RMSNorm over full projection before rope", "clip_qkv"])
O["modernbert"] = dict(group="H_gemma3_per_layer_theta", layout="half", head_dim="hidden_size // num_attention_heads",
                       rope_type_quirks="configuration_modernbert.py: legacy global_rope_theta (160000) -> full_attention, local_rope_theta (10000) -> sliding_attention; legacy rope_scaling applied to BOTH layer types",
                       config_keys_extra={"global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "global_attn_every_n_layers": 3})
O["modernbert-decoder"] = dict(O["modernbert"])

O["gpt_oss"] = dict(group="J_gpt_oss", layout="half", head_dim="head_dim key default 64",
                    rope_type_quirks="default rope_parameters (when None) = yarn factor 32, beta_fast 32, beta_slow 1, truncate False, original_max 4096, theta 150000 (configuration_gpt_oss.py:89). truncate False => correction range NOT floored/ceiled.",
                    per_layer="layer_types alternate sliding/full (sliding first) but RoPE identical on all layers",
                    notes="_apply_rotary_emb: chunk(x,2) -> first*cos - second*sin, second*cos + first*sin with half-width cos (no duplication) == half-split layout.",
                    qk_extras=["attention sinks (learned per-head logits) - not rope"])
O["openai_privacy_filter"] = dict(group="D_interleaved_full", layout="interleaved", notes="UNLIKE gpt_oss: _apply_rotary_emb uses x[...,::2]/x[...,1::2] and stacks back (interleaved pairs, interleaved output) with gpt_oss-style half-width cos; default theta 150000")

O["deepseek_v2"] = dict(group="K_mla_interleaved", layout="interleaved",
                        rotary_dim="qk_rope_head_dim (default 64); config sets head_dim = qk_rope_head_dim (configuration_deepseek_v2.py:124)",
                        head_dim="rope: qk_rope_head_dim; q head = qk_nope_head_dim + qk_rope_head_dim, rope part is the LAST qk_rope_head_dim features of q (q_pe) and the shared k_pe",
                        qk_extras=["softmax scale = qk_head_dim**-0.5 * mscale**2 where mscale = 0.1*mscale_all_dim*ln(factor)+1 if rope_parameters has mscale_all_dim (yarn) (modeling_deepseek_v2.py:281)"],
                        notes="Always interleaved (view_as_complex, output interleaved order) - no rope_interleave flag.")
O["deepseek_v3"] = dict(group="K_mla_interleaved", layout="config:rope_interleave (default True)",
                        rotary_dim="qk_rope_head_dim (default 64); config.head_dim := qk_rope_head_dim (configuration_deepseek_v3.py:123)",
                        head_dim="qk_rope_head_dim for RoPE (hidden_size//num_heads would be wrong: 7168/128=56)",
                        qk_extras=["softmax scale = qk_head_dim**-0.5 * yarn_get_mscale(factor, mscale_all_dim)**2 when mscale_all_dim truthy (modeling_deepseek_v3.py:268)", "q_a_layernorm / kv_a_layernorm (MLA low-rank norms) before rope"],
                        notes="rope_interleave True -> apply_rotary_pos_emb_interleave (pairs (2i,2i+1), output written in half-split order); False -> rotate_half. yarn attention_factor from mscale/mscale_all_dim (=1.0 when equal).",
                        config_keys_extra={"rope_interleave": True, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128})
for k in ("axk1", "youtu", "glm4_moe_lite", "mistral4"):
    O[k] = dict(O["deepseek_v3"], notes="DeepSeek-V3-style MLA; see deepseek_v3. " + ("mistral4: head_dim = nope+rope and partial_rotary_factor = qk_rope_head_dim/head_dim set in config (configuration_mistral4.py:130); llama_4 style scaling present." if k == "mistral4" else ""))
for k in ("deepseek_v32", "glm_moe_dsa", "bailing_hybrid", "longcat_flash", "axk2"):
    O[k] = dict(O["deepseek_v3"], layout="interleaved (apply_rotary_pos_emb_interleave unconditionally; output in half-split order)")
O["mistral_large4_text"] = dict(O["deepseek_v3"], layout="interleaved (apply_rotary_pos_emb_interleave)",
                                nope_layers="no_rope_layers (1=rope, 0=NoPE) per layer",
                                qk_extras=["LEARNED per-frequency parameter `alpha` in the rotary module: inv_freq * exp(alpha) (modeling_mistral_large4.py forward) - checkpoint-dependent, not derivable from config"])
O["hy_v4"] = dict(group="K_mla_half", layout="half", rotary_dim="qk_rope_head_dim; rope part is the LAST qk_rope_head_dim features of each q head (torch.split([nope, rope])) and the shared single-head k_rot", notes="MLA with half-split rotate_half (not interleaved); indexer also 'flipped' (rope on later portion) (modeling_hy_v4.py:224)")
O["minicpm3"] = dict(group="K_mla_half", layout="half", rotary_dim="qk_rope_head_dim (config.head_dim := qk_rope_head_dim)", notes="MLA but half-split rotate_half")
O["deepseek_v4"] = dict(group="L_special", layout="interleaved", rotary_dim="int(head_dim * partial_rotary_factor); rope part is the LAST rope_dim features (x[..., -rope_dim:]) (deepseek_v4 apply_rotary_pos_emb)",
                        per_layer="nested rope_parameters labelled main/compress (_rope_type_labels); compress_rope_theta 160000", notes="cos/sin half width, repeat_interleave(2) in apply; interleaved rotate_half")

O["hunyuan_v1_dense"] = dict(group="M_hunyuan_alpha", layout="half", head_dim="head_dim key (default None! must be in config.json; ntk_alpha uses config.head_dim directly)",
                             rope_type_quirks="rope_scaling {'type':'dynamic','alpha':A,...}: HunYuan*RotaryEmbedding.__init__ renames rope_type to 'ntk_alpha' when rope_type=='dynamic' and rope_parameters.get('alpha') truthy (modeling_hunyuan_v1_dense.py:300). base = rope_theta * alpha ** (dim/(dim-2)) computed in Python float64, then inv_freq = 1/(base ** (arange(0,dim,2,float32)/dim)) (float32 tensor pow). Fixed (no seq-len dependence, no dynamic update since rope_type no longer contains 'dynamic'). Without alpha -> standard dynamic NTK.",
                             qk_extras=["query_layernorm/key_layernorm (per-head RMSNorm) applied AFTER rope (modeling_hunyuan_v1_dense.py attention forward)"], config_keys_extra={"rope_scaling.alpha": "e.g. 1000.0"})
O["hunyuan_v1_moe"] = dict(O["hunyuan_v1_dense"])
O["nanochat"] = dict(group="L_special", layout="half_reversed_sign",
                     notes="rotate_half returns cat((x2, -x1)) (nanochat/modeling_nanochat.py) => rotation by -theta (equivalently sin negated) relative to llama.",
                     qk_extras=["q/k RMSNorm (no weight) per head after rope"])
O["falcon"] = dict(group="A_llama_half_full", layout="half", head_dim="hidden_size // num_attention_heads (property)",
                   nope_layers="no RoPE at all if alibi=True (rotary = not alibi)",
                   rope_type_quirks="FalconConfig has NO attribute_map in 5.24: legacy RefinedWeb keys n_head / n_layer are NOT mapped (stored as unknown attrs; num_attention_heads stays default 71); only n_embed -> hidden_size is handled in __post_init__. model_type 'RefinedWebModel'/'RefinedWeb' is not registered in AutoConfig (ValueError).",
                   config_keys_extra={"alibi": False, "n_embed": "alias of hidden_size"})
O["gptj"] = dict(group="N_gptj_interleaved_abs_dim", layout="interleaved", rotary_dim="absolute `rotary_dim` key (default 64); None -> whole head rotated but frequencies computed with dim = hidden_size (pos_embd_dim = rotary_dim or hidden_size)",
                 head_dim="n_embd // n_head (attribute_map hidden_size->n_embd, num_attention_heads->n_head)",
                 rope_type_quirks="No rope_parameters: theta hard-coded 10000 (create_sinusoidal_positions), no scaling support; sincos table precomputed for max_position_embeddings (n_positions).",
                 config_keys_extra={"rotary_dim": 64})
O["codegen"] = dict(O["gptj"], config_keys_extra={"rotary_dim": 64, "n_ctx/n_positions": 2048})
O["ernie4_5"] = dict(group="D_interleaved_full", layout="interleaved", notes="cos[..., :d/2].repeat_interleave(2) + interleaved rotate_half; computed in float32; cos/sin not cast.")
O["ernie4_5_moe"] = dict(O["ernie4_5"])
O["helium"] = dict(group="D_interleaved_full", layout="interleaved", notes="helium/modeling_helium.py:163 interleaved rotate_half + repeat_interleave of half cos")
O["blt"] = dict(group="D_interleaved_full", layout="interleaved")
O["ministral3"] = dict(group="A_llama_half_full", layout="half",
                       qk_extras=["llama_4_scaling_beta in rope_parameters (default 0.1): q *= 1 + beta*log(1 + floor(pos / original_max_position_embeddings)) (modeling_ministral3.py:105,149) - applied on all layers"],
                       rope_type_quirks="default rope_parameters is yarn factor 16, original_max 16384, beta_fast 32, beta_slow 1, mscale 1, mscale_all_dim 1, theta 1e6, llama_4_scaling_beta 0.1, plus a stray max_position_embeddings key")
O["mimo_v2_flash"] = dict(group="O_per_layer_partial", layout="half", rotary_dim="int(head_dim * partial_rotary_factor); compute_default falls back to 0.334 if the key is absent (modeling_mimo_v2_flash.py)",
                          per_layer="nested {full_attention theta 5e6, sliding_attention theta 1e4}, both partial 0.334; convert_rope_params_to_dict is a no-op (legacy rope_theta not moved!)")
for k in ("laguna", "mellum", "zaya", "step3p5", "neomme", "dots3_note_text"):
    O[k] = dict(group="O_per_layer_partial", layout=("interleaved" if k == "dots3_note_text" else "half"), per_layer="nested per-layer-type rope_parameters (see config_keys.rope_parameters), each with its own partial_rotary_factor; convert_rope_params_to_dict overridden (laguna/mellum/zaya: no-op)")
O["qwen2_vl_text"] = dict(group="P_mrope", layout="half", per_layer="mrope: rope_parameters.mrope_section (e.g. [16,24,24]) splits the d/2 frequencies into t/h/w position streams; with 1-D text positions identical to plain rope",
                          rope_type_quirks="legacy rope_scaling {'type':'mrope'} -> rope_type 'default' (configuration_qwen2_vl.py)")
for k in ("qwen2_5_vl_text", "qwen2_5_omni_text", "qwen3_vl_text", "qwen3_vl_moe_text", "paddleocr_vl_text", "hunyuan_vl_text", "cosmos3_edge_text", "qwen3_5_text", "qwen3_5_moe_text", "qwen4_exp_text", "ernie4_5_vl_moe_text", "hy_v4_vl_text", "glm_image_text", "qwen3_omni_moe_text"):
    O.setdefault(k, dict(group="P_mrope", per_layer="mrope (mrope_section, maybe mrope_interleaved) - multimodal 3-D positions; for text-only positions equals 1-D rope with same layout"))
O["lfm3"] = dict(group="H_gemma4_proportional", layout="half", per_layer="nested {sliding_attention: default theta 1e4, full_attention: rope_type proportional, partial_rotary_factor 0.5, theta 1e6}: full layers rotate pairs (i, i+hd/2) for i < hd/4, exponent denominator hd", qk_extras=["q/k norm per head"])
O["esm"] = dict(group="U_unreviewed_special", layout="half", nope_layers="RoPE only if position_embedding_type == 'rotary' (default 'absolute'); ESM-2 checkpoints set 'rotary'", notes="theta fixed via config.rope_theta attr (compute_default uses config.rope_theta, not rope_parameters)")
O["moshi"] = dict(group="U_unreviewed_special", layout="half", nope_layers="rotary_emb only if use_rope (main decoder yes; depth decoder no RoPE)")
O["kyutai_speech_to_text"] = dict(O["moshi"])
O["qwen3"] = dict(group="A_llama_half_full", layout="half", qk_extras=["q_norm/k_norm RMSNorm per head (head_dim) before rope"])
O["qwen3_moe"] = dict(O["qwen3"])
O["chameleon"] = dict(group="A_llama_half_full", layout="half", qk_extras=["q_norm/k_norm LayerNorm over head_dim per head (weights per head) before rope"])

for k in ("granite", "granite_docling_text", "granitemoe", "granitemoeshared", "hyperclovax"):
    O.setdefault(k, dict(group="A_llama_half_full", layout="half"))
    O[k]["qk_extras"] = ["softmax scale = config.attention_multiplier (not head_dim**-0.5) (modeling_granite.py:124)"]
O["falcon_h1"] = dict(group="A_llama_half_full", layout="half", qk_extras=["key_multiplier applied to k (muP) - not rope"])
O["dbrx"] = dict(group="A_llama_half_full", layout="half", qk_extras=["clip_qkv (attn_config) clamp before rope"],
                 head_dim="d_model // n_heads (attribute_map hidden_size->d_model, num_attention_heads->n_heads)",
                 rope_type_quirks="Published DBRX config.json stores rope_theta INSIDE attn_config (500000). In 5.24 DbrxAttentionConfig keeps it as an unused attribute and DbrxRotaryEmbedding uses top-level rope_parameters -> theta 10000 (verified: inv_freq[1] = 0.8660 = 10000**(-1/64)). Parity with transformers therefore means theta 10000 unless config.json also has top-level rope_theta/rope_parameters.")
O["timesfm2_5"] = dict(group="A_llama_half_full", layout="half", qk_extras=["learned per-dim query scaling parameter instead of head_dim**-0.5"])

OVERRIDES = O
