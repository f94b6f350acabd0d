"""Every reader of an input file, given the file truncated, empty, or a directory in its place, fails
with a one-line ValueError that names the file (the command-line tools print it as their error)."""
import json
import os
import shutil

import numpy as np
import pytest

from online.data import load_action
from online.weights import load_weights, random_weights, save_weights
from pose_formats.input_files import read_json
from pose_formats.listfile import LABEL_DIM_2D3D, read_list_file, write_list_file
from pose_formats.normalization import DEFAULT_MAX_MIN, MaxMin
from pose_formats.results import write_result_csv
from pose_formats.skeleton import DATA_DIR

FRAMES = 4


def caffemodel(path):
    """A caffemodel with the converter's layers, written with Caffe's own protobuf classes."""
    caffe_pb2 = pytest.importorskip("caffe.proto.caffe_pb2")
    net = caffe_pb2.NetParameter(name="damaged")
    for name in ("change_tmp", "change", "project_1", "project_2", "project_3", "project_2d"):
        layer = net.layer.add(name=name, type="InnerProduct")
        for shape in ((8, 8), (8,)):
            blob = layer.blobs.add()
            blob.shape.dim.extend(shape)
            blob.data.extend(np.linspace(0, 1, int(np.prod(shape))))
    path.write_bytes(net.SerializeToString())
    return path


def results_dir(path):
    """A results directory with action 1's coarse 3D and 2D estimates; the coarse file is returned."""
    path.mkdir()
    rng = np.random.default_rng(0)
    write_result_csv(path / "result1_2d_norm.csv", rng.random((FRAMES, 32)))
    write_result_csv(path / "result1_norm.csv", rng.random((FRAMES, 48)))
    return path / "result1_norm.csv"


def list_file(path):
    labels = np.random.default_rng(1).random((FRAMES, LABEL_DIM_2D3D))
    labels[:, -1] = 1
    write_list_file(path, [f"images/{i}.jpg" for i in range(FRAMES)], labels)
    return path


# name: (make a valid file under a folder, return its path; read the file at that path)
READERS = {
    "weights-npz": (lambda d: save_weights(d / "w.npz", random_weights(8, 8)) and d / "w.npz", load_weights),
    "weights-pickle": (lambda d: save_weights(d / "w.pkl", random_weights(8, 8), legacy_pickle=True) and d / "w.pkl",
                       lambda p: load_weights(p, legacy_pickle=True)),
    "result-csv": (lambda d: results_dir(d / "results"), lambda p: load_action(os.path.dirname(p), 1)),
    "list-file": (lambda d: list_file(d / "test1.txt"), lambda p: read_list_file(p, LABEL_DIM_2D3D)),
    "max-min-csv": (lambda d: shutil.copy(DEFAULT_MAX_MIN, d / "max_min.csv") and d / "max_min.csv", MaxMin),
    "json": (lambda d: shutil.copy(os.path.join(DATA_DIR, "skeleton16.json"), d / "s.json") and d / "s.json",
             read_json),
    "caffemodel": (lambda d: caffemodel(d / "m.caffemodel"),
                   lambda p: pytest.importorskip("caffe_layers.weights_check").read_model(str(p))),
}


def damage(path, how):
    data = path.read_bytes()
    path.unlink()
    if how == "directory":
        path.mkdir()
    elif how == "empty":
        path.write_bytes(b"")
    elif path.suffix in (".npz", ".pkl", ".caffemodel"):
        path.write_bytes(data[:len(data) // 2])
    else:  # text: cut in the middle of the last line, so no line count can hide it
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        path.write_bytes(data.rstrip(b"\n")[:-max(1, len(last) // 2)])


@pytest.mark.parametrize("how", ["truncated", "empty", "directory"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_damaged_file_is_a_one_line_error_naming_it(tmp_path, reader, how):
    make, read = READERS[reader]
    path = make(tmp_path)
    read(path)   # the undamaged file reads
    damage(path, how)
    with pytest.raises(ValueError) as raised:
        read(path)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message


def test_text_that_is_not_utf8_names_the_file(tmp_path):
    path = list_file(tmp_path / "test1.txt")
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    with pytest.raises(ValueError, match=f"{path}: not a text file"):
        read_list_file(path, LABEL_DIM_2D3D)


def test_json_error_names_file_and_line(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"a": [1, 2]}, indent=1).replace("2", "2,"))
    with pytest.raises(ValueError, match=rf"{path}:\d+: not valid JSON"):
        read_json(path)
