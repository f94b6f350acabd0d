"""The Adam steps of cuda_kernels.online_adam (NumPy references) against textbook TF-1 Adam on the
gradients formed explicitly, per row and in float64, over several steps and every offset mode."""
import numpy as np
import pytest

from cuda_kernels import online_adam

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def lr_at(t, lr=1.5e-4):
    return lr * np.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t)


def textbook(m, v, offset, g, t, mode):
    """New (m, v, offset) after one step with the full gradient g."""
    m = BETA1 * m + (1 - BETA1) * g
    v = BETA2 * v + (1 - BETA2) * g * g
    step = lr_at(t) * m / (np.sqrt(v) + EPS)
    return m, v, {None: offset, "set": step, "add": offset + step}[mode]


def zeros(*shape):
    return np.zeros(shape), np.zeros(shape), np.zeros(shape)


MODE_SEQUENCE = ("set", "add", None, "add")  # t = 1..4, as the engines use them


@pytest.mark.parametrize("rows, n_left, n_right", ((1, 48, 7), (3, 48, 33), (5, 17, 48)))
def test_outer_and_vector_steps_are_adam_on_the_formed_gradient(rows, n_left, n_right):
    rng = np.random.default_rng(rows * n_left + n_right)
    state, expected = zeros(rows, n_left, n_right), zeros(rows, n_left, n_right)
    bias_state, bias_expected = zeros(rows, n_right), zeros(rows, n_right)
    for t, mode in enumerate(MODE_SEQUENCE, start=1):
        left, right = rng.normal(size=(rows, n_left)), rng.normal(scale=1e-3, size=(rows, n_right))
        right[:, 0] = 0.0  # a zero gradient column: its step must stay 0, not NaN
        online_adam.outer_step(*state, left, right, lr_at(t), BETA1, BETA2, EPS, mode)
        expected = textbook(*expected, left[:, :, None] * right[:, None, :], t, mode)
        online_adam.vector_step(*bias_state, right, lr_at(t), BETA1, BETA2, EPS, mode)
        bias_expected = textbook(*bias_expected, right, t, mode)
        for got, want in zip(state + bias_state, expected + bias_expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    assert np.abs(state[2]).max() > 0 and np.isfinite(state[2]).all()


@pytest.mark.parametrize("rows, n_inputs, n_units", ((1, 48, 9), (4, 48, 300), (6, 5, 40)))
def test_input_product_step_is_x_times_the_full_w0_offset(rows, n_inputs, n_units):
    """With each row's x fixed, the W0 offset's product with x equals x·(the offset Adam builds on
    the full x ⊗ δ_t gradients)."""
    rng = np.random.default_rng(rows + n_units)
    x = rng.random((rows, n_inputs))
    x[:, 0] = 0.0  # a zero input contributes nothing
    state, full = zeros(rows, n_units), zeros(rows, n_inputs, n_units)
    for t, mode in enumerate(MODE_SEQUENCE, start=1):
        grad = rng.normal(scale=1e-3, size=(rows, n_units))
        grad[:, 1] = 0.0
        online_adam.input_product_step(*state, x, grad, lr_at(t), BETA1, BETA2, EPS, mode)
        full = textbook(*full, x[:, :, None] * grad[:, None, :], t, mode)
        np.testing.assert_allclose(state[2], np.einsum("ri,riu->ru", x, full[2]), rtol=1e-10, atol=1e-300)
    assert np.abs(state[2]).max() > 0


def test_float32_state_stays_float32():
    m, v, offset = (np.zeros((2, 3, 4), np.float32) for _ in range(3))
    online_adam.outer_step(m, v, offset, np.ones((2, 3), np.float32), np.ones((2, 4), np.float32),
                           1e-3, BETA1, BETA2, EPS, "set")
    assert m.dtype == v.dtype == offset.dtype == np.float32
    # first step: lr_t·(1−β1)·g / (√(1−β2)·|g| + ε), for g = 1
    np.testing.assert_allclose(offset, 1e-3 * (1 - BETA1) / (np.sqrt(1 - BETA2) + EPS), rtol=1e-6)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        online_adam.vector_step(*zeros(2, 3), np.ones((2, 3)), 1e-3, BETA1, BETA2, EPS, "replace")
