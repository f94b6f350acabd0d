"""Rotation matrices shared by the synthetic generator and the motion-capture readers."""
import numpy as np


def axis_rotation(axis, angle_rad):
    """Right-handed rotation matrices (..., 3, 3) about 'x', 'y' or 'z' by angle_rad (...)."""
    angle_rad = np.asarray(angle_rad, dtype=np.float64)
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    k = 3 - i - j
    r = np.zeros(angle_rad.shape + (3, 3))
    r[..., k, k] = 1.0
    r[..., i, i] = c
    r[..., j, j] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    return r
