"""Bone vectors of poses and their true gradient (kernels in bones.cu).

Poses are (N, J*dim) with dim = 2 or 3 coordinates per joint, in joint order. The bone of joint j is
p[parent(j)] - p[j] per coordinate; the root is its own parent, so its bone is 0.

The released SkelVectorLoss passed the plain pose difference back as if the bone map were the
identity. Here the backward is the chain rule through the parent map:
    dL/dp_k = -g_k + sum over the children c of k of g_c
(for the root its own, always-zero bone term cancels).
"""
import numpy as np

from pose_formats.skeleton import PARENTS

from . import launch

_KERNELS = launch.KernelFile("bones.cu", ("bone_vectors_forward", "bone_vectors_backward", "skel_vector_loss"))


def _check(name, poses, dim, parents):
    """Validated (N, J, parents as a tuple of ints) for a (N, J*dim) array; raises on bad shapes."""
    if dim not in (2, 3):
        raise ValueError(f"{name}: dim must be 2 or 3, got {dim!r}")
    parents = tuple(int(p) for p in np.asarray(parents).ravel())
    n_joints = len(parents)
    if any(not 0 <= p < n_joints for p in parents):
        raise ValueError(f"{name}: parents must index the {n_joints} joints, got {parents}")
    if poses.ndim != 2 or poses.shape[1] != n_joints * dim:
        raise ValueError(f"{name}: expected shape (N, {n_joints * dim}) for {n_joints} joints x dim {dim}, "
                         f"got {tuple(poses.shape)}")
    return poses.shape[0], n_joints, parents


def _check_pair(a, b, dim, parents):
    """As _check for the two poses of the loss, which must match and hold at least one frame."""
    n, n_joints, parents = _check("skel_vector_loss", a, dim, parents)
    if a.shape != b.shape or n == 0:
        raise ValueError(f"skel_vector_loss: need two equal, non-empty shapes, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return n, n_joints, parents


# ---- NumPy references (they define the results) --------------------------------------------------

def bone_vectors_reference(poses, dim, parents=PARENTS):
    poses = launch.host_float(poses)
    n, n_joints, parents = _check("bone_vectors", poses, dim, parents)
    p = poses.reshape(n, n_joints, dim)
    bones = p[:, list(parents), :] - p
    return bones.reshape(n, n_joints * dim)


def bone_vectors_backward_reference(grad_bones, dim, parents=PARENTS):
    grad_bones = launch.host_float(grad_bones)
    n, n_joints, parents = _check("bone_vectors_backward", grad_bones, dim, parents)
    g = grad_bones.reshape(n, n_joints, dim)
    grad_poses = -g
    for joint, parent in enumerate(parents):   # each bone pulls on its parent with +g
        grad_poses[:, parent, :] += g[:, joint, :]
    return grad_poses.reshape(n, n_joints * dim)


def skel_vector_loss_reference(a, b, dim, parents=PARENTS):
    a, b = launch.host_float(a), launch.host_float(b)
    n, _, parents = _check_pair(a, b, dim, parents)
    bone_diff = bone_vectors_reference(a, dim, parents) - bone_vectors_reference(b, dim, parents)
    loss = float(np.sum(bone_diff.astype(np.float64) ** 2) / (2 * n))
    grad_a = bone_vectors_backward_reference(bone_diff, dim, parents) / bone_diff.dtype.type(n)
    return loss, grad_a


# ---- CuPy launches --------------------------------------------------------------------------------

def _bone_vectors_device(poses, dim, parents):
    n, n_joints, parents = _check("bone_vectors", poses, dim, parents)
    poses = launch.device_float32(poses)
    bones = launch.device_empty(poses.shape)
    _KERNELS.run("bone_vectors_forward", poses.size,
                 (poses, launch.device_int32(parents), bones, np.int64(n), np.int32(n_joints), np.int32(dim)))
    return bones


def _bone_vectors_backward_device(grad_bones, dim, parents):
    n, n_joints, parents = _check("bone_vectors_backward", grad_bones, dim, parents)
    grad_bones = launch.device_float32(grad_bones)
    grad_poses = launch.device_empty(grad_bones.shape)
    _KERNELS.run("bone_vectors_backward", grad_bones.size,
                 (grad_bones, launch.device_int32(parents), grad_poses, np.int64(n), np.int32(n_joints),
                  np.int32(dim)))
    return grad_poses


def _skel_vector_loss_device(a, b, dim, parents):
    n, n_joints, parents = _check_pair(a, b, dim, parents)
    a, b = launch.device_float32(a), launch.device_float32(b)
    squared_bone_diff = launch.device_empty(a.shape)
    grad_a = launch.device_empty(a.shape)
    _KERNELS.run("skel_vector_loss", a.size,
                 (a, b, launch.device_int32(parents), squared_bone_diff, grad_a, np.int64(n),
                  np.int32(n_joints), np.int32(dim), np.float32(1.0 / n)))
    loss = float(squared_bone_diff.sum(dtype=np.float64)) / (2 * n)
    return loss, grad_a


# ---- public API: NumPy arrays run the reference, CuPy arrays the kernel ----------------------------

def bone_vectors(poses, dim, parents=PARENTS):
    """(N, J*dim) bone vectors of (N, J*dim) poses: bone_j = p[parent(j)] - p[j]."""
    return launch.pick(bone_vectors_reference, _bone_vectors_device, poses)(poses, dim, parents)


def bone_vectors_backward(grad_bones, dim, parents=PARENTS):
    """(N, J*dim) gradient w.r.t. the poses, given (N, J*dim) gradient w.r.t. their bone vectors."""
    return launch.pick(bone_vectors_backward_reference, _bone_vectors_backward_device, grad_bones)(
        grad_bones, dim, parents)


def skel_vector_loss(a, b, dim, parents=PARENTS):
    """(loss, grad_a) of loss = sum((bone(a) - bone(b))^2) / (2N); loss is a Python float, grad_a is
    (N, J*dim) on the inputs' side, and the gradient w.r.t. b is -grad_a."""
    return launch.pick(skel_vector_loss_reference, _skel_vector_loss_device, a, b)(a, b, dim, parents)
