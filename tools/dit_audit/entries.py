"""The hand-read DiT table: one entry per diffusers transformer class with RoPE (see audit_dit.py)."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "vision_audit"))
from audit_vision import entry

HEAD = ["attention_head_dim"]
TEXT_ZERO_3 = {"part": "text", "axes": [0, 0, 0]}
IMAGE_HW = {"part": "image", "axes": [0, "row", "col"]}
VIDEO = {"part": "image", "axes": ["frame", "row", "col"]}

FLUX = {
    "module": "transformer_flux",
    "head_dim": HEAD,
    "frequencies": {"dims": "axes_dims_rope", "theta": 10000.0, "interleaved": True, "precision": "float64"},
    "tokens": {
        "patch": [2, 2],
        "parts": [TEXT_ZERO_3, IMAGE_HW, {"part": "references", "axes": [1, "row", "col"]}],
    },
    "rope_module": "pos_embed",
    "pipeline": "FluxPipeline (FluxKontextPipeline: one reference image at t = 1 after the latents)",
}
FLUX_ONLY = entry(FLUX, tokens__parts=[TEXT_ZERO_3, IMAGE_HW])
FLUX2 = entry(
    FLUX,
    module="transformer_flux2",
    frequencies__theta="rope_theta",
    tokens={
        "patch": [2, 2],
        "parts": [
            {"part": "text", "axes": [0, 0, 0, "index"]},
            {"part": "image", "axes": [0, "row", "col", 0]},
            {"part": "references", "axes": ["10 + 10*image", "row", "col", 0]},
        ],
    },
    pipeline="Flux2Pipeline (reference images at t = 10, 20, ... after the latents)",
)
WAN = {
    "module": "transformer_wan",
    "head_dim": HEAD,
    "frequencies": {"dims": "wan", "theta": 10000.0, "interleaved": True, "precision": "float64"},
    "tokens": {"patch": [{"key": "patch_size", "index": i} for i in range(3)], "parts": [VIDEO]},
    "rope_module": "rope",
}

HUNYUAN_VIDEO = {
    "module": "transformer_hunyuan_video",
    "head_dim": HEAD,
    "frequencies": {"dims": "rope_axes_dim", "theta": "rope_theta", "interleaved": True},
    "tokens": {
        "patch": ["patch_size_t", "patch_size", "patch_size"],
        "parts": [VIDEO, {"part": "text", "axes": [0, 0, 0]}],
    },
    "rope_module": "rope",
    "text": "text tokens after the video, unrotated",
}

QWEN = {
    "module": "transformer_qwenimage",
    "head_dim": HEAD,
    "frequencies": {"dims": "axes_dims_rope", "theta": 10000.0, "interleaved": True},
    "tokens": {
        "patch": [2, 2],
        "parts": [
            {"part": "text", "axes": ["index + max_half_side"] * 3},
            {"part": "image", "axes": ["frame", "row_centred", "col_centred"]},
            {"part": "references", "axes": ["frame + 1 + image", "row_centred", "col_centred"]},
        ],
    },
    "rope_module": "pos_embed",
    "refused_when": {
        "use_layer3d_rope": (
            "Qwen-Image-Layered's layer RoPE (use_layer3d_rope) puts the last image of the list, the condition, at "
            "frame -1; the table does not describe that layout yet"
        )
    },
    "pipeline": "QwenImagePipeline / QwenImageEditPipeline (reference images after the latents at frames 1, 2, ...)",
}

Z_IMAGE = {
    "module": "transformer_z_image",
    "head_dim": ["dim", "n_heads"],
    "frequencies": {"dims": "axes_dims", "theta": "rope_theta", "interleaved": True, "precision": "float64-rounded"},
    "tokens": {
        "patch": [{"key": "all_patch_size", "index": 0}, {"key": "all_patch_size", "index": 0}],
        "text_multiple": 32,
        "parts": [
            {"part": "image", "axes": ["padded_text_len + 1 + frame", "row", "col"]},
            {"part": "padding", "multiple": 32},
            {"part": "text", "count": "padded_text_len", "axes": ["1 + index", 0, 0]},
        ],
    },
    "rope_module": "rope_embedder",
    "text": "the caption padded to a multiple of 32 tokens, after the image (also padded to a multiple of 32)",
}

COGVIEW4 = {
    "module": "transformer_cogview4",
    "head_dim": HEAD,
    "frequencies": {"dims": "halves", "theta": 10000.0},
    "tokens": {
        "patch": ["patch_size", "patch_size"],
        "settings": {"base_h": {"key": "rope_axes_dim", "index": 0}, "base_w": {"key": "rope_axes_dim", "index": 1}},
        "parts": [
            {"part": "text", "axes": [0, 0]},
            {"part": "image", "axes": ["row", "col"], "quantised_to": ["base_h", "base_w"]},
        ],
    },
    "rope_module": "rope",
    "text": "text tokens first, unrotated",
}
COSMOS = {
    "module": "transformer_cosmos",
    "head_dim": HEAD,
    "frequencies": {
        "dims": "wan",
        "theta": 10000.0,
        "ntk": [{"key": "rope_scale", "index": i} for i in range(3)],
        "ntk_exponent": True,
        "theta_times_factor": True,
    },
    "tokens": {
        "patch": [{"key": "patch_size", "index": i} for i in range(3)],
        "settings": {"base_fps": 24},
        "parts": [{**VIDEO, "fps_scaled": "base_fps"}],
    },
    "rope_module": "rope",
}

LTX = {
    "module": "transformer_ltx",
    "head_dim": HEAD,
    "frequencies": {
        "dims": "sixths",
        "width": ["num_attention_heads", "attention_head_dim"],
        "ladder": "linspace",
        "theta": 10000.0,
        "arrangement": "alternate",
        "pad_front": True,
        "interleaved": True,
    },
    "tokens": {
        "patch": ["patch_size_t", "patch_size", "patch_size"],
        "settings": {"time_scale": {"per_fps": 8}, "space_scale": 32, "patch_t": "patch_size_t", "patch": "patch_size"},
        "parts": [
            {
                "part": "image",
                "kind": "affine",
                "axes": [
                    {"index": "frame", "scale": "time_scale", "patch": "patch_t", "base": 20},
                    {"index": "row", "scale": "space_scale", "patch": "patch", "base": 2048},
                    {"index": "col", "scale": "space_scale", "patch": "patch", "base": 2048},
                ],
            }
        ],
    },
    "rope_module": "rope",
    "pipeline": "LTXPipeline (rope_interpolation_scale = (8 / frame_rate, 32, 32))",
}

COGVIDEOX = {
    "module": "cogvideox_transformer_3d",
    "head_dim": HEAD,
    "frequencies": {"dims": "cogvideox", "theta": 10000.0, "interleaved": True},
    "tokens": {
        "patch": [1, "patch_size", "patch_size"],
        "settings": {
            "base_grid": [
                {"product": ["sample_height"], "divide": ["patch_size"]},
                {"product": ["sample_width"], "divide": ["patch_size"]},
            ]
        },
        "parts": [{"part": "text", "axes": [0, 0, 0]}, {"part": "image", "kind": "crop_linspace", "axes": [0, 0, 0]}],
    },
    "tokens_when": [
        {
            "key": "patch_size_t",
            "tokens": {
                "patch": ["patch_size_t", "patch_size", "patch_size"],
                "parts": [{"part": "text", "axes": [0, 0, 0]}, VIDEO],
            },
        }
    ],
    "refused_unless": {
        "use_rotary_positional_embeddings": "this checkpoint adds sin-cos (or learned) positional embeddings instead"
    },
    "rope_argument": "image_rotary_emb",
    "text": "text tokens first, unrotated",
    "pipeline": (
        "CogVideoXPipeline._prepare_rotary_positional_embeddings: CogVideoX 1.0 crops the grid onto its "
        "sample size with a float32 linspace, 1.5 (patch_size_t set) counts patches"
    ),
}

AUDIO = {
    "head_dim": HEAD,
    "frequencies": {"dims": "head", "theta": 10000.0},
    "tokens": {"patch": [1], "parts": [{"part": "image", "axes": ["col"]}]},
}

KANDINSKY = {
    "module": "transformer_kandinsky6",
    "head_dim": [{"sum": "axes_dims"}],
    "frequencies": {"dims": "axes_dims", "ladder": "exp", "interleaved": True, "divisors": "scale_factor"},
    "tokens": {"patch": [{"key": "patch_size", "index": i} for i in range(3)], "parts": [VIDEO]},
    "rope_module": "visual_rope_embeddings",
    "text": "the visual self attention holds the video tokens only (text has its own 1-D RoPE blocks)",
}

ENTRIES = {
    "FluxTransformer2DModel": FLUX,
    "FluxControlNetModel": entry(FLUX_ONLY, module="controlnet_flux", pipeline="FluxControlNetPipeline"),
    "ChromaTransformer2DModel": entry(FLUX_ONLY, module="transformer_chroma", pipeline="ChromaPipeline"),
    "BriaTransformer2DModel": entry(
        FLUX_ONLY, module="transformer_bria", frequencies__theta="rope_theta", pipeline="BriaPipeline"
    ),
    "BriaFiboTransformer2DModel": entry(
        FLUX_ONLY,
        module="transformer_bria_fibo",
        frequencies__theta="rope_theta",
        tokens__patch=[1, 1],
        pipeline="BriaFiboPipeline (do_patching=False, its default: one token per latent pixel)",
    ),
    "Krea2Transformer2DModel": entry(
        FLUX_ONLY,
        module="transformer_krea2",
        frequencies__theta="rope_theta",
        rope_module="rotary_emb",
        pipeline="Krea2Pipeline.prepare_position_ids",
    ),
    "LongCatImageTransformer2DModel": entry(
        FLUX_ONLY,
        module="transformer_longcat_image",
        tokens__parts=[
            {"part": "text", "axes": [0, "index", "index"]},
            {"part": "image", "axes": [1, "row + 512", "col + 512"]},
        ],
        pipeline="LongCatImagePipeline (image ids start at its tokenizer_max_length, 512)",
    ),
    "OvisImageTransformer2DModel": entry(
        FLUX_ONLY,
        module="transformer_ovis_image",
        tokens__parts=[{"part": "text", "axes": [0, "index", "index"]}, IMAGE_HW],
        pipeline="OvisImagePipeline",
    ),
    "Flux2Transformer2DModel": FLUX2,
    "Flux3Transformer2DModel": entry(
        FLUX2,
        module="transformer_flux3",
        tokens={
            "patch": [1, 1],
            "parts": [
                {"part": "text", "axes": [0, 0, 0, "index"]},
                {"part": "image", "axes": [0, "0.5*row", "0.5*col", 0]},
                {"part": "references", "axes": [0, "0.5*row", "0.5*col", "-1 - image"]},
            ],
        },
        pipeline="Flux3ModularPipeline (image ids scaled by its image_rope_scale 0.5, references at l = -1, -2, ...)",
    ),
    "WanTransformer3DModel": WAN,
    "WanVACETransformer3DModel": entry(WAN, module="transformer_wan_vace"),
    "WanAnimateTransformer3DModel": entry(WAN, module="transformer_wan_animate"),
    "SkyReelsV2Transformer3DModel": entry(WAN, module="transformer_skyreels_v2"),
    "ChronoEditTransformer3DModel": entry(
        WAN,
        module="transformer_chronoedit",
        tokens={
            "patch": WAN["tokens"]["patch"],
            "parts": [{**VIDEO, "two_frames": "skip"}],
            "settings": {"skip": "rope_temporal_skip_len"},
        },
    ),
    "AnyFlowTransformer3DModel": entry(WAN, module="transformer_anyflow"),
    "SanaVideoTransformer3DModel": entry(
        WAN, module="transformer_sana_video", text="linear self attention over the video tokens (Wan's RoPE)"
    ),
    "QwenImageTransformer2DModel": QWEN,
    "QwenImageControlNetModel": entry(QWEN, module="controlnet_qwenimage", refused_when={}),
    "NucleusMoEImageTransformer2DModel": entry(
        QWEN,
        module="transformer_nucleusmoe_image",
        tokens__parts=[
            {"part": "image", "axes": ["frame", "row_centred", "col_centred"]},
            {"part": "text", "axes": ["index + max_half_side"] * 3},
        ],
        refused_when={},
        text="keys only: the image tokens attend to [image, text] keys",
        pipeline="NucleusMoEImagePipeline",
    ),
    "QwenImage21Transformer2DModel": entry(
        QWEN,
        module="transformer_qwenimage21",
        tokens={
            "patch": [1, 1],
            "parts": [
                {"part": "text", "axes": ["index"] * 3},
                {"part": "image", "axes": ["text_len", "row_centred", "col_centred"]},
            ],
        },
        refused_when={},
        pipeline="QwenImage21Pipeline, text to image (condition images inside the prompt are not described)",
    ),
    "ZImageTransformer2DModel": Z_IMAGE,
    "ZImageControlNetModel": {
        "module": "controlnet_z_image",
        "unsupported": (
            "it has no RoPE of its own: ZImageControlNetModel.from_transformer copies the transformer's rope_embedder, "
            "so use dit_rope with the ZImageTransformer2DModel config it was built from"
        ),
    },
    "BriaFibo2Transformer2DModel": entry(
        Z_IMAGE,
        module="transformer_bria_fibo2",
        head_dim=["dim", "n_heads"],
        tokens={
            "patch": ["patch_size", "patch_size"],
            "settings": {"max_gist": "max_num_gist_tokens"},
            "parts": [
                {"part": "text", "axes": ["1 + index", 0, 0]},
                {"part": "image", "axes": ["max_gist + 1", "row", "col"]},
                {"part": "references", "axes": ["max_gist + 2 + image", "row", "col"]},
            ],
        },
        text="text_len counts the gist tokens the Perceiver makes of the prompt (compute_gist_count), first",
        pipeline="BriaFibo2Pipeline (context images after the image)",
    ),
    "Lumina2Transformer2DModel": {
        "module": "transformer_lumina2",
        "head_dim": ["hidden_size", "num_attention_heads"],
        "frequencies": {"dims": "axes_dim_rope", "theta": 10000.0, "interleaved": True, "precision": "float64"},
        "tokens": {
            "patch": ["patch_size", "patch_size"],
            "parts": [{"part": "text", "axes": ["index", 0, 0]}, {"part": "image", "axes": ["text_len", "row", "col"]}],
        },
        "rope_module": "rope_embedder",
    },
    "HiDreamImageTransformer2DModel": {
        "module": "transformer_hidream_image",
        "head_dim": HEAD,
        "frequencies": {"dims": "axes_dims_rope", "theta": 10000.0, "interleaved": True, "precision": "float64"},
        "tokens": {
            "patch": ["patch_size", "patch_size"],
            "settings": {
                "max_tokens": {
                    "product": [{"key": "max_resolution", "index": 0}, {"key": "max_resolution", "index": 1}],
                    "divide": ["patch_size", "patch_size"],
                }
            },
            "parts": [
                IMAGE_HW,
                {"part": "padding", "to": "max_tokens", "only_non_square": True},
                TEXT_ZERO_3,
            ],
        },
        "rope_module": "pe_embedder",
        "text": "a non-square image is padded with unrotated tokens to max_resolution's token count before the text",
    },
    "PRXTransformer2DModel": {
        "module": "transformer_prx",
        "head_dim": ["hidden_size", "num_heads"],
        "frequencies": {"dims": "axes_dim", "theta": "theta", "interleaved": True, "precision": "float64"},
        "tokens": {
            "patch": ["patch_size", "patch_size"],
            "parts": [{"part": "text", "axes": [0, 0]}, {"part": "image", "axes": ["row", "col"]}],
        },
        "rope_module": "pe_embedder",
        "none_means": {"axes_dim": [32, 32]},
        "text": "keys only: text keys, unrotated, before the image keys (the image tokens alone query)",
    },
    "CogView4Transformer2DModel": COGVIEW4,
    "GlmImageTransformer2DModel": entry(
        COGVIEW4,
        module="transformer_glm_image",
        tokens={
            "patch": ["patch_size", "patch_size"],
            "parts": [{"part": "text", "axes": [0, 0]}, {"part": "image", "axes": ["row", "col"]}],
        },
    ),
    "CosmosTransformer3DModel": COSMOS,
    "CosmosControlNetModel": entry(COSMOS, module="controlnet_cosmos"),
    "LTXVideoTransformer3DModel": LTX,
    "MochiTransformer3DModel": {
        "module": "transformer_mochi",
        "head_dim": HEAD,
        "frequencies": {"ladder": "learned", "parameter": "pos_frequencies", "interleaved": True, "fused_sum": True},
        "tokens": {
            "patch": [1, "patch_size", "patch_size"],
            "settings": {"area": 36864},
            "parts": [{"part": "image", "kind": "centres", "area": "area"}, {"part": "text", "axes": [0, 0, 0]}],
        },
        "rope_module": "rope",
        "text": "text tokens after the video, unrotated",
    },
    "CogVideoXTransformer3DModel": COGVIDEOX,
    "ConsisIDTransformer3DModel": entry(COGVIDEOX, module="consisid_transformer_3d", tokens_when=[]),
    "EasyAnimateTransformer3DModel": entry(
        COGVIDEOX,
        module="transformer_easyanimate",
        tokens={
            "patch": [1, "patch_size", "patch_size"],
            "settings": {
                "base_grid": [{"product": [60], "divide": ["patch_size"]}, {"product": [90], "divide": ["patch_size"]}]
            },
            "parts": COGVIDEOX["tokens"]["parts"],
        },
        tokens_when=[],
        refused_unless={},
        rope_module="rope_embedding",
        rope_argument=None,
        pipeline="the model builds it (a 90 x 60 base grid over the patch size)",
    ),
    "HunyuanDiT2DModel": {
        "module": "hunyuan_transformer_2d",
        "head_dim": HEAD,
        "frequencies": {"dims": "halves", "theta": 10000.0, "interleaved": True, "order": [1, 0]},
        "tokens": {
            "patch": ["patch_size", "patch_size"],
            "settings": {"base_grid": [{"product": [64], "divide": ["patch_size"]}] * 2},
            "parts": [{"part": "image", "kind": "crop_linspace", "axes": [0, 0]}],
        },
        "rope_argument": "image_rotary_emb",
        "pipeline": "HunyuanDiTPipeline (get_2d_rotary_pos_embed over a 512 px base grid; columns rotate first)",
    },
    "AllegroTransformer3DModel": {
        "module": "transformer_allegro",
        "head_dim": HEAD,
        "frequencies": {"dims": "thirds", "theta": 10000.0, "blocks": 3},
        "tokens": {
            "patch": ["patch_size_t", "patch_size", "patch_size"],
            "settings": {
                "scale_t": "interpolation_scale_t",
                "scale_h": "interpolation_scale_h",
                "scale_w": "interpolation_scale_w",
            },
            "parts": [{**VIDEO, "divided_by": {"frame": "scale_t", "row": "scale_h", "col": "scale_w"}}],
        },
        "rope_argument": "image_rotary_emb",
        "pipeline": "AllegroPipeline (indices divided by the interpolation scales; each third of the head half-split)",
    },
    "AceStepTransformer1DModel": entry(
        AUDIO,
        module="ace_step_transformer",
        head_dim=["head_dim"],
        frequencies__theta="rope_theta",
        tokens__patch=["patch_size"],
        rope_function="_ace_step_rotary_freqs",
    ),
    "StableAudioDiTModel": entry(
        AUDIO,
        module="stable_audio_transformer",
        frequencies__dims="half",
        tokens__parts=[{"part": "text", "count": 1, "axes": ["index"]}, {"part": "image", "axes": ["1 + col"]}],
        rope_argument="rotary_embedding",
        text="one token of the start and end seconds, first (text_len is not used)",
        pipeline="StableAudioPipeline (rotary over the first half of the head)",
    ),
    "StableAudio3DiTModel": entry(
        AUDIO,
        module="transformer_stable_audio3",
        head_dim=["embed_dim", "num_heads"],
        frequencies__dims="half",
        tokens={
            "patch": ["patch_size"],
            "settings": {"memory": "num_memory_tokens"},
            "parts": [
                {"part": "text", "count": "memory", "axes": ["index"]},
                {"part": "image", "axes": ["memory + col"]},
            ],
        },
        rope_module="rotary_pos_emb",
        text="its memory tokens, first (text_len is not used)",
    ),
    "LongCatAudioDiTTransformer": entry(
        AUDIO,
        module="transformer_longcat_audio_dit",
        head_dim=["dit_dim", "dit_heads"],
        frequencies__theta=100000.0,
        rope_module="rotary_embed",
    ),
    "MiniMaxMusic3Transformer1DModel": entry(
        AUDIO,
        module="transformer_minimax_music3",
        frequencies__dims=["rotary_dim"],
        tokens__parts=[{"part": "text", "count": 1, "axes": ["index"]}, {"part": "image", "axes": ["1 + col"]}],
        rope_module="rotary_emb",
        text="the timestep token, first (text_len is not used)",
    ),
    "Kandinsky5Transformer3DModel": entry(
        KANDINSKY,
        module="transformer_kandinsky",
        frequencies__divisors={
            "between": [480, 854],
            "pixels_per_latent": 8,
            "inside": [1.0, 2.0, 2.0],
            "outside": [1.0, 3.16, 3.16],
        },
        pipeline="Kandinsky5T2VPipeline (angles divided by (1, 2, 2) between 480 and 854 px, else (1, 3.16, 3.16))",
        output_dtype="bfloat16",
        text=(
            "the visual self attention holds the video tokens only; its attention rounds the rotated queries and keys "
            "to bfloat16 whatever their dtype (apply_rotary casts to torch.bfloat16)"
        ),
    ),
    "Kandinsky6Transformer3DModel": KANDINSKY,
    "Kandinsky6SRTransformer3DModel": entry(
        KANDINSKY,
        module="transformer_kandinsky6_sr",
        tokens__parts=[{**VIDEO, "block": 8}],
        text="no text: the video tokens in 8 x 8 spatial blocks (its NABLA attention's order), blocks row-major",
    ),
    "Ideogram4Transformer2DModel": {
        "module": "transformer_ideogram4",
        "head_dim": HEAD,
        "frequencies": {"ladder": "mrope", "theta": "rope_theta", "sections": "mrope_section"},
        "tokens": {
            "patch": [2, 2],
            "parts": [
                {"part": "text", "axes": ["index"] * 3},
                {"part": "image", "axes": [65536, "65536 + row", "65536 + col"]},
            ],
        },
        "rope_module": "rotary_emb",
        "text": "the prompt first (counting from 0), then the image at an offset of 65536 (IMAGE_POSITION_OFFSET)",
        "pipeline": "Ideogram4Pipeline._prepare_ids (left padding, if any, sits at 0 before the prompt)",
    },
    "JoyImageEditTransformer3DModel": {
        "module": "transformer_joyimage",
        "head_dim": ["hidden_size", "num_attention_heads"],
        "frequencies": {"dims": "rope_dim_list", "theta": "theta", "interleaved": True},
        "tokens": {
            "patch": [{"key": "patch_size", "index": i} for i in range(3)],
            "parts": [VIDEO, {"part": "text", "axes": [0, 0, 0]}],
        },
        "tokens_when": [
            {
                "key": "rope_type",
                "equals": "mrope",
                "tokens": {
                    "patch": [{"key": "patch_size", "index": i} for i in range(3)],
                    "parts": [VIDEO, {"part": "text", "axes": ["index + max_thw"] * 3}],
                },
            }
        ],
        "rope_module": "get_rotary_pos_embed",
        "text": "text after the image: unrotated, or (rope_type 'mrope') counting on from the largest image index",
    },
    "JoyImageEditPlusTransformer3DModel": {
        "module": "transformer_joyimage_edit_plus",
        "head_dim": ["hidden_size", "num_attention_heads"],
        "frequencies": {"dims": "rope_dim_list", "theta": "theta", "interleaved": True},
        "tokens": {
            "patch": [{"key": "patch_size", "index": i} for i in range(3)],
            "parts": [
                VIDEO,
                {"part": "references", "axes": ["frames_before + frame", "row", "col"]},
                {"part": "text", "axes": [0, 0, 0]},
            ],
        },
        "rope_module": "_get_rotary_pos_embed_for_range",
        "text": "the target, each reference after it in time (frames counted on), then the text unrotated",
    },
    "LTX2VideoTransformer3DModel": entry(
        LTX,
        module="transformer_ltx2",
        frequencies__theta="rope_theta",
        frequencies__float64_ladder=True,
        frequencies__interleaved_when={"rope_type": "interleaved"},
        tokens={
            "patch": ["patch_size_t", "patch_size", "patch_size"],
            "settings": {
                "vae_scales": "vae_scale_factors",
                "causal_offset": "causal_offset",
                "patch_t": "patch_size_t",
                "patch": "patch_size",
                "base_t": "pos_embed_max_pos",
                "base_h": "base_height",
                "base_w": "base_width",
            },
            "parts": [
                {
                    "part": "image",
                    "kind": "pixel_midpoints",
                    "axes": [
                        {"index": "frame", "patch": "patch_t", "base": "base_t"},
                        {"index": "row", "patch": "patch", "base": "base_h"},
                        {"index": "col", "patch": "patch", "base": "base_w"},
                    ],
                }
            ],
        },
        tokens_when=[],
        pipeline="LTX2Pipeline: the video self attention (the audio stream has its own 1-D RoPE)",
    ),
    "LuminaNextDiT2DModel": {
        "module": "lumina_nextdit2d",
        "head_dim": ["hidden_size", "num_attention_heads"],
        "frequencies": {
            "dims": "halves",
            "theta": 10000.0,
            "ntk": ["ntk_factor", "ntk_factor"],
            "linear_factor": "linear_factor",
            "arrangement": "alternate",
            "interleaved": True,
        },
        "factors": ["linear_factor", "ntk_factor"],
        "tokens": {"patch": ["patch_size", "patch_size"], "parts": [{"part": "image", "axes": ["row", "col"]}]},
        "rope_argument": "image_rotary_emb",
        "pipeline": (
            "LuminaPipeline: get_2d_rotary_pos_embed_lumina, rows and columns alternating pair by pair; at sizes other "
            "than 1024 px it sets linear_factor (early steps) or ntk_factor (later) to sqrt(pixels / 1024^2)"
        ),
    },
    "HunyuanVideoTransformer3DModel": HUNYUAN_VIDEO,
    "MotifVideoTransformer3DModel": entry(
        HUNYUAN_VIDEO, module="transformer_motif_video", frequencies__precision="float64"
    ),
    "HunyuanVideo15Transformer3DModel": entry(
        HUNYUAN_VIDEO,
        module="transformer_hunyuan_video15",
        text="then the ByT5 glyph tokens and the image-embedding tokens, all unrotated (text_len counts them all)",
    ),
    "HunyuanImageTransformer2DModel": entry(
        HUNYUAN_VIDEO,
        module="transformer_hunyuanimage",
        tokens={
            "patch": [{"key": "patch_size", "index": 0}, {"key": "patch_size", "index": 1}],
            "parts": [{"part": "image", "axes": ["row", "col"]}, {"part": "text", "axes": [0, 0]}],
        },
    ),
}
ENTRIES["HunyuanDiT2DControlNetModel"] = entry(ENTRIES["HunyuanDiT2DModel"], module="controlnet_hunyuan")

REFUSED = {
    "ErnieImageTransformer2DModel": (
        "transformer_ernie_image",
        "ERNIE-Image does not rotate: it repeats each angle for two adjacent features ([a0, a0, a1, a1, ...]) but "
        "pairs the features half-split (rotate_half: feature i with i + head_dim / 2), so the two features of a pair "
        "turn by different angles and the pair's norm changes; no rotation rope_jax builds equals it, and reproducing "
        "it would need a second transform",
    ),
    "HunyuanVideoFramepackTransformer3DModel": (
        "transformer_hunyuan_video_framepack",
        "FramePack's history tokens (clean, 2x and 4x latents) take cos and sin averaged over 2x2x2 and 4x4x4 blocks "
        "of the grid (avg_pool3d of the tables): a rotation scaled below unit norm at no single coordinate. "
        "rope_jax.rotate applies such cos/sin as given, but dit_rope does not build them",
    ),
    "HeliosTransformer3DModel": (
        "transformer_helios",
        "Helios's mid and long history tokens take cos and sin averaged over 2x2x2 and 4x4x4 blocks "
        "(center_down_sample_3d of the tables), a scaled rotation at no single coordinate, next to frame indices its "
        "pipeline schedules; dit_rope does not build them (rope_jax.rotate applies such cos/sin as given)",
    ),
    "AnyFlowFARTransformer3DModel": (
        "transformer_anyflow_far",
        "its compressed context chunks rotate by the phase of an average of e^(i p f) over a pooling window "
        "(avg_pool1d of the complex table, normalised): the window centre times f, plus pi wherever the pooled "
        "amplitude is negative, which no coordinate times frequency gives",
    ),
    "WanAnimate2Transformer3DModel": (
        "transformer_wan_animate_2",
        "it rotates the current chunk and a cached reference stream with separate tables (per sample, with a time "
        "stride, the reference grid offset by refer_offset_t/h/w where -1 means its grid size) kept in a KV cache; "
        "dit_rope builds the coordinates of one sequence, not this two-stream cache layout",
    ),
    "SanaWMTransformer3DModel": (
        "transformer_sana_wm",
        "SANA-WM's camera attention multiplies q and k by per-frame camera projection matrices (P, P_inv from "
        "camera_conditions) around a Wan-style rotation and turns the attention output back by the conjugate "
        "rotation (inverse_rope): a camera-relative transform, not a RoPE dit_rope describes",
    ),
    "Cosmos3OmniTransformer": (
        "transformer_cosmos3",
        "its positions are the M-RoPE ids its multimodal processor builds for the interleaved text, image, video "
        "and action sequence (understanding and generation streams); with those ids, RoPENd.mrope(..., "
        "interleaved_axes=True) rotates as it does, but the table cannot derive them from a latent shape",
    ),
    "MiniMaxH3Transformer3DModel": (
        "transformer_minimax_h3",
        "its position ids are the float64 (t, h, w) ids its modular pipeline packs for text, reference frames, audio "
        "channel rows and video (an anchor time per reference, a temporal grid after the text); given those ids, "
        "RoPENd(head_dim, layout_frequencies([pow_ladder(2 * rope_freq_dim, theta=rope_theta)] * 3)) rotates as it "
        "does (the three blocks half-split together, the rest of the head unrotated), but the table cannot derive "
        "them from a latent shape",
    ),
    "OmniGenTransformer2DModel": (
        "transformer_omnigen",
        "it is a 1-D RoPE over the position ids OmniGenProcessor builds for its interleaved text and image tokens, "
        "with Phi-3's LongRoPE scaling (short and long factors, chosen by the largest position): rope_jax.RoPE("
        "head_dim, theta=rope_base, scaling=LongRoPE(...)) rotates as it does with those ids; they do not follow from "
        "a latent shape",
    ),
    **{
        name: (
            module,
            "a container of ControlNets with no RoPE of its own: call dit_rope with the config of each ControlNet it "
            "holds",
        )
        for name, module in (
            ("FluxMultiControlNetModel", "controlnet_flux"),
            ("HunyuanDiT2DMultiControlNetModel", "controlnet_hunyuan"),
            ("QwenImageMultiControlNetModel", "controlnet_qwenimage"),
        )
    },
}
ENTRIES.update({name: {"module": module, "unsupported": reason} for name, (module, reason) in REFUSED.items()})
ENTRIES["SanaWMLTX2RefinerTransformer3DModel"] = entry(
    ENTRIES["LTX2VideoTransformer3DModel"],
    module="transformer_sana_wm_refiner",
    rope_module=None,
    rope_argument="video_rotary_emb",
    pipeline=(
        "SanaWMRefinerPipeline: build_rotary_emb_for_absolute_positions, the window's absolute latent frames "
        "(dit_rope's frame_positions)"
    ),
)
