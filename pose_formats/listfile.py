"""List files (SPEC section 3): one frame per line, `<image path relative to root_folder> <v1>,...,<vK>`.

K is 81 for 2D+3D lists (32 2D + 48 3D + clip marker) and 33 for 2D-only (MPII-style) lists
(32 2D + clip marker). The last value is the LSTM clip marker: 0 on a clip's first frame, 1 elsewhere.
"""
import math
import os

import numpy as np

from .atomic import atomic_write
from .input_files import text_lines

LABEL_DIM_2D3D = 81
LABEL_DIM_2D = 33

# 9 significant digits round-trip every float32 (FLT_DECIMAL_DIG); 8 do not always.
_VALUE_FORMAT = "%.9g"


def read_list_file(path, label_dim, root_folder=None, clip_marker=True):
    """Return (image_paths: list[str], labels: float32 array (N, label_dim)).

    Every bad line raises ValueError naming `path:line:` and the fault: a missing path or value field,
    the wrong number of values, a non-numeric or non-finite value, a clip marker other than 0/1
    (when `clip_marker`), or, when `root_folder` is given, an image that does not exist under it.
    Blank lines are skipped; a file without any frame is an error.
    """
    image_paths = []
    rows = []
    for lineno, line in enumerate(text_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}:"
        image_path, values = _parse_line(line, label_dim, where)
        if clip_marker and values[-1] not in (0.0, 1.0):
            raise ValueError(f"{where} clip marker (value {label_dim}) must be 0 or 1, found {values[-1]:g}")
        if root_folder is not None and not os.path.isfile(os.path.join(root_folder, image_path)):
            raise ValueError(f"{where} image {image_path!r} not found under {root_folder!r}")
        image_paths.append(image_path)
        rows.append(values)
    if not rows:
        raise ValueError(f"{path}: empty list file (no frames)")
    return image_paths, np.array(rows, dtype=np.float32)


def _parse_line(line, label_dim, where):
    fields = line.split()
    if len(fields) < 2:
        only = fields[0]
        if "," in only or _is_number(only):
            raise ValueError(f"{where} missing image path before the values")
        raise ValueError(f"{where} missing values after image path {only!r}")
    if len(fields) > 2:
        raise ValueError(f"{where} expected '<image path> <v1>,...,<v{label_dim}>' (2 fields separated by "
                         f"whitespace), found {len(fields)} fields")
    image_path, text = fields
    texts = text.split(",")
    if len(texts) != label_dim:
        raise ValueError(f"{where} expected {label_dim} values, found {len(texts)}")
    return image_path, [finite_float(t, f"{where} value {index}") for index, t in enumerate(texts, 1)]


def finite_float(text, what):
    """float(text), or a ValueError "<what> is not a number / not finite: '<text>'"."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} is not finite: {text!r}")
    return value


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_list_file(path, image_paths, labels, clip_marker=True):
    """Write a list file atomically (temporary file, then rename).

    `labels` (N, K) are written as float32 with 9 significant digits, so reading gives back the same
    float32 values; with `clip_marker` the last column must be 0/1 and is written as an integer.
    """
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim != 2:
        raise ValueError(f"{path}: labels must be a 2-D array (frames, values), got shape {labels.shape}")
    if len(image_paths) != labels.shape[0]:
        raise ValueError(f"{path}: {len(image_paths)} image paths but {labels.shape[0]} label rows")
    if labels.shape[0] == 0:
        raise ValueError(f"{path}: refusing to write an empty list file")
    if not np.all(np.isfinite(labels)):
        row = int(np.argwhere(~np.isfinite(labels))[0, 0])
        raise ValueError(f"{path}: non-finite label in row {row + 1} ({image_paths[row]!r})")
    for row, image_path in enumerate(image_paths):
        if not image_path or any(c.isspace() for c in image_path):
            raise ValueError(f"{path}: image path of row {row + 1} is empty or contains whitespace: {image_path!r}")
    if clip_marker:
        markers = labels[:, -1]
        if not np.all((markers == 0) | (markers == 1)):
            row = int(np.argmax((markers != 0) & (markers != 1)))
            raise ValueError(f"{path}: clip marker of row {row + 1} must be 0 or 1, got {markers[row]:g}")
    with atomic_write(path) as f:
        for image_path, row in zip(image_paths, labels):
            if clip_marker:
                values = [_VALUE_FORMAT % v for v in row[:-1].tolist()] + ["%d" % row[-1]]
            else:
                values = [_VALUE_FORMAT % v for v in row.tolist()]
            f.write(f"{image_path} {','.join(values)}\n")
