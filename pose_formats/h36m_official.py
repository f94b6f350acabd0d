"""Human3.6M from its official downloads to the list files of SPEC section 3 (tools/prepare_h36m.py).

Official per-subject layout read here:
    S<k>/MyPoseFeatures/D3_Positions_mono/<Action>[ <n>].<camera>.cdf   camera coordinates, mm, 32 joints
    S<k>/MyPoseFeatures/D2_Positions/<Action>[ <n>].<camera>.cdf        pixels, 32 joints
    S<k>/Videos/<Action>[ <n>].<camera>.mp4                              50 fps
Every D3 file is one sequence (subject, action, sub-action, camera). Each sequence is prepared on its
own and leaves a record (h36m_sequences/<subject>/<name>.npz, written last), so a rerun skips finished
sequences; the list files are then assembled from all records.
"""
import contextlib
import dataclasses
import json
import multiprocessing
import os
import re
import shutil

import cv2
import numpy as np

from .atomic import atomic_write
from .crops import crop_square, write_jpeg
from .labels import CLIP_LENGTH, KEEP_EVERY, crop_boxes, labels_2d3d
from .listfile import LIST_TEST, LIST_TEST_P3, LIST_TRAIN, LIST_TRAIN_P3, META, write_list_file
from .normalization import MaxMin
from .skeleton import ACTIONS, NUM_JOINTS, PARENTS

CAMERAS = ("54138969", "55011271", "58860488", "60457274")
# Our 16 joints among Human3.6M's 32: pelvis, right leg, left leg, spine, thorax, head, left arm, right arm.
JOINTS_FROM_32 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 15, 17, 18, 19, 25, 26, 27)
# The release spells some actions two ways across subjects.
ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
PROTOCOLS = {
    1: {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11"), "lists": (LIST_TRAIN, LIST_TEST),
        "per_action": "gt/test"},
    3: {"train": ("S1", "S5", "S6", "S7", "S8", "S9"), "test": ("S11",), "lists": (LIST_TRAIN_P3, LIST_TEST_P3),
        "per_action": "gt/test_p3"},
}
P3_TEST_EVERY = 64          # Protocol #3 tests every 64th video frame of S11
RECORDS = "h36m_sequences"


@dataclasses.dataclass(frozen=True)
class Sequence:
    subject: str
    action: int             # 1..15, ACTIONS[action - 1]
    name: str               # the official base name, e.g. "Directions 1"
    camera: str

    def file(self, root, kind):
        folder = {"d3": "MyPoseFeatures/D3_Positions_mono", "d2": "MyPoseFeatures/D2_Positions",
                  "video": "Videos"}[kind]
        return os.path.join(root, self.subject, folder, f"{self.name}.{self.camera}.{'mp4' if kind == 'video' else 'cdf'}")

    @property
    def folder(self):
        """Image folder relative to the output: images/<subject>/<name, spaces as _>.<camera>."""
        return f"images/{self.subject}/{self.name.replace(' ', '_')}.{self.camera}"

    @property
    def record(self):
        return f"{RECORDS}/{self.subject}/{self.name.replace(' ', '_')}.{self.camera}.npz"


def parse_sequence_name(file_name):
    """'Directions 1.54138969.cdf' -> (action 1..15, 'Directions 1', '54138969'); None for files that
    are no sequence of the 15 actions (with the reason)."""
    match = re.fullmatch(r"(.+?)\.(\d+)\.cdf", file_name)
    if not match:
        return None, "not <Action>[ <n>].<camera>.cdf"
    name, camera = match.groups()
    action = ACTION_ALIASES.get(re.sub(r" \d+$", "", name), re.sub(r" \d+$", "", name))
    if action not in ACTIONS:
        return None, f"action {action!r} is none of the 15"
    if camera not in CAMERAS:
        return None, f"camera {camera} is none of {', '.join(CAMERAS)}"
    return (ACTIONS.index(action) + 1, name, camera), None


def find_sequences(root, subjects):
    """(Sequences of `subjects` in subject number, action, name and camera order; ignored files as
    'path: reason')."""
    sequences, ignored = [], []
    for subject in subjects:
        folder = os.path.join(root, subject, "MyPoseFeatures", "D3_Positions_mono")
        if not os.path.isdir(folder):
            raise ValueError(f"{folder}: missing folder (subject {subject} is needed by the protocol)")
        for file_name in sorted(os.listdir(folder)):
            parsed, reason = parse_sequence_name(file_name)
            if parsed is None:
                ignored.append(f"{os.path.join(folder, file_name)}: {reason}")
            else:
                action, name, camera = parsed
                sequences.append(Sequence(subject, action, name, camera))
    return sorted(sequences, key=lambda q: (int(q.subject[1:]), q.action, q.name, q.camera)), ignored


