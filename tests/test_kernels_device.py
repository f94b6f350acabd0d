"""The CuPy paths against the NumPy references, every device output poisoned with NaN first.

Each test runs twice:
- `cuda`: real CuPy on a GPU (skipped where backend.gpu_available() is False);
- `emulated`: tests/emulated_cuda.py, a stand-in `cupy` module that compiles the same .cu source as
  C++ with g++ and runs each launch's grid on the CPU (serially, or for the kernels that synchronise
  one OS thread per block, its GPU threads fibers), and gives array code NumPy's functions. It tests kernel indexing,
  synchronisation, the Python launch glue and the online stage's device path on a machine without a
  GPU; it cannot stand in for the `cuda` run (NVRTC, real memory, device maths, CuPy's own API).
  Its device model is a small one (3 multiprocessors holding one block each) unless a test asks for
  the H200-like one (132 multiprocessors, Hopper's occupancy limits).
A grid that CuPy cuts down for a cooperative launch (it warns) is an error here: the launcher sizes it.
"""
import shutil
import sys

import numpy as np
import pytest

from cuda_kernels import (backend, bones, inverted_order, joint_mask, launch, mpjpe, online_adam, online_first_step,
                          online_released)
from emulated_cuda import H200_DEVICE, emulated_cupy
from online import OnlineConfig, OnlineModel, refine_independent, refine_paper, refine_released
from online.weights import random_weights
from online_reference import refine_reference
from pose_formats.normalization import MaxMin
from test_kernels_online_first_step import EPS1, LR, first_step_inputs
from tool_modules import load_tool

pytestmark = pytest.mark.filterwarnings("error:The grid size will be reduced")

# Around the block size (256) and not multiples of it; 4099 frames x 48 entries spans many blocks.
FRAME_COUNTS = (1, 5, 8, 25, 257, 4099)


def _clear_device_caches():
    for cache in (backend._cupy_or_reason, backend.raw_module, launch.device_int32,
                  launch.device_float32_constant):
        cache.cache_clear()


def _device_under_test(kind, monkeypatch, **emulator_options):
    """Yields the CuPy module of `kind` ("cuda", or "emulated" with emulated_cupy's `emulator_options`)
    with every device output poisoned with NaN, and the kernel modules' caches cleared around it."""
    if kind == "cuda":
        if not backend.gpu_available():
            pytest.skip("no CuPy with a CUDA device here")
        import cupy as module
    else:
        if shutil.which("g++") is None:
            pytest.skip("g++ is not installed")
        module = emulated_cupy(**emulator_options)
        monkeypatch.setitem(sys.modules, "cupy", module)
    _clear_device_caches()
    monkeypatch.setattr(launch, "device_empty", lambda shape, dtype=np.float32: module.full(shape, np.nan, dtype))
    yield module
    _clear_device_caches()


@pytest.fixture(params=("cuda", "emulated"))
def cp(request, monkeypatch):
    """The CuPy module to test with, real or emulated (the small device)."""
    yield from _device_under_test(request.param, monkeypatch)


@pytest.fixture
def h200(monkeypatch):
    """The emulated CuPy on the H200-like device (132 multiprocessors)."""
    yield from _device_under_test("emulated", monkeypatch, device=H200_DEVICE)


def device_result(result):
    """Host copy of a device result (an array or a tuple of arrays), checking it is on the device."""
    if isinstance(result, tuple):
        return tuple(device_result(r) for r in result)
    assert launch.is_device_array(result)
    return backend.to_host(result)


