"""The CUDA build of Caffe (`make caffe-gpu`, issue 14): it links against cudart, cuBLAS and cuRAND
from the pinned wheels, runs in CPU mode without a device, and says "no CUDA device" in one line
instead of aborting. Skipped where the venv has no GPU build."""
import os
import subprocess
import sys

import pytest

from conftest import REPO, VENV

GPU_RECORD = os.path.join(VENV, "caffe-build-gpu")
pytestmark = pytest.mark.skipif(not os.path.exists(GPU_RECORD), reason="no GPU build: run 'make caffe-gpu'")

CUDA_LIBRARIES = ("libcudart.so.13", "libcublas.so.13", "libcurand.so.10")


def gpu_build():
    with open(GPU_RECORD) as f:
        return f.read().strip()


def with_gpu_build(**extra):
    return {**os.environ, "HPM_CAFFE": "gpu", "GLOG_minloglevel": "1", **extra}


def device_present():
    from cuda_kernels import backend
    return backend.gpu_available()


@pytest.mark.parametrize("product", ["lib/libcaffe.so", "python/caffe/_caffe.so", "bin/caffe.bin"])
def test_products_link_the_cuda_libraries_from_the_wheels(product):
    ldd = subprocess.run(["ldd", os.path.join(gpu_build(), product)], capture_output=True, text=True, check=True)
    assert "not found" not in ldd.stdout, ldd.stdout
    libcaffe = subprocess.run(["ldd", os.path.join(gpu_build(), "lib/libcaffe.so")], capture_output=True,
                              text=True, check=True).stdout
    for library in CUDA_LIBRARIES:
        line = next(l for l in libcaffe.splitlines() if library in l)
        assert "/nvidia/cu13/lib/" in line, line      # the pinned wheels', not a system copy


def test_build_info_names_the_cuda_toolchain_and_wheels():
    with open(os.path.join(gpu_build(), "BUILD_INFO")) as f:
        info = f.read()
    assert "release 13.0" in info and "nvidia-cublas==" in info and "nvidia-curand==" in info


@pytest.mark.skipif(device_present(), reason="a CUDA device is present")
def test_device_query_without_a_device_fails_in_one_line():
    done = subprocess.run([os.path.join(VENV, "bin", "caffe"), "device_query"], capture_output=True, text=True,
                          env=with_gpu_build(), timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("caffe: no CUDA device (") and done.stderr.count("\n") == 1, done.stderr
    done = subprocess.run([os.path.join(VENV, "bin", "caffe"), "train", "-solver", "x.prototxt", "-gpu", "0"],
                          capture_output=True, text=True, env=with_gpu_build(), timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("caffe: no CUDA device ("), done.stderr


@pytest.mark.skipif(device_present(), reason="a CUDA device is present")
def test_pycaffe_gpu_mode_without_a_device_raises():
    code = ("import caffe\n"
            "try:\n    caffe.set_mode_gpu()\nexcept RuntimeError as e:\n    print('raised', e)\n"
            "print('gpu mode', caffe._caffe.mode_is_gpu())\nprint('from', caffe.__file__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=with_gpu_build(),
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "raised no CUDA device" in done.stdout and "gpu mode False" in done.stdout
    assert f"from {gpu_build()}/python/caffe/" in done.stdout


def test_gpu_build_runs_the_layer_tests_in_cpu_mode():
    """pycaffe of the CUDA build, CPU mode: the Python layers' value and gradient tests pass."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_layers_order_and_loss.py", "-k", "cpu"],
                          capture_output=True, text=True, env=with_gpu_build(), cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
