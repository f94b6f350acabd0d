"""The numbers that explain the ablation table, per action and on average: the projector's 2D error
on the test frames, from the net's own pose and, given the converted weights, from the ground-truth
3D pose (a projector that learned the geometry is right on the truth; one that learned the nets'
poses is not, and then no online correction can pull a pose toward the truth); our 2D estimates'
error, the online stage's other input; each online method's mean displacement from the coarse pose;
and paper mode's share of frames kept at the coarse pose (from the result<a>_<kind>.json that
tools/pred_v2.py writes); and paper mode against its fallback distance: from the poses before the
fallback rule (result<a>_<kind>_converged_unnorm.csv), the MPJPE and kept share that other distances
would give."""
import os

import numpy as np

from cuda_kernels import backend
from online.model import OnlineConfig, project
from online.paper import robust_distance_mm
from online.predict import CONVERGED_SUFFIX
from pose_formats.input_files import read_json
from pose_formats.per_action import result_path
from pose_formats.results import read_result_csv
from pose_formats.skeleton import ACTIONS, DIM_2D, DIM_3D, MASK_2D_JOINT, NUM_JOINTS

from .metrics import mpjpe
from .tables import METHODS, ONLINE_INPUT, ONLINE_METHODS

# The projector's loss leaves out the spine (2D-only data has none), so its 2D error does too.
JOINTS_2D = tuple(j for j in range(NUM_JOINTS) if j != MASK_2D_JOINT)
ERRORS_2D = {"projector_2d": "project_2d_norm", "estimate_2d": "2d_norm"}
PROJECTOR_FROM_TRUTH = "projector_2d_from_gt3d"
# Caffe's projector has no scale (the released TF graph's untrained batch norm is online mode's).
CAFFE_PROJECTOR_SCALE = 1.0
RESULT_KIND = {method: kind.removesuffix("_unnorm") for method, kind, _ in METHODS}
PAPER_METHODS = tuple(m for m in ONLINE_METHODS if m.startswith("online_paper"))
# Fallback distances (mm) for paper mode's sweep; the paper's is OnlineConfig().fallback_mm, inf: no fallback.
FALLBACK_SWEEP_MM = (10.0, 20.0, 30.0, 40.0, 60.0, 80.0, float("inf"))


def online_start(poses):
    """The coarse poses the online stage corrected: the final model's where the table has per-stage
    rows (tables.sources with stages), else the coarse row's; None when neither was read."""
    return poses.get(ONLINE_INPUT, poses.get("coarse"))


def error_2d(predicted, truth):
    """Mean per-joint Euclidean distance over JOINTS_2D between (N, 32) normalised 2D poses."""
    d = (np.asarray(predicted, np.float64) - truth).reshape(len(truth), NUM_JOINTS, 2)[:, list(JOINTS_2D)]
    return float(np.linalg.norm(d, axis=2).mean())


def action_diagnostics(results_dir, gt, action, poses, projector=None):
    """The diagnostics of one action whose inputs exist; `poses` as evaluation.tables.evaluate_action
    returns them (mm); `projector` the converted weights (gen_refinepkl.py) as an online.OnlineModel,
    or None."""
    out = {}
    if projector is not None:
        projected, _ = project(projector, projector.asarray(gt.pose_3d_norm), CAFFE_PROJECTOR_SCALE)
        out[PROJECTOR_FROM_TRUTH] = error_2d(backend.to_host(projected), gt.pose_2d)
    for name, kind in ERRORS_2D.items():
        path = result_path(results_dir, action, kind)
        if os.path.exists(path):
            _, predicted = read_result_csv(path, DIM_2D)
            if len(predicted) != len(gt.labels):
                raise ValueError(f"{path} has {len(predicted)} frames but {gt.path} has {len(gt.labels)}")
            out[name] = error_2d(predicted, gt.pose_2d)
    start = online_start(poses)
    if start is not None:
        out["displacement_mm"] = {m: mpjpe(poses[m], start) for m in ONLINE_METHODS if m in poses}
    kept = {}
    for method in PAPER_METHODS:
        path = os.path.join(results_dir, f"result{action}_{RESULT_KIND[method]}.json")
        if method in poses and os.path.exists(path):
            stats = read_json(path)
            if not isinstance(stats.get("kept_coarse_frames"), int) or stats.get("frames") != len(gt.labels):
                raise ValueError(f"{path}: expected 'kept_coarse_frames' (an integer) and 'frames' = "
                                 f"{len(gt.labels)} (the frames of {gt.path})")
            kept[method] = stats["kept_coarse_frames"]
    if kept:
        out["kept_coarse_frames"] = kept
    return out


def sweep_key(tau_mm):
    """The sweep's JSON key for a fallback distance: "20" (mm), or "none" for no fallback."""
    return "none" if np.isinf(tau_mm) else f"{tau_mm:g}"


