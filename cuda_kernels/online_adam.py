"""TF-1 Adam steps on the online correction's per-row state, in place (kernels in online_adam.cu).

Each row (a frame, or an action in released mode) has its own moments m, v and offset θ0 − θ of a
tensor. One step with gradient g: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², then by `mode`: None
updates the moments only (the step would not be used), "set" replaces the offset by the step
lr_t·m/(√v + ε) (the row was at θ0), "add" adds the step to it. Three shapes of state:

- vector_step: a vector per row with gradient g (the biases);
- outer_step: a matrix per row whose gradient is an outer product left ⊗ right of two row vectors
  (W0 = x ⊗ δ0, W00 = h0 ⊗ δr), never formed apart from one scratch buffer on the CPU;
- input_product_step: W0 when each row keeps its input x for every step (independent frames). The
  gradients x ⊗ δ_t share their left factor, so the moments are x ⊗ M and x² ⊗ V: m, v hold M, V
  (rows, units), and the offset holds x·(θ0 − θ)_W0, the only product the forward pass needs, to
  which a step adds lr_t·M_u·Σ_i x_i² / (|x_i|·√V_u + ε).

The NumPy references define the results; the arrays are updated in place on both paths.
"""
import numpy as np

from . import launch

_KERNELS = launch.KernelFile("online_adam.cu", ("vector_step_f32", "vector_step_f64", "outer_step_f32",
                                                "outer_step_f64", "input_product_step_f32",
                                                "input_product_step_f64"))
MODES = (None, "set", "add")


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"Adam offset mode {mode!r}: expected one of {MODES}")


# ---- NumPy references (they define the results) --------------------------------------------------

def _take_step(m, v, offset, lr_t, eps, mode, buf):
    if mode is None:
        return
    step = offset if mode == "set" else buf
    np.sqrt(v, out=buf)
    buf += eps
    buf *= 1.0 / lr_t
    np.divide(m, buf, out=step)
    if mode == "add":
        offset += step


def vector_step_reference(m, v, offset, g, lr_t, beta1, beta2, eps, mode, scratch=None):
    _check_mode(mode)
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * (g * g)
    _take_step(m, v, offset, lr_t, eps, mode, np.empty_like(m) if scratch is None else scratch)


def outer_step_reference(m, v, offset, left, right, lr_t, beta1, beta2, eps, mode, scratch=None):
    _check_mode(mode)
    buf = np.empty_like(m) if scratch is None else scratch
    m *= beta1
    np.multiply(((1.0 - beta1) * left)[:, :, None], right[:, None, :], out=buf)
    m += buf
    v *= beta2
    np.multiply(((1.0 - beta2) * left * left)[:, :, None], (right * right)[:, None, :], out=buf)
    v += buf
    _take_step(m, v, offset, lr_t, eps, mode, buf)


def input_product_step_reference(m, v, offset, x, grad, lr_t, beta1, beta2, eps, mode, scratch=None):
    _check_mode(mode)
    m *= beta1
    m += (1.0 - beta1) * grad
    v *= beta2
    v += (1.0 - beta2) * (grad * grad)
    if mode is None:
        return
    pair = np.abs(x)[:, :, None] * np.sqrt(v)[:, None, :]
    pair += eps
    np.reciprocal(pair, out=pair)
    step = offset if mode == "set" else (np.empty_like(m) if scratch is None else scratch)
    np.multiply((((x * x)[:, None, :]) @ pair)[:, 0, :], m, out=step)
    step *= lr_t
    if mode == "add":
        offset += step


# ---- CuPy launches --------------------------------------------------------------------------------

def _state_dtype(*state):
    """The kernels' dtype for state arrays updated in place: they must already be contiguous in it."""
    dtype = np.float64 if state[0].dtype == np.float64 else np.float32
    for a in state:
        if a.dtype != dtype or not a.flags.c_contiguous:
            raise TypeError(f"Adam state must be contiguous {np.dtype(dtype)} device arrays (updated in place)")
    return dtype


def _constants(dtype, lr_t, beta1, beta2, eps, mode):
    _check_mode(mode)
    return (dtype(beta1), dtype(beta2), dtype(1.0 - beta1), dtype(1.0 - beta2), dtype(eps), dtype(1.0 / lr_t),
            np.int32(MODES.index(mode)))


def _suffix(dtype):
    return "f64" if dtype == np.float64 else "f32"


def _vector_step_device(m, v, offset, g, lr_t, beta1, beta2, eps, mode, scratch=None):
    dtype = _state_dtype(m, v, offset)
    _KERNELS.run(f"vector_step_{_suffix(dtype)}", m.size,
                 (m, v, offset, launch.device_array(g, dtype), np.int64(m.size),
                  *_constants(dtype, lr_t, beta1, beta2, eps, mode)))


def _outer_step_device(m, v, offset, left, right, lr_t, beta1, beta2, eps, mode, scratch=None):
    dtype = _state_dtype(m, v, offset)
    rows, n_left, n_right = m.shape
    _KERNELS.run(f"outer_step_{_suffix(dtype)}", m.size,
                 (m, v, offset, launch.device_array(left, dtype), launch.device_array(right, dtype), np.int64(rows),
                  np.int32(n_left), np.int32(n_right), *_constants(dtype, lr_t, beta1, beta2, eps, mode)))


def _input_product_step_device(m, v, offset, x, grad, lr_t, beta1, beta2, eps, mode, scratch=None):
    dtype = _state_dtype(m, v, offset)
    rows, n_units = m.shape
    _KERNELS.run(f"input_product_step_{_suffix(dtype)}", m.size,
                 (m, v, offset, launch.device_array(x, dtype), launch.device_array(grad, dtype), np.int64(rows),
                  np.int32(x.shape[1]), np.int32(n_units), *_constants(dtype, lr_t, beta1, beta2, eps, mode)))


# ---- public API: NumPy arrays run the reference, CuPy arrays the kernels ---------------------------

def vector_step(m, v, offset, g, lr_t, beta1, beta2, eps, mode, scratch=None):
    """One Adam step on vectors m, v, offset (any shape) with gradient g, in place."""
    launch.pick(vector_step_reference, _vector_step_device, m, v, offset, g)(
        m, v, offset, g, lr_t, beta1, beta2, eps, mode, scratch)


def outer_step(m, v, offset, left, right, lr_t, beta1, beta2, eps, mode, scratch=None):
    """One Adam step on per-row matrices (rows, I, J) with gradient left (rows, I) ⊗ right (rows, J)."""
    launch.pick(outer_step_reference, _outer_step_device, m, v, offset, left, right)(
        m, v, offset, left, right, lr_t, beta1, beta2, eps, mode, scratch)


def input_product_step(m, v, offset, x, grad, lr_t, beta1, beta2, eps, mode, scratch=None):
    """One Adam step on W0 with fixed inputs x (rows, I): m, v (rows, U) the moments' right factors,
    grad (rows, U) the gradient's, offset (rows, U) the accumulated x·(θ0 − θ)_W0."""
    launch.pick(input_product_step_reference, _input_product_step_device, m, v, offset, x, grad)(
        m, v, offset, x, grad, lr_t, beta1, beta2, eps, mode, scratch)
