"""tools/solver_mode.py: a solver copy in the other mode, everything else unchanged."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("caffe")
from caffe.proto import caffe_pb2  # noqa: E402
from google.protobuf import text_format  # noqa: E402

from conftest import REPO  # noqa: E402

SOLVER = "prototxt/demo/cpm/solver.prototxt"


def run(*args, tmp_dir):
    return subprocess.run([sys.executable, "tools/solver_mode.py", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TMPDIR": str(tmp_dir)})


def parse(path):
    solver = caffe_pb2.SolverParameter()
    with open(path) as f:
        text_format.Merge(f.read(), solver)
    return solver


@pytest.mark.parametrize("mode", ["CPU", "GPU"])
def test_copy_has_the_mode_and_every_other_field(tmp_path, mode):
    out = tmp_path / "solver.prototxt"
    done = run(mode, SOLVER, "--out", str(out), tmp_dir=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == str(out), done.stderr
    original, copy = parse(f"{REPO}/{SOLVER}"), parse(out)
    assert copy.solver_mode == caffe_pb2.SolverParameter.SolverMode.Value(mode)
    copy.solver_mode = original.solver_mode
    assert copy == original


def test_temporary_copy_and_bad_solver(tmp_path):
    done = run("GPU", SOLVER, tmp_dir=tmp_path)
    copy = done.stdout.strip()
    assert done.returncode == 0 and os.path.dirname(copy) == str(tmp_path), done.stderr
    assert parse(copy).solver_mode == caffe_pb2.SolverParameter.GPU
    bad = tmp_path / "bad.prototxt"
    bad.write_text('net: "x"\nbase_lr 0.1\n')
    done = run("CPU", str(bad), tmp_dir=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith(f"solver_mode.py: {bad}:2:"), done.stderr
