"""Per-action inputs of the online stage and of evaluation: the result CSVs that testing writes into a
results directory (SPEC section 7), the 2D sources, and ground truth from per-action test lists
(`test<a>.txt`, lines `<image path> v1,...,v81`, SPEC section 3)."""
import dataclasses
import os

import numpy as np

from pose_formats.listfile import LABEL_DIM_2D3D, read_list_file
from pose_formats.results import read_result_csv
from pose_formats.skeleton import ACTIONS, DIM_2D, DIM_3D

TWO_D_SOURCES = ("ours", "external", "gt")


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


def external_2d_path(external, action):
    """An external 2D estimate file: `external` is a pattern with {a}, or a directory holding
    result<a>_2d_norm.csv files."""
    if "{a}" in external:
        return external.format(a=action)
    return result_path(external, action, "2d_norm")


@dataclasses.dataclass
class ActionInputs:
    action: int
    coarse_path: str
    coarse: np.ndarray          # (N, 48) normalised
    indices: np.ndarray         # (N,) frame indices of the coarse file
    pose_2d_path: str
    pose_2d: np.ndarray         # (N, 32) normalised
    gt: TestList | None


def load_action(results_dir, action, source="ours", external=None, gt_dir=None):
    """Coarse 3D, the chosen 2D poses and (when gt_dir is given) the test list of one action,
    checked against each other: same frame count, and the same frame indices in the two CSVs."""
    if source not in TWO_D_SOURCES:
        raise ValueError(f"2D source {source!r}: expected one of {', '.join(TWO_D_SOURCES)}")
    coarse_path = result_path(results_dir, action, "norm")
    indices, coarse = read_result_csv(coarse_path, DIM_3D)
    gt = read_test_list(test_list_path(gt_dir, action)) if gt_dir is not None else None
    if source == "gt":
        if gt is None:
            raise ValueError("2D source 'gt' needs the test lists (gt_dir)")
        pose_2d_path, pose_2d = gt.path, gt.pose_2d
    else:
        if source == "external":
            if external is None:
                raise ValueError("2D source 'external' needs the external estimates (a directory or a {a} pattern)")
            pose_2d_path = external_2d_path(external, action)
        else:
            pose_2d_path = result_path(results_dir, action, "2d_norm")
        indices_2d, pose_2d = read_result_csv(pose_2d_path, DIM_2D)
        if len(indices_2d) == len(indices) and not np.array_equal(indices_2d, indices):
            n = int(np.argmax(indices_2d != indices))
            raise ValueError(f"{pose_2d_path}: frame {n + 1} has index {indices_2d[n]}, but {coarse_path} "
                             f"has {indices[n]} there")
    if len(pose_2d) != len(coarse):
        raise ValueError(f"{pose_2d_path} has {len(pose_2d)} frames but {coarse_path} has {len(coarse)}")
    if gt is not None and len(gt.labels) != len(coarse):
        raise ValueError(f"{gt.path} has {len(gt.labels)} frames but {coarse_path} has {len(coarse)}")
    return ActionInputs(action, coarse_path, coarse, indices, pose_2d_path, pose_2d, gt)
