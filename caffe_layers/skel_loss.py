"""SkelVectorLoss: loss = sum over joints of (bone(a) - bone(b))^2 / (2N), bone_j = p[parent(j)] - p[j].

The released C++ layer passed the plain difference a - b back as if bones were the identity map; this
layer returns the true gradient (chain rule through the parent map, cuda_kernels.bones)."""
import caffe
import numpy as np

from cuda_kernels.bones import skel_vector_loss

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
        top[0].reshape(1)

    def _flat(self, blob):
        return blob.data.reshape(blob.num, -1)

    def forward(self, bottom, top):
        self.loss, self.grad_a = skel_vector_loss(self._flat(bottom[0]), self._flat(bottom[1]), self.dim)
        top[0].data[0] = self.loss

    def backward(self, top, propagate_down, bottom):
        weight = top[0].diff[0]
        for i, sign in ((0, 1.0), (1, -1.0)):
            if propagate_down[i]:
                bottom[i].diff[...] = (sign * weight * np.asarray(self.grad_a)).reshape(bottom[i].diff.shape)
