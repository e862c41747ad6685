"""N-D RoPE: 2D/3D shift invariance, RoPE-Mixed, M-RoPE parity with Hugging Face, position builders."""

import json
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rope_jax

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
META = json.loads((FIXTURES / "hf_rope.json").read_text())
ARRAYS = np.load(FIXTURES / "hf_rope.npz")
MROPE_CASES = sorted(name for name in META if not name.startswith("_") and META[name].get("mrope"))


def random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def score(rotate, q, k, a, b):
    """<R(a) q, R(b) k> for single tokens at coordinates a, b."""
    qa = rotate(q, np.asarray([a], np.float32))
    kb = rotate(k, np.asarray([b], np.float32))
    return float(jnp.sum(qa * kb))


def axial(x, coords):
    return rope_jax.apply_rope_nd(x, coords)


MIXED = rope_jax.mixed_frequencies(jax.random.key(0), 2, 32)


def mixed(x, coords):
    return rope_jax.apply_rope_nd(x, coords, freqs=MIXED)


@pytest.mark.parametrize("rotate", [axial, mixed], ids=["axial", "mixed"])
@given(st.tuples(*[st.integers(-40, 40)] * 6))
def test_2d_scores_depend_only_on_the_offset(rotate, values):
    r1, c1, r2, c2, dr, dc = values
    q, k = random((1, 2, 32), 1), random((1, 2, 32), 2)
    scale = np.linalg.norm(q) * np.linalg.norm(k)
    np.testing.assert_allclose(
        score(rotate, q, k, (r1, c1), (r2, c2)),
        score(rotate, q, k, (r1 + dr, c1 + dc), (r2 + dr, c2 + dc)),
        atol=2e-5 * scale,
    )


@pytest.mark.parametrize("rotate", [axial, mixed], ids=["axial", "mixed"])
def test_rows_and_columns_are_told_apart_and_the_origin_is_the_identity(rotate):
    q, k = random((1, 2, 32), 3), random((1, 2, 32), 4)
    assert abs(score(rotate, q, k, (3, 0), (0, 0)) - score(rotate, q, k, (0, 3), (0, 0))) > 1e-3
    chex.assert_trees_all_equal(rotate(q, np.zeros((1, 2), np.float32)), jnp.asarray(q))


def test_flattening_a_grid_to_1d_positions_is_not_equivalent():
    """Row-major 1D positions make (r, c) and (r, c + w) neighbours of the wrong kind: offsets depend on w."""
    q, k = random((1, 2, 32), 5), random((1, 2, 32), 6)
    width = 8
    flat = lambda x, p: rope_jax.apply_rope(x, p[..., 0] * width + p[..., 1])  # noqa: E731
    # Same 2D offset (one row down), different 1D distance depending on nothing but the width: fine in 2D ...
    same_2d = score(axial, q, k, (1, 7), (0, 7)), score(axial, q, k, (5, 2), (4, 2))
    np.testing.assert_allclose(*same_2d, atol=1e-4)
    # ... while in 1D the column neighbour (0, 7) -> (1, 0) is 1 apart but the row neighbour is 8 apart.
    assert abs(score(flat, q, k, (1, 0), (0, 7)) - score(axial, q, k, (1, 0), (0, 7))) > 1e-3
    assert abs(score(flat, q, k, (1, 0), (0, 7)) - score(flat, q, k, (1, 7), (0, 7))) > 1e-3


def test_3d_video_axial_shift_invariance():
    rope = rope_jax.RoPENd.axial(48, num_axes=3)
    q, k = random((1, 1, 48), 7), random((1, 1, 48), 8)
    s = lambda a, b: float(jnp.sum(rope(q, np.asarray([a])) * rope(k, np.asarray([b]))))  # noqa: E731
    np.testing.assert_allclose(s((2, 3, 4), (1, 1, 1)), s((7, 9, 5), (6, 7, 2)), atol=1e-4)
    coords = rope_jax.video_coords(2, 3, 4)
    assert coords.shape == (24, 3) and tuple(coords[13]) == (1, 0, 1)


def test_mixed_configuration_reproducing_axial_exactly():
    axial_freqs = rope_jax.axial_frequencies(32, 2, theta=100.0)
    per_head = jnp.broadcast_to(axial_freqs, (2, 2, 16))
    x, coords = random((3, 12, 2, 32), 9), rope_jax.patch_grid_coords(3, 4)[None]
    chex.assert_trees_all_equal(rope_jax.apply_rope_nd(x, coords, freqs=per_head), rope_jax.apply_rope_nd(x, coords))


