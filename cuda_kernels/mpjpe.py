"""Per-joint position errors and MPJPE (kernels in mpjpe.cu).

Poses are (N, J*dim), dim = 3 (or 2). The error of joint j in frame n is the Euclidean distance
between its predicted and target positions; MPJPE of a frame is the mean of its J errors.

`scale` (J*dim,) un-normalises on the fly: with the max-min table of section 3, a normalised value
is v = n * (max - min) + min, so the difference of two un-normalised poses is (n_a - n_b) * (max - min)
and passing scale = MaxMin().range measures normalised poses in mm. None means poses already in mm.
"""
import numpy as np

from . import launch

_KERNELS = launch.KernelFile("mpjpe.cu", ("joint_errors", "mean_over_joints"))


def _check(pred, target, dim, scale):
    """(N, J, scale as a float tuple or None) for two equal (N, J*dim) arrays; raises on bad shapes."""
    if dim not in (2, 3):
        raise ValueError(f"joint_errors: dim must be 2 or 3, got {dim!r}")
    if pred.ndim != 2 or pred.shape[1] % dim or pred.shape != target.shape:
        raise ValueError(f"joint_errors: expected two equal (N, J*{dim}) arrays, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if scale is not None:
        scale = tuple(float(s) for s in np.asarray(scale).ravel())
        if len(scale) != pred.shape[1]:
            raise ValueError(f"joint_errors: scale has {len(scale)} values, poses have {pred.shape[1]}")
    return pred.shape[0], pred.shape[1] // dim, scale


# ---- NumPy references (they define the results) --------------------------------------------------

def joint_errors_reference(pred, target, dim=3, scale=None):
    pred, target = launch.host_float(pred), launch.host_float(target)
    n, n_joints, scale = _check(pred, target, dim, scale)
    diff = pred - target
    if scale is not None:
        diff = diff * np.asarray(scale, dtype=diff.dtype)
    return np.sqrt(np.sum(diff.reshape(n, n_joints, dim) ** 2, axis=2))


def mpjpe_reference(pred, target, dim=3, scale=None):
    return joint_errors_reference(pred, target, dim, scale).mean(axis=1)


# ---- CuPy launches --------------------------------------------------------------------------------

def _joint_errors_device(pred, target, dim, scale):
    n, n_joints, scale = _check(pred, target, dim, scale)
    pred, target = launch.device_float32(pred), launch.device_float32(target)
    scale = launch.device_float32_constant(scale if scale is not None else (1.0,) * pred.shape[1])
    errors = launch.device_empty((n, n_joints))
    _KERNELS.run("joint_errors", errors.size,
                 (pred, target, scale, errors, np.int64(n), np.int32(n_joints), np.int32(dim)))
    return errors


def _mpjpe_device(pred, target, dim, scale):
    errors = _joint_errors_device(pred, target, dim, scale)
    n, n_joints = errors.shape
    frame_mean = launch.device_empty((n,))
    _KERNELS.run("mean_over_joints", n, (errors, frame_mean, np.int64(n), np.int32(n_joints)))
    return frame_mean


# ---- public API: NumPy arrays run the reference, CuPy arrays the kernel ----------------------------

def joint_errors(pred, target, dim=3, scale=None):
    """(N, J) Euclidean error of each joint between two (N, J*dim) pose arrays (times `scale`)."""
    return launch.pick(joint_errors_reference, _joint_errors_device, pred, target)(pred, target, dim, scale)


def mpjpe(pred, target, dim=3, scale=None):
    """(N,) per-frame MPJPE: the mean over joints of joint_errors."""
    return launch.pick(mpjpe_reference, _mpjpe_device, pred, target)(pred, target, dim, scale)
