"""Online self-supervised correction (SPEC section 9), batched over frames, on the array module of
`cuda_kernels.backend` (CuPy on a GPU, NumPy otherwise; the code is the same for both).

Per frame, with coarse 3D pose x (48, normalised) and 2D estimate q (32, normalised):

    r(x) = relu(x·W0 + b0)·W00 + b00                              refined 3D
    p(r) = (h1 + h3)·W4 + b4, h_k = relu(c·(h_{k-1}·W_k + b_k))    projected 2D (h_0 = r)
    L    = mean((k⊙p − k⊙q)²) + mean((|B(k⊙p)| − |B(k⊙q)|)²)

and Adam (TensorFlow-1 form) on θ = (W0, b0, W00, b00) only. Three modes:

- released: per action a sequential scan; θ is reset every frame, Adam's m, v and step count carry
  over from frame to frame. The actions are independent and run side by side as rows of one batch:
  on CuPy in one persistent kernel (cuda_kernels.online_released), else in the per-row engine.
- independent: every frame starts from θ0 and a fresh Adam. With the released 2 iterations the
  reported pose needs only the first Adam step, which is computed without per-frame weight copies
  (`_refine_after_first_step`, its sums in cuda_kernels.online_first_step); other iteration counts
  use the per-row engine.
- paper: independent frames, iterated until the robust joints settle (or a cap), falling back to the
  coarse pose when the result strays too far from it.

The per-row engine keeps Adam's state per row (frame or action); its updates are
cuda_kernels.online_adam (kernels on CuPy, their NumPy references otherwise).

Accumulated Adam steps are kept apart from θ0 (x·W0 − x·ΔW0 rather than x·(W0 − ΔW0)): a step is
~1e-3 of a weight, and adding it to fp32 weights would round part of it away.

Conditioning. Adam normalises each gradient entry, step = lr·g/(|g| + ε'), so where an entry of dL/dr
is near zero the reported pose moves by up to lr·Σh/|g| per unit of gradient error: float32 rounding
of the gradient (absolute, ~10·ε32·max|g|) can then move it by 1e-4 relative or more, in any float32
implementation (the released script included). Likewise a ReLU pre-activation within rounding of zero
takes either side. The float32 fast path (independent mode, 2 iterations) therefore estimates per frame
what rounding can do (`_near_zero`, `_gain_risk`) and recomputes the few frames at risk in float64;
the per-row engine (paper mode, other iteration counts) computes the projector pass and the θ0
products in float64 and keeps only Adam's state and the small offsets in float32. Released mode is
plain float32, as the released script was: Adam's carried second moments keep it well conditioned.
"""
import dataclasses
import math

import numpy as np

from cuda_kernels import backend, launch, online_adam, online_first_step, online_released
from pose_formats.skeleton import DIM_2D, DIM_3D, MASK_2D_JOINT, NUM_JOINTS, PARENTS, ROBUST_JOINTS

MODES = ("released", "independent", "paper")
RELEASED_PROJECTOR_SCALE = 1.0 / math.sqrt(1.0 + 1e-3)  # untrained batch-norm in the released TF graph

ROUNDING_FACTOR = 16                 # rounding error of a dot product ≤ this · ε · its scale (below)
ROUNDING_TOL = 1e-6                  # frames whose pose rounding may move more (relative) go to float64
DECISION_MARGIN = 1e-4               # paper: a distance this close (relative) to its threshold: float64


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


@dataclasses.dataclass
class PaperResult:
    refined: np.ndarray      # (N, 48) normalised
    iterations: np.ndarray   # (N,) forward passes each frame took
    kept_coarse: np.ndarray  # (N,) bool: moved more than fallback_mm, coarse pose reported


