"""Training-time joint dropout: Mask (one pose, each joint zeroed with probability `prob`) and
Mask2D3D (matching 2D and 3D masks). Tops are 0/1 masks, applied through an Eltwise PROD; in the TEST
phase they are all ones. Draws come from cuda_kernels.joint_mask, a counter-based hash of
(seed, call count, frame, joint), so a seeded net drops the same joints on every run."""
import caffe
import numpy as np

from cuda_kernels.joint_mask import RELEASED_MASK_2D3D_KEEP_PROB, joint_mask, mask_2d_3d
from pose_formats.skeleton import DIM_2D, DIM_3D

from . import blobs
from .params import parse_params
from .resume import start_iteration


class _JointDropout(caffe.Layer):
    """Shared by both mask layers: seed, the per-call counter, all-ones masks outside TRAIN."""

    def _start(self, schema):
        p = parse_params(self.__class__.__name__, self.param_str, {"seed": (int, 0), **schema})
        self.seed, self.calls = p["seed"], start_iteration(self)
        self.training = self.phase == caffe.TRAIN
        return p

    def _next_counter(self):
        self.calls += 1
        return self.calls

    def backward(self, top, propagate_down, bottom):
        for i in range(len(bottom)):  # the mask does not depend on its input's values
            if propagate_down[i]:
                blobs.mutable_diff(bottom[i])[...] = 0


class Mask(_JointDropout):
    """Bottom: a pose (N x J*dim). Top: its mask, each joint's `dim` values 0 with probability `prob`."""

    def setup(self, bottom, top):
        p = self._start({"dim": (int, 3), "prob": (float, 0.02)})
        self.dim, self.keep_prob = p["dim"], 1.0 - p["prob"]
        if self.dim not in (2, 3):
            raise ValueError(f"layer Mask: param 'dim' must be 2 or 3, got {self.dim}")
        if not 0.0 <= p["prob"] <= 1.0:
            raise ValueError(f"layer Mask: param 'prob' must be in [0, 1], got {p['prob']}")
        if len(bottom) != 1 or len(top) != 1:
            raise ValueError("layer Mask: needs 1 bottom (pose) and 1 top (mask)")

    def reshape(self, bottom, top):
        if (bottom[0].count // bottom[0].num) % self.dim:
            raise ValueError(f"layer Mask: item width {bottom[0].count // bottom[0].num} is not a multiple of "
                             f"dim {self.dim}")
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        out = blobs.mutable_data(top[0])
        if not self.training:
            out[...] = 1.0
            return
        shape = (bottom[0].num, bottom[0].count // bottom[0].num)
        mask = joint_mask(shape, self.dim, self.keep_prob, self.seed, self._next_counter(), xp=blobs.array_module())
        out[...] = mask.reshape(out.shape)


class Mask2D3D(_JointDropout):
    """Bottom: any blob with N items (e.g. the 3D pose). Tops: 2D mask (N x 32) and 3D mask (N x 48)
    dropping the same joints; released keep probabilities 0.6 for joints 7 and 9, 0.8 for others."""

    def setup(self, bottom, top):
        p = self._start({"keep_prob": (list, RELEASED_MASK_2D3D_KEEP_PROB.tolist())})
        self.keep_prob = np.asarray(p["keep_prob"], dtype=np.float32)
        if self.keep_prob.shape != (16,) or np.any((self.keep_prob < 0) | (self.keep_prob > 1)):
            raise ValueError("layer Mask2D3D: param 'keep_prob' must be 16 probabilities in [0, 1]")
        if len(bottom) != 1 or len(top) != 2:
            raise ValueError("layer Mask2D3D: needs 1 bottom and 2 tops (mask2d, mask3d)")

    def reshape(self, bottom, top):
        top[0].reshape(bottom[0].num, DIM_2D)
        top[1].reshape(bottom[0].num, DIM_3D)

    def forward(self, bottom, top):
        out2d, out3d = blobs.mutable_data(top[0]), blobs.mutable_data(top[1])
        if not self.training:
            out2d[...] = 1.0
            out3d[...] = 1.0
            return
        out2d[...], out3d[...] = mask_2d_3d(bottom[0].num, self.keep_prob, self.seed, self._next_counter(),
                                            xp=blobs.array_module())
