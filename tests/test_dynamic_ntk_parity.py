"""Dynamic NTK against transformers' own float32 frequencies: bit for bit except where torch's pow misrounds.

transformers takes each pair's power ``base ** (2i / d)`` with torch's float32 ``pow``. That is glibc's ``powf`` on
x86 with ``ATEN_CPU_CAPABILITY=default`` (under one ulp, not correctly rounded), Sleef's with AVX2 / AVX-512, the
platform's libm elsewhere: which frequencies come out one step off depends on the machine. rope_jax rounds every
power correctly on every backend. The fixture (tests/fixtures/generate_dynamic_ntk_fixture.py: InternLM3-8B's
settings, 5,001 lengths) holds transformers' frequencies where they differ from the correctly rounded ones and a
CRC-32 of all of them.
"""

import json
import pathlib
import zlib

import jax
import numpy as np

import rope_jax
from tests.reference import rope_float64

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
MAX_ULPS = 2  # a powf under one ulp off, then the reciprocal: at most two float32 steps


def load():
    meta = json.loads((FIXTURES / "dynamic_ntk.json").read_text())
    with np.load(FIXTURES / "dynamic_ntk.npz") as data:
        arrays = {name: data[name] for name in data.files}
    return meta, arrays


def ours(meta, lengths) -> np.ndarray:
    rope = rope_jax.from_hf_config(meta["config"])
    return np.asarray(jax.jit(jax.vmap(rope.frequencies))(np.asarray(lengths, np.int32)))


def test_equal_to_transformers_bit_for_bit_except_where_its_pow_misrounds_and_there_within_two_ulps():
    meta, arrays = load()
    frequencies = ours(meta, arrays["lengths"])
    rows = np.searchsorted(arrays["lengths"][:-1], arrays["differing_lengths"])  # the last length is apart
    rows = np.where(arrays["differing_lengths"] == arrays["lengths"][-1], len(arrays["lengths"]) - 1, rows)
    ulps = np.abs(frequencies[rows].view(np.int32) - arrays["differing"].view(np.int32))
    assert 0 < ulps.max() <= MAX_ULPS
    assert (ulps > 0).sum() == meta["differing_frequencies"]  # the stored rows differ only where torch misrounds
    patched = frequencies.copy()
    patched[rows] = arrays["differing"]
    assert zlib.crc32(patched.tobytes()) == meta["crc32"]  # everywhere else: transformers' bits
    assert len(rows) / len(arrays["lengths"]) < 0.05


def test_the_documented_bound_on_rotated_queries():
    """Two ulps of a frequency move the angle at position p by at most 2 p ulp(f): the rotated q/k differ by at
    most that (relative to |q|), e.g. at positions 50,000..50,011."""
    meta, arrays = load()
    i = int(np.argmax(arrays["differing_lengths"]))
    length = int(arrays["differing_lengths"][i])
    mine = ours(meta, [length])[0]
    theirs = arrays["differing"][i]
    positions = np.arange(length - 12, length, dtype=np.float64)
    ulp = np.spacing(np.maximum(np.abs(mine), np.abs(theirs))).astype(np.float64)
    bound = MAX_ULPS * positions.max() * ulp  # per pair
    angle_gap = np.abs(positions[:, None] * (mine.astype(np.float64) - theirs.astype(np.float64))).max(axis=0)
    assert np.all(angle_gap <= bound) and angle_gap.max() > 0
    q = np.random.default_rng(0).standard_normal((1, 12, 1, 128))
    rotated = [rope_float64(q, positions[None], f) for f in (mine, theirs)]
    gap = np.abs(rotated[0] - rotated[1]).max() / np.abs(q).max()
    assert gap <= 2 * angle_gap.max()
