"""Evaluation over a results directory (tools/eval_h36m.py, SPEC section 10): the ablation table of
evaluation.tables, the diagnostics of evaluation.diagnostics and evaluation.loss_curves, and the
pictures of evaluation.figures, per action."""
import argparse
import os
import sys

import numpy as np

from online.model import OnlineModel
from online.weights import load_weights
from pose_formats.atomic import folder_lock
from pose_formats.cli import run_tool
from pose_formats.listfile import LIST_TRAIN
from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin
from pose_formats.per_action import parse_actions, read_test_list, result_path, test_list_path
from pose_formats.skeleton import ACTIONS

from .diagnostics import action_diagnostics, fallback_sweep, format_diagnostics, summarize
from .figures import action_figure, write_png
from .loss_curves import HELD_OUT_STAGE, NO_HELD_OUT, STAGES, format_curves, stage_curves
from .reference import References, format_reference
from .tables import evaluate_action, format_ablation, mean_row, missing_rows, sources, write_table

FIGURE_METHODS = ("coarse", "change", "online_released")   # the default path through the pipeline


def build_parser():
    p = argparse.ArgumentParser(
        prog="eval_h36m.py",
        description="The ablation table: MPJPE and P-MPJPE (mm) per action and on average for the coarse "
                    "(result<a>_unnorm.csv), offline change (result<a>_change_unnorm.csv) and online corrected "
                    "poses of each mode and 2D source (tools/pred_v2.py's result<a>_refined_unnorm.csv and "
                    "result<a>_online_<mode>[_gt2d]_unnorm.csv), against the test lists, with diagnostics (the "
                    "projector's 2D error, the online displacement, paper mode's kept share and its MPJPE at other "
                    "fallback distances, the training curves); writes eval.csv, eval.json, ablation.md and PNG "
                    "pictures. Rows without result files are left out with a note.")
    p.add_argument("results_dir", help="directory with the result CSVs")
    p.add_argument("--gt-dir", required=True, help="directory with the per-action test lists test<a>.txt")
    p.add_argument("--actions", default="1-15", help="actions to evaluate, e.g. 1-15 or 2,5 (default 1-15)")
    p.add_argument("--out-dir", help="where eval.csv, eval.json, ablation.md and figures/ go (default: results_dir)")
    p.add_argument("--max-min", default=DEFAULT_MAX_MIN, help="normalisation table (default: the released one)")
    p.add_argument("--image-root", default="", help="folder the test lists' image paths are relative to")
    p.add_argument("--figure-frames", type=int, default=3,
                   help="frames drawn per action, evenly spaced (default 3; 0: no pictures)")
    p.add_argument("--crop-px", type=int, default=368,
                   help="side of the network's input crop in pixels, for 2D errors in pixels (default 368, the "
                        "paper size; the demo's is 96)")
    p.add_argument("--weights", help="the converted refine and projector weights (tools/gen_refinepkl.py) for "
                                     "the projector's error from the ground-truth 3D pose (default: "
                                     "<results_dir>/refine.npz where it exists)")
    p.add_argument("--stages", help="folder of per-stage test results <stages>/<stage>/ (tools/train.sh): the rows "
                                    "coarse and change (addsrr's), finetune_whole and mask3d come from there, and "
                                    "results_dir's own coarse poses are the final model's, the online stage's input")
    p.add_argument("--train-list", help=f"the training list for the reference rows (mean pose, quadratic ridge "
                                        f"from ground-truth 2D; default: {LIST_TRAIN} of the data folder, "
                                        "<gt-dir>/../.., or of the data set a test-only folder lies in, <gt-dir>/../../..; "
                                        "none there: no reference rows)")
    p.add_argument("--logs", help=f"folder with the caffe train logs {', '.join(s + '.log' for s in STAGES)}: "
                                  "draws figures/loss_<stage>.png with train and held-out values")
    return p


def run(args, out=sys.stdout):
    # The lock also says, before any action is scored, whether the outputs can be written there.
    with folder_lock(args.out_dir or args.results_dir, "eval_h36m.py"):
        return _run(args, out)


