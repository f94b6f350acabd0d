"""Per-action inputs of the online stage: the coarse 3D poses that testing writes into a results
directory, the 2D sources, and the ground truth (pose_formats.per_action)."""
import dataclasses

import numpy as np

from pose_formats.per_action import TestList, read_test_list, result_path, test_list_path
from pose_formats.results import read_result_csv
from pose_formats.skeleton import DIM_2D, DIM_3D

TWO_D_SOURCES = ("ours", "external", "gt")


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
    if not len(coarse):
        raise ValueError(f"{coarse_path}: no frames (an action's test results hold one line per frame)")
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
