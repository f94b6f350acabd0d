"""SkelVectorLoss: loss = sum over joints of (bone(a) - bone(b))^2 / (2N), bone_j = p[parent(j)] - p[j].

The released C++ layer passed the plain difference a - b back as if bones were the identity map; this
layer returns the true gradient (chain rule through the parent map, cuda_kernels.bones)."""
import caffe

from cuda_kernels.bones import skel_vector_loss

from . import blobs
from .params import parse_params


class SkelVectorLoss(caffe.Layer):
    def setup(self, bottom, top):
        self.dim = parse_params("SkelVectorLoss", self.param_str, {"dim": (int, 3)})["dim"]
        if self.dim not in (2, 3):
            raise ValueError(f"layer SkelVectorLoss: param 'dim' must be 2 or 3, got {self.dim}")
        if len(bottom) != 2 or len(top) != 1:
            raise ValueError("layer SkelVectorLoss: needs 2 bottoms (a, b) and 1 top (loss)")

    def reshape(self, bottom, top):
        if bottom[0].count != bottom[1].count:
            raise ValueError(f"layer SkelVectorLoss: bottoms differ in size: {bottom[0].data.shape} "
                             f"and {bottom[1].data.shape}")
        width = bottom[0].count // bottom[0].num
        if width % self.dim or width // self.dim != 16:
            raise ValueError(f"layer SkelVectorLoss: expected 16 joints x {self.dim} values per item, got {width}")
        top[0].reshape()  # a scalar, as Caffe's own loss layers give

    def forward(self, bottom, top):
        self.loss, self.grad_a = skel_vector_loss(blobs.items(blobs.data(bottom[0])),
                                                  blobs.items(blobs.data(bottom[1])), self.dim)
        blobs.mutable_data(top[0])[...] = self.loss

    def backward(self, top, propagate_down, bottom):
        weight = float(blobs.diff(top[0]))
        for i, sign in ((0, 1.0), (1, -1.0)):
            if propagate_down[i]:
                diff = blobs.mutable_diff(bottom[i])
                diff[...] = (sign * weight * self.grad_a).reshape(diff.shape)