def read_pose_cdf(path, values_per_frame):
    """The CDF's variable 'Pose' as (frames, values_per_frame) float64."""
    import cdflib   # imported here: only the preparation tools need it
    if not os.path.isfile(path):
        raise ValueError(f"{path}: missing file")
    try:
        pose = cdflib.CDF(path).varget("Pose")
    except Exception as e:  # cdflib fails in many ways on a cut file; all mean the same to the user
        raise ValueError(f"{path}: cannot read the CDF (truncated or corrupt download?): "
                         f"{type(e).__name__}: {e}") from None
    pose = np.asarray(pose, dtype=np.float64)
    if pose.ndim < 2 or pose.shape[-1] != values_per_frame or pose.size == 0:
        raise ValueError(f"{path}: variable 'Pose' has shape {pose.shape}, expected (1, frames, {values_per_frame})")
    pose = pose.reshape(-1, values_per_frame)
    if not np.all(np.isfinite(pose)):
        raise ValueError(f"{path}: non-finite value in frame {int(np.argwhere(~np.isfinite(pose))[0, 0]) + 1}")
    return pose


def kept_frames(frames):
    """Video frame indices kept from a sequence of `frames`: every KEEP_EVERY-th frame, in whole clips
    of CLIP_LENGTH (a partial last clip is dropped, so every clip marker pattern is complete)."""
    sampled = (frames + KEEP_EVERY - 1) // KEEP_EVERY
    return np.arange(sampled // CLIP_LENGTH * CLIP_LENGTH) * KEEP_EVERY


@dataclasses.dataclass(frozen=True)
class CropOptions:
    size: int = 368
    margin: float = 1.3
    quality: int = 95


def prepare_sequence(root, out, sequence, options):
    """Crop one sequence's kept frames and write its record. Returns a report dict; status 'unreadable'
    (video OpenCV cannot decode: nothing written) or 'done'."""
    d3_path, d2_path, video_path = (sequence.file(root, kind) for kind in ("d3", "d2", "video"))
    for path in (d2_path, video_path):
        if not os.path.isfile(path):
            raise ValueError(f"{path}: missing file (the pair of {d3_path})")
    joints_cam = read_pose_cdf(d3_path, 96).reshape(-1, 32, 3)[:, JOINTS_FROM_32]
    joints_px = read_pose_cdf(d2_path, 64).reshape(-1, 32, 2)[:, JOINTS_FROM_32]
    if len(joints_cam) != len(joints_px):
        raise ValueError(f"{d3_path}: {len(joints_cam)} frames but {d2_path} has {len(joints_px)}")
    pose_frames = len(joints_cam)
    wanted = kept_frames(pose_frames)
    boxes = crop_boxes(joints_px[wanted], options.margin)

    final = os.path.join(out, sequence.folder)
    staging = os.path.join(os.path.dirname(final), "." + os.path.basename(final) + ".partial")
    shutil.rmtree(staging, ignore_errors=True)      # left by an interrupted run
    capture = cv2.VideoCapture(video_path)
    video_frames, written = 0, 0
    if capture.isOpened():
        os.makedirs(staging)
        while video_frames < pose_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if written < len(wanted) and video_frames == wanted[written]:
                crop = crop_square(frame, boxes[written], options.size)
                write_jpeg(os.path.join(staging, f"{video_frames:06d}.jpg"), crop, options.quality)
                written += 1
            video_frames += 1
        if video_frames == pose_frames and capture.read()[0]:
            video_frames += 1       # longer than its poses: the extra frames have no labels
        capture.release()
    report = {"sequence": f"{sequence.subject}/{sequence.name}.{sequence.camera}", "video": video_path,
              "pose_frames": pose_frames, "video_frames": video_frames}
    if video_frames == 0:
        shutil.rmtree(staging, ignore_errors=True)
        return {**report, "status": "unreadable"}
    kept = kept_frames(min(pose_frames, video_frames))
    for frame in wanted[len(kept):written]:    # a short video: its partial last clip loses its images
        os.unlink(os.path.join(staging, f"{frame:06d}.jpg"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    n = len(kept)
    record = os.path.join(out, sequence.record)
    os.makedirs(os.path.dirname(record), exist_ok=True)
    with atomic_write(record, "wb") as f:
        np.savez(f, video_frame=kept, joints_cam_mm=joints_cam[kept], joints_px=joints_px[kept],
                 crop_box=boxes[:n], options=json.dumps(dataclasses.asdict(options)),
                 pose_frames=pose_frames, video_frames=video_frames)
    return {**report, "status": "done", "kept": n}


def load_record(out, sequence, options):
    """The sequence's record, or None when it has not been prepared; an error when it was prepared
    with other crop options (the images would not match the labels assembled now)."""
    path = os.path.join(out, sequence.record)
    if not os.path.isfile(path) or not os.path.isdir(os.path.join(out, sequence.folder)):
        return None
    with np.load(path) as npz:
        record = {k: npz[k] for k in npz.files}
    previous = json.loads(str(record["options"]))
    if previous != dataclasses.asdict(options):
        raise ValueError(f"{path}: prepared with {previous}, now asked for {dataclasses.asdict(options)}: "
                         "use the same options or another --out")
    return record


def mean_bone_lengths(records):
    """Mean length (mm) of each joint's bone to its parent over all frames of `records` (root: 0)."""
    joints = np.concatenate([r["joints_cam_mm"] for r in records])
    return np.linalg.norm(joints - joints[:, PARENTS], axis=2).mean(axis=0)


def with_bone_lengths(joints, lengths):
    """Poses (T, 16, 3) rebuilt from the root outward: each bone's direction kept, its length set."""
    out = np.zeros_like(joints)
    out[:, 0] = joints[:, 0]
    for j in range(1, NUM_JOINTS):    # parents come before their children in the joint order
        bone = joints[:, j] - joints[:, PARENTS[j]]
        out[:, j] = out[:, PARENTS[j]] + bone / np.linalg.norm(bone, axis=1, keepdims=True) * lengths[j]
    return out


def p3_test_frames(video_frames):
    """Mask of the kept frames in Protocol #3's test list: the whole clips that hold a multiple of
    P3_TEST_EVERY among their video frames (each clip spans CLIP_LENGTH * KEEP_EVERY frames)."""
    span = CLIP_LENGTH * KEEP_EVERY
    clip_start = video_frames - video_frames % span
    return (clip_start + span - 1) // P3_TEST_EVERY * P3_TEST_EVERY >= clip_start


def assemble(out, records, protocols, max_min, mean_limb_scale, notes):
    """Write the list files of `protocols` from {Sequence: record}; returns the list counts and the mean
    bone lengths used (with `mean_limb_scale`) for meta. Lists without frames are noted, not written."""
    counts = {}
    bone_means = {}
    for number in protocols:
        protocol = PROTOCOLS[number]
        train = [q for q in records if q.subject in protocol["train"]]
        test = [q for q in records if q.subject in protocol["test"]]
        if mean_limb_scale:
            bone_means[number] = mean_bone_lengths([records[q] for q in train])

        def rows(seqs, p3_subset=False):
            paths, labels = [], []
            for q in seqs:
                r = records[q]
                keep = p3_test_frames(r["video_frame"]) if p3_subset else np.ones(len(r["video_frame"]), bool)
                joints = r["joints_cam_mm"][keep]
                if mean_limb_scale:
                    joints = with_bone_lengths(joints - joints[:, :1], bone_means[number])
                paths += [f"{q.folder}/{frame:06d}.jpg" for frame in r["video_frame"][keep]]
                labels.append(labels_2d3d(joints, r["joints_px"][keep], r["crop_box"][keep], max_min))
            return paths, (np.concatenate(labels) if labels else np.zeros((0, 81)))

        p3 = number == 3
        for list_name, seqs in zip(protocol["lists"], (train, test)):
            paths, labels = rows(seqs, p3_subset=p3 and seqs is test)
            _write(out, list_name, paths, labels, counts)
        empty = [a for a in range(1, len(ACTIONS) + 1)
                 if not _write(out, f"{protocol['per_action']}/test{a}.txt",
                               *rows([q for q in test if q.action == a], p3_subset=p3), counts)]
        if empty:
            notes.append(f"{os.path.join(out, protocol['per_action'])}: no test frames of action(s) "
                         f"{', '.join(map(str, empty))}: their lists are not written")
    return counts, {n: lengths.tolist() for n, lengths in bone_means.items()}


def _write(out, name, paths, labels, counts):
    """Write a list unless it has no frames (returns whether it was written); count its frames."""
    counts[name] = len(paths)
    if paths:
        write_list_file(os.path.join(out, name), paths, labels)
    elif "/" not in name:
        raise ValueError(f"{os.path.join(out, name)}: no frames (no sequence of its subjects was readable)")
    return bool(paths)


def prepare(root, out, protocols=(1, 3), options=CropOptions(), mean_limb_scale=False, max_min_path=None,
            workers=1, progress=None):
    """Prepare every sequence the protocols need (skipping finished ones), then write the lists and
    meta.json (its "warnings": skipped videos, length mismatches, empty lists, for the caller to show).
    `progress(total)` returns a callable bumped once per prepared sequence (a progress bar)."""
    max_min = MaxMin(max_min_path) if max_min_path else MaxMin()
    subjects = sorted({s for n in protocols for part in ("train", "test") for s in PROTOCOLS[n][part]},
                      key=lambda s: int(s[1:]))
    sequences, ignored = find_sequences(root, subjects)
    records, todo = {}, []
    for q in sequences:
        record = load_record(out, q, options)
        if record is None:
            todo.append(q)
        else:
            records[q] = record
    bump = progress(len(todo)) if progress else (lambda: None)
    jobs = [(root, out, q, options) for q in todo]
    reports = []
    with multiprocessing.Pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        for report in (pool.imap if pool else map)(_prepare_job, jobs):
            reports.append(report)
            bump()
    for q, report in zip(todo, reports):
        if report["status"] == "done":
            records[q] = load_record(out, q, options)
    unreadable = [r for r in reports if r["status"] == "unreadable"]
    mismatched = [r for r in reports if r["status"] == "done" and r["video_frames"] != r["pose_frames"]]
    notes = [f"{r['video']}: OpenCV cannot read this video; sequence {r['sequence']} skipped" for r in unreadable]
    notes += [f"{r['video']}: {r['video_frames']} video frames but {r['pose_frames']} pose frames; the common "
              f"{min(r['video_frames'], r['pose_frames'])} are used" for r in mismatched]

    counts, bone_means = assemble(out, records, protocols, max_min, mean_limb_scale, notes)
    shutil.copyfile(max_min.path, os.path.join(out, os.path.basename(max_min.path)))
    meta = {
        "tool": "tools/prepare_h36m.py (pose_formats.h36m_official)",
        "h36m_root": os.path.abspath(root),
        "protocols": {n: {"train": PROTOCOLS[n]["train"], "test": PROTOCOLS[n]["test"]} for n in protocols},
        "options": {**dataclasses.asdict(options), "mean_limb_scale": mean_limb_scale,
                    "max_min": os.path.basename(max_min.path)},
        "keep_every": KEEP_EVERY, "clip_length": CLIP_LENGTH, "p3_test_every": P3_TEST_EVERY,
        "sequences": len(records), "prepared_now": len(todo) - len(unreadable),
        "skipped_as_finished": len(sequences) - len(todo),
        "frames": counts,
        "unreadable_videos": [r["video"] for r in unreadable],
        "length_mismatches": [{k: r[k] for k in ("video", "pose_frames", "video_frames")} for r in mismatched],
        "ignored_files": ignored,
        "warnings": notes,
        "mean_bone_mm": bone_means,
        "evaluation": ("3D labels are root-relative poses with each bone's length set to the mean over the "
                       "protocol's training subjects (directions kept): test MPJPE compares to those, not to "
                       "the raw mm" if mean_limb_scale else
                       "3D labels are the raw root-relative mm of D3_Positions_mono: test MPJPE compares to those"),
        "conventions": {
            "joints": f"ours = Human3.6M's 32 at {list(JOINTS_FROM_32)}",
            "crop": "square box (x0, y0, side) centred on the 16 2D joints' bounding box, side = larger extent x "
                    "margin, resampled bilinearly to size x size (outside the frame: black); 2D label = "
                    "(pixel - (x0, y0)) / side",
            "kept": f"every {KEEP_EVERY}th video frame, whole clips of {CLIP_LENGTH} (a partial last clip dropped)",
            "p3_test": f"Protocol #3 test: the whole clips of S11 that hold a multiple of {P3_TEST_EVERY} among "
                       "their video frames",
            "image_file": "images/<subject>/<official name, spaces as _>.<camera>/<video frame, 6 digits>.jpg",
        },
    }
    with atomic_write(os.path.join(out, META)) as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return meta


def _prepare_job(job):
    return prepare_sequence(*job)