def bone_matrix():
    """B as a (32, 32) matrix: (z @ B)_j = z_parent(j) − z_j for each 2D coordinate j."""
    parent_index = np.repeat(PARENTS * 2, 2) + np.tile([0, 1], NUM_JOINTS)
    b = -np.eye(DIM_2D)
    b[parent_index, np.arange(DIM_2D)] += 1.0
    return b


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
        self.bones = put(bone_matrix())
        self.bones_T = put(bone_matrix().T)
        # largest |weight| per column: with the input's norm, the scale of a pre-activation's rounding
        self.W0_maxabs, self.W1_maxabs, self.W2_maxabs, self.W3_maxabs = (
            put(np.abs(np.asarray(w)).max(axis=0)) for w in (weights.W0, weights.W1, weights.W2, weights.W3))
        self.weights = weights
        self.refine_width = weights.refine_width
        self.projector_width = weights.projector_width
        self._float64 = self if self.dtype == np.float64 else None

    @property
    def checks_rounding(self):
        """Whether results are checked for rounding risk (float64 is the reference precision)."""
        return self.dtype != np.float64

    def float64(self):
        """The same weights in float64 (made once), for the frames that float32 cannot resolve."""
        if self._float64 is None:
            self._float64 = OnlineModel(self.weights, np.float64)
        return self._float64

    def asarray(self, a):
        return self.xp.asarray(np.asarray(a, dtype=self.dtype))


def _check_inputs(x, q, what="inputs"):
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


def _matvec_rows(v, m):
    """Row-wise v[n] · m[n]: (N, a) and (N, a, b) -> (N, b)."""
    return (v[:, None, :] @ m)[:, 0, :]


# --- the loss gradient through the frozen projector -------------------------------------------

def _near_zero(model, pre, inputs, maxabs, bias, scale=1.0):
    """Per row: some pre-activation scale·(inputs·W + bias) lies within rounding of zero.

    The rounding of a dot product grows like the root of the sum of its squared terms (measured
    below 6·ε·‖inputs‖·max|W column|); ROUNDING_FACTOR·ε times that bounds it.
    """
    xp = model.xp
    bound = (ROUNDING_FACTOR * np.finfo(model.dtype).eps * scale) * (
        xp.sqrt((inputs * inputs).sum(axis=1))[:, None] * maxabs + xp.abs(bias))
    return (xp.abs(pre) <= bound).any(axis=1)


def _loss_grad_r(model, r, q, scale, mask, check_rounding=False):
    """dL/dr for each row, r (N, 48), q (N, 32) -> (N, 48); with check_rounding also, per row,
    whether a projector ReLU's side is decided by rounding (else None)."""
    xp = model.xp
    a1 = scale * (r @ model.W1 + model.b1)
    h1 = xp.maximum(a1, 0)
    a2 = scale * (h1 @ model.W2 + model.b2)
    h2 = xp.maximum(a2, 0)
    a3 = scale * (h2 @ model.W3 + model.b3)
    h3 = xp.maximum(a3, 0)
    p = (h1 + h3) @ model.W4 + model.b4
    kp = mask * p
    kq = mask * q
    u = kp @ model.bones
    bone_err = (xp.abs(u) - xp.abs(kq @ model.bones)) * xp.sign(u)  # d|u|/du = sign(u), 0 at 0 (as TF)
    grad_p = (2.0 / DIM_2D) * mask * ((kp - kq) + bone_err @ model.bones_T)
    grad_h = grad_p @ model.W4_T                  # dL/d(h1 + h3): h1 gets it directly and through h3
    grad_h2 = scale * ((grad_h * (a3 > 0)) @ model.W3_T)
    grad_h1 = grad_h + scale * ((grad_h2 * (a2 > 0)) @ model.W2_T)
    grad_r = scale * ((grad_h1 * (a1 > 0)) @ model.W1_T)
    if not check_rounding:
        return grad_r, None
    risky = (_near_zero(model, a1, r, model.W1_maxabs, model.b1, scale)
             | _near_zero(model, a2, h1, model.W2_maxabs, model.b2, scale)
             | _near_zero(model, a3, h2, model.W3_maxabs, model.b3, scale))
    return grad_r, risky


# --- independent mode, released iteration count: r(x) after one Adam step, no weight copies -----

