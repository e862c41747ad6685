"""The precise angle mode and the precomputed cos/sin table path."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rope_jax


def angle_error(angles, positions, inv_freq) -> np.ndarray:
    """|angle - positions * inv_freq| modulo 2 pi, against float64 (the float32 frequencies taken as exact)."""
    exact = np.asarray(positions, np.float64)[..., None] * np.asarray(inv_freq, np.float64)
    return np.abs(np.angle(np.exp(1j * (np.asarray(angles, np.float64) - exact))))


@given(
    st.lists(st.integers(-(2**24), 2**24), min_size=1, max_size=16),
    st.lists(st.floats(2.0**-30, 4.0, width=32), min_size=1, max_size=8),
)
@pytest.mark.slow
def test_precise_angles_within_1e6_rad_up_to_2_pow_24(positions, inv_freq):
    inv_freq = np.asarray(inv_freq, np.float32)
    angles = rope_jax.rope_angles(jnp.asarray(positions, jnp.int32), inv_freq, precise=True)
    assert angle_error(angles, positions, inv_freq).max() <= 1e-6


def test_precise_angles_for_every_real_frequency_table_and_float_positions():
    positions = np.array([0, 1, 7, 4095, 65537, 10**6, 2**24 - 1, 2**24, 123456789, 2**31 - 1])
    for rope in (
        rope_jax.RoPE(head_dim=128, theta=5e5),
        rope_jax.RoPE(head_dim=64, theta=1.5e5),
        rope_jax.RoPE(head_dim=256, scaling=rope_jax.Proportional(0.25), theta=1e6),
    ):
        angles = jax.jit(lambda p, f: rope_jax.rope_angles(p, f, precise=True))(positions, rope.inv_freq)
        assert angle_error(angles, positions, rope.inv_freq).max() <= 1e-6
    halves = np.array([0.5, 1000.25, 2.0**22 + 0.5], np.float32)
    angles = rope_jax.rope_angles(halves, rope.inv_freq, precise=True)
    assert angle_error(angles, halves, rope.inv_freq).max() <= 1e-6


def test_plain_float32_angles_show_the_documented_error():
    inv_freq = rope_jax.RoPE(head_dim=128).inv_freq
    at = lambda p: angle_error(rope_jax.rope_angles(jnp.asarray(p), inv_freq), p, inv_freq).max()  # noqa: E731
    assert at(np.arange(10**6 - 256, 10**6)) > 1e-2  # ~0.016 in cos at 1e6
    assert at(np.arange(2**24 - 256, 2**24)) > 0.3  # ~0.5 rad at 1.6e7


@pytest.mark.slow
def test_precise_mode_follows_traced_frequencies():
    """Dynamic NTK computes its frequencies on the fly; the precise mode must still reduce them exactly."""
    rope = rope_jax.RoPE(
        head_dim=64, precise_angles=True, scaling=rope_jax.DynamicNTK(factor=4.0, max_position_embeddings=4096)
    )
    positions = np.arange(2**20 - 64, 2**20)[None]
    cos, _ = jax.jit(rope.cos_sin)(positions)
    inv_freq = np.asarray(rope.frequencies(2**20))
    expected = np.cos(positions[..., None].astype(np.float64) * inv_freq.astype(np.float64))
    assert np.abs(np.asarray(cos) - expected).max() < 2e-6


class TestTable(chex.TestCase):
    def setUp(self):
        self.rope = rope_jax.from_hf_config(
            {
                "model_type": "qwen2",
                "hidden_size": 3584,
                "num_attention_heads": 28,
                "max_position_embeddings": 32768,
                "rope_theta": 1e6,
                "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
            }
        )
        self.table = self.rope.table(40000)
        self.x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 8, 3, 128)), jnp.float32)
        self.positions = jnp.asarray(np.sort(np.random.default_rng(1).integers(0, 40000, (2, 8))), jnp.int32)

    @chex.variants(with_jit=True, without_jit=True)
    def test_identical_to_direct_computation(self):
        direct = self.variant(self.rope.__call__)(self.x, self.positions)
        looked_up = self.variant(lambda t, x, p: t(x, p))(self.table, self.x, self.positions)
        chex.assert_trees_all_close(looked_up, direct, atol=1e-6 * float(jnp.abs(self.x).max()), rtol=0)
        assert self.table.cos.shape == (40000, 64) and self.table.max_length == 40000

    def test_out_of_range_positions_raise_eagerly_and_under_jit(self):
        beyond = self.positions.at[1, -1].set(40000)
        with pytest.raises(ValueError, match=r"positions must lie in \[0, 40000\).*up to 40000|40000"):
            self.table(self.x, beyond)
        with pytest.raises(ValueError, match="lie in"):
            self.table(self.x, self.positions.at[0, 0].set(-1))
        with pytest.raises(Exception, match=r"positions must lie in \[0, 40000\)"):
            jax.block_until_ready(jax.jit(lambda t, x, p: t(x, p))(self.table, self.x, beyond))
        with pytest.raises(Exception, match="positions must lie in"):
            jax.block_until_ready(jax.vmap(lambda x, p: self.table(x, p))(self.x, beyond))
        unchecked = jax.jit(lambda t, x, p: t(x, p, check=False))(self.table, self.x, beyond)
        assert np.isnan(np.asarray(unchecked)[1, -1]).all() and np.isfinite(np.asarray(unchecked)[0]).all()

    def test_table_rejects_float_positions_and_short_heads(self):
        with pytest.raises(TypeError, match="integer positions"):
            self.table(self.x, self.positions.astype(jnp.float32))
        with pytest.raises(ValueError, match="rotates 128 features"):
            self.table(self.x[..., :64], self.positions)
        with pytest.raises(ValueError, match="positive int"):
            self.rope.table(0)


def test_weight_permutation_gives_identical_attention_scores():
    """Meta (interleaved) weights with interleaved RoPE == HF-permuted weights with half-split RoPE."""
    rng = np.random.default_rng(2)
    hidden, heads, kv_heads, head_dim = 64, 4, 2, 16
    x = rng.standard_normal((2, 10, hidden)).astype(np.float32)
    w_q = rng.standard_normal((hidden, heads * head_dim)).astype(np.float32)  # Flax [in, out]
    w_k = rng.standard_normal((kv_heads * head_dim, hidden)).astype(np.float32)  # PyTorch [out, in]
    positions = np.arange(20).reshape(2, 10) * 997

    def scores(w_q, w_k, interleaved, rotary_dim=None):
        q = (x @ w_q).reshape(2, 10, heads, head_dim)
        k = (x @ w_k.T).reshape(2, 10, kv_heads, head_dim)
        q = rope_jax.apply_rope(q, positions, interleaved=interleaved, rotary_dim=rotary_dim)
        k = rope_jax.apply_rope(k, positions, interleaved=interleaved, rotary_dim=rotary_dim)
        k = jnp.repeat(k, heads // kv_heads, axis=2)
        return np.asarray(jnp.einsum("btnh,bsnh->bnts", q, k))

    for rotary_dim in (None, 8):
        perm = dict(head_dim=head_dim, rotary_dim=rotary_dim)
        hf_q = rope_jax.interleaved_to_half_split(w_q, num_heads=heads, axis=-1, **perm)
        hf_k = rope_jax.interleaved_to_half_split(w_k, num_heads=kv_heads, axis=0, **perm)
        meta_scores = scores(w_q, w_k, True, rotary_dim)
        np.testing.assert_allclose(
            scores(hf_q, hf_k, False, rotary_dim), meta_scores, atol=2e-4 * np.abs(meta_scores).max()
        )
        np.testing.assert_array_equal(rope_jax.half_split_to_interleaved(hf_q, num_heads=heads, axis=-1, **perm), w_q)
        assert not np.array_equal(hf_q, w_q)
    as_jax = rope_jax.interleaved_to_half_split(jnp.asarray(w_q), num_heads=heads, head_dim=16, axis=-1)
    assert isinstance(as_jax, jax.Array)
    with pytest.raises(ValueError, match="ambiguous; pass it: axis=0 for a PyTorch weight"):  # square: say which
        rope_jax.interleaved_to_half_split(w_q, num_heads=heads, head_dim=head_dim)
    with pytest.raises(ValueError, match="num_heads \\* head_dim"):
        rope_jax.interleaved_to_half_split(w_q, num_heads=3, head_dim=head_dim)
