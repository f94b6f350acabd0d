"""Released mode (SPEC section 9): per action a sequential scan; θ is reset every frame while Adam's m, v
and step count carry over from frame to frame. The actions are independent. On CuPy they run side by
side as rows of one persistent kernel (cuda_kernels.online_released), whose arithmetic for a row does
not depend on the other rows; the per-row engine scans them one after another, since a matrix product
over several rows may sum in another order than over one (BLAS picks its kernel by shape). Either way
an action's poses are the same bytes whatever other actions run in the call, so a run resumed after a
kill equals an uninterrupted one."""
import numpy as np

from cuda_kernels import backend, launch, online_released
from pose_formats.skeleton import DIM_2D, DIM_3D

from .model import OnlineConfig, check_inputs, loss_mask
from .rows import RowState, forward_rows, grads_rows

RELEASED_ENGINES = ("rows", "kernel")


def refine_released(model, sequences_x, sequences_q, config=OnlineConfig(), progress=None, engine=None):
    """Released mode over several independent sequences (the actions), each a sequential scan.

    sequences_x: list of (N_a, 48) coarse poses, sequences_q: list of (N_a, 32) 2D poses, each in list
    order. Per sequence Adam's m, v and step count start at zero once and carry over from frame to
    frame while θ is reset to θ0 for each frame. A sequence's result does not depend on the others.
    engine: "rows" runs the array engine (any backend), "kernel" the persistent CUDA kernel of
    cuda_kernels.online_released (CuPy only); None picks the kernel for a model on CuPy. The rows
    engine scans the sequences one after another; the kernel runs them side by side.
    Returns a list of (N_a, 48) refined poses (host arrays, model dtype).
    """
    if len(sequences_x) != len(sequences_q):
        raise ValueError(f"{len(sequences_x)} coarse 3D sequences but {len(sequences_q)} 2D sequences")
    if engine is not None and engine not in RELEASED_ENGINES:
        raise ValueError(f"unknown released-mode engine {engine!r}: expected one of {', '.join(RELEASED_ENGINES)}")
    checked = [check_inputs(x, q, f"sequence {i + 1}") for i, (x, q) in enumerate(zip(sequences_x, sequences_q))]
    mask = model.asarray(loss_mask(config.mask_joint))
    if engine == "kernel" and not launch.is_device_array(mask):
        raise ValueError("the released-mode kernel needs the model on CuPy (a CUDA device)")
    if engine == "rows" or not launch.is_device_array(mask):
        return [backend.to_host(_released_rows(model, model.asarray(x), model.asarray(q), config, mask, progress))
                for x, q in checked]
    lengths = np.array([len(x) for x, _ in checked], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    longest = int(lengths.max()) if len(lengths) else 0
    # Frame s of every sequence (longest first) at [s, row]; rows past a sequence's end stay zero.
    xs = np.zeros((longest, len(order), DIM_3D), dtype=model.dtype)
    qs = np.zeros((longest, len(order), DIM_2D), dtype=model.dtype)
    for row, seq in enumerate(order):
        xs[:lengths[seq], row] = checked[seq][0]
        qs[:lengths[seq], row] = checked[seq][1]
    out = backend.to_host(_released_kernel(model, model.asarray(xs), model.asarray(qs), lengths[order], config, mask,
                                           progress))
    refined = [None] * len(order)
    for row, seq in enumerate(order):
        refined[seq] = out[:lengths[seq], row].copy()
    return refined


def _released_rows(model, x, q, config, mask, progress):
    """The released scan of one sequence (x (N, 48), q (N, 32)) on the array engine."""
    scale = config.scale_for("released")
    out = model.xp.zeros(x.shape, dtype=model.dtype)
    state = RowState(model, 1)
    for s in range(len(x)):
        frame_x, frame_q = x[s:s + 1], q[s:s + 1]
        for k in range(1, config.iterations + 1):
            shifted = state if k > 1 else None  # θ is reset to θ0 for every frame
            z0, h0, r = forward_rows(model, frame_x, shifted)
            grads = grads_rows(model, frame_x, frame_q, z0, h0, r, shifted, scale, mask)
            last = k == config.iterations
            if last:
                out[s] = r[0]
            # the last pass's step is dropped with θ; its m, v carry over to the next frame
            state.adam_update(grads, config.adam_lr(s * config.iterations + k), config,
                              offset=None if last else "set" if k == 1 else "add")
        if progress is not None:
            progress(1)
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
