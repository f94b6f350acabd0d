"""Result CSVs: `index,v1..vK` lines, written atomically, read with errors naming file and line."""
import os

import numpy as np
import pytest

from pose_formats.results import read_result_csv, write_result_csv


def test_round_trip_is_exact_for_float32(tmp_path):
    values = np.random.default_rng(0).normal(0, 300, (7, 48)).astype(np.float32)
    path = tmp_path / "result1_norm.csv"
    write_result_csv(path, values, start_index=5)
    indices, read = read_result_csv(path, 48)
    np.testing.assert_array_equal(indices, np.arange(5, 12))
    np.testing.assert_array_equal(read.astype(np.float32), values)
    assert read.dtype == np.float64
    assert path.read_text().splitlines()[0].startswith("5,")
    assert os.listdir(tmp_path) == ["result1_norm.csv"]  # no temporary file left behind


def test_blank_lines_and_empty_files(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("1,0.5,1\n\n2,3,4e-3\n")
    indices, values = read_result_csv(path, 2)
    np.testing.assert_array_equal(indices, [1, 2])
    np.testing.assert_array_equal(values, [[0.5, 1.0], [3.0, 4e-3]])
    path.write_text("")
    indices, values = read_result_csv(path, 2)
    assert indices.shape == (0,) and values.shape == (0, 2)


@pytest.mark.parametrize("text, message", [
    ("1,0.5,1\n2,0.5\n", r":2: expected 3 fields \(index and 2 values\), found 2"),
    ("1,0.5,1\n2,0.5,abc\n", r":2: field 3 \(v2\) is not a number: 'abc'"),
    ("1,nan,1\n", r":1: field 2 \(v1\) is not finite: 'nan'"),
    ("1,0.5,inf\n", r":1: field 3 \(v2\) is not finite: 'inf'"),
    ("x,0.5,1\n", r":1: field 1 \(index\): 'x' is not an integer"),
])
def test_bad_lines_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as e:
        read_result_csv(path, 2)
    assert str(e.value).startswith(str(path))


def test_non_finite_values_are_not_written(tmp_path):
    path = tmp_path / "out.csv"
    values = np.ones((3, 4))
    values[1, 2] = np.nan
    with pytest.raises(ValueError, match="frame 2"):
        write_result_csv(path, values)
    assert os.listdir(tmp_path) == []
