"""The stock Caffe build: pycaffe, the `caffe` tool, Python layers inside `caffe train` (issue 2)."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO, VENV, caffe_build_dir

caffe = pytest.importorskip("caffe", reason="pycaffe not built: run 'make caffe'")

# An LSTM between two of the package's InvertedOrder layers learns to echo its input: the target is
# x itself, the LSTM sees x reversed in time, and its output is put back in order before the loss.
NET = """
name: "lstm_python_echo"
layer { name: "x" type: "DummyData" top: "x" top: "cont"
  dummy_data_param { shape { dim: 5 dim: 3 dim: 4 } shape { dim: 5 dim: 3 }
    data_filler { type: "gaussian" std: 1 } data_filler { type: "constant" value: 1 } } }
layer { name: "x_reversed" type: "Python" bottom: "x" top: "x_reversed"
  python_param { module: "caffe_layers.order" layer: "InvertedOrder" } }
layer { name: "lstm1" type: "LSTM" bottom: "x_reversed" bottom: "cont" top: "h"
  recurrent_param { num_output: 16 weight_filler { type: "uniform" min: -0.1 max: 0.1 }
    bias_filler { type: "constant" value: 0 } } }
layer { name: "fc" type: "InnerProduct" bottom: "h" top: "y_reversed"
  inner_product_param { num_output: 4 axis: 2 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "y" type: "Python" bottom: "y_reversed" top: "y"
  python_param { module: "caffe_layers.order" layer: "InvertedOrder" } }
layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "x" top: "loss" }
"""

ITERATIONS = 150
SOLVER = f"""
net: "net.prototxt"
type: "Adam"
base_lr: 0.02
momentum: 0.9
momentum2: 0.999
lr_policy: "fixed"
max_iter: {ITERATIONS}
display: 1
snapshot_prefix: "echo"
random_seed: 1701
solver_mode: CPU
"""


@pytest.fixture
def echo_dir(tmp_path):
    (tmp_path / "net.prototxt").write_text(NET)
    (tmp_path / "solver.prototxt").write_text(SOLVER)
    return tmp_path


def test_pycaffe_imports_with_python_and_lstm_layers():
    assert caffe.__version__ == "1.0.0"
    types = caffe.layer_type_list()
    assert "Python" in types and "LSTM" in types


def _cli_losses(log):
    # One "Iteration i, loss = L" line per training iteration, then one more after the last update.
    losses = {int(i): float(v) for i, v in re.findall(r"Iteration (\d+), loss = (\S+)", log)}
    return np.array([losses[i] for i in range(ITERATIONS) if i in losses])


def test_caffe_train_cli_and_pycaffe_solver_agree(echo_dir, monkeypatch):
    # Run from a folder outside the repo: the embedded interpreter must find caffe_layers by itself.
    run = subprocess.run([os.path.join(VENV, "bin", "caffe"), "train", "-solver", "solver.prototxt"],
                         cwd=echo_dir, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "GLOG_minloglevel": "0"})  # the loss lines are INFO
    assert run.returncode == 0, run.stderr[-3000:]
    cli = _cli_losses(run.stderr)
    assert len(cli) == ITERATIONS, run.stderr[-2000:]
    assert cli[-10:].mean() < 0.25 * cli[:10].mean(), cli

    snapshot = echo_dir / f"echo_iter_{ITERATIONS}.caffemodel"
    assert snapshot.exists()

    monkeypatch.chdir(echo_dir)  # the solver names its net by a relative path
    solver = caffe.get_solver("solver.prototxt")
    py = []
    for _ in range(ITERATIONS):
        solver.step(1)
        py.append(float(solver.net.blobs["loss"].data))
    # The CLI log prints 6 significant digits; the same seed gives the same trajectory.
    np.testing.assert_allclose(py, cli, rtol=2e-5)

    # The snapshot loads back by layer name into a fresh TEST net and holds the trained weights.
    net = caffe.Net("net.prototxt", str(snapshot), caffe.TEST)
    for name in ("lstm1", "fc"):
        for loaded, trained in zip(net.params[name], solver.net.params[name]):
            np.testing.assert_allclose(loaded.data, trained.data, rtol=1e-4, atol=1e-6)
    assert np.abs(net.params["fc"][0].data).max() > 0


def test_caffe_train_weights_flag_starts_from_the_given_model(echo_dir):
    """`caffe train -weights` loads the model by layer name (tools/caffe_patches/train-weights.patch)."""
    caffe_bin = os.path.join(VENV, "bin", "caffe")
    env = {**os.environ, "GLOG_minloglevel": "0"}
    run = subprocess.run([caffe_bin, "train", "-solver", "solver.prototxt"], cwd=echo_dir, capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    trained = f"echo_iter_{ITERATIONS}.caffemodel"
    # A second solver that takes one step at learning rate 0 from the trained model.
    frozen = SOLVER.replace("base_lr: 0.02", "base_lr: 0").replace(f"max_iter: {ITERATIONS}", "max_iter: 1")
    (echo_dir / "frozen_solver.prototxt").write_text(frozen.replace('snapshot_prefix: "echo"', 'snapshot_prefix: "from"'))
    run = subprocess.run([caffe_bin, "train", "-solver", "frozen_solver.prototxt", "-weights", trained],
                         cwd=echo_dir, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Finetuning from {trained}" in run.stderr
    first = caffe.Net(str(echo_dir / "net.prototxt"), str(echo_dir / trained), caffe.TEST)
    second = caffe.Net(str(echo_dir / "net.prototxt"), str(echo_dir / "from_iter_1.caffemodel"), caffe.TEST)
    for name in ("lstm1", "fc"):
        for a, b in zip(first.params[name], second.params[name]):
            np.testing.assert_array_equal(a.data, b.data)


def test_import_caffe_leaves_skimage_and_scipy_ndimage_unloaded_until_used():
    """tools/caffe_patches/lazy-io-imports.patch: caffe.io imports them where it uses them, so each Caffe
    process with a Python layer starts without them; resize_image still works on both of its paths."""
    code = ("import sys, numpy as np, caffe; assert 'skimage' not in sys.modules, 'skimage'; "
            "assert 'scipy.ndimage' not in sys.modules, 'scipy.ndimage'; "
            "print(caffe.io.resize_image(np.arange(12.).reshape(2, 2, 3), (4, 4)).shape, "
            "caffe.io.resize_image(np.ones((2, 2, 2)), (4, 4)).shape)")
    run = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("\n")[0] == "(4, 4, 3) (4, 4, 2)"


def _openblas_cores(command):
    """The kernels ("Core: X") Debian's OpenBLAS (and numpy's) report loading in `command`, run without
    OPENBLAS_CORETYPE in its environment."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    run = subprocess.run(command, env={**env, "OPENBLAS_VERBOSE": "2"}, capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    return set(re.findall(r"^Core: (\w+)$", run.stdout + run.stderr, re.M))


