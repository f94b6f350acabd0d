"""The online correction on CuPy against the float64 per-frame reference and the NumPy path, in one
run (skipped without a CUDA device; the first thing to run on a GPU machine)."""
import numpy as np
import pytest

from cuda_kernels import backend
from online import OnlineConfig, OnlineModel, refine_independent, refine_paper, refine_released
from online.weights import random_weights
from online_reference import refine_reference

pytestmark = pytest.mark.skipif(not backend.gpu_available(), reason="needs a CUDA device and CuPy")


def relative_error(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def _on(monkeypatch, name, weights, dtype):
    monkeypatch.setenv("HPM_BACKEND", name)
    model = OnlineModel(weights, dtype)
    assert model.xp.__name__ == name
    return model


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_cupy_modes_match_the_reference_and_numpy(monkeypatch, dtype, tol):
    weights = random_weights(1024, seed=11)
    rng = np.random.default_rng(12)
    x, q = rng.random((257, 48)).astype(np.float32), rng.random((257, 32)).astype(np.float32)
    w = weights.as_dict()
    expected_independent = refine_reference(w, x, q, "independent")
    expected_released = refine_reference(w, x[:120], q[:120], "released")
    range_mm = np.full(48, 1000.0)
    config = OnlineConfig(max_iterations=4)
    expected_paper, used, kept = refine_reference(w, x[:64], q[:64], "paper", range_mm=range_mm, max_iterations=4)
    results = {}
    for name in ("numpy", "cupy"):
        model = _on(monkeypatch, name, weights, dtype)
        results[name] = (refine_independent(model, x, q, chunk_frames=100),
                         refine_released(model, [x[:120]], [q[:120]])[0],
                         refine_paper(model, x[:64], q[:64], range_mm, config))
        independent, released, paper = results[name]
        assert relative_error(independent, expected_independent) < tol, name
        assert relative_error(released, expected_released) < tol, name
        assert relative_error(paper.refined, expected_paper) < tol, name
        np.testing.assert_array_equal(paper.iterations, used)
        np.testing.assert_array_equal(paper.kept_coarse, kept)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_released_engines_on_cupy_match_the_reference(monkeypatch, dtype, tol):
    """Both released-mode engines on the GPU at full width: 15 actions of unequal lengths plus one more
    than a kernel launch takes (MAX_ROWS), against the per-frame float64 definition."""
    weights = random_weights(1024, seed=21)
    rng = np.random.default_rng(22)
    lengths = [40 + 7 * i for i in range(17)]
    xs = [rng.random((n, 48)).astype(np.float32) for n in lengths]
    qs = [rng.random((n, 32)).astype(np.float32) for n in lengths]
    expected = [refine_reference(weights.as_dict(), x, q, "released") for x, q in zip(xs, qs)]
    model = _on(monkeypatch, "cupy", weights, dtype)
    for engine in ("kernel", "rows"):
        for got, want in zip(refine_released(model, xs, qs, engine=engine), expected):
            assert relative_error(got, want) < tol, engine
