"""The CuPy paths against the NumPy references, every device output poisoned with NaN first.

Each test runs twice:
- `cuda`: real CuPy on a GPU (skipped where backend.gpu_available() is False);
- `emulated`: a stand-in `cupy` module whose RawModule compiles the same .cu source as C++ with g++ and
  runs each launch's grid of threads one after another on the CPU, checking that every argument has
  the exact type the kernel signature asks for. The kernels use no shared memory or synchronisation,
  so this serial run has their semantics; it tests kernel indexing and the Python launch glue on a
  machine without a GPU. It cannot stand in for the `cuda` run (NVRTC, real memory, device maths).
"""
import ctypes
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

import numpy as np
import pytest

from cuda_kernels import backend, bones, inverted_order, joint_mask, launch, mpjpe, online_first_step
from pose_formats.normalization import MaxMin
from test_kernels_online_first_step import EPS1, LR, first_step_inputs

# Around the block size (256) and not multiples of it; 4099 frames x 48 entries spans many blocks.
FRAME_COUNTS = (1, 5, 8, 25, 257, 4099)

# ---- the emulated device -------------------------------------------------------------------------

_PRELUDE = r"""
#include <cmath>
struct emu_dim3 { unsigned int x, y, z; };
static emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
"""
_KERNEL_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
# kernel parameter type -> (ctypes type, NumPy dtype an array or scalar argument must have, is pointer)
_PARAMETER_TYPES = {
    "const float*": (ctypes.c_void_p, np.float32, True),
    "float*": (ctypes.c_void_p, np.float32, True),
    "const int*": (ctypes.c_void_p, np.int32, True),
    "int*": (ctypes.c_void_p, np.int32, True),
    "int": (ctypes.c_int, np.int32, False),
    "long long": (ctypes.c_longlong, np.int64, False),
    "unsigned int": (ctypes.c_uint, np.uint32, False),
    "float": (ctypes.c_float, np.float32, False),
    "const double*": (ctypes.c_void_p, np.float64, True),
    "double*": (ctypes.c_void_p, np.float64, True),
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


def _serial_launcher(name, parameters):
    """C++ that runs kernel `name` for every (block, thread) of a 1-D launch, one after another."""
    declared = ", ".join(f"{t} {n}" for t, n in parameters)
    passed = ", ".join(n for _, n in parameters)
    return f"""
extern "C" void emu_launch_{name}(unsigned int emu_grid, unsigned int emu_block, {declared}) {{
    gridDim = {{emu_grid, 1, 1}};
    blockDim = {{emu_block, 1, 1}};
    for (unsigned int emu_b = 0; emu_b < emu_grid; ++emu_b)
        for (unsigned int emu_t = 0; emu_t < emu_block; ++emu_t) {{
            blockIdx = {{emu_b, 0, 0}};
            threadIdx = {{emu_t, 0, 0}};
            {name}({passed});
        }}
}}
"""


class _EmulatedArray(np.ndarray):
    """A host array that the kernel modules take for a CuPy array."""

    def get(self):
        return np.array(self)


_EmulatedArray.__module__ = "cupy"


class _EmulatedKernel:
    def __init__(self, library, name, parameters):
        self.name, self.parameters = name, parameters
        self.function = getattr(library, f"emu_launch_{name}")
        self.function.argtypes = [ctypes.c_uint, ctypes.c_uint] + [_PARAMETER_TYPES[t][0] for t, _ in parameters]

    def __call__(self, grid, block, args):
        assert len(grid) == 1 and len(block) == 1 and grid[0] >= 1 and 1 <= block[0] <= 1024, (grid, block)
        assert len(args) == len(self.parameters), f"{self.name}: {len(args)} arguments for {self.parameters}"
        converted = []
        for arg, (type_name, name) in zip(args, self.parameters):
            _, dtype, is_pointer = _PARAMETER_TYPES[type_name]
            if is_pointer:
                assert isinstance(arg, _EmulatedArray) and arg.dtype == dtype and arg.flags.c_contiguous, \
                    f"{self.name}({name}): needs a contiguous {np.dtype(dtype)} device array"
                converted.append(arg.ctypes.data)
            else:
                assert type(arg) is dtype, f"{self.name}({name}): needs {dtype.__name__}, got {type(arg).__name__}"
                converted.append(arg.item())
        self.function(grid[0], block[0], *converted)


class _EmulatedRawModule:
    def __init__(self, code, options=()):
        key = hashlib.sha256(code.encode()).hexdigest()
        self.signatures = {name: _parameters(params) for name, params in _KERNEL_SIGNATURE.findall(code)}
        if key not in _BUILT_LIBRARIES:
            build_dir = tempfile.mkdtemp(prefix="emulated_cuda_")
            source = _PRELUDE + code + "".join(_serial_launcher(n, p) for n, p in self.signatures.items())
            library_path = os.path.join(build_dir, f"{key[:16]}.so")
            built = subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-x", "c++", "-", "-o",
                                    library_path], input=source, text=True, capture_output=True)
            if built.returncode != 0:
                raise RuntimeError(f"g++ could not build the emulated kernels:\n{built.stderr}")
            _BUILT_LIBRARIES[key] = ctypes.CDLL(library_path)
            shutil.rmtree(build_dir)   # the loaded library stays mapped
        self.library = _BUILT_LIBRARIES[key]

    def get_function(self, name):
        return _EmulatedKernel(self.library, name, self.signatures[name])


