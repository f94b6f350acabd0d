"""Plain per-frame float64 NumPy loops of the three online modes (SPEC section 9), for tests only.

Written from the definition, sharing no code with the online package: θ is updated in place the way
TensorFlow-1's Adam does, one frame and one iteration at a time.
"""
import math

import numpy as np

from pose_formats.skeleton import PARENTS

RELEASED_SCALE = 1.0 / math.sqrt(1.0 + 1e-3)
TRAINABLE = ("W0", "b0", "W00", "b00")


def _bones(z):
    """B(z)_j = z_parent(j) − z_j per 2D coordinate (from PARENTS itself, on purpose: an independent
    reference to skeleton.bone_matrix)."""
    j = z.reshape(16, 2)
    return (j[PARENTS] - j).reshape(32)


def _bones_transpose(g):
    """The adjoint of _bones: scatter each bone's gradient to its parent (+) and child (−)."""
    g = g.reshape(16, 2)
    out = -g.copy()
    for child, parent in enumerate(PARENTS):
        out[parent] += g[child]
    return out.reshape(32)


def _gradients(theta, frozen, x, q, scale, mask_joint):
    """r(x) and dL/dθ for one frame."""
    k = np.ones(32)
    if mask_joint is not None:
        k[2 * mask_joint:2 * mask_joint + 2] = 0.0
    z0 = x @ theta["W0"] + theta["b0"]
    h0 = np.maximum(z0, 0.0)
    r = h0 @ theta["W00"] + theta["b00"]
    a1 = scale * (r @ frozen["W1"] + frozen["b1"])
    h1 = np.maximum(a1, 0.0)
    a2 = scale * (h1 @ frozen["W2"] + frozen["b2"])
    h2 = np.maximum(a2, 0.0)
    a3 = scale * (h2 @ frozen["W3"] + frozen["b3"])
    h3 = np.maximum(a3, 0.0)
    p = (h1 + h3) @ frozen["W4"] + frozen["b4"]
    u, v = _bones(k * p), _bones(k * q)
    # L = mean((kp − kq)²) + mean((|u| − |v|)²), both means over 32 entries
    d_p = 2.0 / 32 * k * (k * p - k * q)
    d_u = 2.0 / 32 * (np.abs(u) - np.abs(v)) * np.sign(u)
    d_p += k * _bones_transpose(d_u)
    d_sum = d_p @ frozen["W4"].T
    d_a3 = d_sum * (a3 > 0)
    d_h2 = scale * (d_a3 @ frozen["W3"].T)
    d_a2 = d_h2 * (a2 > 0)
    d_h1 = d_sum + scale * (d_a2 @ frozen["W2"].T)
    d_a1 = d_h1 * (a1 > 0)
    d_r = scale * (d_a1 @ frozen["W1"].T)
    d_z0 = (d_r @ theta["W00"].T) * (z0 > 0)
    grads = {"W0": np.outer(x, d_z0), "b0": d_z0, "W00": np.outer(h0, d_r), "b00": d_r}
    return r, grads


class _Adam:
    """TensorFlow-1 Adam on the four trainable tensors."""

    def __init__(self, lr, beta1, beta2, eps):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def step(self, theta, grads):
        if self.m is None:
            self.m = {n: np.zeros_like(theta[n]) for n in TRAINABLE}
            self.v = {n: np.zeros_like(theta[n]) for n in TRAINABLE}
        self.t += 1
        lr_t = self.lr * math.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for n in TRAINABLE:
            self.m[n] = self.beta1 * self.m[n] + (1 - self.beta1) * grads[n]
            self.v[n] = self.beta2 * self.v[n] + (1 - self.beta2) * grads[n] ** 2
            theta[n] = theta[n] - lr_t * self.m[n] / (np.sqrt(self.v[n]) + self.eps)


def _split(weights):
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    return {n: w[n] for n in TRAINABLE}, {n: w[n] for n in w if n not in TRAINABLE}


def _robust_mean_mm(delta, range_mm, joints):
    d = (delta * range_mm).reshape(16, 3)[list(joints)]
    return float(np.mean(np.sqrt((d ** 2).sum(axis=1))))


def refine_reference(weights, x, q, mode, lr=1.5e-4, beta1=0.9, beta2=0.999, eps=1e-8, iterations=2,
                     mask_joint=7, scale=None, range_mm=None, converge_mm=5.0, fallback_mm=20.0,
                     max_iterations=10, robust_joints=(0, 1, 4, 10, 13)):
    """Refined poses (N, 48) of one sequence; for paper mode also (iterations used, kept coarse)."""
    theta0, frozen = _split(weights)
    x = np.asarray(x, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if scale is None:
        scale = RELEASED_SCALE if mode == "released" else 1.0
    refined, used, kept = [], [], []
    adam = _Adam(lr, beta1, beta2, eps)  # released: one optimizer for the whole sequence
    for xi, qi in zip(x, q):
        theta = {n: a.copy() for n, a in theta0.items()}
        if mode != "released":
            adam = _Adam(lr, beta1, beta2, eps)
        if mode == "paper":
            previous = None
            for it in range(1, max_iterations + 1):
                r, grads = _gradients(theta, frozen, xi, qi, scale, mask_joint)
                if previous is not None and _robust_mean_mm(r - previous, range_mm, robust_joints) < converge_mm:
                    break
                if it == max_iterations:
                    break
                adam.step(theta, grads)
                previous = r
            far = _robust_mean_mm(r - xi, range_mm, robust_joints) > fallback_mm
            refined.append(xi.copy() if far else r)
            used.append(it)
            kept.append(far)
            continue
        for it in range(1, iterations + 1):
            r, grads = _gradients(theta, frozen, xi, qi, scale, mask_joint)
            if it == iterations:
                refined.append(r)
                if mode == "independent":
                    break  # the last update changes nothing reported
            adam.step(theta, grads)
    if mode == "paper":
        return np.array(refined), np.array(used), np.array(kept)
    return np.array(refined)
