"""A synthetic data set in the layout of Human3.6M's list files (SPEC sections 3 and 11).

Seeded subjects (bone lengths around skeleton.BONE_MM), 15 actions whose motions are joint-angle
trajectories (sums of sinusoids) driven through forward kinematics, a 4-camera pinhole rig, person-centred
square crops, rendered stick-figure images, and the list files the Caffe stages read.

Conventions. World: millimetres, y up, floor at y = 0. Body frame (before the heading): x = the subject's
left, y = up, z = forward. Camera: OpenCV (x right, y down, z forward), X_cam = R X_world + t, no lens
distortion. Every random draw comes from a generator keyed by (seed, what, subject, action, camera), so a
subject's motion does not depend on which other subjects or cameras are generated.
"""
import json
import multiprocessing
import os
import re
import shutil
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from .listfile import write_list_file
from .normalization import DEFAULT_MAX_MIN, MaxMin
from .render import render_sequence
from .skeleton import ACTIONS, BONE_MM, LEFT_RIGHT_PAIRS, MASK_2D_JOINT, NUM_JOINTS, PARENTS

FPS = 50                 # the generated video's frame rate
KEEP_EVERY = 5           # as the released data: every 5th video frame is kept
CLIP_LENGTH = 5          # frames per LSTM clip
P1_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
P1_TEST_SUBJECTS = ("S9", "S11")
MPII_CAMERA = 4          # the rig view the 2D-only list is rendered from
ANKLE_HEIGHT_MM = 80.0   # the ankle joint's height above the floor when the foot is down
LEG_LENGTH_MM = float(BONE_MM[2] + BONE_MM[3])

LIST_TRAIN = "16skel_train_2d3d_clip.txt"
LIST_TEST = "16skel_test_2d3d_clip.txt"
LIST_TRAIN_P3 = "16skel_train_2d3d_p3_clip.txt"
LIST_TEST_P3 = "16skel_test_2d3d_p3_clip.txt"
LIST_MPII = "mpii_2d_train.txt"
RAW_POSES = "raw_poses.npz"
META = "meta.json"

# Keys that separate the random streams (see _rng).
_SUBJECT_STREAM, _STYLE_STREAM, _SCENE_STREAM = 1, 2, 3


# ------------------------------------------------------------------------------------------ cameras

@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera; `rotation` and `translation` map world to camera coordinates (mm)."""
    id: int
    azimuth_deg: float
    height_mm: float
    distance_mm: float
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    rotation: np.ndarray
    translation: np.ndarray

    def to_camera(self, world_mm):
        return world_mm @ self.rotation.T + self.translation

    def project(self, camera_mm):
        """Pixel coordinates (..., 2) of camera-space points (..., 3)."""
        z = camera_mm[..., 2]
        return np.stack([self.fx * camera_mm[..., 0] / z + self.cx, self.fy * camera_mm[..., 1] / z + self.cy], -1)

    def to_json(self):
        d = {k: v for k, v in asdict(self).items() if k not in ("rotation", "translation")}
        d["rotation"] = self.rotation.tolist()
        d["translation_mm"] = self.translation.tolist()
        d["position_mm"] = (-self.rotation.T @ self.translation).tolist()
        return d


# Human3.6M-like: four views around the capture area at different heights; intrinsics close to H3.6M's.
_RIG = (  # azimuth (deg), height, distance (mm), fx, fy, cx, cy
    (35.0, 1600.0, 5000.0, 1145.0, 1143.8, 512.5, 515.5),
    (125.0, 1200.0, 5200.0, 1149.7, 1147.6, 508.8, 508.1),
    (215.0, 1850.0, 4900.0, 1149.1, 1148.8, 519.8, 501.4),
    (305.0, 1400.0, 5100.0, 1145.5, 1144.8, 515.0, 501.9),
)
_LOOK_AT_MM = np.array([0.0, 900.0, 0.0])
SENSOR_SIZE = 1000


def camera_rig():
    cameras = []
    for index, (azimuth, height, distance, fx, fy, cx, cy) in enumerate(_RIG, 1):
        a = np.radians(azimuth)
        position = np.array([distance * np.sin(a), height, distance * np.cos(a)])
        forward = _LOOK_AT_MM - position
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])
        cameras.append(Camera(index, azimuth, height, distance, fx, fy, cx, cy, SENSOR_SIZE, SENSOR_SIZE,
                              rotation, -rotation @ position))
    return tuple(cameras)


# ------------------------------------------------------------------------------------------ subjects

def subject_number(subject):
    match = re.fullmatch(r"S(\d+)", subject)
    if not match:
        raise ValueError(f"subject names look like 'S9', got {subject!r}")
    return int(match.group(1))


def _rng(seed, stream, *keys):
    return np.random.default_rng([seed, stream, *keys])


def subject_bone_lengths(seed, subject):
    """Bone lengths (16,) in mm, indexed by child joint: a body scale within ±6% and a per-bone factor
    within ±2% (so within ±8% of the mean), the same on the left and the right."""
    rng = _rng(seed, _SUBJECT_STREAM, subject_number(subject))
    scale = rng.uniform(0.94, 1.06)
    per_bone = rng.uniform(-0.02, 0.02, NUM_JOINTS)
    for first, second in LEFT_RIGHT_PAIRS:
        per_bone[second] = per_bone[first]
    return BONE_MM * scale * (1 + per_bone)


# ------------------------------------------------------------------------------------------ motions

ANGLE_NAMES = (
    "pelvis_pitch", "pelvis_roll",
    "spine_flex", "spine_side", "spine_twist", "thorax_flex", "thorax_side", "thorax_twist",
    "neck_flex", "neck_side", "neck_twist",
    *(f"{side}_{name}" for side in "lr" for name in (
        "hip_flex", "hip_abd", "hip_twist", "knee_flex",
        "shoulder_flex", "shoulder_abd", "shoulder_twist", "elbow_flex")),
)

# Relaxed standing; degrees. Flexion moves a limb forward, abduction away from the body midline.
_NEUTRAL = {"spine_flex": 2.0, "thorax_flex": 3.0, "neck_flex": 8.0,
            "l_hip_abd": 3.0, "r_hip_abd": 3.0, "l_knee_flex": 4.0, "r_knee_flex": 4.0,
            "l_shoulder_abd": 8.0, "r_shoulder_abd": 8.0, "l_elbow_flex": 12.0, "r_elbow_flex": 12.0}


@dataclass(frozen=True)
class Motion:
    """An action: angle -> (base deg, ((amplitude deg, Hz, phase rad), ...)), and how the root moves:
    'stand' (sway around a spot, heading oscillating) or 'circle' (walk around the capture area)."""
    angles: dict
    path: str = "stand"
    sway_mm: float = 100.0
    yaw_deg: float = 20.0
    yaw_hz: float = 0.05
    radius_mm: float = 1200.0
    direction: int = 1
    speed_mm_s: float = 0.0


def _both(name, base, *waves, right_phase=0.0):
    """The same spec on both sides, the right side's waves shifted by right_phase."""
    return {f"l_{name}": (base, waves),
            f"r_{name}": (base, tuple((a, hz, phase + right_phase) for a, hz, phase in waves))}


