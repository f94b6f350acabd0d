"""Independent mode (SPEC section 9): every frame starts from θ0 and a fresh Adam. With the released
2 iterations the reported pose needs only the first Adam step, which is computed without per-frame
weight copies (`refine_after_first_step`, its sums in cuda_kernels.online_first_step); other iteration
counts run the per-row engine (online.paper.refine_frames with no stop or fallback rule)."""
import math

import numpy as np

from cuda_kernels import backend, online_first_step
from pose_formats.skeleton import DIM_3D

from .model import OnlineConfig, check_inputs, chunks, frames_per_chunk, loss_grad_r, loss_mask
from .paper import refine_frames

def refine_after_first_step(model, x, q, config, scale, mask):
    """r(x; θ1) with θ1 = θ0 − (first Adam step), for a chunk of independent frames.

    The step's products with this frame's vectors come from cuda_kernels.online_first_step (sums
    over the frame's active units, no weight copies): the updated hidden layer h1 and k00, so that
    r(x; θ1) = h1·W00 + b00 − lr·δr·k00 − lr·δr/(|δr| + ε').
    """
    xp = model.xp
    lr = config.lr
    eps1 = config.eps / math.sqrt(1.0 - config.beta2)
    z0 = x @ model.W0 + model.b0
    grad_r = loss_grad_r(model, xp.maximum(z0, 0) @ model.W00 + model.b00, q, scale, mask)
    grad_z0 = (grad_r @ model.W00_T) * (z0 > 0)
    h1, k00 = online_first_step.first_step(x, z0, grad_z0, grad_r, lr, eps1)
    return h1 @ model.W00 + model.b00 - lr * grad_r * k00 - lr * grad_r / (xp.abs(grad_r) + eps1)


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
        out[part] = backend.to_host(refine_after_first_step(model, model.asarray(x[part]), model.asarray(q[part]),
                                                            config, scale, mask))
        if progress is not None:
            progress(part.stop - part.start)
    return out

