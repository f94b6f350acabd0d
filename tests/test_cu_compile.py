"""Every cuda_kernels/*.cu compiles with nvcc for sm_90 (no GPU needed), and every kernel a Python
module declares (launch.KernelFile) is an entry point of its compiled file. Skips only without nvcc."""
import glob
import importlib
import os
import pkgutil
import shutil
import subprocess

import pytest

import cuda_kernels
from cuda_kernels import launch
from cuda_kernels.backend import KERNEL_DIR

CU_FILES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(KERNEL_DIR, "*.cu")))


def find_nvcc():
    for candidate in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def compile_cubin(cu_file, out_dir):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    cubin = os.path.join(out_dir, cu_file + ".cubin")
    # -std=c++17 as backend.raw_module passes to NVRTC; warnings are errors so CI sees them.
    result = subprocess.run([nvcc, "-arch=sm_90", "--cubin", "-std=c++17", "-Werror", "all-warnings",
                             "-o", cubin, os.path.join(KERNEL_DIR, cu_file)],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"nvcc failed on {cu_file} (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    with open(cubin, "rb") as f:
        return f.read()


def declared_kernel_files():
    for module in pkgutil.iter_modules(cuda_kernels.__path__):
        importlib.import_module(f"cuda_kernels.{module.name}")
    return {kernel_file.cu_file: kernel_file.kernel_names for kernel_file in launch.KERNEL_FILES}


def test_there_are_kernels():
    assert {"bones.cu", "mpjpe.cu", "inverted_order.cu", "joint_mask.cu"} <= set(CU_FILES)


@pytest.mark.parametrize("cu_file", CU_FILES)
def test_compiles_for_sm_90_with_the_declared_kernels(cu_file, tmp_path):
    cubin = compile_cubin(cu_file, str(tmp_path))
    for name in declared_kernel_files().get(cu_file, ()):
        # extern "C" names are unmangled, NUL-terminated strings of the cubin's symbol table.
        assert b"\0" + name.encode() + b"\0" in cubin, f"{cu_file} has no kernel {name!r}"


def test_every_declared_kernel_file_exists():
    assert set(declared_kernel_files()) <= set(CU_FILES)
