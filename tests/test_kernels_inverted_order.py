"""InvertedOrder (NumPy reference) against an item-by-item loop."""
import numpy as np
import pytest

from cuda_kernels.inverted_order import inverted_order


@pytest.mark.parametrize("shape", ((1, 48), (5, 1, 1024), (8, 32), (25, 3, 2, 2), (0, 4)))
def test_reverses_items_along_axis_0(shape):
    a = np.random.default_rng(len(shape)).normal(size=shape).astype(np.float32)
    expected = np.empty_like(a)
    for i in range(shape[0]):
        expected[i] = a[shape[0] - 1 - i]

    out = inverted_order(a)

    assert out.flags.c_contiguous and out.dtype == a.dtype
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(inverted_order(out), a)


def test_a_scalar_is_refused():
    with pytest.raises(ValueError):
        inverted_order(np.float32(1.0))