def random_array(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- the kernels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("n", FRAME_COUNTS)
def test_bones(cp, n, dim):
    poses, other = random_array((n, 16 * dim), n), random_array((n, 16 * dim), n + 1)

    np.testing.assert_allclose(device_result(bones.bone_vectors(cp.asarray(poses), dim)),
                               bones.bone_vectors_reference(poses, dim), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(device_result(bones.bone_vectors_backward(cp.asarray(poses), dim)),
                               bones.bone_vectors_backward_reference(poses, dim), rtol=1e-6, atol=1e-5)
    loss, grad_a = bones.skel_vector_loss(cp.asarray(poses), cp.asarray(other), dim)
    expected_loss, expected_grad_a = bones.skel_vector_loss_reference(poses, other, dim)
    assert isinstance(loss, float) and loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(device_result(grad_a), expected_grad_a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("n", FRAME_COUNTS)
def test_mpjpe(cp, n, dim):
    pred, target = random_array((n, 16 * dim), n), random_array((n, 16 * dim), n + 1)
    scale = MaxMin().range[: 16 * dim]
    for s in (None, scale):
        np.testing.assert_allclose(device_result(mpjpe.joint_errors(cp.asarray(pred), cp.asarray(target), dim, s)),
                                   mpjpe.joint_errors_reference(pred, target, dim, s), rtol=1e-5)
        np.testing.assert_allclose(device_result(mpjpe.mpjpe(cp.asarray(pred), cp.asarray(target), dim, s)),
                                   mpjpe.mpjpe_reference(pred, target, dim, s), rtol=1e-5)


@pytest.mark.parametrize("shape", ((1, 48), (5, 1, 1024), (8, 32), (257, 3, 5), (4099, 48)))
def test_inverted_order(cp, shape):
    a = random_array(shape, len(shape))
    np.testing.assert_array_equal(device_result(inverted_order.inverted_order(cp.asarray(a))),
                                  inverted_order.inverted_order_reference(a))


@pytest.mark.parametrize("n", FRAME_COUNTS)
def test_joint_masks_are_the_same_bits_as_the_reference(cp, n):
    keep_prob = np.linspace(0.05, 0.95, 16)
    for dim in (1, 2, 3):
        np.testing.assert_array_equal(
            device_result(joint_mask.joint_mask((n, 16 * dim), dim, keep_prob, 1234, n, xp=cp)),
            joint_mask.joint_mask_reference((n, 16 * dim), dim, keep_prob, 1234, n))
    for got, expected in zip(
            device_result(joint_mask.mask_2d_3d(n, joint_mask.RELEASED_MASK_2D3D_KEEP_PROB, 2 ** 32 - 1, 7, xp=cp)),
            joint_mask.mask_2d_3d_reference(n, joint_mask.RELEASED_MASK_2D3D_KEEP_PROB, 2 ** 32 - 1, 7)):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype, rtol", ((np.float32, 1e-5), (np.float64, 1e-12)))
@pytest.mark.parametrize("n, n_units", ((1, 7), (5, 1024), (8, 257), (257, 300), (700, 1024)))
def test_online_first_step(cp, n, n_units, dtype, rtol):
    inputs = first_step_inputs(n, n_units, seed=n, dtype=dtype)
    h1, k00 = device_result(online_first_step.first_step(*(cp.asarray(a) for a in inputs), LR, EPS1))
    expected_h1, expected_k00 = online_first_step.first_step_reference(*inputs, LR, EPS1)
    assert h1.dtype == k00.dtype == dtype
    # h1 = relu(z0 − step): its rounding is relative to z0, not to the (possibly cancelled) result
    np.testing.assert_allclose(h1, expected_h1, rtol=0, atol=rtol * np.abs(inputs[1]).max())
    np.testing.assert_allclose(k00, expected_k00, rtol=rtol)


@pytest.mark.parametrize("dtype, rtol", ((np.float32, 2e-6), (np.float64, 1e-13)))
@pytest.mark.parametrize("rows, n_left, n_right", ((1, 48, 7), (5, 257, 48), (16, 48, 1024)))
def test_online_adam_steps(cp, rows, n_left, n_right, dtype, rtol):
    """The three in-place Adam steps over the offset modes the engines use, against the references."""
    rng = np.random.default_rng(rows + n_left)
    # zero moments (a fresh optimizer) and stale offsets, which "set" must overwrite
    host = {name: [np.zeros(shape, dtype), np.zeros(shape, dtype), rng.normal(size=shape).astype(dtype)]
            for name, shape in (("outer", (rows, n_left, n_right)), ("vector", (rows, n_right)),
                                ("input", (rows, n_right)))}
    device = {name: [cp.asarray(a) for a in arrays] for name, arrays in host.items()}
    x = rng.random((rows, n_left)).astype(dtype)
    for t, mode in enumerate(("set", "add", None, "add"), start=1):
        # gradients from 1 down to where ε matters (√v ~ ε)
        left = rng.normal(size=(rows, n_left)).astype(dtype)
        right = (rng.normal(size=(rows, n_right)) * 10.0 ** rng.uniform(-7, 0, (rows, n_right))).astype(dtype)
        adam = (1.5e-4 * t, 0.9, 0.999, 1e-8, mode)
        online_adam.outer_step(*device["outer"], cp.asarray(left), cp.asarray(right), *adam)
        online_adam.outer_step_reference(*host["outer"], left, right, *adam)
        online_adam.vector_step(*device["vector"], cp.asarray(right), *adam)
        online_adam.vector_step_reference(*host["vector"], right, *adam)
        online_adam.input_product_step(*device["input"], cp.asarray(x), cp.asarray(right), *adam)
        online_adam.input_product_step_reference(*host["input"], x, right, *adam)
    for name in host:
        for got, want in zip(device[name], host[name]):
            got = device_result(got)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


@pytest.mark.parametrize("lengths, widths", (((1,), (48, 40)), ((41, 300, 1), (48, 40)),
                                             (tuple(range(17, 0, -1)) + (5, 0), (45, 37))))
def test_online_released_scan(cp, monkeypatch, lengths, widths):
    """The persistent kernel against the per-frame float64 definition: long sequences (Adam's carried
    state dominates), more sequences than one launch takes (MAX_ROWS), one of a single frame and an
    empty one, widths that are not multiples of the column tiles; small blocks so that every block
    handles several tiles."""
    monkeypatch.setattr(online_released, "BLOCK_SIZE", 64)
    weights = random_weights(*widths, seed=3)
    rng = np.random.default_rng(len(lengths))
    sequences = [(rng.random((n, 48)).astype(np.float32), rng.random((n, 32)).astype(np.float32)) for n in lengths]
    xs, qs = [x for x, _ in sequences], [q for _, q in sequences]
    expected = [refine_reference(weights.as_dict(), x, q, "released") for x, q in sequences]
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        model = OnlineModel(weights, dtype)
        assert launch.is_device_array(model.W0)
        refined = refine_released(model, xs, qs)
        for n, got, want in zip(lengths, refined, expected):
            assert got.dtype == dtype and got.shape == (n, 48)
            if n:
                assert np.abs(got - want).max() <= tol * np.abs(want).max()


@pytest.mark.parametrize("engine", ("kernel", "rows"))
def test_released_scan_gives_a_sequence_the_same_bytes_whatever_runs_beside_it(cp, monkeypatch, engine):
    """A resumed pred_v2 run computes fewer actions in one call than an uninterrupted one: each
    sequence's poses must not depend on which others share the launch (the kernel's rows) or the call."""
    monkeypatch.setattr(online_released, "BLOCK_SIZE", 64)
    weights, xs, qs, _ = released_inputs((9, 4, 6), (45, 37), seed=12)
    model = OnlineModel(weights, np.float32)
    together = refine_released(model, xs, qs, engine=engine)
    for i in range(len(xs)):
        alone = refine_released(model, xs[i:i + 1], qs[i:i + 1], engine=engine)[0]
        assert alone.tobytes() == together[i].tobytes(), f"sequence {i} alone differs"


def released_inputs(lengths, widths, seed):
    """Random weights of `widths` and sequences of `lengths` frames, with their float64 definition."""
    weights = random_weights(*widths, seed=seed)
    rng = np.random.default_rng(seed)
    xs = [rng.random((n, 48)).astype(np.float32) for n in lengths]
    qs = [rng.random((n, 32)).astype(np.float32) for n in lengths]
    return weights, xs, qs, [refine_reference(weights.as_dict(), x, q, "released") for x, q in zip(xs, qs)]


@pytest.mark.parametrize("dtype, block, grid, tol", ((np.float32, 256, 133, 1e-5), (np.float64, 512, 132, 1e-10)))
def test_released_scan_at_the_real_layout_on_an_emulated_h200(h200, monkeypatch, dtype, block, grid, tol):
    """The kernel as a GPU runs it: 132 multiprocessors, 256-thread blocks (float32; Hopper's limits
    let two be resident per multiprocessor at the emulator's assumed 128 registers per thread), a
    refine width of 133 column tiles. The grid is the tiles (133 < 264 resident blocks); float64 at
    512 threads needs 68 KB of shared memory per block (past the 48 KB default: the launcher opts
    in), one block per multiprocessor, so the grid is the 132 resident blocks and one block takes two
    tiles. Every block is an OS thread, its 256 or 512 GPU threads fibers."""
    monkeypatch.setattr(online_released, "BLOCK_SIZE", block)
    weights, xs, qs, expected = released_inputs((2, 1), (133 * online_released.WIDE_TILE, 40), seed=8)
    refined = refine_released(OnlineModel(weights, dtype), xs, qs)
    for got, want in zip(refined, expected):
        assert got.dtype == dtype and np.abs(got - want).max() <= tol * np.abs(want).max()
    shared_mem = (block + 32) * online_released.MAX_ROWS * np.dtype(dtype).itemsize
    name = "released_scan_f64" if dtype == np.float64 else "released_scan_f32"
    assert online_released._KERNELS.function(name).kernel.launches == [(grid, block, shared_mem, True)]


def _cpu_fuses_multiply_adds():
    with open("/proc/cpuinfo") as f:
        return " fma " in f.read().replace("\n", " ")


@pytest.mark.skipif(not _cpu_fuses_multiply_adds(), reason="the CPU has no FMA instructions")
def test_emulated_fused_multiply_adds_move_the_float32_released_scan_within_its_tolerance(monkeypatch):
    """The device fuses multiply-adds (NVRTC's default, tests/test_nvrtc_compile.py): the emulator built
    with contraction against the plain build, both against the float64 definition. Fusing changes the
    float32 result (the test would pass vacuously if it did not) by less than the tolerance."""
    monkeypatch.setattr(online_released, "BLOCK_SIZE", 64)
    weights, xs, qs, expected = released_inputs((40, 9), (48, 40), seed=10)
    refined = {}
    for contract_fma in (False, True):
        device = _device_under_test("emulated", monkeypatch, contract_fma=contract_fma)
        next(device)
        refined[contract_fma] = np.concatenate(refine_released(OnlineModel(weights, np.float32), xs, qs))
        next(device, None)
    expected = np.concatenate(expected)
    scale = np.abs(expected).max()
    fused_against_plain = np.abs(refined[True] - refined[False]).max() / scale
    print(f"float32 released scan, FMA-contracted emulator against the plain one: {fused_against_plain:.2e}")
    assert 0 < fused_against_plain < 1e-5
    assert np.abs(refined[True] - expected).max() / scale < 1e-5


def _empty_scan_arguments(cp):
    """Arguments of released_scan_f32 for a launch that scans no step (it touches no memory)."""
    floats, ints = (lambda: cp.zeros(1, np.float32)), (lambda: cp.zeros(1, np.int32))
    return (*(floats() for _ in online_released.WEIGHT_NAMES), floats(), ints(), floats(), floats(), ints(),
            floats(), floats(), floats(), cp.zeros(2, np.uint32), *(np.int32(0) for _ in range(5)),
            np.float32(1), np.float64(1e-4), np.float64(0.9), np.float64(0.999), np.float32(1e-8))


def test_a_cooperative_grid_past_the_resident_blocks_is_cut_as_cupy_cuts_it(cp):
    """CuPy 14.2 cuts a 1-D cooperative grid larger than the device holds at once, with a warning (the
    emulator does the same); the launcher sizes its grids so that this never happens."""
    function = online_released._KERNELS.function("released_scan_f32").kernel
    resident = cp.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(function.ptr, 256, 0) * \
        launch.multiprocessor_count()
    with pytest.warns(UserWarning, match=f"reduced from {resident + 1} to {resident}"):
        function((resident + 1,), (256,), _empty_scan_arguments(cp), enable_cooperative_groups=True)
    with pytest.raises(TypeError):  # RawKernel passes its module's flag itself
        online_released._KERNELS.function("released_scan_f32")((1,), (256,), _empty_scan_arguments(cp),
                                                                enable_cooperative_groups=True)


def test_host_arrays_are_refused_where_cupy_refuses_them(cp):
    """CuPy raises TypeError for a NumPy array in ascontiguousarray, in array functions and operators,
    and as a kernel's pointer argument (the emulator too, so such a fault fails on the CPU)."""
    host = np.arange(96, dtype=np.float32).reshape(2, 48)
    device = cp.asarray(host)
    kernel = inverted_order._KERNELS.function("inverted_order")
    for refused in (lambda: cp.ascontiguousarray(host), lambda: launch.device_array(host, np.float32),
                    lambda: device + host, lambda: cp.concatenate([device, host]),
                    lambda: kernel((1,), (32,), (host, device, np.int64(96), np.int64(48)))):
        with pytest.raises(TypeError):
            refused()
    on_device = launch.to_device(host, np.float64)
    assert launch.is_device_array(on_device) and on_device.dtype == np.float64
    np.testing.assert_array_equal(device_result(on_device), host)
    np.testing.assert_array_equal(device_result(launch.device_array(device[:, ::2], np.float32)), host[:, ::2])


@pytest.mark.parametrize("dtype, tol", ((np.float32, 1e-5), (np.float64, 1e-10)))
def test_online_modes_on_the_device_path(cp, monkeypatch, dtype, tol):
    """The online correction with the model on the device (the kernels of online_first_step,
    online_adam and online_released, and the array code between them) against the per-frame float64
    definition: independent mode (2 passes: the first-step kernels; 3 passes: the row engine),
    paper mode and both released engines."""
    monkeypatch.setattr(online_released, "BLOCK_SIZE", 64)
    monkeypatch.setenv("HPM_BACKEND", "cupy")
    weights = random_weights(48, 40, seed=5)
    w = weights.as_dict()
    model = OnlineModel(weights, dtype)
    assert launch.is_device_array(model.W0)
    rng = np.random.default_rng(6)
    x, q = rng.random((37, 48)).astype(np.float32), rng.random((37, 32)).astype(np.float32)
    range_mm = np.full(48, 1000.0)

    def close(got, want):
        assert got.dtype == dtype and np.abs(got - want).max() <= tol * np.abs(want).max()

    close(refine_independent(model, x, q, chunk_frames=16), refine_reference(w, x, q, "independent"))
    close(refine_independent(model, x, q, OnlineConfig(iterations=3), chunk_frames=16),
          refine_reference(w, x, q, "independent", iterations=3))
    paper = refine_paper(model, x, q, range_mm, OnlineConfig(max_iterations=4), chunk_frames=16)
    expected, used, kept = refine_reference(w, x, q, "paper", range_mm=range_mm, max_iterations=4)
    close(paper.refined, expected)
    np.testing.assert_array_equal(paper.iterations, used)
    np.testing.assert_array_equal(paper.kept_coarse, kept)
    sequences = [(x[:30], q[:30]), (x[30:], q[30:])]
    expected = [refine_reference(w, xs, qs, "released") for xs, qs in sequences]
    for engine in ("kernel", "rows"):
        for got, want in zip(refine_released(model, *zip(*sequences), engine=engine), expected):
            close(got, want)


def test_grid_stride_loops_cover_more_elements_than_threads(cp, monkeypatch):
    monkeypatch.setattr(launch, "MAX_BLOCKS", 1)
    poses = random_array((300, 48), 0)
    np.testing.assert_allclose(device_result(bones.bone_vectors(cp.asarray(poses), 3)),
                               bones.bone_vectors_reference(poses, 3), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(device_result(joint_mask.joint_mask((300, 48), 3, 0.5, 1, 2, xp=cp)),
                                  joint_mask.joint_mask_reference((300, 48), 3, 0.5, 1, 2))


def test_empty_batches(cp):
    empty = cp.asarray(np.zeros((0, 48), np.float32))
    assert device_result(bones.bone_vectors(empty, 3)).shape == (0, 48)
    assert device_result(mpjpe.mpjpe(empty, empty)).shape == (0,)
    assert device_result(inverted_order.inverted_order(empty)).shape == (0, 48)


def test_mixed_host_and_device_arrays_are_refused(cp):
    with pytest.raises(TypeError):
        mpjpe.mpjpe(cp.asarray(np.zeros((2, 48), np.float32)), np.zeros((2, 48), np.float32))


def test_bench_fills_the_cupy_columns(cp, capsys, monkeypatch):
    bench_kernels = load_tool("bench_kernels")
    monkeypatch.setenv("HPM_BACKEND", "cupy")
    bench_kernels.main(["--batch", "3", "--batch", "300", "--min-time", "0.001"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if "frames" in line]
    assert len(rows) == 2 * 8
    # times in microseconds, then ratios (printed to 0.01: 0.00 where the emulation on a busy CPU is
    # over 200x slower than NumPy)
    assert all(float(row[i]) > 0 for row in rows for i in (-5, -4, -2))
    assert all(float(row[i]) >= 0 for row in rows for i in (-3, -1))


def test_bench_online_times_both_released_engines_on_the_device(cp, capsys, monkeypatch):
    monkeypatch.setattr(online_released, "BLOCK_SIZE", 64)
    monkeypatch.setenv("HPM_BACKEND", "cupy")
    load_tool("bench_online").main(["--width", "32", "--frames", "40", "--loop-frames", "5", "--released-frames", "30",
                       "--paper-frames", "8", "--torch-frames", "10", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "released, 15 actions, rows engine" in out and "released, 15 actions, kernel engine" in out
    assert "peak device memory: " in out and "(NumPy)" not in out


def test_bench_runs_on_numpy_alone(capsys, monkeypatch):
    monkeypatch.setenv("HPM_BACKEND", "numpy")
    load_tool("bench_kernels").main(["--batch", "5", "--min-time", "0.001"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if "frames" in line]
    assert len(rows) == 8 and all(row[-4:] == ["-"] * 4 and float(row[-5]) > 0 for row in rows)
