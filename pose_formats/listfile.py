"""List files (SPEC section 3): one frame per line, `<image path relative to root_folder> <v1>,...,<vK>`.

K is 81 for 2D+3D lists (32 2D + 48 3D + clip marker) and 33 for 2D-only (MPII-style) lists
(32 2D + clip marker). The last value is the LSTM clip marker: 0 on a clip's first frame, 1 elsewhere.
The values follow the line's last space, as the released C++ reader split it, so image paths may
contain spaces.

The released training list has about 300,000 lines (24 million values): lines are split and values
parsed with NumPy over blocks of the file. A file that this fast path does not accept whole (any bad
line, but also tabs, CR line ends or padded fields) is read again line by line, which names the
first bad line or reads the unusual layout.
"""
import dataclasses
import math
import os

import numpy as np

from .atomic import atomic_write
from .input_files import check_file, text_lines

LABEL_DIM_2D3D = 81
LABEL_DIM_2D = 33

# 9 significant digits round-trip every float32 (FLT_DECIMAL_DIG); 8 do not always.
_VALUE_FORMAT = "%.9g"
_BLOCK_BYTES = 1 << 24   # the fast path's working set: a few copies of one block of lines

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
    with open(path, "rb") as f:
        data = f.read()
    parsed = _parse_blocks(data, label_dim)
    if parsed is None:
        parsed = _parse_lines(path, label_dim)
    image_paths, labels, line_numbers = parsed
    if not image_paths:
        raise ValueError(f"{path}: empty list file (no frames)")
    labels = labels.astype(np.float32)
    if clip_marker:
        bad = np.flatnonzero((labels[:, -1] != 0) & (labels[:, -1] != 1))
        if len(bad):
            raise ValueError(f"{path}:{line_numbers[bad[0]]}: clip marker (value {label_dim}) must be 0 or 1, "
                             f"found {labels[bad[0], -1]:g}")
    return ListFile(path, image_paths, labels, line_numbers)


def _parse_blocks(data, label_dim):
    """(paths, float64 labels, line numbers) for a file of plain `<path> <v1>,...` lines with LF ends
    (blank lines allowed), or None when any line is not of that form."""
    if b"\t" in data or b"\r" in data:
        return None
    paths, blocks, numbers = [], [], []
    start, first_line = 0, 1
    while start < len(data):
        end = data.rfind(b"\n", start, start + _BLOCK_BYTES) + 1 if start + _BLOCK_BYTES < len(data) else len(data)
        if end <= start:          # one line longer than a block: read it line by line
            return None
        block = _parse_block(data[start:end], label_dim)
        if block is None:
            return None
        block_paths, values, line_offsets, line_count = block
        paths += block_paths
        blocks.append(values)
        numbers.append(line_offsets + first_line)
        start, first_line = end, first_line + line_count
    if not paths:
        return [], np.zeros((0, label_dim)), np.zeros(0, np.int64)
    return paths, np.concatenate(blocks), np.concatenate(numbers)


def _parse_block(data, label_dim):
    buf = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(buf))
    starts = np.concatenate([[0], ends[:-1] + 1])
    line_count = len(ends)
    nonblank = ends > starts
    starts, ends = starts[nonblank], ends[nonblank]
    if not len(ends):
        return [], np.zeros((0, label_dim)), np.zeros(0, np.int64), line_count
    spaces = np.flatnonzero(buf == ord(" "))
    last = np.searchsorted(spaces, ends) - 1          # each line's last space
    if np.any(last < 0) or np.any(spaces[last] <= starts):
        return None                                   # no path, or a line that starts with a space
    last = spaces[last]
    if np.any(last == ends - 1):
        return None                                   # trailing space
    commas = np.flatnonzero(buf == ord(","))
    if np.any(np.searchsorted(commas, ends) - np.searchsorted(commas, last) != label_dim - 1):
        return None
    # The values of all lines as one text: line ends become commas and each path, with the space after
    # it, is blanked out (NumPy's reader skips whitespace between a comma and the next number).
    text = buf.copy()
    text[ends[:-1]] = ord(",")
    path_lengths = last + 1 - starts
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(path_lengths)[:-1]]), path_lengths)
    text[offsets + np.arange(len(offsets))] = ord(" ")
    try:
        values = np.fromstring(text.tobytes(), dtype=np.float64, sep=",")
    except ValueError:                                # a field that is not a number
        return None
    if values.size != len(ends) * label_dim or not np.all(np.isfinite(values)):
        return None
    try:
        paths = [data[s:e].decode() for s, e in zip(starts.tolist(), last.tolist())]
    except UnicodeDecodeError:                        # the line-by-line reader names the file
        return None
    return paths, values.reshape(-1, label_dim), np.flatnonzero(nonblank), line_count


def _parse_lines(path, label_dim):
    image_paths, rows, numbers = [], [], []
    for lineno, line in enumerate(text_lines(path), 1):
        if not line.strip():
            continue
        image_path, values = _parse_line(line, label_dim, f"{path}:{lineno}:")
        image_paths.append(image_path)
        rows.append(values)
        numbers.append(lineno)
    return image_paths, np.array(rows, dtype=np.float64).reshape(-1, label_dim), np.array(numbers, np.int64)


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
