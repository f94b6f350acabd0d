#!/usr/bin/env python3
"""Times the online correction side by side in one run: a per-frame float32 NumPy loop (the way the
released script ran: one frame at a time, full gradients and Adam on the weights) against the
batched modes of online on the current backend, and, where PyTorch with CUDA is installed
(the GPU machine), a torch.func vmap version of independent mode, checked against ours. Prints
frames/s and ratios to the loop. On a GPU the device memory is capped (--device-memory-gb), so a run
over many frames shows that its chunks fit."""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from cuda_kernels import backend  # noqa: E402
from online import OnlineConfig, OnlineModel, refine_independent, refine_paper, refine_released  # noqa: E402
from online.model import loss_mask  # noqa: E402
from online.weights import KEYS, load_weights, random_weights  # noqa: E402
from pose_formats.normalization import MaxMin  # noqa: E402
from pose_formats.skeleton import ACTIONS, bone_matrix  # noqa: E402


def per_frame_loop(weights, x, q, config, mode):
    """One frame at a time in float32 with full weight gradients and Adam on the weights.

    released: θ reset per frame, Adam's m, v and step count carried over, every pass updates;
    independent: a fresh Adam per frame and no update after the reported pass."""
    w = {k: getattr(weights, k) for k in KEYS}
    f32 = np.float32
    scale = f32(config.scale_for(mode))
    mask = loss_mask(config.mask_joint).astype(f32)
    bones = bone_matrix(2).astype(f32)
    trainable = ("W0", "b0", "W00", "b00")
    m = {k: np.zeros_like(w[k]) for k in trainable}
    v = {k: np.zeros_like(w[k]) for k in trainable}
    t = 0
    refined = np.empty_like(x)
    for n in range(len(x)):
        theta = {k: w[k].copy() for k in trainable}
        if mode == "independent":
            for k in trainable:
                m[k].fill(0)
                v[k].fill(0)
            t = 0
        for it in range(config.iterations):
            z0 = x[n] @ theta["W0"] + theta["b0"]
            h0 = np.maximum(z0, 0)
            r = h0 @ theta["W00"] + theta["b00"]
            a1 = scale * (r @ w["W1"] + w["b1"])
            h1 = np.maximum(a1, 0)
            a2 = scale * (h1 @ w["W2"] + w["b2"])
            h2 = np.maximum(a2, 0)
            a3 = scale * (h2 @ w["W3"] + w["b3"])
            h3 = np.maximum(a3, 0)
            p = (h1 + h3) @ w["W4"] + w["b4"]
            kp, kq = mask * p, mask * q[n]
            u = kp @ bones
            grad_p = f32(2 / 32) * mask * (kp - kq + ((np.abs(u) - np.abs(kq @ bones)) * np.sign(u)) @ bones.T)
            grad_h = w["W4"] @ grad_p
            grad_h2 = scale * (w["W3"] @ (grad_h * (a3 > 0)))
            grad_h1 = grad_h + scale * (w["W2"] @ (grad_h2 * (a2 > 0)))
            grad_r = scale * (w["W1"] @ (grad_h1 * (a1 > 0)))
            grad_z0 = (theta["W00"] @ grad_r) * (z0 > 0)
            if it == config.iterations - 1:
                refined[n] = r
                if mode == "independent":
                    break
            grads = {"W0": np.outer(x[n], grad_z0), "b0": grad_z0, "W00": np.outer(h0, grad_r), "b00": grad_r}
            t += 1
            lr_t = f32(config.adam_lr(t))
            for k in trainable:
                m[k] *= f32(config.beta1)
                m[k] += f32(1 - config.beta1) * grads[k]
                v[k] *= f32(config.beta2)
                v[k] += f32(1 - config.beta2) * grads[k] * grads[k]
                theta[k] -= lr_t * m[k] / (np.sqrt(v[k]) + f32(config.eps))
    return refined


def torch_vmap_independent(weights, config, device="cuda"):
    """Independent mode as torch.func.vmap over frames of grad + one TF-1 Adam step + forward, in
    float32 (TF32 off). Returns refine(x, q) -> (N, 48) host array, or None where torch or the
    device is missing."""
    try:
        import torch
        from torch.func import grad, vmap
    except ImportError:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    w = {k: torch.as_tensor(np.asarray(getattr(weights, k), np.float32), device=device) for k in KEYS}
    mask = torch.as_tensor(loss_mask(config.mask_joint), dtype=torch.float32, device=device)
    bones = torch.as_tensor(bone_matrix(2), dtype=torch.float32, device=device)
    scale = config.scale_for("independent")
    b1, b2, eps, lr1 = config.beta1, config.beta2, config.eps, config.adam_lr(1)

    def refined(theta, x):
        w0, b0, w00, b00 = theta
        return torch.relu(x @ w0 + b0) @ w00 + b00

    def loss(theta, x, q):
        r = refined(theta, x)
        h1 = torch.relu(scale * (r @ w["W1"] + w["b1"]))
        h2 = torch.relu(scale * (h1 @ w["W2"] + w["b2"]))
        h3 = torch.relu(scale * (h2 @ w["W3"] + w["b3"]))
        kp, kq = mask * ((h1 + h3) @ w["W4"] + w["b4"]), mask * q
        return ((kp - kq) ** 2).mean() + ((torch.abs(kp @ bones) - torch.abs(kq @ bones)) ** 2).mean()

    def one_frame(x, q):
        theta = (w["W0"], w["b0"], w["W00"], w["b00"])
        g = grad(loss)(theta, x, q)
        # TF-1 Adam's first step: m = (1−β1)·g, v = (1−β2)·g², θ ← θ − lr_1·m/(√v + ε)
        theta1 = tuple(t - lr1 * ((1 - b1) * gi) / (torch.sqrt((1 - b2) * gi * gi) + eps)
                       for t, gi in zip(theta, g))
        return refined(theta1, x)

    batched = vmap(one_frame)

    def refine(x, q, chunk=2048):  # per-frame weight gradients: ~1.6 MB of them per frame in flight
        out = np.empty_like(x)
        for s in range(0, len(x), chunk):
            xs = torch.as_tensor(x[s:s + chunk], device=device)
            out[s:s + chunk] = batched(xs, torch.as_tensor(q[s:s + chunk], device=device)).cpu().numpy()
        return out
    return refine


