"""The offline pipeline from the command line, on a tiny synthetic data set: `caffe train` of a demo
stage, tools/test_all.sh per action, and tools/gen_refinepkl.py."""
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

caffe = pytest.importorskip("caffe")
from caffe.proto import caffe_pb2  # noqa: E402

from caffe_nets import retarget_data  # noqa: E402
from conftest import REPO, VENV  # noqa: E402
from evaluation.loss_curves import PANEL_HEIGHT, WIDTH, parse_caffe_log  # noqa: E402
from online.weights import KEYS, LAYERS, load_weights  # noqa: E402
from pose_formats.listfile import read_list_file  # noqa: E402
from pose_formats.normalization import MaxMin  # noqa: E402
from pose_formats.skeleton import ACTIONS  # noqa: E402

CAFFE = os.path.join(VENV, "bin", "caffe")
DEMO = os.path.join(REPO, "prototxt", "demo")
ITERATIONS = 150


def _run(args, **kwargs):
    env = {**os.environ, "PATH": os.path.join(VENV, "bin") + os.pathsep + os.environ["PATH"],
           "GLOG_minloglevel": "0"}
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env, timeout=900, **kwargs)


@pytest.fixture(scope="module")
def trained_bilstm(tiny_dataset, tmp_path_factory):
    """The demo bilstm stage trained from the command line for a short schedule: (snapshot, losses,
    the training log)."""
    folder = tmp_path_factory.mktemp("bilstm")
    net = retarget_data(os.path.join(DEMO, "bilstm", "train.prototxt"), tiny_dataset, folder / "train.prototxt")
    solver = open(os.path.join(DEMO, "bilstm", "solver.prototxt")).read()
    solver = re.sub(r'net: ".*"', f'net: "{net}"', solver)
    solver = re.sub(r'snapshot_prefix: ".*"', f'snapshot_prefix: "{folder}/bilstm"', solver)
    solver = re.sub(r"max_iter: \d+", f"max_iter: {ITERATIONS}", solver)
    solver = re.sub(r"display: \d+", "display: 1", re.sub(r"average_loss: \d+", "average_loss: 1", solver))
    (folder / "solver.prototxt").write_text(solver)
    run = _run([CAFFE, "train", "-solver", str(folder / "solver.prototxt")])
    assert run.returncode == 0, run.stderr[-3000:]
    (folder / "bilstm.log").write_text(run.stderr)
    losses = {int(i): float(v) for i, v in re.findall(r"Iteration (\d+), loss = (\S+)", run.stderr)}
    return (str(folder / f"bilstm_iter_{ITERATIONS}.caffemodel"), np.array([losses[i] for i in range(ITERATIONS)]),
            str(folder / "bilstm.log"))


def test_bilstm_stage_trains_from_the_command_line(trained_bilstm):
    snapshot, losses, _ = trained_bilstm
    assert os.path.exists(snapshot)
    assert losses[-20:].mean() <= 0.5 * losses[:10].mean(), losses


def _test_all(weights, data, out, batch):
    # a bilstm model has no refine branch or projector: the check must be told they start fresh
    return _run(["tools/test_all.sh", "-t", os.path.join(DEMO, "test", "test_3d.prototxt"), "-d", str(data),
                 "-f", ",".join(LAYERS.values()), weights, str(out), str(batch)])


