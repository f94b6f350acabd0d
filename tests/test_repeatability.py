"""The demo's training repeats bit for bit on one machine: `caffe train` of a demo stage, run twice
from the same solver (random_seed) and data (the data layers' seed), writes identical weights. This
is what makes `make demo` give the same table on each run (docs/results.md, "Repeatability")."""
import os
import subprocess

import numpy as np
import pytest

caffe = pytest.importorskip("caffe")
from caffe.proto import caffe_pb2  # noqa: E402

from caffe_nets import retarget_data  # noqa: E402
from conftest import REPO, VENV  # noqa: E402

ITERATIONS = 4


def train(stage, data_dir, run_dir, weights=None, iterations=ITERATIONS):
    """`caffe train` of the demo stage for a few iterations, on the tiny data set; its blobs by layer."""
    os.makedirs(run_dir)
    net = retarget_data(os.path.join(REPO, "prototxt", "demo", stage, "train.prototxt"), data_dir,
                        os.path.join(run_dir, "train.prototxt"))
    lines = []
    with open(os.path.join(REPO, "prototxt", "demo", stage, "solver.prototxt")) as f:
        for line in f.read().splitlines():
            key = line.split(":")[0]
            line = {"net": f'net: "{net}"', "max_iter": f"max_iter: {iterations}",
                    "snapshot": f"snapshot: {iterations}",
                    "snapshot_prefix": f'snapshot_prefix: "{run_dir}/{stage}"'}.get(key, line)
            lines.append(line)
    solver = os.path.join(run_dir, "solver.prototxt")
    with open(solver, "w") as f:
        f.write("\n".join(lines) + "\n")
    command = [os.path.join(VENV, "bin", "caffe"), "train", "-solver", solver] + (["-weights", weights] if weights else [])
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HPM_CAFFE": "cpu"})
    assert done.returncode == 0, done.stderr[-3000:]
    model = os.path.join(run_dir, f"{stage}_iter_{iterations}.caffemodel")
    proto = caffe_pb2.NetParameter()
    with open(model, "rb") as f:
        proto.ParseFromString(f.read())
    return model, {layer.name: [np.array(b.data, dtype=np.float32) for b in layer.blobs]
                   for layer in proto.layer if layer.blobs}


def test_a_demo_stage_trains_to_identical_weights_twice(tiny_dataset, tmp_path):
    """cpm from its fillers, then addsrr from cpm's weights (its 2D-only and clip data layers, the
    refine branch and the projector): each run twice, compared blob by blob, exactly."""
    cpm_model, cpm_a = train("cpm", tiny_dataset, str(tmp_path / "cpm_a"))
    _, cpm_b = train("cpm", tiny_dataset, str(tmp_path / "cpm_b"))
    _, addsrr_a = train("addsrr", tiny_dataset, str(tmp_path / "addsrr_a"), weights=cpm_model)
    _, addsrr_b = train("addsrr", tiny_dataset, str(tmp_path / "addsrr_b"), weights=cpm_model)
    for a, b in ((cpm_a, cpm_b), (addsrr_a, addsrr_b)):
        assert a.keys() == b.keys()
        for name in a:
            for blob_a, blob_b in zip(a[name], b[name]):
                assert np.array_equal(blob_a, blob_b), name
    # The projector's copy on the ground-truth 3D pose trains the same weights (shared by name).
    for layer in ("project_1", "project_2", "project_3", "project_2d"):
        for blob, copy in zip(addsrr_a[layer], addsrr_a[layer + "_gt3d"]):
            assert np.array_equal(blob, copy), layer
    # Not equal for want of training: one iteration fewer gives other weights.
    _, cpm_shorter = train("cpm", tiny_dataset, str(tmp_path / "cpm_shorter"), iterations=ITERATIONS - 1)
    assert not np.array_equal(cpm_a["fc-final"][0], cpm_shorter["fc-final"][0])
