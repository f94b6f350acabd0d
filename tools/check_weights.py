#!/usr/bin/env python3
"""Checks that a caffemodel supplies every parameter layer a net takes from it, with the net's blob
shapes, before Caffe loads it (`caffe train -weights`, `caffe test -weights`). Caffe itself leaves a
layer the model lacks at its random start without a warning.

  tools/check_weights.py NET.prototxt MODEL.caffemodel [--fresh LAYER ...] [--phase train|test]

--fresh names (by layer name, as in NET) the layers the stage starts from their fillers on purpose,
after NET and MODEL (it takes every name that follows); they may be absent from the model (if present, their shapes must still fit). Layers whose blobs are
all shared with an earlier layer (ParamSpec names) need nothing from the model. The net is built by
pycaffe in the given phase (default train), so its data layers' list files must exist.

Exit status: 0 if the model fits; 1 with one line on stderr naming the model file and every missing
or mis-shaped layer (or the file that cannot be read: a missing, empty or damaged model or net);
2 for a bad command line. A --fresh name the net lacks is allowed (a misspelt one leaves the layer
meant reported as missing).
"""
import argparse
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")  # building the net logs every layer at INFO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from caffe_layers.weights_check import PHASES, check_weights  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(prog="check_weights.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("net", metavar="NET.prototxt", help="the net the model will be loaded into")
    p.add_argument("model", metavar="MODEL.caffemodel", help="the weights to check")
    p.add_argument("--fresh", nargs="+", default=[], metavar="LAYER",
                   help="layers the net may start from their fillers (by layer name)")
    p.add_argument("--phase", choices=PHASES, default="train", help="phase the net is built in (default train)")
    p.add_argument("--net-name", help="how the message names the net (default: NET.prototxt)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        check_weights(args.net, args.model, args.fresh, args.phase, net_name=args.net_name)
    except (ValueError, OSError) as e:
        print(f"check_weights.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