def test_test_all_writes_every_frame_once_and_prints_the_csv_mpjpe(trained_bilstm, tiny_dataset, tmp_path):
    weights = trained_bilstm[0]
    run = _test_all(weights, tiny_dataset, tmp_path / "b5", 5)
    check_loss_curves(trained_bilstm, tiny_dataset, tmp_path / "b5", tmp_path / "curves")
    assert run.returncode == 0, run.stderr[-3000:]
    table = MaxMin()
    printed = {int(a): (float(m), float(c)) for a, m, c in
               re.findall(r"^(\d+)\s+\S+\s+\d+\s+([\d.]+)\s+([\d.]+)$", run.stdout, re.M)}
    assert sorted(printed) == list(range(1, 16)), run.stdout
    for a in range(1, 16):
        _, labels = read_list_file(os.path.join(tiny_dataset, "gt", "test", f"test{a}.txt"), 81)
        gt_mm = table.unnormalize(labels[:, 32:80])
        for kind, column in (("", 0), ("_change", 1)):
            unnorm = np.loadtxt(tmp_path / "b5" / f"result{a}{kind}_unnorm.csv", delimiter=",", ndmin=2)
            norm = np.loadtxt(tmp_path / "b5" / f"result{a}{kind}_norm.csv", delimiter=",", ndmin=2)
            np.testing.assert_array_equal(unnorm[:, 0], np.arange(1, len(labels) + 1))
            np.testing.assert_array_equal(norm[:, 0], unnorm[:, 0])
            np.testing.assert_allclose(table.unnormalize(norm[:, 1:]), unnorm[:, 1:], rtol=1e-5, atol=1e-3)
            mpjpe = np.linalg.norm((unnorm[:, 1:] - gt_mm).reshape(-1, 16, 3), axis=2).mean()
            assert printed[a][column] == pytest.approx(mpjpe, abs=2e-4), (a, kind)
        assert f" {ACTIONS[a - 1]} " in run.stdout

    # Two clips per batch give the same poses: clips stay apart in both LSTM directions (a state
    # crossing clips moves poses by ~1e-2). Batch 10 multiplies matrices of another shape, so float32
    # sums run in another order: up to ~1e-7 apart on normalised values near 0, hence the atol.
    run = _test_all(weights, tiny_dataset, tmp_path / "b10", 10)
    assert run.returncode == 0, run.stderr[-3000:]
    for a in (1, 15):
        np.testing.assert_allclose(np.loadtxt(tmp_path / "b10" / f"result{a}_norm.csv", delimiter=","),
                                   np.loadtxt(tmp_path / "b5" / f"result{a}_norm.csv", delimiter=","),
                                   rtol=1e-5, atol=1e-6)

    run = _test_all(weights, tiny_dataset, tmp_path / "b3", 3)
    assert run.returncode != 0 and "is not a multiple of the batch 3" in run.stderr


