"""The ablation table: MPJPE and P-MPJPE per action and on average for the coarse prediction, the
offline change branch and the online correction in each mode with our and with ground-truth 2D,
against the ground truth of the per-action test lists; printed and written as eval.csv, eval.json
and ablation.md (markdown for the README)."""
import collections
import json
import os

import numpy as np

from online.model import MODES
from online.predict import SOURCE_SUFFIX, output_kind
from pose_formats.atomic import atomic_write_set
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
# With the pipeline's per-stage tests (tools/train.sh: <stages>/<stage>/, --stages), the rows of the 3D
# stages in the released order (addsrr leaves the coarse path as bilstm trained it), then the results
# folder's own files: the final model's, whose coarse pose is the online stage's input.
STAGE_METHODS = (("coarse", "addsrr", "unnorm", "coarse 3D (bilstm)"),
                 ("change", "addsrr", "change_unnorm", "+ refine branch (`change`, addsrr)"),
                 ("finetune_whole", "finetune_whole", "change_unnorm", "`change` after finetune_whole"),
                 ("mask3d", "mask3d", "change_unnorm", "`change` after mask3d"))
ONLINE_INPUT = "online_input"
Source = collections.namedtuple("Source", "method folder kind label")


def sources(results_dir, stages_dir=None):
    """The table's rows in order, each with where its result<a>_<kind>.csv files lie."""
    if stages_dir is None:
        return tuple(Source(method, results_dir, kind, label) for method, kind, label in METHODS)
    return (*(Source(method, os.path.join(stages_dir, stage), kind, label)
              for method, stage, kind, label in STAGE_METHODS),
            Source(ONLINE_INPUT, results_dir, "unnorm", "the final model's coarse 3D (the online stage's input)"),
            *(Source(method, results_dir, kind, label) for method, kind, label in METHODS
              if method in ONLINE_METHODS))


def evaluate_action(rows, gt, action, max_min):
    """{method: {"mpjpe", "p_mpjpe"}} for the rows (`sources`) whose result file exists, their poses
    (mm), and the ground truth (mm)."""
    gt_mm = max_min.unnormalize(gt.pose_3d_norm)
    scores, poses = {}, {}
    for method, folder, kind, _ in rows:
        path = result_path(folder, action, kind)
        if not os.path.exists(path):
            continue
        _, predicted = read_result_csv(path, DIM_3D)
        if len(predicted) != len(gt_mm):
            raise ValueError(f"{path} has {len(predicted)} frames but {gt.path} has {len(gt_mm)}")
        scores[method] = {"mpjpe": mpjpe(predicted, gt_mm), "p_mpjpe": p_mpjpe(predicted, gt_mm)}
        poses[method] = predicted
    return scores, poses, gt_mm


def mean_row(per_action, rows):
    """Mean over actions of each method's metrics (the H36M 'average' column); methods missing in
    some action are averaged over the actions that have them, and the count is recorded."""
    mean = {}
    for method, *_ in rows:
        have = [s[method] for s in per_action.values() if method in s]
        if have:
            mean[method] = {m: float(np.mean([h[m] for h in have])) for m in METRICS}
            mean[method]["actions"] = len(have)
    return mean


def missing_rows(mean, rows):
    """A note per method with no result file in any evaluated action (its row is left out)."""
    return [f"row {method}: no result<a>_{kind}.csv in {folder} for any evaluated action, left out"
            for method, folder, kind, _ in rows if method not in mean]


def format_ablation(per_action, frames, mean, rows):
    """The ablation table as markdown: methods as rows; one table for MPJPE, one for P-MPJPE, each
    with the mean over actions and a column per action."""
    rows = [(method, label) for method, _, _, label in rows if method in mean]
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


def write_table(out_dir, per_action, frames, mean, diagnostics, markdown, rows, reference=None):
    """eval.csv (a row per action and the mean, two columns per method), eval.json (with `reference`, the
    reference rows of evaluation.reference, where given) and ablation.md."""
    header = ["action", "name", "frames"] + [f"{method}_{m}" for method, *_ in rows for m in METRICS]

    def values(scores):
        return [f"{scores[method][m]:.4f}" if method in scores else "" for method, *_ in rows for m in METRICS]

    report = {"unit": "mm", "mean_over": "actions",
              "methods": {method: {"label": label, "result_file": os.path.join(folder, f"result<a>_{kind}.csv")}
                          for method, folder, kind, label in rows if method in mean},
              "actions": {ACTIONS[a - 1]: {"action": a, "frames": frames[a], **per_action[a]} for a in per_action},
              "mean": mean,
              "diagnostics": diagnostics}
    if reference:
        report["reference"] = reference
    # replaced together: a full disk leaves the previous three, never a new eval.csv beside old ones
    with atomic_write_set([os.path.join(out_dir, name) for name in ("eval.csv", "eval.json", "ablation.md")]) \
            as (csv_file, json_file, markdown_file):
        csv_file.write(",".join(header) + "\n")
        for action, scores in per_action.items():
            csv_file.write(",".join([str(action), ACTIONS[action - 1], str(frames[action])] + values(scores)) + "\n")
        csv_file.write(",".join(["mean", "", str(sum(frames.values()))] + values(mean)) + "\n")
        json.dump(report, json_file, indent=2)
        markdown_file.write(markdown + "\n")
