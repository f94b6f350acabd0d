"""tools/eval_h36m.py: MPJPE / P-MPJPE tables against the test lists, CSV + JSON, PNG pictures."""
import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from evaluation.figures import PANEL
from evaluation.metrics import p_mpjpe
from pose_formats.normalization import MaxMin
from pose_formats.results import write_result_csv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eval_h36m(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "eval_h36m.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


ONLINE_KINDS = {"online_released": "refined", "online_released_gt2d": "online_released_gt2d",
                "online_independent": "online_independent", "online_independent_gt2d": "online_independent_gt2d",
                "online_paper": "online_paper", "online_paper_gt2d": "online_paper_gt2d"}


def write_layout(tmp_path, kinds):
    """Test lists, one real frame image, and per action a: result<a>_<kind>.csv for the kinds in
    kinds[a] (un-normalised 3D, or normalised 2D for 2d_norm and project_2d_norm), and paper mode's
    JSON beside its CSVs."""
    rng = np.random.default_rng(3)
    max_min = MaxMin()
    results, gt_dir, root = tmp_path / "results", tmp_path / "gt", tmp_path / "data"
    for d in (results, gt_dir, root / "images"):
        d.mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "f0.png"), np.full((96, 96, 3), 90, np.uint8))
    truth = {}
    for a, n in ((1, 12), (4, 7)):
        gt_mm = rng.normal(0, 200, (n, 16, 3))
        gt_mm[:, 0] = 0
        gt_mm = gt_mm.reshape(n, 48)
        labels = np.hstack([rng.random((n, 32)), max_min.normalize(gt_mm), np.ones((n, 1))])
        with open(gt_dir / f"test{a}.txt", "w") as f:
            for i, row in enumerate(labels):
                f.write(f"images/f{i}.png " + ",".join(f"{v:.12g}" for v in row) + "\n")
        predictions = {}   # what was meant, before it was written to 9 digits
        for i, kind in enumerate(kinds[a]):
            if kind.endswith("2d_norm"):
                predictions[kind] = labels[:, :32] + rng.normal(0, 0.02 * (i + 1), (n, 32))
            else:
                predictions[kind] = gt_mm + rng.normal(0, 10.0 * (i + 1), gt_mm.shape)
            write_result_csv(results / f"result{a}_{kind}.csv", predictions[kind])
            if kind.startswith("online_paper"):
                (results / f"result{a}_{kind.removesuffix('_unnorm')}.json").write_text(
                    json.dumps({"frames": n, "kept_coarse_frames": a + 1}))
        # the predictions as the CSVs hold them, read back with np.loadtxt
        truth[a] = (max_min.unnormalize(labels[:, 32:80]), labels[:, :32],
                    {k: np.loadtxt(results / f"result{a}_{k}.csv", delimiter=",", ndmin=2)[:, 1:] for k in predictions})
    return dict(results=results, gt=gt_dir, root=root, truth=truth, out=tmp_path / "eval")


@pytest.fixture
def layout(tmp_path):
    """The single-mode layout: actions 1 and 4 with coarse, change and default online results (no
    online result for action 4) and our 2D estimates."""
    return write_layout(tmp_path, {1: ["unnorm", "change_unnorm", "refined_unnorm", "2d_norm"],
                                   4: ["unnorm", "change_unnorm", "2d_norm"]})


def independent_mpjpe(pred, gt):
    """Root-aligned mean joint distance, written out here rather than taken from evaluation.metrics."""
    d = (pred.reshape(len(pred), 16, 3) - pred.reshape(len(pred), 16, 3)[:, :1]) \
        - (gt.reshape(len(gt), 16, 3) - gt.reshape(len(gt), 16, 3)[:, :1])
    return float(np.sqrt((d ** 2).sum(axis=2)).mean())


# The list files' labels are read in float32, as Caffe reads them: comparisons hold to rel 1e-6.


