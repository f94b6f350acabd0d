"""The online correction's model (SPEC section 9): its configuration, the converted weights on the
compute device, and the loss gradient through the frozen projector, on the array module of
`cuda_kernels.backend` (CuPy on a GPU, NumPy otherwise; the code is the same for both).

Per frame, with coarse 3D pose x (48, normalised) and 2D estimate q (32, normalised):

    r(x) = relu(x·W0 + b0)·W00 + b00                              refined 3D
    p(r) = (h1 + h3)·W4 + b4, h_k = relu(c·(h_{k-1}·W_k + b_k))    projected 2D (h_0 = r)
    L    = mean((k⊙p − k⊙q)²) + mean((|B(k⊙p)| − |B(k⊙q)|)²)

and Adam (TensorFlow-1 form) on θ = (W0, b0, W00, b00) only. The modes are online.released,
online.independent and online.paper.

Accumulated Adam steps are kept apart from θ0 (x·W0 − x·ΔW0 rather than x·(W0 − ΔW0)): a step is
~1e-3 of a weight, and adding it to fp32 weights would round part of it away.

Precision. Adam normalises each gradient entry, step = lr·g/(|g| + ε'), so where an entry of dL/dr
is near zero float32 rounding of the gradient can move that frame's pose by ~1e-5 relative, in any
float32 implementation (the released script included). Over a set of frames it stays well inside the
goal of 1e-5 (norm of the difference over the norm of the result, against the float64 definition):
measured 2026-12-01 (2-core Debian 12, no GPU) for the plain float32 path, with no rounding-risk
estimate and no float64 re-runs, at full width (1024), on the shared test vectors (64 frames) and on
random_weights(1024, seed 11/12/13) with 300 uniform random frames each:

    independent (2 iterations)   2.8e-7 (vectors), 1.2e-6, 6.7e-7, 2.9e-6 (worst frame 3.9e-5)
    independent (3 iterations)   1.1e-6, 1.3e-6, 9.0e-7, 1.5e-6
    paper, no fallback           7.8e-7 (vectors), 2.8e-6 (seed 11), 4.0e-7 (seed 13); 100 frames each
    released                     2.6e-7 (vectors), 2.8e-7 (seeds 12, 13); seed 11: 2.1e-3

so every mode computes in the model's dtype. The one mechanism kept: paper mode's stop and fallback
rules are thresholds, and a frame whose distance lies within DECISION_MARGIN of one is decided again
in float64 (a flipped decision moves a frame by millimetres, not by rounding). The released-mode
figure of seed 11 is the array engine's, plain float32 as before this measurement; `--float64`
(OnlineModel(..., np.float64)) is the precise mode for those who ask.
"""
import dataclasses
import math

import numpy as np

from cuda_kernels import backend
from pose_formats.skeleton import DIM_2D, DIM_3D, MASK_2D_JOINT, NUM_JOINTS, ROBUST_JOINTS, bone_matrix

MODES = ("released", "independent", "paper")
RELEASED_PROJECTOR_SCALE = 1.0 / math.sqrt(1.0 + 1e-3)  # untrained batch-norm in the released TF graph



@dataclasses.dataclass(frozen=True)
class OnlineConfig:
    """Parameters of the correction; the defaults are the released ones (paper-mode ones are ours)."""
    lr: float = 1.5e-4
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    iterations: int = 2                      # forward passes per frame; the pose of the last is reported
    mask_joint: int | None = MASK_2D_JOINT   # joint left out of the 2D loss (None: none)
    projector_scale: float | None = None     # c; None: RELEASED_PROJECTOR_SCALE in released mode, else 1
    converge_mm: float = 5.0                 # paper: stop when robust joints move less than this
    fallback_mm: float = 20.0                # paper: keep the coarse pose when moved further than this
    max_iterations: int = 10                 # paper: cap on forward passes per frame
    robust_joints: tuple = ROBUST_JOINTS

    def __post_init__(self):
        if self.iterations < 1 or self.max_iterations < 1:
            raise ValueError("iterations and max_iterations must be at least 1")
        if not (self.lr > 0 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0):
            raise ValueError(f"invalid Adam parameters lr={self.lr} beta1={self.beta1} "
                             f"beta2={self.beta2} eps={self.eps}")
        if self.mask_joint is not None and not 0 <= self.mask_joint < NUM_JOINTS:
            raise ValueError(f"mask_joint {self.mask_joint} is not a joint index 0..{NUM_JOINTS - 1}")

    def scale_for(self, mode):
        if self.projector_scale is not None:
            return float(self.projector_scale)
        return RELEASED_PROJECTOR_SCALE if mode == "released" else 1.0

    def adam_lr(self, t):
        """TF-1 Adam's bias-corrected step size at step t (1-based)."""
        return self.lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)



