"""Synthetic data set, the parts before rendering: subjects, motions, kinematics, cameras, normalisation."""
import numpy as np
import pytest

from pose_formats import synthetic as sy
from pose_formats import labels
from pose_formats.synthetic import cameras, kinematics, motions, subjects
from pose_formats.normalization import MaxMin
from pose_formats.skeleton import ACTIONS, BONE_MM, LEFT_RIGHT_PAIRS, PARENTS

SUBJECTS = sy.P1_TRAIN_SUBJECTS + sy.P1_TEST_SUBJECTS
FRAMES = 40


def bone_lengths(poses):
    return np.linalg.norm(poses[..., 1:, :] - poses[..., PARENTS[1:], :], axis=-1)


def body_frame_poses(action, subject="S1", seed=0):
    """Root-relative poses without the heading, so actions compare regardless of where they face."""
    style = motions.action_style(seed, subject, action)
    times = style.time_offset_s + np.arange(FRAMES) * labels.KEEP_EVERY / motions.FPS
    angles = motions.joint_angles(motions.ACTION_MOTIONS[ACTIONS[action - 1]], style, times)
    return kinematics.forward_kinematics(subjects.subject_bone_lengths(seed, subject), angles, np.zeros(FRAMES))


def test_subject_bones_vary_around_the_mean_and_are_symmetric():
    bones = np.array([subjects.subject_bone_lengths(0, s) for s in SUBJECTS])
    ratio = bones[:, 1:] / BONE_MM[1:]
    assert np.all(np.abs(ratio - 1) <= 0.08)
    assert np.ptp(ratio[:, 1]) > 0.02            # subjects differ
    for first, second in LEFT_RIGHT_PAIRS:
        np.testing.assert_array_equal(bones[:, first], bones[:, second])
    np.testing.assert_array_equal(subjects.subject_bone_lengths(0, "S5"), bones[1])
    assert not np.allclose(subjects.subject_bone_lengths(1, "S5"), bones[1])


@pytest.mark.parametrize("action", range(1, 16))
def test_kinematics_keeps_the_subjects_bones_feet_on_the_floor(action):
    poses = motions.sequence_world_poses(0, "S7", action, FRAMES)
    np.testing.assert_allclose(bone_lengths(poses), np.broadcast_to(subjects.subject_bone_lengths(0, "S7")[1:],
                                                                    (FRAMES, 15)), atol=1e-9)
    np.testing.assert_allclose(np.minimum(poses[:, 3, 1], poses[:, 6, 1]), motions.ANKLE_HEIGHT_MM, atol=1e-9)
    assert np.all(poses[:, 9, 1] > poses[:, 0, 1])                 # head above pelvis
    assert np.all(poses[:, 8, 1] > poses[:, 7, 1])                 # trunk not upside down
    # Smooth motion: no joint jumps more than 25 cm between kept frames (0.1 s).
    assert np.abs(np.diff(poses - poses[:, :1], axis=0)).max() < 250


def test_actions_have_distinct_motions():
    poses = [body_frame_poses(a) for a in range(1, 16)]
    mean_poses = np.array([p.mean(axis=0) for p in poses])
    for a in range(15):
        for b in range(a + 1, 15):
            largest = np.linalg.norm(mean_poses[a] - mean_poses[b], axis=-1).max()
            assert largest > 50, f"{ACTIONS[a]} and {ACTIONS[b]} have nearly the same mean pose"
    energy = {ACTIONS[a]: np.linalg.norm(np.diff(poses[a], axis=0), axis=-1).mean() for a in range(15)}
    for walk in ("Walking", "WalkDog", "WalkTogether"):
        for still in ("Sitting", "Waiting", "Eating", "Photo"):
            assert energy[walk] > 2 * energy[still], (walk, still, energy)
    pelvis_height = {ACTIONS[a - 1]: motions.sequence_world_poses(0, "S1", a, FRAMES)[:, 0, 1].mean()
                     for a in range(1, 16)}
    assert pelvis_height["Sitting"] < pelvis_height["Walking"] - 300
    assert pelvis_height["Eating"] < pelvis_height["Directions"] - 300


def test_motion_depends_on_seed_subject_and_time():
    a = motions.sequence_world_poses(0, "S1", 14, 10)
    np.testing.assert_array_equal(a, motions.sequence_world_poses(0, "S1", 14, 10))
    assert not np.allclose(a, motions.sequence_world_poses(1, "S1", 14, 10))
    assert not np.allclose(a, motions.sequence_world_poses(0, "S5", 14, 10))
    assert not np.allclose(a[0], a[5])


def test_camera_rig():
    rig = cameras.camera_rig()
    assert len(rig) == 4
    assert len({c.azimuth_deg for c in rig}) == 4 and len({c.height_mm for c in rig}) == 4
    for c in rig:
        np.testing.assert_allclose(c.rotation @ c.rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(c.rotation) == pytest.approx(1)
        assert 1140 < c.fx < 1150 and 1140 < c.fy < 1150
        centre = c.project(c.to_camera(np.array([0.0, 900.0, 0.0])))
        np.testing.assert_allclose(centre, [c.cx, c.cy], atol=1e-6)   # the rig looks at the capture area
        up = c.project(c.to_camera(np.array([0.0, 1500.0, 0.0])))
        assert up[1] < centre[1]                                       # image y points down


def test_subjects_stay_4_to_6_metres_away_and_in_front_of_every_camera():
    for a in range(1, 16):
        poses = motions.sequence_world_poses(0, "S11", a, FRAMES)
        for c in cameras.camera_rig():
            depth = c.to_camera(poses)[..., 2]
            assert depth.min() > 3500 and depth.max() < 6800


def test_normalised_3d_labels_mostly_within_the_max_min_table():
    max_min = MaxMin()
    values = []
    for s in SUBJECTS:
        for a in range(1, 16):
            poses = motions.sequence_world_poses(0, s, a, 10)
            for c in cameras.camera_rig():
                cam = c.to_camera(poses)
                values.append(max_min.normalize((cam - cam[:, :1]).reshape(10, -1))[:, 3:])
    values = np.concatenate(values)
    assert np.mean((values < 0) | (values > 1)) < 0.05
    assert values.min() > -0.1 and values.max() < 1.1


def test_clip_markers_and_crop_boxes():
    np.testing.assert_array_equal(labels.clip_markers(10), [0, 1, 1, 1, 1, 0, 1, 1, 1, 1])
    joints = np.array([[[100.0, 200.0], [300.0, 260.0], [150.0, 240.0]]])
    np.testing.assert_allclose(labels.crop_boxes(joints, 1.5), [[50.0, 80.0, 300.0]])


def test_config_validation():
    for bad, message in [({"frames_per_action": 12}, "multiple of 5"), ({"cameras": 5}, "cameras must be 1..4"),
                         ({"test_subjects": ("S1",)}, "distinct"), ({"train_subjects": ("X1",)}, "look like"),
                         ({"image_size": 8}, "at least 16"), ({"image_format": "gif"}, "jpg"),
                         ({"test_subjects": ()}, "at least one")]:
        with pytest.raises(ValueError, match=message):
            sy.SyntheticConfig(**bad).validate()
    assert sy.parse_subjects("3", sy.P1_TRAIN_SUBJECTS) == ("S1", "S5", "S6")
    assert sy.parse_subjects("S2, S3", sy.P1_TRAIN_SUBJECTS) == ("S2", "S3")
    with pytest.raises(ValueError, match="1..2"):
        sy.parse_subjects("3", sy.P1_TEST_SUBJECTS)
