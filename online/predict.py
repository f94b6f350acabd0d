"""The online correction over a results directory, action by action (tools/pred_v2.py)."""
import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from cuda_kernels import backend
from pose_formats.atomic import atomic_write, folder_lock
from pose_formats.cli import run_tool
from pose_formats.input_files import read_json
from pose_formats.metrics import mpjpe
from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin
from pose_formats.per_action import parse_actions, result_path
from pose_formats.results import write_result_csv
from pose_formats.skeleton import ACTIONS

from .data import TWO_D_SOURCES, load_action
from .independent import refine_independent
from .model import MODES, OnlineConfig, OnlineModel
from .paper import refine_paper
from .released import RELEASED_ENGINES, refine_released
from .weights import load_weights

SOURCE_SUFFIX = {"ours": "", "gt": "_gt2d", "external": "_ext2d"}
# Paper mode also writes its poses before the fallback rule (mm), so that the evaluation can show
# what other fallback distances would give without running the correction again.
CONVERGED_SUFFIX = "_converged_unnorm"


def output_kind(mode, source):
    """The result kind a run writes, result<a>_<kind>_{norm,unnorm}.csv and result<a>_<kind>.json:
    `refined` for the default run (released mode, our 2D), as the released script named it, else
    online_<mode> with _gt2d or _ext2d for the other 2D sources, so the runs sit side by side."""
    if mode == "released" and source == "ours":
        return "refined"
    return f"online_{mode}{SOURCE_SUFFIX[source]}"


