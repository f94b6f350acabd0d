"""Faults of the converter and the evaluation (docs/faults.md): a full disk or a read-only folder is
one line naming the file, and eval's three files are replaced together or not at all."""
import os
import sys

import pytest

from faults import assert_one_line_error, hidden_debris, run
from test_eval_h36m import layout  # noqa: F401  (the fixture: results of actions 1 and 4, lists, an image)

caffe = pytest.importorskip("caffe")
DEMO_DEPLOY = os.path.join("prototxt", "demo", "deploy.prototxt")
EVAL_FILES = ("eval.csv", "eval.json", "ablation.md")


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "demo.caffemodel"
    caffe.Net(DEMO_DEPLOY, caffe.TEST).save(str(path))
    return path


def gen_refinepkl(model, out, **faults):
    return run([sys.executable, "tools/gen_refinepkl.py", model, "--prototxt", DEMO_DEPLOY, "--out", out], **faults)


def test_converter_on_a_full_disk_names_the_file(demo_model, tmp_path):
    out = tmp_path / "refine.npz"
    done = gen_refinepkl(demo_model, out, full_disk=True)
    assert_one_line_error(done, out, "File too large")
    assert not out.exists() and hidden_debris(tmp_path) == []


def test_converter_into_a_read_only_folder_names_it(demo_model, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    done = gen_refinepkl(demo_model, folder / "refine.npz", read_only=folder)
    assert_one_line_error(done, folder)
    assert os.listdir(folder) == []


def evaluate(layout, *args, **faults):
    return run([sys.executable, "tools/eval_h36m.py", layout["results"], "--gt-dir", layout["gt"], "--out-dir",
                layout["out"], "--image-root", layout["root"], *args], **faults)


def test_eval_on_a_full_disk_keeps_the_previous_set_whole(layout):
    assert evaluate(layout, "--figure-frames", "0").returncode == 0
    before = {name: (layout["out"] / name).read_bytes() for name in EVAL_FILES}
    (layout["results"] / "result4_change_unnorm.csv").unlink()   # the next table differs
    done = evaluate(layout, "--figure-frames", "0", full_disk=True)
    assert_one_line_error(done, layout["out"], "File too large")
    assert {name: (layout["out"] / name).read_bytes() for name in EVAL_FILES} == before
    assert hidden_debris(layout["out"]) == []
    assert evaluate(layout, "--figure-frames", "0").returncode == 0     # with space, all three are new
    assert all((layout["out"] / name).read_bytes() != before[name] for name in EVAL_FILES)


def test_eval_warns_when_the_image_root_holds_no_frames(layout, tmp_path):
    done = evaluate(layout, "--figure-frames", "1", "--image-root", tmp_path / "nowhere")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2 and all("--image-root" in w and "nowhere" in w for w in warnings)
    assert "warning" not in evaluate(layout, "--figure-frames", "1").stderr
