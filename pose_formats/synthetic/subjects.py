"""Synthetic subjects: names S<n>, seeded bone lengths, and the random streams every draw comes from.

Every random draw comes from a generator keyed by (seed, what, subject, action, camera), so a subject's
motion does not depend on which other subjects or cameras are generated."""
import re

import numpy as np

from ..skeleton import BONE_MM, LEFT_RIGHT_PAIRS, NUM_JOINTS

# Keys that separate the random streams (see random_stream).
SUBJECT_STREAM, STYLE_STREAM, SCENE_STREAM, CLIP_STREAM = 1, 2, 3, 4


def subject_number(subject):
    match = re.fullmatch(r"S(\d+)", subject)
    if not match:
        raise ValueError(f"subject names look like 'S9', got {subject!r}")
    return int(match.group(1))


def random_stream(seed, stream, *keys):
    """The generator of one stream (a *_STREAM key) for the given subject, action, camera numbers."""
    return np.random.default_rng([seed, stream, *keys])


def subject_bone_lengths(seed, subject):
    """Bone lengths (16,) in mm, indexed by child joint: a body scale within ±6% and a per-bone factor
    within ±2% (so within ±8% of the mean), the same on the left and the right."""
    rng = random_stream(seed, SUBJECT_STREAM, subject_number(subject))
    scale = rng.uniform(0.94, 1.06)
    per_bone = rng.uniform(-0.02, 0.02, NUM_JOINTS)
    for first, second in LEFT_RIGHT_PAIRS:
        per_bone[second] = per_bone[first]
    return BONE_MM * scale * (1 + per_bone)
