"""tools/coarse_poses.py (fitted_refine's pose pairs): a model's coarse 3D poses of a list's frames,
checked against tools/test_all.sh's `caffe test` of the same model on the same frames."""
import os
import subprocess

import numpy as np
import pytest

caffe = pytest.importorskip("caffe")
from caffe_nets import make_net  # noqa: E402
from conftest import REPO, VENV  # noqa: E402
from online.weights import LAYERS  # noqa: E402
from pose_formats.listfile import (LABEL_DIM_2D3D, LABEL_DIM_POSE_PAIRS, LIST_TEST, LIST_TRAIN,  # noqa: E402
                                   read_list_file)
from test_init_refine import refine_net_text  # noqa: E402
from tool_modules import load_tool  # noqa: E402

coarse_poses = load_tool("coarse_poses")
DEMO = os.path.join(REPO, "prototxt", "demo")
DEPLOY = os.path.join(DEMO, "deploy.prototxt")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A demo deploy net's random start (Caffe's fillers) saved as a caffemodel: every layer bilstm's has."""
    path = tmp_path_factory.mktemp("coarse") / "random.caffemodel"
    caffe.Net(DEPLOY, caffe.TEST).save(str(path))
    return str(path)


def pairs(path):
    """{image path: the 97 values} of a pose-pair list."""
    paths, values = read_list_file(str(path), LABEL_DIM_POSE_PAIRS)
    return dict(zip(paths, values))


def run_tool(model, data, out, *more):
    return coarse_poses.main([model, "--prototxt", DEPLOY, "--list", os.path.join(data, more[0]), "--root", str(data),
                              "--out", str(out), "--no-progress", *more[1:]])


def test_coarse_poses_are_the_test_nets_predictions(model, tiny_dataset, tmp_path):
    """Every test frame's coarse pose equals what test_all.sh writes for it (result<a>_norm.csv), beside
    the list's own 3D label and clip marker."""
    out = tmp_path / "pairs.txt"
    assert run_tool(model, tiny_dataset, out, LIST_TEST) == 0
    got = pairs(out)
    paths, labels = read_list_file(os.path.join(tiny_dataset, LIST_TEST), LABEL_DIM_2D3D)
    assert list(got) == paths
    values = np.array(list(got.values()))
    np.testing.assert_array_equal(values[:, 48:], labels[:, 32:])
    env = {**os.environ, "PATH": os.path.join(VENV, "bin") + os.pathsep + os.environ["PATH"]}
    test = subprocess.run(["tools/test_all.sh", "-t", os.path.join(DEMO, "test", "test_3d.prototxt"), "-d",
                           str(tiny_dataset), "-f", ",".join(LAYERS.values()), model, str(tmp_path / "test")],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=900)
    assert test.returncode == 0, test.stderr[-3000:]
    compared = 0
    for a in range(1, 16):
        action_paths, _ = read_list_file(os.path.join(tiny_dataset, "gt", "test", f"test{a}.txt"), LABEL_DIM_2D3D)
        rows = np.loadtxt(tmp_path / "test" / f"result{a}_norm.csv", delimiter=",", ndmin=2)[:, 1:]
        for path, row in zip(action_paths, rows):
            # one clip a forward pass in both, the same sums: the same float32 values
            np.testing.assert_array_equal(got[path][:48], row.astype(np.float32), err_msg=path)
            compared += 1
    assert compared == len(paths)


def test_every_takes_every_nth_clip(model, tiny_dataset, tmp_path):
    """--every 2: the first, third, ... clip of the training list, each predicted as in a full run."""
    whole, half = tmp_path / "all.txt", tmp_path / "half.txt"
    assert run_tool(model, tiny_dataset, whole, LIST_TRAIN) == 0
    assert run_tool(model, tiny_dataset, half, LIST_TRAIN, "--every", "2") == 0
    paths, labels = read_list_file(os.path.join(tiny_dataset, LIST_TRAIN), LABEL_DIM_2D3D)
    clip = np.cumsum(labels[:, -1] == 0) - 1
    assert (labels[:, -1] == 0).sum() > 2
    all_pairs, half_pairs = pairs(whole), pairs(half)
    assert list(half_pairs) == [p for p, c in zip(paths, clip) if c % 2 == 0]
    for path, values in half_pairs.items():
        np.testing.assert_array_equal(values, all_pairs[path])


def test_a_missing_image_is_named_with_its_line_and_nothing_is_written(model, tiny_dataset, tmp_path, capsys):
    lines = (tiny_dataset / LIST_TRAIN).read_text().splitlines(keepends=True)
    lines[6] = "images/none.jpg " + lines[6].split(" ", 1)[1]
    broken = tmp_path / "broken.txt"
    broken.write_text("".join(lines))
    out = tmp_path / "pairs.txt"
    assert coarse_poses.main([model, "--prototxt", DEPLOY, "--list", str(broken), "--root", str(tiny_dataset),
                              "--out", str(out), "--no-progress"]) == 2
    assert f"{broken}:7: image 'images/none.jpg' not found" in capsys.readouterr().err
    assert not out.exists() and os.listdir(tmp_path) == ["broken.txt"]


def test_a_model_without_the_coarse_path_is_refused(tiny_dataset, tmp_path, capsys):
    """A model of the refine stage alone (no backbone, no LSTMs) would predict from random weights."""
    refine_only = tmp_path / "refine.caffemodel"
    make_net(tmp_path, refine_net_text(fc_out=None), caffe.TEST).save(str(refine_only))
    out = tmp_path / "pairs.txt"
    assert run_tool(str(refine_only), tiny_dataset, out, LIST_TRAIN) == 2
    err = capsys.readouterr().err
    assert f"{refine_only}: does not fit {DEPLOY}: no layer(s) conv1_1" in err and "lstm1" in err
    assert not out.exists()
