"""tools/make_synthetic_h36m.py: the command line around pose_formats.synthetic."""
import json
import os
import subprocess
import sys

import cv2

from pose_formats import synthetic as sy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "make_synthetic_h36m.py")


def run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, cwd=REPO)


def test_help():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--out", "--motion", "--mirror", "--unseen-frames", "--seed", "--image-size", "--train-subjects", "--test-subjects", "--frames-per-action",
                   "--cameras", "--workers"):
        assert option in result.stdout


def test_generates_a_small_set_and_refuses_to_overwrite(tmp_path):
    out = str(tmp_path / "synthetic")
    args = ("--out", out, "--seed", "7", "--image-size", "32", "--train-subjects", "1", "--test-subjects", "S9,S11",
            "--frames-per-action", "5", "--cameras", "1", "--workers", "2", "--no-progress", "--unseen-frames", "5")
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert "16skel_train_2d3d_clip.txt 75 frames" in result.stdout
    with open(os.path.join(out, sy.META)) as f:
        meta = json.load(f)
    assert meta["config"]["seed"] == 7 and meta["subjects"]["train"] == ["S1"]
    protocol = meta["motion_source"]        # real motion by default: each action's family is recorded
    assert protocol["actions"]["SittingDown"]["clips"] == ["dart_squat"] and not protocol["augmentation"]["mirror_share"]
    assert "unseen/ 150 test frames" in result.stdout and meta["unseen"]["frames"] == 150
    with open(os.path.join(out, "unseen", sy.META)) as f:
        assert f"{len(json.load(f)['motion_source']['slots'])}" == "15"
    first = open(os.path.join(out, sy.LIST_TEST)).readline().split()[0]
    assert first.endswith(".jpg") and cv2.imread(os.path.join(out, first)).shape == (32, 32, 3)

    result = run(*args)
    assert result.returncode != 0 and "exists; pass --force" in result.stderr
    assert run(*args, "--force").returncode == 0


def test_bad_arguments_are_reported(tmp_path):
    result = run("--out", str(tmp_path / "x"), "--frames-per-action", "12")
    assert result.returncode != 0 and "multiple of 5" in result.stderr
    result = run("--out", str(tmp_path / "x"), "--train-subjects", "6")
    assert result.returncode != 0 and "subject count must be 1..5" in result.stderr
    assert not os.path.exists(tmp_path / "x")
