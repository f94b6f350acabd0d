"""Released-mode online correction as one persistent kernel (online_released.cu).

The released mode is a sequential scan per action: θ is reset for every frame while Adam's moments
and step count carry over, so frame i depends on frame i − 1 (SPEC section 9). The array engine of
online.released runs it as tens of small launches per frame, which on a GPU is launch-bound. This
kernel runs the whole scan of up to MAX_ROWS sequences (the 15 actions) in one launch: every phase of
a pass (layers forward, loss gradient, layers backward, Adam) spread over all blocks, a grid-wide
barrier between phases, frozen weights read once per step for all rows.

The grid barrier needs every block resident at once, which only a cooperative launch guarantees
(launch.KernelFile.run_resident): the grid is as many blocks as the device holds at once (one or two
per multiprocessor at 256 threads), at most one per column tile of the widest phase.

NumPy reference: the array engine's released scan (online.released.refine_released on NumPy
arrays, the same algorithm, which defines the result); tests/online_reference.py holds the per-frame
float64 definition both are checked against.
"""
import numpy as np

from pose_formats import skeleton
from pose_formats.skeleton import DIM_2D, DIM_3D

from . import launch

_KERNELS = launch.KernelFile("online_released.cu", ("released_scan_f32", "released_scan_f64"))

# sequences per launch (the kernel keeps one accumulator per row in registers), columns per block tile
MAX_ROWS, WIDE_TILE, NARROW_TILE = (launch.source_constant("online_released.cu", name)
                                    for name in ("MAX_ROWS", "WIDE_TILE", "NARROW_TILE"))
BLOCK_SIZE = 256       # threads per block, a multiple of the kernel's tile widths
WEIGHT_NAMES = ("W0", "b0", "W00", "b00", "W00_T", "W1", "b1", "W1_T", "W2", "b2", "W2_T",
                "W3", "b3", "W3_T", "W4", "b4", "W4_T")


def parent_entries():
    """(32,) int32: for each 2D entry (2·joint + coordinate), the entry of its joint's parent."""
    return skeleton.parent_entries(2).astype(np.int32)


def _state_size(rows, refine_width):
    return rows * (6 * DIM_3D * refine_width + 3 * refine_width + 3 * DIM_3D)


def _scratch_size(rows, refine_width, projector_width):
    return rows * (2 * refine_width + 10 * projector_width + 2 * DIM_3D + DIM_2D)


def launch_layout(dtype):
    """(kernel name, threads per block, bytes of dynamic shared memory per block) for float32 or float64:
    BLOCK_SIZE threads, fewer where the kernel's registers allow fewer."""
    name = "released_scan_f64" if dtype == np.float64 else "released_scan_f32"
    block = min(BLOCK_SIZE, int(_KERNELS.function(name).max_threads_per_block) // 32 * 32)
    return name, block, (block * MAX_ROWS + MAX_ROWS * DIM_2D) * np.dtype(dtype).itemsize


def released_scan(weights, xs, qs, lengths, loss_mask, *, iterations, scale, lr, beta1, beta2, eps):
    """Refined poses (steps, rows, 48) of the released scan, in the dtype of xs (float32 or float64).

    weights: name -> device array for WEIGHT_NAMES (the *_T ones transposed); xs (steps, rows, 48)
    and qs (steps, rows, 32) device arrays, frame s of each sequence at [s, row], rows sorted longest
    first; lengths: the rows' frame counts (host ints, non-increasing); loss_mask (32,) device array.
    Entries past a row's length are left unwritten.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if xs.ndim != 3 or xs.shape[2] != DIM_3D or qs.shape != xs.shape[:2] + (DIM_2D,) or len(lengths) != xs.shape[1]:
        raise ValueError(f"released_scan: expected xs (steps, rows, {DIM_3D}), qs (steps, rows, {DIM_2D}) and "
                         f"one length per row; got {tuple(xs.shape)}, {tuple(qs.shape)}, {len(lengths)} lengths")
    if np.any(np.diff(lengths) > 0) or (len(lengths) and lengths.max() > xs.shape[0]):
        raise ValueError("released_scan: lengths must be non-increasing and at most the number of steps")
    dtype = np.float64 if xs.dtype == np.float64 else np.float32
    name, block, shared_mem = launch_layout(dtype)
    w = [launch.device_array(weights[k], dtype) for k in WEIGHT_NAMES]
    refine_width, projector_width = w[0].shape[1], w[5].shape[1]
    # blocks past the column tiles of the widest phase would only wait at every barrier
    max_blocks = max(-(-max(refine_width, projector_width) // WIDE_TILE), -(-DIM_3D // NARROW_TILE))
    parents = launch.to_device(parent_entries(), np.int32)
    mask = launch.device_array(loss_mask, dtype)
    out = launch.device_empty(xs.shape, dtype)
    for first in range(0, len(lengths), MAX_ROWS):
        group = slice(first, min(len(lengths), first + MAX_ROWS))
        rows, steps = group.stop - group.start, int(lengths[group.start])
        if steps == 0:
            continue
        group_out = launch.device_empty((steps, rows, DIM_3D), dtype)
        _KERNELS.run_resident(name, block, shared_mem, max_blocks, (
            *w, mask, parents,
            launch.device_array(xs[:steps, group], dtype), launch.device_array(qs[:steps, group], dtype),
            launch.to_device(lengths[group], np.int32), group_out,
            launch.device_zeros(_state_size(rows, refine_width), dtype),
            launch.device_empty(_scratch_size(rows, refine_width, projector_width), dtype),
            launch.device_zeros(2, np.uint32),
            np.int32(rows), np.int32(steps), np.int32(refine_width), np.int32(projector_width),
            np.int32(iterations), dtype(scale), np.float64(lr), np.float64(beta1), np.float64(beta2), dtype(eps)))
        out[:steps, group] = group_out
    return out
