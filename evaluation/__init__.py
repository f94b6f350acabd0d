"""Evaluation of predicted 3D poses against ground truth (SPEC section 10): metrics (MPJPE, P-MPJPE),
tables (per action and on average), figures, and cli (tools/eval_h36m.py). Never imports pycaffe."""
