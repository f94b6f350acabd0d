"""tools/prepare_h36m.py on a tiny tree in Human3.6M's official layout that the tests write: CDF poses
(cdflib), MP4 videos (OpenCV) with a white dot at each joint."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO
from official_layouts import write_h36m_sequence, write_pose_cdf
from pose_formats.h36m_official import JOINTS_FROM_32
from pose_formats.listfile import LABEL_DIM_2D3D, read_list_file
from pose_formats.normalization import MaxMin
from pose_formats.skeleton import JOINTS, PARENTS

SIZE = 128
MARGIN = 1.3
SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
# (official name, camera, our action): sub-action spelling and the release's two names for WalkDog.
SEQUENCES = (("Directions 1", "54138969", 1), ("WalkingDog", "60457274", 13))
FRAMES = {"S11": 130}       # 26 sampled frames: 5 whole clips; Protocol #3 keeps clips 0 and 2
DEFAULT_FRAMES = 60         # 12 sampled frames: 2 whole clips, the last 2 frames dropped

# Human3.6M's 32 joints (its metadata) and their parents; 16 and 24 are the clavicles, which the data
# puts at the neck (13).
H36M_NAMES = ("Hips", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "Site", "LeftUpLeg", "LeftLeg",
              "LeftFoot", "LeftToeBase", "Site", "Spine", "Spine1", "Neck", "Head", "Site", "LeftShoulder",
              "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb", "Site", "L_Wrist_End", "Site",
              "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb", "Site", "R_Wrist_End",
              "Site")
H36M_PARENTS = (-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19, 22, 12, 24, 25,
                26, 27, 28, 27, 30)
OURS_AS_H36M = ("Hips", "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot", "Spine1", "Neck",
                "Site", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand")


def test_joint_map_agrees_with_our_skeleton():
    """Our joints are Human3.6M's at JOINTS_FROM_32, and each one's parent in skeleton16.json is its
    nearest kept ancestor in Human3.6M's tree, the clavicles (16, 24) counted as the neck."""
    assert [H36M_NAMES[i] for i in JOINTS_FROM_32] == list(OURS_AS_H36M)
    assert JOINTS[9] == "Head" and H36M_PARENTS[15] == 14 and H36M_NAMES[14] == "Head"   # 15: head top
    position = {h: ours for ours, h in enumerate(JOINTS_FROM_32)}
    for ours, h in enumerate(JOINTS_FROM_32[1:], 1):
        ancestor = H36M_PARENTS[h]
        while ancestor not in position:
            ancestor = 13 if ancestor in (16, 24) else H36M_PARENTS[ancestor]
        assert position[ancestor] == PARENTS[ours], JOINTS[ours]


def write_tree(root):
    raw = {}
    for subject in SUBJECTS:
        for name, camera, action in SEQUENCES:
            raw[subject, name] = write_h36m_sequence(str(root), subject, name, camera, action,
                                                     FRAMES.get(subject, DEFAULT_FRAMES))
    return raw


def run_tool(h36m_root, out, *args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "prepare_h36m.py"), "--h36m-root",
                           str(h36m_root), "--out", str(out), "--size", str(SIZE), "--no-progress", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m_official")
    raw = write_tree(root / "h36m")
    out = root / "out"
    run = run_tool(root / "h36m", out)
    assert run.returncode == 0, run.stderr
    return root / "h36m", out, raw, run


def lines_of(out, name):
    return read_list_file(os.path.join(out, name), LABEL_DIM_2D3D, root_folder=str(out))