def build_parser():
    defaults = OnlineConfig()
    p = argparse.ArgumentParser(
        prog="pred_v2.py",
        description="Online self-supervised correction of the coarse 3D poses that tools/test_all.sh wrote "
                    "(result<a>_norm.csv), action by action. Writes result<a>_<kind>_norm.csv, "
                    "result<a>_<kind>_unnorm.csv (mm) and result<a>_<kind>.json (frames, time, MPJPE before/after, "
                    "paper mode's share of frames kept at the coarse pose) beside them, kind 'refined' for released "
                    "mode with our 2D, else online_<mode>[_gt2d|_ext2d], and prints MPJPE before/after. Paper "
                    "mode also writes result<a>_<kind>_converged_unnorm.csv, its poses before the fallback rule.")
    p.add_argument("results_dir", help="directory with result<a>_norm.csv (and result<a>_2d_norm.csv for --2d-source ours)")
    p.add_argument("--weights", required=True, help="converter output (.npz from tools/gen_refinepkl.py)")
    p.add_argument("--legacy-pickle", action="store_true",
                   help="allow a released-format pickle as --weights (a pickle can run code: trusted files only)")
    p.add_argument("--mode", choices=MODES, default="released",
                   help="released: sequential scan, optimizer state carried over frames (default); "
                        "independent: each frame from the converted weights, batched; paper: iterate to convergence")
    p.add_argument("--2d-source", dest="source", choices=TWO_D_SOURCES, default="ours",
                   help="2D poses: ours (result<a>_2d_norm.csv), external (--external-2d) or gt (test lists)")
    p.add_argument("--external-2d", metavar="DIR_OR_PATTERN",
                   help="external 2D estimates: a directory of result<a>_2d_norm.csv, or a path pattern with {a}")
    p.add_argument("--gt-dir", help="directory with the per-action test lists test<a>.txt (ground truth: "
                                    "needed for MPJPE and for --2d-source gt)")
    p.add_argument("--actions", default="1-15", help="actions to correct, e.g. 1-15 or 2,5,9-11 (default 1-15)")
    p.add_argument("--redo", action="store_true", help="recompute actions whose refined files already exist")
    p.add_argument("--max-min", default=DEFAULT_MAX_MIN, help="normalisation table (default: the released one)")
    p.add_argument("--lr", type=float, default=defaults.lr, help=f"Adam learning rate (default {defaults.lr})")
    p.add_argument("--iterations", type=int, default=defaults.iterations,
                   help=f"released/independent: passes per frame, the last one's pose is reported (default {defaults.iterations})")
    p.add_argument("--mask-joint", type=int, default=defaults.mask_joint,
                   help=f"joint left out of the 2D loss, -1 for none (default {defaults.mask_joint}, the spine)")
    p.add_argument("--converge-mm", type=float, default=defaults.converge_mm,
                   help=f"paper: stop when the robust joints move less than this (default {defaults.converge_mm})")
    p.add_argument("--fallback-mm", type=float, default=defaults.fallback_mm,
                   help=f"paper: keep the coarse pose beyond this distance (default {defaults.fallback_mm})")
    p.add_argument("--max-iterations", type=int, default=defaults.max_iterations,
                   help=f"paper: cap on passes per frame (default {defaults.max_iterations})")
    p.add_argument("--released-engine", choices=RELEASED_ENGINES,
                   help="released mode: 'kernel' (one persistent CUDA kernel, the default on a GPU) or 'rows' "
                        "(the array engine, the default on the CPU)")
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    p.add_argument("--chunk-frames", type=int, help="frames per batch (default: sized to a memory budget)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _complete(paths, frames):
    """Every output exists and the CSVs hold one line per frame (all are written atomically)."""
    for path in paths:
        if not os.path.exists(path):
            return False
        if not path.endswith(".csv"):
            continue
        with open(path) as f:
            if sum(1 for line in f if line.strip()) != frames:
                return False
    return True


def run(args, out=sys.stdout):
    # The lock also says, before any frame is computed, whether the results can be written there.
    with folder_lock(args.results_dir, "pred_v2.py"):
        return _run(args, out)


def _run(args, out):
    config = OnlineConfig(lr=args.lr, iterations=args.iterations,
                          mask_joint=None if args.mask_joint < 0 else args.mask_joint,
                          converge_mm=args.converge_mm, fallback_mm=args.fallback_mm,
                          max_iterations=args.max_iterations)
    max_min = MaxMin(args.max_min)
    pending, summary = [], {}
    for action in parse_actions(args.actions):
        inputs = load_action(args.results_dir, action, args.source, args.external_2d, args.gt_dir)
        kind = output_kind(args.mode, args.source)
        outputs = (result_path(args.results_dir, action, f"{kind}_norm"),
                   result_path(args.results_dir, action, f"{kind}_unnorm"),
                   os.path.join(args.results_dir, f"result{action}_{kind}.json"))
        if args.mode == "paper":
            outputs += (result_path(args.results_dir, action, f"{kind}{CONVERGED_SUFFIX}"),)
        if not args.redo and _complete(outputs, len(inputs.coarse)):
            print(f"action {action:2d} {ACTIONS[action - 1]}: already corrected ({outputs[0]}), skipped "
                  "(--redo to recompute)", file=out)
            summary[action] = read_json(outputs[2])   # for the mean over every action asked for
            continue
        pending.append((inputs, outputs))
    if not pending:
        return summary
    model = OnlineModel(load_weights(args.weights, legacy_pickle=args.legacy_pickle),
                        np.float64 if args.float64 else np.float32)
    total = sum(len(inputs.coarse) for inputs, _ in pending)
    print(f"{args.mode} mode on {backend.name()}, {'float64' if args.float64 else 'float32'}, "
          f"2D from {args.source}: {total} frames in {len(pending)} action(s)", file=out)

    with tqdm(total=total, unit="frame", disable=args.no_progress, file=sys.stderr) as bar:
        seconds = {}
        paper_stats, converged = {}, {}
        if args.mode == "released":
            start = time.perf_counter()
            refined = refine_released(model, [i.coarse for i, _ in pending], [i.pose_2d for i, _ in pending],
                                      config, progress=bar.update, engine=args.released_engine)
            per_frame = (time.perf_counter() - start) / total  # actions ran side by side: shared time
            seconds = {i.action: per_frame * len(i.coarse) for i, _ in pending}
        else:
            refined = []
            for inputs, _ in pending:
                start = time.perf_counter()
                if args.mode == "independent":
                    refined.append(refine_independent(model, inputs.coarse, inputs.pose_2d, config,
                                                      chunk_frames=args.chunk_frames, progress=bar.update))
                else:
                    result = refine_paper(model, inputs.coarse, inputs.pose_2d, max_min.range, config,
                                          chunk_frames=args.chunk_frames, progress=bar.update)
                    refined.append(result.refined)
                    converged[inputs.action] = np.asarray(result.converged, dtype=np.float64)
                    paper_stats[inputs.action] = {"passes_per_frame": float(result.iterations.mean()),
                                                  "kept_coarse_frames": int(result.kept_coarse.sum()),
                                                  "kept_coarse_share": float(result.kept_coarse.mean())}
                seconds[inputs.action] = time.perf_counter() - start

    for (inputs, (norm_path, unnorm_path, json_path, *converged_path)), poses in zip(pending, refined):
        poses = np.asarray(poses, dtype=np.float64)
        start_index = int(inputs.indices[0]) if len(inputs.indices) else 1
        write_result_csv(norm_path, poses, start_index=start_index)
        write_result_csv(unnorm_path, max_min.unnormalize(poses), start_index=start_index)
        if converged_path:
            write_result_csv(converged_path[0], max_min.unnormalize(converged[inputs.action]), start_index=start_index)
        line = f"action {inputs.action:2d} {ACTIONS[inputs.action - 1]}: {len(poses)} frames"
        entry = {"action": inputs.action, "mode": args.mode, "2d_source": args.source, "frames": len(poses),
                 "ms_per_frame": 1e3 * seconds[inputs.action] / max(1, len(poses)),
                 **paper_stats.get(inputs.action, {})}
        if inputs.gt is not None:
            gt_mm = max_min.unnormalize(inputs.gt.pose_3d_norm)
            entry["mpjpe_before"] = mpjpe(max_min.unnormalize(inputs.coarse), gt_mm)
            entry["mpjpe_after"] = mpjpe(max_min.unnormalize(poses), gt_mm)
            line += f", MPJPE {entry['mpjpe_before']:.2f} -> {entry['mpjpe_after']:.2f} mm"
        line += f", {entry['ms_per_frame']:.3f} ms/frame"
        if inputs.action in paper_stats:
            line += (f", {entry['passes_per_frame']:.1f} passes per frame, coarse pose kept for "
                     f"{100 * entry['kept_coarse_share']:.0f}%")
        print(line, file=out)
        with atomic_write(json_path) as f:
            json.dump(entry, f, indent=2)
        summary[inputs.action] = entry
    if all("mpjpe_before" in e for e in summary.values()) and len(summary) > 1:
        before = np.mean([e["mpjpe_before"] for e in summary.values()])
        after = np.mean([e["mpjpe_after"] for e in summary.values()])
        earlier = len(summary) - len(pending)
        print(f"mean over {len(summary)} actions{f' ({earlier} corrected by an earlier run)' if earlier else ''}: "
              f"MPJPE {before:.2f} -> {after:.2f} mm", file=out)
    return summary


def main(argv=None):
    return run_tool("pred_v2.py", build_parser, run, argv)
