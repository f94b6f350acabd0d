"""evaluation/reference.py and its rows in tools/eval_h36m.py: the mean pose and the quadratic ridge
regression from ground-truth 2D against independent computations, and the unseen-motion folder of a
small generated data set read by the evaluation unchanged."""
import json
import os
import subprocess
import sys

import numpy as np

from evaluation.reference import References, quadratic_features
from pose_formats import synthetic as sy
from pose_formats.listfile import LABEL_DIM_2D3D, read_list_file, write_list_file
from pose_formats.normalization import MaxMin
from pose_formats.per_action import read_test_list
from pose_formats.results import write_result_csv
from pose_formats.synthetic.real_motion import ProtocolMotionSource, UnseenMotionSource

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quadratic_features_are_the_32_inputs_and_their_528_products():
    x = np.arange(1.0, 33.0)[None]
    f = quadratic_features(x)
    assert f.shape == (1, 1 + 32 + 528) and f[0, 0] == 1 and f[0, 1] == 1 and f[0, 33] == 1 and f[0, 34] == 2
    assert np.isclose(f[0, -1], 32 * 32) and np.isclose(f[0, 33:].sum(), (x.sum() ** 2 + (x ** 2).sum()) / 2)


def test_ridge_recovers_a_quadratic_map_and_the_mean_pose_is_the_mean(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, (2000, 32))
    truth = rng.normal(0, 0.05, (1 + 32 + 528, 48))
    y = quadratic_features(x) @ truth
    images = [f"images/S{s}/Walking.cam1/{i:06d}.jpg" for s in (1, 8) for i in range(1000)]
    labels = np.concatenate([x, y, np.zeros((2000, 1))], axis=1)
    write_list_file(tmp_path / "train.txt", images, labels)
    ref = References(str(tmp_path / "train.txt"))
    assert ref.held_out == "S8" and ref.lam <= 1e-4
    predicted = ref.predict(x[:10])
    np.testing.assert_allclose(predicted["quadratic_ridge_gt2d"], y[:10], atol=2e-3)
    np.testing.assert_allclose(predicted["mean_pose"][3], y.mean(axis=0))


def test_unseen_folder_is_read_by_the_evaluation_with_reference_rows(tmp_path):
    out = tmp_path / "synthetic"
    config = sy.SyntheticConfig(image_size=24, train_subjects=("S1", "S8"), frames_per_action=5, cameras=1)
    sy.generate(str(out), config, workers=1, motion_source=ProtocolMotionSource(config.test_subjects),
                unseen_source=UnseenMotionSource(), unseen_frames=5)
    unseen_gt = out / "unseen" / "gt" / "test"
    max_min = MaxMin(str(out / "16point_mean_limb_scaled_max_min.csv"))
    results = tmp_path / "results"
    results.mkdir()
    for a in range(1, 16):
        gt = read_test_list(str(unseen_gt / f"test{a}.txt"))
        assert len(gt.images) == 10 and all((out / "unseen" / p).exists() for p in gt.images)
        write_result_csv(results / f"result{a}_unnorm.csv", max_min.unnormalize(gt.pose_3d_norm))
    run = subprocess.run([sys.executable, os.path.join(REPO, "tools", "eval_h36m.py"), str(results), "--gt-dir",
                          str(unseen_gt), "--image-root", str(out / "unseen"), "--figure-frames", "0"],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    with open(results / "eval.json") as f:
        report = json.load(f)
    assert report["mean"]["coarse"]["mpjpe"] < 1e-3
    # The unseen folder has no training list: the main set's, one folder up, is the default.
    expected = References(str(out / sy.LIST_TRAIN)).score(
        {a: read_test_list(str(unseen_gt / f"test{a}.txt")) for a in range(1, 16)}, max_min)
    for name in ("mean_pose", "quadratic_ridge_gt2d"):
        assert abs(report["reference"][name]["mpjpe"] - expected[name]["mpjpe"]) < 1e-9
    # The mean-pose row by hand: the training labels' mean, un-normalised, against each slot's poses.
    _, train = read_list_file(str(out / sy.LIST_TRAIN), LABEL_DIM_2D3D)
    mean_mm = max_min.unnormalize(train[:, 32:80].astype(float).mean(axis=0)).reshape(16, 3)
    by_hand = np.mean([np.linalg.norm(max_min.unnormalize(read_test_list(str(unseen_gt / f"test{a}.txt")).pose_3d_norm)
                                      .reshape(-1, 16, 3) - mean_mm, axis=-1).mean() for a in range(1, 16)])
    assert abs(report["reference"]["mean_pose"]["mpjpe"] - by_hand) < 1e-6
    with open(results / "ablation.md") as f:
        assert "quadratic ridge regression from ground-truth 2D" in f.read()
