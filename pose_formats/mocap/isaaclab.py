"""Isaac Lab's humanoid AMP motions (isaaclab_tasks/contrib/humanoid_amp/motions/humanoid_*.npz) to our
16 joints.

A motion file is a NumPy archive (its README.md beside it): `fps`, `body_names` (15), `body_positions`
(T, 15, 3) in metres, z up, and `body_rotations` (T, 15, 4) as w, x, y, z quaternions in the world
frame. The character is DeepMimic's humanoid (mocap.deepmimic) in MuJoCo form: a body's position is
its joint's, so the torso body is the chest joint and the head body the neck joint. There is no head
point; as for DeepMimic the head is the centre of the head's collision sphere, HEAD_SPHERE_M along the
head body's z axis (humanoid.urdf's neck collision origin, 0.7 x the 0.25 scale).
"""
import io

import numpy as np

from .clip import Clip, map_joints
from .kinematics import Z_UP_TO_Y_UP, quaternion_matrix

HEAD_SPHERE_M = 0.175
ISAACLAB_JOINT_MAP = {
    "Pelvis": ("pelvis",), "RHip": ("right_thigh",), "RKnee": ("right_shin",), "RAnkle": ("right_foot",),
    "LHip": ("left_thigh",), "LKnee": ("left_shin",), "LAnkle": ("left_foot",),
    "Spine": ("torso",), "Thorax": ("head",), "Head": ("head_centre",),
    "LShoulder": ("left_upper_arm",), "LElbow": ("left_lower_arm",), "LWrist": ("left_hand",),
    "RShoulder": ("right_upper_arm",), "RElbow": ("right_lower_arm",), "RWrist": ("right_hand",),
}


def read_isaaclab(data, name, where):
    """A Clip of our 16 joints (mm, y up) from the bytes of a humanoid AMP .npz; errors name `where`."""
    try:
        archive = np.load(io.BytesIO(data))
        fps = float(archive["fps"])
        names = [str(n) for n in archive["body_names"]]
        positions = np.asarray(archive["body_positions"], dtype=np.float64)
        rotations = np.asarray(archive["body_rotations"], dtype=np.float64)
    except (ValueError, KeyError, OSError) as error:
        raise ValueError(f"{where}: not a humanoid AMP motion archive: {error}") from None
    bodies = len(names)
    if (positions.shape[1:] != (bodies, 3) or rotations.shape != positions.shape[:2] + (4,) or len(positions) < 2
            or fps <= 0 or not (np.all(np.isfinite(positions)) and np.all(np.isfinite(rotations)))):
        raise ValueError(f"{where}: body_positions {positions.shape} and body_rotations {rotations.shape} do not "
                         f"fit {bodies} bodies, or fps {fps} / values are not finite")
    if "head" not in names:
        raise ValueError(f"{where}: no body 'head' (needed for the head point); has {', '.join(names)}")
    head = names.index("head")
    centre = positions[:, head] + quaternion_matrix(rotations[:, head])[..., 2] * HEAD_SPHERE_M
    points = np.concatenate([positions, centre[:, None]], axis=1) @ Z_UP_TO_Y_UP.T * 1000.0
    joints = map_joints(points, names + ["head_centre"], ISAACLAB_JOINT_MAP, where)
    return Clip(name, joints, np.arange(len(joints)) / fps, fps)
