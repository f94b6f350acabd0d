"""tools/pred_v2.py over a results directory: modes, 2D sources, skipping, and bad inputs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from evaluation.metrics import mpjpe
from online import OnlineConfig, OnlineModel, refine_independent, refine_paper, refine_released
from online.weights import random_weights, save_weights
from pose_formats.normalization import MaxMin
from pose_formats.results import read_result_csv, write_result_csv
from pose_formats.skeleton import ROBUST_JOINTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTIONS = (2, 5)
FRAMES = {2: 17, 5: 9}


def write_test_list(path, labels):
    with open(path, "w") as f:
        for i, row in enumerate(labels):
            f.write(f"images/a/{i:04d}.jpg " + ",".join(f"{v:.9g}" for v in row) + "\n")


@pytest.fixture
def layout(tmp_path):
    """A results dir as test_all.sh leaves it (actions 2 and 5), test lists, external 2D, weights."""
    rng = np.random.default_rng(7)
    max_min = MaxMin()
    results, gt_dir, external = tmp_path / "results", tmp_path / "gt", tmp_path / "hourglass"
    for d in (results, gt_dir, external):
        d.mkdir()
    data = {}
    for a in ACTIONS:
        n = FRAMES[a]
        gt_mm = rng.normal(0, 200, (n, 16, 3))
        gt_mm[:, 0] = 0
        gt_norm = max_min.normalize(gt_mm.reshape(n, 48))
        gt_2d = rng.random((n, 32))
        labels = np.hstack([gt_2d, gt_norm, (np.arange(n) % 5 != 0)[:, None]])
        write_test_list(gt_dir / f"test{a}.txt", labels)
        coarse = (gt_norm + rng.normal(0, 0.02, gt_norm.shape)).astype(np.float32)
        ours = (gt_2d + rng.normal(0, 0.01, gt_2d.shape)).astype(np.float32)
        hourglass = (gt_2d + rng.normal(0, 0.02, gt_2d.shape)).astype(np.float32)
        write_result_csv(results / f"result{a}_norm.csv", coarse)
        write_result_csv(results / f"result{a}_2d_norm.csv", ours)
        write_result_csv(external / f"hg{a}.csv", hourglass)
        data[a] = dict(coarse=coarse, ours=ours, hourglass=hourglass, gt_2d=gt_2d, gt_mm=gt_mm.reshape(n, 48))
    weights = random_weights(32, 40, seed=5)
    save_weights(tmp_path / "refine.npz", weights)
    return dict(results=results, gt=gt_dir, external=external, weights=weights,
                weights_path=tmp_path / "refine.npz", data=data, tmp=tmp_path)


def pred_v2(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "pred_v2.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def read_refined(layout, a, kind="refined"):
    _, norm = read_result_csv(layout["results"] / f"result{a}_{kind}_norm.csv", 48)
    _, mm = read_result_csv(layout["results"] / f"result{a}_{kind}_unnorm.csv", 48)
    return norm, mm


def test_help():
    done = pred_v2("--help")
    assert done.returncode == 0 and "--2d-source" in done.stdout and "released" in done.stdout


def test_released_mode_all_actions(layout):
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "2,5",
                   "--gt-dir", layout["gt"], "--no-progress")
    assert done.returncode == 0, done.stderr
    model = OnlineModel(layout["weights"], np.float32)
    data = layout["data"]
    expected = refine_released(model, [data[a]["coarse"] for a in ACTIONS], [data[a]["ours"] for a in ACTIONS])
    max_min = MaxMin()
    for a, want in zip(ACTIONS, expected):
        norm, mm = read_refined(layout, a)
        np.testing.assert_allclose(norm, want, rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(mm, max_min.unnormalize(want), rtol=1e-7, atol=1e-6)
        before = mpjpe(max_min.unnormalize(data[a]["coarse"]), data[a]["gt_mm"])
        after = mpjpe(max_min.unnormalize(want), data[a]["gt_mm"])
        assert f"MPJPE {before:.2f} -> {after:.2f} mm" in done.stdout
        stats = json.loads((layout["results"] / f"result{a}_refined.json").read_text())
        assert stats["mpjpe_after"] == pytest.approx(after) and "kept_coarse_share" not in stats
    assert "mean over 2 actions" in done.stdout

    # a second run skips both actions and leaves the files alone; --redo recomputes
    stamp = os.stat(layout["results"] / "result2_refined_norm.csv").st_mtime_ns
    again = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "2,5", "--no-progress")
    assert again.returncode == 0 and again.stdout.count("already corrected") == 2
    assert os.stat(layout["results"] / "result2_refined_norm.csv").st_mtime_ns == stamp
    redo = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "2", "--redo",
                   "--no-progress")
    assert redo.returncode == 0 and "already corrected" not in redo.stdout


@pytest.mark.parametrize("source", ["gt", "external"])
def test_independent_mode_with_other_2d_sources(layout, source):
    extra = (["--external-2d", str(layout["external"] / "hg{a}.csv")] if source == "external" else [])
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "5", "--mode", "independent",
                   "--2d-source", source, "--gt-dir", layout["gt"], "--float64", "--no-progress", *extra)
    assert done.returncode == 0, done.stderr
    data = layout["data"][5]
    q = data["gt_2d"] if source == "gt" else data["hourglass"]
    want = refine_independent(OnlineModel(layout["weights"], np.float64), data["coarse"], q)
    kind = "online_independent_gt2d" if source == "gt" else "online_independent_ext2d"
    np.testing.assert_allclose(read_refined(layout, 5, kind)[0], want, rtol=1e-8, atol=1e-9)
    assert not (layout["results"] / f"result2_{kind}_norm.csv").exists()
    assert not (layout["results"] / "result5_refined_norm.csv").exists()


def test_paper_mode_runs(layout):
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "2", "--mode", "paper",
                   "--max-iterations", "4", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert read_refined(layout, 2, "online_paper")[0].shape == (FRAMES[2], 48)
    assert "MPJPE" not in done.stdout  # no ground truth given
    assert "passes per frame, coarse pose kept for" in done.stdout


def test_paper_mode_writes_its_kept_share(layout):
    # The fallback threshold at the median distance the uncapped results move from the coarse pose
    # (robust joints, mm), so about half the frames are kept at the coarse pose.
    model = OnlineModel(layout["weights"], np.float64)
    max_min = MaxMin()
    data = layout["data"]
    free = {a: refine_paper(model, data[a]["coarse"], data[a]["gt_2d"], max_min.range,
                            OnlineConfig(fallback_mm=None)).refined for a in ACTIONS}
    moved = {a: np.linalg.norm(((free[a] - data[a]["coarse"]) * max_min.range).reshape(-1, 16, 3)
                               [:, list(ROBUST_JOINTS)], axis=2).mean(axis=1) for a in ACTIONS}
    threshold = float(np.median(np.concatenate(list(moved.values()))))
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "2,5", "--mode", "paper",
                   "--2d-source", "gt", "--gt-dir", layout["gt"], "--fallback-mm", threshold, "--float64",
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    shares = []
    for a in ACTIONS:
        far = moved[a] > threshold
        stats = json.loads((layout["results"] / f"result{a}_online_paper_gt2d.json").read_text())
        assert stats["mode"] == "paper" and stats["2d_source"] == "gt" and stats["frames"] == FRAMES[a]
        assert stats["kept_coarse_frames"] == int(far.sum())
        assert stats["kept_coarse_share"] == pytest.approx(far.mean())
        refined = read_refined(layout, a, "online_paper_gt2d")[0]
        np.testing.assert_allclose(refined[far], data[a]["coarse"][far], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(refined[~far], free[a][~far], rtol=1e-6, atol=1e-9)
        converged = np.loadtxt(layout["results"] / f"result{a}_online_paper_gt2d_converged_unnorm.csv",
                               delimiter=",", ndmin=2)[:, 1:]
        np.testing.assert_allclose(converged, max_min.unnormalize(free[a]), rtol=1e-6, atol=1e-6)
        shares.append(stats["kept_coarse_share"])
    assert 0 < min(shares) and max(shares) < 1, shares
    assert not list(layout["results"].glob("*refined*"))   # the default run's names are not paper mode's


def test_mismatched_frame_counts_name_the_files(layout):
    path = layout["results"] / "result5_2d_norm.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "5", "--no-progress")
    assert done.returncode == 2
    assert "result5_2d_norm.csv has 8 frames" in done.stderr and "result5_norm.csv has 9" in done.stderr
    assert not (layout["results"] / "result5_refined_norm.csv").exists()


def test_mismatched_gt_and_width_errors(layout):
    gt = layout["gt"] / "test2.txt"
    gt.write_text("".join(gt.read_text().splitlines(keepends=True)[:5]))
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "2",
                   "--gt-dir", layout["gt"], "--no-progress")
    assert done.returncode == 2 and "test2.txt has 5 frames" in done.stderr
    coarse = layout["results"] / "result5_norm.csv"
    coarse.write_text(coarse.read_text().replace("\n", ",0.5\n", 1))
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "5", "--no-progress")
    assert done.returncode == 2 and "result5_norm.csv:1: expected 49 fields" in done.stderr


def test_legacy_pickle_needs_the_flag(layout):
    pickle_path = layout["tmp"] / "refine.pkl"
    save_weights(pickle_path, layout["weights"], legacy_pickle=True)
    done = pred_v2(layout["results"], "--weights", pickle_path, "--actions", "5", "--no-progress")
    assert done.returncode == 2 and "--legacy-pickle" in done.stderr
    done = pred_v2(layout["results"], "--weights", pickle_path, "--legacy-pickle", "--actions", "5",
                   "--mode", "independent", "--no-progress")
    assert done.returncode == 0, done.stderr
    want = refine_independent(OnlineModel(layout["weights"], np.float32), layout["data"][5]["coarse"],
                              layout["data"][5]["ours"], OnlineConfig())
    np.testing.assert_allclose(read_refined(layout, 5, "online_independent")[0], want, rtol=1e-7, atol=1e-8)


def test_released_kernel_engine_needs_a_gpu(layout, monkeypatch):
    monkeypatch.setenv("HPM_BACKEND", "numpy")
    done = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "5",
                   "--released-engine", "kernel", "--no-progress")
    assert done.returncode == 2 and "needs the model on CuPy" in done.stderr
    assert not (layout["results"] / "result5_refined_norm.csv").exists()
    rows = pred_v2(layout["results"], "--weights", layout["weights_path"], "--actions", "5",
                   "--released-engine", "rows", "--no-progress")
    assert rows.returncode == 0, rows.stderr


@pytest.mark.parametrize("damage", ["truncated", "empty", "directory"])
def test_damaged_weights_file_is_a_one_line_error(layout, damage):
    path = layout["weights_path"]
    data = path.read_bytes()
    path.unlink()
    if damage == "directory":
        path.mkdir()
    else:
        path.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"")
    done = pred_v2(layout["results"], "--weights", path, "--actions", "5", "--no-progress")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr
    assert not (layout["results"] / "result5_refined_norm.csv").exists()
