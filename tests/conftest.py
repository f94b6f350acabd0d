"""Shared test set-up: the repo root, the Caffe build in use, and its NumPy ABI check."""
import os

import numpy as np
import pytest

# Caffe's INFO log (every layer of every net a test builds) would bury pytest's failure reports.
os.environ.setdefault("GLOG_minloglevel", "1")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv")


def caffe_build_record():
    """The file naming the Caffe build that HPM_CAFFE (cpu, the default, or gpu) selects."""
    mode = os.environ.get("HPM_CAFFE", "cpu")
    return os.path.join(VENV, "caffe-build" if mode == "cpu" else f"caffe-build-{mode}")


def caffe_build_dir():
    """The Caffe build in use: an unpacked device bundle (HPM_CAFFE_BUNDLE, set by
    tools/caffe_bundle_env.sh), else the venv's (written by tools/build_caffe.sh)."""
    if os.environ.get("HPM_CAFFE_BUNDLE"):
        return os.environ["HPM_CAFFE_BUNDLE"]
    with open(caffe_build_record()) as f:
        return f.read().strip()


def built_numpy_version():
    with open(os.path.join(caffe_build_dir(), "BUILD_INFO")) as f:
        for line in f:
            if line.startswith("numpy "):
                return line.split()[1]
    raise RuntimeError("BUILD_INFO names no NumPy version")


def pytest_sessionstart(session):
    # _caffe.so is compiled against one NumPy; another one at run time fails in obscure ways. A device
    # bundle's NumPy 2 build runs on any NumPy from its BUNDLE_INFO's numpy-min, which
    # tools/caffe_bundle_env.sh has checked.
    if os.environ.get("HPM_CAFFE_BUNDLE") or not os.path.exists(caffe_build_record()):
        return
    built = built_numpy_version()
    if built != np.__version__:
        raise pytest.UsageError(
            f"Caffe in {caffe_build_dir()} was built against NumPy {built}, but NumPy {np.__version__} "
            "is installed: run 'make caffe' to rebuild it for this NumPy")


@pytest.fixture(params=["cpu", "gpu"])
def caffe_mode(request):
    """Runs a layer test in Caffe's CPU mode (NumPy references) and in GPU mode (CuPy kernels on the
    blobs' device memory); GPU mode is skipped without the GPU build, a device, or CuPy."""
    import caffe
    from cuda_kernels import backend
    if request.param == "gpu":
        try:
            caffe.set_mode_gpu()
        except RuntimeError as e:  # the CPU_ONLY build, or no device
            pytest.skip(f"Caffe GPU mode: {e}")
        if backend.name() != "cupy":
            caffe.set_mode_cpu()
            pytest.skip("GPU-mode layers need CuPy with a device (HPM_BACKEND)")
    yield request.param
    caffe.set_mode_cpu()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small synthetic Human3.6M-format data set (2 train and 2 test subjects, 10 frames per
    action and view, 48x48 images) shared by the tests that train and test nets."""
    from pose_formats.synthetic import SyntheticConfig, generate
    root = tmp_path_factory.mktemp("data") / "tiny"
    config = SyntheticConfig(image_size=48, train_subjects=("S1", "S5"), test_subjects=("S9", "S11"),
                             frames_per_action=10, cameras=1, test_cameras=1)
    generate(str(root), config, workers=1)
    return root
