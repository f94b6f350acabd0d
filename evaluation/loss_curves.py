"""Training curves of the Caffe stages: the `caffe train` log's losses, and the same quantities on
the held-out test set for the final model, as one PNG per stage (OpenCV; no plotting library).

Train: the solver's smoothed total loss (`Iteration N, loss = X`, averaged over `average_loss`
iterations) and each train net output at the display steps (`Train net output #k: NAME = V`, that
iteration's batch). Held-out: the demo's solvers have no TEST phase and keep no intermediate
snapshots, so it is the final model's value of each output on the test frames, computed from the
result CSVs tools/test_all.sh wrote, drawn as a dot at the last iteration: `loss_2d` from our 2D
estimates (result<a>_2d_norm.csv, the 2D model), `loss_3d` and `mpjpe` from the coarse poses
(result<a>_norm.csv; addsrr leaves the coarse path as bilstm trained it, so the 3D model's coarse
poses are bilstm's too), `loss_change` from result<a>_change_norm.csv and `loss_project` from
result<a>_project_2d_norm.csv. A EuclideanLoss is half the mean over frames of the squared distance;
`mpjpe` is what MPJPEEvaluation reports (mm, roots not aligned)."""
import os
import re

import cv2
import numpy as np

from pose_formats.input_files import text_lines
from pose_formats.per_action import result_path
from pose_formats.results import read_result_csv
from pose_formats.skeleton import DIM_2D, DIM_3D, MASK_2D_JOINT

from .figures import write_png

