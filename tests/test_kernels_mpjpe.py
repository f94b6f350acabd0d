"""Per-joint errors and MPJPE (NumPy references) against explicit loops in float64."""
import math

import numpy as np
import pytest

from cuda_kernels import mpjpe
from pose_formats.normalization import MaxMin

SIZES = (1, 5, 37)


def loop_joint_errors(pred, target, dim):
    n, width = pred.shape
    errors = np.zeros((n, width // dim))
    for frame in range(n):
        for joint in range(width // dim):
            errors[frame, joint] = math.sqrt(sum(
                (float(pred[frame, joint * dim + c]) - float(target[frame, joint * dim + c])) ** 2
                for c in range(dim)))
    return errors


@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("n", SIZES)
def test_errors_in_mm_match_loops(n, dim):
    rng = np.random.default_rng(n + dim)
    pred = rng.normal(scale=300, size=(n, 16 * dim)).astype(np.float32)
    target = rng.normal(scale=300, size=(n, 16 * dim)).astype(np.float32)
    expected = loop_joint_errors(pred, target, dim)

    errors = mpjpe.joint_errors(pred, target, dim)
    frame_mpjpe = mpjpe.mpjpe(pred, target, dim)

    assert errors.shape == (n, 16) and errors.dtype == np.float32
    assert frame_mpjpe.shape == (n,) and frame_mpjpe.dtype == np.float32
    np.testing.assert_allclose(errors, expected, rtol=1e-5)
    np.testing.assert_allclose(frame_mpjpe, [sum(row) / 16 for row in expected], rtol=1e-5)


@pytest.mark.parametrize("n", SIZES)
def test_scale_measures_normalised_poses_in_mm(n):
    table = MaxMin()
    rng = np.random.default_rng(n)
    pred = rng.uniform(size=(n, 48)).astype(np.float32)
    target = rng.uniform(size=(n, 48)).astype(np.float32)
    expected = loop_joint_errors(table.unnormalize(pred), table.unnormalize(target), 3)

    np.testing.assert_allclose(mpjpe.joint_errors(pred, target, scale=table.range), expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(mpjpe.mpjpe(pred, target, scale=table.range), expected.mean(axis=1), rtol=1e-4)


def test_a_known_offset():
    target = np.zeros((2, 48), np.float32)
    pred = target + np.tile([3.0, 4.0, 0.0], 16).astype(np.float32)
    np.testing.assert_array_equal(mpjpe.joint_errors(pred, target), np.full((2, 16), 5.0))
    np.testing.assert_array_equal(mpjpe.mpjpe(pred, target), [5.0, 5.0])


@pytest.mark.parametrize("call", (
    lambda: mpjpe.mpjpe(np.zeros((5, 48)), np.zeros((5, 32))),
    lambda: mpjpe.mpjpe(np.zeros((5, 47)), np.zeros((5, 47))),
    lambda: mpjpe.mpjpe(np.zeros((5, 48)), np.zeros((5, 48)), dim=4),
    lambda: mpjpe.mpjpe(np.zeros((5, 48)), np.zeros((5, 48)), scale=np.ones(32)),
), ids=("mismatched", "width", "dim", "scale-length"))
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()
