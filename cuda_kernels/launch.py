"""Dispatch and launch helpers shared by the kernel modules.

Every public kernel function dispatches once, on where its input arrays live: NumPy arrays run the
NumPy reference (which defines the result), CuPy arrays run the raw CUDA kernel. Functions that take
no input array (the joint masks) take an array module instead, `backend.xp()` by default.

Dtypes: the CUDA kernels compute in float32, so the device path casts its inputs to contiguous
float32 (the online correction's kernels also have float64 entry points: its float64 mode, and the
frames float32 cannot resolve). The NumPy references keep float64 inputs in float64 (so gradients
can be checked against finite differences in float64) and compute everything else in float32.
"""
import functools

import numpy as np

from . import backend

BLOCK_SIZE = 256
MAX_BLOCKS = 65535      # kernels loop grid-stride, so a capped grid still covers every element

KERNEL_FILES = []       # every KernelFile made, so tests can check each declared kernel compiles


def is_device_array(a):
    """True for a CuPy array (told by its type, so a NumPy-only machine never imports CuPy)."""
    return type(a).__module__.split(".")[0] == "cupy"


def pick(reference, device, *arrays):
    """`device` when all `arrays` are CuPy arrays, `reference` when none is; mixing them is an error."""
    on_device = [is_device_array(a) for a in arrays]
    if all(on_device):
        return device
    if not any(on_device):
        return reference
    raise TypeError("mixed host (NumPy) and device (CuPy) arrays: move them to one side first")


def pick_for_module(reference, device, xp=None):
    """`device` when the array module `xp` (default: backend.xp()) is CuPy, `reference` otherwise."""
    xp = backend.xp() if xp is None else xp
    return device if xp.__name__ == "cupy" else reference


def host_float(a):
    """A NumPy array to compute a reference with: float64 stays float64, anything else is float32."""
    a = np.asarray(a)
    return a if a.dtype == np.float64 else a.astype(np.float32)


def _cupy():
    import cupy  # only reached on the device path, where CuPy is known to be importable
    return cupy


def device_array(a, dtype):
    """A contiguous CuPy array of `dtype` (no copy when `a` already is one)."""
    return _cupy().ascontiguousarray(a, dtype=dtype)


def device_float32(a):
    return device_array(a, np.float32)


def device_empty(shape, dtype=np.float32):
    """Every device output is allocated here (tests poison it to prove each element is written)."""
    return _cupy().empty(shape, dtype=dtype)


def device_zeros(shape, dtype=np.float32):
    """Device state that a kernel reads before it writes (Adam's moments, a barrier's counters)."""
    return _cupy().zeros(shape, dtype=dtype)


def multiprocessor_count():
    cupy = _cupy()
    return int(cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["multiProcessorCount"])


@functools.lru_cache(maxsize=None)
def device_int32(values):
    """A cached int32 device array of a tuple of ints (e.g. a parent map)."""
    return _cupy().asarray(np.array(values, dtype=np.int32))


@functools.lru_cache(maxsize=None)
def device_float32_constant(values):
    """A cached float32 device array of a tuple of floats (e.g. a coordinate scale)."""
    return _cupy().asarray(np.array(values, dtype=np.float32))


class KernelFile:
    """The kernels of one cuda_kernels/<cu_file>, named up front so the compile test can check them."""

    def __init__(self, cu_file, kernel_names):
        self.cu_file = cu_file
        self.kernel_names = tuple(kernel_names)
        KERNEL_FILES.append(self)

    def function(self, kernel_name):
        """The compiled kernel `kernel_name` (a cupy.RawKernel)."""
        if kernel_name not in self.kernel_names:
            raise KeyError(f"{self.cu_file} declares no kernel {kernel_name!r}")
        return backend.raw_module(self.cu_file).get_function(kernel_name)

    def run(self, kernel_name, n_threads, args):
        """Launch `kernel_name` over `n_threads` logical threads (1-D grid-stride); no-op when 0."""
        if n_threads == 0 and kernel_name in self.kernel_names:
            return
        kernel = self.function(kernel_name)
        blocks = min((n_threads + BLOCK_SIZE - 1) // BLOCK_SIZE, MAX_BLOCKS)
        kernel((blocks,), (BLOCK_SIZE,), args)
