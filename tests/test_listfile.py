"""List files (SPEC section 3): round trip, and a clear `file:line:` error for every kind of bad line."""
import os

import numpy as np
import pytest

from pose_formats import listfile
from pose_formats.listfile import LABEL_DIM_2D, LABEL_DIM_2D3D, read_list_file, write_list_file


def random_labels(rng, frames, dim):
    labels = rng.uniform(-0.2, 1.2, (frames, dim)).astype(np.float32)
    labels[:, -1] = np.arange(frames) % 5 != 0
    return labels


def test_round_trip_is_exact_for_float32(tmp_path):
    rng = np.random.default_rng(0)
    labels = random_labels(rng, 50, LABEL_DIM_2D3D)
    # Values whose shortest decimal form needs all 9 significant digits, and extreme magnitudes.
    labels[0, :40] = np.float32(1) + np.arange(40, dtype=np.float32) * np.finfo(np.float32).eps
    labels[1, :4] = [1e-38, 3.4e38, -1e-7, 0.1]
    paths = [f"images/S1/Walking.cam1/{5 * i:06d}.jpg" for i in range(50)]
    path = tmp_path / "list.txt"
    write_list_file(path, paths, labels)
    read_paths, read_labels = read_list_file(path, LABEL_DIM_2D3D)
    assert read_paths == paths
    assert read_labels.dtype == np.float32
    np.testing.assert_array_equal(read_labels, labels)


def test_written_format(tmp_path):
    labels = np.array([[0.5, 0.25, 0], [0.125, 1, 1]], dtype=np.float32)
    path = tmp_path / "list.txt"
    write_list_file(path, ["a.png", "b/c.png"], labels)
    assert path.read_text() == "a.png 0.5,0.25,0\nb/c.png 0.125,1,1\n"


def test_2d_only_lists_and_blank_lines(tmp_path):
    labels = random_labels(np.random.default_rng(1), 3, LABEL_DIM_2D)
    path = tmp_path / "mpii.txt"
    write_list_file(path, ["x.png", "y.png", "z.png"], labels)
    path.write_text(path.read_text().replace("\n", "\n\n", 1) + "\n")
    paths, read = read_list_file(path, LABEL_DIM_2D)
    assert paths == ["x.png", "y.png", "z.png"]
    np.testing.assert_array_equal(read, labels)


GOOD = ",".join(["0.5"] * 80) + ",0"


@pytest.mark.parametrize("bad_line, message", [
    ("img.png " + ",".join(["0.5"] * 79) + ",0", "expected 81 values, found 80"),
    ("img.png " + GOOD + ",1", "expected 81 values, found 82"),
    ("img.png " + GOOD.replace("0.5", "abc", 1), "value 1 is not a number: 'abc'"),
    ("img.png " + GOOD.replace("0.5,0.5", "0.5,", 1), "value 2 is not a number: ''"),
    ("img.png " + GOOD.replace("0.5", "nan", 3).replace("nan", "0.5", 2), "value 3 is not finite: 'nan'"),
    ("img.png " + GOOD.replace("0.5", "-inf", 1), "value 1 is not finite: '-inf'"),
    (GOOD, "missing image path"),
    ("img.png", "missing values after image path 'img.png'"),
    ("img.png " + GOOD + " extra", "found 3 fields"),
    # Whitespace around a value, which NumPy's reader would strip and the line reader splits at.
    ("img.png " + GOOD.replace(",", ", ", 1), "found 3 fields and 80 values"),
    ("img.png " + GOOD.replace(",", "\x0b,", 1), "value 1 is not a number: ''"),
    ("img.png " + GOOD[:-1] + "0.5", "clip marker (value 81) must be 0 or 1, found 0.5"),
])
def test_bad_line_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "bad.txt"
    path.write_text(f"ok1.png {GOOD}\nok2.png {GOOD}\n{bad_line}\nok3.png {GOOD}\n")
    with pytest.raises(ValueError) as error:
        read_list_file(path, LABEL_DIM_2D3D)
    assert str(error.value).startswith(f"{path}:3: ")
    assert message in str(error.value)


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_file_is_an_error(tmp_path, text):
    path = tmp_path / "empty.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match="empty list file"):
        read_list_file(path, LABEL_DIM_2D3D)


def test_missing_image_under_root_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"")
    path = tmp_path / "list.txt"
    path.write_text(f"images/a.png {GOOD}\nimages/b.png {GOOD}\n")
    assert read_list_file(path, LABEL_DIM_2D3D)[0] == ["images/a.png", "images/b.png"]
    with pytest.raises(ValueError, match=f"^{path}:2: image 'images/b.png' not found under"):
        read_list_file(path, LABEL_DIM_2D3D, root_folder=str(tmp_path))


@pytest.mark.parametrize("paths, labels, message", [
    (["a", "b"], np.zeros((1, 3)), "2 image paths but 1 label rows"),
    (["a"], np.array([[np.nan, 0, 0]]), "non-finite label in row 1"),
    (["a b"], np.zeros((1, 3)), "contains whitespace"),
    ([""], np.zeros((1, 3)), "empty or contains whitespace"),
    (["a", "b"], np.array([[0, 0, 0], [0, 0, 2]]), "clip marker of row 2 must be 0 or 1"),
    ([], np.zeros((0, 3)), "empty list file"),
    (["a"], np.zeros(3), "2-D array"),
])
def test_write_rejects_bad_input_and_keeps_the_old_file(tmp_path, paths, labels, message):
    path = tmp_path / "list.txt"
    path.write_text("previous\n")
    with pytest.raises(ValueError, match=message):
        write_list_file(path, paths, labels)
    assert path.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["list.txt"]


