"""Pose formats shared by every stage: the 16-joint skeleton, the max-min normalisation, list files,
result CSVs and the per-action files, drawing, the synthetic data set. Plain NumPy; never imports pycaffe."""
