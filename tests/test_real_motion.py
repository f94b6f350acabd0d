"""The real-motion source of the synthetic data set: test subjects perform held-out clips only,
training subjects never do, the split is by clip and deterministic, and poses keep the subject's bones."""
import numpy as np
import pytest

from pose_formats.skeleton import ACTIONS, PARENTS
from pose_formats.synthetic.motions import sequence_world_poses
from pose_formats.synthetic.real_motion import RealMotionSource
from pose_formats.synthetic.subjects import subject_bone_lengths

TRAIN, TEST = ("S1", "S5", "S6", "S7", "S8"), ("S9", "S11")
ACTION_IDS = range(1, len(ACTIONS) + 1)


@pytest.fixture(scope="module")
def source():
    return RealMotionSource(seed=0, test_subjects=TEST)


def test_clips_are_split_and_test_subjects_use_only_test_clips(source):
    assert set(source.train_clips).isdisjoint(source.test_clips)
    assert set(source.train_clips) | set(source.test_clips) == set(source.clips)
    test_used = {source.clip_name(0, s, a) for s in TEST for a in ACTION_IDS}
    train_used = {source.clip_name(0, s, a) for s in TRAIN for a in ACTION_IDS}
    assert None not in test_used and test_used <= set(source.test_clips)
    assert None in train_used and (train_used - {None}) <= set(source.train_clips)   # a mix with procedural
    assert len(train_used - {None}) >= 3 and len(test_used) >= 3


def test_real_sequences_keep_the_subjects_bones_and_are_deterministic(source):
    again = RealMotionSource(seed=0, test_subjects=TEST)
    for subject in ("S9", "S11"):
        bones = subject_bone_lengths(0, subject)
        for action in (1, 7):
            poses = source(0, subject, action, 20)
            assert poses.shape == (20, 16, 3)
            np.testing.assert_array_equal(poses, again(0, subject, action, 20))
            lengths = np.linalg.norm(poses[:, 1:] - poses[:, PARENTS[1:]], axis=-1)
            np.testing.assert_allclose(lengths, np.broadcast_to(bones[1:], lengths.shape), rtol=1e-9)
            assert not np.allclose(poses, sequence_world_poses(0, subject, action, 20))


def test_training_sequences_without_a_clip_are_the_procedural_motion(source):
    subject, action = next((s, a) for s in TRAIN for a in ACTION_IDS if source.clip_name(0, s, a) is None)
    np.testing.assert_array_equal(source(0, subject, action, 10), sequence_world_poses(0, subject, action, 10))