def test_mixed_initialisation_and_gradients_reach_the_frequencies():
    freqs = rope_jax.mixed_frequencies(jax.random.key(1), 4, 64, theta=10.0)
    chex.assert_shape(freqs, (4, 2, 32))
    magnitudes = np.linalg.norm(np.asarray(freqs), axis=1)  # per head and pair: |(f_x, f_y)|
    np.testing.assert_allclose(magnitudes[0, :16], 10.0 ** (-np.arange(0, 64, 4) / 64), rtol=1e-5)
    assert not np.allclose(np.asarray(freqs[0]), np.asarray(freqs[1]))  # random direction per head
    x, coords = random((2, 9, 4, 64), 10), rope_jax.patch_grid_coords(3, 3)[None]
    grad = jax.grad(lambda f: jnp.sum(rope_jax.apply_rope_nd(x, coords, freqs=f) * x[::-1]))(freqs)
    chex.assert_tree_all_finite(grad)
    assert float(jnp.abs(grad).max()) > 0


def test_patch_grid_coords_prefix_tokens_and_resolution_change():
    coords = rope_jax.patch_grid_coords(2, 3, num_prefix_tokens=1)
    np.testing.assert_array_equal(coords, [[0, 0], [0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])
    x = random((7, 2, 16), 11)
    out = rope_jax.apply_rope_nd(x, coords)
    chex.assert_trees_all_equal(out[0], jnp.asarray(x[0]))  # the CLS token is left unrotated
    big = rope_jax.patch_grid_coords(8, 8, train_grid=(4, 4), resolution="interpolate")
    assert big.max() == 3.5 and big.shape == (64, 2)
    assert rope_jax.patch_grid_coords(8, 8).max() == 7  # extrapolation keeps integer indices
    with pytest.raises(ValueError, match="train_grid"):
        rope_jax.patch_grid_coords(8, 8, resolution="interpolate")


@pytest.mark.parametrize("name", MROPE_CASES)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_mrope_parity_with_hugging_face(name, jit):
    meta = META[name]
    rope = rope_jax.from_hf_config(meta["config"])
    assert isinstance(rope, rope_jax.RoPENd) and rope.name.startswith("mrope")
    np.testing.assert_array_equal(rope.frequency_matrix.sum(axis=0), ARRAYS[f"{name}/inv_freq"])
    call = jax.jit(rope.__call__) if jit else rope
    q, positions, expected = (ARRAYS[f"{name}/{key}"] for key in ("q", "positions", "q_out"))
    out = np.asarray(call(q, positions))
    assert np.linalg.norm(out - expected) / np.linalg.norm(expected) <= 1e-5


def test_mrope_position_builder_matches_get_rope_index():
    meta = META["qwen2-vl-7b"]
    layout = [(kind, value if kind == "text" else tuple(value)) for kind, value in meta["layout"]]
    np.testing.assert_array_equal(rope_jax.mrope_positions(layout), ARRAYS["qwen2-vl-7b/positions"][0])


@pytest.mark.parametrize("name", MROPE_CASES)
def test_mrope_on_pure_text_is_1d_rope(name):
    config = META[name]["config"]
    mrope = rope_jax.from_hf_config(config)
    text_positions = rope_jax.mrope_positions([("text", 12)]) + 20000
    x = random((1, 12, 2, mrope.head_dim), 12)
    one_d = rope_jax.RoPE(head_dim=mrope.head_dim, theta=mrope_theta(config))
    chex.assert_trees_all_equal(mrope(x, text_positions[None]), one_d(x, text_positions[None, :, 0]))
    chex.assert_trees_all_equal(mrope(x, text_positions[None, :, 0]), one_d(x, text_positions[None, :, 0]))


def mrope_theta(config):
    return (config.get("rope_parameters") or {}).get("rope_theta") or config["rope_theta"]


def test_interleaved_and_contiguous_sections():
    inv_freq = np.arange(1, 9, dtype=np.float32)
    contiguous = rope_jax.mrope_frequencies(inv_freq, [2, 3, 3])
    np.testing.assert_array_equal(np.argmax(contiguous != 0, axis=0), [0, 0, 1, 1, 1, 2, 2, 2])
    interleaved = rope_jax.mrope_frequencies(inv_freq, [4, 2, 2], interleaved=True)
    np.testing.assert_array_equal(np.argmax(interleaved != 0, axis=0), [0, 1, 2, 0, 1, 2, 0, 0])


class TestTransforms(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_jit_vmap_dtypes(self):
        coords = rope_jax.patch_grid_coords(4, 4)[None]
        for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
            x = jnp.asarray(random((2, 16, 2, 32), 13), dtype)
            out = self.variant(lambda a, c: rope_jax.apply_rope_nd(a, c, freqs=MIXED))(x, coords)
            chex.assert_type(out, dtype)
            chex.assert_shape(out, x.shape)
        vmapped = jax.vmap(lambda a: rope_jax.apply_rope_nd(a, coords[0]))(jnp.asarray(random((3, 16, 2, 32), 14)))
        chex.assert_shape(vmapped, (3, 16, 2, 32))

    def test_precise_nd_angles(self):
        rope = rope_jax.RoPENd.axial(32, num_axes=2, precise_angles=True)
        coords = np.array([[2**22 + 5, 3], [7, 2**23 + 1]])
        angles = rope_jax.nd_angles(coords, rope.frequency_matrix, precise=True)
        exact = coords.astype(np.float64) @ rope.frequency_matrix.astype(np.float64)
        assert np.abs(np.angle(np.exp(1j * (np.asarray(angles, np.float64) - exact)))).max() < 2e-6


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rope_jax.apply_rope_nd(random((4, 1, 8), 0), np.zeros((4, 3)), freqs=np.ones((2, 4))), "A = 2 axes"),
        (lambda: rope_jax.apply_rope_nd(random((4, 1, 10), 0), np.zeros((4, 2)), rotary_dim=10), "not divisible by 2"),
        (lambda: rope_jax.apply_rope_nd(random((4, 1, 7), 0), np.zeros((4, 2)), rotary_dim=7), "even"),
        (lambda: rope_jax.mrope_frequencies(np.ones(64), [16, 24, 20]), "sum to the number of pairs 64"),
        (
            lambda: rope_jax.apply_rope_nd(random((4, 3, 8), 0), np.zeros((4, 2)), freqs=np.ones((2, 2, 4))),
            "2 heads but x has 3",
        ),
        (lambda: rope_jax.apply_rope_nd(random((4, 1, 8), 0), np.zeros((5, 2))), "T = x.shape"),
        (lambda: rope_jax.mrope_positions([("audio", 3)]), "'text', 'image' or 'video'"),
        (
            lambda: rope_jax.from_hf_config(
                {
                    "model_type": "qwen2_vl",
                    "hidden_size": 64,
                    "num_attention_heads": 2,
                    "rope_scaling": {"type": "mrope"},
                }
            ),
            "mrope_section",
        ),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_mixed_rope_module_trains_with_optax():
    import optax
    from flax import nnx

    from rope_jax.nn import MixedRoPE

    model = MixedRoPE(num_heads=2, head_dim=32, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    coords = rope_jax.patch_grid_coords(4, 4)[None]
    q, k = jnp.asarray(random((1, 16, 2, 32), 20)), jnp.asarray(random((1, 16, 2, 32), 21))
    target = jnp.eye(16)  # ask each patch's query to match its own key

    def loss(m):
        logits = jnp.einsum("btnh,bsnh->bnts", m(q, coords), m(k, coords))
        return optax.softmax_cross_entropy(logits, target).mean()

    before, start = model.freqs[...], loss(model)
    for _ in range(20):
        grads = nnx.grad(loss)(model)
        with jax.numpy_dtype_promotion("standard"):  # optax's update mixes weak and strong types
            optimizer.update(model, grads)
    assert not np.allclose(np.asarray(model.freqs[...]), np.asarray(before))
    assert float(loss(model)) < float(start)


def test_precise_angles_with_learned_per_head_frequencies_of_either_sign_match_float64():
    """Learned RoPE-Mixed frequencies can be negative; the exact reduction handles them per head, at long range."""
    freqs = np.asarray(rope_jax.mixed_frequencies(jax.random.key(3), 4, 64, theta=10.0))  # [N, A, P]
    assert (freqs < 0).any()
    coords = np.stack([np.arange(0, 3_000_000, 30_011), np.arange(5, 2_000_005, 20_000)[:100]], axis=-1)
    angles = np.asarray(rope_jax.nd_angles(coords, freqs, precise=True))  # [T, N, P]
    exact = np.einsum("ta,nap->tnp", coords.astype(np.float64), freqs.astype(np.float64))
    assert angles.shape == (100, 4, 32)
    assert np.abs(np.angle(np.exp(1j * (angles - exact)))).max() < 2e-6
    plain = np.asarray(rope_jax.nd_angles(coords, freqs))
    assert np.abs(np.angle(np.exp(1j * (plain - exact)))).max() > 1e-3  # what the exact reduction buys here
