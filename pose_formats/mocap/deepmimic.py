"""DeepMimic humanoid motions (pybullet_data/data/motions/humanoid3d_*.txt) to our 16 joints.

A motion file is JSON: {"Loop": ..., "Frames": [[...44 values...], ...]}. A frame is the duration until the
next frame (s; the last is 0), the root position (m, y up, the character facing +x with its right side
+z), the root rotation, then per joint in MOTION_JOINTS order a rotation relative to the parent's frame:
a quaternion (w, x, y, z) for a spherical joint, an angle (rad) about the URDF axis for a revolute one.
The skeleton is pybullet_data/humanoid/humanoid.urdf loaded with globalScaling=0.25, as pybullet's own
DeepMimic environment does (pybullet_envs/deep_mimic/env/humanoid_stable_pd.py): joint origins times
0.25 give the offsets (the chest 0.236 m above the root, knee-to-ankle 0.410 m). The head point is the
centre of the neck link's collision sphere.
"""
import json
import xml.etree.ElementTree as ET

import numpy as np

from .clip import Clip, map_joints
from .kinematics import axis_rotation, chain_positions, quaternion_matrix

URDF_SCALE = 0.25
MOTION_JOINTS = ("chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
                 "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow")
DEEPMIMIC_JOINT_MAP = {
    "Pelvis": ("root",), "RHip": ("right_hip",), "RKnee": ("right_knee",), "RAnkle": ("right_ankle",),
    "LHip": ("left_hip",), "LKnee": ("left_knee",), "LAnkle": ("left_ankle",),
    "Spine": ("chest",), "Thorax": ("neck",), "Head": ("head",),
    "LShoulder": ("left_shoulder",), "LElbow": ("left_elbow",), "LWrist": ("left_wrist",),
    "RShoulder": ("right_shoulder",), "RElbow": ("right_elbow",), "RWrist": ("right_wrist",),
}
_WIDTH = {"spherical": 4, "revolute": 1}


def _vector(element, attribute, where, default="0 0 0"):
    text = element.get(attribute, default) if element is not None else default
    try:
        vector = np.array([float(v) for v in text.split()])
    except ValueError:
        vector = np.zeros(0)
    if vector.shape != (3,):
        raise ValueError(f"{where}: {attribute}={text!r} is not three numbers")
    return vector


def parse_humanoid_urdf(text, where):
    """The point tree of the humanoid: (names, parents, offsets in m after the 0.25 scale, joint types,
    revolute axes as 'x' | 'y' | 'z'). The root is the URDF link 'root'; 'head' is added under 'neck'."""
    try:
        robot = ET.fromstring(text.rstrip("\x00"))     # pybullet 3.2.7's copy ends in a NUL byte
    except ET.ParseError as error:
        raise ValueError(f"{where}: not XML: {error}") from None
    names, parents, offsets, types, axes = ["root"], [-1], [np.zeros(3)], ["root"], [None]
    for joint in robot.iter("joint"):
        name, kind = joint.get("name"), joint.get("type")
        parent = joint.find("parent").get("link")
        if name == "root":
            continue            # base -> root, fixed at the origin: the motion's root pose is the root link's
        if parent not in names:
            raise ValueError(f"{where}: joint {name}'s parent link {parent!r} comes after it or is unknown")
        origin = joint.find("origin")
        if np.any(_vector(origin, "rpy", f"{where}: joint {name}")):
            raise ValueError(f"{where}: joint {name} has a rotated origin, which this reader does not handle")
        axis = None
        if kind == "revolute":
            direction = _vector(joint.find("axis"), "xyz", f"{where}: joint {name} axis")
            if sorted(np.abs(direction)) != [0, 0, 1] or direction.sum() != 1:
                raise ValueError(f"{where}: joint {name}'s axis {direction} is not +x, +y or +z")
            axis = "xyz"[int(np.argmax(direction))]
        elif kind not in ("spherical", "fixed"):
            raise ValueError(f"{where}: joint {name} has type {kind!r}; expected spherical, revolute or fixed")
        names.append(name)
        parents.append(names.index(parent))
        offsets.append(_vector(origin, "xyz", f"{where}: joint {name}") * URDF_SCALE)
        types.append(kind)
        axes.append(axis)
    neck_link = next((link for link in robot.iter("link") if link.get("name") == "neck"), None)
    if neck_link is None or neck_link.find("collision/origin") is None:
        raise ValueError(f"{where}: no neck link with a collision origin (the head point)")
    names.append("head")
    parents.append(names.index("neck"))
    offsets.append(_vector(neck_link.find("collision/origin"), "xyz", f"{where}: neck collision") * URDF_SCALE)
    types.append("fixed")
    axes.append(None)
    missing = [name for name in MOTION_JOINTS if name not in names]
    if missing:
        raise ValueError(f"{where}: no joint {', '.join(missing)}")
    return tuple(names), tuple(parents), np.array(offsets), tuple(types), tuple(axes)


def read_deepmimic(motion_text, urdf_text, name, motion_where, urdf_where):
    """A Clip of our 16 joints (mm, y up) from the texts of a motion file and humanoid.urdf."""
    names, parents, offsets, types, axes = parse_humanoid_urdf(urdf_text, urdf_where)
    try:
        frames = np.array(json.loads(motion_text)["Frames"], dtype=np.float64)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{motion_where}: not a DeepMimic motion (JSON with a list 'Frames'): {error}") from None
    width = 8 + sum(_WIDTH[types[names.index(joint)]] for joint in MOTION_JOINTS)
    if frames.ndim != 2 or frames.shape[1] != width or not np.all(np.isfinite(frames)):
        raise ValueError(f"{motion_where}: frames must be rows of {width} finite numbers, got shape {frames.shape}")
    durations = frames[:-1, 0]
    if len(frames) < 2 or np.any(durations <= 0):
        raise ValueError(f"{motion_where}: needs two or more frames, each but the last with a positive duration")
    rotations = np.broadcast_to(np.eye(3), (len(frames), len(names), 3, 3)).copy()
    rotations[:, 0] = quaternion_matrix(frames[:, 4:8])
    column = 8
    for joint in MOTION_JOINTS:
        j = names.index(joint)
        if types[j] == "spherical":
            rotations[:, j] = quaternion_matrix(frames[:, column:column + 4])
        else:
            rotations[:, j] = axis_rotation(axes[j], frames[:, column])
        column += _WIDTH[types[j]]
    points = chain_positions(parents, offsets, rotations, frames[:, 1:4]) * 1000.0
    joints = map_joints(points, names, DEEPMIMIC_JOINT_MAP, motion_where)
    times = np.concatenate([[0.0], np.cumsum(durations)])
    return Clip(name, joints, times, float(1.0 / np.median(durations)))
