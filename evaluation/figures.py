"""Pictures of one action's frames: the 2D estimate on the image, and each method's 3D pose over the
ground truth."""
import os

import cv2
import numpy as np

from pose_formats import draw
from pose_formats.atomic import atomic_write
from pose_formats.per_action import result_path
from pose_formats.results import read_result_csv
from pose_formats.skeleton import DIM_2D

from .metrics import mpjpe

PANEL = 320


def _frame_panel_2d(image_root, gt, pose_2d, index):
    """The frame image (or a blank one) with the ground-truth 2D pose (grey) and the estimate."""
    path = os.path.join(image_root, gt.images[index])
    image = cv2.imread(path) if os.path.exists(path) else None
    if image is None:
        image = draw.blank(PANEL, PANEL)
    size = np.array([image.shape[1], image.shape[0]], dtype=np.float64)
    draw.draw_skeleton_2d(image, gt.pose_2d[index].reshape(-1, 2) * size, draw.GT_COLOR, thickness=1)
    if pose_2d is not None:
        draw.draw_skeleton_2d(image, pose_2d[index].reshape(-1, 2) * size, thickness=2)
    panel = draw.fit(image, PANEL)
    return draw.label(panel, f"frame {index + 1}" + ("" if pose_2d is None else ": 2D estimate, GT grey"))


def action_figure(results_dir, gt, gt_mm, poses, action, image_root, n_frames):
    """Rows of frames: the 2D pose on the frame, then each method's 3D pose over the GT (grey)."""
    path_2d = result_path(results_dir, action, "2d_norm")
    pose_2d = read_result_csv(path_2d, DIM_2D)[1] if os.path.exists(path_2d) else None
    if pose_2d is not None and len(pose_2d) != len(gt_mm):
        raise ValueError(f"{path_2d} has {len(pose_2d)} frames but {gt.path} has {len(gt_mm)}")
    frames = np.unique(np.linspace(0, len(gt_mm) - 1, n_frames).round().astype(int))
    rows = []
    for i in frames:
        extent = max(float(np.abs(p[i].reshape(-1, 3) - p[i][:3]).max()) for p in [gt_mm, *poses.values()]) * 1.1
        row = [_frame_panel_2d(image_root, gt, pose_2d, i)]
        for method, predicted in poses.items():
            error = mpjpe(predicted[i:i + 1], gt_mm[i:i + 1])
            row.append(draw.render_poses_3d([(gt_mm[i], draw.GT_COLOR), (predicted[i], None)], size=PANEL,
                                            extent_mm=extent, title=f"{method}: {error:.1f} mm"))
        rows.append(row)
    return draw.grid(rows)


def write_png(path, image):
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    with atomic_write(path, "wb") as f:
        f.write(encoded.tobytes())
