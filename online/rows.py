"""The per-row engine: Adam's state and the accumulated steps kept per row (a frame, or an action in
released mode), the forward pass with θ = θ0 − offsets, and the per-row gradients. Its Adam updates are
cuda_kernels.online_adam (kernels on CuPy, their NumPy references otherwise)."""
from cuda_kernels import online_adam
from pose_formats.skeleton import DIM_3D

from .model import loss_grad_r


def matvec_rows(v, m):
    """Row-wise v[n] · m[n]: (N, a) and (N, a, b) -> (N, b)."""
    return (v[:, None, :] @ m)[:, 0, :]


class RowState:
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
        product = self.offset["W0"] if self.fixed_inputs else matvec_rows(x, self.offset["W0"])
        return product + self.offset["b0"]

    def r_offset(self, h0):
        """h0·ΔW00 + Δb00 per row."""
        return matvec_rows(h0, self.offset["W00"]) + self.offset["b00"]

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


def forward_rows(model, x, state):
    """r(x) with θ = θ0 − (the state's offsets) per row (state None: θ0). Returns (z0, h0, r)."""
    z0 = x @ model.W0 + model.b0
    if state is not None:
        z0 -= state.z0_offset(x)
    h0 = model.xp.maximum(z0, 0)
    r = h0 @ model.W00 + model.b00
    if state is not None:
        r -= state.r_offset(h0)
    return z0, h0, r


def grads_rows(model, x, q, z0, h0, r, state, scale, mask):
    """Per-row gradients of L with respect to θ, the weight ones as outer-product factors."""
    grad_r = loss_grad_r(model, r, q, scale, mask)
    grad_h0 = grad_r @ model.W00_T
    if state is not None:
        grad_h0 -= state.grad_h0_offset(grad_r)
    grad_z0 = grad_h0 * (z0 > 0)
    return {"W0": (x, grad_z0), "b0": grad_z0, "W00": (h0, grad_r), "b00": grad_r}
