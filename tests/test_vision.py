"""Vision builders: frequency layouts, per-axis rotation blocks, packed coordinates, the one-call loader's errors."""

from __future__ import annotations

import pathlib
import textwrap

import numpy as np
import pytest

import rope_jax
from rope_jax.vision import tower_rope


def random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_blocks_equal_one_rotation_per_block():
    """RoPENd(blocks=2) is Gemma 4's two half-split rotations, one per half of the head, in one call."""
    ladder = rope_jax.Default().frequencies(16, theta=100.0)[0]
    freqs = rope_jax.layout_frequencies([ladder, ladder * 0.5])
    rope = rope_jax.RoPENd(32, freqs, blocks=2)
    x, coords = random((7, 3, 32), 0), random((7, 2), 1) * 10
    out = np.asarray(rope(x, coords))
    cos_sin = rope.cos_sin(coords)
    for block in range(2):
        cos, sin = (c[..., block * 8 : (block + 1) * 8] for c in cos_sin)
        part = np.asarray(rope_jax.rotate(x[..., block * 16 : (block + 1) * 16], cos, sin))
        np.testing.assert_array_equal(out[..., block * 16 : (block + 1) * 16], part)


def test_alternating_and_split_layouts_place_every_frequency_once():
    ladder = np.arange(1, 9, dtype=np.float32)
    split = rope_jax.layout_frequencies(rope_jax.split_ladder(ladder, 2))
    np.testing.assert_array_equal(split.sum(axis=0), [1, 3, 5, 7, 2, 4, 6, 8])
    alternating = rope_jax.layout_frequencies([ladder[:4], ladder[4:]], order=(1, 0), arrangement="alternate")
    assert (np.count_nonzero(alternating, axis=0) == 1).all()
    np.testing.assert_array_equal(np.argmax(alternating != 0, axis=0), [1, 0, 1, 0, 1, 0, 1, 0])


@pytest.mark.parametrize(("head_dim", "num_axes", "expected"), [(64, 2, 64), (80, 3, 78), (96, 3, 96), (66, 2, 64)])
def test_axial_rotary_dim_default_works_for_any_axis_count(head_dim, num_axes, expected):
    assert rope_jax.axial_rotary_dim(head_dim, num_axes) == expected
    rope = rope_jax.RoPENd.axial(head_dim, num_axes)
    assert rope.rotary_dim == expected
    x = random((5, 1, head_dim), 2)
    out = np.asarray(rope(x, random((5, num_axes), 3)))
    np.testing.assert_array_equal(out[..., expected:], x[..., expected:])  # the rest passes through


def test_window_order_is_a_permutation_of_whole_merge_blocks():
    order = rope_jax.window_order([(2, 8, 12), (1, 4, 4)], merge_size=2, window=4)
    assert sorted(order.tolist()) == list(range(2 * 96 + 16))
    assert (order.reshape(-1, 4) % 4 == np.arange(4)).all()


def test_interpolate_follows_timm_and_scale_keeps_the_ratio_rounding():
    f32 = np.float32
    coords = rope_jax.patch_grid_coords(7, 9, train_grid=(16, 16), resolution="interpolate")
    rows = np.arange(7, dtype=f32) / f32(7) * f32(16)  # timm: arange(n) / n * ref, float32
    np.testing.assert_array_equal(coords[::9, 0], rows)
    scaled = rope_jax.patch_grid_coords(7, 9, train_grid=(16, 16), resolution="scale")
    np.testing.assert_array_equal(scaled[::9, 0], np.arange(7, dtype=f32) * f32(16 / 7))
    assert not np.array_equal(coords, scaled)  # the two roundings differ by an ulp somewhere


def test_patch_centres_span_minus_one_to_one():
    coords = rope_jax.patch_centre_coords(4, 2)
    np.testing.assert_allclose(coords[:, 0], np.repeat([-0.75, -0.25, 0.25, 0.75], 2))
    np.testing.assert_allclose(coords[:, 1], np.tile([-0.5, 0.5], 4))


