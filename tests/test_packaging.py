"""A non-editable install of the package (setup.py, into a temporary venv, offline) holds every file its
code reads: each kernel source compiles from the installed tree (with the CPU emulator of
tests/emulated_cuda.py) with its local headers pasted in, and the data tables load."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("setup.py", "caffe_layers", "cuda_kernels", "pose_formats", "online", "evaluation")

# Run by the venv's interpreter, outside the checkout: NumPy and the other dependencies come from this
# venv's site-packages (PYTHONPATH, where .pth files, the editable install's included, are not read).
CHECK = r"""
import glob, importlib, json, os, pkgutil, re, sys
import emulated_cuda
sys.modules["cupy"] = emulated_cuda.emulated_cupy()
import cuda_kernels
from cuda_kernels import backend, launch
for module in pkgutil.iter_modules(cuda_kernels.__path__):
    importlib.import_module(f"cuda_kernels.{module.name}")
import evaluation.cli, online.predict, pose_formats.normalization, pose_formats.synthetic
pose_formats.normalization.MaxMin()
compiled = {}
for kernel_file in launch.KERNEL_FILES:
    for name in kernel_file.kernel_names:
        kernel_file.function(name)
    compiled[kernel_file.cu_file] = list(kernel_file.kernel_names)
installed = sorted(os.path.basename(p) for p in glob.glob(os.path.join(backend.KERNEL_DIR, "*.cu")))
includes = {f: re.findall(r'#include "([^"]+)"', open(os.path.join(backend.KERNEL_DIR, f)).read())
            for f in installed}
unpasted = [f for f in installed if '#include "' in backend.kernel_source(f)]
print(json.dumps({"package": cuda_kernels.__file__, "kernel_dir": backend.KERNEL_DIR, "installed": installed,
                  "compiled": compiled, "includes": includes, "unpasted": unpasted}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        path = os.path.join(REPO, name)
        if os.path.isdir(path):
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(path, source / name)
    venv = root / "venv"
    # the system interpreter's setuptools builds the package (no network, no build isolation)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--disable-pip-version-check", str(source)],
                   check=True, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([sysconfig.get_paths()["purelib"], TESTS]),
           "HPM_BACKEND": "auto"}
    result = subprocess.run([python, "-c", CHECK], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return str(venv), json.loads(result.stdout.splitlines()[-1])


def test_the_installed_package_is_the_one_checked(installed):
    venv, report = installed
    assert report["package"].startswith(venv) and report["kernel_dir"].startswith(venv)


def test_every_installed_kernel_source_compiles_with_its_headers(installed):
    _, report = installed
    assert set(report["compiled"]) == set(report["installed"])
    assert {"bones.cu", "online_released.cu", "online_adam.cu", "online_first_step.cu"} <= set(report["installed"])
    headers = {header for names in report["includes"].values() for header in names}
    assert "online_common.cuh" in headers
    assert report["unpasted"] == []
