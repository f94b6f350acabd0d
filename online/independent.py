"""Independent mode (SPEC section 9): every frame starts from θ0 and a fresh Adam. With the released
2 iterations the reported pose needs only the first Adam step, which is computed without per-frame
weight copies (`refine_after_first_step`, its sums in cuda_kernels.online_first_step); other iteration
counts run the per-row engine (online.paper.refine_frames with no stop or fallback rule)."""
import math

import numpy as np

from cuda_kernels import backend, online_first_step
from pose_formats.skeleton import DIM_3D

from .model import (ROUNDING_FACTOR, OnlineConfig, check_inputs, chunks, frames_per_chunk, loss_grad_r, loss_mask,
                    near_zero)
from .paper import refine_frames

ROUNDING_TOL = 1e-6                  # frames whose pose rounding may move more (relative) go to float64


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


def refine_after_first_step(model, x, q, config, scale, mask):
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
    grad_r, risky = loss_grad_r(model, xp.maximum(z0, 0) @ model.W00 + model.b00, q, scale, mask,
                                 model.checks_rounding)
    grad_z0 = (grad_r @ model.W00_T) * (z0 > 0)
    h1, k00 = online_first_step.first_step(x, z0, grad_z0, grad_r, lr, eps1)
    abs_grad_r = xp.abs(grad_r)
    r1 = h1 @ model.W00 + model.b00 - lr * grad_r * k00 - lr * grad_r / (abs_grad_r + eps1)
    if risky is not None:
        risky |= near_zero(model, z0, x, model.W0_maxabs, model.b0)
        risky |= _gain_risk(model, config, h1.sum(axis=1), abs_grad_r, k00, r1)
    return r1, risky


def refine_independent(model, x, q, config=OnlineConfig(), chunk_frames=None,
                       memory_budget=None, progress=None):
    """Independent mode: every frame from θ0 with a fresh Adam, c = 1 unless configured.

    x (N, 48), q (N, 32), normalised. Returns (N, 48) refined poses (host array, model dtype).
    """
    x, q = check_inputs(x, q)
    if config.iterations != 2:
        return refine_frames(model, x, q, config, "independent", config.iterations,
                            chunk_frames=chunk_frames, memory_budget=memory_budget, progress=progress).refined
    scale = config.scale_for("independent")
    mask = model.asarray(loss_mask(config.mask_joint))
    # ~16 activations per unit and frame; the pair sums of one block of frames come on top
    per_frame = 16 * model.dtype.itemsize * max(model.refine_width, model.projector_width)
    size = frames_per_chunk(per_frame, memory_budget, chunk_frames)
    out = np.empty((len(x), DIM_3D), dtype=model.dtype)
    for part in chunks(len(x), size):
        refined, risky = refine_after_first_step(model, model.asarray(x[part]), model.asarray(q[part]),
                                                  config, scale, mask)
        out[part] = backend.to_host(refined)
        if risky is not None:
            redo = part.start + np.flatnonzero(backend.to_host(risky))
            if len(redo):
                out[redo] = refine_independent(model.float64(), x[redo], q[redo], config)
        if progress is not None:
            progress(part.stop - part.start)
    return out