def test_packed_coords_offsets_and_class_tokens():
    coords = rope_jax.packed_patch_coords([(1, 2, 2), (1, 1, 2)], offset=1, class_token="first")
    assert coords.tolist() == [[0, 0], [1, 1], [1, 2], [2, 1], [2, 2], [0, 0], [1, 1], [1, 2]]
    video = rope_jax.packed_patch_coords([(2, 2, 2)], temporal=True)
    assert video[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_wrapper_configs_load_their_vision_config():
    config = {"model_type": "qwen2_5_vl", "vision_config": {"hidden_size": 64, "num_heads": 2}}
    rope, coords = rope_jax.vision_rope(config, grid_thw=[(1, 8, 8)])
    assert rope.name == "qwen2_5_vl_vision" and rope.head_dim == 32 and coords.shape == (64, 2)


@pytest.mark.parametrize(
    ("config", "grid", "match"),
    [
        ({"model_type": "vjepa2"}, None, "does not rotate"),
        ({"model_type": "llama"}, None, "not one of the"),
        ({"model_type": "qwen2_vl_vision"}, None, "pass grid_thw"),
        ({"model_type": "mlcd_vision_model"}, [(4, 4)], "class_pos_emb"),
        ({"model_type": "dinov3_vit"}, [(1, 2, 2), (1, 2, 2)], "one image grid"),
        ({"model_type": "video_llama_3_vision"}, [(1, 4, 4)], "pass merge_size"),
        ({"model_type": "llama4_vision_model"}, [(5, 5)], "fixed by its config"),
        ({"model_type": "sam2_video", "part": "memory"}, None, "needs memory_frames"),
        ({"model_type": "sam2_video", "memory_frames": 2}, None, "part='memory'"),
        ({"model_type": "qwen2_vl_vision", "memory_frames": 2}, [(1, 4, 4)], "does not have"),
        ({"model_type": "qwen2_vl_vision", "pad_to": 64}, [(1, 4, 4)], "padded batch"),
        ({"model_type": "sam2_video", "pointer_tokens": 2}, None, "pass memory_frames"),
        ({"model_type": "sam3_vit_model", "part": "memory"}, None, "part must be one of None or 'window'"),
    ],
)
def test_refusals_name_the_reason(config, grid, match):
    config = dict(config)
    arguments = {key: config.pop(key) for key in ("part", "memory_frames", "pad_to", "pointer_tokens") if key in config}
    with pytest.raises(ValueError, match=match):
        rope_jax.vision_rope(config, grid_thw=grid, **arguments)


def test_fixed_grid_towers_need_no_grid():
    rope, coords = rope_jax.vision_rope({"model_type": "llama4_vision_model", "image_size": 56, "patch_size": 14})
    assert coords.shape == (17, 2) and coords[-1].tolist() == [0.0, 0.0] and coords[0].tolist() == [1.0, 1.0]
    assert rope.interleaved


@pytest.mark.parametrize("model_type", sorted(rope_jax.VISION_MODEL_TYPES))
def test_text_and_vision_loaders_agree_on_every_vision_model_type(model_type):
    """One source of truth: the vision table. A refused type is refused by both loaders with its reason; a tower
    loads in vision_rope and the text loader points there; wrappers and language models are the text loader's."""
    entry = rope_jax.VISION_MODEL_TYPES[model_type]
    config = {"model_type": model_type}
    if entry.get("vision_model_type") or entry.get("language_model"):
        try:
            rope_jax.from_hf_config(config)
        except ValueError as error:  # e.g. layer types to choose from: never the vision table's refusal
            assert "vision" not in str(error)
        return
    with pytest.raises(ValueError) as text_error:
        rope_jax.from_hf_config(config)
    if entry.get("unsupported"):
        assert entry["unsupported"] in str(text_error.value)
        with pytest.raises(ValueError, match=r"not supported by rope_jax\.vision_rope") as vision_error:
            rope_jax.vision_rope(config)
        assert entry["unsupported"] in str(vision_error.value)
    else:
        assert "rope_jax.vision_rope" in str(text_error.value)
        grid = None if entry["coords"].get("grids") == "config" else [(1, 4, 4)]
        learned = {}
        if entry["layout"].get("learned_class_angles"):  # MLCD: the class token's angles, one per pair
            pairs = tower_rope(config)[0].rotary_dim // 2
            learned = {entry["layout"]["learned_class_angles"]: np.linspace(0.0, 1.0, pairs)}
        merge = 1 if entry["coords"].get("merge") == "input" else None
        rope, coords = rope_jax.vision_rope(config, grid_thw=grid, learned=learned, merge_size=merge)
        assert coords.shape[-1] == rope.num_axes


def test_text_loader_gives_v_jepa_2_its_true_reason():
    with pytest.raises(ValueError, match=r"does not rotate.*0\.17x to 1\.40x"):
        rope_jax.from_hf_config({"model_type": "vjepa2", "hidden_size": 1024, "num_attention_heads": 16})


def test_text_loader_points_timm_configs_to_vision_rope():
    for name in ("eva02_base_patch14_224", "vit_pe_core_base_patch16_224"):
        with pytest.raises(ValueError, match="vision_rope"):
            rope_jax.from_hf_config({"architecture": name, "model_args": {}})


def python_blocks(path: pathlib.Path, first_heading: str, next_heading: str) -> list[str]:
    """The ```python blocks of a Markdown file between two headings."""
    text = path.read_text()
    text = text[text.index(first_heading) : text.index(next_heading)] if first_heading else text
    return [textwrap.dedent(block.split("```", 1)[0]) for block in text.split("```python\n")[1:]]


ROOT = pathlib.Path(__file__).parent.parent


@pytest.mark.parametrize(
    "block",
    python_blocks(ROOT / "README.md", "## Images, video and multimodal positions", "## Attention with RoPE")
    + python_blocks(ROOT / "docs" / "vision_model_types.md", "", ""),
)
def test_vision_code_blocks_of_the_readme_and_docs_run_as_written(block, capsys):
    """Each block runs in a fresh namespace; what a print shows is what its comment says (up to a colon)."""
    exec(compile(block, "<block>", "exec"), {})
    stated = [line.split("# ", 1)[1].split(":")[0] for line in block.splitlines() if line.startswith("print(")]
    assert capsys.readouterr().out.splitlines() == stated