def test_table_json_and_pictures(layout):
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1-15", "--out-dir", layout["out"],
                     "--image-root", layout["root"], "--figure-frames", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("no result files, skipped") == 13
    for method in ("online_released_gt2d", "online_independent", "online_paper_gt2d"):
        assert f"row {method}: no result<a>_" in done.stdout
    report = json.loads((layout["out"] / "eval.json").read_text())
    rows = report["actions"]
    assert sorted(rows) == ["Directions", "Greeting"] and rows["Greeting"]["action"] == 4
    for a, name in ((1, "Directions"), (4, "Greeting")):
        gt_mm, _, predictions = layout["truth"][a]
        for method, kind in (("coarse", "unnorm"), ("change", "change_unnorm"), ("online_released", "refined_unnorm")):
            if kind not in predictions:
                assert method not in rows[name]
                continue
            assert rows[name][method]["mpjpe"] == pytest.approx(independent_mpjpe(predictions[kind], gt_mm), rel=1e-6)
            assert rows[name][method]["p_mpjpe"] == pytest.approx(p_mpjpe(predictions[kind], gt_mm), rel=1e-6)
            assert rows[name][method]["p_mpjpe"] < rows[name][method]["mpjpe"]
    assert report["mean"]["coarse"]["mpjpe"] == pytest.approx(
        (rows["Directions"]["coarse"]["mpjpe"] + rows["Greeting"]["coarse"]["mpjpe"]) / 2)
    assert report["mean"]["online_released"] == {**rows["Directions"]["online_released"], "actions": 1}
    assert sorted(report["mean"]) == ["change", "coarse", "online_released"]
    with open(layout["out"] / "eval.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["action"] for r in table] == ["1", "4", "mean"]
    assert float(table[0]["change_mpjpe"]) == pytest.approx(rows["Directions"]["change"]["mpjpe"], abs=1e-4)
    assert table[1]["online_released_mpjpe"] == "" and table[1]["online_paper_gt2d_p_mpjpe"] == ""
    assert f"| coarse 3D | {report['mean']['coarse']['mpjpe']:.1f} |" in done.stdout
    assert "(1 actions)" in done.stdout  # online_released's mean covers only action 1
    assert (layout["out"] / "ablation.md").read_text().strip() in done.stdout

    picture = cv2.imread(str(layout["out"] / "figures" / "action01_Directions.png"))
    assert picture.shape == (2 * PANEL, 4 * PANEL, 3)    # 2 frames × (2D, coarse, change, online)
    picture = cv2.imread(str(layout["out"] / "figures" / "action04_Greeting.png"))
    assert picture.shape == (2 * PANEL, 3 * PANEL, 3)
    assert picture.std() > 5  # something was drawn


def test_ablation_rows_and_diagnostics(tmp_path):
    online = [f"{k}_unnorm" for k in ONLINE_KINDS.values() if k != "online_paper_gt2d"]
    layout = write_layout(tmp_path, {a: ["unnorm", "change_unnorm", *online, "2d_norm", "project_2d_norm"]
                                     for a in (1, 4)})
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1,4", "--figure-frames", "0",
                     "--crop-px", "96")
    assert done.returncode == 0, done.stderr
    assert "row online_paper_gt2d: no result<a>_online_paper_gt2d_unnorm.csv" in done.stdout
    report = json.loads((layout["results"] / "eval.json").read_text())
    methods = {"coarse": "unnorm", "change": "change_unnorm",
               **{m: f"{k}_unnorm" for m, k in ONLINE_KINDS.items() if m != "online_paper_gt2d"}}
    assert sorted(report["mean"]) == sorted(methods)
    names = {1: "Directions", 4: "Greeting"}
    for method, kind in methods.items():
        per_action = [independent_mpjpe(layout["truth"][a][2][kind], layout["truth"][a][0]) for a in names]
        for a, value in zip(names, per_action):
            assert report["actions"][names[a]][method]["mpjpe"] == pytest.approx(value, rel=1e-6)
        assert report["mean"][method]["mpjpe"] == pytest.approx(np.mean(per_action), rel=1e-6)
        assert report["mean"][method]["p_mpjpe"] == pytest.approx(
            np.mean([p_mpjpe(layout["truth"][a][2][kind], layout["truth"][a][0]) for a in names]), rel=1e-6)
    markdown = (layout["results"] / "ablation.md").read_text()
    for method, kind in methods.items():
        label = report["methods"][method]["label"]
        assert f"| {label} | {report['mean'][method]['mpjpe']:.1f} |" in markdown
        assert f"| {label} | {report['mean'][method]['p_mpjpe']:.1f} |" in markdown
    assert "GT 2D" not in markdown and "ground-truth 2D" in markdown

    diagnostics = report["diagnostics"]
    spine = 7
    for name, kind in (("projector_2d", "project_2d_norm"), ("estimate_2d", "2d_norm")):
        errors = []
        for a in names:
            d = (layout["truth"][a][2][kind] - layout["truth"][a][1]).reshape(-1, 16, 2)
            errors.append(np.sqrt((np.delete(d, spine, axis=1) ** 2).sum(axis=2)).mean())
            assert diagnostics[name]["actions"][names[a]]["px"] == pytest.approx(96 * errors[-1], rel=1e-6)
        assert diagnostics[name]["mean"]["norm"] == pytest.approx(np.mean(errors), rel=1e-6)
    for method, kind in methods.items():
        if method.startswith("online_"):
            moved = [independent_mpjpe(layout["truth"][a][2][kind], layout["truth"][a][2]["unnorm"]) for a in names]
            assert diagnostics["displacement_mm"][method]["mean"] == pytest.approx(np.mean(moved), rel=1e-6)
    assert diagnostics["paper_kept_coarse"] == {"online_paper": {
        "share": (2 + 5) / (12 + 7), "frames": 7, "of": 19, "actions": {"Directions": 2 / 12, "Greeting": 5 / 7}}}
    assert "coarse pose kept for 36.8 % of frames (7 of 19" in markdown
    assert f"{diagnostics['projector_2d']['mean']['px']:.2f} px of the 96 px crop" in markdown