def _gain_risk(model, config, h1_sum, abs_grad_r, k00, r1):
    """Per row: float32 rounding of dL/dr may move r(x; θ1) by more than ROUNDING_TOL relative.

    r_j moves with its gradient entry d_j by lr·Σ_i h1_i c_i/(d_j + c_i)² ≤ lr·(Σh1 − d_j·K_j)/d_j
    (K_j = Σ_i h1_i/(d_j + c_i), the W00-side sum); the rounding error of d_j is at most
    ROUNDING_FACTOR·ε·max_j d_j.
    """
    xp = model.xp
    d = abs_grad_r.astype(np.float64)
    gain = config.lr * xp.maximum(h1_sum.astype(np.float64)[:, None] - d * k00, 0) / xp.maximum(d, 1e-300)
    error = gain.max(axis=1) * (ROUNDING_FACTOR * np.finfo(model.dtype).eps) * d.max(axis=1)
    return error > ROUNDING_TOL * xp.abs(r1).max(axis=1)


def _refine_after_first_step(model, x, q, config, scale, mask):
    """r(x; θ1) with θ1 = θ0 − (first Adam step), for a chunk of independent frames, and per frame
    whether rounding may have moved it (None for float64).

    The step's products with this frame's vectors come from cuda_kernels.online_first_step (sums
    over the frame's active units, no weight copies): the updated hidden layer h1 and k00, so that
    r(x; θ1) = h1·W00 + b00 − lr·δr·k00 − lr·δr/(|δr| + ε').
    """
    xp = model.xp
    lr = config.lr
    eps1 = config.eps / math.sqrt(1.0 - config.beta2)
    z0 = x @ model.W0 + model.b0
    grad_r, risky = _loss_grad_r(model, xp.maximum(z0, 0) @ model.W00 + model.b00, q, scale, mask,
                                 model.checks_rounding)
    grad_z0 = (grad_r @ model.W00_T) * (z0 > 0)
    h1, k00 = online_first_step.first_step(x, z0, grad_z0, grad_r, lr, eps1)
    abs_grad_r = xp.abs(grad_r)
    r1 = h1 @ model.W00 + model.b00 - lr * grad_r * k00 - lr * grad_r / (abs_grad_r + eps1)
    if risky is not None:
        risky |= _near_zero(model, z0, x, model.W0_maxabs, model.b0)
        risky |= _gain_risk(model, config, h1.sum(axis=1), abs_grad_r, k00, r1)
    return r1, risky


# --- the per-row engine: per-row Adam state and accumulated steps -------------------------------

