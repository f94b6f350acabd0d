"""The per-action files of a results directory and of the ground truth: result CSVs named
result<a>_<kind>.csv (SPEC section 7), per-action test lists test<a>.txt (lines `<image path>
v1,...,v81`, SPEC section 3), and action numbers 1..15 as written on command lines."""
import dataclasses
import os

import numpy as np

from .listfile import LABEL_DIM_2D3D, read_list_file
from .skeleton import ACTIONS, DIM_2D, DIM_3D


def result_path(results_dir, action, kind):
    """results_dir/result<a>_<kind>.csv, kind e.g. norm, unnorm, change_unnorm, 2d_norm, refined_norm."""
    return os.path.join(results_dir, f"result{action}_{kind}.csv")


def test_list_path(gt_dir, action):
    return os.path.join(gt_dir, f"test{action}.txt")


def parse_actions(text):
    """'1-15', '3', '1,4,7-9' -> sorted unique action numbers in 1..15."""
    actions = set()
    for part in text.split(","):
        part = part.strip()
        try:
            lo, _, hi = part.partition("-")
            lo, hi = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"actions {text!r}: {part!r} is not a number or a range a-b") from None
        if not 1 <= lo <= hi <= len(ACTIONS):
            raise ValueError(f"actions {text!r}: {part!r} is outside 1..{len(ACTIONS)}")
        actions.update(range(lo, hi + 1))
    return sorted(actions)


@dataclasses.dataclass
class TestList:
    path: str
    images: list            # image paths relative to the data root
    labels: np.ndarray      # (N, 81): 2D (32), 3D normalised (48), clip marker

    @property
    def pose_2d(self):
        return self.labels[:, :DIM_2D]

    @property
    def pose_3d_norm(self):
        return self.labels[:, DIM_2D:DIM_2D + DIM_3D]


def read_test_list(path):
    """A per-action 2D+3D list file (errors name path:line, see pose_formats.listfile)."""
    images, labels = read_list_file(path, LABEL_DIM_2D3D)
    return TestList(path, images, labels.astype(np.float64))