def test_paper_fallback_sweep(tmp_path):
    """Paper mode's poses before the fallback rule, each frame's robust joints moved a known distance
    from the coarse pose: at each τ the sweep keeps the coarse pose exactly where that distance
    exceeds τ, and scores the mix against an independent MPJPE."""
    layout = write_layout(tmp_path, {a: ["unnorm", "online_paper_unnorm"] for a in (1, 4)})
    rng = np.random.default_rng(8)
    moved, converged = {}, {}
    for a in (1, 4):
        coarse = layout["truth"][a][2]["unnorm"]
        n = len(coarse)
        directions = rng.normal(size=(n, 16, 3))
        directions /= np.linalg.norm(directions, axis=2, keepdims=True)
        moved[a] = np.linspace(7.0, 97.0, n)         # every joint moves this far (mm), none at a τ
        write_result_csv(layout["results"] / f"result{a}_online_paper_converged_unnorm.csv",
                         coarse + (directions * moved[a][:, None, None]).reshape(n, 48))
        converged[a] = np.loadtxt(layout["results"] / f"result{a}_online_paper_converged_unnorm.csv",
                                  delimiter=",", ndmin=2)[:, 1:]
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1,4", "--figure-frames", "0")
    assert done.returncode == 0, done.stderr
    sweep = json.loads((layout["results"] / "eval.json").read_text())["diagnostics"]["paper_fallback_sweep"]
    assert list(sweep) == ["online_paper"]
    assert list(sweep["online_paper"]) == ["10", "20", "30", "40", "60", "80", "none"]
    for key, tau in (("10", 10.0), ("20", 20.0), ("40", 40.0), ("none", np.inf)):
        errors, kept = [], 0
        for a in (1, 4):
            gt_mm, _, predictions = layout["truth"][a]
            far = moved[a] > tau
            errors.append(independent_mpjpe(np.where(far[:, None], predictions["unnorm"], converged[a]), gt_mm))
            kept += int(far.sum())
        assert sweep["online_paper"][key]["mpjpe"] == pytest.approx(np.mean(errors), rel=1e-6), key
        assert sweep["online_paper"][key]["kept_share"] == kept / (12 + 7)
    assert 0 < sweep["online_paper"]["40"]["kept_share"] < 1 and sweep["online_paper"]["none"]["kept_share"] == 0
    markdown = (layout["results"] / "ablation.md").read_text()
    none = sweep["online_paper"]["none"]["mpjpe"]
    assert "| τ (mm) | 10 | 20 | 30 | 40 | 60 | 80 | none |" in markdown
    assert f"| paper mode, our 2D | {sweep['online_paper']['10']['mpjpe']:.1f} (" in markdown
    assert markdown.split("| paper mode, our 2D | ")[1].split("\n")[0].endswith(f"| {none:.1f} (0 %) |")

    path = layout["results"] / "result4_online_paper_converged_unnorm.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1,4", "--figure-frames", "0")
    assert done.returncode == 2
    assert "result4_online_paper_converged_unnorm.csv has 6 frames" in done.stderr and "test4.txt has 7" in done.stderr