def test_caffe_and_pycaffe_ask_openblas_for_the_haswell_kernels_where_the_cpu_has_them():
    """tools/build_caffe.sh: Debian's OpenBLAS 0.3.21 falls back to SSE3 kernels on CPUs newer than
    itself; the venv's `caffe` and Python pick the AVX2/FMA ones on every CPU that has those."""
    flags = set(re.search(r"^flags\s*:(.*)$", open("/proc/cpuinfo").read(), re.M).group(1).split())
    cli = _openblas_cores([os.path.join(VENV, "bin", "caffe"), "--version"])
    python = _openblas_cores([os.path.join(VENV, "bin", "python"), "-c", "import caffe"])
    if {"avx2", "fma"} <= flags:
        assert cli == python == {"Haswell"}
    else:   # OpenBLAS's own choice, as the bare binary makes it
        assert cli == _openblas_cores([os.path.join(caffe_build_dir(), "bin", "caffe.bin"), "--version"])


def _check_cache(cache):
    return subprocess.run([os.path.join(REPO, "tools", "build_caffe.sh"), "--venv", VENV, "--check"],
                          env={**os.environ, "CAFFE_CACHE": str(cache)}, capture_output=True, text=True)


def test_build_cache_check_names_a_broken_build(tmp_path):
    build = caffe_build_dir()
    assert _check_cache(os.path.dirname(build)).returncode == 0

    # A copy of the build with its binary truncated is refused, naming the file.
    broken = tmp_path / os.path.basename(build)
    shutil.copytree(build, broken, symlinks=True)
    (broken / "bin" / "caffe.bin").write_bytes(b"")
    check = _check_cache(tmp_path)
    assert check.returncode != 0
    assert "bin/caffe.bin is missing" in check.stderr

    (broken / "bin" / "caffe.bin").unlink()
    shutil.copy2(os.path.join(build, "bin", "caffe.bin"), broken / "bin" / "caffe.bin")
    (broken / "lib" / "libcaffe.so").write_bytes(b"not a library")
    check = _check_cache(tmp_path)
    assert check.returncode != 0 and "does not run" in check.stderr