def _warn_missing_images(gt, image_root, action):
    """A wrong --image-root would give blank frame panels: say so (once per action)."""
    path = os.path.join(image_root, gt.images[0])
    if not os.path.exists(path):
        print(f"eval_h36m.py: warning: action {action}: no image {path}; its pictures show blank frames "
              "(is --image-root the folder the test lists' image paths start from?)", file=sys.stderr)


def _run(args, out):
    out_dir = args.out_dir or args.results_dir
    max_min = MaxMin(args.max_min)
    per_action, frames, diagnostics, tests, figures = {}, {}, {}, {}, []
    weights_path = args.weights or os.path.join(args.results_dir, "refine.npz")
    # float64: the diagnostic measures the trained projector, not float32 rounding.
    projector = (OnlineModel(load_weights(weights_path), np.float64)
                 if args.weights or os.path.exists(weights_path) else None)
    rows = sources(args.results_dir, args.stages)
    for action in parse_actions(args.actions):
        if not any(os.path.exists(result_path(folder, action, kind)) for _, folder, kind, _ in rows):
            print(f"action {action:2d} {ACTIONS[action - 1]}: no result files, skipped", file=out)
            continue
        gt = read_test_list(test_list_path(args.gt_dir, action))
        scores, poses, gt_mm = evaluate_action(rows, gt, action, max_min)
        per_action[action], frames[action], tests[action] = scores, len(gt_mm), gt
        diagnostics[action] = action_diagnostics(args.results_dir, gt, action, poses, projector)
        sweep = fallback_sweep(args.results_dir, gt, action, poses, gt_mm)
        if sweep:
            diagnostics[action]["fallback_sweep"] = sweep
        if args.figure_frames > 0 and len(gt_mm):
            _warn_missing_images(gt, args.image_root, action)
            path = os.path.join(out_dir, "figures", f"action{action:02d}_{ACTIONS[action - 1]}.png")
            drawn = {m: p for m, p in poses.items() if m in FIGURE_METHODS}
            write_png(path, action_figure(args.results_dir, gt, gt_mm, drawn, action, args.image_root,
                                          args.figure_frames))
            figures.append(path)
    if not per_action:
        raise ValueError(f"{args.results_dir}: no result files for actions {args.actions}")
    mean = mean_row(per_action, rows)
    for note in missing_rows(mean, rows):
        print(note, file=out)
    report = summarize(diagnostics, frames, args.crop_px)
    if args.logs:
        report["loss_curves"] = {}
        for stage in STAGES:
            log = os.path.join(args.logs, f"{stage}.log")
            if not os.path.exists(log):
                print(f"loss curve {stage}: no {log}, left out", file=out)
                continue
            held_out = (None if stage in NO_HELD_OUT else
                        os.path.join(args.stages, HELD_OUT_STAGE[stage]) if args.stages and stage in HELD_OUT_STAGE
                        else args.results_dir)
            report["loss_curves"][stage] = stage_curves(log, stage, held_out, tests, max_min.range,
                                                        os.path.join(out_dir, "figures", f"loss_{stage}.png"))
    train_list = args.train_list or next((path for path in (
        os.path.join(args.gt_dir, "..", "..", LIST_TRAIN), os.path.join(args.gt_dir, "..", "..", "..", LIST_TRAIN))
        if os.path.exists(path)), None)
    reference = References(train_list).score(tests, max_min) if train_list else {}
    labels = {method: label for method, _, _, label in rows}
    markdown = "\n\n".join(part for part in (
        "### Ablation", format_ablation(per_action, frames, mean, rows),
        reference and format_reference(reference, os.path.normpath(train_list), sum(frames.values())),
        "### Diagnostics", format_diagnostics(report, labels),
        format_curves(report.get("loss_curves", {}), out_dir)) if part)
    print(markdown, file=out)
    write_table(out_dir, per_action, frames, mean, report, markdown, rows, reference)
    print(f"wrote {os.path.join(out_dir, 'eval.csv')}, eval.json, ablation.md and {len(figures)} figure(s)", file=out)
    return {"actions": per_action, "mean": mean, "diagnostics": report, "figures": figures, "reference": reference}


def main(argv=None):
    return run_tool("eval_h36m.py", build_parser, run, argv)
