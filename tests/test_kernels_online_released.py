"""What the released-mode kernel's launcher checks before it touches a device, and the skeleton table
it hands the kernel (its numbers are checked in test_kernels_device.py, on a GPU or emulated)."""
import numpy as np
import pytest

from cuda_kernels import online_released
from pose_formats.skeleton import bone_matrix


def test_parent_entries_are_the_bone_matrix():
    """B[i, j] = [i = parent entry of j] − [i = j], as the kernel's loss gradient uses it."""
    parents = online_released.parent_entries()
    assert parents.dtype == np.int32 and parents.shape == (32,)
    b = -np.eye(32)
    b[parents, np.arange(32)] += 1.0
    np.testing.assert_array_equal(b, bone_matrix(2))


@pytest.mark.parametrize("xs_shape, qs_shape, lengths, message", [
    ((5, 2, 47), (5, 2, 32), (5, 5), "expected xs"),
    ((5, 2, 48), (5, 3, 32), (5, 5), "expected xs"),
    ((5, 2, 48), (5, 2, 32), (5,), "one length per row"),
    ((5, 2, 48), (5, 2, 32), (3, 5), "non-increasing"),
    ((5, 2, 48), (5, 2, 32), (6, 5), "at most the number of steps"),
])
def test_bad_shapes_and_lengths_are_refused(xs_shape, qs_shape, lengths, message):
    with pytest.raises(ValueError, match=message):
        online_released.released_scan({}, np.zeros(xs_shape), np.zeros(qs_shape), lengths, np.ones(32),
                                      iterations=2, scale=1.0, lr=1e-4, beta1=0.9, beta2=0.999, eps=1e-8)