def test_lists_frames_and_protocol_splits(prepared):
    _, out, _, run = prepared
    meta = json.loads((out / "meta.json").read_text())
    expected = {"16skel_train_2d3d_clip.txt": 5 * 2 * 10, "16skel_test_2d3d_clip.txt": 2 * 10 + 2 * 25,
                "16skel_train_2d3d_p3_clip.txt": 6 * 2 * 10, "16skel_test_2d3d_p3_clip.txt": 2 * 2 * 5}
    subjects = {"16skel_train_2d3d_clip.txt": {"S1", "S5", "S6", "S7", "S8"},
                "16skel_test_2d3d_clip.txt": {"S9", "S11"},
                "16skel_train_2d3d_p3_clip.txt": {"S1", "S5", "S6", "S7", "S8", "S9"},
                "16skel_test_2d3d_p3_clip.txt": {"S11"}}
    for name, count in expected.items():
        paths, labels = lines_of(out, name)
        assert len(paths) == count == meta["frames"][name]
        assert {p.split("/")[1] for p in paths} == subjects[name]
        # Clip markers: 0 at every 5th line, each clip within one sequence.
        np.testing.assert_array_equal(labels[:, -1], np.arange(count) % 5 != 0)
        for start in range(0, count, 5):
            assert len({os.path.dirname(p) for p in paths[start:start + 5]}) == 1
    paths, _ = lines_of(out, "16skel_test_2d3d_p3_clip.txt")
    frames = [int(os.path.basename(p)[:6]) for p in paths if "Directions_1" in p]
    assert frames == [0, 5, 10, 15, 20, 50, 55, 60, 65, 70]      # the clips holding video frames 0 and 64
    paths, _ = lines_of(out, "16skel_train_2d3d_clip.txt")
    assert [int(os.path.basename(p)[:6]) for p in paths[:10]] == list(range(0, 50, 5))
    assert "Directions" in run.stdout or "sequences" in run.stdout


def test_per_action_lists(prepared):
    _, out, _, run = prepared
    test_paths, test_labels = lines_of(out, "16skel_test_2d3d_clip.txt")
    for action, folder in ((1, "Directions_1.54138969"), (13, "WalkingDog.60457274")):
        paths, labels = lines_of(out, f"gt/test/test{action}.txt")
        rows = [i for i, p in enumerate(test_paths) if folder in p]
        assert paths == [test_paths[i] for i in rows] and len(paths) == 35
        np.testing.assert_array_equal(labels, test_labels[rows])
        p3_paths, _ = lines_of(out, f"gt/test_p3/test{action}.txt")
        assert len(p3_paths) == 10 and all(p.startswith("images/S11/") for p in p3_paths)
    assert sorted(os.listdir(out / "gt" / "test")) == ["test1.txt", "test13.txt"]
    assert "no test frames of action(s) 2, 3," in run.stderr


def test_labels_round_trip_to_the_raw_values(prepared):
    """3D: un-normalised labels are the CDF's mm minus the pelvis; 2D: label x side + corner is the
    D2 pixel, the box being the square around the 16 joints' extent times the margin."""
    _, out, raw, _ = prepared
    table = MaxMin()
    paths, labels = lines_of(out, "16skel_test_2d3d_clip.txt")
    for subject in ("S9", "S11"):
        joints, px = raw[subject, "Directions 1"]
        rows = [i for i, p in enumerate(paths) if p.startswith(f"images/{subject}/Directions_1.")]
        frames = [int(os.path.basename(paths[i])[:6]) for i in rows]
        ours = joints[frames][:, JOINTS_FROM_32].astype(np.float64)
        mm = table.unnormalize(labels[rows, 32:80]).reshape(-1, 16, 3)
        np.testing.assert_allclose(mm, ours - ours[:, :1], atol=2e-3)
        ours_px = px[frames][:, JOINTS_FROM_32].astype(np.float64)
        low, high = ours_px.min(axis=1), ours_px.max(axis=1)
        side = (high - low).max(axis=1) * MARGIN
        corner = (low + high) / 2 - side[:, None] / 2
        uv = labels[rows, :32].reshape(-1, 16, 2)
        np.testing.assert_allclose(uv * side[:, None, None] + corner[:, None], ours_px, atol=1e-3)


