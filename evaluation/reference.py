"""Reference rows of the ablation table: what needs no network. The training frames' mean pose, and a
quadratic ridge regression from ground-truth 2D (the 32 crop-normalised inputs and their 528 pairwise
products, squares included) to the normalised root-relative 3D pose, fitted on the training frames with
its lambda chosen on one training subject held out (S8, as the issue's probe; the last training subject
when there is no S8) and refitted on every training frame. Scored as the table scores the methods: MPJPE
in mm of the un-normalised poses on the per-action test lists, averaged over actions."""
import numpy as np

from pose_formats.listfile import LABEL_DIM_2D3D, read_list_file
from pose_formats.skeleton import DIM_2D, DIM_3D

from .metrics import mpjpe

LAMBDAS = 10.0 ** np.arange(-6, 3)
HELD_OUT_SUBJECT = "S8"


def quadratic_features(pose_2d):
    """(N, 1 + 32 + 528): a constant, the 2D values and every product of two of them (i <= j)."""
    i, j = np.triu_indices(pose_2d.shape[1])
    return np.concatenate([np.ones((len(pose_2d), 1)), pose_2d, pose_2d[:, i] * pose_2d[:, j]], axis=1)


def fit_ridge(features, targets, lam):
    """Weights (F, 48) of ridge regression, the constant (column 0) not penalised."""
    penalty = lam * len(features) * np.eye(features.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(features.T @ features + penalty, features.T @ targets)


def subject_of(image_path):
    """The subject folder of a synthetic or prepared list's image path (images/<S>/...)."""
    parts = image_path.replace("\\", "/").split("/")
    return next((p for p in parts if p[:1] == "S" and p[1:].isdigit()), "")


class References:
    """The mean pose and the quadratic ridge regression of a training list (2D+3D labels)."""

    def __init__(self, train_list):
        images, labels = read_list_file(train_list, LABEL_DIM_2D3D)
        labels = labels.astype(np.float64)
        pose_2d, pose_3d = labels[:, :DIM_2D], labels[:, DIM_2D:DIM_2D + DIM_3D]
        self.mean_pose = pose_3d.mean(axis=0)
        features = quadratic_features(pose_2d)
        subjects = np.array([subject_of(p) for p in images])
        held = HELD_OUT_SUBJECT if HELD_OUT_SUBJECT in subjects else subjects[-1]
        out = subjects == held
        if out.all():                   # one training subject: nothing to hold out
            self.lam = float(LAMBDAS[len(LAMBDAS) // 2])
        else:
            errors = [np.abs(features[out] @ fit_ridge(features[~out], pose_3d[~out], lam) - pose_3d[out]).mean()
                      for lam in LAMBDAS]
            self.lam = float(LAMBDAS[int(np.argmin(errors))])
        self.held_out = str(held)
        self.weights = fit_ridge(features, pose_3d, self.lam)

    def predict(self, pose_2d):
        """{'mean_pose', 'quadratic_ridge_gt2d'}: normalised 3D poses (N, 48) for ground-truth 2D (N, 32)."""
        return {"mean_pose": np.broadcast_to(self.mean_pose, (len(pose_2d), DIM_3D)),
                "quadratic_ridge_gt2d": quadratic_features(pose_2d) @ self.weights}

    def score(self, tests, max_min):
        """{name: {'mpjpe': mean over actions, 'per_action': {a: mm}}} for {action: TestList}."""
        per_action = {}
        for action, gt in tests.items():
            gt_mm = max_min.unnormalize(gt.pose_3d_norm)
            for name, predicted in self.predict(gt.pose_2d).items():
                per_action.setdefault(name, {})[action] = mpjpe(max_min.unnormalize(predicted), gt_mm)
        return {name: {"mpjpe": float(np.mean(list(scores.values()))), "per_action": scores,
                       "lambda": self.lam if name == "quadratic_ridge_gt2d" else None}
                for name, scores in per_action.items()}


def format_reference(scores, train_list, frames):
    """The reference rows as markdown."""
    labels = {"mean_pose": "the training frames' mean pose",
              "quadratic_ridge_gt2d": "quadratic ridge regression from ground-truth 2D, fitted on the training "
                                      f"frames (lambda {scores['quadratic_ridge_gt2d']['lambda']:g})"}
    return "\n".join([f"MPJPE (mm) on the same {frames} test frames; fitted on {train_list}.", "",
                      "| reference | mean |", "|---|---:|"]
                     + [f"| {labels[name]} | {scores[name]['mpjpe']:.1f} |" for name in labels])
