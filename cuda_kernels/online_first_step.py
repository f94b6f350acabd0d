"""The first Adam step of independent-mode online correction, without per-frame weight copies
(kernels in online_first_step.cu; used by online.independent for the released 2 iterations).

For one frame with input x (48), hidden pre-activation z0 = x·W0 + b0 (W units), h0 = relu(z0), and
the loss gradients δ0 = dL/dz0 and δr = dL/dr, the W0 and W00 gradients are outer products,
gW0 = x ⊗ δ0 and gW00 = h0 ⊗ δr. TF-1 Adam's first step is elementwise, lr·g/(|g| + ε') with
ε' = ε/√(1−β2), so the updated layers' products with this frame's vectors are sums, never weights:

    (x·ΔW0)_u    = lr·δ0_u · k0_u,   k0_u  = Σ_i |x_i| / (|δ0_u| + ε'/|x_i|)
    (h0'·ΔW00)_j = lr·δr_j · k00_j,  k00_j = Σ_u h0'_u / (|δr_j| + ε'/h0_u)

`first_step` returns the updated hidden layer h0' = relu(z0 − lr·δ0·k0 − lr·δ0/(|δ0| + ε')) and k00.
Only units with z0 > 0 contribute (δ0 and h0' are zero elsewhere). All terms are non-negative, so
the sums are accurate to a few ulp in any order.

The NumPy reference gathers each frame's active units, a block of frames at a time, and sums over
them with one batched product (the fastest form on the CPU); the kernels give each output element a
thread. float64 inputs stay float64 on both paths (the --float64 mode).
"""
import numpy as np

from . import launch

_KERNELS = launch.KernelFile("online_first_step.cu", ("updated_hidden_f32", "updated_hidden_f64",
                                                      "output_step_sums_f32", "output_step_sums_f64"))

PAIR_BLOCK = 16  # frames per block of the reference's (frame × input × unit) sums


def _check(x, z0, grad_z0, grad_r):
    if x.ndim != 2 or z0.ndim != 2 or z0.shape != grad_z0.shape or grad_r.ndim != 2 \
            or not len(x) == len(z0) == len(grad_r):
        raise ValueError(f"first_step: expected x (N, I), z0 and grad_z0 (N, U), grad_r (N, J); got "
                         f"{tuple(x.shape)}, {tuple(z0.shape)}, {tuple(grad_z0.shape)}, {tuple(grad_r.shape)}")


# ---- NumPy reference (it defines the result) ------------------------------------------------------

def _pair_sum(weight, shift, d):
    """out[n, j] = Σ_i weight[n, i] / (d[n, j] + shift[n, i]), all terms non-negative."""
    pair = shift[:, :, None] + d[:, None, :]
    np.reciprocal(pair, out=pair)
    return (weight[:, None, :] @ pair)[:, 0, :]


def first_step_reference(x, z0, grad_z0, grad_r, lr, eps1, pair_block=PAIR_BLOCK):
    x, z0, grad_z0, grad_r = (launch.host_float(a) for a in (x, z0, grad_z0, grad_r))
    _check(x, z0, grad_z0, grad_r)
    dtype = z0.dtype
    tiny = np.finfo(dtype).tiny  # ε'/max(a, tiny) stays finite where a = 0; such terms vanish
    abs_x = np.abs(x).astype(dtype, copy=False)
    shift_x = eps1 / np.maximum(abs_x, tiny)
    abs_grad_r = np.abs(grad_r).astype(dtype, copy=False)
    h1 = np.zeros_like(z0)
    k00 = np.empty(grad_r.shape, dtype=dtype)
    for start in range(0, len(x), pair_block):
        block = slice(start, min(len(x), start + pair_block))
        active = z0[block] > 0
        # active units first (stable, so each frame's units keep their order), padded to the block's most
        units = np.argsort(~active, axis=1, kind="stable")[:, :int(active.sum(axis=1).max(initial=0))]
        rows = np.arange(block.start, block.stop)[:, None]
        z_active, g0 = z0[rows, units], grad_z0[rows, units]
        k0 = _pair_sum(abs_x[block], shift_x[block], np.abs(g0))
        h1_active = np.maximum(z_active - lr * g0 * k0 - lr * g0 / (np.abs(g0) + eps1), 0)
        h1[rows, units] = h1_active
        k00[block] = _pair_sum(h1_active, eps1 / np.maximum(z_active, tiny), abs_grad_r[block])
    return h1, k00


# ---- CuPy launches --------------------------------------------------------------------------------

def _first_step_device(x, z0, grad_z0, grad_r, lr, eps1):
    _check(x, z0, grad_z0, grad_r)
    dtype = np.float64 if z0.dtype == np.float64 else np.float32
    suffix = "f64" if dtype == np.float64 else "f32"
    x, z0, grad_z0, grad_r = (launch.device_array(a, dtype) for a in (x, z0, grad_z0, grad_r))
    (n, n_inputs), n_units, n_outputs = x.shape, z0.shape[1], grad_r.shape[1]
    h1 = launch.device_empty(z0.shape, dtype)
    k00 = launch.device_empty(grad_r.shape, dtype)
    _KERNELS.run(f"updated_hidden_{suffix}", h1.size,
                 (x, z0, grad_z0, h1, np.int64(n), np.int32(n_inputs), np.int32(n_units), dtype(lr), dtype(eps1)))
    _KERNELS.run(f"output_step_sums_{suffix}", k00.size,
                 (z0, h1, grad_r, k00, np.int64(n), np.int32(n_units), np.int32(n_outputs), dtype(eps1)))
    return h1, k00


# ---- public API: NumPy arrays run the reference, CuPy arrays the kernels ---------------------------

def first_step(x, z0, grad_z0, grad_r, lr, eps1):
    """(h0' (N, U), k00 (N, J)) of the first Adam step for frames x (N, I), z0 and δ0 = grad_z0 (N, U),
    δr = grad_r (N, J), Adam step size lr and ε' = eps1, in z0's precision (float64 or float32)."""
    return launch.pick(first_step_reference, _first_step_device, x, z0, grad_z0, grad_r)(
        x, z0, grad_z0, grad_r, lr, eps1)
