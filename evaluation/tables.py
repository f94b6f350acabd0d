"""The ablation table: MPJPE and P-MPJPE per action and on average for the coarse prediction, the
offline change branch and the online correction in each mode with our and with ground-truth 2D,
against the ground truth of the per-action test lists; printed and written as eval.csv, eval.json
and ablation.md (markdown for the README)."""
import json
import os

import numpy as np

from online.model import MODES
from online.predict import SOURCE_SUFFIX, output_kind
from pose_formats.atomic import atomic_write
from pose_formats.per_action import result_path
from pose_formats.results import read_result_csv
from pose_formats.skeleton import ACTIONS, DIM_3D

from .metrics import mpjpe, p_mpjpe

ONLINE_SOURCES = {"ours": "our 2D", "gt": "ground-truth 2D"}
# (method, result file kind of its un-normalised mm predictions, row label), in the table's order
METHODS = (("coarse", "unnorm", "coarse 3D"),
           ("change", "change_unnorm", "+ refine branch (`change`)"),
           *((f"online_{mode}{SOURCE_SUFFIX[source]}", f"{output_kind(mode, source)}_unnorm",
              f"+ online correction, {mode} mode, {label}")
             for mode in MODES for source, label in ONLINE_SOURCES.items()))
ONLINE_METHODS = tuple(method for method, _, _ in METHODS if method.startswith("online_"))
METRICS = ("mpjpe", "p_mpjpe")


def evaluate_action(results_dir, gt, action, max_min):
    """{method: {"mpjpe", "p_mpjpe"}} for the methods whose result file exists, their poses (mm), and
    the ground truth (mm)."""
    gt_mm = max_min.unnormalize(gt.pose_3d_norm)
    scores, poses = {}, {}
    for method, kind, _ in METHODS:
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
    for method, _, _ in METHODS:
        have = [s[method] for s in per_action.values() if method in s]
        if have:
            mean[method] = {m: float(np.mean([h[m] for h in have])) for m in METRICS}
            mean[method]["actions"] = len(have)
    return mean


def missing_rows(mean):
    """A note per method with no result file in any evaluated action (its row is left out)."""
    return [f"row {method}: no result<a>_{kind}.csv for any evaluated action, left out"
            for method, kind, _ in METHODS if method not in mean]


def format_ablation(per_action, frames, mean):
    """The ablation table as markdown: methods as rows; one table for MPJPE, one for P-MPJPE, each
    with the mean over actions and a column per action."""
    rows = [(method, label) for method, _, label in METHODS if method in mean]
    parts = []
    for metric, title in (("mpjpe", "MPJPE"), ("p_mpjpe", "P-MPJPE")):
        lines = [f"{title} (mm) on {sum(frames.values())} test frames; mean over actions.", "",
                 "| | mean | " + " | ".join(ACTIONS[a - 1] for a in per_action) + " |",
                 "|---|---:|" + "---:|" * len(per_action)]
        for method, label in rows:
            cells = [f"{per_action[a][method][metric]:.1f}" if method in per_action[a] else "-" for a in per_action]
            note = "" if mean[method]["actions"] == len(per_action) else f" ({mean[method]['actions']} actions)"
            lines.append(f"| {label} | {mean[method][metric]:.1f}{note} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def write_table(out_dir, per_action, frames, mean, diagnostics, markdown, reference=None):
    """eval.csv (a row per action and the mean, two columns per method), eval.json (with `reference`, the
    reference rows of evaluation.reference, where given) and ablation.md."""
    header = ["action", "name", "frames"] + [f"{method}_{m}" for method, _, _ in METHODS for m in METRICS]

    def values(scores):
        return [f"{scores[method][m]:.4f}" if method in scores else "" for method, _, _ in METHODS for m in METRICS]

    with atomic_write(os.path.join(out_dir, "eval.csv")) as f:
        f.write(",".join(header) + "\n")
        for action, scores in per_action.items():
            f.write(",".join([str(action), ACTIONS[action - 1], str(frames[action])] + values(scores)) + "\n")
        f.write(",".join(["mean", "", str(sum(frames.values()))] + values(mean)) + "\n")
    report = {"unit": "mm", "mean_over": "actions",
              "methods": {method: {"label": label, "result_file": f"result<a>_{kind}.csv"}
                          for method, kind, label in METHODS if method in mean},
              "actions": {ACTIONS[a - 1]: {"action": a, "frames": frames[a], **per_action[a]} for a in per_action},
              "mean": mean,
              "diagnostics": diagnostics}
    if reference:
        report["reference"] = reference
    with atomic_write(os.path.join(out_dir, "eval.json")) as f:
        json.dump(report, f, indent=2)
    with atomic_write(os.path.join(out_dir, "ablation.md")) as f:
        f.write(markdown + "\n")
