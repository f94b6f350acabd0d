"""BVH motion files (Biovision hierarchy): parser, forward kinematics, and maps to our 16 joints.

A joint's local rotation is the product of its rotation channels' axis rotations in the order the
CHANNELS line lists them (e.g. 'Zrotation Yrotation Xrotation' gives Rz Ry Rx), in degrees; a joint sits
at its parent's position plus the parent's world rotation applied to its OFFSET; the root's position
channels add to its OFFSET. End Sites become points named '<parent>_end'. BVH files do not state their
unit: the caller gives millimetres per unit.
"""
from dataclasses import dataclass

import numpy as np

from .clip import Clip, is_number, map_joints
from .kinematics import axis_rotation, chain_positions

# CMU MoCap (cgspeed BVH conversion, 31 joints): lengths in the ASF unit of 1/0.45 inch.
CMU_MM_PER_UNIT = 25.4 / 0.45
# Our joint -> the source points whose mean it is. The CMU pelvis is the hip-joint midpoint (its Hips
# root sits ~0.1 m above the hips); the thorax is the base of the upper neck, just above the shoulders;
# the head is the top of the head.
CMU_JOINT_MAP = {
    "Pelvis": ("LeftUpLeg", "RightUpLeg"), "RHip": ("RightUpLeg",), "RKnee": ("RightLeg",),
    "RAnkle": ("RightFoot",), "LHip": ("LeftUpLeg",), "LKnee": ("LeftLeg",), "LAnkle": ("LeftFoot",),
    "Spine": ("Spine",), "Thorax": ("Neck1",), "Head": ("Head_end",),
    "LShoulder": ("LeftArm",), "LElbow": ("LeftForeArm",), "LWrist": ("LeftHand",),
    "RShoulder": ("RightArm",), "RElbow": ("RightForeArm",), "RWrist": ("RightHand",),
}
# assimp's Boxing_Toes.bvh (19 joints, centimetres): Hips is the hip-joint midpoint.
BOXING_JOINT_MAP = {
    "Pelvis": ("LeftHip", "RightHip"), "RHip": ("RightHip",), "RKnee": ("RightKnee",),
    "RAnkle": ("RightAnkle",), "LHip": ("LeftHip",), "LKnee": ("LeftKnee",), "LAnkle": ("LeftAnkle",),
    "Spine": ("Chest",), "Thorax": ("Neck",), "Head": ("Head_end",),
    "LShoulder": ("LeftShoulder",), "LElbow": ("LeftElbow",), "LWrist": ("LeftWrist",),
    "RShoulder": ("RightShoulder",), "RElbow": ("RightElbow",), "RWrist": ("RightWrist",),
}

_POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")


@dataclass(frozen=True, eq=False)
class BvhMotion:
    """names, parents (-1 for the root), offsets (J, 3) in file units, channels per joint, frame_time_s,
    values (T, total channels) as in the file."""
    names: tuple
    parents: tuple
    offsets: np.ndarray
    channels: tuple
    frame_time_s: float
    values: np.ndarray

    def positions(self, mm_per_unit):
        """World positions (T, J, 3) of every joint and end site, in millimetres."""
        frames, joints = len(self.values), len(self.names)
        rotations = np.broadcast_to(np.eye(3), (frames, joints, 3, 3)).copy()
        root = np.zeros((frames, 3))
        column = 0
        for j, channels in enumerate(self.channels):
            for name in channels:
                value = self.values[:, column]
                column += 1
                if name in _POSITION_CHANNELS:
                    root[:, _POSITION_CHANNELS.index(name)] = value
                else:
                    rotations[:, j] = rotations[:, j] @ axis_rotation(name[0].lower(), np.radians(value))
        return chain_positions(self.parents, self.offsets, rotations, root) * mm_per_unit


