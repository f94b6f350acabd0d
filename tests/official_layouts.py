"""Tiny data sets in the official Human3.6M and MPII layouts, written by the tests themselves: CDF pose
files through cdflib's writer, MP4 videos through OpenCV, MPII's annotation .mat through scipy."""
import os

import cv2
import numpy as np

from pose_formats.h36m_official import JOINTS_FROM_32
from pose_formats.synthetic.motions import sequence_world_poses

VIDEO_SIZE = (160, 128)     # width, height
FOCAL = 200.0


def write_pose_cdf(path, values):
    """Variable 'Pose', one record of (frames, values per frame) float32, as the official files."""
    from cdflib.cdfwrite import CDF
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    values = np.asarray(values, np.float32)
    cdf = CDF(path)
    cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_FLOAT, "Num_Elements": 1, "Rec_Vary": True,
                   "Dim_Sizes": list(values.shape), "Compress": 0}, var_data=values[None])
    cdf.close()


def write_video(path, frames_px, count=None):
    """MP4 (mp4v, 50 fps) of black frames with a white dot at each of our 16 joints."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 50, VIDEO_SIZE)
    assert writer.isOpened()
    for joints in frames_px[:count]:
        frame = np.zeros((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), np.uint8)
        for x, y in joints[list(JOINTS_FROM_32)]:
            cv2.circle(frame, (int(round(x - 0.5)), int(round(y - 0.5))), 3, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


def h36m_sequence(seed, subject, action, frames):
    """(3D (frames, 32, 3) camera mm, 2D (frames, 32, 2) px): our 16 joints at their Human3.6M slots
    from the synthetic motion, the other 16 slots at distinct positions no right mapping picks."""
    world = sequence_world_poses(seed, subject, action, frames)
    ours = np.stack([world[..., 0], 900.0 - world[..., 1], world[..., 2] + 4500.0], -1)
    rng = np.random.default_rng([seed, action, frames])
    joints = ours[:, :1] + rng.uniform(-300, 300, (frames, 32, 3))
    joints[:, list(JOINTS_FROM_32)] = ours
    px = FOCAL * joints[..., :2] / joints[..., 2:] + np.array(VIDEO_SIZE) / 2
    return joints.astype(np.float32), px.astype(np.float32)


def write_h36m_sequence(root, subject, name, camera, action, frames, video_frames=None, seed=0):
    """One official sequence: D3_Positions_mono and D2_Positions CDFs and its video. Returns (3D, 2D)."""
    joints, px = h36m_sequence(seed + sum(map(ord, name + camera)), subject, action, frames)
    base = os.path.join(root, subject)
    write_pose_cdf(os.path.join(base, "MyPoseFeatures", "D3_Positions_mono", f"{name}.{camera}.cdf"),
                   joints.reshape(frames, 96))
    write_pose_cdf(os.path.join(base, "MyPoseFeatures", "D2_Positions", f"{name}.{camera}.cdf"),
                   px.reshape(frames, 64))
    write_video(os.path.join(base, "Videos", f"{name}.{camera}.mp4"), px, video_frames)
    return joints, px


def _struct_array(records, fields):
    """A MATLAB struct array (1 x n) for scipy.io.savemat from a list of dicts."""
    array = np.empty((1, len(records)), dtype=[(f, "O") for f in fields])
    for k, record in enumerate(records):
        for f in fields:
            array[0, k][f] = record.get(f, np.zeros((0, 0)))
    return array


def write_mpii(root, images):
    """mpii_human_pose_v1_u12_1.mat in MPII's nested layout, and its JPEGs (black with white dots at the
    annotated joints). `images`: [(name, is_train, single_person (1-based), [person dicts])], a person
    being {"points": {mpii id: (x, y)}, "objpos": (x, y), "scale": s}."""
    from scipy.io import savemat
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    annolist = []
    for name, _, _, people in images:
        frame = np.zeros((240, 320, 3), np.uint8)
        rects = []
        for person in people:
            points = [{"id": i, "x": float(x), "y": float(y), "is_visible": 1} for i, (x, y) in person["points"].items()]
            for x, y in person["points"].values():
                cv2.circle(frame, (int(round(x - 0.5)), int(round(y - 0.5))), 3, (255, 255, 255), -1)
            rects.append({"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0, "scale": float(person["scale"]),
                          "objpos": {"x": float(person["objpos"][0]), "y": float(person["objpos"][1])},
                          "annopoints": ({"point": _struct_array(points, ("id", "x", "y", "is_visible"))}
                                         if points else np.zeros((0, 0)))})
        cv2.imwrite(os.path.join(root, "images", name), frame)
        annolist.append({"image": {"name": name},
                         "annorect": _struct_array(rects, ("x1", "y1", "x2", "y2", "scale", "objpos", "annopoints"))})
    single = np.empty((len(images), 1), dtype=object)
    for k, (_, _, chosen, _) in enumerate(images):
        single[k, 0] = np.array(chosen, dtype=np.float64).reshape(-1, 1)
    release = {"annolist": _struct_array(annolist, ("image", "annorect", "frame_sec", "vididx")),
               "img_train": np.array([[int(t) for _, t, _, _ in images]]), "single_person": single,
               "version": "12"}
    savemat(os.path.join(root, "mpii_human_pose_v1_u12_1.mat"), {"RELEASE": release})
