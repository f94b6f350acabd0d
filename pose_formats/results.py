"""Result CSVs written by testing and by the online stage (SPEC section 3): one line per frame,
`index,v1,...,vK` with a 1-based frame index (K = 48 for 3D poses, 32 for 2D)."""

import numpy as np

from .atomic import atomic_write
from .input_files import text_lines
from .listfile import finite_float

# No pose coordinate comes near this, normalised (about 0..1) or in mm: a larger value is damage, which
# float32 arithmetic would turn into an overflow reported far from its cause.
MAX_ABS_VALUE = 1e6


def format_result_line(index, row):
    """One `index,v1,...,vK` line; 9 significant digits round-trip float32 exactly."""
    return f"{index}," + ",".join(f"{v:.9g}" for v in row) + "\n"


def write_result_csv(path, values, start_index=1):
    """Write (N, K) values as `index,v1..vK` lines, atomically (a temporary file renamed when whole).

    Values are written with 9 significant digits, which round-trips float32 exactly.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"{path}: values must be (frames, width), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise ValueError(f"{path}: non-finite value in frame {start_index + row}; nothing written")
    with atomic_write(path) as f:
        for i, row in enumerate(values):
            f.write(format_result_line(start_index + i, row))


def _coordinate(text, what):
    value = finite_float(text, what)
    if abs(value) > MAX_ABS_VALUE:
        raise ValueError(f"{what} is beyond ±{MAX_ABS_VALUE:g}, no pose coordinate: {text!r}")
    return value


def read_result_csv(path, width):
    """(indices (N,) int64, values (N, width) float64) of a result CSV.

    ValueError naming path:line for a wrong number of fields, a non-integer index, or a value that
    is not a finite number or lies beyond ±MAX_ABS_VALUE. Blank lines are skipped; a file without
    lines holds no frames.
    """
    indices, rows = [], []
    for lineno, line in enumerate(text_lines(path), 1):
        line = line.strip()
        if not line:
            continue
        fields = line.split(",")
        if len(fields) != width + 1:
            raise ValueError(f"{path}:{lineno}: expected {width + 1} fields (index and {width} values), "
                             f"found {len(fields)}")
        try:
            index = int(fields[0])
        except ValueError:
            raise ValueError(f"{path}:{lineno}: field 1 (index): {fields[0]!r} is not an integer") from None
        row = [_coordinate(text, f"{path}:{lineno}: field {k} (v{k - 1})") for k, text in enumerate(fields[1:], 2)]
        indices.append(index)
        rows.append(row)
    return np.array(indices, dtype=np.int64), np.array(rows, dtype=np.float64).reshape(len(rows), width)
