"""The arrays a Python layer computes on, over a blob's memory: CuPy views of the blob's device
memory when Caffe runs in GPU mode and the backend (cuda_kernels.backend) is CuPy, else the blob's
host views, which Caffe keeps in sync with the device in either mode. The kernels in cuda_kernels/
run on CuPy arrays and their NumPy references on NumPy arrays, so this is the layers' one switch.

Reading (`data`, `diff`) brings the blob's current values to where the layer computes; writing
(`mutable_data`, `mutable_diff`) also makes that copy the current one, as Caffe's own layers do.
Caffe's and CuPy's kernels both go to the device's default stream, so they run in order unsynchronised.
"""
import numpy as np
from caffe._caffe import mode_is_gpu  # patched pycaffe (tools/caffe_patches/pycaffe-gpu.patch)

from cuda_kernels import backend


def on_device():
    return mode_is_gpu() and backend.name() == "cupy"


def array_module():
    """cupy when the layers compute on the device, else numpy."""
    return backend.xp() if on_device() else np


def _view(blob, host_view, device_pointer_name):
    if not on_device():
        return host_view(blob)
    return backend.device_array(getattr(blob, device_pointer_name), blob.shape, blob)


def data(blob):
    return _view(blob, lambda b: b.data, "gpu_data_ptr")


def mutable_data(blob):
    return _view(blob, lambda b: b.data, "mutable_gpu_data_ptr")


def diff(blob):
    return _view(blob, lambda b: b.diff, "gpu_diff_ptr")


def mutable_diff(blob):
    return _view(blob, lambda b: b.diff, "mutable_gpu_diff_ptr")


def items(array):
    """An (N, width) view of an (N, ...) blob array."""
    return array.reshape(array.shape[0], -1)
