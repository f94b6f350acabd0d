"""The 16-joint Human3.6M skeleton (pose_formats/data/skeleton16.json, a copy of shared/data)."""
import os

import numpy as np

from .input_files import read_json

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

_SKELETON = read_json(os.path.join(DATA_DIR, "skeleton16.json"))

JOINTS = tuple(_SKELETON["joints"])
NUM_JOINTS = len(JOINTS)                                   # 16
PARENTS = np.array(_SKELETON["parent"], dtype=np.int64)    # root (0) is its own parent
BONE_MM = np.array(_SKELETON["bone_mm"], dtype=np.float64)
LEFT_RIGHT_PAIRS = tuple(tuple(p) for p in _SKELETON["left_right_pairs"])
ROBUST_JOINTS = tuple(_SKELETON["robust_joints"])          # pelvis, hips, shoulders
MASK_2D_JOINT = int(_SKELETON["mask_2d_joint"])            # spine: absent from 2D (MPII) data
ACTIONS = tuple(_SKELETON["actions"])                      # 15, action a is ACTIONS[a - 1]

DIM_2D = 2 * NUM_JOINTS    # 32
DIM_3D = 3 * NUM_JOINTS    # 48


def parent_entries(dim):
    """(16·dim,) int64: for each entry of a flat pose (dim coordinates per joint, in joint order), the
    entry of the same coordinate of its joint's parent. The one parent map that kernels and matrices
    are derived from."""
    return dim * np.repeat(PARENTS, dim) + np.tile(np.arange(dim), NUM_JOINTS)


def bone_matrix(dim):
    """B as a (16·dim, 16·dim) matrix: (z @ B)_e = z_parent(e) − z_e, the bone vectors of flat poses z."""
    size = NUM_JOINTS * dim
    b = -np.eye(size)
    b[parent_entries(dim), np.arange(size)] += 1.0
    return b
