"""A training stage's snapshots in the work folder: whether the stage is done, and which snapshot a
killed run resumes from.

Caffe writes `<prefix>_iter_<k>.caffemodel`, then `<prefix>_iter_<k>.solverstate`, straight under their
final names, so a kill can leave either truncated. A snapshot counts only when both files parse; a
stage counts as done only when its DONE file (written after `caffe train` exited 0) names its final
caffemodel.
"""
import os
import re

from caffe.proto import caffe_pb2
from google.protobuf.message import DecodeError

from pose_formats.atomic import atomic_write

DONE = "DONE"


def final_model(models_dir, stage, iterations):
    return os.path.join(models_dir, stage, f"{stage}_iter_{iterations}.caffemodel")


def is_done(models_dir, stage, iterations):
    """True when the stage finished: its DONE file names the final caffemodel, which exists."""
    marker = os.path.join(models_dir, stage, DONE)
    if not os.path.exists(marker):
        return False
    with open(marker) as f:
        named = f.read().strip()
    return named == os.path.basename(final_model(models_dir, stage, iterations)) and \
        os.path.exists(final_model(models_dir, stage, iterations))


def mark_done(models_dir, stage, iterations):
    final = final_model(models_dir, stage, iterations)
    if not os.path.exists(final):
        raise RuntimeError(f"caffe train exited 0 but wrote no {final}")
    with atomic_write(os.path.join(models_dir, stage, DONE)) as f:
        f.write(os.path.basename(final) + "\n")


def _parses(path, message):
    try:
        with open(path, "rb") as f:
            message.ParseFromString(f.read())
        return True
    except (OSError, DecodeError):
        return False


def latest_snapshot(models_dir, stage, iterations):
    """(iteration, solverstate path) of the newest complete snapshot at or below `iterations`, or None."""
    folder = os.path.join(models_dir, stage)
    if not os.path.isdir(folder):
        return None
    found = []
    for name in os.listdir(folder):
        m = re.fullmatch(rf"{re.escape(stage)}_iter_(\d+)\.solverstate", name)
        if m and int(m.group(1)) <= iterations:
            found.append(int(m.group(1)))
    for k in sorted(found, reverse=True):
        state_path = os.path.join(folder, f"{stage}_iter_{k}.solverstate")
        state = caffe_pb2.SolverState()
        if not _parses(state_path, state) or state.iter != k:
            continue
        if _parses(os.path.join(folder, f"{stage}_iter_{k}.caffemodel"), caffe_pb2.NetParameter()):
            return k, state_path
    return None
