"""Motion sources for dataset.generate with real human motion (pose_formats.mocap), in Human3.6M's
protocol: every subject performs the same 15 actions, the test subjects as other people and other
performances (docs/data.md).

Main set (ProtocolMotionSource). Each action is a motion family: the generator's procedural motion for
it (motions.sequence_world_poses, a seeded draw per subject) and the real clips that fit it
(ACTION_CLIPS, which says why). A training subject's sequence performs one of its action's clips with
probability TRAIN_REAL_SHARE, else the procedural motion. A clip long enough to split (a capture of
several cycles) is cut in time: test subjects perform its last HELD_OUT_FRACTION (at least one
sequence), training subjects only what ends GAP_S or more before that; test subjects of an action
without such a clip perform the procedural motion. Clips of one cycle are looped and used by training
subjects only.

Unseen-motion set (UnseenMotionSource): clips that no training subject performs, in UNSEEN_SLOTS (slot
a takes the place of action a in the test lists; the slot's name says what is seen).

No floor frames: a frame's pelvis must lie MIN_PELVIS_MM (seated actions: MIN_PELVIS_SEATED_MM) or more
above its lower ankle; a sequence takes only windows of a clip where every kept frame does. The
procedural motions meet the rule (tests/test_synthetic_protocol.py).

Augmentation (mirror=True; off by default, as it made the main test set's probes worse, docs/data.md):
each training sequence is, with probability 1/2 (seeded), mirrored left to right (x -> -x, left and
right joints swapped), which fills the unseen half of asymmetric and cyclic motions. Rotation about the vertical axis needs no option: every sequence already turns by its seeded
heading, uniform over 360 degrees (motions.action_style). A sequence takes a seeded start, the
subject's bone lengths (mocap.retarget), the generator's 50 fps and kept frames, and the style's
heading and centre, so that the cameras see it as they see the procedural motions.
"""
import numpy as np

from ..labels import KEEP_EVERY
from ..mocap.catalogue import catalogue
from ..mocap.retarget import GENERATOR_FPS, clip_on_subject
from ..rotations import axis_rotation
from ..skeleton import ACTIONS, LEFT_RIGHT_PAIRS, NUM_JOINTS
from .motions import action_style, sequence_world_poses
from .subjects import CLIP_STREAM, random_stream, subject_bone_lengths, subject_number

MIN_PELVIS_MM = 500.0          # upright: kneeling, crawling, lying and sitting on the floor fall below
MIN_PELVIS_SEATED_MM = 200.0   # seated actions (on a chair or low): lying falls below
SEATED_ACTIONS = ("Eating", "Sitting", "SittingDown")
HELD_OUT_FRACTION = 0.3
GAP_S = 1.0
# Most training sequences of a family with clips stay procedural: the test subjects perform mostly
# procedural draws too, and the clips add real motion to training without replacing the action.
TRAIN_REAL_SHARE = 0.5

# action -> (clips, why they fit). Clips fitting no action are the unseen-motion set's.
ACTION_CLIPS = {
    "Discussion": (("dart_freeform",), "standing, stepping about and gesturing with both hands at chest "
                                      "height, as one does in a discussion"),
    "SittingDown": (("dart_squat",), "lowering the pelvis by bending the knees and standing up again, with "
                                     "the arms forward: a squat is sitting down without a chair"),
    "Walking": (("deepmimic_walk", "isaaclab_walk"), "one gait cycle each, looped: walking"),
}
UNSEEN_SLOTS = (
    ("playground jumps (CMU 01_01)", ("cmu_01_01",)), ("playground climbing (CMU 01_03)", ("cmu_01_03",)),
    ("boxing", ("assimp_boxing",)), ("fencing", ("vicon_fencing",)),
    ("running", ("deepmimic_run", "isaaclab_run")), ("jumping", ("deepmimic_jump",)),
    ("kicking", ("deepmimic_kick",)), ("spin kick", ("deepmimic_spinkick",)), ("punching", ("deepmimic_punch",)),
    ("spinning", ("deepmimic_spin",)), ("dancing (DeepMimic)", ("deepmimic_dance_a", "deepmimic_dance_b")),
    ("dancing (Isaac Lab)", ("isaaclab_dance",)), ("climbing onto boxes 0-1", ("holosoma_climb_0", "holosoma_climb_1")),
    ("climbing onto boxes 2-3", ("holosoma_climb_2", "holosoma_climb_3")), ("climbing onto boxes 4", ("holosoma_climb_4",)),
)
assert len(UNSEEN_SLOTS) == len(ACTIONS)
_MIRROR = np.arange(NUM_JOINTS)
for _left, _right in LEFT_RIGHT_PAIRS:
    _MIRROR[[_left, _right]] = _right, _left


