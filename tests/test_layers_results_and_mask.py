"""MPJPEEvaluation, SavePath, Mask and Mask2D3D inside real Caffe nets."""
import numpy as np
import pytest

caffe = pytest.importorskip("caffe")

from caffe_nets import input_layer, make_net, python_layer  # noqa: E402
from pose_formats.normalization import MaxMin  # noqa: E402


def _mpjpe_mm_loop(pred_n, gt_n, table):
    """Independent MPJPE: un-normalise each value, then a loop over frames and joints."""
    errors = []
    for p, g in zip(pred_n.astype(np.float64), gt_n.astype(np.float64)):
        p_mm = [p[k] * (table.max[k] - table.min[k]) + table.min[k] for k in range(48)]
        g_mm = [g[k] * (table.max[k] - table.min[k]) + table.min[k] for k in range(48)]
        errors.append(np.mean([np.sqrt(sum((p_mm[3 * j + c] - g_mm[3 * j + c]) ** 2 for c in range(3)))
                               for j in range(16)]))
    return np.array(errors)


def _eval_net(tmp_path, batch, sample_num, out):
    return make_net(tmp_path, input_layer("pred", (batch, 48)) + input_layer("gt", (batch, 48))
                    + python_layer("mpjpe", "caffe_layers.results", "MPJPEEvaluation", ["pred", "gt"], ["mpjpe"],
                                   param_str=f"sample_num: {sample_num}; save_filepath: {out}",
                                   extra="loss_weight: 0"), phase=caffe.TEST)


def test_mpjpe_evaluation_matches_numpy_accumulates_and_writes_rows(tmp_path, capfd, caffe_mode):
    rng = np.random.default_rng(3)
    table = MaxMin()
    batch, sample_num = 5, 13                      # 3 batches, the last one 2 frames past the end
    out = tmp_path / "results" / "result1_unnorm.csv"
    net = _eval_net(tmp_path, batch, sample_num, out)
    preds, gts, batch_means = [], [], []
    for step in range(3):
        pred = rng.uniform(0.2, 0.8, size=(batch, 48)).astype(np.float32)
        gt = rng.uniform(0.2, 0.8, size=(batch, 48)).astype(np.float32)
        net.blobs["pred"].data[...] = pred
        net.blobs["gt"].data[...] = gt
        batch_means.append(float(net.forward()["mpjpe"]))
        preds.append(pred)
        gts.append(gt)
        assert out.exists() == (step == 2)         # renamed only once sample_num rows are written
    pred, gt = np.concatenate(preds), np.concatenate(gts)
    expected = _mpjpe_mm_loop(pred, gt, table)
    np.testing.assert_allclose(batch_means, expected.reshape(3, batch).mean(axis=1), rtol=1e-5)
    assert f"MPJPEEvaluation (result1_unnorm.csv): MPJPE over {sample_num} frames = {expected[:sample_num].mean():.4f} mm" in capfd.readouterr().err

    lines = out.read_text().splitlines()
    assert len(lines) == sample_num and not (tmp_path / "results" / "result1_unnorm.csv.partial").exists()
    for k, line in enumerate(lines):
        fields = line.split(",")
        assert fields[0] == str(k + 1) and len(fields) == 49
        np.testing.assert_allclose([float(v) for v in fields[1:]], table.unnormalize(pred[k]), rtol=1e-6)


def test_interrupted_evaluation_leaves_no_result_file(tmp_path):
    out = tmp_path / "result2_unnorm.csv"
    net = _eval_net(tmp_path, 5, 100, out)
    net.blobs["pred"].data[...] = 0.5
    net.blobs["gt"].data[...] = 0.5
    net.forward()
    assert not out.exists() and (tmp_path / "result2_unnorm.csv.partial").exists()


def test_save_path_writes_indexed_rows(tmp_path):
    out = tmp_path / "result3_2d_norm.csv"
    net = make_net(tmp_path, input_layer("p2d", (4, 32))
                   + python_layer("save", "caffe_layers.results", "SavePath", ["p2d"], [],
                                  param_str=f"save_filepath: {out}; sample_num: 6"), phase=caffe.TEST)
    rows = []
    for value in (0.25, 0.5):
        net.blobs["p2d"].data[...] = np.arange(128, dtype=np.float32).reshape(4, 32) / 128 + value
        net.forward()
        rows.append(net.blobs["p2d"].data.copy())
    written = np.loadtxt(out, delimiter=",")
    np.testing.assert_array_equal(written[:, 0], np.arange(1, 7))
    np.testing.assert_allclose(written[:, 1:], np.concatenate(rows)[:6], rtol=1e-7)


def _mask_net(tmp_path, phase, seed, prob=0.3, dim=3, n=40):
    return make_net(tmp_path, input_layer("pose", (n, 16 * dim))
                    + python_layer("mask", "caffe_layers.mask", "Mask", ["pose"], ["mask"],
                                   param_str=f"dim: {dim}; prob: {prob}; seed: {seed}"), phase=phase,
                    name=f"mask_{phase}_{seed}.prototxt")


@pytest.mark.parametrize("dim", [2, 3])
def test_mask_drops_whole_joints_seeded_and_only_in_training(tmp_path, dim, caffe_mode):
    first = [_mask_net(tmp_path, caffe.TRAIN, 7, dim=dim).forward()["mask"].copy() for _ in range(1)][0]
    net = _mask_net(tmp_path, caffe.TRAIN, 7, dim=dim)
    again, second_call = net.forward()["mask"].copy(), net.forward()["mask"].copy()
    np.testing.assert_array_equal(first, again)            # same seed, same call: same mask
    assert not np.array_equal(again, second_call)          # a fresh draw each iteration
    joints = again.reshape(40, 16, dim)
    assert np.all(joints.min(axis=2) == joints.max(axis=2))  # a joint's values go together
    assert 0.5 < again.mean() < 0.9                        # keep rate 0.7, 640 draws
    assert not np.array_equal(again, _mask_net(tmp_path, caffe.TRAIN, 8, dim=dim).forward()["mask"])
    assert np.all(_mask_net(tmp_path, caffe.TEST, 7, dim=dim).forward()["mask"] == 1)


def test_mask2d3d_masks_match_joint_for_joint(tmp_path, caffe_mode):
    net = make_net(tmp_path, input_layer("pose", (200, 48))
                   + python_layer("m", "caffe_layers.mask", "Mask2D3D", ["pose"], ["m2d", "m3d"], param_str="seed: 5"))
    out = net.forward()
    m2d, m3d = out["m2d"].reshape(200, 16, 2), out["m3d"].reshape(200, 16, 3)
    np.testing.assert_array_equal(m2d[:, :, 0], m3d[:, :, 0])
    keep = m3d[:, :, 0].mean(axis=0)
    assert abs(keep[[7, 9]].mean() - 0.6) < 0.08 and abs(np.delete(keep, [7, 9]).mean() - 0.8) < 0.05
