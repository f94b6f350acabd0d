"""A motion source with real human motion (pose_formats.mocap) for dataset.generate.

The upright clips of the catalogue are split by clip (seeded) into training and test clips. Floor
and acrobatic clips (cartwheel, crawl, roll, backflip, get-ups) are left out: Human3.6M's actions
are upright, its max-min table does not span upside-down poses, and with them in the demo's data the
coarse 3D stage learned nothing beyond the mean pose (measured 2026-12-01: 290 mm against a mean-pose
baseline of 293 mm, 2,500 bilstm iterations). Test subjects
perform test clips only; each training sequence is, with probability `train_real_share`, a training
clip, and otherwise the procedural motion of its action (motions.sequence_world_poses). A sequence
takes a seeded start in its clip (a clip shorter than the sequence loops), the subject's bone lengths
(mocap.retarget), the generator's 50 fps and kept frames, and the action style's heading and centre,
so that the cameras see it as they see the procedural motions. Clip names carry no action meaning:
the action label only picks the random stream."""
import numpy as np

from ..labels import KEEP_EVERY
from ..mocap.catalogue import catalogue, split_clips
from ..mocap.retarget import clip_on_subject
from ..rotations import axis_rotation
from .motions import action_style, sequence_world_poses
from .subjects import CLIP_STREAM, random_stream, subject_bone_lengths, subject_number


NOT_UPRIGHT = ("deepmimic_cartwheel", "deepmimic_crawl", "deepmimic_roll", "deepmimic_backflip",
               "deepmimic_getup_faceup", "deepmimic_getup_facedown")


# The share of training sequences that perform a real clip: most, since real motion is what the test
# subjects perform; the procedural motions keep some of each action's own movement. Set together with
# the demo's other data settings in one trial (README, demo section), not tuned on its own.
TRAIN_REAL_SHARE = 0.75


class RealMotionSource:
    def __init__(self, seed, test_subjects, test_fraction=0.3, train_real_share=TRAIN_REAL_SHARE):
        if not 0.0 <= train_real_share <= 1.0:
            raise ValueError(f"train_real_share must be within 0..1, got {train_real_share}")
        self.clips = {clip.name: clip for clip in catalogue() if clip.name not in NOT_UPRIGHT}
        self.train_clips, self.test_clips = split_clips(self.clips, test_fraction, seed)
        self.test_subjects = tuple(test_subjects)
        self.train_real_share = train_real_share
        self._loaded = {}

    def describe(self):
        """What meta.json records: the split and where every clip comes from."""
        return {"name": f"{__name__}.{type(self).__name__}", "train_clips": list(self.train_clips),
                "test_clips": list(self.test_clips), "train_real_share": self.train_real_share,
                "clips": {name: {"source": c.source, "licence": c.licence} for name, c in self.clips.items()}}

    def clip_name(self, seed, subject, action):
        """The clip a sequence performs, or None for the procedural motion."""
        rng = random_stream(seed, CLIP_STREAM, subject_number(subject), action)
        if subject in self.test_subjects:
            pool = self.test_clips
        elif rng.uniform() < self.train_real_share:
            pool = self.train_clips
        else:
            return None
        return pool[rng.integers(len(pool))]

    def __call__(self, seed, subject, action, frames):
        name = self.clip_name(seed, subject, action)
        if name is None:
            return sequence_world_poses(seed, subject, action, frames)
        if name not in self._loaded:
            self._loaded[name] = self.clips[name]()
        world, _ = clip_on_subject(self._loaded[name], subject_bone_lengths(seed, subject))
        rng = random_stream(seed, CLIP_STREAM, subject_number(subject), action, 1)
        span = frames * KEEP_EVERY
        start = rng.integers(max(1, len(world) - span + 1))
        poses = world[(start + np.arange(frames) * KEEP_EVERY) % len(world)]
        style = action_style(seed, subject, action)
        poses = poses @ axis_rotation("y", style.heading_rad).T
        poses[..., [0, 2]] += style.centre_mm
        return poses
