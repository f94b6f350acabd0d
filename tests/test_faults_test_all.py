"""Faults of tools/test_all.sh (docs/faults.md): two runs into one folder, a killed run, Caffe failing
at once, and bad options or templates, each a one-line error that leaves the folder as it was."""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

caffe = pytest.importorskip("caffe")

from conftest import REPO  # noqa: E402
from faults import assert_one_line_error, hidden_debris, run, venv_env, wait_until_unlocked  # noqa: E402
from pose_formats.results import read_result_csv  # noqa: E402

DEMO_TEST = os.path.join("prototxt", "demo", "test")
TEMPLATE_3D = os.path.join(DEMO_TEST, "test_3d.prototxt")
KINDS_3D = {"norm": 48, "unnorm": 48, "change_norm": 48, "change_unnorm": 48, "project_2d_norm": 32}


@pytest.fixture(scope="module")
def model_3d(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "3d.caffemodel"
    caffe.Net(os.path.join("prototxt", "demo", "deploy.prototxt"), caffe.TEST).save(str(path))
    return path


def run_test_all(*args, **kwargs):
    return run(["tools/test_all.sh", *args], **kwargs)


def wait_for_work_folder(out, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        if out.exists() and any(n.startswith(".test_all.") for n in os.listdir(out)):
            return
        time.sleep(0.2)
    raise AssertionError("test_all.sh made no work folder")


def test_a_second_run_into_a_folder_in_use_is_refused_and_the_first_stays_whole(model_3d, tiny_dataset, tmp_path):
    out = tmp_path / "results"
    first = subprocess.Popen(["tools/test_all.sh", "-t", TEMPLATE_3D, "-d", tiny_dataset, model_3d, out],
                             cwd=REPO, env=venv_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_work_folder(out, first)
    second = run_test_all("-t", TEMPLATE_3D, "-d", tiny_dataset, model_3d, out)
    assert_one_line_error(second, out, "in use by another run")
    _, stderr = first.communicate(timeout=900)
    assert first.returncode == 0, stderr
    for a in range(1, 16):
        frames = len(open(tiny_dataset / "gt" / "test" / f"test{a}.txt").readlines())
        for kind, width in KINDS_3D.items():
            indices, _ = read_result_csv(out / f"result{a}_{kind}.csv", width)   # whole lines of one width
            np.testing.assert_array_equal(indices, np.arange(1, frames + 1))
    assert hidden_debris(out) == []


def test_a_killed_run_leaves_the_previous_results_and_its_debris_goes_with_the_next_run(model_3d, tiny_dataset,
                                                                                         tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "result1_norm.csv").write_text("previous\n")
    killed = subprocess.Popen(["tools/test_all.sh", "-t", TEMPLATE_3D, "-d", tiny_dataset, model_3d, out],
                              cwd=REPO, env=venv_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    wait_for_work_folder(out, killed)
    time.sleep(3)   # into the first actions
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    wait_until_unlocked(out)
    assert (out / "result1_norm.csv").read_text() == "previous\n"
    assert set(os.listdir(out)) - set(hidden_debris(out)) == {".hpm3d.lock", "result1_norm.csv"}
    assert hidden_debris(out)    # the work folder of the killed run
    batch_of_3 = run_test_all("-t", TEMPLATE_3D, "-d", tiny_dataset, model_3d, out, "3")   # fails at once
    assert_one_line_error(batch_of_3, "is not a multiple of the batch 3")
    assert hidden_debris(out) == [] and (out / "result1_norm.csv").read_text() == "previous\n"


def test_caffe_failing_at_once_leaves_no_partial_files(model_3d, tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "gt", data / "gt")    # the lists without their images
    out = tmp_path / "results"
    done = run_test_all("-t", TEMPLATE_3D, "-d", data, model_3d, out)
    assert done.returncode == 1 and "caffe test failed on action 1" in done.stderr
    assert os.listdir(out) == [".hpm3d.lock"]


@pytest.mark.parametrize("args, message", [
    (["model", "out", "0"], "batch '0': must be a positive whole number"),
    (["-x", "model", "out"], "unknown option -x"),
    (["model", "out", "5", "extra"], "expected <weights.caffemodel> <out dir> [batch], got 4"),
    (["-t"], "option -t needs a value"),
])
def test_bad_command_lines_are_one_line_errors(args, message):
    done = run_test_all(*args)
    assert done.returncode == 2
    assert_one_line_error(done, message)


def test_help_shows_the_usage_not_the_script():
    done = run_test_all("--help")
    assert done.returncode == 0 and "<weights.caffemodel> <out dir> [batch]" in done.stdout
    assert "set -e" not in done.stdout and "is refused" in done.stdout


def test_a_template_with_a_syntax_error_names_the_file(model_3d, tiny_dataset, tmp_path):
    template = tmp_path / "test_3d.prototxt"
    template.write_text(open(os.path.join(REPO, TEMPLATE_3D)).read().replace("layer {", "layer {{", 1))
    done = run_test_all("-t", template, "-d", tiny_dataset, model_3d, tmp_path / "out")
    assert_one_line_error(done, template, "not a readable net definition")


def test_an_output_folder_with_a_semicolon_works(tiny_dataset, tmp_path):
    """The result layers get their paths in param_str, whose `key: value; ...` form splits at ';'."""
    out = tmp_path / "a;b"
    filled = tmp_path / "test1.prototxt"
    done = run([sys.executable, "tools/fill_test_prototxt.py", "--data", tiny_dataset,
                os.path.join(DEMO_TEST, "test_2d.prototxt"), "1", out, tmp_path])
    assert done.returncode == 0, done.stderr
    caffe.Net(str(filled), caffe.TEST)       # the result layer opens its file at set-up
    assert os.listdir(out) == ["result1_2d_norm.csv.partial"]
