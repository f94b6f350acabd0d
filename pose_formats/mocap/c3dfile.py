"""Vicon C3D marker files (read with the PyPI `c3d` package) to our 16 joints.

The two captures of Debian `dart-doc` (usr/share/doc/dart/data/c3d/) carry 53 markers, mm, y up, 120 Hz,
labelled '<subject>:<marker>'. A marker is missing in a frame where the file's residual is negative.
Gaps: a gap of at most MAX_FILLED_GAP_S inside the clip is filled by linear interpolation; a longer gap,
or one that touches the clip's first or last frame, cannot be, and the clip is cut to the longest
stretch of frames free of such gaps in every marker the joint map uses (docs/data.md lists the frames
kept). CLAV is absent for the whole of
nick_freeform_001.c3d, so the thorax is the centre of the four shoulder markers, not C7 + CLAV.

Joints are means of markers (C3D_JOINT_MAP): each joint with a lateral and a medial (or front and back)
marker is their midpoint, close to the joint centre; the ankle has only its lateral marker (LANK,
RANK, some 35 mm off the centre); the head is the top-of-head marker ARIEL; the hips are the hip joint
centres of Harrington et al. 2007 (csm.hip_joint_centres) from the front and back waist markers.
"""
import warnings

import numpy as np

from .clip import Clip, map_joints
from .csm import hip_joint_centres

MAX_FILLED_GAP_S = 0.5
C3D_JOINT_MAP = {
    "Pelvis": ("LHJC", "RHJC"), "RHip": ("RHJC",), "RKnee": ("RKNE", "RKNI"), "RAnkle": ("RANK",),
    "LHip": ("LHJC",), "LKnee": ("LKNE", "LKNI"), "LAnkle": ("LANK",),
    "Spine": ("T10", "STRN"), "Thorax": ("LFSH", "LBSH", "RFSH", "RBSH"), "Head": ("ARIEL",),
    "LShoulder": ("LFSH", "LBSH"), "LElbow": ("LELB", "LIEL"), "LWrist": ("LOWR", "LIWR"),
    "RShoulder": ("RFSH", "RBSH"), "RElbow": ("RELB", "RIEL"), "RWrist": ("ROWR", "RIWR"),
}
_PELVIS = ("LFWT", "RFWT", "LBWT", "RBWT")   # front and back waist markers as ASIS and PSIS


def parse_c3d(path):
    """(marker names without the '<subject>:' prefix, rate Hz, markers (T, M, 3) in file units with NaN
    where a marker is missing, the unit string)."""
    import c3d     # the PyPI package, pinned in requirements.txt
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            # It warns of parameters these marker-only files need not have (analog data, descriptions).
            warnings.simplefilter("ignore", UserWarning)
            reader = c3d.Reader(f)
            names = [label.strip().split(":")[-1] for label in reader.point_labels]
            frames = np.array([points for _, points, _ in reader.read_frames()], dtype=np.float64)
            rate, unit = float(reader.point_rate), reader.get("POINT:UNITS").string_value.strip()
    except (ValueError, AssertionError, OSError, AttributeError) as error:
        raise ValueError(f"{path}: not a readable C3D file: {error}") from None
    if frames.ndim != 3 or frames.shape[1:] != (len(names), 5) or rate <= 0:
        raise ValueError(f"{path}: expected frames of {len(names)} points x (x, y, z, residual, cameras)")
    markers = frames[..., :3]
    markers[frames[..., 3] < 0] = np.nan
    return names, rate, markers, unit


def gap_free_stretch(markers, max_gap):
    """(first, stop, filled markers): the longest run of frames in which no marker (T, M, 3) has a gap
    (NaN run) longer than max_gap frames or touching the run's ends, and the markers over that run with
    the shorter gaps filled linearly in time."""
    missing = np.isnan(markers[..., 0])
    unfillable = np.zeros(len(markers), bool)
    for m in range(markers.shape[1]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], missing[:, m].astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start > max_gap or start == 0 or stop == len(markers):
                unfillable[start:stop] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[1], unfillable.astype(int), [1]])))
    runs = list(zip(edges[::2], edges[1::2]))
    if not runs:
        raise ValueError("every frame lies in an unfillable marker gap")
    first, stop = max(runs, key=lambda run: run[1] - run[0])
    out = markers[first:stop].copy()
    frames = np.arange(len(out))
    for m in range(out.shape[1]):
        gap = np.isnan(out[:, m, 0])
        if gap.any():
            for axis in range(3):
                out[gap, m, axis] = np.interp(frames[gap], frames[~gap], out[~gap, m, axis])
    return first, stop, out


def read_c3d(path, name):
    """A Clip of our 16 joints from a C3D file (y up, mm), cut to its longest gap-free stretch (see the
    module docstring)."""
    names, rate, markers, unit = parse_c3d(path)
    if unit != "mm":
        raise ValueError(f"{path}: point unit {unit!r}, expected 'mm'")
    used = sorted({marker for markers_of in C3D_JOINT_MAP.values() for marker in markers_of} - {"LHJC", "RHJC"}
                  | set(_PELVIS))
    absent = [marker for marker in used if marker not in names]
    if absent:
        raise ValueError(f"{path}: no marker {', '.join(absent)}; has {', '.join(names)}")
    columns = [names.index(marker) for marker in used]
    try:
        _, _, filled = gap_free_stretch(markers[:, columns], round(MAX_FILLED_GAP_S * rate))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    left, right = hip_joint_centres(*(filled[:, used.index(n)] for n in _PELVIS))
    points = np.concatenate([filled, left[:, None], right[:, None]], axis=1)
    joints = map_joints(points, used + ["LHJC", "RHJC"], C3D_JOINT_MAP, path)
    return Clip(name, joints, np.arange(len(joints)) / rate, rate)
