"""Rotations and forward kinematics of a joint tree, shared by the BVH and DeepMimic readers, and the
z-up to y-up axis change of the z-up sources."""
import numpy as np

from ..rotations import axis_rotation

# z up -> y up, keeping the axes right-handed: (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def quaternion_matrix(wxyz):
    """Rotation matrices (..., 3, 3) of quaternions (..., 4) stored w, x, y, z (normalised here: the
    files carry 6 decimals, so their norms are 1 only to about 1e-6)."""
    q = np.asarray(wxyz, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def chain_positions(parents, offsets, local_rotations, root_positions):
    """World positions (T, J, 3) of a joint tree.

    parents (J,): parent index, -1 for the root, every parent before its children; offsets (J, 3): a
    joint's position in its parent's frame at rest; local_rotations (T, J, 3, 3): each joint's rotation
    relative to its parent's frame (the root's relative to the world); root_positions (T, 3).
    A joint sits at its parent's position plus the parent's world rotation applied to its offset."""
    frames, joints = local_rotations.shape[:2]
    world = np.empty_like(local_rotations)
    positions = np.empty((frames, joints, 3))
    for j, parent in enumerate(parents):
        if parent < 0:
            world[:, j] = local_rotations[:, j]
            positions[:, j] = root_positions + offsets[j]
        else:
            world[:, j] = world[:, parent] @ local_rotations[:, j]
            positions[:, j] = positions[:, parent] + world[:, parent] @ offsets[j]
    return positions