def timed(fn, repeats):
    """The best of `repeats` wall times: other work on the machine only ever adds time."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", help="converter .npz (default: random weights at trained-network scales)")
    p.add_argument("--width", type=int, default=1024, help="hidden width of the random weights (default 1024)")
    p.add_argument("--frames", type=int, default=4096, help="frames for the independent mode (default 4096)")
    p.add_argument("--loop-frames", type=int, default=150, help="frames for the per-frame loop (default 150)")
    p.add_argument("--released-frames", type=int, default=600,
                   help="frames for the batched released mode, split over the 15 actions (default 600)")
    p.add_argument("--paper-frames", type=int, default=256, help="frames for the paper mode (default 256)")
    p.add_argument("--torch-frames", type=int, default=20000,
                   help="frames for the torch.func vmap baseline, where PyTorch with CUDA is installed "
                        "(default 20000)")
    p.add_argument("--memory-budget-mb", type=float,
                   help="memory one chunk of independent or paper-mode frames may use (default: the backend's, "
                        "256 MB on the CPU, up to 2 GB on a GPU)")
    p.add_argument("--device-memory-gb", type=float, default=8,
                   help="cap on the GPU memory pool for the whole run (default 8; no effect on NumPy)")
    p.add_argument("--float64", action="store_true", help="also time the batched modes in float64")
    p.add_argument("--repeats", type=int, default=3, help="runs of each, the best is reported (default 3)")
    args = p.parse_args(argv)

    weights = load_weights(args.weights) if args.weights else random_weights(args.width)
    rng = np.random.default_rng(1)
    n = max(args.frames, args.loop_frames, args.released_frames, args.paper_frames, args.torch_frames)
    x = rng.random((n, 48), dtype=np.float32)
    q = rng.random((n, 32), dtype=np.float32)
    config = OnlineConfig()
    backend.limit_device_memory(int(args.device_memory_gb * 2**30))
    print(f"backend {backend.name()} ({backend.device_name()}), refine width {weights.refine_width}, "
          f"projector width {weights.projector_width}, {os.cpu_count()} CPU(s)")

    rows = [(f"per-frame loop, {mode} (float32)", args.loop_frames,
             timed(lambda: per_frame_loop(weights, x[:args.loop_frames], q[:args.loop_frames], config, mode),
                   args.repeats))
            for mode in ("released", "independent")]
    loop_fps = {mode: frames / seconds for (_, frames, seconds), mode in zip(rows, ("released", "independent"))}
    budget = None if args.memory_budget_mb is None else int(args.memory_budget_mb * 2**20)
    for dtype in (np.float32, np.float64) if args.float64 else (np.float32,):
        model = OnlineModel(weights, dtype)
        tag = np.dtype(dtype).name
        refine_independent(model, x[:64], q[:64], config)  # warm-up: first-call costs (CuPy compiles here)
        split = np.array_split(np.arange(args.released_frames), len(ACTIONS))
        for engine in ("rows", "kernel") if backend.name() == "cupy" else ("rows",):
            refine_released(model, [x[:2]], [q[:2]], config, engine=engine)  # warm-up (compiles the kernel)
            rows.append((f"released, 15 actions, {engine} engine ({tag})", args.released_frames,
                         timed(lambda: refine_released(model, [x[s] for s in split], [q[s] for s in split], config,
                                                       engine=engine), args.repeats)))
        rows.append((f"independent ({tag})", args.frames,
                     timed(lambda: refine_independent(model, x[:args.frames], q[:args.frames], config,
                                                      memory_budget=budget), args.repeats)))
        rows.append((f"paper ({tag})", args.paper_frames,
                     timed(lambda: refine_paper(model, x[:args.paper_frames], q[:args.paper_frames],
                                                MaxMin().range, config, memory_budget=budget), args.repeats)))
    torch_refine = torch_vmap_independent(weights, config)
    if torch_refine is None:
        print("torch.func vmap baseline: not run (needs PyTorch with CUDA)")
    else:
        frames = args.torch_frames
        ours = refine_independent(OnlineModel(weights, np.float32), x[:frames], q[:frames], config)
        theirs = torch_refine(x[:frames], q[:frames])
        difference = np.abs(theirs - ours).max() / np.abs(ours).max()
        print(f"torch.func vmap baseline: largest difference to ours {difference:.1e} (relative to the largest |pose|)")
        rows.append(("independent, torch.func vmap (float32)", frames,
                     timed(lambda: torch_refine(x[:frames], q[:frames]), args.repeats)))
    print(f"{'':44s} {'frames':>7s} {'seconds':>8s} {'frames/s':>9s} {'/released loop':>15s} "
          f"{'/independent loop':>18s}")
    for name, frames, seconds in rows:
        fps = frames / seconds
        print(f"{name:44s} {frames:7d} {seconds:8.2f} {fps:9.0f} {fps / loop_fps['released']:15.2f} "
              f"{fps / loop_fps['independent']:18.2f}")
    peak = backend.peak_device_memory()
    print("peak device memory: " + ("- (NumPy)" if peak is None else f"{peak / 2**30:.2f} GiB"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
