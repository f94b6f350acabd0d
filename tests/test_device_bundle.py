"""The device bundle (`make device-bundle`, tools/make_device_bundle.sh): the GPU build of Caffe packed
with its libraries for another machine's Python, unpacked and run through tools/caffe_bundle_env.sh,
in CPU mode here. Three bundles, each checked where it exists:
- `twin`: the venv's GPU build (Python 3.11) packed by the same code into a temporary file, so CI, which
  builds no 3.12 bundle, checks the packing, the library paths and the environment script every run;
- `py312`: .device/caffe-gpu-py3.12.tar.xz, the one a lent device machine gets, under the Python 3.12
  venv it was built with (the device's python3 stands for it there);
- `active`: the bundle whose environment this pytest runs in (HPM_CAFFE_BUNDLE, as on the device)."""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, VENV

CUDA_LIBRARIES = re.compile(r"^(libcudart|libcublas|libcublasLt|libcurand)\.so")
# What the bundle leaves to the machine besides CUDA: glibc's libraries, the C++ runtime, libpython.
SYSTEM_LIBRARIES = re.compile(r"^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libutil|libresolv"
                              r"|libstdc\+\+|libgcc_s|libpython3\.\d+)\.so")
NET = """
name: "bundle_python_layer"
layer { name: "x" type: "DummyData" top: "x" top: "target"
  dummy_data_param { shape { dim: 4 dim: 2 dim: 3 } shape { dim: 4 dim: 2 dim: 3 }
    data_filler { type: "gaussian" std: 1 } data_filler { type: "gaussian" std: 1 } } }
layer { name: "fc" type: "InnerProduct" bottom: "x" top: "y_reversed"
  inner_product_param { num_output: 3 axis: 2 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "y" type: "Python" bottom: "y_reversed" top: "y"
  python_param { module: "caffe_layers.order" layer: "InvertedOrder" } }
layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "target" top: "loss" }
"""
SOLVER = 'net: "net.prototxt"\nbase_lr: 0.01\nlr_policy: "fixed"\nmax_iter: 2\ndisplay: 1\nsolver_mode: CPU\n'


def device_present():
    from cuda_kernels import backend
    return backend.gpu_available()


def cuda_wheels(build):
    """The CUDA wheels' folder a build links (its libcaffe.so's RUNPATH: <wheels>/nvidia/cu13/lib)."""
    dynamic = subprocess.run(["readelf", "-d", os.path.join(build, "lib", "libcaffe.so")], capture_output=True,
                             text=True, check=True).stdout
    lib = next(p for p in re.search(r"RUNPATH.*\[(.*)\]", dynamic).group(1).split(":") if "/nvidia/" in p)
    return lib.split("/nvidia/")[0]


