"""MPJPE and P-MPJPE per action and on average for the coarse prediction, the offline change branch and
the online correction, against the ground truth of the per-action test lists: the table printed and
written as eval.csv and eval.json."""
import json
import os

import numpy as np

from pose_formats.atomic import atomic_write
from pose_formats.per_action import result_path
from pose_formats.results import read_result_csv
from pose_formats.skeleton import ACTIONS, DIM_3D

from .metrics import mpjpe, p_mpjpe

# (name in the table, result file kind): un-normalised mm predictions
METHODS = (("coarse", "unnorm"), ("change", "change_unnorm"), ("online", "refined_unnorm"))
METRICS = ("mpjpe", "p_mpjpe")


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
