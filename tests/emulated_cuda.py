"""A stand-in `cupy` module that runs the project's .cu kernels on the CPU, for machines without a GPU.

Its RawModule compiles the same .cu source as C++ (g++ -std=c++20) and launches each kernel in one of
two ways:
- serially: every (block, thread) of the grid one after another, for kernels that use no shared
  memory or synchronisation (that serial run has their semantics);
- with threads, for modules whose source synchronises (__syncthreads): every thread of the grid is an
  OS thread, all running at once, so __syncthreads (a barrier per block), dynamic shared memory (an
  arena per block), atomics, fences and a grid-wide barrier built on them behave as on a GPU whose
  blocks are all resident.
Each launch checks that every argument has the exact type the kernel signature asks for. Array code
written for CuPy gets NumPy's functions, with results that the kernel modules take for device arrays.

It tests kernel indexing, synchronisation and the Python launch glue; it cannot stand in for a GPU
run (NVRTC, real memory, the device's maths and memory model).
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types

import numpy as np

_PRELUDE = r"""
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>
struct emu_dim3 { unsigned int x, y, z; };
static thread_local emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
static thread_local std::barrier<>* emu_block_barrier;
static thread_local unsigned char* emu_block_shared;
#define __global__
#define __device__
#define __forceinline__ inline
#define __align__(n)
static inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }
static inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
static inline void __nanosleep(unsigned int) { std::this_thread::yield(); }
static inline void __trap() { std::abort(); }
static inline unsigned int atomicAdd(unsigned int* p, unsigned int v) {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline unsigned int atomicExch(unsigned int* p, unsigned int v) {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
"""
# `extern __shared__ [__align__(n)] T name[];` -> the calling thread's block arena
_DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w ]+?)\s+(\w+)\s*\[\s*\]\s*;")
_KERNEL_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
# kernel parameter type -> (ctypes type, NumPy dtype an array or scalar argument must have, is pointer)
_PARAMETER_TYPES = {
    "const float*": (ctypes.c_void_p, np.float32, True),
    "float*": (ctypes.c_void_p, np.float32, True),
    "const double*": (ctypes.c_void_p, np.float64, True),
    "double*": (ctypes.c_void_p, np.float64, True),
    "const int*": (ctypes.c_void_p, np.int32, True),
    "int*": (ctypes.c_void_p, np.int32, True),
    "unsigned int*": (ctypes.c_void_p, np.uint32, True),
    "int": (ctypes.c_int, np.int32, False),
    "long long": (ctypes.c_longlong, np.int64, False),
    "unsigned int": (ctypes.c_uint, np.uint32, False),
    "float": (ctypes.c_float, np.float32, False),
    "double": (ctypes.c_double, np.float64, False),
}
_BUILT_LIBRARIES = {}      # source hash -> loaded library, shared by every test of the session


def _parameters(parameter_list):
    """[(type, name)] of a kernel's parameter list, types normalised as in _PARAMETER_TYPES."""
    parameters = []
    for declaration in parameter_list.split(","):
        declaration = re.sub(r"\s*\*\s*", "* ", " ".join(declaration.split()))
        type_name, name = declaration.rsplit(" ", 1)
        parameters.append((type_name.strip(), name))
    return parameters


def _launchers(name, parameters):
    """C++ that runs kernel `name` over a 1-D grid: serially, and with one OS thread per GPU thread."""
    declared = ", ".join(f"{t} {n}" for t, n in parameters)
    passed = ", ".join(n for _, n in parameters)
    return f"""
extern "C" void emu_serial_{name}(unsigned int emu_grid, unsigned int emu_block, {declared}) {{
    gridDim = {{emu_grid, 1, 1}};
    blockDim = {{emu_block, 1, 1}};
    for (unsigned int emu_b = 0; emu_b < emu_grid; ++emu_b)
        for (unsigned int emu_t = 0; emu_t < emu_block; ++emu_t) {{
            blockIdx = {{emu_b, 0, 0}};
            threadIdx = {{emu_t, 0, 0}};
            {name}({passed});
        }}
}}

extern "C" void emu_threads_{name}(unsigned int emu_grid, unsigned int emu_block, unsigned int emu_shared,
                                   {declared}) {{
    std::vector<std::unique_ptr<std::barrier<>>> emu_barriers;
    std::vector<std::vector<unsigned char>> emu_arenas;
    for (unsigned int emu_b = 0; emu_b < emu_grid; ++emu_b) {{
        emu_barriers.emplace_back(new std::barrier<>(emu_block));
        emu_arenas.emplace_back(emu_shared + 16, 0xff);  // not zero: kernels must not rely on it
    }}
    std::vector<std::thread> emu_threads;
    for (unsigned int emu_b = 0; emu_b < emu_grid; ++emu_b)
        for (unsigned int emu_t = 0; emu_t < emu_block; ++emu_t)
            emu_threads.emplace_back([&, emu_b, emu_t]() {{
                gridDim = {{emu_grid, 1, 1}};
                blockDim = {{emu_block, 1, 1}};
                blockIdx = {{emu_b, 0, 0}};
                threadIdx = {{emu_t, 0, 0}};
                emu_block_barrier = emu_barriers[emu_b].get();
                emu_block_shared = emu_arenas[emu_b].data();
                {name}({passed});
            }});
    for (auto& emu_thread : emu_threads) emu_thread.join();
}}
"""


class EmulatedArray(np.ndarray):
    """A host array that the kernel modules take for a CuPy array."""

    def get(self):
        return np.array(self)


EmulatedArray.__module__ = "cupy"


class _EmulatedKernel:
    max_threads_per_block = 1024

    def __init__(self, library, name, parameters, threaded):
        self.name, self.parameters, self.threaded = name, parameters, threaded
        if threaded:
            self.function = getattr(library, f"emu_threads_{name}")
            leading = [ctypes.c_uint] * 3
        else:
            self.function = getattr(library, f"emu_serial_{name}")
            leading = [ctypes.c_uint] * 2
        self.function.argtypes = leading + [_PARAMETER_TYPES[t][0] for t, _ in parameters]

    def __call__(self, grid, block, args, shared_mem=0):
        assert len(grid) == 1 and len(block) == 1 and grid[0] >= 1 and 1 <= block[0] <= 1024, (grid, block)
        assert len(args) == len(self.parameters), f"{self.name}: {len(args)} arguments for {self.parameters}"
        assert self.threaded or shared_mem == 0, \
            f"{self.name}: dynamic shared memory in a kernel that never synchronises"
        converted = []
        for arg, (type_name, name) in zip(args, self.parameters):
            _, dtype, is_pointer = _PARAMETER_TYPES[type_name]
            if is_pointer:
                assert isinstance(arg, EmulatedArray) and arg.dtype == dtype and arg.flags.c_contiguous, \
                    f"{self.name}({name}): needs a contiguous {np.dtype(dtype)} device array"
                converted.append(arg.ctypes.data)
            else:
                assert type(arg) is dtype, f"{self.name}({name}): needs {dtype.__name__}, got {type(arg).__name__}"
                converted.append(arg.item())
        if self.threaded:
            self.function(grid[0], block[0], shared_mem, *converted)
        else:
            self.function(grid[0], block[0], *converted)


class _EmulatedRawModule:
    def __init__(self, code, options=()):
        self.threaded = "__syncthreads" in code
        code = _DYNAMIC_SHARED.sub(r"\1* \2 = reinterpret_cast<\1*>(emu_block_shared);", code)
        key = hashlib.sha256(code.encode()).hexdigest()
        self.signatures = {name: _parameters(params) for name, params in _KERNEL_SIGNATURE.findall(code)}
        if key not in _BUILT_LIBRARIES:
            build_dir = tempfile.mkdtemp(prefix="emulated_cuda_")
            source = _PRELUDE + code + "".join(_launchers(n, p) for n, p in self.signatures.items())
            library_path = os.path.join(build_dir, f"{key[:16]}.so")
            built = subprocess.run(["g++", "-std=c++20", "-O1", "-pthread", "-shared", "-fPIC", "-x", "c++", "-",
                                    "-o", library_path], input=source, text=True, capture_output=True)
            if built.returncode != 0:
                raise RuntimeError(f"g++ could not build the emulated kernels:\n{built.stderr}")
            _BUILT_LIBRARIES[key] = ctypes.CDLL(library_path)
            shutil.rmtree(build_dir)   # the loaded library stays mapped
        self.library = _BUILT_LIBRARIES[key]

    def get_function(self, name):
        return _EmulatedKernel(self.library, name, self.signatures[name], self.threaded)


def _on_device(result):
    """NumPy results as emulated device arrays (NumPy already keeps the subclass of its inputs)."""
    if type(result) is np.ndarray:
        return result.view(EmulatedArray)
    if isinstance(result, tuple):
        return tuple(_on_device(r) for r in result)
    return result


class _EmulatedModule(types.ModuleType):
    """Anything the module does not define is NumPy's, with array results on the "device": array code
    written for CuPy (online.correction) runs on it as it would on CuPy, its kernels emulated."""

    def __getattr__(self, name):
        attribute = getattr(np, name)
        if isinstance(attribute, type) or not callable(attribute):
            return attribute  # dtypes, constants
        return lambda *args, **kwargs: _on_device(attribute(*args, **kwargs))


def emulated_cupy():
    """The stand-in module: arrays, RawModule, the runtime calls the kernel modules make, and NumPy's
    functions for array code."""
    module = _EmulatedModule("cupy")
    module.ndarray = EmulatedArray
    module.asarray = lambda a, dtype=None: np.array(a, dtype=dtype).view(EmulatedArray)  # a copy, as CuPy's
    module.ascontiguousarray = lambda a, dtype=None: np.ascontiguousarray(a, dtype=dtype).view(EmulatedArray)
    module.RawModule = _EmulatedRawModule
    pool = types.SimpleNamespace(limit=None, total_bytes=lambda: 0)
    pool.set_limit = lambda size: setattr(pool, "limit", size)
    module.get_default_memory_pool = lambda: pool
    module.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(
            getDeviceCount=lambda: 1, memGetInfo=lambda: (8 * 2**30, 80 * 2**30),
            getDeviceProperties=lambda device_id: {"name": b"emulated on the CPU", "multiProcessorCount": 3}),
        Device=lambda device_id=0: types.SimpleNamespace(id=device_id, synchronize=lambda: None))
    return module
