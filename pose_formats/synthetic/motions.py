"""The sinusoid motion table: the 15 actions as joint-angle trajectories (sums of sinusoids) with a root
path, performed per subject with a seeded style and driven through forward kinematics.

`sequence_world_poses` is the default motion source of dataset.generate: any function
(seed, subject, action, frames) -> (frames, 16, 3) world joint positions (mm) at the kept frames can
take its place."""
from dataclasses import dataclass

import numpy as np

from ..labels import KEEP_EVERY
from ..skeleton import ACTIONS, BONE_MM
from .kinematics import forward_kinematics
from .subjects import STYLE_STREAM, random_stream, subject_bone_lengths, subject_number

FPS = 50                 # the generated video's frame rate
ANKLE_HEIGHT_MM = 80.0   # the ankle joint's height above the floor when the foot is down
LEG_LENGTH_MM = float(BONE_MM[2] + BONE_MM[3])


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
    rng = random_stream(seed, STYLE_STREAM, subject_number(subject), action)
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
