"""tools/train.sh, the released schedule as one resumable pipeline: a stage killed mid-way resumes from
its last snapshot and ends with the weights of an uninterrupted run; a finished run is skipped; a work
folder made with other settings is refused; the paper configuration runs end to end on the CPU from
downloads in the official layouts."""
import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

caffe = pytest.importorskip("caffe")
from caffe.proto import caffe_pb2  # noqa: E402

from conftest import REPO  # noqa: E402
from faults import venv_env  # noqa: E402
from official_layouts import write_h36m_sequence, write_mpii  # noqa: E402
from pipeline import snapshots  # noqa: E402
from pipeline.run import COARSE_CLIP_STRIDE  # noqa: E402
from pose_formats.listfile import (LABEL_DIM_2D3D, LABEL_DIM_POSE_PAIRS, LIST_COARSE_POSES, LIST_TRAIN,  # noqa: E402
                                   read_list_file)
from pose_formats.skeleton import ACTIONS  # noqa: E402
from test_prepare_h36m import SEQUENCES, SUBJECTS  # noqa: E402
from test_prepare_mpii import person  # noqa: E402

ITERATIONS, SNAPSHOT = 60, 10
STAGES = ("cpm", "bilstm", "addsrr", "finetune_whole", "mask3d")


def train(*args, timeout=1800):
    return subprocess.run(["tools/train.sh", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          env=venv_env(), timeout=timeout)


def demo_args(data, work, *more):
    return ("--config", "demo", "--data", data, "--work", work, "--iterations", ITERATIONS, "--snapshot", SNAPSHOT,
            *more)


def weights(path):
    net = caffe_pb2.NetParameter()
    with open(path, "rb") as f:
        net.ParseFromString(f.read())
    return {layer.name: [np.array(blob.data, np.float32) for blob in layer.blobs] for layer in net.layer if layer.blobs}


def final_model(work, stage):
    return work / "models" / stage / f"{stage}_iter_{ITERATIONS}.caffemodel"


@pytest.fixture(scope="module")
def uninterrupted(tiny_dataset, tmp_path_factory):
    """Every training stage of the demo configuration, run once without a break."""
    work = tmp_path_factory.mktemp("pipeline") / "whole"
    done = train(*demo_args(tiny_dataset, work, "--until", "mask3d"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work


def test_a_killed_stage_resumes_from_its_snapshot_with_the_same_weights(uninterrupted, tiny_dataset, tmp_path):
    """mask3d (both data layers and the joint mask draw every iteration) is killed with SIGKILL after a
    snapshot; the rerun resumes there and ends bit-identical to the uninterrupted run."""
    work = tmp_path / "killed"
    # The earlier stages are the uninterrupted run's, so mask3d starts from the same weights.
    shutil.copytree(uninterrupted / "models", work / "models", ignore=lambda folder, names:
                    ["mask3d"] if folder == str(uninterrupted / "models") else [])
    first = subprocess.Popen(["tools/train.sh", *map(str, demo_args(tiny_dataset, work, "--from", "mask3d",
                                                                     "--until", "mask3d"))],
                             cwd=REPO, env=venv_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while snapshots.latest_snapshot(str(work / "models"), "mask3d", ITERATIONS) is None and \
            time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.kill()
    first.wait()
    time.sleep(1.0)
    assert snapshots.latest_snapshot(str(work / "models"), "mask3d", ITERATIONS), "no snapshot before the deadline"
    assert not final_model(work, "mask3d").exists(), "the stage ended before the kill; raise ITERATIONS"
    # caffe train died with the pipeline (nothing keeps writing snapshots)
    listing = sorted(os.listdir(work / "models" / "mask3d"))
    time.sleep(1.0)
    assert sorted(os.listdir(work / "models" / "mask3d")) == listing

    resumed = train(*demo_args(tiny_dataset, work, "--from", "mask3d", "--until", "mask3d"))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "mask3d: resuming at iteration" in resumed.stdout
    ours, theirs = weights(final_model(work, "mask3d")), weights(final_model(uninterrupted, "mask3d"))
    assert ours.keys() == theirs.keys()
    for name in ours:
        for a, b in zip(ours[name], theirs[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_a_finished_run_is_skipped_and_other_settings_are_refused(uninterrupted, tiny_dataset):
    models = {p: p.stat().st_mtime_ns for p in (uninterrupted / "models").rglob("*.caffemodel")}
    again = train(*demo_args(tiny_dataset, uninterrupted, "--until", "mask3d"))
    assert again.returncode == 0, again.stderr
    for stage in STAGES:
        assert f"{stage}: done ({final_model(uninterrupted, stage)}), skipped" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in models} == models
    other = train("--config", "demo", "--data", tiny_dataset, "--work", uninterrupted, "--iterations", ITERATIONS + 1)
    assert other.returncode == 1
    assert "holds nets made with other settings" in other.stderr and f"-> {{'cpm': {ITERATIONS + 1}" in other.stderr


def test_addsrr_starts_from_the_fitted_stages(uninterrupted, tiny_dataset):
    """fitted_projector and fitted_refine (demo improvements): the projector and refine stages train
    before addsrr, and addsrr's start holds their layers and bilstm's others. The refine stage starts
    from the identity branch (identity_refine) and fits it on bilstm's coarse poses of every third
    training clip."""
    init = weights(uninterrupted / "models" / "addsrr" / "init.caffemodel")
    projector, refine = weights(final_model(uninterrupted, "projector")), weights(final_model(uninterrupted, "refine"))
    bilstm = weights(final_model(uninterrupted, "bilstm"))
    assert set(projector) == {"project_1", "project_2", "project_3", "project_2d"}
    assert set(refine) == {"change_tmp", "change"}
    for model in (projector, refine, bilstm):
        for name, blobs in model.items():
            for got, expected in zip(init[name], blobs):
                np.testing.assert_array_equal(got, expected)
    assert set(init) == set(bilstm) | set(projector) | set(refine)
    for stage in ("projector", "refine"):
        assert "Optimization Done" in (uninterrupted / "logs" / f"{stage}.log").read_text()
    assert set(weights(uninterrupted / "models" / "refine" / "init.caffemodel")) == {"change_tmp", "change"}
    fitted_on, _ = read_list_file(str(uninterrupted / "models" / LIST_COARSE_POSES), LABEL_DIM_POSE_PAIRS)
    paths, labels = read_list_file(str(tiny_dataset / LIST_TRAIN), LABEL_DIM_2D3D)
    clip = np.cumsum(labels[:, -1] == 0) - 1
    assert fitted_on == [path for path, k in zip(paths, clip) if k % COARSE_CLIP_STRIDE == 0]


def test_a_stage_does_not_start_from_a_model_of_another_stage(uninterrupted, tiny_dataset, tmp_path):
    """bilstm's weights put where addsrr's belong: finetune_whole refuses them before caffe train."""
    work = tmp_path / "wrong"
    shutil.copytree(uninterrupted / "models", work / "models")
    shutil.rmtree(work / "models" / "finetune_whole")
    shutil.copy(final_model(work, "bilstm"), final_model(work, "addsrr"))
    run = train(*demo_args(tiny_dataset, work, "--from", "finetune_whole", "--until", "finetune_whole"))
    assert run.returncode == 1
    assert str(final_model(work, "addsrr")) in run.stderr and "change" in run.stderr
    assert not (work / "models" / "finetune_whole").exists() or \
        not any(n.endswith(".caffemodel") for n in os.listdir(work / "models" / "finetune_whole"))


def test_paper_configuration_end_to_end_from_official_downloads(tmp_path):
    """Official-layout downloads (two of the 15 actions: a partial download) -> prepare_h36m.py and
    prepare_mpii.py -> the paper configuration (368x368, full widths, the released nets) for 2 iterations
    per stage -> every result file, the converted weights, the online correction and the table; a rerun
    skips everything."""
    for subject in SUBJECTS:   # one clip of 5 kept frames per sequence: 10 test frames per action
        for name, camera, action in SEQUENCES:
            write_h36m_sequence(str(tmp_path / "h36m"), subject, name, camera, action, 30)
    rng = np.random.default_rng(0)
    write_mpii(str(tmp_path / "mpii"), [(f"{k}.jpg", True, [1], [person(rng, (160.0, 120.0), 150.0)])
                                        for k in range(4)])
    data, work = tmp_path / "data", tmp_path / "work"
    python = os.path.join(REPO, ".venv", "bin", "python")
    for tool, source in (("prepare_h36m.py", "--h36m-root"), ("prepare_mpii.py", "--mpii-root")):
        prepared = subprocess.run([python, f"tools/{tool}", source, str(tmp_path / tool.split("_")[1][:-3]),
                                   "--out", str(data), "--no-progress"], cwd=REPO, capture_output=True, text=True)
        assert prepared.returncode == 0, prepared.stderr
    args = ("--config", "paper", "--data", data, "--work", work, "--iterations", 2, "--cpm-weights", "scratch")
    run = train(*args, timeout=3000)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    present = (1, 13)   # Directions and WalkDog
    assert f"test frames of 2 of 15 actions; missing: 2 {ACTIONS[1]}" in run.stdout
    config = json.loads((work / "prototxt" / "config.json").read_text())
    assert config["side"] == 368 and config["improvements"] == []
    for own in ("projector", "refine"):   # fitted_projector and fitted_refine are the demo's, not the paper's
        assert not (work / "models" / own).exists()
    for stage in ("addsrr", "finetune_whole", "mask3d"):
        for a in present:
            for kind in ("norm", "unnorm", "change_norm", "change_unnorm", "project_2d_norm"):
                assert (work / "stages" / stage / f"result{a}_{kind}.csv").exists(), (stage, a, kind)
    for a in present:
        for kind in ("2d_norm", "refined_unnorm", "online_independent_unnorm", "online_paper_gt2d_unnorm"):
            assert (work / f"result{a}_{kind}.csv").exists(), (a, kind)
    assert (work / "refine.npz").exists()
    table = json.loads((work / "eval.json").read_text())
    assert {"coarse", "change", "finetune_whole", "mask3d", "online_input", "online_released"} <= set(table["mean"])
    assert sorted(a["action"] for a in table["actions"].values()) == list(present)
    for stage in STAGES:
        assert (work / "figures" / f"loss_{stage}.png").exists()

    started = time.monotonic()
    again = train(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") >= len(STAGES) + 4
    assert time.monotonic() - started < 120
