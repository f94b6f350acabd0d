"""The generated synthetic data set: list files, labels against the cameras, clips, splits, images."""
import dataclasses
import filecmp
import json
import os

import cv2
import numpy as np
import pytest

from pose_formats.labels import KEEP_EVERY
from pose_formats import synthetic as sy
from pose_formats.synthetic import cameras, motions
from pose_formats.synthetic import dataset as writer
from pose_formats.listfile import LABEL_DIM_2D, LABEL_DIM_2D3D, read_list_file
from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin
from pose_formats.skeleton import ACTIONS, MASK_2D_JOINT, PARENTS

SIZE = 64
CONFIG = sy.SyntheticConfig(seed=3, image_size=SIZE, train_subjects=("S1", "S5"), test_subjects=("S9", "S11"),
                            frames_per_action=10, cameras=2, test_cameras=1, image_format="png")
LISTS_2D3D = (sy.LIST_TRAIN, sy.LIST_TEST, sy.LIST_TRAIN_P3, sy.LIST_TEST_P3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic") / "data")
    meta = sy.generate(root, CONFIG, workers=1)
    raw = dict(np.load(os.path.join(root, sy.RAW_POSES), allow_pickle=False))
    raw_index = {path: i for i, path in enumerate(raw["image_path"])}
    return root, meta, raw, raw_index


def read(root, name, dim=LABEL_DIM_2D3D):
    return read_list_file(os.path.join(root, name), dim, root_folder=root)


def lines(root, name):
    with open(os.path.join(root, name)) as f:
        return f.read().splitlines()


def test_layout_and_sizes(dataset):
    root, meta, raw, _ = dataset
    per_sequence = CONFIG.frames_per_action
    expected = {sy.LIST_TRAIN: 2 * 15 * 2 * per_sequence, sy.LIST_TEST: 2 * 15 * per_sequence,
                sy.LIST_TRAIN_P3: (2 * 2 + 1) * 15 * per_sequence, sy.LIST_TEST_P3: 15 * per_sequence // 2,
                sy.LIST_MPII: 2 * 15 * per_sequence}
    for name, frames in expected.items():
        paths, labels = read(root, name, LABEL_DIM_2D if name == sy.LIST_MPII else LABEL_DIM_2D3D)
        assert len(paths) == frames == sum(meta["frames_per_action"][name].values())
    assert filecmp.cmp(os.path.join(root, os.path.basename(DEFAULT_MAX_MIN)), DEFAULT_MAX_MIN, shallow=False)
    with open(os.path.join(root, sy.META)) as f:
        assert json.load(f) == json.loads(json.dumps(meta))
    assert meta["config"]["seed"] == 3 and meta["image_size"] == [SIZE, SIZE]
    assert sorted(meta["bone_mm"]) == ["S1", "S11", "S5", "S9"] and len(meta["cameras"]) == 4
    assert not [f for f in os.listdir(os.path.dirname(root)) if f.startswith(".")]   # no staging left


def camera_projection(camera, points):
    z = points[..., 2]
    return np.stack([camera["fx"] * points[..., 0] / z + camera["cx"],
                     camera["fy"] * points[..., 1] / z + camera["cy"]], -1)


@pytest.mark.parametrize("name", LISTS_2D3D)
def test_2d_labels_are_the_projections_of_the_3d_labels(dataset, name):
    root, meta, raw, raw_index = dataset
    paths, labels = read(root, name)
    rows = np.array([raw_index[p] for p in paths])
    relative = MaxMin(os.path.join(root, meta["config"]["max_min_path"])).unnormalize(labels[:, 32:80])
    absolute = relative.reshape(-1, 16, 3) + raw["joints_cam_mm"][rows, :1]
    for camera in meta["cameras"]:
        this = raw["camera"][rows] == camera["id"]
        if not this.any():
            continue
        pixels = camera_projection(camera, absolute[this])
        np.testing.assert_allclose(pixels, raw["joints_px"][rows[this]], atol=0.01)
        box = raw["crop_box"][rows[this]]
        in_crop = (pixels - box[:, None, :2]) / box[:, None, 2:] * SIZE
        label_px = labels[this, :32].reshape(-1, 16, 2) * SIZE
        assert np.abs(in_crop - label_px).max() < 0.01   # well within a pixel
        # The rotation and translation in meta.json give the same camera-space joints as the npz.
        rotation, translation = np.array(camera["rotation"]), np.array(camera["translation_mm"])
        world = (raw["joints_cam_mm"][rows[this]] - translation) @ rotation
        np.testing.assert_allclose(world @ rotation.T + translation, raw["joints_cam_mm"][rows[this]], atol=1e-6)
        np.testing.assert_allclose(np.array(camera["position_mm"]), -rotation.T @ translation)
    # Person-centred square crops with the figure inside.
    assert labels[:, :32].min() > 0.05 and labels[:, :32].max() < 0.95


def test_unnormalised_3d_labels_have_the_subjects_bones(dataset):
    root, meta, raw, raw_index = dataset
    max_min = MaxMin(os.path.join(root, meta["config"]["max_min_path"]))
    for name in LISTS_2D3D:
        paths, labels = read(root, name)
        poses = max_min.unnormalize(labels[:, 32:80]).reshape(-1, 16, 3)
        np.testing.assert_allclose(poses[:, 0], 0, atol=1e-9)               # root-relative
        bones = np.linalg.norm(poses[:, 1:] - poses[:, PARENTS[1:]], axis=-1)
        subjects = [p.split("/")[1] for p in paths]
        expected = np.array([meta["bone_mm"][s][1:] for s in subjects])
        np.testing.assert_allclose(bones, expected, rtol=1e-6, atol=1e-3)
        assert np.all(raw["subject"][[raw_index[p] for p in paths]] == subjects)


def test_clip_markers_start_every_fifth_line(dataset):
    root = dataset[0]
    names = LISTS_2D3D + tuple(f"gt/{d}/test{a}.txt" for d in ("test", "test_p3") for a in range(1, 16))
    for name in names:
        paths, labels = read(root, name, LABEL_DIM_2D3D)
        np.testing.assert_array_equal(labels[:, -1], np.arange(len(paths)) % 5 != 0, err_msg=name)
        # A clip is 5 consecutive kept frames (50 fps frame numbers 5 apart) of one sequence.
        for start in range(0, len(paths), 5):
            clip = paths[start:start + 5]
            assert len({os.path.dirname(p) for p in clip}) == 1
            frames = [int(os.path.splitext(os.path.basename(p))[0]) for p in clip]
            assert np.all(np.diff(frames) == KEEP_EVERY) and frames[0] % 25 == 0


@pytest.mark.parametrize("whole, folder", [(sy.LIST_TEST, "test"), (sy.LIST_TEST_P3, "test_p3")])
def test_per_action_lists_partition_the_test_list(dataset, whole, folder):
    root = dataset[0]
    all_lines = lines(root, whole)
    per_action = []
    for a in range(1, 16):
        action_lines = lines(root, f"gt/{folder}/test{a}.txt")
        assert action_lines == [line for line in all_lines if f"/{ACTIONS[a - 1]}.cam" in line]
        per_action += action_lines
    assert sorted(per_action) == sorted(all_lines) and len(set(all_lines)) == len(all_lines)


def test_protocol_splits(dataset):
    root = dataset[0]
    subjects = {name: {line.split("/")[1] for line in lines(root, name)} for name in LISTS_2D3D}
    assert subjects == {sy.LIST_TRAIN: {"S1", "S5"}, sy.LIST_TEST: {"S9", "S11"},
                        sy.LIST_TRAIN_P3: {"S1", "S5", "S9"}, sy.LIST_TEST_P3: {"S11"}}
    train_p3 = lines(root, sy.LIST_TRAIN_P3)
    assert train_p3[:len(lines(root, sy.LIST_TRAIN))] == lines(root, sy.LIST_TRAIN)
    s11 = [line for line in lines(root, sy.LIST_TEST) if "/S11/" in line]
    p3 = lines(root, sy.LIST_TEST_P3)
    assert set(p3) < set(s11) and len(p3) == len(s11) // 2    # every 2nd clip of S11


def test_2d_only_list(dataset):
    root, meta, raw, raw_index = dataset
    paths, labels = read(root, sy.LIST_MPII, LABEL_DIM_2D)
    assert all(f".cam{sy.MPII_CAMERA}/" in p for p in paths) and meta["cameras_used"]["mpii_2d"] == [4]
    np.testing.assert_array_equal(labels[:, 2 * MASK_2D_JOINT:2 * MASK_2D_JOINT + 2], 0)   # spine absent
    np.testing.assert_array_equal(labels[:, 32], 0)             # single frames: each opens a clip
    rows = np.array([raw_index[p] for p in paths])
    box = raw["crop_box"][rows]
    expected = (raw["joints_px"][rows] - box[:, None, :2]) / box[:, None, 2:]
    expected[:, MASK_2D_JOINT] = 0
    np.testing.assert_allclose(labels[:, :32], expected.reshape(-1, 32), atol=1e-6)


def test_images_show_the_figure_at_the_2d_labels(dataset):
    root = dataset[0]
    for name in (sy.LIST_TRAIN, sy.LIST_TEST):
        paths, labels = read(root, name)
        for path, label in list(zip(paths, labels))[::7]:
            image = cv2.imread(os.path.join(root, path))
            assert image.shape == (SIZE, SIZE, 3)
            whitish = image.min(axis=2) >= 200                       # the joint dots
            for x, y in (label[:32].reshape(16, 2) * SIZE).astype(int):
                assert whitish[y - 1:y + 2, x - 1:x + 2].any(), (path, x, y)
            assert whitish.mean() < 0.1
            figure = np.zeros((SIZE, SIZE), np.uint8)
            cv2.polylines(figure, [np.array([label[:32].reshape(16, 2)[[j, PARENTS[j]]] * SIZE], np.int32)
                                   for j in range(1, 16)], False, 1, 5)
            background = image[figure == 0].reshape(-1, 3)
            assert len(np.unique(background // 16, axis=0)) > 3        # textured, not flat


def test_same_seed_same_files_other_seed_other_files(dataset, tmp_path):
    root = dataset[0]
    again = str(tmp_path / "again")
    sy.generate(again, CONFIG, workers=2)
    names = LISTS_2D3D + (sy.LIST_MPII, "gt/test/test5.txt", sy.META)
    for name in names:
        assert filecmp.cmp(os.path.join(root, name), os.path.join(again, name), shallow=False), name
    image = lines(root, sy.LIST_TEST)[3].split()[0]
    assert filecmp.cmp(os.path.join(root, image), os.path.join(again, image), shallow=False)
    other = str(tmp_path / "other")
    sy.generate(other, dataclasses.replace(CONFIG, seed=4), workers=1)
    for name in LISTS_2D3D:
        assert lines(root, name) != lines(other, name)


def test_existing_output_and_interrupted_runs(tmp_path, monkeypatch):
    out = tmp_path / "data"
    tiny = sy.SyntheticConfig(image_size=16, train_subjects=("S1",), test_subjects=("S9",), frames_per_action=5,
                              cameras=1)
    out.mkdir()
    (out / "keep").write_text("old")
    with pytest.raises(FileExistsError):
        sy.generate(str(out), tiny, workers=1)

    def broken(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "render_sequence", broken)
    with pytest.raises(KeyboardInterrupt):
        sy.generate(str(out), tiny, workers=1, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["data"] and os.listdir(out) == ["keep"]
    monkeypatch.undo()
    sy.generate(str(out), tiny, workers=1, overwrite=True)
    assert "keep" not in os.listdir(out) and sorted(os.listdir(tmp_path)) == ["data"]


def raised_poses(seed, subject, action, frames):
    """A motion source other than the default: the sinusoid table's poses 300 mm higher."""
    return motions.sequence_world_poses(seed, subject, action, frames) + np.array([0.0, 300.0, 0.0])


def test_motion_source_is_a_parameter(tmp_path):
    """The writer takes each sequence's world poses from the motion source it is given."""
    config = dataclasses.replace(CONFIG, image_size=16, train_subjects=("S1",), test_subjects=("S9",),
                                 frames_per_action=5, cameras=1)
    meta = sy.generate(str(tmp_path / "data"), config, workers=1, motion_source=raised_poses)
    assert meta["motion_source"] == f"{__name__}.raised_poses"
    raw = dict(np.load(tmp_path / "data" / sy.RAW_POSES, allow_pickle=False))
    first = raw["image_path"] == raw["image_path"][0].rsplit("/", 1)[0] + "/000000.png"
    camera = cameras.camera_rig()[int(raw["camera"][first][0]) - 1]
    subject, action = str(raw["subject"][first][0]), int(raw["action"][first][0])
    world = raised_poses(config.seed, subject, action, config.frames_per_action)[0]
    np.testing.assert_allclose(raw["joints_cam_mm"][first][0], camera.to_camera(world), atol=1e-9)
    default = motions.sequence_world_poses(config.seed, subject, action, config.frames_per_action)[0]
    assert not np.allclose(raw["joints_cam_mm"][first][0], camera.to_camera(default))
