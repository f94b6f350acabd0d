#!/usr/bin/env python3
"""Training curves of `caffe train` logs as PNGs (train losses; held-out values of the final model
with --results-dir and --gt-dir); see --help and evaluation/loss_curves.py."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from evaluation.loss_curves import format_curves, stage_curves  # noqa: E402
from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin  # noqa: E402
from pose_formats.per_action import parse_actions, read_test_list, test_list_path  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(
        prog="loss_curves.py",
        description="One PNG per caffe train log (<out-dir>/loss_<stage>.png, stage = the log's file name): the "
                    "smoothed train loss and each train net output over the iterations, and, given the test "
                    "results of the final models, the same quantities on the test frames as dots at the last "
                    "iteration; prints each stage's final values.")
    p.add_argument("logs", nargs="+", help="caffe train logs, e.g. results/demo/logs/addsrr.log")
    p.add_argument("--out-dir", required=True, help="where the PNGs go")
    p.add_argument("--results-dir", help="tools/test_all.sh's results of the final models (for held-out values)")
    p.add_argument("--gt-dir", help="the per-action test lists test<a>.txt (for held-out values)")
    p.add_argument("--actions", default="1-15", help="test actions for held-out values (default 1-15)")
    p.add_argument("--max-min", default=DEFAULT_MAX_MIN, help="normalisation table (default: the released one)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if (args.results_dir is None) != (args.gt_dir is None):
            raise ValueError("held-out values need both --results-dir and --gt-dir")
        tests = ({a: read_test_list(test_list_path(args.gt_dir, a)) for a in parse_actions(args.actions)}
                 if args.gt_dir else {})
        curves = {}
        for log in args.logs:
            stage = os.path.splitext(os.path.basename(log))[0]
            curves[stage] = stage_curves(log, stage, args.results_dir, tests, MaxMin(args.max_min).range,
                                         os.path.join(args.out_dir, f"loss_{stage}.png"))
    except (ValueError, OSError) as e:
        print(f"loss_curves.py: error: {e}", file=sys.stderr)
        return 2
    print(format_curves(curves, args.out_dir))
    print(json.dumps(curves, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