def test_crops_contain_every_joint(prepared):
    """Each joint's label, scaled to the crop, lands on its white dot from the video."""
    _, out, _, _ = prepared
    paths, labels = lines_of(out, "16skel_train_2d3d_clip.txt")
    for path, row in zip(paths[::7], labels[::7]):
        crop = cv2.imread(str(out / path), cv2.IMREAD_GRAYSCALE)
        assert crop.shape == (SIZE, SIZE)
        uv = row[:32].reshape(16, 2)
        assert np.all((uv > 0) & (uv < 1)), path
        for x, y in (uv * SIZE).astype(int):
            assert crop[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3].max() > 150, (path, x, y)
        assert np.median(crop) < 40      # the dots are small: not a blown-up or shifted crop


def test_resume_after_an_interrupted_run(prepared, tmp_path):
    """A truncated CDF stops the run with its name and writes no list; after the file is mended a rerun
    prepares only the rest, removes what the interruption left, and writes the same lists."""
    source, clean, _, _ = prepared
    h36m = tmp_path / "h36m"
    shutil.copytree(source, h36m)
    cdf = h36m / "S11" / "MyPoseFeatures" / "D3_Positions_mono" / "WalkingDog.60457274.cdf"
    data = cdf.read_bytes()
    cdf.write_bytes(data[:len(data) // 2])
    out = tmp_path / "out"
    run = run_tool(h36m, out, "--workers", "2")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith(f"prepare_h36m: {cdf}: cannot read the CDF (truncated")
    assert not (out / "meta.json").exists() and not (out / "16skel_train_2d3d_clip.txt").exists()
    finished = sorted(os.listdir(out / "h36m_sequences" / "S1"))
    assert finished == ["Directions_1.54138969.npz", "WalkingDog.60457274.npz"]
    before = (out / "images" / "S1" / "Directions_1.54138969" / "000000.jpg").stat().st_mtime_ns
    stale = out / "images" / "S11" / ".WalkingDog.60457274.partial"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "000000.jpg").write_bytes(b"half")

    cdf.write_bytes(data)
    run = run_tool(h36m, out)
    assert run.returncode == 0, run.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["skipped_as_finished"] >= 2 and meta["prepared_now"] == 14 - meta["skipped_as_finished"]
    assert (out / "images" / "S1" / "Directions_1.54138969" / "000000.jpg").stat().st_mtime_ns == before
    assert not stale.exists()
    for name in ("16skel_train_2d3d_clip.txt", "16skel_test_2d3d_p3_clip.txt", "gt/test/test13.txt"):
        assert (out / name).read_text() == (clean / name).read_text()


def test_official_defects_are_reported_not_fatal(tmp_path):
    """A video shorter than its poses is used to the common length; an unreadable video is skipped;
    both are named on stderr and in meta.json. Also: --mean-limb-scale sets every bone to the mean."""
    h36m = tmp_path / "h36m"
    for subject in SUBJECTS:
        write_h36m_sequence(str(h36m), subject, "Directions", "54138969", 1, 60)
    write_h36m_sequence(str(h36m), "S9", "Photo", "55011271", 6, 60, video_frames=33)
    write_h36m_sequence(str(h36m), "S11", "Photo", "55011271", 6, 60)
    (h36m / "S11" / "Videos" / "Photo.55011271.mp4").write_bytes(b"\0" * 1000)
    (h36m / "S1" / "MyPoseFeatures" / "D3_Positions_mono" / "_ALL.54138969.cdf").write_bytes(b"")
    out = tmp_path / "out"
    run = run_tool(h36m, out, "--protocol", "1", "--mean-limb-scale")
    assert run.returncode == 0, run.stderr
    short, broken = (str(h36m / s / "Videos" / "Photo.55011271.mp4") for s in ("S9", "S11"))
    assert f"warning: {short}: 33 video frames but 60 pose frames; the common 33 are used" in run.stderr
    assert f"warning: {broken}: OpenCV cannot read this video; sequence S11/Photo.55011271 skipped" in run.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["unreadable_videos"] == [broken]
    assert meta["length_mismatches"] == [{"video": short, "pose_frames": 60, "video_frames": 33}]
    assert meta["ignored_files"][0].endswith("_ALL.54138969.cdf: action '_ALL' is none of the 15")
    paths, labels = lines_of(out, "gt/test/test6.txt")
    assert [int(os.path.basename(p)[:6]) for p in paths] == list(range(0, 25, 5))   # 7 sampled: 1 whole clip
    assert "mean" in meta["evaluation"]
    bones = np.asarray(meta["mean_bone_mm"]["1"])
    for name in ("16skel_train_2d3d_clip.txt", "16skel_test_2d3d_clip.txt"):
        mm = MaxMin().unnormalize(lines_of(out, name)[1][:, 32:80]).reshape(-1, 16, 3)
        np.testing.assert_allclose(np.linalg.norm(mm - mm[:, PARENTS], axis=2), np.tile(bones, (len(mm), 1)),
                                   atol=0.05)


@pytest.mark.parametrize("damage, message", [
    (lambda h: os.unlink(h / "S5" / "MyPoseFeatures" / "D2_Positions" / "WalkingDog.60457274.cdf"),
     "D2_Positions/WalkingDog.60457274.cdf: missing file (the pair of "),
    (lambda h: shutil.rmtree(h / "S7"), "S7/MyPoseFeatures/D3_Positions_mono: missing folder (subject S7"),
    (lambda h: write_pose_cdf(str(h / "S6" / "MyPoseFeatures" / "D2_Positions" / "Directions 1.54138969.cdf"),
                              np.zeros((59, 64))),
     "D3_Positions_mono/Directions 1.54138969.cdf: 60 frames but "),
    (lambda h: write_pose_cdf(str(h / "S6" / "MyPoseFeatures" / "D2_Positions" / "Directions 1.54138969.cdf"),
                              np.zeros((60, 63))),
     "D2_Positions/Directions 1.54138969.cdf: variable 'Pose' has shape (1, 60, 63), expected (1, frames, 64)"),
])
def test_bad_official_files_are_named(prepared, tmp_path, damage, message):
    h36m = tmp_path / "h36m"
    shutil.copytree(prepared[0], h36m)
    damage(h36m)
    run = run_tool(h36m, tmp_path / "out", "--protocol", "1")
    assert run.returncode == 1
    assert run.stderr.startswith("prepare_h36m: ") and message in run.stderr, run.stderr
    assert not (tmp_path / "out" / "16skel_train_2d3d_clip.txt").exists()


def test_caffe_test_runs_on_a_prepared_list(prepared, tmp_path):
    """The demo's per-action test net (96x96 input: the data layer resizes the 128x128 crops) on the
    prepared action-1 list, through `caffe test`, writes one result row per frame."""
    caffe = pytest.importorskip("caffe")
    from conftest import VENV
    _, out, _, _ = prepared
    demo = os.path.join(REPO, "prototxt", "demo")
    weights = str(tmp_path / "demo.caffemodel")
    caffe.Net(os.path.join(demo, "deploy.prototxt"), caffe.TEST).save(weights)
    filled = tmp_path / "test1.prototxt"
    fill = subprocess.run([sys.executable, os.path.join(REPO, "tools", "fill_test_prototxt.py"), "--data", str(out),
                           os.path.join(demo, "test", "test_3d.prototxt"), "1", str(tmp_path / "results"), str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO)
    assert fill.returncode == 0, fill.stderr
    assert fill.stdout.split() == ["1", "35", "7", "Directions"]
    iterations = 7
    env = {**os.environ, "PATH": os.path.join(VENV, "bin") + os.pathsep + os.environ["PATH"]}
    run = subprocess.run([os.path.join(VENV, "bin", "caffe"), "test", "-model", str(filled), "-weights", weights,
                          "-iterations", str(iterations)], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = np.loadtxt(tmp_path / "results" / "result1_unnorm.csv", delimiter=",", ndmin=2)
    assert result.shape == (35, 49)
    np.testing.assert_array_equal(result[:, 0], np.arange(1, 36))