def fallback_sweep(results_dir, gt, action, poses, gt_mm, robust_joints=OnlineConfig().robust_joints):
    """{paper method: {sweep_key(τ): {"mpjpe", "kept_frames"}}} for τ in FALLBACK_SWEEP_MM: paper mode's
    pose before the fallback rule where its robust joints lie within τ (mean distance, mm) of the coarse
    pose, the coarse pose elsewhere, as refine_paper decides. Methods without a converged file are left out."""
    out = {}
    for method in PAPER_METHODS:
        path = result_path(results_dir, action, RESULT_KIND[method] + CONVERGED_SUFFIX)
        coarse = online_start(poses)
        if method not in poses or coarse is None or not os.path.exists(path):
            continue
        _, converged = read_result_csv(path, DIM_3D)
        if len(converged) != len(gt_mm):
            raise ValueError(f"{path} has {len(converged)} frames but {gt.path} has {len(gt_mm)}")
        distance = robust_distance_mm(np, converged - coarse, robust_joints)
        out[method] = {}
        for tau in FALLBACK_SWEEP_MM:
            far = distance > tau
            chosen = np.where(far[:, None], coarse, converged)
            out[method][sweep_key(tau)] = {"mpjpe": mpjpe(chosen, gt_mm), "kept_frames": int(far.sum())}
    return out


def summarize(per_action, frames, crop_px):
    """The report's `diagnostics` entry: per action and on average (mean over the actions that have
    each number; the kept share over frames)."""
    out = {"crop_px": crop_px, "joints_2d": [int(j) for j in JOINTS_2D]}
    for name in (*ERRORS_2D, PROJECTOR_FROM_TRUTH):
        have = {a: d[name] for a, d in per_action.items() if name in d}
        if have:
            out[name] = {"mean": {"norm": float(np.mean(list(have.values()))),
                                  "px": float(np.mean(list(have.values()))) * crop_px},
                         "actions": {ACTIONS[a - 1]: {"norm": v, "px": v * crop_px} for a, v in have.items()}}
    displacement = {}
    for method in ONLINE_METHODS:
        have = {a: d["displacement_mm"][method] for a, d in per_action.items() if method in d.get("displacement_mm", {})}
        if have:
            displacement[method] = {"mean": float(np.mean(list(have.values()))),
                                    "actions": {ACTIONS[a - 1]: v for a, v in have.items()}}
    if displacement:
        out["displacement_mm"] = displacement
    kept = {}
    for method in PAPER_METHODS:
        have = {a: d["kept_coarse_frames"][method] for a, d in per_action.items()
                if method in d.get("kept_coarse_frames", {})}
        if have:
            kept[method] = {"share": sum(have.values()) / sum(frames[a] for a in have),
                            "frames": sum(have.values()), "of": sum(frames[a] for a in have),
                            "actions": {ACTIONS[a - 1]: k / frames[a] for a, k in have.items()}}
    if kept:
        out["paper_kept_coarse"] = kept
    sweep = {}
    for method in PAPER_METHODS:
        have = {a: d["fallback_sweep"][method] for a, d in per_action.items() if method in d.get("fallback_sweep", {})}
        if have:
            sweep[method] = {key: {"mpjpe": float(np.mean([h[key]["mpjpe"] for h in have.values()])),
                                   "kept_share": sum(h[key]["kept_frames"] for h in have.values())
                                   / sum(frames[a] for a in have)}
                             for key in map(sweep_key, FALLBACK_SWEEP_MM)}
    if sweep:
        out["paper_fallback_sweep"] = sweep
    return out


def format_diagnostics(diagnostics, labels):
    """The diagnostics as markdown lines; `labels` {method: row label}."""
    lines = []
    for name, title in (("projector_2d", "projector (`project_2d`) 2D error against ground-truth 2D"),
                        (PROJECTOR_FROM_TRUTH, "the same projector fed the ground-truth 3D pose, against "
                                               "ground-truth 2D"),
                        ("estimate_2d", "our 2D estimates' error against ground-truth 2D")):
        if name in diagnostics:
            mean = diagnostics[name]["mean"]
            lines.append(f"- {title}: {mean['norm']:.4f} of the crop = {mean['px']:.2f} px of the "
                         f"{diagnostics['crop_px']} px crop (mean per joint, spine left out)")
    for method, entry in diagnostics.get("displacement_mm", {}).items():
        lines.append(f"- {labels[method].removeprefix('+ ')}: mean displacement from the coarse pose "
                     f"{entry['mean']:.1f} mm (MPJPE between the two)")
    for method, entry in diagnostics.get("paper_kept_coarse", {}).items():
        lines.append(f"- {labels[method].removeprefix('+ ')}: coarse pose kept for {100 * entry['share']:.1f} % "
                     f"of frames ({entry['frames']} of {entry['of']}; per action "
                     f"{100 * min(entry['actions'].values()):.0f}-{100 * max(entry['actions'].values()):.0f} %)")
    sweep = diagnostics.get("paper_fallback_sweep")
    if sweep:
        keys = [sweep_key(tau) for tau in FALLBACK_SWEEP_MM]
        paper = sweep_key(OnlineConfig().fallback_mm)
        lines += ["", "Paper mode against its fallback distance τ: the coarse pose is kept where the robust joints "
                      f"of the converged pose lie more than τ from it (the paper's τ is {paper} mm). MPJPE (mm), "
                      "mean over actions, and the share of frames kept at the coarse pose:", "",
                  "| τ (mm) | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        for method, entry in sweep.items():
            cells = [f"{entry[k]['mpjpe']:.1f} ({100 * entry[k]['kept_share']:.0f} %)" for k in keys]
            lines.append(f"| {labels[method].removeprefix('+ online correction, ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
