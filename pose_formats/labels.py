"""List-file labels of (rendered or recorded) frames: person-centred square crops, normalised 2D and 3D, clip markers."""
import numpy as np

from .skeleton import MASK_2D_JOINT

CLIP_LENGTH = 5          # frames per LSTM clip
KEEP_EVERY = 5           # as the released data: every 5th video frame is kept


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
