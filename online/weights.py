"""The projector weights the converter exports (SPEC section 8) and the online stage trains from.

Twelve arrays, input × output layout, float32: W0 b0 (change_tmp), W00 b00 (change), W1 b1
(project_1), W2 b2 (project_2), W3 b3 (project_3), W4 b4 (project_2d). The default file is a
named `.npz` read with `allow_pickle=False`; the released format, a pickled Python list of the twelve
arrays in that order, runs arbitrary code when loaded and is read only on explicit request.
"""
import dataclasses
import io
import math
import pickle
import zipfile

import numpy as np

from pose_formats.atomic import atomic_write
from pose_formats.input_files import read_bytes
from pose_formats.skeleton import DIM_2D, DIM_3D

KEYS = ("W0", "b0", "W00", "b00", "W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")
LAYERS = {"W0": "change_tmp", "W00": "change", "W1": "project_1", "W2": "project_2",
          "W3": "project_3", "W4": "project_2d"}
_ZIP_MAGIC = b"PK\x03\x04"


@dataclasses.dataclass(frozen=True)
class ProjectorWeights:
    """The refine branch (trainable in the online stage) and the frozen 3D-to-2D projector."""
    W0: np.ndarray
    b0: np.ndarray
    W00: np.ndarray
    b00: np.ndarray
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    W3: np.ndarray
    b3: np.ndarray
    W4: np.ndarray
    b4: np.ndarray

    @property
    def refine_width(self):
        return self.W0.shape[1]

    @property
    def projector_width(self):
        return self.W1.shape[1]

    def as_dict(self):
        return {k: getattr(self, k) for k in KEYS}


def _expected_shapes(refine_width, projector_width):
    h, g = refine_width, projector_width
    return {"W0": (DIM_3D, h), "b0": (h,), "W00": (h, DIM_3D), "b00": (DIM_3D,),
            "W1": (DIM_3D, g), "b1": (g,), "W2": (g, g), "b2": (g,), "W3": (g, g), "b3": (g,),
            "W4": (g, DIM_2D), "b4": (DIM_2D,)}


def validate(arrays, source):
    """ProjectorWeights from a mapping key -> array; ValueError naming `source` and the bad key.

    The hidden widths are read from W0 (refine branch) and W1 (projector), so reduced demo models
    load as well as the 1024-wide released ones; every other shape is checked against them.
    """
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{source}: missing key(s) {', '.join(missing)} (expected exactly {' '.join(KEYS)})")
    extra = sorted(set(arrays) - set(KEYS))
    if extra:
        raise ValueError(f"{source}: unexpected key(s) {', '.join(extra)} (expected exactly {' '.join(KEYS)})")
    checked = {}
    for k in KEYS:
        a = np.asarray(arrays[k])
        if a.dtype.kind != "f":
            raise ValueError(f"{source}: key {k}: dtype {a.dtype} is not floating point")
        checked[k] = a
    for k, width_of in (("W0", "refine"), ("W1", "projector")):
        if checked[k].ndim != 2 or checked[k].shape[0] != DIM_3D or checked[k].shape[1] < 1:
            raise ValueError(f"{source}: key {k} ({LAYERS[k]}): shape {checked[k].shape}, expected "
                             f"({DIM_3D}, {width_of} width)")
    expected = _expected_shapes(checked["W0"].shape[1], checked["W1"].shape[1])
    for k in KEYS:
        if checked[k].shape != expected[k]:
            layer = LAYERS.get(k, LAYERS.get("W" + k[1:], ""))
            raise ValueError(f"{source}: key {k} ({layer}): shape {checked[k].shape}, expected {expected[k]} "
                             f"(widths from W0 {expected['W0']} and W1 {expected['W1']})")
        if not np.all(np.isfinite(checked[k])):
            raise ValueError(f"{source}: key {k}: non-finite value(s)")
    return ProjectorWeights(**{k: np.ascontiguousarray(checked[k], dtype=np.float32) for k in KEYS})


def load_weights(path, legacy_pickle=False):
    """Load converter weights: a `.npz` (default), or with `legacy_pickle=True` the released pickle.

    A pickle can execute code when loaded: pass `legacy_pickle=True` only for files you trust.
    """
    data = read_bytes(path)
    if data.startswith(_ZIP_MAGIC):
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        # ValueError: an object array inside needs pickle (refused); the others: a damaged archive
        except (ValueError, zipfile.BadZipFile, EOFError, OSError) as e:
            raise ValueError(f"{path}: unreadable .npz weights ({type(e).__name__}: {e})") from None
        return validate(arrays, path)
    if not legacy_pickle:
        raise ValueError(f"{path}: not an .npz file; if it is a released-format pickle you trust, "
                         "load it with legacy_pickle=True (--legacy-pickle)")
    try:
        obj = pickle.loads(data, encoding="latin1")  # latin1: the released files were written by Python 2
    except Exception as e:
        raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, (list, tuple)) or len(obj) != len(KEYS):
        raise ValueError(f"{path}: legacy pickle must hold a list of {len(KEYS)} arrays "
                         f"({' '.join(KEYS)}), found {type(obj).__name__}"
                         + (f" of length {len(obj)}" if isinstance(obj, (list, tuple)) else ""))
    return validate(dict(zip(KEYS, obj)), path)


def save_weights(path, weights, legacy_pickle=False):
    """Write weights atomically as `.npz` (keys KEYS, float32), or as the released list pickle."""
    if isinstance(weights, ProjectorWeights):
        weights = weights.as_dict()
    checked = validate(weights, path)
    with atomic_write(path, "wb") as f:
        if legacy_pickle:
            pickle.dump([getattr(checked, k) for k in KEYS], f, protocol=2)
        else:
            np.savez(f, **checked.as_dict())
    return checked


def random_weights(refine_width=1024, projector_width=None, seed=0):
    """Random weights at the scales of a trained network (those of the shipped test vectors: inputs
    and outputs of O(0.1–1)), for tests, benchmarks and demos; the widths may be reduced."""
    h = refine_width
    g = projector_width or refine_width
    rng = np.random.default_rng(seed)
    spread = {"W0": 0.2, "W00": 0.14 / math.sqrt(h), "W1": 0.2, "W2": 1.4 / math.sqrt(g),
              "W3": 1.4 / math.sqrt(g), "W4": 1.4 / math.sqrt(g)}
    return validate({k: rng.normal(0.0, spread.get(k, 0.01), shape).astype(np.float32)
                     for k, shape in _expected_shapes(h, g).items()}, "random weights")
