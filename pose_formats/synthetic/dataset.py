"""The synthetic data set writer: renders every (subject, action, camera) sequence of a motion source
and writes the list files the Caffe stages read, the per-action test lists, raw poses and meta.json."""
import json
import multiprocessing
import os
import shutil
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from ..labels import CLIP_LENGTH, KEEP_EVERY, crop_boxes, labels_2d3d, labels_2d_only
from ..listfile import LIST_MPII, LIST_TEST, LIST_TEST_P3, LIST_TRAIN, LIST_TRAIN_P3, META, write_list_file
from ..normalization import DEFAULT_MAX_MIN, MaxMin
from ..render import render_sequence
from ..skeleton import ACTIONS, MASK_2D_JOINT
from .cameras import RIG_CAMERAS, camera_rig
from .motions import FPS, sequence_world_poses
from .subjects import SCENE_STREAM, subject_bone_lengths, subject_number

P1_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
P1_TEST_SUBJECTS = ("S9", "S11")
MPII_CAMERA = 4          # the rig view the 2D-only list is rendered from

RAW_POSES = "raw_poses.npz"
UNSEEN = "unseen"        # the unseen-motion test set's folder inside the data set


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 0
    image_size: int = 96
    train_subjects: tuple = P1_TRAIN_SUBJECTS
    test_subjects: tuple = P1_TEST_SUBJECTS
    frames_per_action: int = 40      # kept frames per sequence (8 s of motion); a multiple of CLIP_LENGTH
    cameras: int = 3                 # rig views rendered for the training subjects (the 4th is the 2D-only view)
    test_cameras: int = 1            # rig views rendered for the test subjects
    crop_margin: float = 1.3
    image_format: str = "jpg"
    p3_test_clip_stride: int = 2     # Protocol #3 test: every n-th clip of the last test subject
    max_min_path: str = DEFAULT_MAX_MIN

    def validate(self):
        if self.frames_per_action <= 0 or self.frames_per_action % CLIP_LENGTH:
            raise ValueError(f"frames_per_action must be a positive multiple of {CLIP_LENGTH}, "
                             f"got {self.frames_per_action}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16, got {self.image_size}")
        for name in ("cameras", "test_cameras"):
            if not 1 <= getattr(self, name) <= RIG_CAMERAS:
                raise ValueError(f"{name} must be 1..{RIG_CAMERAS}, got {getattr(self, name)}")
        if not self.train_subjects or not self.test_subjects:
            raise ValueError("need at least one training and one test subject")
        subjects = list(self.train_subjects) + list(self.test_subjects)
        for subject in subjects:
            subject_number(subject)
        if len(set(subjects)) != len(subjects):
            raise ValueError(f"subjects must be distinct and not both train and test: {subjects}")
        if self.crop_margin < 1.0:
            raise ValueError(f"crop_margin must be at least 1, got {self.crop_margin}")
        if self.image_format not in ("jpg", "png"):
            raise ValueError(f"image_format must be 'jpg' or 'png', got {self.image_format!r}")
        if self.p3_test_clip_stride < 1:
            raise ValueError(f"p3_test_clip_stride must be at least 1, got {self.p3_test_clip_stride}")


def parse_subjects(text, pool):
    """'3' -> the first 3 of `pool`; 'S1,S5' -> those names."""
    text = text.strip()
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= len(pool):
            raise ValueError(f"subject count must be 1..{len(pool)} (or give names such as S2,S3), got {count}")
        return tuple(pool[:count])
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        subject_number(name)
    return names


@dataclass(frozen=True)
class _Sequence:
    subject: str
    action: int
    camera: int
    slot: bool = False       # a test-only set's slot (its folder is slot<a>, not an action's name)

    @property
    def folder(self):
        name = f"slot{self.action:02d}" if self.slot else ACTIONS[self.action - 1]
        return f"images/{self.subject}/{name}.cam{self.camera}"


