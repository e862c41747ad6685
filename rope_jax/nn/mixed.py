"""RoPE-Mixed: learnable per-head N-D frequencies as an NNX module."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from rope_jax import _checks
from rope_jax.nd import apply_rope_nd, mixed_frequencies

__all__ = ["MixedRoPE"]


class MixedRoPE(nnx.Module):
    """RoPE-Mixed (Heo et al. 2024): learnable per-head N-D frequencies ``[N, A, P]`` held as an ``nnx.Param``.

    Each head rotates its pairs by ``sum_a freqs[n, a, p] * coords[a]``; the directions start random per head
    (:func:`rope_jax.mixed_frequencies`) and are trained with the rest of the model (e.g. by optax through
    ``nnx.Optimizer``). Axial RoPE is the special case of a block matrix shared by all heads.

    The same module holds any learned per-head frequencies: Mochi 1 learns ``pos_frequencies [3, N, head_dim / 2]``
    and sums the three axes' terms with torch's matmul (fused multiply-adds); load them with
    ``frequencies=pos_frequencies.transpose(1, 0, 2), fused_sum=True, interleaved=True`` to fine-tune them
    (``rope_jax.dit_rope`` builds the same rotation, frozen, with Mochi's coordinates).

    Args:
        num_heads: Heads N of the queries/keys it will rotate.
        head_dim: Features per head.
        num_axes: Coordinate axes A (2 for images).
        theta: Base of the initial magnitudes (the paper uses 10 for mixed frequencies).
        rotary_dim: Rotated features (default: head_dim).
        interleaved: Pair layout.
        frequencies: Initial ``[N, A, rotary_dim // 2]`` frequencies (a checkpoint's) instead of the random
            RoPE-Mixed directions.
        fused_sum: Sum the axes' terms with fused multiply-adds (see :func:`rope_jax.nd_angles`).
        rngs: ``nnx.Rngs`` with a ``params`` stream.

    Example:
        >>> import jax.numpy as jnp, rope_jax
        >>> from flax import nnx
        >>> from rope_jax.nn import MixedRoPE
        >>> rope = MixedRoPE(num_heads=4, head_dim=32, rngs=nnx.Rngs(0))
        >>> q = jnp.ones((1, 196, 4, 32))                             # [B, T, N, H]
        >>> rope(q, rope_jax.patch_grid_coords(14, 14)[None]).shape   # coords [B, T, 2]
        (1, 196, 4, 32)
    """

    def __init__(
        self,
        num_heads: int,
        head_dim: int,
        *,
        num_axes: int = 2,
        theta: float = 10.0,
        rotary_dim: int | None = None,
        interleaved: bool = False,
        frequencies: ArrayLike | None = None,
        fused_sum: bool = False,
        rngs: nnx.Rngs,
    ):
        self.head_dim = _checks.positive_int("head_dim", head_dim)
        self.num_heads = _checks.positive_int("num_heads", num_heads)
        rotary_dim = _checks.rotary_dim(rotary_dim, self.head_dim)
        if frequencies is None:
            initial = mixed_frequencies(rngs.params(), self.num_heads, rotary_dim, num_axes=num_axes, theta=theta)
        else:
            initial = jnp.asarray(frequencies, jnp.float32)
            expected = (self.num_heads, num_axes, rotary_dim // 2)
            if initial.shape != expected:
                raise ValueError(f"frequencies must have shape [num_heads, num_axes, rotary_dim // 2] = {expected}, "
                                 f"got {initial.shape}.")  # fmt: skip
        self.freqs = nnx.Param(initial)
        self.interleaved = _checks.boolean("interleaved", interleaved)
        self.fused_sum = _checks.boolean("fused_sum", fused_sum)

    def __call__(self, x: ArrayLike, coords: ArrayLike) -> jax.Array:
        """Rotate ``x [..., T, N, H]`` at ``coords [..., T, A]``."""
        return apply_rope_nd(x, coords, freqs=self.freqs[...], interleaved=self.interleaved, fused_sum=self.fused_sum)
