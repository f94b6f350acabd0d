"""A caffemodel of the wrong stage: every tool that loads weights into a net stops with one line
naming the model and the layers it lacks, before any output exists (docs/faults.md)."""
import os
import subprocess
import sys

import pytest

caffe = pytest.importorskip("caffe")
from caffe.proto import caffe_pb2  # noqa: E402

from caffe_nets import retarget_data  # noqa: E402
from conftest import REPO, VENV  # noqa: E402
from tool_modules import load_tool  # noqa: E402

DEMO = os.path.join(REPO, "prototxt", "demo")
REFINE_AND_PROJECTOR = ["change_tmp", "change", "project_1", "project_2", "project_3", "project_2d"]


def run_tool(*args):
    env = {**os.environ, "PATH": os.path.join(VENV, "bin") + os.pathsep + os.environ["PATH"]}
    return subprocess.run([*map(str, args)], cwd=REPO, capture_output=True, text=True, env=env, timeout=600)


def without(model_path, out_path, dropped):
    """A copy of a caffemodel without the layers `dropped` (a model of an earlier stage)."""
    model = caffe_pb2.NetParameter()
    model.ParseFromString(open(model_path, "rb").read())
    kept = [l for l in model.layer if l.name not in dropped]
    del model.layer[:]
    model.layer.extend(kept)
    out_path.write_bytes(model.SerializeToString())
    return out_path


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_dataset):
    """Demo-size caffemodels as pycaffe initialises them: the 3D model (every deploy layer) and the
    2D model (the cpm stage's backbone and head)."""
    folder = tmp_path_factory.mktemp("models")
    caffe.Net(os.path.join(DEMO, "deploy.prototxt"), caffe.TEST).save(str(folder / "3d.caffemodel"))
    net_2d = retarget_data(os.path.join(DEMO, "cpm", "train.prototxt"), tiny_dataset, folder / "cpm.prototxt")
    caffe.Net(net_2d, caffe.TEST).save(str(folder / "2d.caffemodel"))
    return {"3d": folder / "3d.caffemodel", "2d": folder / "2d.caffemodel"}


@pytest.fixture(scope="module")
def addsrr_net(tmp_path_factory, tiny_dataset):
    """The demo addsrr training net reading a tiny data set (its projector's ground-truth copy shares
    the projector's blobs)."""
    return retarget_data(os.path.join(DEMO, "addsrr", "train.prototxt"), tiny_dataset,
                         tmp_path_factory.mktemp("addsrr") / "train.prototxt")


def check_weights(*args):
    return run_tool(sys.executable, "tools/check_weights.py", *args)


def test_check_weights_passes_a_fitting_model_and_knows_shared_layers(models, addsrr_net):
    done = check_weights(addsrr_net, models["3d"])
    assert done.returncode == 0 and done.stderr == "", done.stderr   # project_*_gt3d take the projector's blobs
    help_text = check_weights("--help").stdout
    assert "--fresh" in help_text and "Exit status" in help_text


def test_check_weights_names_the_missing_layers_and_the_model(models, addsrr_net, tmp_path):
    bilstm = without(models["3d"], tmp_path / "bilstm.caffemodel", REFINE_AND_PROJECTOR)
    done = check_weights(addsrr_net, bilstm)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and str(bilstm) in done.stderr
    assert f"no layer(s) {', '.join(REFINE_AND_PROJECTOR)}" in done.stderr
    assert "gt3d" not in done.stderr     # the copy takes nothing from a model
    # the stage starts these from their fillers, as released
    assert check_weights(addsrr_net, bilstm, "--fresh", *REFINE_AND_PROJECTOR).returncode == 0
    done = check_weights(addsrr_net, bilstm, "--fresh", *REFINE_AND_PROJECTOR[:-1])
    assert done.returncode == 1 and "no layer(s) project_2d" in done.stderr


def test_check_weights_names_misshaped_layers(models, tmp_path):
    done = check_weights("--phase", "test", os.path.join(REPO, "prototxt", "deploy.prototxt"), models["3d"])
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "other blob shapes in layer(s) conv1_1," in done.stderr and "(conv1_1: [[16, 3, 3, 3], [16]] in the model, " \
        "[[64, 3, 3, 3], [64]] in the net)" in done.stderr
    broken = tmp_path / "broken.prototxt"
    broken.write_text("layer { name: ")
    done = check_weights(broken, models["3d"])
    assert done.returncode == 1 and f"{broken}: not a readable net definition" in done.stderr
    assert done.stderr.count("\n") == 1


def test_test_all_refuses_a_model_of_another_stage(models, tiny_dataset, tmp_path):
    out = tmp_path / "results"
    done = run_tool("tools/test_all.sh", "-t", os.path.join(DEMO, "test", "test_3d.prototxt"),
                    "-d", tiny_dataset, models["2d"], out)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and str(models["2d"]) in done.stderr
    assert "no layer(s) special_conv_1, special_conv_2, fa_conv_1" in done.stderr
    assert "test/test_3d.prototxt" in done.stderr         # the template, not the work copy
    assert os.listdir(out) == [".hpm3d.lock"]             # no results, no work folder


def test_init_refine_refuses_a_model_of_another_stage(models, addsrr_net, tmp_path, capsys):
    out = tmp_path / "init.caffemodel"
    init_refine = load_tool("init_refine")
    assert init_refine.main([str(models["2d"]), "--prototxt", addsrr_net, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(models["2d"]) in err and "no layer(s) special_conv_1," in err
    assert "change_tmp" not in err and "project_1" not in err   # written by init_refine / fresh in addsrr
    assert not out.exists()
    bilstm = without(models["3d"], tmp_path / "bilstm.caffemodel", REFINE_AND_PROJECTOR)
    assert init_refine.main([str(bilstm), "--prototxt", addsrr_net, "--out", str(out)]) == 0
    assert check_weights(addsrr_net, out, "--fresh", *REFINE_AND_PROJECTOR[2:]).returncode == 0
