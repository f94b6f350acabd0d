"""Evaluation over a results directory (tools/eval_h36m.py, SPEC section 10): the table of
evaluation.tables and the pictures of evaluation.figures, per action."""
import argparse
import os
import sys

from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin
from pose_formats.per_action import parse_actions, read_test_list, result_path, test_list_path
from pose_formats.skeleton import ACTIONS

from .figures import action_figure, write_png
from .tables import METHODS, evaluate_action, format_table, mean_row, write_table


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