def bundle_environment(bundle, python, extra_pythonpath=""):
    """The environment tools/caffe_bundle_env.sh makes for `python`, as a dict."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HPM_CAFFE_BUNDLE")}
    env.update(PYTHON=python, PYTHONPATH=extra_pythonpath, GLOG_minloglevel="1")
    done = subprocess.run(["bash", "-c", '. tools/caffe_bundle_env.sh "$0" && env -0', bundle], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.split("\0") if "=" in line)


def unpack(tarball, into):
    subprocess.run(["tar", "-xJf", str(tarball), "-C", str(into)], check=True)  # as tools/gpu_checks.sh does
    return os.path.join(into, "caffe")


@pytest.fixture(scope="module", params=["twin", "py312", "active"])
def bundle(request, tmp_path_factory):
    """(unpacked bundle folder, its python, its environment)."""
    if request.param == "active":
        if not os.environ.get("HPM_CAFFE_BUNDLE"):
            pytest.skip("not run inside a bundle's environment (tools/caffe_bundle_env.sh, as on the device)")
        return os.environ["HPM_CAFFE_BUNDLE"], sys.executable, dict(os.environ)
    if os.environ.get("HPM_CAFFE_BUNDLE"):
        pytest.skip("inside a bundle's environment only that bundle is checked")
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "twin":
        record = os.path.join(VENV, "caffe-build-gpu")
        if not os.path.exists(record):
            pytest.skip("no GPU build in the venv: run 'make caffe-gpu'")
        with open(record) as f:
            build = f.read().strip()
        python = os.path.join(VENV, "bin", "python")
        packed = subprocess.run([os.path.join(REPO, "tools", "make_device_bundle.sh"), "--pack", build, "--python",
                                 python, "--out", str(tmp / "twin.tar.xz")], capture_output=True, text=True,
                                env={**os.environ, "XZ_OPT": "-0"}, timeout=600)  # the packing, not xz, is tested
        assert packed.returncode == 0, packed.stderr
        folder = unpack(tmp / "twin.tar.xz", tmp)
    else:
        check = subprocess.run([os.path.join(REPO, "tools", "make_device_bundle.sh"), "--check"], capture_output=True,
                               text=True, timeout=300)
        if check.returncode != 0:
            pytest.skip(check.stderr.strip())
        tarball, python, build = check.stdout.split()
        assert os.path.getsize(tarball) < 32 * 2**20, "a run carries 64 MiB with the working tree"
        folder = unpack(tarball, tmp)
    with open(os.path.join(folder, "BUNDLE_INFO")) as f:
        cuda = re.search(r"^cuda (.*)$", f.read(), re.M).group(1).split()
    assert {"libcudart.so.13", "libcublas.so.13", "libcurand.so.10"} <= set(cuda), cuda
    # As on the device, CUDA's runtime comes from the Python's nvidia wheels: here the build's own.
    return folder, python, bundle_environment(folder, python, extra_pythonpath=cuda_wheels(build))


def elf_files(folder):
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            if not os.path.islink(path) and (name.endswith(".so") or ".so." in name or name == "caffe.bin"):
                yield path


def linked(path, env):
    ldd = subprocess.run(["ldd", path], capture_output=True, text=True, env=env, check=True).stdout
    return re.findall(r"^\s*(\S+) => (.*?) \(", ldd, re.M)


def test_bundle_holds_every_library_but_the_machines_own(bundle):
    folder, _, env = bundle
    # caffe.bin's libpython is the machine Python's own (lib/python links to it), with that Python's needs.
    python_dir = os.path.join(folder, "lib", "python")
    machine_python = {name for link in os.listdir(python_dir)
                      for name, _ in linked(os.path.realpath(os.path.join(python_dir, link)), env)}
    for path in elf_files(folder):
        for name, found in linked(path, env):
            assert found != "not found", f"{path}: {name} not found"
            if not found.startswith(folder + "/"):
                assert CUDA_LIBRARIES.match(name) or SYSTEM_LIBRARIES.match(name) or name in machine_python, \
                    f"{path}: {name} from {found}"
            if CUDA_LIBRARIES.match(name):
                assert "/nvidia/" in found, f"{path}: {name} from {found}, not the Python's CUDA wheels"
    # The interpreter that imports pycaffe provides libpython; only caffe.bin loads one itself.
    for product in ("lib/libcaffe.so", "python/caffe/_caffe.so"):
        dynamic = subprocess.run(["readelf", "-d", os.path.join(folder, product)], capture_output=True, text=True,
                                 check=True).stdout
        assert "libpython" not in dynamic, product


def test_pycaffe_comes_from_the_bundle_and_knows_the_device(bundle):
    folder, python, env = bundle
    code = ("import caffe\nprint('from', caffe.__file__)\nprint('python layers', 'Python' in caffe.layer_type_list())\n"
            "try:\n    caffe.set_mode_gpu()\n    print('gpu mode', caffe._caffe.mode_is_gpu())\n"
            "except RuntimeError as e:\n    print('raised', e)\n")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd="/", timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"from {folder}/python/caffe/" in done.stdout and "python layers True" in done.stdout
    assert ("gpu mode True" if device_present() else "raised no CUDA device") in done.stdout, done.stdout


def test_layers_forward_and_backward_in_cpu_mode(bundle):
    """The Python layers' value and finite-difference gradient tests through the bundle's pycaffe."""
    folder, python, env = bundle
    if os.environ.get("HPM_CAFFE_BUNDLE"):
        pytest.skip("tools/gpu_checks_caffe.sh runs the layer tests in this environment itself")
    done = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_layers_order_and_loss.py",
                           "-k", "cpu"], capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout


@pytest.mark.parametrize("libpython", ["the python's", "the bundle's fallback"])
def test_caffe_train_runs_a_python_layer(bundle, libpython, tmp_path):
    """caffe.bin's embedded interpreter finds the layers from any folder, with either libpython."""
    folder, _, env = bundle
    (link,) = [os.path.join(folder, "lib", "python", n) for n in os.listdir(os.path.join(folder, "lib", "python"))]
    target = os.readlink(link)
    if libpython != "the python's":  # as tools/caffe_bundle_env.sh links it for a Python without one
        (fallback,) = os.listdir(os.path.join(folder, "lib", "python-fallback"))
        os.remove(link)
        os.symlink(os.path.join(folder, "lib", "python-fallback", fallback), link)
    try:
        (tmp_path / "net.prototxt").write_text(NET)
        (tmp_path / "solver.prototxt").write_text(SOLVER)
        done = subprocess.run(["caffe", "train", "-solver", "solver.prototxt"], capture_output=True, text=True,
                              env={**env, "GLOG_minloglevel": "0"}, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Optimization Done." in done.stderr, done.stderr[-2000:]
        loaded = subprocess.run(["bash", "-c", "ldd $(command -v caffe.bin) | grep libpython"], capture_output=True,
                                text=True, env=env, check=True).stdout
        assert "caffe/bin/../lib/python/libpython" in loaded, loaded  # through its RUNPATH
        assert os.path.realpath(link).startswith(os.path.join(folder, "lib", "python-fallback")) == (
            libpython != "the python's")
    finally:
        os.remove(link)
        os.symlink(target, link)


@pytest.mark.skipif(device_present(), reason="a CUDA device is present")
def test_device_query_without_a_device_fails_in_one_line(bundle):
    _, _, env = bundle
    done = subprocess.run(["caffe", "device_query"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("caffe: no CUDA device (") and done.stderr.count("\n") == 1, done.stderr