def _gait(hz, hip, knee, arm):
    """Walking: legs in antiphase, the knee flexing most in swing (ahead of the hip), arms against the legs."""
    return {**_both("hip_flex", 8.0, (hip, hz, 0.0), right_phase=np.pi),
            **_both("knee_flex", knee + 3.0, (knee, hz, 1.0), right_phase=np.pi),
            **_both("shoulder_flex", 4.0, (arm, hz, np.pi), right_phase=np.pi),
            **_both("elbow_flex", 18.0, (arm * 0.5, hz, np.pi), right_phase=np.pi),
            "spine_twist": (0.0, ((5.0, hz, 0.0),)), "pelvis_pitch": (4.0, ()),
            "spine_side": (0.0, ((2.0, hz, 0.5),))}


def _walk(hz, hip, knee, arm, radius_mm, direction, extra):
    # Speed from the step: two steps of about 2 L sin(hip amplitude) per gait cycle.
    speed = 4.0 * LEG_LENGTH_MM * np.sin(np.radians(hip)) * hz
    return Motion({**_gait(hz, hip, knee, arm), **extra}, path="circle", radius_mm=radius_mm,
                  direction=direction, speed_mm_s=speed)


ACTION_MOTIONS = {
    "Directions": Motion({  # pointing with the right arm, looking and turning around
        "r_shoulder_flex": (55.0, ((30.0, 0.22, 0.0),)), "r_shoulder_abd": (25.0, ((15.0, 0.22, 1.2),)),
        "r_elbow_flex": (15.0, ((10.0, 0.22, 2.0),)),
        "l_shoulder_flex": (10.0, ((8.0, 0.15, 0.0),)), "l_elbow_flex": (20.0, ()),
        "neck_twist": (0.0, ((20.0, 0.22, 0.5),)), "thorax_twist": (0.0, ((10.0, 0.1, 0.0),)),
        "spine_side": (0.0, ((4.0, 0.15, 0.0),))}, sway_mm=150.0, yaw_deg=40.0, yaw_hz=0.08),
    "Discussion": Motion({  # both forearms gesturing out of phase, nodding
        **_both("shoulder_flex", 30.0, (15.0, 0.6, 0.0), right_phase=2.0),
        **_both("shoulder_abd", 15.0, (10.0, 0.45, 1.0), right_phase=1.3),
        **_both("elbow_flex", 75.0, (25.0, 0.7, 0.5), right_phase=2.5),
        "neck_flex": (8.0, ((8.0, 0.9, 0.0),)), "neck_twist": (0.0, ((15.0, 0.3, 0.0),)),
        "thorax_twist": (0.0, ((8.0, 0.35, 0.0),))}, sway_mm=100.0, yaw_deg=25.0, yaw_hz=0.06),
    "Eating": Motion({  # seated, the right hand going to the mouth and back
        **_both("hip_flex", 88.0, (3.0, 0.1, 0.0)), **_both("hip_abd", 8.0),
        **_both("knee_flex", 88.0, (4.0, 0.12, 0.0), right_phase=1.0),
        "spine_flex": (12.0, ((4.0, 0.3, 0.0),)), "thorax_flex": (6.0, ()),
        "r_shoulder_flex": (35.0, ((20.0, 0.3, 0.0),)), "r_shoulder_abd": (15.0, ()),
        "r_shoulder_twist": (-30.0, ()), "r_elbow_flex": (95.0, ((45.0, 0.3, 0.0),)),
        "l_shoulder_flex": (25.0, ()), "l_elbow_flex": (85.0, ((10.0, 0.2, 0.0),)),
        "neck_flex": (15.0, ((8.0, 0.3, 0.0),))}, sway_mm=20.0, yaw_deg=10.0, yaw_hz=0.05),
    "Greeting": Motion({  # waving with the raised right arm, reaching out with the left, a small bow
        "r_shoulder_abd": (95.0, ((10.0, 0.25, 0.0),)), "r_shoulder_flex": (25.0, ()),
        "r_shoulder_twist": (70.0, ()), "r_elbow_flex": (70.0, ((35.0, 1.6, 0.0),)),
        "l_shoulder_flex": (35.0, ((20.0, 0.25, 1.0),)), "l_elbow_flex": (35.0, ((15.0, 0.25, 0.0),)),
        "spine_flex": (8.0, ((10.0, 0.25, 2.0),)), "neck_flex": (5.0, ((10.0, 0.25, 2.0),)),
        "l_hip_flex": (3.0, ((8.0, 0.25, 0.0),)), "l_knee_flex": (8.0, ((8.0, 0.25, 1.0),))},
        sway_mm=250.0, yaw_deg=30.0, yaw_hz=0.1),
    "Phoning": Motion({  # right hand held at the ear, pacing, the free arm gesturing
        "r_shoulder_flex": (60.0, ((4.0, 0.2, 0.0),)), "r_shoulder_abd": (30.0, ()),
        "r_elbow_flex": (150.0, ((4.0, 0.2, 1.0),)),
        "l_shoulder_flex": (10.0, ((12.0, 0.5, 0.0),)), "l_elbow_flex": (40.0, ((25.0, 0.5, 0.5),)),
        "neck_side": (-10.0, ()), "neck_flex": (10.0, ()),
        **_both("hip_flex", 2.0, (7.0, 0.55, 0.0), right_phase=np.pi),
        **_both("knee_flex", 10.0, (8.0, 0.55, 1.0), right_phase=np.pi)},
        sway_mm=250.0, yaw_deg=50.0, yaw_hz=0.07),
    "Photo": Motion({  # both hands up at the face holding a camera, crouching and scanning
        **_both("shoulder_flex", 60.0, (8.0, 0.3, 0.0)), **_both("shoulder_abd", 25.0),
        **_both("elbow_flex", 125.0, (5.0, 0.3, 0.0)),
        **_both("hip_flex", 15.0, (15.0, 0.18, 0.0)), **_both("knee_flex", 25.0, (25.0, 0.18, 0.0)),
        "spine_flex": (12.0, ((8.0, 0.18, 0.0),)), "neck_flex": (-5.0, ())},
        sway_mm=120.0, yaw_deg=45.0, yaw_hz=0.09),
    "Posing": Motion({  # slow changes between open-arm, hands-on-hips and leaning poses
        **_both("shoulder_abd", 50.0, (40.0, 0.12, 0.0), right_phase=2.0),
        **_both("elbow_flex", 60.0, (50.0, 0.12, 1.0), right_phase=2.0),
        **_both("shoulder_flex", 10.0, (20.0, 0.1, 0.0), right_phase=1.0),
        "spine_side": (0.0, ((12.0, 0.09, 0.0),)), "thorax_twist": (0.0, ((15.0, 0.11, 1.0),)),
        "l_hip_abd": (12.0, ((8.0, 0.1, 0.0),)), "r_hip_abd": (8.0, ()),
        "l_knee_flex": (10.0, ((10.0, 0.1, 0.0),)), "neck_twist": (0.0, ((25.0, 0.1, 0.0),))},
        sway_mm=60.0, yaw_deg=35.0, yaw_hz=0.05),
    "Purchases": Motion({  # bending forward and reaching out with both hands
        "spine_flex": (25.0, ((20.0, 0.2, 0.0),)), "thorax_flex": (10.0, ((8.0, 0.2, 0.0),)),
        **_both("shoulder_flex", 45.0, (30.0, 0.2, 0.0), right_phase=0.8),
        **_both("elbow_flex", 35.0, (20.0, 0.4, 0.0), right_phase=0.8),
        **_both("hip_flex", 10.0, (10.0, 0.2, 0.0)), **_both("knee_flex", 15.0, (12.0, 0.2, 0.0)),
        "neck_flex": (15.0, ((10.0, 0.2, 0.0),))}, sway_mm=200.0, yaw_deg=40.0, yaw_hz=0.08),
    "Sitting": Motion({  # seated, leaning back, hands in the lap, legs shifting
        **_both("hip_flex", 95.0, (5.0, 0.08, 0.0)), **_both("hip_abd", 10.0, (6.0, 0.1, 0.0)),
        "l_knee_flex": (80.0, ((20.0, 0.11, 0.0),)), "r_knee_flex": (95.0, ((15.0, 0.09, 1.5),)),
        "spine_flex": (-8.0, ((12.0, 0.12, 0.0),)), "thorax_flex": (4.0, ()),
        "thorax_twist": (0.0, ((10.0, 0.15, 0.0),)),
        **_both("shoulder_flex", 20.0, (8.0, 0.1, 0.0)), **_both("elbow_flex", 65.0, (12.0, 0.13, 0.0)),
        "neck_flex": (5.0, ((10.0, 0.15, 0.0),)), "neck_twist": (0.0, ((20.0, 0.12, 0.0),))},
        sway_mm=15.0, yaw_deg=12.0, yaw_hz=0.04),
    "SittingDown": Motion({  # going down to the floor and up again, leaning forward on the way down
        **_both("hip_flex", 60.0, (50.0, 0.12, 0.0)), **_both("knee_flex", 70.0, (62.0, 0.12, 0.0)),
        **_both("hip_abd", 10.0, (5.0, 0.12, 0.0)), "spine_flex": (15.0, ((15.0, 0.12, 0.0),)),
        **_both("shoulder_flex", 25.0, (25.0, 0.12, 0.0)), **_both("elbow_flex", 30.0, (20.0, 0.12, 0.0))},
        sway_mm=40.0, yaw_deg=20.0, yaw_hz=0.05),
    "Smoking": Motion({  # the right hand going slowly to the mouth, the left forearm across the waist
        "r_shoulder_flex": (25.0, ((25.0, 0.18, 0.0),)), "r_shoulder_abd": (15.0, ((5.0, 0.18, 0.0),)),
        "r_shoulder_twist": (-30.0, ()), "r_elbow_flex": (90.0, ((50.0, 0.18, 0.0),)),
        "l_shoulder_flex": (20.0, ()), "l_shoulder_abd": (5.0, ()), "l_shoulder_twist": (-40.0, ()),
        "l_elbow_flex": (95.0, ()),
        "spine_side": (0.0, ((5.0, 0.12, 0.0),)), "neck_flex": (5.0, ((8.0, 0.18, 0.0),)),
        "neck_twist": (0.0, ((15.0, 0.1, 0.0),)), "l_knee_flex": (6.0, ((5.0, 0.12, 0.0),))},
        sway_mm=150.0, yaw_deg=30.0, yaw_hz=0.06),
    "Waiting": Motion({  # hands behind the back, shifting weight from leg to leg, looking around
        **_both("shoulder_flex", -20.0, (5.0, 0.1, 0.0)), **_both("shoulder_abd", 15.0),
        **_both("elbow_flex", 50.0, (10.0, 0.1, 0.0)),
        **_both("knee_flex", 10.0, (8.0, 0.13, 0.0), right_phase=np.pi),
        **_both("hip_flex", 2.0, (4.0, 0.13, 0.0), right_phase=np.pi),
        "spine_side": (0.0, ((6.0, 0.13, 0.0),)),
        "neck_twist": (0.0, ((35.0, 0.07, 0.0),)), "neck_flex": (0.0, ((8.0, 0.1, 0.0),))},
        sway_mm=100.0, yaw_deg=25.0, yaw_hz=0.04),
    "WalkDog": _walk(0.75, 18.0, 27.0, 14.0, 950.0, -1, {  # the right hand holding a leash, looking down
        "r_shoulder_flex": (35.0, ((6.0, 0.4, 0.0),)), "r_shoulder_abd": (12.0, ()), "r_elbow_flex": (15.0, ()),
        "spine_flex": (10.0, ()), "neck_flex": (20.0, ((8.0, 0.3, 0.0),)),
        "neck_twist": (0.0, ((15.0, 0.25, 0.0),))}),
    "Walking": _walk(0.9, 22.0, 28.0, 16.0, 1000.0, 1, {}),
    "WalkTogether": _walk(0.8, 17.0, 24.0, 7.0, 1050.0, 1, {  # slower, head turned to a partner
        "neck_twist": (30.0, ((8.0, 0.2, 0.0),)), "thorax_twist": (10.0, ()),
        "l_shoulder_flex": (15.0, ()), "l_elbow_flex": (60.0, ((10.0, 0.5, 0.0),))}),
}
assert tuple(ACTION_MOTIONS) == ACTIONS
assert all(name in ANGLE_NAMES for m in ACTION_MOTIONS.values() for name in m.angles)


