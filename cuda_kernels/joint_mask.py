"""Seeded Bernoulli joint masks, identical on NumPy and CuPy (kernels in joint_mask.cu).

A mask for poses laid out (N, J*dim) is 1 where a joint is kept and 0 where it is dropped, all `dim`
values of a joint together. Joint j of frame n is kept with probability keep_prob[j], decided by a
counter-based hash of (seed, counter, frame, joint): no generator state, so the NumPy reference and the
CUDA kernel draw the same bits, and a layer gets a fresh, repeatable mask per call by passing its
call count as `counter`. Seed and counter are taken modulo 2^32. The draw does not depend on `dim`,
so masks of 2D and 3D poses made with the same (seed, counter) drop the same joints.

The draw: h = L(L(L(L(seed) ^ counter) ^ frame) ^ joint) with L the lowbias32 hash, u = (h >> 8) / 2^24
(exact in float32), kept when u < keep_prob[joint] compared in float32.
"""
import numpy as np

from pose_formats.skeleton import NUM_JOINTS

from . import launch

_KERNELS = launch.KernelFile("joint_mask.cu", ("joint_mask", "joint_mask_2d_3d"))

# Released Mask2D3D: keep the spine (7) and the head (9) with probability 0.6, every other joint 0.8.
RELEASED_MASK_2D3D_KEEP_PROB = np.full(NUM_JOINTS, 0.8, dtype=np.float32)
RELEASED_MASK_2D3D_KEEP_PROB[[7, 9]] = 0.6

_UINT32 = 0xFFFFFFFF


def _check(n_frames, n_joints, keep_prob, seed, counter):
    """(keep_prob as a (J,) float32 array, seed, counter as ints mod 2^32); raises on bad values."""
    if n_frames < 0:
        raise ValueError(f"joint_mask: negative number of frames {n_frames}")
    keep_prob = np.asarray(keep_prob, dtype=np.float32)
    if keep_prob.ndim == 0:
        keep_prob = np.full(n_joints, keep_prob, dtype=np.float32)
    if keep_prob.shape != (n_joints,):
        raise ValueError(f"joint_mask: keep_prob must be a scalar or {n_joints} values, got shape {keep_prob.shape}")
    if not np.all((keep_prob >= 0) & (keep_prob <= 1)):
        raise ValueError(f"joint_mask: keep probabilities must lie in [0, 1], got {keep_prob}")
    return keep_prob, int(seed) & _UINT32, int(counter) & _UINT32


def _joints_of(shape, dim):
    """(N, J) of an (N, J*dim) mask shape."""
    if dim < 1 or len(shape) != 2 or shape[1] % dim:
        raise ValueError(f"joint_mask: expected a shape (N, J*{dim}), got {tuple(shape)}")
    return shape[0], shape[1] // dim


# ---- NumPy references (they define the results) --------------------------------------------------

def _lowbias32(x):
    """The lowbias32 integer hash (a bijection of uint32 with strong avalanche), on uint32 arrays."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def keep_draws_reference(n_frames, n_joints, keep_prob, seed, counter):
    """(N, J) float32: 1 where joint j of frame n is kept, 0 where it is dropped."""
    keep_prob, seed, counter = _check(n_frames, n_joints, keep_prob, seed, counter)
    frames = np.arange(n_frames, dtype=np.uint32)[:, None]
    joints = np.arange(n_joints, dtype=np.uint32)[None, :]
    # Arrays throughout, never NumPy scalars: uint32 array products wrap silently, as in CUDA.
    h = _lowbias32(np.array([seed], dtype=np.uint32))
    h = _lowbias32(h ^ np.uint32(counter))
    h = _lowbias32(h ^ frames)
    h = _lowbias32(h ^ joints)
    uniform = (h >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)   # exact: h >> 8 < 2^24
    return (uniform < keep_prob).astype(np.float32)


def joint_mask_reference(shape, dim, keep_prob, seed, counter):
    n_frames, n_joints = _joints_of(shape, dim)
    return np.repeat(keep_draws_reference(n_frames, n_joints, keep_prob, seed, counter), dim, axis=1)


def mask_2d_3d_reference(n_frames, keep_prob, seed, counter):
    keep = keep_draws_reference(n_frames, NUM_JOINTS, keep_prob, seed, counter)
    return np.repeat(keep, 2, axis=1), np.repeat(keep, 3, axis=1)


# ---- CuPy launches --------------------------------------------------------------------------------

def _joint_mask_device(shape, dim, keep_prob, seed, counter):
    n_frames, n_joints = _joints_of(shape, dim)
    keep_prob, seed, counter = _check(n_frames, n_joints, keep_prob, seed, counter)
    mask = launch.device_empty((n_frames, n_joints * dim))
    _KERNELS.run("joint_mask", n_frames * n_joints,
                 (launch.device_float32_constant(tuple(keep_prob.tolist())), mask, np.int64(n_frames),
                  np.int32(n_joints), np.int32(dim), np.uint32(seed), np.uint32(counter)))
    return mask


def _mask_2d_3d_device(n_frames, keep_prob, seed, counter):
    keep_prob, seed, counter = _check(n_frames, NUM_JOINTS, keep_prob, seed, counter)
    mask_2d = launch.device_empty((n_frames, NUM_JOINTS * 2))
    mask_3d = launch.device_empty((n_frames, NUM_JOINTS * 3))
    _KERNELS.run("joint_mask_2d_3d", n_frames * NUM_JOINTS,
                 (launch.device_float32_constant(tuple(keep_prob.tolist())), mask_2d, mask_3d,
                  np.int64(n_frames), np.int32(NUM_JOINTS), np.uint32(seed), np.uint32(counter)))
    return mask_2d, mask_3d


# ---- public API: `xp` (default backend.xp()) picks the NumPy reference or the kernel --------------

def joint_mask(shape, dim, keep_prob, seed, counter, xp=None):
    """(N, J*dim) float32 0/1 mask for poses of `shape` (N, J*dim); keep_prob is a scalar or (J,)."""
    return launch.pick_for_module(joint_mask_reference, _joint_mask_device, xp)(shape, dim, keep_prob, seed,
                                                                                counter)


def mask_2d_3d(n_frames, keep_prob, seed, counter, xp=None):
    """Matching ((N, 32), (N, 48)) float32 masks of 2D and 3D poses of the 16-joint skeleton from the
    same per-joint draws; keep_prob is a scalar or (16,) (RELEASED_MASK_2D3D_KEEP_PROB as released)."""
    return launch.pick_for_module(mask_2d_3d_reference, _mask_2d_3d_device, xp)(n_frames, keep_prob, seed,
                                                                                counter)
