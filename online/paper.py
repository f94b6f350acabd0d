"""Paper mode (SPEC section 9): independent frames on the per-row engine, iterated until the robust
joints settle (or a cap), falling back to the coarse pose when the result strays too far from it.
`refine_frames` is the loop; with no stop or fallback rule it is also independent mode at iteration
counts other than the released 2."""
import dataclasses

import numpy as np

from cuda_kernels import backend
from pose_formats.skeleton import DIM_3D, NUM_JOINTS

from .model import OnlineConfig, check_inputs, chunks, frames_per_chunk, loss_mask
from .rows import RowState, forward_rows, grads_rows

DECISION_MARGIN = 1e-4               # paper: a distance this close (relative) to its threshold: float64


@dataclasses.dataclass
class PaperResult:
    refined: np.ndarray      # (N, 48) normalised
    iterations: np.ndarray   # (N,) forward passes each frame took
    kept_coarse: np.ndarray  # (N,) bool: moved more than fallback_mm, coarse pose reported
    converged: np.ndarray    # (N, 48) normalised, before the fallback rule: what any other threshold would keep


def refine_paper(model, x, q, range_mm, config=OnlineConfig(), chunk_frames=None,
                 memory_budget=None, progress=None):
    """Paper mode: iterate each frame until its robust joints move less than `converge_mm` between
    passes (at most `max_iterations` passes); report the coarse pose x where the result's robust
    joints lie more than `fallback_mm` from it. `range_mm` (48,) is the max-min table's max − min,
    which turns normalised differences into millimetres. Returns a PaperResult."""
    x, q = check_inputs(x, q)
    range_mm = np.asarray(range_mm, dtype=np.float64)
    if range_mm.shape != (DIM_3D,):
        raise ValueError(f"range_mm must have {DIM_3D} values, got shape {range_mm.shape}")
    return refine_frames(model, x, q, config, "paper", config.max_iterations, converge_mm=config.converge_mm,
                         fallback_mm=config.fallback_mm, range_mm=range_mm, chunk_frames=chunk_frames,
                         memory_budget=memory_budget, progress=progress)


def robust_distance_mm(xp, delta_mm, joints):
    """Mean over `joints` of the Euclidean length of a pose difference (N, 48) in mm: the distance
    paper mode's stop and fallback rules compare (a normalised difference times the max-min range)."""
    d = delta_mm.reshape(len(delta_mm), NUM_JOINTS, 3)[:, list(joints), :]
    return xp.sqrt((d * d).sum(axis=2)).mean(axis=1)


def refine_frames(model, x, q, config, mode, passes, converge_mm=None, fallback_mm=None, range_mm=None,
                  chunk_frames=None, memory_budget=None, progress=None):
    """Independent frames through the per-row engine: up to `passes` forward passes each, stopping
    a frame early when its robust joints move less than `converge_mm` (None: never), and reporting
    the coarse pose where the result moved more than `fallback_mm` (None: never) from it.

    Everything runs in model's dtype (see Precision in online.model); frames whose stop or fallback
    decision lies within DECISION_MARGIN of its threshold are decided again by the float64 model.
    """
    xp = model.xp
    scale = config.scale_for(mode)
    mask = model.asarray(loss_mask(config.mask_joint))
    range_dev = model.asarray(range_mm) if range_mm is not None else None
    margin = DECISION_MARGIN if model.dtype != np.float64 else 0.0
    size = frames_per_chunk(RowState.bytes_per_row(model, fixed_inputs=True)
                            + 16 * model.dtype.itemsize * model.projector_width,
                            memory_budget, chunk_frames)
    refined = np.empty((len(x), DIM_3D), dtype=model.dtype)
    iterations = np.zeros(len(x), dtype=np.int64)
    kept_coarse = np.zeros(len(x), dtype=bool)
    converged = np.empty_like(refined)
    for part in chunks(len(x), size):
        xs, qs = model.asarray(x[part]), model.asarray(q[part])
        rows = xp.arange(part.stop - part.start)
        state = RowState(model, len(rows), fixed_inputs=True)
        out = xp.empty_like(xs)
        used = xp.zeros(len(rows), dtype=xp.int64)
        undecided = xp.zeros(len(rows), dtype=bool)  # a decision within rounding of its threshold
        previous = None
        for k in range(1, passes + 1):
            shifted = state if k > 1 else None
            z0, h0, r = forward_rows(model, xs, shifted)
            done = xp.zeros(len(rows), dtype=bool) if k < passes else xp.ones(len(rows), dtype=bool)
            if converge_mm is not None and previous is not None:
                moved = robust_distance_mm(xp, (r - previous) * range_dev, config.robust_joints)
                done |= moved < converge_mm
                if margin:
                    undecided[rows] |= xp.abs(moved - converge_mm) <= margin * converge_mm
            out[rows[done]] = r[done]
            used[rows[done]] = k
            if bool(done.all()):
                break
            keep = ~done
            if not bool(keep.all()):
                rows, xs, qs = rows[keep], xs[keep], qs[keep]
                z0, h0, r = z0[keep], h0[keep], r[keep]
                state.take(keep)
            grads = grads_rows(model, xs, qs, z0, h0, r, shifted, scale, mask)
            state.adam_update(grads, config.adam_lr(k), config, offset="set" if k == 1 else "add")
            previous = r
        converged[part] = backend.to_host(out)
        if fallback_mm is not None:
            coarse = model.asarray(x[part])
            distance = robust_distance_mm(xp, (out - coarse) * range_dev, config.robust_joints)
            far = distance > fallback_mm
            if margin:
                undecided |= xp.abs(distance - fallback_mm) <= margin * fallback_mm
            out[far] = coarse[far]
            kept_coarse[part] = backend.to_host(far)
        refined[part] = backend.to_host(out)
        iterations[part] = backend.to_host(used)
        redo = part.start + np.flatnonzero(backend.to_host(undecided))
        if len(redo):
            again = refine_frames(model.float64(), x[redo], q[redo], config, mode, passes, converge_mm, fallback_mm,
                                  range_mm)
            refined[redo], iterations[redo], kept_coarse[redo] = again.refined, again.iterations, again.kept_coarse
            converged[redo] = again.converged
        if progress is not None:
            progress(part.stop - part.start)
    return PaperResult(refined=refined, iterations=iterations, kept_coarse=kept_coarse, converged=converged)
