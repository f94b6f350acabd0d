"""holosoma-retargeting's climbing captures (demo_data/climb/mocap_climb_seq_<n>/*_joint_positions_*.npy)
to our 16 joints.

A capture is a NumPy array (T, 53, 3) of joint positions in metres, z up, in the order of the package's
MOCAP_DEMO_JOINTS list (config_types/data_type.py, read from the same wheel by joint_names): a
Mixamo-named skeleton (Hips, Spine, Spine1, Neck, Head, Left/RightArm, ForeArm, Hand, UpLeg, Leg, Foot,
fingers and toes). The files carry no rate: the package's own evaluation takes every 4th frame for its
30 Hz retargeting (evaluation/eval_retargeting.py: `np.load(npy_file)[::4]`), so they are 120 Hz
(checked in tests/test_mocap_new.py against walking-pace speeds).
Joint map: the pelvis is the hip-joint midpoint (Hips lies above it), the spine Spine1, the thorax
Neck, the head Head (the skull base; the skeleton has no head-top end).
"""
import ast
import io

import numpy as np

from .clip import Clip, map_joints
from .kinematics import Z_UP_TO_Y_UP

HOLOSOMA_FPS = 120.0
HOLOSOMA_JOINT_MAP = {
    "Pelvis": ("LeftUpLeg", "RightUpLeg"), "RHip": ("RightUpLeg",), "RKnee": ("RightLeg",),
    "RAnkle": ("RightFoot",), "LHip": ("LeftUpLeg",), "LKnee": ("LeftLeg",), "LAnkle": ("LeftFoot",),
    "Spine": ("Spine1",), "Thorax": ("Neck",), "Head": ("Head",),
    "LShoulder": ("LeftArm",), "LElbow": ("LeftForeArm",), "LWrist": ("LeftHand",),
    "RShoulder": ("RightArm",), "RElbow": ("RightForeArm",), "RWrist": ("RightHand",),
}


def joint_names(source_text, where, variable="MOCAP_DEMO_JOINTS"):
    """The list of joint names assigned to `variable` in the package's data_type.py (its text)."""
    for node in ast.parse(source_text).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return [str(n) for n in ast.literal_eval(node.value)]
    raise ValueError(f"{where}: no list {variable}")


def read_holosoma(data, names, name, where):
    """A Clip of our 16 joints (mm, y up) from the bytes of a joint-position .npy and its joint names."""
    try:
        positions = np.load(io.BytesIO(data)).astype(np.float64)
    except (ValueError, OSError) as error:
        raise ValueError(f"{where}: not a NumPy array file: {error}") from None
    if positions.ndim != 3 or positions.shape[1:] != (len(names), 3) or not np.all(np.isfinite(positions)):
        raise ValueError(f"{where}: expected finite positions (T, {len(names)}, 3), got {positions.shape}")
    joints = map_joints(positions @ Z_UP_TO_Y_UP.T * 1000.0, names, HOLOSOMA_JOINT_MAP, where)
    return Clip(name, joints, np.arange(len(joints)) / HOLOSOMA_FPS, HOLOSOMA_FPS)