def parse_bvh(text, where, extra_frames_ok=False):
    """A BvhMotion from the text of a BVH file; errors name `where` and the line. extra_frames_ok reads
    the declared number of frames from a file that holds more whole frames than its 'Frames:' line says."""
    tokens = [(number, token) for number, line in enumerate(text.splitlines(), 1) for token in line.split()]
    position = 0

    def take(expected=None):
        nonlocal position
        if position >= len(tokens):
            raise ValueError(f"{where}: ends early" + (f", expected {expected!r}" if expected else ""))
        number, token = tokens[position]
        position += 1
        if expected is not None and token != expected:
            raise ValueError(f"{where}:{number}: expected {expected!r}, got {token!r}")
        return number, token

    def number_token(kind):
        line, token = take()
        try:
            return float(token)
        except ValueError:
            raise ValueError(f"{where}:{line}: {kind} must be a number, got {token!r}") from None

    names, parents, offsets, channels = [], [], [], []

    def joint(name, parent, end_site=False):
        index = len(names)
        names.append(name)
        parents.append(parent)
        take("{")
        take("OFFSET")
        offsets.append([number_token("OFFSET") for _ in range(3)])
        if end_site:
            channels.append(())
            take("}")
            return
        line, _ = take("CHANNELS")
        count = int(number_token("the channel count"))
        own = tuple(take()[1] for _ in range(count))
        for channel in own:
            if channel not in _POSITION_CHANNELS + _ROTATION_CHANNELS:
                raise ValueError(f"{where}:{line}: unknown channel {channel!r} of joint {name}")
            if channel in _POSITION_CHANNELS and parent >= 0:
                raise ValueError(f"{where}:{line}: joint {name} has position channels; only the root may")
        channels.append(own)
        while True:
            line, token = take()
            if token == "}":
                return
            if token == "JOINT":
                joint(take()[1], index)
            elif token == "End":
                take("Site")
                joint(f"{name}_end", index, end_site=True)
            else:
                raise ValueError(f"{where}:{line}: expected JOINT, End Site or '}}' in joint {name}, got {token!r}")

    take("HIERARCHY")
    take("ROOT")
    joint(take()[1], -1)
    take("MOTION")
    take("Frames:")
    frames = int(number_token("Frames"))
    take("Frame")
    take("Time:")
    frame_time = number_token("Frame Time")
    if frames < 1 or frame_time <= 0:
        raise ValueError(f"{where}: needs at least one frame and a positive frame time, got {frames}, {frame_time}")
    width = sum(len(c) for c in channels)
    rest = tokens[position:]
    if extra_frames_ok and len(rest) > frames * width and len(rest) % width == 0:
        rest = rest[:frames * width]
    if len(rest) != frames * width:
        raise ValueError(f"{where}: {len(rest)} motion values, expected {frames} frames x {width} channels")
    try:
        values = np.array([token for _, token in rest], dtype=np.float64).reshape(frames, width)
    except ValueError:
        bad = next((n, t) for n, t in rest if not is_number(t))
        raise ValueError(f"{where}:{bad[0]}: motion value {bad[1]!r} is not a number") from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where}: non-finite motion values")
    return BvhMotion(tuple(names), tuple(parents), np.array(offsets), tuple(channels), frame_time, values)


def read_bvh(path, name, joint_map, mm_per_unit, first_frame=0, extra_frames_ok=False):
    """A Clip of our 16 joints from a BVH file (y up, as BVH files are). first_frame skips leading
    frames, e.g. the calibration T-pose that opens a CMU file."""
    with open(path) as f:
        motion = parse_bvh(f.read(), path, extra_frames_ok)
    points = motion.positions(mm_per_unit)[first_frame:]
    if not len(points):
        raise ValueError(f"{path}: no frames left after skipping {first_frame}")
    joints = map_joints(points, motion.names, joint_map, path)
    return Clip(name, joints, np.arange(len(joints)) * motion.frame_time_s, 1.0 / motion.frame_time_s)