@dataclass(frozen=True)
class Style:
    """How one subject performs one action: a start time, a tempo, a vigour and small posture offsets."""
    time_offset_s: float
    tempo: float
    vigour: float
    heading_rad: float
    centre_mm: tuple
    angle_offsets_deg: tuple


def action_style(seed, subject, action):
    rng = _rng(seed, _STYLE_STREAM, subject_number(subject), action)
    return Style(time_offset_s=rng.uniform(0, 100), tempo=rng.uniform(0.9, 1.1), vigour=rng.uniform(0.85, 1.15),
                 heading_rad=rng.uniform(0, 2 * np.pi), centre_mm=tuple(rng.uniform(-200, 200, 2)),
                 angle_offsets_deg=tuple(rng.normal(0, 2.0, len(ANGLE_NAMES))))


def joint_angles(motion, style, times_s):
    """Angle name -> (T,) radians at the given times."""
    angles = {}
    for name, offset in zip(ANGLE_NAMES, style.angle_offsets_deg):
        base, waves = motion.angles.get(name, (_NEUTRAL.get(name, 0.0), ()))
        value = np.full(len(times_s), base + offset)
        for amplitude, hz, phase in waves:
            value += style.vigour * amplitude * np.sin(2 * np.pi * hz * style.tempo * times_s + phase)
        if name.endswith(("knee_flex", "elbow_flex")):
            value = np.clip(value, 0.0, 160.0)   # no hyper-extension
        angles[name] = np.radians(value)
    return angles