def check_loss_curves(trained_bilstm, data, results, out):
    """tools/loss_curves.py and eval_h36m.py --logs on the real log and the test results of its model."""
    _, losses, log = trained_bilstm
    parsed = parse_caffe_log(log)
    np.testing.assert_array_equal([parsed["loss"][i] for i in range(ITERATIONS)], losses)
    assert sorted(parsed["outputs"]) == ["loss_3d", "mpjpe"]
    assert sorted(parsed["outputs"]["loss_3d"]) == list(range(ITERATIONS))
    # average_loss 1, loss_3d the only weighted output: the total is that iteration's loss_3d, up to
    # float32 rounding that Caffe's running smoothed loss (smoothed += loss - previous) carries over
    # from every earlier iteration: at most one float32 epsilon of the largest loss per iteration.
    drift = ITERATIONS * np.finfo(np.float32).eps * np.abs(losses).max()
    np.testing.assert_allclose([parsed["outputs"]["loss_3d"][i] for i in range(ITERATIONS)], losses, rtol=1e-5,
                               atol=drift)
    assert 20 < np.mean(list(parsed["outputs"]["mpjpe"].values())) < 2000

    run = _run([sys.executable, "tools/loss_curves.py", log, "--results-dir", str(results),
                "--gt-dir", os.path.join(data, "gt", "test"), "--out-dir", str(out)])
    assert run.returncode == 0, run.stderr
    table = MaxMin()
    labels = np.vstack([read_list_file(os.path.join(data, "gt", "test", f"test{a}.txt"), 81)[1] for a in range(1, 16)])
    coarse = np.vstack([np.loadtxt(results / f"result{a}_norm.csv", delimiter=",", ndmin=2)[:, 1:] for a in range(1, 16)])
    diff = coarse - labels[:, 32:80]
    held_out = json.loads(run.stdout[run.stdout.index("{"):])["bilstm"]["held_out"]
    assert held_out["loss_3d"] == pytest.approx(0.5 * (diff ** 2).sum(axis=1).mean(), rel=1e-5)
    gt_mm = table.unnormalize(labels[:, 32:80])
    unnorm = np.vstack([np.loadtxt(results / f"result{a}_unnorm.csv", delimiter=",", ndmin=2)[:, 1:] for a in range(1, 16)])
    assert held_out["mpjpe"] == pytest.approx(np.linalg.norm((unnorm - gt_mm).reshape(-1, 16, 3), axis=2).mean(), rel=1e-4)
    picture = cv2.imread(str(out / "loss_bilstm.png"))
    assert picture.shape == (28 + 2 * PANEL_HEIGHT, WIDTH, 3) and picture.std() > 5

    shutil.copy(log, results / "bilstm.log")
    run = _run([sys.executable, "tools/eval_h36m.py", str(results), "--gt-dir", os.path.join(data, "gt", "test"),
                "--figure-frames", "0", "--logs", str(results), "--crop-px", "48"])
    assert run.returncode == 0, run.stderr
    assert "loss curve cpm: no" in run.stdout and "loss curve addsrr: no" in run.stdout
    curves = json.loads((results / "eval.json").read_text())["diagnostics"]["loss_curves"]
    assert list(curves) == ["bilstm"] and curves["bilstm"]["held_out"] == held_out
    assert curves["bilstm"]["iterations"] == ITERATIONS and os.path.exists(curves["bilstm"]["png"])
    assert "![bilstm loss curve](figures/loss_bilstm.png)" in (results / "ablation.md").read_text()


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    """A demo-size model with every layer, as pycaffe initialises it, saved as a caffemodel."""
    net = caffe.Net(os.path.join(DEMO, "deploy.prototxt"), caffe.TEST)
    path = str(tmp_path_factory.mktemp("model") / "demo.caffemodel")
    net.save(path)
    return path, net


def _convert(*args):
    return _run([sys.executable, "tools/gen_refinepkl.py", *args])


def test_converter_exports_the_twelve_arrays(demo_model, tmp_path):
    path, net = demo_model
    out = tmp_path / "refine.npz"
    run = _convert(path, "--prototxt", os.path.join(DEMO, "deploy.prototxt"), "--out", str(out))
    assert run.returncode == 0, run.stderr
    with np.load(out, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(KEYS)
        for weight_key, layer in LAYERS.items():
            np.testing.assert_array_equal(npz[weight_key], net.params[layer][0].data.T)
            np.testing.assert_array_equal(npz["b" + weight_key[1:]], net.params[layer][1].data)
    legacy = tmp_path / "refine.pkl"
    run = _convert(path, "--prototxt", os.path.join(DEMO, "deploy.prototxt"), "--out", str(legacy), "--legacy-pickle")
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(load_weights(str(legacy), legacy_pickle=True).W2, net.params["project_2"][0].data.T)


def test_converter_names_missing_and_misshaped_layers(demo_model, tmp_path):
    path, _ = demo_model
    model = caffe_pb2.NetParameter()
    model.ParseFromString(open(path, "rb").read())
    kept = [l for l in model.layer if l.name not in ("change", "project_3")]
    del model.layer[:]
    model.layer.extend(kept)
    partial = tmp_path / "partial.caffemodel"
    partial.write_bytes(model.SerializeToString())
    run = _convert(str(partial), "--prototxt", os.path.join(DEMO, "deploy.prototxt"), "--out", str(tmp_path / "x.npz"))
    assert run.returncode != 0 and "no layer(s) change, project_3" in run.stderr
    assert not (tmp_path / "x.npz").exists()

    run = _convert(path, "--out", str(tmp_path / "y.npz"))     # demo model, paper-size deploy net
    assert run.returncode != 0 and "other blob shapes in layer(s) change_tmp," in run.stderr
