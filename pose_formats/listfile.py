"""List files (SPEC section 3): one frame per line, `<image path relative to root_folder> <v1>,...,<vK>`.

K is 81 for 2D+3D lists (32 2D + 48 3D + clip marker) and 33 for 2D-only (MPII-style) lists
(32 2D + clip marker). The last value is the LSTM clip marker: 0 on a clip's first frame, 1 elsewhere.
The values follow the line's last space, as the released C++ reader split it, so image paths may
contain spaces.

The released training list has about 300,000 lines (24 million values, 300 MB): it is parsed by
NumPy's C text reader (`np.loadtxt`), in one part per core, each part after the first in a forked
process (the reader holds the GIL, so threads would not run in parallel). A file that this fast path
does not accept whole (any bad line, but also non-ASCII text, tabs, CR line ends, padded fields or a
comma in a path) is read again line by line, which names the first bad line or reads the unusual
layout.
"""
import concurrent.futures
import dataclasses
import io
import math
import multiprocessing
import os

import numpy as np

from .atomic import atomic_write
from .input_files import check_file, text_lines

LABEL_DIM_2D3D = 81
LABEL_DIM_2D = 33
# fitted_refine's pose pairs: a training frame's coarse 3D pose (48), its ground-truth 3D pose (48) and
# clip marker, written by tools/coarse_poses.py into <models>/LIST_COARSE_POSES.
LABEL_DIM_POSE_PAIRS = 97
LIST_COARSE_POSES = "refine/coarse_train_poses.txt"

# 9 significant digits round-trip every float32 (FLT_DECIMAL_DIG); 8 do not always.
_VALUE_FORMAT = "%.9g"
# A file is cut into parts of at least this size (one per core at most): below it a forked
# process costs more than it saves.
_PART_BYTES = 1 << 24

# The released data set's list files (under data/h36m/ or the demo's data/synthetic/) and its meta file.
LIST_TRAIN = "16skel_train_2d3d_clip.txt"
LIST_TEST = "16skel_test_2d3d_clip.txt"
LIST_TRAIN_P3 = "16skel_train_2d3d_p3_clip.txt"
LIST_TEST_P3 = "16skel_test_2d3d_p3_clip.txt"
LIST_MPII = "mpii_2d_train.txt"
META = "meta.json"


@dataclasses.dataclass
class ListFile:
    """A parsed list file: image paths as written, labels (N, K) float32 and each frame's line number."""
    source: str
    image_paths: list
    labels: np.ndarray
    line_numbers: np.ndarray

    def image_error(self, index, root_folder):
        """The message for frame `index` whose image cannot be read under `root_folder`."""
        where = f"{self.source}:{self.line_numbers[index]}:"
        image_path = self.image_paths[index]
        if not os.path.isfile(os.path.join(root_folder, image_path)):
            return f"{where} image {image_path!r} not found under {root_folder!r}"
        return f"{where} cannot read image {image_path!r} under {root_folder!r}"


def read_list_file(path, label_dim, root_folder=None, clip_marker=True):
    """Return (image_paths: list[str], labels: float32 array (N, label_dim)).

    Every bad line raises ValueError naming `path:line:` and the fault: a missing path or value field,
    the wrong number of values, a non-numeric or non-finite value, a clip marker other than 0/1
    (when `clip_marker`), or, when `root_folder` is given, an image that does not exist under it
    (checked here for every line; the data layers check lazily, see `parse_list_file`).
    Blank lines are skipped; a file without any frame is an error.
    """
    listing = parse_list_file(path, label_dim, clip_marker)
    if root_folder is not None:
        for index, image_path in enumerate(listing.image_paths):
            if not os.path.isfile(os.path.join(root_folder, image_path)):
                raise ValueError(listing.image_error(index, root_folder))
    return listing.image_paths, listing.labels


def parse_list_file(path, label_dim, clip_marker=True):
    """The list file as a ListFile, with every line checked but no image looked at: a reader names a
    missing image with `ListFile.image_error` when it first reads it."""
    check_file(path)
    parsed = _parse_fast(path, label_dim, _part_count(os.path.getsize(path)))
    if parsed is None:
        parsed = _parse_lines(path, label_dim)
    image_paths, labels, line_numbers = parsed
    if not image_paths:
        raise ValueError(f"{path}: empty list file (no frames)")
    if clip_marker:
        bad = np.flatnonzero((labels[:, -1] != 0) & (labels[:, -1] != 1))
        if len(bad):
            raise ValueError(f"{path}:{line_numbers[bad[0]]}: clip marker (value {label_dim}) must be 0 or 1, "
                             f"found {labels[bad[0], -1]:g}")
    return ListFile(path, image_paths, labels, line_numbers)


