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
import re

import numpy as np

from . import backend

BLOCK_SIZE = 256
MAX_BLOCKS = 65535      # kernels loop grid-stride, so a capped grid still covers every element
DEFAULT_DYNAMIC_SHARED_LIMIT = 48 * 1024   # bytes of dynamic shared memory a kernel gets without opting in

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
    """A contiguous CuPy array of `dtype` from the CuPy array `a` (no copy when `a` already is one).
    CuPy's ascontiguousarray takes device arrays only; host data goes through to_device."""
    return _cupy().ascontiguousarray(a, dtype=dtype)


def to_device(a, dtype):
    """A copy of the host (NumPy) array `a` on the device, contiguous and of `dtype`."""
    return _cupy().asarray(np.ascontiguousarray(a, dtype=dtype))


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
    return to_device(values, np.int32)


@functools.lru_cache(maxsize=None)
def device_float32_constant(values):
    """A cached float32 device array of a tuple of floats (e.g. a coordinate scale)."""
    return to_device(values, np.float32)


def source_constant(cu_file, name):
    """The integer of the `#define name value` line in cuda_kernels/<cu_file>: a size that the kernel and
    its launcher both need, defined once."""
    found = re.findall(rf"^#define {name} (\d+)$", backend.kernel_source(cu_file), re.MULTILINE)
    if len(found) != 1:
        raise LookupError(f"{cu_file}: expected one '#define {name} <integer>' line, found {len(found)}")
    return int(found[0])


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

    def run_resident(self, kernel_name, block, shared_mem, max_blocks, args):
        """Launch `kernel_name` cooperatively (cuLaunchCooperativeKernel): CUDA then guarantees that every
        block is resident at once, which a grid-wide barrier needs. The grid is as many blocks as the
        device holds at once (occupancy at `block` threads and `shared_mem` bytes, times the
        multiprocessors), at most `max_blocks`.

        The flag goes to the kernel's cupy.cuda.Function, not to the RawKernel: RawKernel.__call__
        passes its module's enable_cooperative_groups (a compile option: CuPy 13 then compiles with
        --device-c and links libcudadevrt.a from a CUDA toolkit) and refuses it as a keyword."""
        kernel = self.function(kernel_name)
        if shared_mem > DEFAULT_DYNAMIC_SHARED_LIMIT:
            kernel.max_dynamic_shared_size_bytes = shared_mem
        function = kernel.kernel
        cupy = _cupy()
        per_multiprocessor = cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(function.ptr, block, shared_mem)
        if per_multiprocessor < 1:
            raise RuntimeError(f"{self.cu_file}: {kernel_name} cannot be resident with {block} threads and "
                               f"{shared_mem} bytes of shared memory per block")
        grid = min(per_multiprocessor * multiprocessor_count(), max_blocks)
        function((grid,), (block,), args, shared_mem=shared_mem, enable_cooperative_groups=True)
