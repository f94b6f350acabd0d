"""InvertedOrder: reverses the items of a blob along axis 0 (time), and the gradient likewise.

The 2D-to-3D transformer runs its second LSTM backwards in time through one InvertedOrder and puts
the output back in order through another.
"""
import caffe
import numpy as np

from cuda_kernels.inverted_order import inverted_order

from . import blobs
from .params import parse_params


class InvertedOrder(caffe.Layer):
    def setup(self, bottom, top):
        parse_params(self.__class__.__name__, self.param_str, {})
        if len(bottom) != 1 or len(top) != 1:
            raise ValueError(f"layer InvertedOrder: needs 1 bottom and 1 top, got {len(bottom)} and {len(top)}")

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        blobs.mutable_data(top[0])[...] = inverted_order(blobs.data(bottom[0]))

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            blobs.mutable_diff(bottom[0])[...] = inverted_order(blobs.diff(top[0]))


def reversed_clip_markers(cont):
    """Clip markers (T x N, 0 where a clip starts) for the same frames in reverse order: in reverse,
    a clip starts at its last frame, i.e. where the next frame's marker is 0, or at the last frame."""
    ends = np.zeros_like(cont)  # a CuPy array for a CuPy input (array function dispatch)
    ends[:-1] = cont[1:]
    return ends[::-1]


class ReversedClipMarkers(caffe.Layer):
    """Clip markers for the backward-in-time LSTM, so that it restarts at each clip's last frame and
    never carries state across clips when a batch holds several clips."""

    def setup(self, bottom, top):
        parse_params(self.__class__.__name__, self.param_str, {})
        if len(bottom) != 1 or len(top) != 1:
            raise ValueError("layer ReversedClipMarkers: needs 1 bottom (clip markers) and 1 top")

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        blobs.mutable_data(top[0])[...] = reversed_clip_markers(blobs.data(bottom[0]))

    def backward(self, top, propagate_down, bottom):
        pass