def _emulated_cupy():
    module = types.ModuleType("cupy")
    module.ndarray = _EmulatedArray
    module.asarray = lambda a, dtype=None: np.array(a, dtype=dtype).view(_EmulatedArray)
    module.ascontiguousarray = lambda a, dtype=None: np.ascontiguousarray(a, dtype=dtype).view(_EmulatedArray)
    module.empty = lambda shape, dtype=np.float32: np.empty(shape, dtype=dtype).view(_EmulatedArray)
    module.full = lambda shape, value, dtype=np.float32: np.full(shape, value, dtype=dtype).view(_EmulatedArray)
    module.RawModule = _EmulatedRawModule
    module.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1,
                                      getDeviceProperties=lambda device_id: {"name": b"emulated on the CPU"}),
        Device=lambda device_id=0: types.SimpleNamespace(id=device_id, synchronize=lambda: None))
    return module


def _clear_device_caches():
    for cache in (backend._cupy_or_reason, backend.raw_module, launch.device_int32,
                  launch.device_float32_constant):
        cache.cache_clear()


@pytest.fixture(params=("cuda", "emulated"))
def cp(request, monkeypatch):
    """The CuPy module to test with, real or emulated, with every device output poisoned with NaN."""
    if request.param == "cuda":
        if not backend.gpu_available():
            pytest.skip("no CuPy with a CUDA device here")
        import cupy as module
    else:
        if shutil.which("g++") is None:
            pytest.skip("g++ is not installed")
        module = _emulated_cupy()
        monkeypatch.setitem(sys.modules, "cupy", module)
    _clear_device_caches()
    monkeypatch.setattr(launch, "device_empty", lambda shape, dtype=np.float32: module.full(shape, np.nan, dtype))
    yield module
    _clear_device_caches()


def device_result(result):
    """Host copy of a device result (an array or a tuple of arrays), checking it is on the device."""
    if isinstance(result, tuple):
        return tuple(device_result(r) for r in result)
    assert launch.is_device_array(result)
    return backend.to_host(result)


