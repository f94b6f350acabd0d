"""The synthetic 4-camera pinhole rig (Human3.6M-like). Camera: OpenCV (x right, y down, z forward),
X_cam = R X_world + t, no lens distortion; world: millimetres, y up, floor at y = 0."""
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera; `rotation` and `translation` map world to camera coordinates (mm)."""
    id: int
    azimuth_deg: float
    height_mm: float
    distance_mm: float
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    rotation: np.ndarray
    translation: np.ndarray

    def to_camera(self, world_mm):
        return world_mm @ self.rotation.T + self.translation

    def project(self, camera_mm):
        """Pixel coordinates (..., 2) of camera-space points (..., 3)."""
        z = camera_mm[..., 2]
        return np.stack([self.fx * camera_mm[..., 0] / z + self.cx, self.fy * camera_mm[..., 1] / z + self.cy], -1)

    def to_json(self):
        d = {k: v for k, v in asdict(self).items() if k not in ("rotation", "translation")}
        d["rotation"] = self.rotation.tolist()
        d["translation_mm"] = self.translation.tolist()
        d["position_mm"] = (-self.rotation.T @ self.translation).tolist()
        return d


# Human3.6M-like: four views around the capture area at different heights; intrinsics close to H3.6M's.
_RIG = (  # azimuth (deg), height, distance (mm), fx, fy, cx, cy
    (35.0, 1600.0, 5000.0, 1145.0, 1143.8, 512.5, 515.5),
    (125.0, 1200.0, 5200.0, 1149.7, 1147.6, 508.8, 508.1),
    (215.0, 1850.0, 4900.0, 1149.1, 1148.8, 519.8, 501.4),
    (305.0, 1400.0, 5100.0, 1145.5, 1144.8, 515.0, 501.9),
)
_LOOK_AT_MM = np.array([0.0, 900.0, 0.0])
SENSOR_SIZE = 1000
RIG_CAMERAS = len(_RIG)


def camera_rig():
    cameras = []
    for index, (azimuth, height, distance, fx, fy, cx, cy) in enumerate(_RIG, 1):
        a = np.radians(azimuth)
        position = np.array([distance * np.sin(a), height, distance * np.cos(a)])
        forward = _LOOK_AT_MM - position
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])
        cameras.append(Camera(index, azimuth, height, distance, fx, fy, cx, cy, SENSOR_SIZE, SENSOR_SIZE,
                              rotation, -rotation @ position))
    return tuple(cameras)