def pelvis_above_ankle(poses):
    """(T,) mm: the pelvis's height above the lower ankle, y up."""
    return poses[:, 0, 1] - np.minimum(poses[:, 3, 1], poses[:, 6, 1])


def min_pelvis_mm(action):
    return MIN_PELVIS_SEATED_MM if ACTIONS[action - 1] in SEATED_ACTIONS else MIN_PELVIS_MM


def mirrored(poses):
    """The left-right mirror image of world poses (T, 16, 3): x -> -x, left and right joints swapped."""
    out = poses[:, _MIRROR].copy()
    out[..., 0] *= -1
    return out


class _ClipWindows:
    """Clips on subjects (cached) and seeded windows of them that meet the floor rule."""

    def __init__(self, names):
        sources = {clip.name: clip for clip in catalogue()}
        missing = sorted(set(names) - set(sources))
        if missing:
            raise ValueError(f"no motion clip {', '.join(missing)} in the catalogue")
        self.sources = {name: sources[name] for name in names}
        self._clips, self._worlds = {}, {}

    def world(self, seed, subject, name):
        if name not in self._clips:
            self._clips[name] = self.sources[name]()
        key = (seed, subject, name)
        if key not in self._worlds:
            self._worlds[key] = clip_on_subject(self._clips[name], subject_bone_lengths(seed, subject))[0]
        return self._worlds[key]

    @staticmethod
    def starts(length, frames, lo, hi, upright):
        """Starts of windows of `frames` kept frames inside [lo, hi) whose kept frames are all upright; a
        clip shorter than a window loops (and must then be upright throughout)."""
        span = (frames - 1) * KEEP_EVERY + 1
        if length < span:
            return np.arange(length) if upright.all() else np.zeros(0, int)
        offsets = np.arange(frames) * KEEP_EVERY
        candidates = np.arange(lo, hi - span + 1)
        return np.array([s for s in candidates if upright[s + offsets].all()], dtype=int)

    def window(self, seed, subject, name, frames, part, minimum, rng):
        """World poses (frames, 16, 3) of a seeded upright window of clip `name` on `subject`; part is
        None (the whole clip), 'train' or 'test' (a split clip's parts, see split)."""
        world = self.world(seed, subject, name)
        lo, hi = (0, len(world)) if part is None else split(len(world), frames)[part]
        starts = self.starts(len(world), frames, lo, hi, pelvis_above_ankle(world) >= minimum)
        if not len(starts):
            raise ValueError(f"clip {name} has no window of {frames} kept frames with the pelvis {minimum:.0f} mm "
                             f"above the ankles in frames {lo}-{hi}")
        start = starts[rng.integers(len(starts))]
        return world[(start + np.arange(frames) * KEEP_EVERY) % len(world)]


def split(length, frames):
    """{'train': (lo, hi), 'test': (lo, hi)} frame ranges of a clip of `length` frames at 50 fps split for
    sequences of `frames` kept frames, or None when it is too short: the test part is its last
    HELD_OUT_FRACTION (at least one sequence long), the training part ends GAP_S before it and must hold
    a sequence too."""
    span = (frames - 1) * KEEP_EVERY + 1
    test = max(int(round(HELD_OUT_FRACTION * length)), span)
    train_end = length - test - int(round(GAP_S * GENERATOR_FPS))
    if train_end < span:
        return None
    return {"train": (0, train_end), "test": (length - test, length)}


def _placed(poses, seed, subject, action):
    """Poses turned by the sequence's seeded heading and moved to its centre, as the procedural motion."""
    style = action_style(seed, subject, action)
    poses = poses @ axis_rotation("y", style.heading_rad).T
    poses[..., [0, 2]] += style.centre_mm
    return poses


