"""Released mode (SPEC section 9): per action a sequential scan; θ is reset every frame while Adam's m, v
and step count carry over from frame to frame. The actions are independent and run side by side as
rows of one batch: on CuPy in one persistent kernel (cuda_kernels.online_released), else in the
per-row engine."""
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
    checked = [check_inputs(x, q, f"sequence {i + 1}") for i, (x, q) in enumerate(zip(sequences_x, sequences_q))]
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
    state = RowState(model, n_rows)
    for s in range(len(xs)):
        n_live = int((lengths > s).sum())
        if n_live < n_rows:
            state.take(slice(0, n_live))
            n_rows = n_live
        x, q = xs[s, :n_rows], qs[s, :n_rows]
        for k in range(1, config.iterations + 1):
            shifted = state if k > 1 else None  # θ is reset to θ0 for every frame
            z0, h0, r = forward_rows(model, x, shifted)
            grads = grads_rows(model, x, q, z0, h0, r, shifted, scale, mask)
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
