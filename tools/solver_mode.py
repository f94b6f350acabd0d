#!/usr/bin/env python3
"""Copy of a Caffe solver with its solver_mode set, for running a solver in the other mode.

    caffe train -solver $(python tools/solver_mode.py CPU prototxt/bilstm/solver.prototxt)

prints the path of the copy (a new temporary file unless --out is given); the paths inside a solver
are relative to the working directory, not to the solver file, so the copy may live anywhere. For GPU
mode `caffe train -gpu N` needs no copy: the flag overrides the solver.
"""
import argparse
import os
import sys
import tempfile

from google.protobuf import text_format


def with_solver_mode(solver_path, mode):
    """The text of `solver_path` with solver_mode: `mode` (CPU or GPU)."""
    from caffe.proto import caffe_pb2
    solver = caffe_pb2.SolverParameter()
    try:
        with open(solver_path) as f:
            text_format.Merge(f.read(), solver)
    except OSError as e:
        raise SystemExit(f"solver_mode.py: cannot read {solver_path}: {e.strerror}")
    except text_format.ParseError as e:  # its message starts with line:column
        raise SystemExit(f"solver_mode.py: {solver_path}:{e}")
    solver.solver_mode = caffe_pb2.SolverParameter.SolverMode.Value(mode)
    return text_format.MessageToString(solver)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("CPU", "GPU"))
    parser.add_argument("solver")
    parser.add_argument("--out", help="where to write the copy (default: a new temporary file)")
    args = parser.parse_args(argv)
    text = with_solver_mode(args.solver, args.mode)
    if args.out:
        out = args.out
    else:
        stem = os.path.splitext(os.path.basename(args.solver))[0]
        fd, out = tempfile.mkstemp(prefix=f"{stem}.{args.mode.lower()}.", suffix=".prototxt")
        os.close(fd)
    with open(out, "w") as f:
        f.write(text)
    print(out)


if __name__ == "__main__":
    sys.exit(main())