class ProtocolMotionSource:
    """The main set: action families performed by every subject (module docstring)."""

    def __init__(self, test_subjects, mirror=False, train_real_share=TRAIN_REAL_SHARE):
        if not 0.0 <= train_real_share <= 1.0:
            raise ValueError(f"train_real_share must be within 0..1, got {train_real_share}")
        self.test_subjects = tuple(test_subjects)
        self.mirror, self.train_real_share = mirror, train_real_share
        self.windows = _ClipWindows([name for clips, _ in ACTION_CLIPS.values() for name in clips])

    def describe(self):
        """What meta.json records: each action's family, the split of multi-cycle clips, the rules."""
        return {"name": f"{__name__}.{type(self).__name__}", "protocol": "Human3.6M: every subject performs "
                "every action; the test subjects other seeded draws of the procedural motion and held-out "
                "segments of multi-cycle captures",
                "actions": {action: {"procedural": "pose_formats.synthetic.motions", "clips": list(clips), "why": why}
                            for action, (clips, why) in ACTION_CLIPS.items()},
                "held_out": {"fraction": HELD_OUT_FRACTION, "gap_s": GAP_S},
                "train_real_share": self.train_real_share,
                "floor_rule": {"min_pelvis_above_lower_ankle_mm": MIN_PELVIS_MM,
                               "seated_actions": list(SEATED_ACTIONS), "seated_min_mm": MIN_PELVIS_SEATED_MM},
                "augmentation": {"mirror_share": 0.5 if self.mirror else 0.0,
                                 "vertical_rotation": "every sequence's seeded heading, uniform over 360 degrees"},
                "clips": {name: {"source": c.source, "licence": c.licence} for name, c in self.windows.sources.items()}}

    def choice(self, seed, subject, action, frames):
        """(clip name or None for the procedural motion, 'train' | 'test' | None: the part of a split clip)."""
        clips = ACTION_CLIPS.get(ACTIONS[action - 1], ((), ""))[0]
        rng = random_stream(seed, CLIP_STREAM, subject_number(subject), action)
        if subject in self.test_subjects:
            held_out = [name for name in clips if self._split(seed, subject, name, frames)]
            return (held_out[rng.integers(len(held_out))], "test") if held_out else (None, None)
        if not clips or rng.uniform() >= self.train_real_share:
            return None, None
        name = clips[rng.integers(len(clips))]
        return name, ("train" if self._split(seed, subject, name, frames) else None)

    def _split(self, seed, subject, name, frames):
        return split(len(self.windows.world(seed, subject, name)), frames)

    def __call__(self, seed, subject, action, frames):
        name, part = self.choice(seed, subject, action, frames)
        if name is None:
            poses = sequence_world_poses(seed, subject, action, frames)
        else:
            rng = random_stream(seed, CLIP_STREAM, subject_number(subject), action, 1)
            poses = _placed(self.windows.window(seed, subject, name, frames, part, min_pelvis_mm(action), rng),
                            seed, subject, action)
        if self.mirror and subject not in self.test_subjects and \
                random_stream(seed, CLIP_STREAM, subject_number(subject), action, 2).uniform() < 0.5:
            poses = mirrored(poses)
        return poses


class UnseenMotionSource:
    """The unseen-motion set: slot a (1..15, in the place of action a) is a clip of UNSEEN_SLOTS[a - 1]."""

    def __init__(self):
        self.windows = _ClipWindows([name for _, clips in UNSEEN_SLOTS for name in clips])

    def describe(self):
        return {"name": f"{__name__}.{type(self).__name__}",
                "slots": {str(a): {"motion": what, "clips": list(clips)}
                          for a, (what, clips) in enumerate(UNSEEN_SLOTS, 1)},
                "floor_rule": {"min_pelvis_above_lower_ankle_mm": MIN_PELVIS_MM},
                "clips": {name: {"source": c.source, "licence": c.licence} for name, c in self.windows.sources.items()}}

    def clip_name(self, seed, subject, slot):
        clips = UNSEEN_SLOTS[slot - 1][1]
        return clips[random_stream(seed, CLIP_STREAM, subject_number(subject), slot, 3).integers(len(clips))]

    def __call__(self, seed, subject, slot, frames):
        rng = random_stream(seed, CLIP_STREAM, subject_number(subject), slot, 4)
        name = self.clip_name(seed, subject, slot)
        return _placed(self.windows.window(seed, subject, name, frames, None, MIN_PELVIS_MM, rng), seed, subject, slot)
