"""Pose formats shared by every stage: the 16-joint skeleton, the max-min normalisation, list files,
result CSVs and pose metrics. Plain NumPy; never imports pycaffe."""