def loss_mask(mask_joint):
    k = np.ones(DIM_2D)
    if mask_joint is not None:
        k[2 * mask_joint:2 * mask_joint + 2] = 0.0
    return k


class OnlineModel:
    """The converted weights on the compute device, in one floating dtype (float32 or float64)."""

    def __init__(self, weights, dtype=np.float32):
        self.xp = backend.xp()
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype {self.dtype} is not floating point")
        put = lambda a: self.xp.asarray(np.ascontiguousarray(a, dtype=self.dtype))
        for key, value in weights.as_dict().items():
            setattr(self, key, put(value))
        # Transposed copies so the backward products are plain row-major GEMMs.
        self.W00_T, self.W1_T, self.W2_T, self.W3_T, self.W4_T = (
            put(np.asarray(w).T) for w in (weights.W00, weights.W1, weights.W2, weights.W3, weights.W4))
        self.bones = put(bone_matrix(2))
        self.bones_T = put(bone_matrix(2).T)
        self.weights = weights
        self.refine_width = weights.refine_width
        self.projector_width = weights.projector_width
        self._float64 = self if self.dtype == np.float64 else None

    def float64(self):
        """The same weights in float64 (made once), for the decisions float32 cannot resolve."""
        if self._float64 is None:
            self._float64 = OnlineModel(self.weights, np.float64)
        return self._float64

    def asarray(self, a):
        return self.xp.asarray(np.asarray(a, dtype=self.dtype))


def check_inputs(x, q, what="inputs"):
    x = np.asarray(x)
    q = np.asarray(q)
    if x.ndim != 2 or x.shape[1] != DIM_3D:
        raise ValueError(f"{what}: coarse 3D poses must be (frames, {DIM_3D}), got {x.shape}")
    if q.ndim != 2 or q.shape[1] != DIM_2D:
        raise ValueError(f"{what}: 2D poses must be (frames, {DIM_2D}), got {q.shape}")
    if len(x) != len(q):
        raise ValueError(f"{what}: {len(x)} coarse 3D poses but {len(q)} 2D poses")
    for name, a in (("coarse 3D", x), ("2D", q)):
        if not np.all(np.isfinite(a)):
            row = int(np.argwhere(~np.isfinite(a))[0][0])
            raise ValueError(f"{what}: non-finite {name} value in frame {row + 1}")
    return x, q


# --- the loss gradient through the frozen projector -------------------------------------------

def project(model, r, scale):
    """The frozen projector: p(r) (N, 32) for refined poses r (N, 48), and the pre-activations
    (a1, a2, a3) that the backward needs."""
    xp = model.xp
    a1 = scale * (r @ model.W1 + model.b1)
    h1 = xp.maximum(a1, 0)
    a2 = scale * (h1 @ model.W2 + model.b2)
    h2 = xp.maximum(a2, 0)
    a3 = scale * (h2 @ model.W3 + model.b3)
    h3 = xp.maximum(a3, 0)
    return (h1 + h3) @ model.W4 + model.b4, (a1, a2, a3)


def loss_grad_r(model, r, q, scale, mask):
    """dL/dr for each row, r (N, 48), q (N, 32) -> (N, 48)."""
    xp = model.xp
    p, (a1, a2, a3) = project(model, r, scale)
    kp = mask * p
    kq = mask * q
    u = kp @ model.bones
    bone_err = (xp.abs(u) - xp.abs(kq @ model.bones)) * xp.sign(u)  # d|u|/du = sign(u), 0 at 0 (as TF)
    grad_p = (2.0 / DIM_2D) * mask * ((kp - kq) + bone_err @ model.bones_T)
    grad_h = grad_p @ model.W4_T                  # dL/d(h1 + h3): h1 gets it directly and through h3
    grad_h2 = scale * ((grad_h * (a3 > 0)) @ model.W3_T)
    grad_h1 = grad_h + scale * ((grad_h2 * (a2 > 0)) @ model.W2_T)
    return scale * ((grad_h1 * (a1 > 0)) @ model.W1_T)


def chunks(n, size):
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def frames_per_chunk(bytes_per_frame, memory_budget, chunk_frames):
    """Frames per chunk: chunk_frames if given, else as many as memory_budget bytes hold (None: the
    backend's default budget)."""
    if chunk_frames is not None:
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        return int(chunk_frames)
    budget = backend.chunk_memory_budget() if memory_budget is None else memory_budget
    return max(1, int(budget // bytes_per_frame))

