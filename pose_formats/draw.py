"""Skeleton pictures with OpenCV (BGR uint8 images): 2D poses over frames and 3D poses seen from a
chosen direction. Replaces the released MATLAB visualisation."""
import math

import cv2
import numpy as np

from .skeleton import JOINTS, NUM_JOINTS, PARENTS

# One colour per bone (joint -> parent), BGR: right side red/orange, left side blue, centre green.
_RIGHT, _LEFT, _CENTRE = (40, 40, 220), (220, 120, 30), (60, 170, 60)
BONE_COLORS = tuple(_RIGHT if name.startswith("R") else _LEFT if name.startswith("L") else _CENTRE
                    for name in JOINTS)
GT_COLOR = (160, 160, 160)


def blank(height, width, value=40):
    return np.full((height, width, 3), value, dtype=np.uint8)


def draw_skeleton_2d(image, joints_px, color=None, thickness=2):
    """Draw a (16, 2) pose in pixel coordinates onto `image` in place; color None: per-bone colours."""
    joints_px = np.asarray(joints_px, dtype=np.float64).reshape(NUM_JOINTS, 2)
    points = [tuple(int(round(c)) for c in p) for p in joints_px]
    for j in range(NUM_JOINTS):
        if PARENTS[j] != j:
            cv2.line(image, points[j], points[PARENTS[j]], color or BONE_COLORS[j], thickness, cv2.LINE_AA)
    for j in range(NUM_JOINTS):
        cv2.circle(image, points[j], thickness + 1, color or BONE_COLORS[j], -1, cv2.LINE_AA)
    return image


def view_rotation(azimuth_deg, elevation_deg):
    """Rotation from camera coordinates (X right, Y down, Z forward) to a viewer turned by azimuth
    about the vertical axis and tilted by elevation."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    turn = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, math.cos(e), math.sin(e)], [0, -math.sin(e), math.cos(e)]])
    return tilt @ turn


def render_poses_3d(poses, size=320, azimuth_deg=30.0, elevation_deg=15.0, extent_mm=None, title=None):
    """Orthographic picture of several root-relative 3D poses (mm) in one frame of reference.

    poses: list of ((48,) or (16, 3) pose, colour or None for per-bone colours); extent_mm is the
    half-width of the viewed cube (None: fitted to the poses), so pictures to be compared can share it.
    """
    rotation = view_rotation(azimuth_deg, elevation_deg)
    joints = [np.asarray(p, dtype=np.float64).reshape(NUM_JOINTS, 3) for p, _ in poses]
    if extent_mm is None:
        extent_mm = max([1.0] + [float(np.abs(j - j[0]).max()) for j in joints]) * 1.1
    image = blank(size, size)
    pixels_per_mm = size / (2.0 * extent_mm)
    for j, (_, color) in zip(joints, poses):
        viewed = (j - j[0]) @ rotation.T
        draw_skeleton_2d(image, viewed[:, :2] * pixels_per_mm + size / 2.0, color, thickness=2)
    if title:
        label(image, title)
    return image


def label(image, text, row=0):
    """Write a line of text at the top left (row counts lines down)."""
    y = 16 + 18 * row
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(image, (2, y - h - 4), (8 + w, y + 4), (0, 0, 0), -1)
    cv2.putText(image, text, (5, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def fit(image, size):
    """A size × size copy of `image` (aspect kept, padded)."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    resized = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = blank(size, size)
    y, x = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    out[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return out


def grid(rows):
    """Stack a list of rows (lists of equally sized images) into one image."""
    return np.vstack([np.hstack(r) for r in rows])
