"""The one backend switch: CuPy when CuPy imports and sees a CUDA device, NumPy otherwise.

HPM_BACKEND=numpy forces NumPy; HPM_BACKEND=cupy demands CuPy (an error if it cannot be had);
unset or `auto` chooses. Callers ask `backend.xp()` for the array module and never test for CuPy
themselves.
"""
import functools
import os
import re

import numpy as np

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))
_CHOICES = ("auto", "numpy", "cupy")


@functools.lru_cache(maxsize=None)
def _cupy_or_reason():
    """(cupy module, None) when usable, else (None, why not)."""
    try:
        import cupy
    except ImportError as e:
        return None, f"CuPy is not installed ({e})"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "no CUDA device"
    except Exception as e:  # CUDA driver missing or broken: CuPy raises its own runtime errors
        return None, f"no usable CUDA device ({e})"
    return cupy, None


def requested():
    choice = os.environ.get("HPM_BACKEND", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise ValueError(f"HPM_BACKEND={choice!r}: expected one of {', '.join(_CHOICES)}")
    return choice


def gpu_available():
    return _cupy_or_reason()[0] is not None


def xp():
    """The array module to compute with: cupy or numpy."""
    choice = requested()
    if choice == "numpy":
        return np
    cupy, why = _cupy_or_reason()
    if cupy is None:
        if choice == "cupy":
            raise RuntimeError(f"HPM_BACKEND=cupy but {why}")
        return np
    return cupy


def name():
    return xp().__name__


def to_host(a):
    """A NumPy array from a NumPy or CuPy array."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def device_array(pointer, shape, owner):
    """A float32 CuPy array of `shape` over device memory that another library allocated and keeps
    (a Caffe blob's, by its integer address), without a copy; `owner` is kept alive with it."""
    cupy, why = _cupy_or_reason()
    if cupy is None:
        raise RuntimeError(f"cannot use device memory at {pointer:#x}: {why}")
    shape = tuple(int(d) for d in shape)
    n_bytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(np.float32).itemsize
    memory = cupy.cuda.UnownedMemory(pointer, n_bytes, owner)
    return cupy.ndarray(shape, dtype=np.float32, memptr=cupy.cuda.MemoryPointer(memory, 0))


_LOCAL_INCLUDE = re.compile(r'^#include "([\w.]+)"[ \t]*$', re.MULTILINE)


def kernel_source(cu_file):
    """The text of cuda_kernels/<cu_file> with each `#include "name"` of a file beside it pasted in:
    CuPy caches compiled kernels by their source text, so a shared header must be part of it."""
    with open(os.path.join(KERNEL_DIR, cu_file)) as f:
        source = f.read()
    return _LOCAL_INCLUDE.sub(lambda include: kernel_source(include.group(1)), source)


@functools.lru_cache(maxsize=None)
def raw_module(cu_file, options=("-std=c++17",)):
    """The compiled cupy.RawModule of cuda_kernels/<cu_file> (compiled once per process)."""
    cupy, why = _cupy_or_reason()
    if cupy is None:
        raise RuntimeError(f"cannot load {cu_file}: {why}")
    return cupy.RawModule(code=kernel_source(cu_file), options=options)


def device_name():
    """The GPU's name when CuPy is in use, else 'CPU'."""
    module = xp()
    if module is np:
        return "CPU"
    properties = module.cuda.runtime.getDeviceProperties(module.cuda.Device().id)
    return properties["name"].decode()


def limit_device_memory(n_bytes):
    """Cap CuPy's memory pool (an allocation past it raises OutOfMemoryError); no-op on NumPy."""
    module = xp()
    if module is not np:
        module.get_default_memory_pool().set_limit(size=n_bytes)


def peak_device_memory():
    """Bytes CuPy's memory pool holds (it keeps freed blocks, so this is its high-water mark);
    None on NumPy."""
    module = xp()
    return None if module is np else module.get_default_memory_pool().total_bytes()


HOST_CHUNK_BUDGET = 256 * 2**20      # bytes: larger chunks gain nothing on the CPU
DEVICE_CHUNK_BUDGET = 2 * 2**30      # bytes: on a GPU large chunks amortise each operation's launch


def chunk_memory_budget():
    """Bytes a chunk of frames may use: HOST_CHUNK_BUDGET on NumPy; on CuPy DEVICE_CHUNK_BUDGET, or a
    quarter of the free device memory where that is less."""
    module = xp()
    if module is np:
        return HOST_CHUNK_BUDGET
    free, _ = module.cuda.runtime.memGetInfo()
    return int(min(DEVICE_CHUNK_BUDGET, free // 4))