STAGES = ("cpm", "bilstm", "refine", "projector", "addsrr", "finetune_whole", "mask3d")   # as tools/train.sh runs them
# Whose test results give a stage's held-out values, with per-stage tests (tools/train.sh's stages/):
# bilstm's coarse path is addsrr's; cpm's 2D estimates lie in the results folder itself. The refine and
# projector stages (fitted_refine, fitted_projector) have none: addsrr trains their weights on, and the
# table gives the final refine branch's `change`, the diagnostics the final projector's error from the
# ground-truth 3D pose.
NO_HELD_OUT = ("refine", "projector")
HELD_OUT_STAGE = {"bilstm": "addsrr", "addsrr": "addsrr", "finetune_whole": "finetune_whole", "mask3d": "mask3d"}
ITERATION_LINE = re.compile(r"\] Iteration (\d+)(?: \([^)]*\))?, loss = (\S+)\s*$")
_OUTPUT = re.compile(r"\]\s+Train net output #\d+: (\S+) = (\S+)")
_NOSPINE = np.array([i for i in range(DIM_2D) if i // 2 != MASK_2D_JOINT])
# train net output -> (result kind, label columns, values compared)
HELD_OUT = {"loss_2d": ("2d_norm", slice(0, DIM_2D), slice(None)),
            "loss_project": ("project_2d_norm", slice(0, DIM_2D), _NOSPINE),
            "loss_3d": ("norm", slice(DIM_2D, DIM_2D + DIM_3D), slice(None)),
            "loss_change": ("change_norm", slice(DIM_2D, DIM_2D + DIM_3D), slice(None)),
            "mpjpe": ("norm", slice(DIM_2D, DIM_2D + DIM_3D), slice(None))}


def parse_caffe_log(path):
    """{"loss": {iteration: smoothed total loss}, "outputs": {name: {iteration: value}}} of a
    `caffe train` log; the output lines belong to the iteration line before them."""
    loss, outputs, iteration = {}, {}, None
    for number, line in enumerate(text_lines(path), 1):
        match = ITERATION_LINE.search(line) or _OUTPUT.search(line)
        if match is None:
            continue
        try:
            value = float(match.group(2))
        except ValueError:
            raise ValueError(f"{path}:{number}: loss {match.group(2)!r} is not a number") from None
        if match.re is ITERATION_LINE:
            iteration = int(match.group(1))
            loss[iteration] = value
        elif iteration is None:
            raise ValueError(f"{path}:{number}: a train net output before any 'Iteration N, loss = X' line")
        else:
            outputs.setdefault(match.group(1), {})[iteration] = value
    if not loss:
        raise ValueError(f"{path}: no 'Iteration N, loss = X' lines (not a caffe train log?)")
    return {"loss": loss, "outputs": outputs}


def held_out_values(names, results_dir, tests, range_mm):
    """{name: value on the test frames} for the outputs in `names` that HELD_OUT knows and whose result
    file exists for every action of `tests` ({action: TestList}); frames of all actions pooled."""
    values = {}
    for name in names:
        if name not in HELD_OUT:
            continue
        kind, label_columns, compared = HELD_OUT[name]
        paths = {a: result_path(results_dir, a, kind) for a in tests}
        if not tests or not all(os.path.exists(p) for p in paths.values()):
            continue
        predicted = {a: read_result_csv(p, label_columns.stop - label_columns.start)[1] for a, p in paths.items()}
        for a, p in paths.items():
            if len(predicted[a]) != len(tests[a].labels):
                raise ValueError(f"{p} has {len(predicted[a])} frames but {tests[a].path} has {len(tests[a].labels)}")
        diff = np.vstack([predicted[a] - tests[a].labels[:, label_columns] for a in tests])[:, compared]
        if name == "mpjpe":
            values[name] = float(np.linalg.norm((diff * range_mm).reshape(len(diff), -1, 3), axis=2).mean())
        else:
            values[name] = float(0.5 * (diff ** 2).sum(axis=1).mean())
    return values


COLORS = ((230, 230, 230), (80, 170, 255), (90, 220, 90), (255, 140, 60), (200, 100, 230), (60, 220, 220),
          (120, 120, 255))
WIDTH, PANEL_HEIGHT, MARGIN = 960, 360, (80, 20, 40, 50)   # margins: left, top, right, bottom


def _panel(title, series, points, log_scale, max_iteration):
    """One plot: series [(label, {iteration: value})] as lines, points [(label, iteration, value)] as
    dots in the colour of the series of the same label; log10 y axis when asked and all values > 0."""
    values = [v for _, s in series for v in s.values()] + [v for _, _, v in points]
    log_scale = log_scale and min(values) > 0
    to_y = np.log10 if log_scale else (lambda v: np.asarray(v, np.float64))
    lo, hi = float(np.min(to_y(values))), float(np.max(to_y(values)))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    image = np.full((PANEL_HEIGHT, WIDTH, 3), 30, np.uint8)
    left, top, right, bottom = MARGIN
    x1, y1 = WIDTH - right, PANEL_HEIGHT - bottom

    def xy(iteration, value):
        x = left + (x1 - left) * iteration / max(1, max_iteration)
        y = y1 - (y1 - top) * (float(to_y(value)) - lo) / (hi - lo)
        return int(round(x)), int(round(y))

    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.rectangle(image, (left, top), (x1, y1), (110, 110, 110), 1)
    for t in np.linspace(lo, hi, 5):
        y = int(round(y1 - (y1 - top) * (t - lo) / (hi - lo)))
        cv2.line(image, (left - 4, y), (left, y), (110, 110, 110), 1)
        text = f"{10 ** t:.3g}" if log_scale else f"{t:.3g}"
        cv2.putText(image, text, (4, y + 4), font, 0.4, (200, 200, 200), 1, cv2.LINE_AA)
    for t in np.linspace(0, max_iteration, 5):
        x = int(round(left + (x1 - left) * t / max(1, max_iteration)))
        cv2.line(image, (x, y1), (x, y1 + 4), (110, 110, 110), 1)
        cv2.putText(image, f"{t:.0f}", (x - 12, y1 + 18), font, 0.4, (200, 200, 200), 1, cv2.LINE_AA)
    cv2.putText(image, "iteration", (x1 - 70, PANEL_HEIGHT - 10), font, 0.4, (200, 200, 200), 1, cv2.LINE_AA)
    cv2.putText(image, title + (" (log scale)" if log_scale else ""), (left, top - 5), font, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    colors = {label: COLORS[i % len(COLORS)] for i, (label, _) in enumerate(series)}
    for i, (label, s) in enumerate(series):
        line = np.array([xy(k, v) for k, v in sorted(s.items())], np.int32)
        cv2.polylines(image, [line], False, colors[label], 2 if i == 0 else 1, cv2.LINE_AA)
        cv2.putText(image, label, (x1 - 250, top + 18 + 16 * i), font, 0.4, colors[label], 1, cv2.LINE_AA)
    for label, iteration, value in points:
        cv2.circle(image, xy(iteration, value), 6, colors.get(label, COLORS[0]), -1, cv2.LINE_AA)
        cv2.circle(image, xy(iteration, value), 6, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def draw_stage(stage, log, held_out):
    """The stage's PNG image: losses (log scale) and, when the net outputs one, MPJPE in mm; lines are
    train values, dots the held-out values of the final model."""
    last = max(log["loss"])
    header = np.full((28, WIDTH, 3), 30, np.uint8)
    cv2.putText(header, f"{stage}: train (lines) and held-out test set, final model (dots)", (10, 19),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    losses = [("loss (smoothed total)", log["loss"])] + [(n, s) for n, s in log["outputs"].items() if n != "mpjpe"]
    panels = [_panel("loss", losses, [(n, last, v) for n, v in held_out.items() if n != "mpjpe"], True, last)]
    if "mpjpe" in log["outputs"]:
        points = [("mpjpe", last, held_out["mpjpe"])] if "mpjpe" in held_out else []
        panels.append(_panel("MPJPE (mm)", [("mpjpe", log["outputs"]["mpjpe"])], points, False, last))
    return np.vstack([header, *panels])




def stage_curves(log_path, stage, results_dir, tests, range_mm, png):
    """Parse a stage's log, compute its held-out values (see held_out_values), write its PNG; the
    report's entry for it."""
    log = parse_caffe_log(log_path)
    held_out = held_out_values(log["outputs"], results_dir, tests, range_mm) if results_dir else {}
    write_png(png, draw_stage(stage, log, held_out))
    last = max(log["loss"])
    return {"png": png, "log": log_path, "iterations": last, "train_loss_final": log["loss"][last],
            "train_outputs_final": {n: s[max(s)] for n, s in log["outputs"].items()}, "held_out": held_out}


def format_curves(curves, relative_to):
    """Markdown lines: each stage's final train and held-out values and its picture."""
    lines = []
    for stage, c in curves.items():
        held = ", ".join(f"{n} {v:.4g}" for n, v in c["held_out"].items()) or "none"
        train = ", ".join(f"{n} {c['train_outputs_final'][n]:.4g}" for n in c["held_out"])
        lines.append(f"- {stage}: {c['iterations']} iterations, smoothed train loss {c['train_loss_final']:.4g}"
                     + (f" (last batch: {train})" if train else "") + f"; held-out (test set, final model): {held}; "
                     f"![{stage} loss curve]({os.path.relpath(c['png'], relative_to)})")
    return "\n".join(lines)
