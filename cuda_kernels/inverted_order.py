"""Reverse an (N, ...) array along axis 0, time (kernel in inverted_order.cu).

The InvertedOrder layer runs the second LSTM backwards in time and puts its output back in order;
reversal is its own inverse and its own gradient, so forward and backward both call inverted_order.
"""
import numpy as np

from . import launch

_KERNELS = launch.KernelFile("inverted_order.cu", ("inverted_order",))


def _check(a):
    if a.ndim < 1:
        raise ValueError("inverted_order: need an array with an item axis (N, ...), got a scalar")


def inverted_order_reference(a):
    a = np.asarray(a)
    _check(a)
    return np.ascontiguousarray(a[::-1])


def _inverted_order_device(a):
    _check(a)
    a = launch.device_float32(a)
    out = launch.device_empty(a.shape)
    n_items = a.shape[0]
    row = a.size // n_items if n_items else 0
    _KERNELS.run("inverted_order", a.size, (a, out, np.int64(n_items), np.int64(row)))
    return out


def inverted_order(a):
    """Contiguous copy of `a` (N, ...) with its items in reverse order along axis 0 (same dtype on the
    host; float32 on the device)."""
    return launch.pick(inverted_order_reference, _inverted_order_device, a)(a)