class _RowState:
    """Adam moments and accumulated steps (θ0 − θ) of θ = (W0, b0, W00, b00), one set per row.

    fixed_inputs: each row keeps its input x for every update (independent frames: paper mode and
    other iteration counts). W0's gradients x ⊗ δ_t then share their left factor, so its moments do
    too, m = x ⊗ M and v = x² ⊗ V with per-unit vectors M, V, and a step's product with x is a sum
    over the 48 inputs: (x·ΔW0)_u = lr_t·M_u·Σ_i x_i² / (|x_i|·√V_u + ε). W0 is then kept as M, V
    and the accumulated product x·(θ0 − θ)_W0 (rows × units), not as three 48 × units matrices
    per row. In released mode x changes from frame to frame and W0 is kept whole.
    """
    NAMES = ("W0", "b0", "W00", "b00")

    def __init__(self, model, rows, fixed_inputs=False):
        self.xp = xp = model.xp
        self.fixed_inputs = fixed_inputs
        shapes = {"W0": (rows, model.refine_width) if fixed_inputs else (rows, DIM_3D, model.refine_width),
                  "b0": (rows, model.refine_width), "W00": (rows, model.refine_width, DIM_3D), "b00": (rows, DIM_3D)}
        self.m = {k: xp.zeros(s, dtype=model.dtype) for k, s in shapes.items()}
        self.v = {k: xp.zeros(s, dtype=model.dtype) for k, s in shapes.items()}
        self.offset = {k: xp.zeros(s, dtype=model.dtype) for k, s in shapes.items()}
        self._scratch = {k: xp.empty(s, dtype=model.dtype) for k, s in shapes.items()}  # reused: no page faults

    @staticmethod
    def bytes_per_row(model, fixed_inputs=False):
        # m, v, offset, scratch of the weight matrices kept whole, and slack for the batched products
        return 5 * (1 if fixed_inputs else 2) * DIM_3D * model.refine_width * model.dtype.itemsize

    def take(self, keep):
        for d in (self.m, self.v, self.offset):
            for k in d:
                d[k] = d[k][keep]
        rows = len(self.m["b0"])
        self._scratch = {k: a[:rows] for k, a in self._scratch.items()}

    def z0_offset(self, x):
        """x·ΔW0 + Δb0 per row, Δ = θ0 − θ."""
        product = self.offset["W0"] if self.fixed_inputs else _matvec_rows(x, self.offset["W0"])
        return product + self.offset["b0"]

    def r_offset(self, h0):
        """h0·ΔW00 + Δb00 per row."""
        return _matvec_rows(h0, self.offset["W00"]) + self.offset["b00"]

    def grad_h0_offset(self, grad_r):
        """ΔW00·grad_r per row (the offset's share of dL/dh0)."""
        return (self.offset["W00"] @ grad_r[:, :, None])[:, :, 0]

    def adam_update(self, grads, lr_t, config, offset="add"):
        """One TF-1 Adam step on every row (cuda_kernels.online_adam).

        grads: name -> the gradient (biases) or, for the weights, a pair (left, right) of row vectors
        whose outer product is the gradient (never formed apart from one scratch buffer on the CPU).
        offset: "add" accumulates the step into the offsets, "set" replaces them by it (the rows
        were at θ0), None updates the moments only (the step would not be used).
        """
        adam = (lr_t, config.beta1, config.beta2, config.eps, offset)
        for k in self.NAMES:
            state = (self.m[k], self.v[k], self.offset[k])
            if k == "W0" and self.fixed_inputs:
                online_adam.input_product_step(*state, *grads[k], *adam, scratch=self._scratch[k])
            elif isinstance(grads[k], tuple):
                online_adam.outer_step(*state, *grads[k], *adam, scratch=self._scratch[k])
            else:
                online_adam.vector_step(*state, grads[k], *adam, scratch=self._scratch[k])


def _forward_rows(model, exact, x, x_exact, state):
    """r(x) with θ = θ0 − (the state's offsets) per row (state None: θ0). Returns (z0, h0, r) in
    exact's dtype.

    `exact` computes the θ0 products (model itself, or its float64 twin); the offset products stay
    in model's dtype: offsets are ~1e-3 of the weights, so their rounding is as small.
    """
    z0 = x_exact @ exact.W0 + exact.b0
    if state is not None:
        z0 -= state.z0_offset(x)
    h0 = exact.xp.maximum(z0, 0)
    r = h0 @ exact.W00 + exact.b00
    if state is not None:
        r -= state.r_offset(h0.astype(model.dtype, copy=False))
    return z0, h0, r


def _grads_rows(model, exact, x, q_exact, z0, h0, r, state, scale, mask):
    """Per-row gradients of L with respect to θ in model's dtype, the weight ones as outer-product
    factors; the projector pass and θ0 products in exact's dtype."""
    grad_r, _ = _loss_grad_r(exact, r, q_exact, scale, mask)
    grad_h0 = grad_r @ exact.W00_T
    if state is not None:
        grad_h0 -= state.grad_h0_offset(grad_r.astype(model.dtype, copy=False))
    grad_z0 = (grad_h0 * (z0 > 0)).astype(model.dtype, copy=False)
    grad_r = grad_r.astype(model.dtype, copy=False)
    return {"W0": (x, grad_z0), "b0": grad_z0, "W00": (h0.astype(model.dtype, copy=False), grad_r), "b00": grad_r}


# --- public entry points ---------------------------------------------------------------------

