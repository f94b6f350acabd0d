"""The real-motion sources of the synthetic data set in Human3.6M's protocol: every subject performs every
action's family, test subjects perform held-out segments of multi-cycle captures (at least 1 s from any
training window) or their own procedural draws, no sequence has a floor frame, mirroring keeps a valid
body, and the unseen-motion set's clips are none of the training subjects'."""
import numpy as np
import pytest

from pose_formats.labels import KEEP_EVERY
from pose_formats.skeleton import ACTIONS, PARENTS
from pose_formats.synthetic import real_motion as rm
from pose_formats.synthetic.motions import sequence_world_poses
from pose_formats.synthetic.subjects import subject_bone_lengths
from test_mocap import knees_point_forward

TRAIN, TEST = ("S1", "S5", "S6", "S7", "S8"), ("S9", "S11")
ACTION_IDS = range(1, len(ACTIONS) + 1)
FRAMES = 40


@pytest.fixture(scope="module")
def source():
    return rm.ProtocolMotionSource(TEST, mirror=True)


def test_test_subjects_perform_held_out_segments_a_second_or_more_from_training_windows(source):
    squat = ACTIONS.index("SittingDown") + 1
    assert {source.choice(0, s, squat, FRAMES) for s in TEST} == {("dart_squat", "test")}
    for subject in TRAIN + TEST:
        world = source.windows.world(0, subject, "dart_squat")
        parts = rm.split(len(world), FRAMES)
        assert parts["test"][0] - parts["train"][1] >= 50                      # 1 s at 50 fps
        upright = rm.pelvis_above_ankle(world) >= rm.MIN_PELVIS_SEATED_MM
        for part, (lo, hi) in parts.items():
            starts = rm._ClipWindows.starts(len(world), FRAMES, lo, hi, upright)
            assert len(starts) and starts.min() >= lo and starts.max() + (FRAMES - 1) * KEEP_EVERY < hi, part
    # Single-cycle clips are the training subjects' only; every action's family reaches every subject.
    used = {source.choice(0, s, a, FRAMES)[0] for s in TRAIN for a in ACTION_IDS}
    assert {"deepmimic_walk", "isaaclab_walk", "dart_freeform", "dart_squat", None} <= used
    walking = ACTIONS.index("Walking") + 1
    assert all(source.choice(0, s, walking, FRAMES) == (None, None) for s in TEST)


def test_no_sequence_has_a_floor_frame_and_bones_are_the_subjects(source):
    for subject in TRAIN + TEST:
        bones = subject_bone_lengths(0, subject)
        for action in ACTION_IDS:
            poses = source(0, subject, action, FRAMES)
            assert rm.pelvis_above_ankle(poses).min() >= rm.min_pelvis_mm(action), (subject, ACTIONS[action - 1])
            lengths = np.linalg.norm(poses[:, 1:] - poses[:, PARENTS[1:]], axis=-1)
            np.testing.assert_allclose(lengths, np.broadcast_to(bones[1:], lengths.shape), rtol=1e-9)
    unseen = rm.UnseenMotionSource()
    for subject in TEST:
        for slot in ACTION_IDS:
            assert rm.pelvis_above_ankle(unseen(0, subject, slot, 10)).min() >= rm.MIN_PELVIS_MM
    # The rule bites: Boxing_Toes.bvh spends seconds on the floor.
    boxing = unseen.windows.world(0, "S9", "assimp_boxing")
    assert (rm.pelvis_above_ankle(boxing) < rm.MIN_PELVIS_MM).sum() > 200


def test_mirroring_is_seeded_training_only_and_keeps_a_valid_body(source):
    plain = rm.ProtocolMotionSource(TEST)
    flipped = [(s, a) for s in TRAIN for a in ACTION_IDS
               if not np.array_equal(source(0, s, a, 10), plain(0, s, a, 10))]
    assert 0.3 < len(flipped) / (len(TRAIN) * len(ACTIONS)) < 0.7
    for s, a in flipped[:5]:
        np.testing.assert_allclose(source(0, s, a, 10), rm.mirrored(plain(0, s, a, 10)))
        assert knees_point_forward(source(0, s, a, 10)) > 0             # a body, not a mirrored skeleton
    assert all(np.array_equal(source(0, s, a, 10), plain(0, s, a, 10)) for s in TEST for a in ACTION_IDS)
    poses = sequence_world_poses(0, "S1", 14, 10)
    np.testing.assert_array_equal(rm.mirrored(rm.mirrored(poses)), poses)
    assert knees_point_forward(poses[:, rm._MIRROR] * [-1, 1, 1]) > 0 > knees_point_forward(poses * [-1, 1, 1])


def test_unseen_clips_are_no_training_subjects_and_deterministic():
    unseen = {name for _, clips in rm.UNSEEN_SLOTS for name in clips}
    family = {name for clips, _ in rm.ACTION_CLIPS.values() for name in clips}
    assert not unseen & family and len(rm.UNSEEN_SLOTS) == len(ACTIONS)
    a, b = rm.UnseenMotionSource(), rm.UnseenMotionSource()
    np.testing.assert_array_equal(a(0, "S9", 3, 10), b(0, "S9", 3, 10))
    assert not np.allclose(a(0, "S9", 3, 10), a(0, "S11", 3, 10))
