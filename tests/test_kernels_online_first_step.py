"""The first Adam step's sums (NumPy reference of cuda_kernels.online_first_step) against the step
itself, formed explicitly: per frame the weight gradients, TF-1 Adam's first step on every weight,
and the products with the updated weights, in float64."""
import math

import numpy as np
import pytest

from cuda_kernels import online_first_step

LR = 1.5e-4
EPS1 = 1e-8 / math.sqrt(1.0 - 0.999)


def first_step_inputs(n, n_units, seed, n_inputs=48, n_outputs=48, dtype=np.float64):
    """Frames at a trained network's scales, with the special cases: zero inputs, inactive units, a
    last frame with no active unit (n > 1), zero gradient entries."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, n_inputs))
    x[rng.random(x.shape) < 0.1] = 0.0
    z0 = rng.normal(size=(n, n_units))
    if n > 1:
        z0[-1] = -np.abs(z0[-1])
    grad_z0 = rng.normal(scale=1e-3, size=(n, n_units)) * (z0 > 0)
    grad_z0[rng.random(grad_z0.shape) < 0.05] = 0.0
    grad_r = rng.normal(scale=1e-2, size=(n, n_outputs))
    grad_r[rng.random(grad_r.shape) < 0.05] = 0.0
    return tuple(a.astype(dtype) for a in (x, z0, grad_z0, grad_r))


def adam_first_step(g):
    return LR * g / (np.abs(g) + EPS1)


def explicit_step(x, z0, grad_z0, grad_r):
    """Per frame: (h0' = relu(x·(W0 − ΔW0) + b0 − Δb0), h0'·ΔW00) with the steps formed as matrices."""
    h1, products = np.zeros_like(z0), np.zeros_like(grad_r)
    for n in range(len(x)):
        h0 = np.maximum(z0[n], 0)
        step_w0 = adam_first_step(np.outer(x[n], grad_z0[n]))
        h1[n] = np.maximum(z0[n] - x[n] @ step_w0 - adam_first_step(grad_z0[n]), 0)
        products[n] = h1[n] @ adam_first_step(np.outer(h0, grad_r[n]))
    return h1, products


@pytest.mark.parametrize("pair_block", (1, 5, 16))
@pytest.mark.parametrize("n, n_units", ((1, 7), (6, 40), (23, 300)))
def test_reference_is_the_first_adam_step(n, n_units, pair_block):
    x, z0, grad_z0, grad_r = first_step_inputs(n, n_units, seed=n + n_units)
    h1, k00 = online_first_step.first_step_reference(x, z0, grad_z0, grad_r, LR, EPS1, pair_block=pair_block)
    expected_h1, expected_products = explicit_step(x, z0, grad_z0, grad_r)
    assert h1.dtype == k00.dtype == np.float64
    np.testing.assert_allclose(h1, expected_h1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(LR * grad_r * k00, expected_products, rtol=1e-10, atol=1e-18)
    if n > 1:
        assert (k00[-1] == 0).all() and (h1[-1] == 0).all()    # no active unit: no step
    assert (h1[z0 <= 0] == 0).all()
    # the step really moves the hidden layer, so the comparison above can fail
    assert np.abs(h1 - np.maximum(z0, 0)).max() > 1e-6


def test_float32_inputs_stay_float32_and_agree():
    inputs64 = first_step_inputs(9, 128, seed=2)
    h1_64, k00_64 = online_first_step.first_step(*inputs64, LR, EPS1)
    h1_32, k00_32 = online_first_step.first_step(*(a.astype(np.float32) for a in inputs64), LR, EPS1)
    assert h1_32.dtype == k00_32.dtype == np.float32
    np.testing.assert_allclose(h1_32, h1_64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(k00_32, k00_64, rtol=1e-5)


def test_mismatched_shapes_are_refused():
    x, z0, grad_z0, grad_r = first_step_inputs(4, 10, seed=0)
    with pytest.raises(ValueError, match="first_step"):
        online_first_step.first_step(x, z0, grad_z0[:, :9], grad_r, LR, EPS1)
    with pytest.raises(ValueError, match="first_step"):
        online_first_step.first_step(x[:3], z0, grad_z0, grad_r, LR, EPS1)
