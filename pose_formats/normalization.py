"""Per-coordinate max-min normalisation of root-relative 3D poses (SPEC section 3):
n = (v - min) / (max - min), with row 1 of the CSV the 48 maxima and row 2 the 48 minima."""
import os

import numpy as np

from .input_files import text_lines
from .skeleton import DATA_DIR, DIM_3D

DEFAULT_MAX_MIN = os.path.join(DATA_DIR, "16point_mean_limb_scaled_max_min.csv")


class MaxMin:
    """The normalisation table; `normalize` and `unnormalize` act on the last axis (48)."""

    def __init__(self, path=DEFAULT_MAX_MIN):
        self.path = path
        rows = []
        for lineno, line in enumerate(text_lines(path), 1):
            if not line.strip():
                continue
            try:
                values = [float(v) for v in line.strip().split(",")]
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: not a row of numbers ({e})") from None
            if len(values) != DIM_3D:
                raise ValueError(f"{path}:{lineno}: expected {DIM_3D} values, found {len(values)}")
            rows.append(values)
        if len(rows) != 2:
            raise ValueError(f"{path}: expected 2 rows (max, min) of {DIM_3D} values, found {len(rows)}")
        self.max = np.array(rows[0], dtype=np.float64)
        self.min = np.array(rows[1], dtype=np.float64)
        if not (np.all(np.isfinite(self.max)) and np.all(np.isfinite(self.min))):
            raise ValueError(f"{path}: non-finite value in the max-min table")
        if np.any(self.max <= self.min):
            bad = int(np.argmax(self.max <= self.min))
            raise ValueError(f"{path}: column {bad + 1}: max {self.max[bad]} is not above min {self.min[bad]}")
        self.range = self.max - self.min

    def normalize(self, mm):
        return (np.asarray(mm, dtype=np.float64) - self.min) / self.range

    def unnormalize(self, normalized):
        return np.asarray(normalized, dtype=np.float64) * self.range + self.min
