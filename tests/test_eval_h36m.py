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
from evaluation.metrics import mpjpe, p_mpjpe
from pose_formats.normalization import MaxMin
from pose_formats.results import write_result_csv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eval_h36m(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "eval_h36m.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


@pytest.fixture
def layout(tmp_path):
    """Actions 1 and 4: coarse, change and online results (no online result for action 4), test
    lists, and one real frame image."""
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
        methods = {"unnorm": 40.0, "change_unnorm": 30.0} | ({"refined_unnorm": 20.0} if a == 1 else {})
        predictions = {}
        for kind, noise in methods.items():
            predictions[kind] = gt_mm + rng.normal(0, noise, gt_mm.shape)
            write_result_csv(results / f"result{a}_{kind}.csv", predictions[kind])
        write_result_csv(results / f"result{a}_2d_norm.csv", labels[:, :32] + 0.01)
        truth[a] = (max_min.unnormalize(labels[:, 32:80]), predictions)
    return dict(results=results, gt=gt_dir, root=root, truth=truth, out=tmp_path / "eval")


def test_table_json_and_pictures(layout):
    done = eval_h36m(layout["results"], "--gt-dir", layout["gt"], "--actions", "1-15", "--out-dir", layout["out"],
                     "--image-root", layout["root"], "--figure-frames", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("no result files, skipped") == 13
    report = json.loads((layout["out"] / "eval.json").read_text())
    rows = {r["action"]: r for r in report["actions"]}
    assert sorted(rows) == [1, 4]
    for a, (gt_mm, predictions) in layout["truth"].items():
        for method, kind in (("coarse", "unnorm"), ("change", "change_unnorm"), ("online", "refined_unnorm")):
            if kind not in predictions:
                assert method not in rows[a]
                continue
            want = predictions[kind].astype(np.float32).astype(np.float64)  # as written (9 digits)
            assert rows[a][method]["mpjpe"] == pytest.approx(mpjpe(want, gt_mm), rel=1e-6)
            assert rows[a][method]["p_mpjpe"] == pytest.approx(p_mpjpe(want, gt_mm), rel=1e-6)
            assert rows[a][method]["p_mpjpe"] < rows[a][method]["mpjpe"]
    assert report["mean"]["coarse"]["mpjpe"] == pytest.approx((rows[1]["coarse"]["mpjpe"] + rows[4]["coarse"]["mpjpe"]) / 2)
    assert report["mean"]["online"] == {**rows[1]["online"], "actions": 1}
    with open(layout["out"] / "eval.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["action"] for r in table] == ["1", "4", "mean"]
    assert float(table[0]["change_mpjpe"]) == pytest.approx(rows[1]["change"]["mpjpe"], abs=1e-4)
    assert table[1]["online_mpjpe"] == ""
    assert "mean" in done.stdout and f"{rows[1]['coarse']['mpjpe']:.2f}" in done.stdout

    picture = cv2.imread(str(layout["out"] / "figures" / "action01_Directions.png"))
    assert picture.shape == (2 * PANEL, 4 * PANEL, 3)    # 2 frames × (2D, coarse, change, online)
    picture = cv2.imread(str(layout["out"] / "figures" / "action04_Greeting.png"))
    assert picture.shape == (2 * PANEL, 3 * PANEL, 3)
    assert picture.std() > 5  # something was drawn


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
