"""tools/bench_online.py runs on the CPU (NumPy) at a small width and prints every row it times; its
per-frame loop is the released script's computation, so it must agree with the reference."""
import numpy as np

from online import OnlineConfig
from online.weights import random_weights
from online_reference import refine_reference
from tool_modules import load_tool


def test_per_frame_loop_is_the_reference_computation():
    bench = load_tool("bench_online")
    weights = random_weights(40, 36, seed=4)
    rng = np.random.default_rng(4)
    x, q = rng.random((12, 48)).astype(np.float32), rng.random((12, 32)).astype(np.float32)
    for mode in ("released", "independent"):
        expected = refine_reference(weights.as_dict(), x, q, mode)
        got = bench.per_frame_loop(weights, x, q, OnlineConfig(), mode)
        assert np.abs(got - expected).max() / np.abs(expected).max() < 1e-5, mode


def test_bench_prints_every_row(capsys, monkeypatch):
    monkeypatch.setenv("HPM_BACKEND", "numpy")
    load_tool("bench_online").main(["--width", "32", "--frames", "50", "--loop-frames", "10", "--released-frames", "30",
                      "--paper-frames", "10", "--torch-frames", "10", "--repeats", "1", "--float64"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("per-frame", "released", "independent",
                                                                         "paper"))]
    assert len(rows) == 2 + 2 * 3
    assert all(float(row[-3]) > 0 for row in rows)       # frames/s
    assert "peak device memory: - (NumPy)" in out
