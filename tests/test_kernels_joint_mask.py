"""Seeded joint masks (NumPy reference): the hash against a pure-Python integer version, repeatability,
keep rates within binomial tolerance, and whole-joint grouping."""
import functools
import math

import numpy as np
import pytest

from cuda_kernels import joint_mask as jm

# The host path, whatever backend.xp() would pick on this machine.
joint_mask = functools.partial(jm.joint_mask, xp=np)
mask_2d_3d = functools.partial(jm.mask_2d_3d, xp=np)


def python_keep(seed, counter, frame, joint, keep_prob):
    """The documented draw, in Python integers: lowbias32 chained over (seed, counter, frame, joint)."""
    def lowbias32(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)
    h = lowbias32(lowbias32(lowbias32(lowbias32(seed) ^ counter) ^ frame) ^ joint)
    return 1.0 if (h >> 8) / 2 ** 24 < float(np.float32(keep_prob)) else 0.0


def within_binomial(kept, trials, p, sigmas=5.0):
    return abs(kept - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p))


@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("seed,counter", ((0, 0), (7, 3), (2 ** 32 - 1, 123456)))
def test_mask_matches_the_python_integer_hash(seed, counter, dim):
    keep_prob = np.linspace(0.1, 0.9, 16)
    mask = joint_mask((9, 16 * dim), dim, keep_prob, seed, counter)
    expected = [[python_keep(seed, counter, frame, joint, keep_prob[joint]) for joint in range(16)
                 for _ in range(dim)] for frame in range(9)]
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask, expected)


def test_seed_and_counter_are_taken_modulo_2_to_the_32():
    np.testing.assert_array_equal(joint_mask((5, 48), 3, 0.5, -1, 2 ** 32 + 4),
                                  joint_mask((5, 48), 3, 0.5, 2 ** 32 - 1, 4))


def test_repeatable_for_a_seed_and_counter_and_different_otherwise():
    shape = (64, 48)
    first = joint_mask(shape, 3, 0.5, seed=11, counter=0)
    np.testing.assert_array_equal(first, joint_mask(shape, 3, 0.5, seed=11, counter=0))
    assert not np.array_equal(first, joint_mask(shape, 3, 0.5, seed=12, counter=0))
    assert not np.array_equal(first, joint_mask(shape, 3, 0.5, seed=11, counter=1))


@pytest.mark.parametrize("dim", (1, 2, 3))
def test_each_joint_is_kept_or_dropped_whole(dim):
    mask = joint_mask((200, 16 * dim), dim, 0.5, seed=3, counter=9).reshape(200, 16, dim)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert np.all(mask == mask[:, :, :1])


@pytest.mark.parametrize("keep", (0.98, 0.8, 0.5))
def test_keep_rate_within_binomial_tolerance(keep):
    n = 4096
    mask = joint_mask((n, 48), 3, keep, seed=5, counter=1)[:, ::3]
    assert within_binomial(mask.sum(), mask.size, keep)


def test_per_joint_keep_rates_of_the_released_mask_2d_3d():
    n = 4096
    mask_2d, mask_3d = mask_2d_3d(n, jm.RELEASED_MASK_2D3D_KEEP_PROB, seed=1, counter=0)
    assert mask_2d.shape == (n, 32) and mask_3d.shape == (n, 48)
    kept = mask_3d[:, ::3].sum(axis=0)
    for joint in range(16):
        p = 0.6 if joint in (7, 9) else 0.8
        assert jm.RELEASED_MASK_2D3D_KEEP_PROB[joint] == np.float32(p)
        assert within_binomial(kept[joint], n, p), (joint, kept[joint] / n)


def test_draws_look_independent_across_joints_frames_and_calls():
    n = 4096
    first = joint_mask((n, 16), 1, 0.5, seed=2, counter=0)
    second = joint_mask((n, 16), 1, 0.5, seed=2, counter=1)
    assert within_binomial(np.sum(first[:, 0] * first[:, 1]), n, 0.25)        # two joints, same frame
    assert within_binomial(np.sum(first[:-1, 0] * first[1:, 0]), n - 1, 0.25)  # one joint, next frame
    assert within_binomial(np.sum(first == second), first.size, 0.5)          # next call


def test_mask_2d_3d_drops_the_same_joints_as_joint_mask():
    mask_2d, mask_3d = mask_2d_3d(50, jm.RELEASED_MASK_2D3D_KEEP_PROB, seed=8, counter=2)
    np.testing.assert_array_equal(mask_2d, joint_mask((50, 32), 2, jm.RELEASED_MASK_2D3D_KEEP_PROB, 8, 2))
    np.testing.assert_array_equal(mask_3d, joint_mask((50, 48), 3, jm.RELEASED_MASK_2D3D_KEEP_PROB, 8, 2))


def test_keep_probabilities_0_and_1():
    assert np.all(joint_mask((100, 48), 3, 1.0, 0, 0) == 1)
    assert np.all(joint_mask((100, 48), 3, 0.0, 0, 0) == 0)


@pytest.mark.parametrize("call", (
    lambda: joint_mask((5, 47), 3, 0.5, 0, 0),
    lambda: joint_mask((5, 48), 3, np.full(15, 0.5), 0, 0),
    lambda: joint_mask((5, 48), 3, 1.5, 0, 0),
    lambda: mask_2d_3d(5, np.full(17, 0.5), 0, 0),
    lambda: mask_2d_3d(-1, 0.5, 0, 0),
), ids=("width", "keep-length", "keep-range", "2d3d-length", "negative-n"))
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()
