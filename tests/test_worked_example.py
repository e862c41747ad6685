"""The RoFormer worked example ("the cat sat on the mat", d = 4, base 10000), computed by the library.

Expected values are the chapter's printed tables (4 decimals); the library must reproduce every entry.
"""

import jax
import jax.numpy as jnp
import numpy as np

import rope_jax
from rope_jax.cli.demo import WORKED_EXAMPLE

ATOL = 5.01e-5  # the tables are rounded to 4 decimals


def rotated():
    positions = jnp.arange(5)
    q = rope_jax.apply_rope(WORKED_EXAMPLE["Q"][:, None, :], positions)[:, 0]
    k = rope_jax.apply_rope(WORKED_EXAMPLE["K"][:, None, :], positions)[:, 0]
    return np.asarray(q), np.asarray(k)


def test_frequencies_and_angles():
    inv_freq, scaling = rope_jax.Default().frequencies(4, theta=10000.0)
    np.testing.assert_allclose(inv_freq, [1.0, 0.01], rtol=1e-7)
    assert scaling == 1.0
    angles = rope_jax.rope_angles(jnp.arange(5), inv_freq)
    np.testing.assert_allclose(np.asarray(angles), [[0, 0], [1, 0.01], [2, 0.02], [3, 0.03], [4, 0.04]], atol=1e-7)


def test_rotated_queries_and_keys():
    q, k = rotated()
    np.testing.assert_allclose(
        q,
        [
            [1.0000, 0.0000, 1.0000, 0.0000],
            [0.0000, 1.9899, 0.0000, 1.0199],
            [-1.3254, 0.9998, 0.4932, 0.0200],
            [-0.1411, -0.0300, -0.9900, 0.9996],
            [-0.6536, -0.0400, -0.7568, 0.9992],
        ],
        atol=ATOL,
    )
    np.testing.assert_allclose(
        k,
        [
            [0.0000, 1.0000, 0.0000, 1.0000],
            [-0.3012, 0.0000, 1.3818, 0.0000],
            [-0.4161, 0.9998, 0.9093, 0.0200],
            [-0.1411, -0.0300, -0.9900, 0.9996],
            [-0.2752, -0.0200, -1.0836, 0.4996],
        ],
        atol=ATOL,
    )


def test_scores_weights_and_output():
    q, k = rotated()
    raw = q @ k.T
    np.testing.assert_allclose(
        raw,
        [
            [0.0000, 1.0806, 0.4932, -1.1311, -1.3589],
            [3.0098, 0.0000, 2.0099, 0.9598, 0.4698],
            [1.0198, 1.0806, 2.0000, -0.3112, -0.1796],
            [0.9696, -1.3254, -0.8515, 2.0000, 1.6116],
            [0.9592, -0.8489, -0.4361, 1.8414, 1.5000],
        ],
        atol=ATOL,
    )
    weights = np.asarray(jax.nn.softmax(raw / 2.0, axis=-1))
    np.testing.assert_allclose(
        weights,
        [
            [0.1972, 0.3385, 0.2523, 0.1120, 0.1000],
            [0.4052, 0.0900, 0.2457, 0.1454, 0.1138],
            [0.2116, 0.2181, 0.3454, 0.1088, 0.1162],
            [0.2095, 0.0665, 0.0843, 0.3508, 0.2889],
            [0.2098, 0.0849, 0.1044, 0.3260, 0.2749],
        ],
        atol=ATOL,
    )
    output = weights @ WORKED_EXAMPLE["V"]  # V is never rotated
    np.testing.assert_allclose(
        output,
        [
            [0.2472, 0.3885, 0.3023, 0.1620],
            [0.4620, 0.1468, 0.3026, 0.2023],
            [0.2697, 0.2762, 0.4035, 0.1668],
            [0.3540, 0.2109, 0.2287, 0.4952],
            [0.3472, 0.2224, 0.2418, 0.4635],
        ],
        atol=ATOL,
    )
    # The same through jax.nn.dot_product_attention ([B, T, N, H] layout).
    attended = jax.nn.dot_product_attention(
        q[None, :, None], k[None, :, None], jnp.asarray(WORKED_EXAMPLE["V"])[None, :, None]
    )
    np.testing.assert_allclose(np.asarray(attended)[0, :, 0], output, atol=1e-5)


def test_exercise_relative_position():
    """The chapter's exercise: x = [1, 1, 1, 1] at positions (0, 2) and (3, 5) give the same score."""
    x = jnp.ones((1, 1, 4))
    score = [
        float(jnp.sum(rope_jax.apply_rope(x, [m])[0] * rope_jax.apply_rope(x, [n])[0])) for m, n in ((0, 2), (3, 5))
    ]
    np.testing.assert_allclose(score[0], score[1], atol=1e-6)
