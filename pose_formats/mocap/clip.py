"""A motion clip on our 16 joints, and the joint maps that take a source skeleton to them."""
from dataclasses import dataclass

import numpy as np

from ..skeleton import JOINTS


@dataclass(frozen=True, eq=False)
class Clip:
    """joints_mm (T, 16, 3): the source's own bone lengths and placement, converted to millimetres and
    to the generator's world axes (y up, x the subject's left when facing +z); times_s (T,) from 0;
    fps the nominal frame rate (DeepMimic clips carry a duration per frame)."""
    name: str
    joints_mm: np.ndarray
    times_s: np.ndarray
    fps: float

    @property
    def duration_s(self):
        return float(self.times_s[-1])


def map_joints(points, names, joint_map, where):
    """Our 16 joints (T, 16, 3) from source points (T, N, 3) named `names`: each joint is the mean of
    the source points joint_map[joint] lists. `where` names the file in errors."""
    index = {name: i for i, name in enumerate(names)}
    out = np.empty(points.shape[:1] + (len(JOINTS), 3))
    for j, joint in enumerate(JOINTS):
        missing = [name for name in joint_map[joint] if name not in index]
        if missing:
            raise ValueError(f"{where}: no {', '.join(missing)} (needed for {joint}); has {', '.join(names)}")
        out[:, j] = points[:, [index[name] for name in joint_map[joint]]].mean(axis=1)
    return out



def is_number(token):
    try:
        float(token)
        return True
    except ValueError:
        return False
