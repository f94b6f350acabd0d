"""Evaluation over a results directory (tools/eval_h36m.py, SPEC section 10): MPJPE and P-MPJPE per
action and on average for the coarse prediction, the offline change branch and the online
correction, against the ground truth of the per-action test lists; a table (printed, CSV, JSON) and
pictures of 2D and 3D skeletons."""
import argparse
import json
import os
import sys

import cv2
import numpy as np

from pose_formats import draw
from pose_formats.atomic import atomic_write
from pose_formats.metrics import mpjpe, p_mpjpe
from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin
from pose_formats.results import read_result_csv
from pose_formats.skeleton import ACTIONS, DIM_2D, DIM_3D

from .data import parse_actions, read_test_list, result_path, test_list_path

# (name in the table, result file kind): un-normalised mm predictions
METHODS = (("coarse", "unnorm"), ("change", "change_unnorm"), ("online", "refined_unnorm"))
METRICS = ("mpjpe", "p_mpjpe")
PANEL = 320


def build_parser():
    p = argparse.ArgumentParser(
        prog="eval_h36m.py",
        description="MPJPE and P-MPJPE (mm) per action and on average for the coarse (result<a>_unnorm.csv), "
                    "offline change (result<a>_change_unnorm.csv) and online corrected "
                    "(result<a>_refined_unnorm.csv) poses, against the test lists; writes eval.csv, eval.json "
                    "and PNG pictures per action.")
    p.add_argument("results_dir", help="directory with the result CSVs")
    p.add_argument("--gt-dir", required=True, help="directory with the per-action test lists test<a>.txt")
    p.add_argument("--actions", default="1-15", help="actions to evaluate, e.g. 1-15 or 2,5 (default 1-15)")
    p.add_argument("--out-dir", help="where eval.csv, eval.json and figures/ go (default: results_dir)")
    p.add_argument("--max-min", default=DEFAULT_MAX_MIN, help="normalisation table (default: the released one)")
    p.add_argument("--image-root", default="", help="folder the test lists' image paths are relative to")
    p.add_argument("--figure-frames", type=int, default=3,
                   help="frames drawn per action, evenly spaced (default 3; 0: no pictures)")
    return p


def evaluate_action(results_dir, gt, action, max_min):
    """{method: {"mpjpe", "p_mpjpe", "path"}} for the methods whose result file exists, and the poses."""
    gt_mm = max_min.unnormalize(gt.pose_3d_norm)
    scores, poses = {}, {}
    for method, kind in METHODS:
        path = result_path(results_dir, action, kind)
        if not os.path.exists(path):
            continue
        _, predicted = read_result_csv(path, DIM_3D)
        if len(predicted) != len(gt_mm):
            raise ValueError(f"{path} has {len(predicted)} frames but {gt.path} has {len(gt_mm)}")
        scores[method] = {"mpjpe": mpjpe(predicted, gt_mm), "p_mpjpe": p_mpjpe(predicted, gt_mm)}
        poses[method] = predicted
    return scores, poses, gt_mm


def mean_row(per_action):
    """Mean over actions of each method's metrics (the H36M 'average' column); methods missing in
    some action are averaged over the actions that have them, and the count is recorded."""
    mean = {}
    for method, _ in METHODS:
        have = [s[method] for s in per_action.values() if method in s]
        if have:
            mean[method] = {m: float(np.mean([h[m] for h in have])) for m in METRICS}
            mean[method]["actions"] = len(have)
    return mean


def format_table(per_action, frames, mean):
    columns = [f"{method} {m}" for method, _ in METHODS for m in ("MPJPE", "P-MPJPE")]
    lines = ["action            frames  " + "  ".join(f"{c:>16}" for c in columns)]

    def cells(scores):
        return "  ".join(f"{scores[method][m]:16.2f}" if method in scores else f"{'-':>16}"
                         for method, _ in METHODS for m in METRICS)

    for action, scores in per_action.items():
        lines.append(f"{action:2d} {ACTIONS[action - 1]:<14} {frames[action]:6d}  {cells(scores)}")
    lines.append(f"{'mean':<17} {sum(frames.values()):6d}  {cells(mean)}")
    return "\n".join(lines)


def write_table(out_dir, per_action, frames, mean):
    header = ["action", "name", "frames"] + [f"{method}_{m}" for method, _ in METHODS for m in METRICS]

    def values(scores):
        return [f"{scores[method][m]:.4f}" if method in scores else "" for method, _ in METHODS for m in METRICS]

    with atomic_write(os.path.join(out_dir, "eval.csv")) as f:
        f.write(",".join(header) + "\n")
        for action, scores in per_action.items():
            f.write(",".join([str(action), ACTIONS[action - 1], str(frames[action])] + values(scores)) + "\n")
        f.write(",".join(["mean", "", str(sum(frames.values()))] + values(mean)) + "\n")
    report = {"unit": "mm", "mean_over": "actions",
              "actions": [{"action": a, "name": ACTIONS[a - 1], "frames": frames[a], **per_action[a]}
                          for a in per_action],
              "mean": mean}
    with atomic_write(os.path.join(out_dir, "eval.json")) as f:
        json.dump(report, f, indent=2)


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


def run(args, out=sys.stdout):
    out_dir = args.out_dir or args.results_dir
    max_min = MaxMin(args.max_min)
    per_action, frames, figures = {}, {}, []
    for action in parse_actions(args.actions):
        if not any(os.path.exists(result_path(args.results_dir, action, kind)) for _, kind in METHODS):
            print(f"action {action:2d} {ACTIONS[action - 1]}: no result files, skipped", file=out)
            continue
        gt = read_test_list(test_list_path(args.gt_dir, action))
        scores, poses, gt_mm = evaluate_action(args.results_dir, gt, action, max_min)
        per_action[action], frames[action] = scores, len(gt_mm)
        if args.figure_frames > 0 and len(gt_mm):
            path = os.path.join(out_dir, "figures", f"action{action:02d}_{ACTIONS[action - 1]}.png")
            write_png(path, action_figure(args.results_dir, gt, gt_mm, poses, action, args.image_root,
                                          args.figure_frames))
            figures.append(path)
    if not per_action:
        raise ValueError(f"{args.results_dir}: no result files for actions {args.actions}")
    mean = mean_row(per_action)
    print(format_table(per_action, frames, mean), file=out)
    write_table(out_dir, per_action, frames, mean)
    print(f"wrote {os.path.join(out_dir, 'eval.csv')}, eval.json and {len(figures)} figure(s)", file=out)
    return {"actions": per_action, "mean": mean, "figures": figures}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, OSError) as e:
        print(f"eval_h36m.py: error: {e}", file=sys.stderr)
        return 2
    return 0
