"""Vicon CSM marker files ($Order marker names, $Rate, $Points rows 'frame x y z x y z ...', millimetres,
z up) to our 16 joints.

Joints are means of markers (CSM_JOINT_MAP) except the hips: hip joint centres by the regression of
Harrington et al. 2007 (J Biomech 40:595, "Prediction of the hip joint centre in adults, children, and
patients with cerebral palsy based on magnetic resonance imaging"), the form with pelvic width PW and
depth PD only, in a pelvis frame at the mid-ASIS point (x anterior, y superior, z lateral), mm:
    x = -0.24 PD - 9.9,   y = -0.30 PW - 10.9,   z = +-(0.33 PW + 7.3).
This marker set has front and back waist markers (LFWT, RFWT, LBWT, RBWT) where Plug-in Gait has ASIS and
PSIS markers; they stand in for them. PW and PD are the clip's means (the pelvis is rigid; skin markers
move). Knee, ankle, elbow and shoulder are the lateral surface markers themselves, some 30-60 mm from
the joint centres; the retargeting keeps only bone directions, which this tilts by a few degrees.
"""
import numpy as np

from .clip import Clip, is_number, map_joints
from .kinematics import Z_UP_TO_Y_UP

CSM_JOINT_MAP = {
    "Pelvis": ("LHJC", "RHJC"), "RHip": ("RHJC",), "RKnee": ("RKNE",), "RAnkle": ("RANK",),
    "LHip": ("LHJC",), "LKnee": ("LKNE",), "LAnkle": ("LANK",),
    "Spine": ("T10", "STRN"), "Thorax": ("C7", "CLAV"), "Head": ("LFHD", "RFHD", "LBHD", "RBHD"),
    "LShoulder": ("LSHO",), "LElbow": ("LELB",), "LWrist": ("LWRA", "LWRB"),
    "RShoulder": ("RSHO",), "RElbow": ("RELB",), "RWrist": ("RWRA", "RWRB"),
}


def parse_csm(text, where):
    """(marker names, rate Hz, markers (T, M, 3) in mm as in the file); errors name `where` and the line."""
    lines = text.splitlines()
    names, rate, rows = None, None, []
    number = 0
    while number < len(lines):
        line = lines[number].strip()
        number += 1
        if line.startswith("$Rate"):
            try:
                rate = float(line.split()[1])
            except (IndexError, ValueError):
                raise ValueError(f"{where}:{number}: $Rate needs a number, got {line!r}") from None
        elif line == "$Order":
            names = lines[number].split()
            number += 1
        elif line == "$Points":
            if names is None:
                raise ValueError(f"{where}:{number}: $Points before $Order")
            for offset, row in enumerate(lines[number:], number + 1):
                if not row.strip():
                    continue
                values = row.split()
                if len(values) != 1 + 3 * len(names):
                    raise ValueError(f"{where}:{offset}: {len(values)} values, expected a frame number and "
                                     f"3 x {len(names)} marker coordinates")
                try:
                    rows.append([float(v) for v in values[1:]])
                except ValueError:
                    bad = next(v for v in values[1:] if not is_number(v))
                    raise ValueError(f"{where}:{offset}: {bad!r} is not a coordinate (marker gaps are "
                                     "not filled)") from None
            break
    if names is None or rate is None or not rows:
        raise ValueError(f"{where}: needs $Order, $Rate and $Points with at least one frame")
    markers = np.array(rows).reshape(len(rows), len(names), 3)
    if not np.all(np.isfinite(markers)) or rate <= 0:
        raise ValueError(f"{where}: non-finite coordinates or a rate that is not positive ({rate})")
    return names, rate, markers


def hip_joint_centres(lasi, rasi, lpsi, rpsi):
    """Left and right hip joint centres (T, 3) by Harrington et al. 2007 (PW and PD form) from the
    pelvis markers (T, 3) each, in a z-up or y-up frame alike (the pelvis frame comes from the markers)."""
    mid_asis, mid_psis = (lasi + rasi) / 2, (lpsi + rpsi) / 2
    width = np.linalg.norm(rasi - lasi, axis=-1).mean()
    depth = np.linalg.norm(mid_asis - mid_psis, axis=-1).mean()
    right = _unit(rasi - lasi)
    back_to_front = mid_asis - mid_psis
    anterior = _unit(back_to_front - np.sum(back_to_front * right, -1, keepdims=True) * right)
    superior = np.cross(right, anterior)    # x anterior, y superior, z right: y = z x x
    centre = mid_asis + (-0.24 * depth - 9.9) * anterior + (-0.30 * width - 10.9) * superior
    lateral = (0.33 * width + 7.3) * right
    return centre - lateral, centre + lateral


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def read_csm(path, name, first_frame=0):
    """A Clip of our 16 joints from a CSM file, in the generator's world axes (y up); first_frame skips
    leading frames (e.g. where a marker is known to be off)."""
    with open(path) as f:
        names, rate, markers = parse_csm(f.read(), path)
    markers = markers[first_frame:]
    if not len(markers):
        raise ValueError(f"{path}: no frames left after skipping {first_frame}")
    index = {n: i for i, n in enumerate(names)}
    pelvis = ("LFWT", "RFWT", "LBWT", "RBWT")
    missing = [n for n in pelvis if n not in index]
    if missing:
        raise ValueError(f"{path}: no pelvis marker {', '.join(missing)} for the hip joint centres")
    left, right = hip_joint_centres(*(markers[:, index[n]] for n in pelvis))
    points = np.concatenate([markers, left[:, None], right[:, None]], axis=1) @ Z_UP_TO_Y_UP.T
    joints = map_joints(points, list(names) + ["LHJC", "RHJC"], CSM_JOINT_MAP, path)
    return Clip(name, joints, np.arange(len(joints)) / rate, rate)
