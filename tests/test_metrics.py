"""MPJPE and P-MPJPE (Procrustes with scale, no reflections)."""
import numpy as np
import pytest

from evaluation.metrics import joint_errors, mpjpe, p_mpjpe, procrustes_align


def poses(n, seed=0):
    p = np.random.default_rng(seed).normal(0, 300, (n, 16, 3))
    p[:, 0] = 0.0
    return p.reshape(n, 48)


def rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_mpjpe_known_values():
    gt = poses(2)
    pred = gt.copy()
    pred[0, 3 * 5:3 * 5 + 3] += (30.0, 40.0, 0.0)   # one joint of frame 1 off by 50 mm
    pred[1] += np.tile((7.0, -3.0, 2.0), 16)           # frame 2 translated: roots are aligned
    np.testing.assert_allclose(mpjpe(pred, gt, per_frame=True), [50.0 / 16, 0.0], atol=1e-9)
    assert mpjpe(pred, gt) == pytest.approx(25.0 / 16)
    assert joint_errors(pred, gt).shape == (2, 16)


def test_p_mpjpe_removes_similarity_transforms():
    gt = poses(5)
    moved = np.stack([2.3 * g.reshape(16, 3) @ rotation(i).T + (100.0, -50.0, 3000.0)
                      for i, g in enumerate(gt)]).reshape(5, 48)
    assert mpjpe(moved, gt) > 100.0
    assert p_mpjpe(moved, gt) < 1e-9
    np.testing.assert_allclose(procrustes_align(moved, gt), gt, atol=1e-9)


def test_p_mpjpe_alignment_is_optimal_and_excludes_reflections():
    gt = poses(4, seed=1)
    noisy = gt + np.random.default_rng(2).normal(0, 20, gt.shape)
    aligned = procrustes_align(noisy, gt).reshape(4, 16, 3)
    base = p_mpjpe(noisy, gt, per_frame=True)
    assert (base <= mpjpe(noisy, gt, per_frame=True) + 1e-9).all()
    # no nearby rotation or scale of the aligned pose fits better (least squares)
    for seed in range(5):
        turn = rotation(seed)
        tweak = np.eye(3) + 1e-3 * (turn - turn.T)  # a small rotation (to first order)
        centre = aligned.mean(axis=1, keepdims=True)
        for s in (0.999, 1.001):
            moved = s * (aligned - centre) @ tweak.T + centre
            assert (((moved - gt.reshape(4, 16, 3)) ** 2).sum(axis=(1, 2))
                    >= ((aligned - gt.reshape(4, 16, 3)) ** 2).sum(axis=(1, 2)) - 1e-6).all()
    # a mirror image cannot be undone by a rotation
    mirrored = gt.reshape(4, 16, 3) * (-1.0, 1.0, 1.0)
    assert (p_mpjpe(mirrored.reshape(4, 48), gt, per_frame=True) > 1.0).all()


def test_shape_errors():
    with pytest.raises(ValueError, match=r"prediction: expected \(frames, 48\)"):
        mpjpe(np.zeros((2, 47)), np.zeros((2, 48)))
    with pytest.raises(ValueError, match="3 predicted poses but 2 ground-truth"):
        p_mpjpe(np.zeros((3, 48)), np.zeros((2, 48)))