def random_array(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- the kernels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("n", FRAME_COUNTS)
def test_bones(cp, n, dim):
    poses, other = random_array((n, 16 * dim), n), random_array((n, 16 * dim), n + 1)

    np.testing.assert_allclose(device_result(bones.bone_vectors(cp.asarray(poses), dim)),
                               bones.bone_vectors_reference(poses, dim), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(device_result(bones.bone_vectors_backward(cp.asarray(poses), dim)),
                               bones.bone_vectors_backward_reference(poses, dim), rtol=1e-6, atol=1e-5)
    loss, grad_a = bones.skel_vector_loss(cp.asarray(poses), cp.asarray(other), dim)
    expected_loss, expected_grad_a = bones.skel_vector_loss_reference(poses, other, dim)
    assert isinstance(loss, float) and loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(device_result(grad_a), expected_grad_a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("n", FRAME_COUNTS)
def test_mpjpe(cp, n, dim):
    pred, target = random_array((n, 16 * dim), n), random_array((n, 16 * dim), n + 1)
    scale = MaxMin().range[: 16 * dim]
    for s in (None, scale):
        np.testing.assert_allclose(device_result(mpjpe.joint_errors(cp.asarray(pred), cp.asarray(target), dim, s)),
                                   mpjpe.joint_errors_reference(pred, target, dim, s), rtol=1e-5)
        np.testing.assert_allclose(device_result(mpjpe.mpjpe(cp.asarray(pred), cp.asarray(target), dim, s)),
                                   mpjpe.mpjpe_reference(pred, target, dim, s), rtol=1e-5)


@pytest.mark.parametrize("shape", ((1, 48), (5, 1, 1024), (8, 32), (257, 3, 5), (4099, 48)))
def test_inverted_order(cp, shape):
    a = random_array(shape, len(shape))
    np.testing.assert_array_equal(device_result(inverted_order.inverted_order(cp.asarray(a))),
                                  inverted_order.inverted_order_reference(a))


@pytest.mark.parametrize("n", FRAME_COUNTS)
def test_joint_masks_are_the_same_bits_as_the_reference(cp, n):
    keep_prob = np.linspace(0.05, 0.95, 16)
    for dim in (1, 2, 3):
        np.testing.assert_array_equal(
            device_result(joint_mask.joint_mask((n, 16 * dim), dim, keep_prob, 1234, n, xp=cp)),
            joint_mask.joint_mask_reference((n, 16 * dim), dim, keep_prob, 1234, n))
    for got, expected in zip(
            device_result(joint_mask.mask_2d_3d(n, joint_mask.RELEASED_MASK_2D3D_KEEP_PROB, 2 ** 32 - 1, 7, xp=cp)),
            joint_mask.mask_2d_3d_reference(n, joint_mask.RELEASED_MASK_2D3D_KEEP_PROB, 2 ** 32 - 1, 7)):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype, rtol", ((np.float32, 1e-5), (np.float64, 1e-12)))
@pytest.mark.parametrize("n, n_units", ((1, 7), (5, 1024), (8, 257), (257, 300), (700, 1024)))
def test_online_first_step(cp, n, n_units, dtype, rtol):
    inputs = first_step_inputs(n, n_units, seed=n, dtype=dtype)
    h1, k00 = device_result(online_first_step.first_step(*(cp.asarray(a) for a in inputs), LR, EPS1))
    expected_h1, expected_k00 = online_first_step.first_step_reference(*inputs, LR, EPS1)
    assert h1.dtype == k00.dtype == dtype
    # h1 = relu(z0 − step): its rounding is relative to z0, not to the (possibly cancelled) result
    np.testing.assert_allclose(h1, expected_h1, rtol=0, atol=rtol * np.abs(inputs[1]).max())
    np.testing.assert_allclose(k00, expected_k00, rtol=rtol)


def test_grid_stride_loops_cover_more_elements_than_threads(cp, monkeypatch):
    monkeypatch.setattr(launch, "MAX_BLOCKS", 1)
    poses = random_array((300, 48), 0)
    np.testing.assert_allclose(device_result(bones.bone_vectors(cp.asarray(poses), 3)),
                               bones.bone_vectors_reference(poses, 3), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(device_result(joint_mask.joint_mask((300, 48), 3, 0.5, 1, 2, xp=cp)),
                                  joint_mask.joint_mask_reference((300, 48), 3, 0.5, 1, 2))


def test_empty_batches(cp):
    empty = cp.asarray(np.zeros((0, 48), np.float32))
    assert device_result(bones.bone_vectors(empty, 3)).shape == (0, 48)
    assert device_result(mpjpe.mpjpe(empty, empty)).shape == (0,)
    assert device_result(inverted_order.inverted_order(empty)).shape == (0, 48)


def test_mixed_host_and_device_arrays_are_refused(cp):
    with pytest.raises(TypeError):
        mpjpe.mpjpe(cp.asarray(np.zeros((2, 48), np.float32)), np.zeros((2, 48), np.float32))


def load_bench_tool():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "bench_kernels.py")
    spec = importlib.util.spec_from_file_location("bench_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_fills_the_cupy_columns(cp, capsys, monkeypatch):
    bench_kernels = load_bench_tool()
    monkeypatch.setenv("HPM_BACKEND", "cupy")
    bench_kernels.main(["--batch", "3", "--batch", "300", "--min-time", "0.001"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if "frames" in line]
    assert len(rows) == 2 * 8
    assert all(float(value) > 0 for row in rows for value in row[-5:])


def test_bench_runs_on_numpy_alone(capsys, monkeypatch):
    monkeypatch.setenv("HPM_BACKEND", "numpy")
    load_bench_tool().main(["--batch", "5", "--min-time", "0.001"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if "frames" in line]
    assert len(rows) == 8 and all(row[-4:] == ["-"] * 4 and float(row[-5]) > 0 for row in rows)