def test_projector_error_from_the_ground_truth_3d(tmp_path):
    """With the converted weights beside the results, the projector is also fed each test frame's
    ground-truth 3D pose: its 2D error against an independent float64 forward of p(r)."""
    from online.weights import random_weights, save_weights
    layout = write_layout(tmp_path, {a: ["unnorm", "project_2d_norm"] for a in (1, 4)})
    weights = random_weights(refine_width=24, projector_width=20, seed=5)
    save_weights(layout["results"] / "refine.npz", weights)
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1,4", "--figure-frames", "0",
                     "--crop-px", "96")
    assert done.returncode == 0, done.stderr
    relu = lambda a: np.maximum(a, 0)
    errors = []
    for a in (1, 4):
        lines = (layout["gt"] / f"test{a}.txt").read_text().split("\n")
        labels = np.array([[float(v) for v in line.rsplit(" ", 1)[1].split(",")] for line in lines if line])
        w = {k: np.asarray(v, np.float64) for k, v in weights.as_dict().items()}
        h1 = relu(labels[:, 32:80] @ w["W1"] + w["b1"])
        h3 = relu(relu(h1 @ w["W2"] + w["b2"]) @ w["W3"] + w["b3"])
        d = ((h1 + h3) @ w["W4"] + w["b4"] - labels[:, :32]).reshape(-1, 16, 2)
        errors.append(np.sqrt((np.delete(d, 7, axis=1) ** 2).sum(axis=2)).mean())
    diagnostics = json.loads((layout["results"] / "eval.json").read_text())["diagnostics"]
    assert diagnostics["projector_2d_from_gt3d"]["mean"]["norm"] == pytest.approx(np.mean(errors), rel=1e-9)
    assert "the same projector fed the ground-truth 3D pose" in (layout["results"] / "ablation.md").read_text()
    missing = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1", "--weights",
                        tmp_path / "none.npz")
    assert missing.returncode != 0 and "none.npz" in missing.stderr


def test_frame_count_mismatch_names_files(layout):
    path = layout["results"] / "result4_change_unnorm.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-2]))
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "4", "--figure-frames", "0")
    assert done.returncode == 2
    assert "result4_change_unnorm.csv has 5 frames" in done.stderr and "test4.txt has 7" in done.stderr


def test_missing_results_and_bad_lists(layout, tmp_path):
    done = eval_h36m(tmp_path, "--gt-dir", layout["gt"], "--actions", "1")
    assert done.returncode == 2 and "no result files" in done.stderr
    gt = layout["gt"] / "test1.txt"
    lines = gt.read_text().splitlines(keepends=True)
    gt.write_text("".join(lines[:3]) + lines[3].replace(",", ",x", 1) + "".join(lines[4:]))
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1")
    assert done.returncode == 2 and "test1.txt:4: value 2 is not a number" in done.stderr


def test_loss_log_errors_name_the_file_and_line(tmp_path):
    from evaluation.loss_curves import parse_caffe_log
    log = tmp_path / "cpm.log"
    log.write_text("I1201 solver.cpp:218] Iteration 0, loss = 0.5\n"
                   "I1201 solver.cpp:237]     Train net output #0: loss_2d = 0.5 (* 1 = 0.5 loss)\n"
                   "I1201 solver.cpp:218] Iteration 50 (2.1 iter/s, 23.8s/50 iters), loss = nan?\n")
    with pytest.raises(ValueError, match=r"cpm.log:3: loss 'nan\?' is not a number"):
        parse_caffe_log(str(log))
    log.write_text("I1201 solver.cpp:237]     Train net output #0: loss_2d = 0.5 (* 1 = 0.5 loss)\n")
    with pytest.raises(ValueError, match=r"cpm.log:1: a train net output before any"):
        parse_caffe_log(str(log))
    log.write_text("I1201 caffe.cpp:204] Using GPUs 0\n")
    with pytest.raises(ValueError, match=r"cpm.log: no 'Iteration N, loss = X' lines"):
        parse_caffe_log(str(log))
    log.write_text("I1201 solver.cpp:218] Iteration 0, loss = 0.5\n"
                   "I1201 solver.cpp:237]     Train net output #0: loss_2d = 0.5 (* 1 = 0.5 loss)\n"
                   "I1201 solver.cpp:218] Iteration 50 (2.1 iter/s, 23.8s/50 iters), loss = 0.25\n"
                   "I1201 solver.cpp:237]     Train net output #0: loss_2d = 0.2 (* 1 = 0.2 loss)\n"
                   "I1201 sgd_solver.cpp:105] Iteration 50, lr = 0.001\n")
    assert parse_caffe_log(str(log)) == {"loss": {0: 0.5, 50: 0.25}, "outputs": {"loss_2d": {0: 0.5, 50: 0.2}}}
