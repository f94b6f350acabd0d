"""Pose errors on (N, 48) arrays of 3D poses in millimetres (16 joints × XYZ), the one definition that
the online correction (online/) and the evaluation (evaluation/, which re-exports it) both use.

MPJPE: mean Euclidean distance per joint after aligning the roots (joint 0). P-MPJPE: the same after
the similarity transform (rotation, uniform scale, translation) that best aligns the prediction to
the ground truth in the least-squares sense (Procrustes, reflections excluded).
"""
import numpy as np

from pose_formats.skeleton import DIM_3D, NUM_JOINTS


def _joints(poses, name):
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] != DIM_3D:
        raise ValueError(f"{name}: expected (frames, {DIM_3D}) poses, got shape {poses.shape}")
    return poses.reshape(len(poses), NUM_JOINTS, 3)


def _pair(pred, gt):
    p, g = _joints(pred, "prediction"), _joints(gt, "ground truth")
    if len(p) != len(g):
        raise ValueError(f"{len(p)} predicted poses but {len(g)} ground-truth poses")
    return p, g


def joint_errors(pred, gt):
    """(N, 16) Euclidean distances per joint, roots aligned."""
    p, g = _pair(pred, gt)
    p = p - p[:, :1]
    g = g - g[:, :1]
    return np.linalg.norm(p - g, axis=2)


def mpjpe(pred, gt, per_frame=False):
    """Mean per-joint position error (mm): the mean over frames, or (N,) with per_frame=True."""
    errors = joint_errors(pred, gt).mean(axis=1)
    return errors if per_frame else float(errors.mean()) if len(errors) else float("nan")


def procrustes_align(pred, gt):
    """(N, 48) predictions after the best rotation + uniform scale + translation onto gt per frame."""
    p, g = _pair(pred, gt)
    mu_p, mu_g = p.mean(axis=1, keepdims=True), g.mean(axis=1, keepdims=True)
    p0, g0 = p - mu_p, g - mu_g
    # rotation R maximising trace(R^T · p0^T g0): from the SVD of the 3×3 cross-covariance
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", p0, g0))
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))
    d[d == 0] = 1.0
    s[:, 2] *= d                 # no reflections: flip the weakest axis where det would be −1
    u[:, :, 2] *= d[:, None]
    rotation = np.einsum("nij,njk->nik", u, vt)
    norm_p = (p0 ** 2).sum(axis=(1, 2))
    scale = np.divide(s.sum(axis=1), norm_p, out=np.zeros_like(norm_p), where=norm_p > 0)
    aligned = scale[:, None, None] * np.einsum("nji,nik->njk", p0, rotation) + mu_g
    return aligned.reshape(len(p), DIM_3D)


def p_mpjpe(pred, gt, per_frame=False):
    """MPJPE after Procrustes alignment with scale (mm); per_frame as in mpjpe."""
    return mpjpe(procrustes_align(pred, gt), gt, per_frame=per_frame)
