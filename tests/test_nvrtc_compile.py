"""Every cuda_kernels/*.cu compiles with NVRTC as CuPy compiles it, with no GPU: NVRTC is not nvcc.

backend.raw_module hands CuPy the source with its local headers pasted in and `-std=c++17`; CuPy
14.2 (cupy/cuda/compiler.py: _compile_with_cache_cuda, _compile_using_nvrtc_no_warning) adds
`-ftz=true`, `-arch=sm_XX` for a device NVRTC knows (it then loads the CUBIN) and
`--device-as-default-execution-space`; with CUPY_COMPILE_WITH_PTX or a device newer than NVRTC it
asks for `-arch=compute_XX` and loads the PTX. Both are compiled here for sm_90 (H100/H200) through
the libnvrtc of the nvidia-cuda-nvrtc wheel (requirements.txt), loaded with ctypes.

What the device does that the emulator (g++, no contraction, IEEE subnormals) does not, read off the
PTX below: float32 arithmetic is flush-to-zero (`.ftz`: values under 1.2e-38 become 0) and products
feeding sums are fused (`fma.rn`: one rounding instead of two). Float32 tolerances against the
float64 definition that allow for both (tests/test_kernels_device.py, tests/test_online_device.py):
- FTZ: every quantity the kernels flush is below 1.2e-38 in absolute value, and each enters a sum
  with terms of order 1e-8 or more (Adam's ε = 1e-8 under √v; weights and poses far larger), so it
  moves a result by under 1e-30 relative: nothing at a tolerance of 1e-5.
- FMA: each fused step rounds once (error ≤ u·|a·b + c|, u = 2^-24 ≈ 6e-8) where the emulator rounds
  twice (≤ u·|a·b| + u·|a·b + c|), so over a dot product of K terms the two differ by at most
  2·K·u·Σ|a_k·b_k|, and typically (rounding errors of random sign) by √K·u·Σ|a_k·b_k| ≈ 2e-6 of the
  row sum at K = 1024. The released scan's float32 tolerance, 1e-5 of the largest entry against the
  float64 definition, holds on either rounding; tests/test_kernels_device.py measures the emulator
  built with FMA contraction (g++ -mfma -ffp-contract=fast) against the plain build to bound it.
"""
import ctypes
import glob
import os
import re

import pytest

import nvidia
from cuda_kernels import backend
from test_cu_compile import CU_FILES, declared_kernel_files

NVRTC_SUCCESS = 0
# backend.raw_module's options, then what CuPy 14.2 appends for an sm_90 device
CUPY_OPTIONS = ("-std=c++17", "-ftz=true")
CUPY_TRAILING_OPTIONS = ("--device-as-default-execution-space",)


def _nvrtc():
    found = sorted(path for root in nvidia.__path__ for path in glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so.*"))
                   if re.search(r"libnvrtc\.so\.\d+$", path))
    assert found, "no libnvrtc.so in the nvidia-cuda-nvrtc wheel (pip install -r requirements.txt)"
    library = ctypes.CDLL(found[-1])
    library.nvrtcGetErrorString.restype = ctypes.c_char_p
    return library


NVRTC = _nvrtc()


def _checked(status, what):
    assert status == NVRTC_SUCCESS, f"{what}: {NVRTC.nvrtcGetErrorString(status).decode()}"


def nvrtc_compile(cu_file, arch_option, output):
    """(compiled bytes, compile log) of cuda_kernels/<cu_file> as CuPy compiles it; output "PTX" or
    "CUBIN". Fails the test with NVRTC's log when the source does not compile."""
    program = ctypes.c_void_p()
    source = backend.kernel_source(cu_file).encode()
    _checked(NVRTC.nvrtcCreateProgram(ctypes.byref(program), source, cu_file.encode(), 0, None, None), "create")
    try:
        options = [o.encode() for o in CUPY_OPTIONS + (arch_option,) + CUPY_TRAILING_OPTIONS]
        status = NVRTC.nvrtcCompileProgram(program, len(options), (ctypes.c_char_p * len(options))(*options))
        log_size = ctypes.c_size_t()
        _checked(NVRTC.nvrtcGetProgramLogSize(program, ctypes.byref(log_size)), "log size")
        log = ctypes.create_string_buffer(log_size.value)
        _checked(NVRTC.nvrtcGetProgramLog(program, log), "log")
        if status != NVRTC_SUCCESS:
            pytest.fail(f"NVRTC failed on {cu_file} ({NVRTC.nvrtcGetErrorString(status).decode()}):\n"
                        f"{log.value.decode()}")
        size = ctypes.c_size_t()
        _checked(getattr(NVRTC, f"nvrtcGet{output}Size")(program, ctypes.byref(size)), f"{output} size")
        compiled = ctypes.create_string_buffer(size.value)
        _checked(getattr(NVRTC, f"nvrtcGet{output}")(program, compiled), output)
        return compiled.raw, log.value.decode()
    finally:
        NVRTC.nvrtcDestroyProgram(ctypes.byref(program))


def test_nvrtc_is_the_pinned_wheels():
    major, minor = ctypes.c_int(), ctypes.c_int()
    _checked(NVRTC.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "version")
    assert major.value == 13, (major.value, minor.value)


@pytest.mark.parametrize("cu_file", CU_FILES)
def test_compiles_with_nvrtc_and_cupys_options_for_sm_90(cu_file):
    """The CUBIN CuPy loads, and the PTX it loads where it falls back to PTX: no warning, every
    declared kernel an entry point, float32 arithmetic flush-to-zero."""
    declared = declared_kernel_files().get(cu_file, ())
    cubin, log = nvrtc_compile(cu_file, "-arch=sm_90", "CUBIN")
    assert "warning" not in log.lower(), log
    for name in declared:
        assert b"\0" + name.encode() + b"\0" in cubin, f"{cu_file}: no kernel {name!r} in the CUBIN"
    ptx, log = nvrtc_compile(cu_file, "-arch=compute_90", "PTX")
    ptx = ptx.rstrip(b"\0").decode()
    assert "warning" not in log.lower(), log
    assert ".target sm_90" in ptx
    for name in declared:
        assert re.search(rf"\.entry {name}\(", ptx), f"{cu_file}: no entry {name!r} in the PTX"
    # -ftz=true: no float32 add/mul/fma/div/sqrt without .ftz
    float32_ops = re.findall(r"^\s*(?:add|sub|mul|fma|div|sqrt)\.[\w.]*f32\b", ptx, re.MULTILINE)
    assert all(".ftz" in op for op in float32_ops), [op for op in float32_ops if ".ftz" not in op][:5]


def test_the_released_kernel_fuses_multiply_adds():
    """NVRTC contracts a·b + c into one fma by default (--fmad=true, which CuPy leaves on): the device
    rounds the layers' dot products once per term where the emulator rounds twice."""
    ptx = nvrtc_compile("online_released.cu", "-arch=compute_90", "PTX")[0].decode(errors="replace")
    assert re.search(r"fma\.rn\.ftz\.f32", ptx) and re.search(r"fma\.rn\.f64", ptx)
