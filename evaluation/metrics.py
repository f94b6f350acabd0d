"""MPJPE and P-MPJPE for the evaluation: the one definition lives in pose_formats.metrics, below both
evaluation/ and online/ (online/ must not import evaluation/), and is re-exported here."""
from pose_formats.metrics import joint_errors, mpjpe, p_mpjpe, procrustes_align

__all__ = ["joint_errors", "mpjpe", "p_mpjpe", "procrustes_align"]
