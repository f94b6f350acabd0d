"""Forward kinematics of the 16-joint skeleton from joint angles (named as in motions.ANGLE_NAMES).

Body frame (before the heading): x = the subject's left, y = up, z = forward."""
import numpy as np

from ..rotations import axis_rotation
from ..skeleton import NUM_JOINTS, PARENTS


# Direction of each bone (parent -> joint) in the rest pose, body frame: standing, arms hanging.
_REST_DIRECTIONS = np.array([
    [0, 0, 0], [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0],
    [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [-1, 0, 0], [0, -1, 0], [0, -1, 0]],
    dtype=np.float64)
_MIRROR = np.diag([-1.0, 1.0, 1.0])   # left <-> right in the body frame


def _limb(angles, side):
    """Rotation of an upper limb (femur or upper arm) at its proximal joint, for the left side; the right
    side is its mirror image, so the same angles give a symmetric pose."""
    def limb_rotation(flex, abd, twist):
        r = axis_rotation("z", angles[f"{side}_{abd}"]) @ axis_rotation("x", -angles[f"{side}_{flex}"]) \
            @ axis_rotation("y", angles[f"{side}_{twist}"])
        return r if side == "l" else _MIRROR @ r @ _MIRROR
    return limb_rotation


def _trunk(angles, part):
    return axis_rotation("z", angles[f"{part}_side"]) @ axis_rotation("x", angles[f"{part}_flex"]) \
        @ axis_rotation("y", angles[f"{part}_twist"])


def forward_kinematics(bone_mm, angles, heading_rad):
    """Root-relative joint positions (T, 16, 3) in the world frame (mm).

    Each non-root joint j carries the rotation of the bone parent(j) -> j relative to the parent's frame;
    global(j) = global(parent(j)) @ local(j), and joint j = joint parent(j) + global(j) @ (length * rest)."""
    frames = len(heading_rad)
    local = np.broadcast_to(np.eye(3), (NUM_JOINTS, frames, 3, 3)).copy()
    local[0] = axis_rotation("y", heading_rad) @ axis_rotation("x", angles["pelvis_pitch"]) \
        @ axis_rotation("z", angles["pelvis_roll"])
    for side, knee, ankle, elbow, wrist in (("l", 5, 6, 11, 12), ("r", 2, 3, 14, 15)):
        limb = _limb(angles, side)
        local[knee] = limb("hip_flex", "hip_abd", "hip_twist")
        local[ankle] = axis_rotation("x", angles[f"{side}_knee_flex"])     # knee flexion swings the shank back
        local[elbow] = limb("shoulder_flex", "shoulder_abd", "shoulder_twist")
        local[wrist] = axis_rotation("x", -angles[f"{side}_elbow_flex"])   # elbow flexion brings the forearm forward
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
