"""A clip on a subject: resampled to the generator's frame rate, then retargeted to the subject's bone
lengths, in the generator's world (mm, y up, floor at y = 0, centred on the capture area's origin).

Resampling comes first (linear in time on joint positions) so that the retargeting, which keeps only
each bone's direction, fixes the bone lengths exactly after it.
"""
import numpy as np

from ..skeleton import NUM_JOINTS, PARENTS

GENERATOR_FPS = 50.0
ANKLE_HEIGHT_MM = 80.0    # the lowest ankle's height above the floor, as the generator's standing pose
_LEG = (2, 3)             # RKnee, RAnkle: the bones (thigh, shank) ending at these joints form the leg


def resample(joints_mm, times_s, fps=GENERATOR_FPS):
    """(joints (K, J, 3), times (K,)) at times 0, 1/fps, ... up to the clip's last time (linear)."""
    times_s = np.asarray(times_s, dtype=np.float64)
    if times_s[0] != 0 or np.any(np.diff(times_s) <= 0):
        raise ValueError("clip times must start at 0 and increase")
    out_times = np.arange(int(np.floor(times_s[-1] * fps + 1e-9)) + 1) / fps
    flat = joints_mm.reshape(len(times_s), -1)
    out = np.stack([np.interp(out_times, times_s, column) for column in flat.T], axis=1)
    return out.reshape((len(out_times),) + joints_mm.shape[1:]), out_times


def bone_directions(joints_mm):
    """Unit vectors (T, 16, 3) from each joint's parent to it (zero for the root)."""
    bones = joints_mm - joints_mm[:, PARENTS]
    length = np.linalg.norm(bones[:, 1:], axis=-1)
    if np.any(length < 1e-6):
        frame, bone = np.argwhere(length < 1e-6)[0]
        raise ValueError(f"bone {bone + 1} has no length in frame {frame}: no direction to keep")
    directions = np.zeros_like(bones)
    directions[:, 1:] = bones[:, 1:] / length[..., None]
    return directions


def leg_length(joints_mm):
    """Mean thigh + shank length over frames and both legs (mm)."""
    bones = np.linalg.norm(joints_mm - joints_mm[:, PARENTS], axis=-1)
    return float(sum(bones[:, [j, j + 3]].mean() for j in _LEG))


def retarget(joints_mm, bone_mm, ankle_height_mm=ANKLE_HEIGHT_MM):
    """World poses (T, 16, 3) of a subject with bone lengths bone_mm (16,) moving as joints_mm (T, 16, 3):
    every bone keeps its direction and takes the subject's length; the pelvis path is scaled by the ratio
    of leg lengths (so strides and jumps fit the legs), centred horizontally on the origin, and lifted so
    that the lowest ankle of the clip is ankle_height_mm above the floor."""
    if joints_mm.ndim != 3 or joints_mm.shape[1:] != (NUM_JOINTS, 3) or np.shape(bone_mm) != (NUM_JOINTS,):
        raise ValueError(f"need joints (T, {NUM_JOINTS}, 3) and bone lengths ({NUM_JOINTS},), "
                         f"got {joints_mm.shape} and {np.shape(bone_mm)}")
    directions = bone_directions(joints_mm)
    relative = np.zeros_like(joints_mm)
    for j in range(1, NUM_JOINTS):
        relative[:, j] = relative[:, PARENTS[j]] + bone_mm[j] * directions[:, j]
    pelvis = joints_mm[:, 0] * (sum(bone_mm[j] for j in _LEG) / leg_length(joints_mm))
    pelvis[:, [0, 2]] -= pelvis[:, [0, 2]].mean(axis=0)
    world = relative + pelvis[:, None]
    world[..., 1] += ankle_height_mm - world[:, [3, 6], 1].min()
    return world


def clip_on_subject(clip, bone_mm, fps=GENERATOR_FPS):
    """(world poses (K, 16, 3) in mm, times (K,)) of `clip` performed by a subject with bone_mm."""
    joints, times = resample(clip.joints_mm, clip.times_s, fps)
    return retarget(joints, bone_mm), times
