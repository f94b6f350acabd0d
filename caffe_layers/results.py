"""Layers that measure and write results while `caffe test` runs: MPJPEEvaluation and SavePath.

Rows go to `<file>.partial` and the file is renamed to its name once `sample_num` rows are written, so
an interrupted test never leaves a truncated CSV that a later step would read as whole. Rows past
`sample_num` (a list that wraps around inside the last batch) are not written and not counted.
"""
import os
import sys

import caffe
import numpy as np

from cuda_kernels import backend
from cuda_kernels.mpjpe import mpjpe
from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin
from pose_formats.results import format_result_line

from . import blobs
from .params import REQUIRED, parse_params


class IndexedRowsFile:
    """Appends `index,v1,...,vK` rows (index from 1) to `path`.partial; renames it to `path` when
    `limit` rows have been written."""

    def __init__(self, path, limit):
        self.path, self.limit, self.written = path, limit, 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.file = open(path + ".partial", "w")

    def append(self, rows):
        rows = rows[: self.limit - self.written]
        for row in rows:
            self.written += 1
            self.file.write(format_result_line(self.written, row))
        if self.written == self.limit and not self.file.closed:
            self.file.close()
            os.replace(self.path + ".partial", self.path)
        return len(rows)


class MPJPEEvaluation(caffe.Layer):
    """Bottoms: prediction, label (N x 48, normalised). Top: the batch's mean MPJPE in mm (give it
    loss_weight 0). Logs the running mean over the first `sample_num` frames; with `save_filepath`,
    writes each frame's un-normalised prediction as `index,v1..v48`."""

    def setup(self, bottom, top):
        p = parse_params("MPJPEEvaluation", self.param_str, {
            "sample_num": (int, 0), "save_filepath": (str, ""), "max_min_file": (str, DEFAULT_MAX_MIN)})
        if len(bottom) != 2 or len(top) != 1:
            raise ValueError("layer MPJPEEvaluation: needs 2 bottoms (prediction, label) and 1 top")
        if p["save_filepath"] and p["sample_num"] < 1:
            raise ValueError("layer MPJPEEvaluation: param 'save_filepath' needs a positive 'sample_num'")
        self.max_min = MaxMin(p["max_min_file"])
        self.sample_num = p["sample_num"]
        self.rows = IndexedRowsFile(p["save_filepath"], p["sample_num"]) if p["save_filepath"] else None
        self.frames, self.error_sum = 0, 0.0

    def reshape(self, bottom, top):
        for i in range(len(bottom)):  # pycaffe's blob vectors are indexable, not iterable
            if bottom[i].count // bottom[i].num != 48:
                raise ValueError(f"layer MPJPEEvaluation: expected N x 48 bottoms, got {bottom[i].data.shape}")
        top[0].reshape()  # a scalar, as Caffe's Accuracy layer gives

    def forward(self, bottom, top):
        pred = blobs.items(blobs.data(bottom[0]))
        per_frame_here = mpjpe(pred, blobs.items(blobs.data(bottom[1])), dim=3, scale=self.max_min.range)
        blobs.mutable_data(top[0])[...] = per_frame_here.mean()
        per_frame = backend.to_host(per_frame_here)
        counted = len(per_frame) if not self.sample_num else min(len(per_frame), self.sample_num - self.frames)
        if counted > 0:
            self.frames += counted
            self.error_sum += float(np.sum(per_frame[:counted], dtype=np.float64))
            if self.sample_num and self.frames == self.sample_num:
                label = f" ({os.path.basename(self.rows.path)})" if self.rows else ""
                sys.stderr.write(f"MPJPEEvaluation{label}: MPJPE over {self.frames} frames = "
                                 f"{self.error_sum / self.frames:.4f} mm\n")
        if self.rows is not None:
            self.rows.append(self.max_min.unnormalize(backend.to_host(pred)))

    def backward(self, top, propagate_down, bottom):
        for i in range(len(bottom)):  # a metric: no gradient flows through it
            if propagate_down[i]:
                blobs.mutable_diff(bottom[i])[...] = 0


class SavePath(caffe.Layer):
    """Writes the rows of its one bottom (N x K) as `index,v1..vK` to `save_filepath`."""

    def setup(self, bottom, top):
        p = parse_params("SavePath", self.param_str, {"save_filepath": (str, REQUIRED), "sample_num": (int, REQUIRED)})
        if p["sample_num"] < 1:
            raise ValueError(f"layer SavePath: param 'sample_num' must be positive, got {p['sample_num']}")
        if len(bottom) != 1 or len(top) != 0:
            raise ValueError("layer SavePath: needs 1 bottom and no top")
        self.rows = IndexedRowsFile(p["save_filepath"], p["sample_num"])

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        self.rows.append(blobs.items(bottom[0].data))  # a file on the host: host view

    def backward(self, top, propagate_down, bottom):
        pass