def generate(out_dir, config=SyntheticConfig(), workers=None, progress=False, overwrite=False,
             motion_source=sequence_world_poses, unseen_source=None, unseen_frames=0):
    """Write the data set to `out_dir` (built in a temporary folder beside it, renamed when complete).
    motion_source(seed, subject, action, frames) gives each sequence's world joint positions
    (frames, 16, 3) in mm at the kept frames (default: the sinusoid table of synthetic.motions).
    With unseen_source (the same signature), `out_dir`/unseen is a second, test-only data set of the
    test subjects, unseen_frames kept frames per slot (write_test_set). Returns the meta dictionary
    also written to meta.json."""
    config.validate()
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} exists (overwrite=True replaces it)")
    parent, name = os.path.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        workers = workers or os.cpu_count() or 1
        meta = _build(staging, config, workers, progress, motion_source)
        if unseen_source is not None:
            meta["unseen"] = write_test_set(os.path.join(staging, UNSEEN), config, unseen_source, unseen_frames,
                                            workers, progress)
            _write_meta(staging, meta)
        if os.path.exists(out_dir):
            old = os.path.join(parent, f".{name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(staging, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return meta


def _sequence_data(sequences, world, cameras, config, max_min, frames):
    """Per sequence: image paths, camera-space and pixel joints, crop boxes and list-file labels."""
    data = {}
    for q in sequences:
        camera = cameras[q.camera - 1]
        joints_cam = camera.to_camera(world[q.subject, q.action])
        joints_px = camera.project(joints_cam)
        boxes = crop_boxes(joints_px, config.crop_margin)
        data[q] = {"paths": [f"{q.folder}/{KEEP_EVERY * k:06d}.{config.image_format}" for k in range(frames)],
                   "joints_cam": joints_cam, "joints_px": joints_px, "boxes": boxes,
                   "labels": labels_2d3d(joints_cam, joints_px, boxes, max_min)}
    return data


def _write_raw_poses(root, rendered, data, frames):
    np.savez(os.path.join(root, RAW_POSES),
             image_path=np.array([p for q in rendered for p in data[q]["paths"]]),
             subject=np.array([q.subject for q in rendered for _ in range(frames)]),
             action=np.repeat([q.action for q in rendered], frames),
             camera=np.repeat([q.camera for q in rendered], frames),
             video_frame=np.tile(np.arange(frames) * KEEP_EVERY, len(rendered)),
             joints_cam_mm=np.concatenate([data[q]["joints_cam"] for q in rendered]),
             joints_px=np.concatenate([data[q]["joints_px"] for q in rendered]),
             crop_box=np.concatenate([data[q]["boxes"] for q in rendered]))


def _write_meta(root, meta):
    with open(os.path.join(root, META), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def _describe(motion_source):
    return (motion_source.describe() if hasattr(motion_source, "describe")
            else f"{motion_source.__module__}.{motion_source.__qualname__}")


def write_test_set(root, config, motion_source, frames, workers, progress):
    """A test-only data set in `root` in the layout the test tools read (LIST_TEST, gt/test/test<a>.txt with
    image paths relative to `root`, images, the max-min table, raw poses, meta.json): the test subjects
    from the test cameras, `frames` kept frames per slot a = 1..15. Returns a summary for the main meta."""
    if frames <= 0 or frames % CLIP_LENGTH:
        raise ValueError(f"the unseen set's frames per slot must be a positive multiple of {CLIP_LENGTH}, got {frames}")
    cameras = camera_rig()
    slots = range(1, len(ACTIONS) + 1)
    test = [_Sequence(s, a, c, slot=True)
            for s in config.test_subjects for a in slots for c in range(1, config.test_cameras + 1)]
    world = {(q.subject, q.action): motion_source(config.seed, q.subject, q.action, frames) for q in test}
    data = _sequence_data(test, world, cameras, config, MaxMin(config.max_min_path), frames)
    _render(root, config, test, data, cameras, workers, progress)

    def lines(seqs):
        return [p for q in seqs for p in data[q]["paths"]], np.concatenate([data[q]["labels"] for q in seqs])

    write_list_file(os.path.join(root, LIST_TEST), *lines(test))
    for a in slots:
        write_list_file(os.path.join(root, "gt", "test", f"test{a}.txt"), *lines([q for q in test if q.action == a]))
    shutil.copyfile(config.max_min_path, os.path.join(root, os.path.basename(config.max_min_path)))
    _write_raw_poses(root, test, data, frames)
    meta = {"generator": "pose_formats.synthetic", "test_only": True, "motion_source": _describe(motion_source),
            "subjects": {"test": list(config.test_subjects)},
            "cameras_used": {"test": list(range(1, config.test_cameras + 1))},
            "frames_per_slot": frames, "frames": len(test) * frames,
            "list_files": {LIST_TEST: "every test frame", "gt/test/test<a>.txt": f"the lines of {LIST_TEST} of slot a, "
                           "in order (slot a stands where action a stands in the main set; motion_source.slots says "
                           "what each holds)"}}
    _write_meta(root, meta)
    return {"folder": UNSEEN, "frames": meta["frames"], "frames_per_slot": frames}


def _build(root, config, workers, progress, motion_source):
    cameras = camera_rig()
    max_min = MaxMin(config.max_min_path)
    frames = config.frames_per_action
    actions = range(1, len(ACTIONS) + 1)

    def sequences(subjects, camera_ids):
        return [_Sequence(s, a, c) for s in subjects for a in actions for c in camera_ids]

    train = sequences(config.train_subjects, range(1, config.cameras + 1))
    test = sequences(config.test_subjects, range(1, config.test_cameras + 1))
    mpii = sequences(config.train_subjects, (MPII_CAMERA,))
    # Protocol #3: train on every subject but the last test one, test on a subsample of that one.
    train_p3 = train + [q for q in test if q.subject != config.test_subjects[-1]]
    test_p3 = [q for q in test if q.subject == config.test_subjects[-1]]
    rendered = list(dict.fromkeys(train + test + mpii))

    world = {(s, a): motion_source(config.seed, s, a, frames)
             for s in dict.fromkeys(q.subject for q in rendered) for a in actions}
    data = _sequence_data(rendered, world, cameras, config, max_min, frames)

    _render(root, config, rendered, data, cameras, workers, progress)

    def lines(seqs, keep=range(frames)):
        paths = [data[q]["paths"][k] for q in seqs for k in keep]
        labels = np.concatenate([data[q]["labels"][list(keep)] for q in seqs])
        return paths, labels

    p3_keep = np.concatenate([np.arange(start, start + CLIP_LENGTH)
                              for start in range(0, frames, CLIP_LENGTH * config.p3_test_clip_stride)])
    lists = {LIST_TRAIN: train, LIST_TEST: test, LIST_TRAIN_P3: train_p3}
    for list_name, seqs in lists.items():
        write_list_file(os.path.join(root, list_name), *lines(seqs))
    write_list_file(os.path.join(root, LIST_TEST_P3), *lines(test_p3, p3_keep))
    for a in actions:
        write_list_file(os.path.join(root, "gt", "test", f"test{a}.txt"),
                        *lines([q for q in test if q.action == a]))
        write_list_file(os.path.join(root, "gt", "test_p3", f"test{a}.txt"),
                        *lines([q for q in test_p3 if q.action == a], p3_keep))
    paths, labels = lines(mpii)
    write_list_file(os.path.join(root, LIST_MPII), paths, labels_2d_only(labels))
    shutil.copyfile(config.max_min_path, os.path.join(root, os.path.basename(config.max_min_path)))

    _write_raw_poses(root, rendered, data, frames)

    subjects = list(config.train_subjects) + list(config.test_subjects)
    per_action = {name: {ACTIONS[a - 1]: n * sum(q.action == a for q in seqs) for a in actions}
                  for name, seqs, n in ((LIST_TRAIN, train, frames), (LIST_TEST, test, frames),
                                        (LIST_TRAIN_P3, train_p3, frames), (LIST_TEST_P3, test_p3, len(p3_keep)),
                                        (LIST_MPII, mpii, frames))}
    meta = {
        "generator": "pose_formats.synthetic",
        "motion_source": _describe(motion_source),
        "config": {**asdict(config), "max_min_path": os.path.basename(config.max_min_path)},
        "fps": FPS, "keep_every": KEEP_EVERY, "clip_length": CLIP_LENGTH,
        "image_size": [config.image_size, config.image_size],
        "subjects": {"train": list(config.train_subjects), "test": list(config.test_subjects),
                     "train_p3": list(dict.fromkeys(q.subject for q in train_p3)),
                     "test_p3": [config.test_subjects[-1]]},
        "bone_mm": {s: subject_bone_lengths(config.seed, s).tolist() for s in subjects},
        "cameras": [c.to_json() for c in cameras],
        "cameras_used": {"train": list(range(1, config.cameras + 1)),
                         "test": list(range(1, config.test_cameras + 1)), "mpii_2d": [MPII_CAMERA]},
        "frames_per_action": per_action,
        "list_files": {LIST_TRAIN: "Protocol #1 training subjects", LIST_TEST: "Protocol #1 test subjects",
                       LIST_TRAIN_P3: "Protocol #3 training: the training subjects and all test subjects "
                                      "but the last",
                       LIST_TEST_P3: f"Protocol #3 test: the last test subject, every "
                                     f"{config.p3_test_clip_stride}th clip of {CLIP_LENGTH} frames "
                                     "(whole clips, so clip markers stay valid)",
                       "gt/test/test<a>.txt": f"the lines of {LIST_TEST} of action a, in order",
                       "gt/test_p3/test<a>.txt": f"the lines of {LIST_TEST_P3} of action a, in order",
                       LIST_MPII: f"2D only (32 values + clip marker): training subjects seen from camera "
                                  f"{MPII_CAMERA}; the spine (joint {MASK_2D_JOINT}) is absent and written as 0,0"},
        "conventions": {
            "world": "mm, y up, floor at y = 0",
            "camera": "OpenCV: x right, y down, z forward; X_cam = R X_world + t; no distortion",
            "crop": "square box (x0, y0, side) in sensor pixels centred on the 2D joints' bounding box, side = "
                    "larger extent x crop_margin; 2D label = (pixel - (x0, y0)) / side; image pixel i covers "
                    "[i, i + 1) so a label n lies at n x image_size",
            "image_file": "images/<subject>/<action>.cam<camera>/<50 fps video frame, 6 digits>.<format>",
            "raw_poses": f"{RAW_POSES}: per rendered frame joints_cam_mm (absolute camera space), joints_px "
                         "(sensor pixels), crop_box, keyed by image_path",
        },
    }
    _write_meta(root, meta)
    return meta


def _render(root, config, rendered, data, cameras, workers, progress):
    jobs = []
    for q in rendered:
        d = data[q]
        boxes = d["boxes"]
        region = (boxes[:, 0].min(), boxes[:, 1].min(),
                  (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 2]).max())
        jobs.append({"seed": [config.seed, SCENE_STREAM, subject_number(q.subject), q.action, q.camera],
                     "region": region, "boxes": boxes, "joints_px": d["joints_px"],
                     "depth_mm": d["joints_cam"][..., 2], "focal": cameras[q.camera - 1].fx,
                     "image_size": config.image_size, "paths": [os.path.join(root, p) for p in d["paths"]]})
    total = sum(len(job["paths"]) for job in jobs)
    with tqdm(total=total, unit="frame", desc="rendering", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                bar.update(render_sequence(job))
        else:
            with multiprocessing.Pool(workers) as pool:
                for count in pool.imap_unordered(render_sequence, jobs):
                    bar.update(count)