# ------------------------------------------------------------------------------------------ kinematics

# Direction of each bone (parent -> joint) in the rest pose, body frame: standing, arms hanging.
_REST_DIRECTIONS = np.array([
    [0, 0, 0], [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0],
    [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [-1, 0, 0], [0, -1, 0], [0, -1, 0]],
    dtype=np.float64)
_MIRROR = np.diag([-1.0, 1.0, 1.0])   # left <-> right in the body frame


def _rotation(axis, angle):
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros(np.shape(angle) + (3, 3))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    k = 3 - i - j
    r[..., k, k] = 1
    r[..., i, i] = c
    r[..., j, j] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    return r


def _limb(angles, side):
    """Rotation of an upper limb (femur or upper arm) at its proximal joint, for the left side; the right
    side is its mirror image, so the same angles give a symmetric pose."""
    def limb_rotation(flex, abd, twist):
        r = _rotation("z", angles[f"{side}_{abd}"]) @ _rotation("x", -angles[f"{side}_{flex}"]) \
            @ _rotation("y", angles[f"{side}_{twist}"])
        return r if side == "l" else _MIRROR @ r @ _MIRROR
    return limb_rotation


def _trunk(angles, part):
    return _rotation("z", angles[f"{part}_side"]) @ _rotation("x", angles[f"{part}_flex"]) \
        @ _rotation("y", angles[f"{part}_twist"])


def forward_kinematics(bone_mm, angles, heading_rad):
    """Root-relative joint positions (T, 16, 3) in the world frame (mm).

    Each non-root joint j carries the rotation of the bone parent(j) -> j relative to the parent's frame;
    global(j) = global(parent(j)) @ local(j), and joint j = joint parent(j) + global(j) @ (length * rest)."""
    frames = len(heading_rad)
    local = np.broadcast_to(np.eye(3), (NUM_JOINTS, frames, 3, 3)).copy()
    local[0] = _rotation("y", heading_rad) @ _rotation("x", angles["pelvis_pitch"]) \
        @ _rotation("z", angles["pelvis_roll"])
    for side, knee, ankle, elbow, wrist in (("l", 5, 6, 11, 12), ("r", 2, 3, 14, 15)):
        limb = _limb(angles, side)
        local[knee] = limb("hip_flex", "hip_abd", "hip_twist")
        local[ankle] = _rotation("x", angles[f"{side}_knee_flex"])     # knee flexion swings the shank back
        local[elbow] = limb("shoulder_flex", "shoulder_abd", "shoulder_twist")
        local[wrist] = _rotation("x", -angles[f"{side}_elbow_flex"])   # elbow flexion brings the forearm forward
    local[7] = _trunk(angles, "spine")
    local[8] = _trunk(angles, "thorax")
    local[9] = _trunk(angles, "neck")
    world = np.empty_like(local)
    positions = np.zeros((frames, NUM_JOINTS, 3))
    world[0] = local[0]
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        world[j] = world[parent] @ local[j]
        positions[:, j] = positions[:, parent] + world[j] @ (bone_mm[j] * _REST_DIRECTIONS[j])
    return positions


def sequence_world_poses(seed, subject, action, frames):
    """World joint positions (frames, 16, 3) in mm of `subject` doing action (1-based) at the kept frames
    0, 5, 10, ... of a 50 fps video."""
    motion = ACTION_MOTIONS[ACTIONS[action - 1]]
    style = action_style(seed, subject, action)
    times = style.time_offset_s + np.arange(frames) * KEEP_EVERY / FPS
    angles = joint_angles(motion, style, times)
    if motion.path == "circle":
        rate = motion.direction * motion.speed_mm_s * style.tempo / motion.radius_mm
        around = style.heading_rad + rate * times
        x, z = motion.radius_mm * np.cos(around), motion.radius_mm * np.sin(around)
        heading = np.arctan2(-np.sin(around) * rate, np.cos(around) * rate)   # along the velocity
    else:
        sway = motion.sway_mm * style.vigour
        x = style.centre_mm[0] + sway * np.sin(2 * np.pi * 0.07 * times)
        z = style.centre_mm[1] + sway * np.sin(2 * np.pi * 0.05 * times + 1.0)
        heading = style.heading_rad + np.radians(motion.yaw_deg * style.vigour) * np.sin(
            2 * np.pi * motion.yaw_hz * style.tempo * times)
    relative = forward_kinematics(subject_bone_lengths(seed, subject), angles, heading)
    # The lower ankle rests on the floor.
    root_height = ANKLE_HEIGHT_MM - np.minimum(relative[:, 3, 1], relative[:, 6, 1])
    root = np.stack([x, root_height, z], -1)
    return relative + root[:, None, :]


# ------------------------------------------------------------------------------------------ labels

def crop_boxes(joints_px, margin):
    """Square boxes (T, 3) = (x0, y0, side) in pixels: centred on the 2D joints' bounding box, side the
    larger extent times `margin`."""
    low, high = joints_px.min(axis=1), joints_px.max(axis=1)
    centre = (low + high) / 2
    side = (high - low).max(axis=1) * margin
    return np.concatenate([centre - side[:, None] / 2, side[:, None]], axis=1)


def clip_markers(frames):
    """0 on the first frame of each clip of CLIP_LENGTH consecutive frames, 1 on the others."""
    return (np.arange(frames) % CLIP_LENGTH != 0).astype(np.float64)


def labels_2d3d(joints_cam_mm, joints_px, boxes, max_min):
    """List-file labels (T, 81): 2D normalised by the crop, root-relative 3D max-min normalised, marker."""
    frames = len(boxes)
    uv = (joints_px - boxes[:, None, :2]) / boxes[:, None, 2:3]
    relative = joints_cam_mm - joints_cam_mm[:, :1]
    return np.concatenate([uv.reshape(frames, -1), max_min.normalize(relative.reshape(frames, -1)),
                           clip_markers(frames)[:, None]], axis=1)


def labels_2d_only(labels):
    """MPII-style labels (T, 33) from 2D+3D labels: the 2D part with the spine written as (0, 0), as the
    2D data set has no such joint, and clip marker 0 everywhere: MPII images are single frames, and
    the 3D-to-2D stages run each through the LSTMs as a clip of its own."""
    out = np.concatenate([labels[:, :32], np.zeros((len(labels), 1), labels.dtype)], axis=1)
    out[:, 2 * MASK_2D_JOINT:2 * MASK_2D_JOINT + 2] = 0.0
    return out


# ------------------------------------------------------------------------------------------ data set

@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 0
    image_size: int = 96
    train_subjects: tuple = P1_TRAIN_SUBJECTS
    test_subjects: tuple = P1_TEST_SUBJECTS
    frames_per_action: int = 20      # kept frames per sequence; a multiple of CLIP_LENGTH
    cameras: int = 2                 # rig views rendered for the training subjects
    test_cameras: int = 1            # rig views rendered for the test subjects
    crop_margin: float = 1.3
    image_format: str = "jpg"
    p3_test_clip_stride: int = 2     # Protocol #3 test: every n-th clip of the last test subject
    max_min_path: str = DEFAULT_MAX_MIN

    def validate(self):
        if self.frames_per_action <= 0 or self.frames_per_action % CLIP_LENGTH:
            raise ValueError(f"frames_per_action must be a positive multiple of {CLIP_LENGTH}, "
                             f"got {self.frames_per_action}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16, got {self.image_size}")
        for name in ("cameras", "test_cameras"):
            if not 1 <= getattr(self, name) <= len(_RIG):
                raise ValueError(f"{name} must be 1..{len(_RIG)}, got {getattr(self, name)}")
        if not self.train_subjects or not self.test_subjects:
            raise ValueError("need at least one training and one test subject")
        subjects = list(self.train_subjects) + list(self.test_subjects)
        for subject in subjects:
            subject_number(subject)
        if len(set(subjects)) != len(subjects):
            raise ValueError(f"subjects must be distinct and not both train and test: {subjects}")
        if self.crop_margin < 1.0:
            raise ValueError(f"crop_margin must be at least 1, got {self.crop_margin}")
        if self.image_format not in ("jpg", "png"):
            raise ValueError(f"image_format must be 'jpg' or 'png', got {self.image_format!r}")
        if self.p3_test_clip_stride < 1:
            raise ValueError(f"p3_test_clip_stride must be at least 1, got {self.p3_test_clip_stride}")


def parse_subjects(text, pool):
    """'3' -> the first 3 of `pool`; 'S1,S5' -> those names."""
    text = text.strip()
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= len(pool):
            raise ValueError(f"subject count must be 1..{len(pool)} (or give names such as S2,S3), got {count}")
        return tuple(pool[:count])
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        subject_number(name)
    return names


@dataclass(frozen=True)
class _Sequence:
    subject: str
    action: int
    camera: int

    @property
    def folder(self):
        return f"images/{self.subject}/{ACTIONS[self.action - 1]}.cam{self.camera}"


def generate(out_dir, config=SyntheticConfig(), workers=None, progress=False, overwrite=False):
    """Write the data set to `out_dir` (built in a temporary folder beside it, renamed when complete).
    Returns the meta dictionary also written to meta.json."""
    config.validate()
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} exists (overwrite=True replaces it)")
    parent, name = os.path.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        meta = _build(staging, config, workers or os.cpu_count() or 1, progress)
        if os.path.exists(out_dir):
            old = os.path.join(parent, f".{name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(staging, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return meta


def _build(root, config, workers, progress):
    cameras = camera_rig()
    max_min = MaxMin(config.max_min_path)
    frames = config.frames_per_action
    actions = range(1, len(ACTIONS) + 1)

    def sequences(subjects, camera_ids):
        return [_Sequence(s, a, c) for s in subjects for a in actions for c in camera_ids]

    train = sequences(config.train_subjects, range(1, config.cameras + 1))
    test = sequences(config.test_subjects, range(1, config.test_cameras + 1))
    mpii = sequences(config.train_subjects, (MPII_CAMERA,))
    # Protocol #3: train on every subject but the last test one, test on a subsample of that one.
    train_p3 = train + [q for q in test if q.subject != config.test_subjects[-1]]
    test_p3 = [q for q in test if q.subject == config.test_subjects[-1]]
    rendered = list(dict.fromkeys(train + test + mpii))

    world = {(s, a): sequence_world_poses(config.seed, s, a, frames)
             for s in dict.fromkeys(q.subject for q in rendered) for a in actions}
    data = {}
    for q in rendered:
        camera = cameras[q.camera - 1]
        joints_cam = camera.to_camera(world[q.subject, q.action])
        joints_px = camera.project(joints_cam)
        boxes = crop_boxes(joints_px, config.crop_margin)
        data[q] = {"paths": [f"{q.folder}/{KEEP_EVERY * k:06d}.{config.image_format}" for k in range(frames)],
                   "joints_cam": joints_cam, "joints_px": joints_px, "boxes": boxes,
                   "labels": labels_2d3d(joints_cam, joints_px, boxes, max_min)}

    _render(root, config, rendered, data, cameras, workers, progress)

    def lines(seqs, keep=range(frames)):
        paths = [data[q]["paths"][k] for q in seqs for k in keep]
        labels = np.concatenate([data[q]["labels"][list(keep)] for q in seqs])
        return paths, labels

    p3_keep = np.concatenate([np.arange(start, start + CLIP_LENGTH)
                              for start in range(0, frames, CLIP_LENGTH * config.p3_test_clip_stride)])
    lists = {LIST_TRAIN: train, LIST_TEST: test, LIST_TRAIN_P3: train_p3}
    for list_name, seqs in lists.items():
        write_list_file(os.path.join(root, list_name), *lines(seqs))
    write_list_file(os.path.join(root, LIST_TEST_P3), *lines(test_p3, p3_keep))
    for a in actions:
        write_list_file(os.path.join(root, "gt", "test", f"test{a}.txt"),
                        *lines([q for q in test if q.action == a]))
        write_list_file(os.path.join(root, "gt", "test_p3", f"test{a}.txt"),
                        *lines([q for q in test_p3 if q.action == a], p3_keep))
    paths, labels = lines(mpii)
    write_list_file(os.path.join(root, LIST_MPII), paths, labels_2d_only(labels))
    shutil.copyfile(config.max_min_path, os.path.join(root, os.path.basename(config.max_min_path)))

    np.savez(os.path.join(root, RAW_POSES),
             image_path=np.array([p for q in rendered for p in data[q]["paths"]]),
             subject=np.array([q.subject for q in rendered for _ in range(frames)]),
             action=np.repeat([q.action for q in rendered], frames),
             camera=np.repeat([q.camera for q in rendered], frames),
             video_frame=np.tile(np.arange(frames) * KEEP_EVERY, len(rendered)),
             joints_cam_mm=np.concatenate([data[q]["joints_cam"] for q in rendered]),
             joints_px=np.concatenate([data[q]["joints_px"] for q in rendered]),
             crop_box=np.concatenate([data[q]["boxes"] for q in rendered]))

    subjects = list(config.train_subjects) + list(config.test_subjects)
    per_action = {name: {ACTIONS[a - 1]: n * sum(q.action == a for q in seqs) for a in actions}
                  for name, seqs, n in ((LIST_TRAIN, train, frames), (LIST_TEST, test, frames),
                                        (LIST_TRAIN_P3, train_p3, frames), (LIST_TEST_P3, test_p3, len(p3_keep)),
                                        (LIST_MPII, mpii, frames))}
    meta = {
        "generator": "pose_formats.synthetic",
        "config": {**asdict(config), "max_min_path": os.path.basename(config.max_min_path)},
        "fps": FPS, "keep_every": KEEP_EVERY, "clip_length": CLIP_LENGTH,
        "image_size": [config.image_size, config.image_size],
        "subjects": {"train": list(config.train_subjects), "test": list(config.test_subjects),
                     "train_p3": list(dict.fromkeys(q.subject for q in train_p3)),
                     "test_p3": [config.test_subjects[-1]]},
        "bone_mm": {s: subject_bone_lengths(config.seed, s).tolist() for s in subjects},
        "cameras": [c.to_json() for c in cameras],
        "cameras_used": {"train": list(range(1, config.cameras + 1)),
                         "test": list(range(1, config.test_cameras + 1)), "mpii_2d": [MPII_CAMERA]},
        "frames_per_action": per_action,
        "list_files": {LIST_TRAIN: "Protocol #1 training subjects", LIST_TEST: "Protocol #1 test subjects",
                       LIST_TRAIN_P3: "Protocol #3 training: the training subjects and all test subjects "
                                      "but the last",
                       LIST_TEST_P3: f"Protocol #3 test: the last test subject, every "
                                     f"{config.p3_test_clip_stride}th clip of {CLIP_LENGTH} frames "
                                     "(whole clips, so clip markers stay valid)",
                       "gt/test/test<a>.txt": f"the lines of {LIST_TEST} of action a, in order",
                       "gt/test_p3/test<a>.txt": f"the lines of {LIST_TEST_P3} of action a, in order",
                       LIST_MPII: f"2D only (32 values + clip marker): training subjects seen from camera "
                                  f"{MPII_CAMERA}; the spine (joint {MASK_2D_JOINT}) is absent and written as 0,0"},
        "conventions": {
            "world": "mm, y up, floor at y = 0",
            "camera": "OpenCV: x right, y down, z forward; X_cam = R X_world + t; no distortion",
            "crop": "square box (x0, y0, side) in sensor pixels centred on the 2D joints' bounding box, side = "
                    "larger extent x crop_margin; 2D label = (pixel - (x0, y0)) / side; image pixel i covers "
                    "[i, i + 1) so a label n lies at n x image_size",
            "image_file": "images/<subject>/<action>.cam<camera>/<50 fps video frame, 6 digits>.<format>",
            "raw_poses": f"{RAW_POSES}: per rendered frame joints_cam_mm (absolute camera space), joints_px "
                         "(sensor pixels), crop_box, keyed by image_path",
        },
    }
    with open(os.path.join(root, META), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return meta


def _render(root, config, rendered, data, cameras, workers, progress):
    jobs = []
    for q in rendered:
        d = data[q]
        boxes = d["boxes"]
        region = (boxes[:, 0].min(), boxes[:, 1].min(),
                  (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 2]).max())
        jobs.append({"seed": [config.seed, _SCENE_STREAM, subject_number(q.subject), q.action, q.camera],
                     "region": region, "boxes": boxes, "joints_px": d["joints_px"],
                     "depth_mm": d["joints_cam"][..., 2], "focal": cameras[q.camera - 1].fx,
                     "image_size": config.image_size, "paths": [os.path.join(root, p) for p in d["paths"]]})
    total = sum(len(job["paths"]) for job in jobs)
    with tqdm(total=total, unit="frame", desc="rendering", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                bar.update(render_sequence(job))
        else:
            with multiprocessing.Pool(workers) as pool:
                for count in pool.imap_unordered(render_sequence, jobs):
                    bar.update(count)
