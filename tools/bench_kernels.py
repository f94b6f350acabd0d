#!/usr/bin/env python3
"""Time each cuda_kernels function: its NumPy path, and where a GPU is usable its CuPy path both with
the data already on the device and with the copies a pycaffe layer pays (host -> device, kernel,
device -> host; the masks have no input, so only the copy back). Prints one table with the ratios
NumPy time / CuPy time (above 1: the GPU is faster).

Batches: the demo clip (5 frames), the addsrr stage's batch (5 H36M + 3 MPII = 8), the paper's
5 clips of 5 (25), and a large batch (4096, as the online stage runs frames in one batch).
HPM_BACKEND=numpy times the NumPy path only.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cuda_kernels import backend, bones, joint_mask, mpjpe  # noqa: E402
from cuda_kernels.inverted_order import inverted_order  # noqa: E402
from pose_formats.normalization import MaxMin  # noqa: E402

BATCHES = (("demo clip", 5), ("addsrr", 8), ("paper 5x5", 25), ("large", 4096))
LSTM_WIDTH = 1024   # InvertedOrder reverses the (T, 1024) LSTM outputs


def cases(n_frames, rng):
    """[(name, host inputs, fn(*inputs, xp))] for a batch of n_frames."""
    def poses():
        return rng.uniform(size=(n_frames, 48)).astype(np.float32)
    scale = MaxMin().range
    keep_2d_3d = joint_mask.RELEASED_MASK_2D3D_KEEP_PROB
    return [
        ("bone_vectors", (poses(),), lambda p, xp: bones.bone_vectors(p, 3)),
        ("bone_vectors_backward", (poses(),), lambda g, xp: bones.bone_vectors_backward(g, 3)),
        ("skel_vector_loss", (poses(), poses()), lambda a, b, xp: bones.skel_vector_loss(a, b, 3)),
        ("joint_errors (mm)", (poses(), poses()), lambda a, b, xp: mpjpe.joint_errors(a, b, scale=scale)),
        ("mpjpe (mm)", (poses(), poses()), lambda a, b, xp: mpjpe.mpjpe(a, b, scale=scale)),
        ("inverted_order", (rng.normal(size=(n_frames, LSTM_WIDTH)).astype(np.float32),),
         lambda a, xp: inverted_order(a)),
        ("joint_mask", (), lambda xp: joint_mask.joint_mask((n_frames, 48), 3, 0.98, 1, 0, xp=xp)),
        ("mask_2d_3d", (), lambda xp: joint_mask.mask_2d_3d(n_frames, keep_2d_3d, 1, 0, xp=xp)),
    ]


def seconds_per_call(call, min_time, synchronize):
    """Mean wall time of call() over enough repetitions to last min_time, after one warm-up call."""
    call()
    synchronize()
    repetitions = 1
    while True:
        start = time.perf_counter()
        for _ in range(repetitions):
            call()
        synchronize()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / repetitions
        repetitions *= 2


def fetch(result):
    """Copy a result (array, float, or tuple of them) back to the host."""
    if isinstance(result, tuple):
        return tuple(fetch(r) for r in result)
    return result if isinstance(result, float) else backend.to_host(result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-time", type=float, default=0.04,
                        help="seconds each measurement runs for at least (default 0.04)")
    parser.add_argument("--batch", type=int, action="append",
                        help="time this many frames instead of the default batches (repeatable)")
    args = parser.parse_args(argv)
    batches = [(f"{n} frames", n) for n in args.batch] if args.batch else BATCHES

    xp = backend.xp()
    on_gpu = xp.__name__ == "cupy"
    if on_gpu:
        device = xp.cuda.Device()
        print(f"GPU: {xp.cuda.runtime.getDeviceProperties(device.id)['name'].decode()}")
    else:
        print("no GPU in use (backend: NumPy): CuPy columns are empty")

    def host_sync():
        pass
    device_sync = device.synchronize if on_gpu else host_sync

    header = (f"{'function':<22} {'batch':<16} {'numpy us':>10} {'cupy us':>10} {'ratio':>7} "
              f"{'cupy+copies us':>15} {'ratio':>7}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for batch_name, n_frames in batches:
        for name, inputs, fn in cases(n_frames, rng):
            numpy_s = seconds_per_call(lambda: fn(*inputs, np), args.min_time, host_sync)
            row = f"{name:<22} {f'{batch_name} ({n_frames})':<16} {numpy_s * 1e6:>10.1f}"
            if on_gpu:
                device_inputs = [xp.asarray(a) for a in inputs]
                resident_s = seconds_per_call(lambda: fn(*device_inputs, xp), args.min_time, device_sync)
                copies_s = seconds_per_call(lambda: fetch(fn(*[xp.asarray(a) for a in inputs], xp)),
                                            args.min_time, device_sync)
                row += (f" {resident_s * 1e6:>10.1f} {numpy_s / resident_s:>7.2f}"
                        f" {copies_s * 1e6:>15.1f} {numpy_s / copies_s:>7.2f}")
            else:
                row += f" {'-':>10} {'-':>7} {'-':>15} {'-':>7}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