# ------------------------------------------------------------------ at the released list's scale

def write_listing(path, paths, labels):
    lines = [f"{p} {','.join('%.9g' % v for v in row[:-1].tolist())},{int(row[-1])}" for p, row in zip(paths, labels)]
    path.write_text("\n".join(lines) + "\n")


def test_paths_with_spaces_are_split_at_the_last_space(tmp_path):
    labels = random_labels(np.random.default_rng(2), 3, LABEL_DIM_2D3D)
    paths = ["images/S1/Directions 1.54138969/000000.jpg", "a b  c.jpg", "plain.jpg"]
    path = tmp_path / "spaces.txt"
    write_listing(path, paths, labels)
    read_paths, read = read_list_file(path, LABEL_DIM_2D3D)
    assert read_paths == paths
    np.testing.assert_array_equal(read, labels)


@pytest.mark.parametrize("parts", [1, 3])
def test_fast_parse_equals_the_line_by_line_reader(tmp_path, parts):
    """The file read in parts (forked processes), with blank lines and spaces in paths; the same file
    with CRLF ends (which only the line-by-line reader takes) must read the same."""
    rng = np.random.default_rng(3)
    labels = random_labels(rng, 400, LABEL_DIM_2D3D)
    paths = [f"images/S{i % 3} x/{i:06d}.jpg" for i in range(400)]
    path = tmp_path / "parts.txt"
    write_listing(path, paths, labels)
    # A blank line after every 37th line, so the parts hold some.
    text = "".join(line + "\n" * (i % 37 == 0) for i, line in enumerate(path.read_text().splitlines(True)))
    path.write_text(text)
    expected_lines = [i + 1 + (i + 36) // 37 for i in range(400)]
    fast = listfile._parse_fast(path, LABEL_DIM_2D3D, parts)
    assert fast is not None
    for read_paths, read_labels, line_numbers in [fast, listfile._parse_lines(path, LABEL_DIM_2D3D)]:
        assert read_paths == paths
        np.testing.assert_array_equal(read_labels, labels)
        np.testing.assert_array_equal(line_numbers, expected_lines)

    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    assert listfile._parse_fast(crlf, LABEL_DIM_2D3D, parts) is None
    slow = listfile.parse_list_file(crlf, LABEL_DIM_2D3D)
    assert slow.image_paths == paths
    np.testing.assert_array_equal(slow.labels, labels)
    np.testing.assert_array_equal(slow.line_numbers, expected_lines)


def test_frame_lines_skip_blank_lines():
    """A part may start with blank lines and end without a line end."""
    np.testing.assert_array_equal(listfile._frame_lines(b"\n\na 1\n\nb 2", 2)[0], [3, 5])
    assert listfile._frame_lines(b"\n\na 1\n\nb 2", 2)[1] == 5
    assert listfile._frame_lines(b"\n\na 1\n\nb 2\n", 2)[1] == 5
    np.testing.assert_array_equal(listfile._frame_lines(b"a 1\nb 2\n", 2)[0], [1, 2])


@pytest.mark.parametrize("line, image_path", [
    (" lead.png " + GOOD, "lead.png"),
    ("two.png  " + GOOD, "two.png"),
    ("trail.png " + GOOD + " ", "trail.png"),
    ("tab.png\t" + GOOD, "tab.png"),
    ("comma,path.png " + GOOD, "comma,path.png"),
    ("na\u00efve.png " + GOOD, "na\u00efve.png"),
])
def test_unusual_lines_are_read_line_by_line(tmp_path, line, image_path):
    """Lines NumPy's reader could read otherwise than the line reader are left to the line reader."""
    path = tmp_path / "list.txt"
    path.write_text(f"ok.png {GOOD}\n{line}\n", encoding="utf-8")
    assert listfile._parse_fast(path, LABEL_DIM_2D3D, 1) is None
    listing = listfile.parse_list_file(path, LABEL_DIM_2D3D)
    assert listing.image_paths == ["ok.png", image_path]
    np.testing.assert_array_equal(listing.labels[1], listing.labels[0])


def test_bad_line_deep_in_a_large_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(listfile, "_PART_BYTES", 4096)   # read in parts, one per core
    rng = np.random.default_rng(4)
    labels = random_labels(rng, 300, LABEL_DIM_2D3D)
    path = tmp_path / "big.txt"
    write_listing(path, [f"{i}.jpg" for i in range(300)], labels)
    lines = path.read_text().splitlines()
    image_path, values = lines[236].split(" ")
    lines[236] = f"{image_path} {values.split(',')[0]},1e999,{','.join(values.split(',')[2:])}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"^{path}:237: value 2 is not finite: '1e999'"):
        read_list_file(path, LABEL_DIM_2D3D)
    lines[236] = lines[200]
    lines[280] = lines[280][:-1] + "2"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"^{path}:281: clip marker \\(value 81\\) must be 0 or 1, found 2"):
        read_list_file(path, LABEL_DIM_2D3D)


def test_missing_images_are_named_by_line_when_first_read(tmp_path):
    (tmp_path / "a.png").write_bytes(b"not a png")
    path = tmp_path / "list.txt"
    path.write_text(f"a.png {GOOD}\n\nmissing dir/b.png {GOOD}\n")
    listing = listfile.parse_list_file(path, LABEL_DIM_2D3D)     # no image is looked at here
    assert listing.image_error(1, str(tmp_path)) == f"{path}:3: image 'missing dir/b.png' not found under {str(tmp_path)!r}"
    assert listing.image_error(0, str(tmp_path)) == f"{path}:1: cannot read image 'a.png' under {str(tmp_path)!r}"
