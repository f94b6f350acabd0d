"""tools/prepare_mpii.py on a small annotation .mat in MPII's nested layout (scipy's savemat) and JPEGs
with a white dot at each annotated joint."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO
from official_layouts import write_mpii
from pose_formats.listfile import LABEL_DIM_2D, read_list_file
from pose_formats.mpii import MPII_IDS
from pose_formats.skeleton import JOINTS, MASK_2D_JOINT

SIZE = 96
MPII_NAMES = ("r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax", "upper neck",
              "head top", "r wrist", "r elbow", "r shoulder", "l shoulder", "l elbow", "l wrist")


def person(rng, centre, height):
    points = {i: (centre[0] + rng.uniform(-0.25, 0.25) * height, centre[1] + rng.uniform(-0.5, 0.5) * height)
              for i in range(16)}
    return {"points": points, "objpos": centre, "scale": height / 200.0}


def test_joint_map_agrees_with_our_skeleton():
    ours = ["pelvis", "r hip", "r knee", "r ankle", "l hip", "l knee", "l ankle", None, "thorax", "head top",
            "l shoulder", "l elbow", "l wrist", "r shoulder", "r elbow", "r wrist"]
    assert [None if i is None else MPII_NAMES[i] for i in MPII_IDS] == ours
    assert MPII_IDS.index(None) == MASK_2D_JOINT and JOINTS[MASK_2D_JOINT] == "Spine"


def run_tool(root, out):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "prepare_mpii.py"), "--mpii-root", str(root),
                           "--out", str(out), "--size", str(SIZE), "--no-progress"], capture_output=True, text=True)


def test_single_person_training_annotations_to_the_2d_list(tmp_path):
    rng = np.random.default_rng(0)
    people = [person(rng, (160.0, 120.0), 150.0), person(rng, (100.0, 90.0), 80.0), person(rng, (230.0, 150.0), 120.0)]
    incomplete = person(rng, (160.0, 120.0), 100.0)
    del incomplete["points"][0]                               # an unannotated right ankle
    images = [("a.jpg", True, [1], [people[0]]),
              ("b.jpg", True, [2, 3], [person(rng, (50.0, 50.0), 60.0), people[1], people[2]]),
              ("c.jpg", False, [1], [person(rng, (160.0, 120.0), 100.0)]),   # a test image
              ("d.jpg", True, [1], [incomplete])]
    write_mpii(str(tmp_path / "mpii"), images)
    run = run_tool(tmp_path / "mpii", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    paths, labels = read_list_file(tmp_path / "out" / "mpii_2d_train.txt", LABEL_DIM_2D, root_folder=str(tmp_path / "out"))
    assert len(paths) == 3 and [p.split("/")[-1][0] for p in paths] == ["a", "b", "b"]
    meta = json.loads((tmp_path / "out" / "mpii_meta.json").read_text())
    assert meta["frames"] == 3 and meta["skipped_incomplete"] == 1
    np.testing.assert_array_equal(labels[:, -1], 0)
    uv = labels[:, :32].reshape(-1, 16, 2)
    np.testing.assert_array_equal(uv[:, MASK_2D_JOINT], 0)
    for path, joints, truth in zip(paths, uv, people):
        crop = cv2.imread(str(tmp_path / "out" / path), cv2.IMREAD_GRAYSCALE)
        assert crop.shape == (SIZE, SIZE)
        for j, (u, v) in enumerate(joints):
            if j == MASK_2D_JOINT:
                continue
            assert 0 < u < 1 and 0 < v < 1
            x, y = int(u * SIZE), int(v * SIZE)
            assert crop[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3].max() > 120, (path, j)
        # Relative geometry is kept: label differences scale the pixel differences by one factor.
        pixels = np.array([truth["points"][i] for i in MPII_IDS if i is not None])
        kept = np.delete(joints, MASK_2D_JOINT, axis=0)
        ratio = (kept - kept[0]) [1:] / (pixels - pixels[0])[1:]
        np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-4)


@pytest.mark.parametrize("case, message", [("no mat", "mpii_human_pose_v1_u12_1.mat: missing file"),
                                           ("not mpii", "not MPII's annotation file"),
                                           ("no image", "images/a.jpg: missing file (annotation 1 of")])
def test_bad_input_is_named(tmp_path, case, message):
    root = tmp_path / "mpii"
    write_mpii(str(root), [("a.jpg", True, [1], [person(np.random.default_rng(1), (160.0, 120.0), 150.0)])])
    if case == "no mat":
        os.unlink(root / "mpii_human_pose_v1_u12_1.mat")
    elif case == "not mpii":
        from scipy.io import savemat
        savemat(str(root / "mpii_human_pose_v1_u12_1.mat"), {"something": np.zeros(3)})
    else:
        os.unlink(root / "images" / "a.jpg")
    run = run_tool(root, tmp_path / "out")
    assert run.returncode == 1 and run.stderr.startswith("prepare_mpii: ") and message in run.stderr, run.stderr
    assert not (tmp_path / "out" / "mpii_2d_train.txt").exists()
