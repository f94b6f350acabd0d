"""prototxt/: the committed files are what tools/make_prototxt.py writes; a caffemodel with the
released layer names and shapes loads by name into the paper-size deploy and train nets, leaving no
layer unmatched; each paper-size train net runs a forward/backward pass."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

caffe = pytest.importorskip("caffe")

from caffe_nets import retarget_data, write_caffemodel  # noqa: E402
from conftest import REPO  # noqa: E402
from tool_modules import load_tool  # noqa: E402

GT3D_SUFFIX = load_tool("make_prototxt").GT3D_SUFFIX

with open(os.path.join(REPO, "models", "released_layers.json")) as _f:
    RELEASED = {k: v for k, v in json.load(_f).items() if k != "about"}
ALL_LAYERS = {name: shapes for group in RELEASED.values() for name, shapes in group.items()}
LAYERS_3D = set(RELEASED["backbone"]) | set(RELEASED["transformer_3d"]) | set(RELEASED["refine_and_projector"])

TRAIN_NETS = {  # stage -> the released layers its net must hold
    "cpm": set(RELEASED["backbone"]) | set(RELEASED["head_2d"]),
    "bilstm": set(RELEASED["backbone"]) | set(RELEASED["transformer_3d"]),
    "addsrr": LAYERS_3D, "mask3d": LAYERS_3D, "finetune_whole": LAYERS_3D,
}


def test_committed_prototxts_are_generated():
    run = subprocess.run([sys.executable, "tools/make_prototxt.py", "--check"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def _make_prototxt(tmp_path, *args):
    out = tmp_path / "nets"
    run = subprocess.run([sys.executable, "tools/make_prototxt.py", "--config", "paper", "--out", str(out), *args],
                         cwd=REPO, capture_output=True, text=True)
    return run, out


def _has_gt3d_copy(path):
    return f'name: "project_1{GT3D_SUFFIX}"' in path.read_text()


def test_improvements_are_named_options_off_in_the_paper_configuration(tmp_path):
    """Each improvement is applied only when named: the committed paper nets have none, and
    --improvements adds exactly the one asked for to the same nets."""
    tool = load_tool("make_prototxt")
    assert tool.CONFIGS["paper"]["improvements"] == ()
    assert set(tool.CONFIGS["demo"]["improvements"]) == set(tool.IMPROVEMENTS)
    for stage in ("addsrr", "finetune_whole", "mask3d"):
        assert not _has_gt3d_copy(Path(REPO, "prototxt", stage, "train.prototxt"))
        assert _has_gt3d_copy(Path(REPO, "prototxt", "demo", stage, "train.prototxt"))
    assert 'lr_policy: "fixed"' in Path(REPO, "prototxt", "addsrr", "solver.prototxt").read_text()
    assert 'lr_policy: "poly"' in Path(REPO, "prototxt", "demo", "addsrr", "solver.prototxt").read_text()
    for stage, paper_rate, demo_rate, demo_policy in (("cpm", "0.0001", "0.0004", "poly"),
                                                      ("bilstm", "0.0001", "0.0005", "poly"),
                                                      ("finetune_whole", "1e-05", "1e-06", "fixed")):
        paper, demo = (Path(REPO, *folder, stage, "solver.prototxt").read_text()
                       for folder in (("prototxt",), ("prototxt", "demo")))
        assert 'lr_policy: "fixed"' in paper and f"base_lr: {paper_rate}\n" in paper
        assert f'lr_policy: "{demo_policy}"' in demo and f"base_lr: {demo_rate}\n" in demo

    run, out = _make_prototxt(tmp_path, "--improvements", "projector_gt3d", "--iterations", "7")
    assert run.returncode == 0, run.stderr
    assert _has_gt3d_copy(out / "addsrr" / "train.prototxt")
    solver = (out / "addsrr" / "solver.prototxt").read_text()
    assert 'lr_policy: "fixed"' in solver and "max_iter: 7" in solver
    assert all("base_lr: 0.0001\n" in (out / stage / "solver.prototxt").read_text() for stage in ("cpm", "bilstm"))
    assert json.loads((out / "config.json").read_text())["improvements"] == ["projector_gt3d"]


def test_a_folder_made_with_other_settings_is_refused(tmp_path):
    run, out = _make_prototxt(tmp_path, "--iterations", "3")
    assert run.returncode == 0, run.stderr
    before = (out / "cpm" / "solver.prototxt").read_text()
    run, _ = _make_prototxt(tmp_path, "--iterations", "4")
    assert run.returncode == 1
    assert "other settings" in run.stderr and "iters" in run.stderr and str(out.name) in run.stderr
    assert (out / "cpm" / "solver.prototxt").read_text() == before
    run, _ = _make_prototxt(tmp_path, "--improvements", "no_such_thing")
    assert run.returncode == 2 and "unknown no_such_thing" in run.stderr


def _blob_value(layer_index, blob_index):
    # Small enough that 15 stacked convolutions of constant weights neither overflow nor vanish.
    return np.float32(1e-6 * (3 * layer_index + blob_index + 1))


@pytest.fixture(scope="module")
def released_caffemodel(tmp_path_factory):
    """A caffemodel made from the released table alone (not from our nets): each blob a constant."""
    blobs = {name: [np.full(shape, _blob_value(k, i), np.float32) for i, shape in enumerate(shapes)]
             for k, (name, shapes) in enumerate(ALL_LAYERS.items())}
    return write_caffemodel(tmp_path_factory.mktemp("released") / "released.caffemodel", blobs)


def _assert_loads_by_name(net, caffemodel, expected_layers):
    # The projector's copy on the ground-truth 3D pose shares the projector's blobs: it is loaded with them.
    source = {name: name[:-len(GT3D_SUFFIX)] if name.endswith(GT3D_SUFFIX) else name for name in net.params}
    assert set(source.values()) == expected_layers          # no layer of either side unmatched
    for name in net.params:                                 # shapes first: Caffe aborts on a mismatch
        assert [list(p.data.shape) for p in net.params[name]] == ALL_LAYERS[source[name]], name
    net.copy_from(caffemodel)
    index = {name: k for k, name in enumerate(ALL_LAYERS)}
    for name in net.params:
        for i, p in enumerate(net.params[name]):
            assert np.all(p.data == _blob_value(index[source[name]], i)), name


def test_released_model_loads_into_the_paper_deploy_net(released_caffemodel):
    net = caffe.Net(os.path.join(REPO, "prototxt", "deploy.prototxt"), caffe.TEST)
    _assert_loads_by_name(net, released_caffemodel, LAYERS_3D)


@pytest.mark.parametrize("stage", list(TRAIN_NETS))
def test_paper_train_nets_load_released_weights_and_run(stage, released_caffemodel, tiny_dataset, tmp_path):
    prototxt = retarget_data(os.path.join(REPO, "prototxt", stage, "train.prototxt"), tiny_dataset,
                             tmp_path / "train.prototxt")
    net = caffe.Net(prototxt, caffe.TRAIN)
    _assert_loads_by_name(net, released_caffemodel, TRAIN_NETS[stage])
    assert net.blobs["data"].data.shape[2:] == (368, 368)
    outputs = net.forward()
    losses = {k: float(v.reshape(-1)[0]) for k, v in outputs.items() if "loss" in k}
    assert losses and all(np.isfinite(v) for v in losses.values()), outputs
    net.backward()
    trained = {"cpm": "fc-final", "addsrr": "change_tmp"}.get(stage, "fc-final_16")  # addsrr: refine branch only
    assert np.abs(net.params[trained][0].diff).max() > 0
