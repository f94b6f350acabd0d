"""A stand-in `cupy` module that runs the project's .cu kernels on the CPU, for machines without a GPU.

Its RawModule compiles the same .cu source as C++ (g++ -std=c++20) and launches each kernel in one of
two ways:
- serially: every (block, thread) of the grid one after another, for kernels that use no shared
  memory or synchronisation (that serial run has their semantics);
- with blocks side by side, for modules whose source synchronises (__syncthreads): every block of the
  grid is an OS thread, all running at once, and the GPU threads of a block are fibers (ucontext) on
  it that run one after another up to each __syncthreads, in alternating order from one barrier to
  the next (a read of another thread's write between two barriers sees it in one order and not the
  other). So __syncthreads, dynamic shared memory (an arena per block), atomics, fences and a
  grid-wide barrier built on them behave as on a GPU whose blocks are all resident, and a grid of an
  H200's 132 blocks of 256 threads costs 132 OS threads, not 33792.
Launches follow CuPy 14.2 (the version setup.py pins): a host (NumPy) array where CuPy wants a device
array raises TypeError (ascontiguousarray, kernel pointer arguments, array functions and operators),
every argument must have the exact type the kernel signature asks for, dynamic shared memory past
48 KB needs the kernel's max_dynamic_shared_size_bytes raised first, and a cooperative launch
(Function.__call__ with enable_cooperative_groups=True) of a 1-D grid larger than the device model's
co-resident capacity is cut to that capacity with CuPy's warning (grids are 1-D here).
The device model (DeviceModel) gives the multiprocessor count and the occupancy limits; a compiled
kernel's register count is assumed (REGISTERS_PER_THREAD), as only ptxas knows it.

It tests kernel indexing, synchronisation and the Python launch glue; it cannot stand in for a GPU
run (NVRTC, real memory, the device's maths and memory model, warps).
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types
import warnings
import weakref
from typing import NamedTuple

import numpy as np

_PRELUDE = r"""
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <thread>
#include <ucontext.h>
#include <vector>
struct emu_dim3 { unsigned int x, y, z; };
static thread_local emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
static thread_local unsigned char* emu_block_shared;
static thread_local ucontext_t emu_scheduler;      // the block's OS thread, between fibers
static thread_local ucontext_t* emu_running;       // the fiber (GPU thread) running now
static thread_local bool emu_fiber_returned;
static thread_local void (*emu_fiber_body)();
#define __global__
#define __device__
#define __forceinline__ inline
#define __align__(n)
static inline void __syncthreads() { swapcontext(emu_running, &emu_scheduler); }
static inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
static inline void __nanosleep(unsigned int) { std::this_thread::yield(); }
static inline void __trap() { std::abort(); }
static inline unsigned int atomicAdd(unsigned int* p, unsigned int v) {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline unsigned int atomicExch(unsigned int* p, unsigned int v) {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
static void emu_fiber_main() { emu_fiber_body(); emu_fiber_returned = true; }

// Block `block_index` on the calling OS thread: one fiber per GPU thread, each run up to its next
// __syncthreads (or its end) in turn, forwards and backwards alternately, until all have returned.
static void emu_run_block(unsigned int block_index, unsigned int grid, unsigned int block, unsigned int shared,
                          void (*body)()) {
    constexpr size_t stack_bytes = 32 * 1024;
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    blockIdx = {block_index, 0, 0};
    std::vector<unsigned char> arena(shared + 16, 0xff);  // not zero: kernels must not rely on it
    emu_block_shared = arena.data();
    emu_fiber_body = body;
    std::unique_ptr<unsigned char[]> stacks(new unsigned char[stack_bytes * block]);  // untouched until used
    std::vector<ucontext_t> fibers(block);
    std::vector<bool> returned(block, false);
    for (unsigned int t = 0; t < block; ++t) {
        getcontext(&fibers[t]);
        fibers[t].uc_stack.ss_sp = stacks.get() + stack_bytes * t;
        fibers[t].uc_stack.ss_size = stack_bytes;
        fibers[t].uc_link = &emu_scheduler;
        makecontext(&fibers[t], emu_fiber_main, 0);
    }
    unsigned int running = block;
    for (bool forwards = true; running > 0; forwards = !forwards)
        for (unsigned int i = 0; i < block; ++i) {
            const unsigned int t = forwards ? i : block - 1 - i;
            if (returned[t]) continue;
            threadIdx = {t, 0, 0};
            emu_running = &fibers[t];
            emu_fiber_returned = false;
            swapcontext(&emu_scheduler, &fibers[t]);
            if (emu_fiber_returned) { returned[t] = true; --running; }
        }
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
DEFAULT_DYNAMIC_SHARED_LIMIT = 48 * 1024   # bytes a launch may ask for before the kernel opts in to more
REGISTERS_PER_THREAD = 128                 # assumed for every kernel (ptxas decides it on a GPU)


class DeviceModel(NamedTuple):
    """What the emulator reports and enforces; the per-SM limits are Hopper's (H100/H200)."""
    name: str
    multiprocessors: int
    max_blocks_per_multiprocessor: int = 32
    max_threads_per_multiprocessor: int = 2048
    registers_per_multiprocessor: int = 65536
    shared_per_multiprocessor: int = 228 * 1024
    shared_per_block_optin: int = 227 * 1024
    reserved_shared_per_block: int = 1024
    max_threads_per_block: int = 1024

    def occupancy(self, block, shared):
        """Blocks of `block` threads and `shared` bytes of dynamic shared memory resident per multiprocessor
        (cuOccupancyMaxActiveBlocksPerMultiprocessor, registers at REGISTERS_PER_THREAD)."""
        warps = -(-block // 32)
        return min(self.max_blocks_per_multiprocessor,
                   self.max_threads_per_multiprocessor // (32 * warps),
                   self.registers_per_multiprocessor // (REGISTERS_PER_THREAD * 32 * warps),
                   self.shared_per_multiprocessor // (shared + self.reserved_shared_per_block))


# A small device whose multiprocessors hold one block each: every block of a persistent kernel then
# handles several column tiles. An H200-like one: the real multiprocessor count and limits.
SMALL_DEVICE = DeviceModel("emulated on the CPU: 3 SMs, one block each", 3, max_blocks_per_multiprocessor=1)
H200_DEVICE = DeviceModel("emulated on the CPU: H200-like, 132 SMs", 132)


def _parameters(parameter_list):
    """[(type, name)] of a kernel's parameter list, types normalised as in _PARAMETER_TYPES."""
    parameters = []
    for declaration in parameter_list.split(","):
        declaration = re.sub(r"\s*\*\s*", "* ", " ".join(declaration.split()))
        type_name, name = declaration.rsplit(" ", 1)
        parameters.append((type_name.strip(), name))
    return parameters


def _launchers(name, parameters):
    """C++ that runs kernel `name` over a 1-D grid: serially, and with an OS thread per block."""
    declared = ", ".join(f"{t} {n}" for t, n in parameters)
    passed = ", ".join(n for _, n in parameters)
    stored = "".join(f"static thread_local {t} emu_arg_{name}_{n};\n" for t, n in parameters)
    store = "".join(f"emu_arg_{name}_{n} = {n}; " for _, n in parameters)
    from_store = ", ".join(f"emu_arg_{name}_{n}" for _, n in parameters)
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

{stored}
static void emu_body_{name}() {{ {name}({from_store}); }}

extern "C" void emu_blocks_{name}(unsigned int emu_grid, unsigned int emu_block, unsigned int emu_shared,
                                  {declared}) {{
    std::vector<std::thread> emu_blocks;
    for (unsigned int emu_b = 0; emu_b < emu_grid; ++emu_b)
        emu_blocks.emplace_back([=]() {{
            {store}
            emu_run_block(emu_b, emu_grid, emu_block, emu_shared, emu_body_{name});
        }});
    for (auto& emu_thread : emu_blocks) emu_thread.join();
}}
"""


class EmulatedArray(np.ndarray):
    """A host array that the kernel modules take for a CuPy array. Like CuPy's, its operators refuse a
    NumPy array operand (CuPy raises TypeError rather than copy one over implicitly)."""

    def get(self):
        return np.array(self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        outputs = kwargs.get("out", ())
        refuse_host_arrays(f"cupy.{ufunc.__name__}", inputs + tuple(outputs))
        plain = lambda a: a.view(np.ndarray) if isinstance(a, EmulatedArray) else a
        if outputs:
            kwargs["out"] = tuple(plain(o) for o in outputs)
        result = getattr(ufunc, method)(*(plain(a) for a in inputs), **kwargs)
        if outputs:
            return outputs[0] if len(outputs) == 1 else outputs
        return _on_device(result)


EmulatedArray.__module__ = "cupy"


def refuse_host_arrays(what, args):
    """TypeError, as CuPy's, when `args` (or a list or tuple among them) holds a NumPy array."""
    for arg in args:
        if isinstance(arg, (list, tuple)):
            refuse_host_arrays(what, arg)
        elif isinstance(arg, np.ndarray) and not isinstance(arg, EmulatedArray):
            raise TypeError(f"{what}: Unsupported type {type(arg)} (a host array where CuPy wants a device array)")


class _EmulatedFunction:
    """cupy.cuda.function.Function: the compiled kernel and its launch."""

    def __init__(self, library, name, parameters, threaded, device):
        self.name, self.parameters, self.threaded, self.device = name, parameters, threaded, device
        self.max_dynamic_shared_size_bytes = DEFAULT_DYNAMIC_SHARED_LIMIT
        if threaded:
            self.function = getattr(library, f"emu_blocks_{name}")
            leading = [ctypes.c_uint] * 3
        else:
            self.function = getattr(library, f"emu_serial_{name}")
            leading = [ctypes.c_uint] * 2
        self.function.argtypes = leading + [_PARAMETER_TYPES[t][0] for t, _ in parameters]
        self.ptr = id(self)
        self.launches = []   # (grid, block, shared_mem, cooperative) of every launch, for tests to check

    def __call__(self, grid, block, args, shared_mem=0, stream=None, enable_cooperative_groups=False):
        assert len(grid) == 1 and len(block) == 1 and grid[0] >= 1, (grid, block)
        if not 1 <= block[0] <= self.device.max_threads_per_block:
            raise RuntimeError(f"{self.name}: CUDA_ERROR_INVALID_VALUE: block of {block[0]} threads")
        if shared_mem > self.max_dynamic_shared_size_bytes:
            raise RuntimeError(f"{self.name}: CUDA_ERROR_INVALID_VALUE: {shared_mem} bytes of dynamic shared "
                               f"memory, the kernel's max_dynamic_shared_size_bytes is "
                               f"{self.max_dynamic_shared_size_bytes}")
        assert len(args) == len(self.parameters), f"{self.name}: {len(args)} arguments for {self.parameters}"
        assert self.threaded or shared_mem == 0, \
            f"{self.name}: dynamic shared memory in a kernel that never synchronises"
        grid_size = grid[0]
        if enable_cooperative_groups:
            capacity = self.device.occupancy(block[0], shared_mem) * self.device.multiprocessors
            if grid_size > capacity:  # what CuPy 14.2's Function.__call__ does for a 1-D grid
                warnings.warn(f"The grid size will be reduced from {grid_size} to {capacity}, as the specified "
                              f"grid size exceeds the limit.")
                grid_size = capacity
        converted = []
        for arg, (type_name, name) in zip(args, self.parameters):
            _, dtype, is_pointer = _PARAMETER_TYPES[type_name]
            if is_pointer:
                refuse_host_arrays(f"{self.name}({name})", (arg,))
                assert isinstance(arg, EmulatedArray) and arg.dtype == dtype and arg.flags.c_contiguous, \
                    f"{self.name}({name}): needs a contiguous {np.dtype(dtype)} device array"
                converted.append(arg.ctypes.data)
            else:
                assert type(arg) is dtype, f"{self.name}({name}): needs {dtype.__name__}, got {type(arg).__name__}"
                converted.append(arg.item())
        self.launches.append((grid_size, block[0], shared_mem, enable_cooperative_groups))
        if self.threaded:
            self.function(grid_size, block[0], shared_mem, *converted)
        else:
            self.function(grid_size, block[0], *converted)


class _EmulatedKernel:
    """cupy.RawKernel as RawModule.get_function gives it: `kernel` is the Function it launches with."""

    def __init__(self, function, enable_cooperative_groups):
        self.kernel, self.enable_cooperative_groups = function, enable_cooperative_groups

    @property
    def max_threads_per_block(self):
        return self.kernel.device.max_threads_per_block

    num_regs = REGISTERS_PER_THREAD

    @property
    def max_dynamic_shared_size_bytes(self):
        return self.kernel.max_dynamic_shared_size_bytes

    @max_dynamic_shared_size_bytes.setter
    def max_dynamic_shared_size_bytes(self, n_bytes):
        if n_bytes > self.kernel.device.shared_per_block_optin:
            raise RuntimeError(f"{self.kernel.name}: CUDA_ERROR_INVALID_VALUE: {n_bytes} bytes of shared memory")
        self.kernel.max_dynamic_shared_size_bytes = n_bytes

    def __call__(self, grid, block, args, **kwargs):
        # CuPy's RawKernel.__call__ passes its module's flag on by keyword: giving it again is a TypeError
        self.kernel(grid, block, args, enable_cooperative_groups=self.enable_cooperative_groups, **kwargs)


class _EmulatedRawModule:
    def __init__(self, device, functions_by_ptr, contract_fma, code, options=(), enable_cooperative_groups=False):
        self.device, self.functions_by_ptr = device, functions_by_ptr
        self.enable_cooperative_groups = enable_cooperative_groups
        self.threaded = "__syncthreads" in code
        code = _DYNAMIC_SHARED.sub(r"\1* \2 = reinterpret_cast<\1*>(emu_block_shared);", code)
        # GCC forms FMAs only from -O2 on; without -ffast-math neither level changes any other rounding
        flags = ["-O2", "-mfma", "-ffp-contract=fast"] if contract_fma else ["-O1", "-ffp-contract=off"]
        key = hashlib.sha256((" ".join(flags) + code).encode()).hexdigest()
        self.signatures = {name: _parameters(params) for name, params in _KERNEL_SIGNATURE.findall(code)}
        if key not in _BUILT_LIBRARIES:
            build_dir = tempfile.mkdtemp(prefix="emulated_cuda_")
            source = _PRELUDE + code + "".join(_launchers(n, p) for n, p in self.signatures.items())
            library_path = os.path.join(build_dir, f"{key[:16]}.so")
            built = subprocess.run(["g++", "-std=c++20", *flags, "-pthread", "-shared", "-fPIC", "-x", "c++",
                                    "-", "-o", library_path], input=source, text=True, capture_output=True)
            if built.returncode != 0:
                raise RuntimeError(f"g++ could not build the emulated kernels:\n{built.stderr}")
            _BUILT_LIBRARIES[key] = ctypes.CDLL(library_path)
            shutil.rmtree(build_dir)   # the loaded library stays mapped
        self.library = _BUILT_LIBRARIES[key]
        self.functions = {}

    def get_function(self, name):
        if name not in self.functions:
            self.functions[name] = _EmulatedFunction(self.library, name, self.signatures[name], self.threaded,
                                                     self.device)
            self.functions_by_ptr[self.functions[name].ptr] = self.functions[name]
        return _EmulatedKernel(self.functions[name], self.enable_cooperative_groups)


def _on_device(result):
    """NumPy results as emulated device arrays."""
    if type(result) is np.ndarray:
        return result.view(EmulatedArray)
    if isinstance(result, tuple):
        return tuple(_on_device(r) for r in result)
    return result


# CuPy functions that take host data (everything else raises TypeError for a NumPy array)
_TAKES_HOST_ARRAYS = {"array", "asarray", "asanyarray", "asnumpy"}


class _EmulatedModule(types.ModuleType):
    """Anything the module does not define is NumPy's, with array results on the "device": array code
    written for CuPy (online/) runs on it as it would on CuPy, its kernels emulated."""

    def __getattr__(self, name):
        attribute = getattr(np, name)
        if isinstance(attribute, type) or not callable(attribute):
            return attribute  # dtypes, constants

        def device_function(*args, **kwargs):
            if name not in _TAKES_HOST_ARRAYS:
                refuse_host_arrays(f"cupy.{name}", args + tuple(kwargs.values()))
            return _on_device(attribute(*args, **kwargs))
        return device_function


def emulated_cupy(device=SMALL_DEVICE, contract_fma=False):
    """The stand-in module for `device` (a DeviceModel): arrays, RawModule, the runtime and driver calls
    the kernel modules make, and NumPy's functions for array code. Its kernels round every operation
    (g++ -ffp-contract=off), or with contract_fma fuse multiply-adds as NVRTC does (-mfma
    -ffp-contract=fast: an x86-64 CPU with FMA)."""
    module = _EmulatedModule("cupy")
    module.__version__ = "14.2.0"
    module.ndarray = EmulatedArray
    module.asarray = lambda a, dtype=None: np.array(a, dtype=dtype).view(EmulatedArray)  # a copy, as CuPy's

    def ascontiguousarray(a, dtype=None):
        if not isinstance(a, EmulatedArray):  # CuPy's is a Cython function typed for its ndarray
            raise TypeError(f"Argument 'a' has incorrect type (expected cupy._core.core._ndarray_base, "
                            f"got {type(a).__name__})")
        return np.ascontiguousarray(a, dtype=dtype).view(EmulatedArray)
    module.ascontiguousarray = ascontiguousarray
    functions = weakref.WeakValueDictionary()   # Function.ptr -> Function, for the driver's occupancy call
    module.RawModule = lambda code, options=(), enable_cooperative_groups=False: _EmulatedRawModule(
        device, functions, contract_fma, code, options, enable_cooperative_groups)
    pool = types.SimpleNamespace(limit=None, total_bytes=lambda: 0)
    pool.set_limit = lambda size: setattr(pool, "limit", size)
    module.get_default_memory_pool = lambda: pool
    module.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(
            getDeviceCount=lambda: 1, memGetInfo=lambda: (8 * 2**30, 80 * 2**30),
            getDeviceProperties=lambda device_id: {"name": device.name.encode(),
                                                   "multiProcessorCount": device.multiprocessors}),
        driver=types.SimpleNamespace(
            occupancyMaxActiveBlocksPerMultiprocessor=lambda ptr, block, shared: functions[ptr].device.occupancy(
                block, shared)),
        Device=lambda device_id=0: types.SimpleNamespace(id=device_id, synchronize=lambda: None))
    return module