def _chunks(n, size):
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def _frames_per_chunk(bytes_per_frame, memory_budget, chunk_frames):
    """Frames per chunk: chunk_frames if given, else as many as memory_budget bytes hold (None: the
    backend's default budget)."""
    if chunk_frames is not None:
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        return int(chunk_frames)
    budget = backend.chunk_memory_budget() if memory_budget is None else memory_budget
    return max(1, int(budget // bytes_per_frame))


def refine_independent(model, x, q, config=OnlineConfig(), chunk_frames=None,
                       memory_budget=None, progress=None):
    """Independent mode: every frame from θ0 with a fresh Adam, c = 1 unless configured.

    x (N, 48), q (N, 32), normalised. Returns (N, 48) refined poses (host array, model dtype).
    """
    x, q = _check_inputs(x, q)
    if config.iterations != 2:
        return _refine_rows(model, x, q, config, "independent", config.iterations,
                            chunk_frames=chunk_frames, memory_budget=memory_budget, progress=progress).refined
    scale = config.scale_for("independent")
    mask = model.asarray(loss_mask(config.mask_joint))
    # ~16 activations per unit and frame; the pair sums of one block of frames come on top
    per_frame = 16 * model.dtype.itemsize * max(model.refine_width, model.projector_width)
    size = _frames_per_chunk(per_frame, memory_budget, chunk_frames)
    out = np.empty((len(x), DIM_3D), dtype=model.dtype)
    for part in _chunks(len(x), size):
        refined, risky = _refine_after_first_step(model, model.asarray(x[part]), model.asarray(q[part]),
                                                  config, scale, mask)
        out[part] = backend.to_host(refined)
        if risky is not None:
            redo = part.start + np.flatnonzero(backend.to_host(risky))
            if len(redo):
                out[redo] = refine_independent(model.float64(), x[redo], q[redo], config)
        if progress is not None:
            progress(part.stop - part.start)
    return out


def refine_paper(model, x, q, range_mm, config=OnlineConfig(), chunk_frames=None,
                 memory_budget=None, progress=None):
    """Paper mode: iterate each frame until its robust joints move less than `converge_mm` between
    passes (at most `max_iterations` passes); report the coarse pose x where the result's robust
    joints lie more than `fallback_mm` from it. `range_mm` (48,) is the max-min table's max − min,
    which turns normalised differences into millimetres. Returns a PaperResult."""
    x, q = _check_inputs(x, q)
    range_mm = np.asarray(range_mm, dtype=np.float64)
    if range_mm.shape != (DIM_3D,):
        raise ValueError(f"range_mm must have {DIM_3D} values, got shape {range_mm.shape}")
    return _refine_rows(model, x, q, config, "paper", config.max_iterations, converge_mm=config.converge_mm,
                        fallback_mm=config.fallback_mm, range_mm=range_mm, chunk_frames=chunk_frames,
                        memory_budget=memory_budget, progress=progress)


def _robust_mean_mm(xp, delta, range_mm, joints):
    """Mean over `joints` of the Euclidean length (mm) of a normalised pose difference (N, 48)."""
    d = (delta * range_mm).reshape(len(delta), NUM_JOINTS, 3)[:, list(joints), :]
    return xp.sqrt((d * d).sum(axis=2)).mean(axis=1)


def _refine_rows(model, x, q, config, mode, passes, converge_mm=None, fallback_mm=None, range_mm=None,
                 chunk_frames=None, memory_budget=None, progress=None):
    """Independent frames through the per-row engine: up to `passes` forward passes each, stopping
    a frame early when its robust joints move less than `converge_mm` (None: never), and reporting
    the coarse pose where the result moved more than `fallback_mm` (None: never) from it.

    The projector pass and the θ0 products run in float64 (see Conditioning in the module doc);
    Adam's state and the offsets stay in model's dtype. Frames whose stop or fallback decision lies
    within rounding of its threshold are decided again by the float64 model.
    """
    xp = model.xp
    exact = model.float64()
    scale = config.scale_for(mode)
    mask = exact.asarray(loss_mask(config.mask_joint))
    range_dev = exact.asarray(range_mm) if range_mm is not None else None
    margin = DECISION_MARGIN if model.checks_rounding else 0.0
    size = _frames_per_chunk(_RowState.bytes_per_row(model, fixed_inputs=True)
                             + 16 * exact.dtype.itemsize * exact.projector_width,
                             memory_budget, chunk_frames)
    refined = np.empty((len(x), DIM_3D), dtype=model.dtype)
    iterations = np.zeros(len(x), dtype=np.int64)
    kept_coarse = np.zeros(len(x), dtype=bool)
    for part in _chunks(len(x), size):
        xs, x_exact, q_exact = model.asarray(x[part]), exact.asarray(x[part]), exact.asarray(q[part])
        rows = xp.arange(part.stop - part.start)
        state = _RowState(model, len(rows), fixed_inputs=True)
        out = exact.xp.empty_like(x_exact)
        used = xp.zeros(len(rows), dtype=xp.int64)
        undecided = xp.zeros(len(rows), dtype=bool)  # a decision within rounding of its threshold
        previous = None
        for k in range(1, passes + 1):
            shifted = state if k > 1 else None
            z0, h0, r = _forward_rows(model, exact, xs, x_exact, shifted)
            done = xp.zeros(len(rows), dtype=bool) if k < passes else xp.ones(len(rows), dtype=bool)
            if converge_mm is not None and previous is not None:
                moved = _robust_mean_mm(xp, r - previous, range_dev, config.robust_joints)
                done |= moved < converge_mm
                if margin:
                    undecided[rows] |= xp.abs(moved - converge_mm) <= margin * converge_mm
            out[rows[done]] = r[done]
            used[rows[done]] = k
            if bool(done.all()):
                break
            keep = ~done
            if not bool(keep.all()):
                rows, xs, x_exact, q_exact = rows[keep], xs[keep], x_exact[keep], q_exact[keep]
                z0, h0, r = z0[keep], h0[keep], r[keep]
                state.take(keep)
            grads = _grads_rows(model, exact, xs, q_exact, z0, h0, r, shifted, scale, mask)
            state.adam_update(grads, config.adam_lr(k), config, offset="set" if k == 1 else "add")
            previous = r
        if fallback_mm is not None:
            coarse = exact.asarray(x[part])
            distance = _robust_mean_mm(xp, out - coarse, range_dev, config.robust_joints)
            far = distance > fallback_mm
            if margin:
                undecided |= xp.abs(distance - fallback_mm) <= margin * fallback_mm
            out[far] = coarse[far]
            kept_coarse[part] = backend.to_host(far)
        refined[part] = backend.to_host(out)
        iterations[part] = backend.to_host(used)
        redo = part.start + np.flatnonzero(backend.to_host(undecided))
        if len(redo):
            again = _refine_rows(exact, x[redo], q[redo], config, mode, passes, converge_mm, fallback_mm, range_mm)
            refined[redo], iterations[redo], kept_coarse[redo] = again.refined, again.iterations, again.kept_coarse
        if progress is not None:
            progress(part.stop - part.start)
    return PaperResult(refined=refined, iterations=iterations, kept_coarse=kept_coarse)


RELEASED_ENGINES = ("rows", "kernel")


def refine_released(model, sequences_x, sequences_q, config=OnlineConfig(), progress=None, engine=None):
    """Released mode over several independent sequences (the actions), each a sequential scan.

    sequences_x: list of (N_a, 48) coarse poses, sequences_q: list of (N_a, 32) 2D poses, each in list
    order. Per sequence Adam's m, v and step count start at zero once and carry over from frame to
    frame while θ is reset to θ0 for each frame. The sequences advance side by side as rows of one
    batch (longest first, so the batch shrinks from its end as shorter ones finish).
    engine: "rows" runs the array engine (any backend), "kernel" the persistent CUDA kernel of
    cuda_kernels.online_released (CuPy only); None picks the kernel for a model on CuPy.
    Returns a list of (N_a, 48) refined poses (host arrays, model dtype).
    """
    if len(sequences_x) != len(sequences_q):
        raise ValueError(f"{len(sequences_x)} coarse 3D sequences but {len(sequences_q)} 2D sequences")
    if engine is not None and engine not in RELEASED_ENGINES:
        raise ValueError(f"unknown released-mode engine {engine!r}: expected one of {', '.join(RELEASED_ENGINES)}")
    checked = [_check_inputs(x, q, f"sequence {i + 1}") for i, (x, q) in enumerate(zip(sequences_x, sequences_q))]
    lengths = np.array([len(x) for x, _ in checked], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    longest = int(lengths.max()) if len(lengths) else 0
    # Frame s of every sequence (longest first) at [s, row]; rows past a sequence's end stay zero.
    xs = np.zeros((longest, len(order), DIM_3D), dtype=model.dtype)
    qs = np.zeros((longest, len(order), DIM_2D), dtype=model.dtype)
    for row, seq in enumerate(order):
        xs[:lengths[seq], row] = checked[seq][0]
        qs[:lengths[seq], row] = checked[seq][1]
    xs, qs = model.asarray(xs), model.asarray(qs)
    if engine == "kernel" and not launch.is_device_array(xs):
        raise ValueError("the released-mode kernel needs the model on CuPy (a CUDA device)")
    scan = {"rows": _released_rows, "kernel": _released_kernel}[engine] if engine else \
        launch.pick(_released_rows, _released_kernel, xs)
    out = backend.to_host(scan(model, xs, qs, lengths[order], config, model.asarray(loss_mask(config.mask_joint)),
                               progress))
    refined = [None] * len(order)
    for row, seq in enumerate(order):
        refined[seq] = out[:lengths[seq], row].copy()
    return refined


def _released_rows(model, xs, qs, lengths, config, mask, progress):
    """The released scan on the array engine: one batch of live rows per step."""
    scale = config.scale_for("released")
    out = model.xp.zeros(xs.shape, dtype=model.dtype)
    n_rows = len(lengths)
    state = _RowState(model, n_rows)
    for s in range(len(xs)):
        n_live = int((lengths > s).sum())
        if n_live < n_rows:
            state.take(slice(0, n_live))
            n_rows = n_live
        x, q = xs[s, :n_rows], qs[s, :n_rows]
        for k in range(1, config.iterations + 1):
            shifted = state if k > 1 else None  # θ is reset to θ0 for every frame
            z0, h0, r = _forward_rows(model, model, x, x, shifted)
            grads = _grads_rows(model, model, x, q, z0, h0, r, shifted, scale, mask)
            last = k == config.iterations
            if last:
                out[s, :n_rows] = r
            # the last pass's step is dropped with θ; its m, v carry over to the next frame
            state.adam_update(grads, config.adam_lr(s * config.iterations + k), config,
                              offset=None if last else "set" if k == 1 else "add")
        if progress is not None:
            progress(n_rows)
    return out


def _released_kernel(model, xs, qs, lengths, config, mask, progress):
    """The released scan as one persistent kernel (cuda_kernels.online_released): one launch."""
    out = online_released.released_scan(
        {k: getattr(model, k) for k in online_released.WEIGHT_NAMES}, xs, qs, lengths, mask,
        iterations=config.iterations, scale=config.scale_for("released"), lr=config.lr, beta1=config.beta1,
        beta2=config.beta2, eps=config.eps)
    if progress is not None:
        progress(int(lengths.sum()))
    return out


def refine(model, mode, x, q, config=OnlineConfig(), range_mm=None, **kwargs):
    """One sequence in any mode: (N, 48) refined poses. Released mode treats x, q as one action."""
    if mode == "released":
        return refine_released(model, [x], [q], config, progress=kwargs.get("progress"))[0]
    if mode == "independent":
        return refine_independent(model, x, q, config, **kwargs)
    if mode == "paper":
        if range_mm is None:
            raise ValueError("paper mode needs range_mm (max − min of the normalisation table)")
        return refine_paper(model, x, q, range_mm, config, **kwargs).refined
    raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