def _part_count(size):
    """Parts to read a file of `size` bytes in: one per core this process may run on, each at least
    _PART_BYTES (so `taskset` to one core reads in one part, in this process)."""
    return max(1, min(len(os.sched_getaffinity(0)), size // _PART_BYTES))


def _parse_fast(path, label_dim, parts):
    """(paths, float32 labels, line numbers) for a file of plain `<path> <v1>,...` lines (blank lines
    allowed), read in `parts` parts at once, or None when any part is not of that form."""
    bounds = _part_bounds(path, parts)
    jobs = [(path, start, end, label_dim) for start, end in zip(bounds[:-1], bounds[1:])]
    if len(jobs) == 1:
        results = [_parse_part(*jobs[0])]
    else:
        # Forked, not spawned: the child starts at once, without a new interpreter and imports, and
        # spawning needs `sys.executable` to be Python, which in a Caffe binary embedding it need not be.
        fork = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(len(jobs) - 1, mp_context=fork) as pool:
            others = [pool.submit(_parse_part, *job) for job in jobs[1:]]
            results = [_parse_part(*jobs[0])] + [other.result() for other in others]
    if any(result is None for result in results):
        return None
    paths, labels, numbers, lines_before = [], [], [], 0
    for part_paths, part_labels, part_numbers, part_lines in results:
        paths += part_paths
        labels.append(part_labels)
        numbers.append(part_numbers + lines_before)
        lines_before += part_lines
    return paths, np.concatenate(labels), np.concatenate(numbers)


def _part_bounds(path, parts):
    """Byte offsets that cut the file into about `parts` equal parts, each cut at a line start."""
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as f:
        for part in range(1, parts):
            f.seek(size * part // parts)
            f.readline()
            if bounds[-1] < f.tell() < size:
                bounds.append(f.tell())
    return bounds + [size]


def _parse_part(path, start, end, label_dim):
    """(paths, float32 labels, line numbers counted from the part's start, number of lines) for the
    bytes start:end of the file, or None when they are not all plain lines."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    if not data or data.isspace():   # no frame (np.loadtxt would warn): the line reader tells
        return None
    image_paths = []

    def path_and_first_value(field):   # the first comma-separated field is `<image path> <v1>`
        image_path, _, value = field.rpartition(" ")
        image_paths.append(image_path)
        return float(value)

    try:
        labels = np.loadtxt(io.BytesIO(data), np.float32, delimiter=",", comments=None, ndmin=2,
                            converters={0: path_and_first_value}, encoding="ascii")
    except ValueError:   # a bad value or value count, a comma in a path, or non-ASCII text
        return None
    if labels.shape[1] != label_dim or not np.isfinite(labels).all():
        return None
    # NumPy's reader strips whitespace around a value (a tab, CR, a padding space) where the line
    # reader splits at it, so every byte at or below the space must be a line end, a path's own space
    # or the space before a line's values.
    buf = np.frombuffer(data, np.uint8)
    expected = np.count_nonzero(buf == ord("\n")) + len(image_paths) + sum(p.count(" ") for p in image_paths)
    if np.count_nonzero(buf <= ord(" ")) != expected:
        return None
    # A path the line reader would read otherwise: none, or spaces at its ends (a line that starts with
    # a space, two spaces before the values).
    if not all(image_path and image_path == image_path.strip() for image_path in image_paths):
        return None
    return (image_paths, labels) + _frame_lines(data, len(image_paths))


def _frame_lines(data, frames):
    """The 1-based numbers of the lines of `data` that hold the `frames` frames, and its line count."""
    if not data.startswith(b"\n") and b"\n\n" not in data:
        return np.arange(1, frames + 1), frames       # no blank line: every line is a frame
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate([[0], ends[:-1] + 1])
    return np.flatnonzero(ends > starts) + 1, len(ends)


def _parse_lines(path, label_dim):
    image_paths, rows, numbers = [], [], []
    for lineno, line in enumerate(text_lines(path), 1):
        if not line.strip():
            continue
        image_path, values = _parse_line(line, label_dim, f"{path}:{lineno}:")
        image_paths.append(image_path)
        rows.append(values)
        numbers.append(lineno)
    return image_paths, np.array(rows, dtype=np.float32).reshape(-1, label_dim), np.array(numbers, np.int64)


def _parse_line(line, label_dim, where):
    fields = line.split()
    if len(fields) < 2:
        only = fields[0]
        if "," in only or _is_number(only):
            raise ValueError(f"{where} missing image path before the values")
        raise ValueError(f"{where} missing values after image path {only!r}")
    image_path, text = line.strip().rsplit(None, 1)   # the values follow the last space
    texts = text.split(",")
    if len(texts) != label_dim:
        if len(fields) > 2:
            raise ValueError(f"{where} expected '<image path> <v1>,...,<v{label_dim}>' (the values after the "
                             f"last space), found {len(fields)} fields and {len(texts)} values")
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
