#!/usr/bin/env python3
"""Exports the refine branch and the 3D-to-2D projector of a trained caffemodel for the online stage
(the released gen_refinepkl.py): change_tmp, change, project_1, project_2, project_3, project_2d, each
InnerProduct's weight transposed to input x output and its bias, 12 arrays W0 b0 W00 b00 W1 b1 W2 b2
W3 b3 W4 b4. Written as a named .npz (default), or as the released pickled list with --legacy-pickle.
"""
import argparse
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")  # Caffe's per-layer INFO log would bury the result line

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from caffe_layers.weights_check import build_net, model_shapes, net_needs, problems, read_model  # noqa: E402
from online.weights import KEYS, LAYERS, save_weights  # noqa: E402
from pose_formats.atomic import folder_lock  # noqa: E402
from pose_formats.cli import run_tool  # noqa: E402

DEFAULT_PROTOTXT = "prototxt/deploy.prototxt"


def export(caffemodel, prototxt):
    """{key: array} of the 12 arrays; ValueError naming missing or mis-shaped layers."""
    saved = model_shapes(read_model(caffemodel))
    net = build_net(prototxt, "test")
    owned, _ = net_needs(net)
    absent = [name for name in LAYERS.values() if name not in owned]
    if absent:
        raise ValueError(f"{prototxt}: has no layer(s) {', '.join(absent)}")
    # only the exported layers: the rest of the deploy net serves to give their shapes
    found = problems(saved, {name: owned[name] for name in LAYERS.values()}, {})
    if found:
        raise ValueError(f"{caffemodel}: {'; '.join(found)} (the refine and projector layers of the 3D-to-2D "
                         f"stages, as {prototxt} has them; use --prototxt with the model's configuration)")
    net.copy_from(caffemodel)
    arrays = {}
    for weight_key, name in LAYERS.items():
        bias_key = "b" + weight_key[1:]
        arrays[weight_key] = net.params[name][0].data.T.copy()
        arrays[bias_key] = net.params[name][1].data.copy()
    return {k: arrays[k] for k in KEYS}


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("caffemodel")
    parser.add_argument("--prototxt", default=DEFAULT_PROTOTXT,
                        help=f"deploy net of the model's configuration (default {DEFAULT_PROTOTXT}; the demo's "
                             "is prototxt/demo/deploy.prototxt)")
    parser.add_argument("--out", help="output file (default: the caffemodel's name with .refine.npz, or "
                                      ".refine.pkl with --legacy-pickle)")
    parser.add_argument("--legacy-pickle", action="store_true", help="write the released pickled list")
    return parser


def run(args):
    out = args.out or os.path.splitext(args.caffemodel)[0] + (".refine.pkl" if args.legacy_pickle else ".refine.npz")
    with folder_lock(os.path.dirname(os.path.abspath(out)), "gen_refinepkl.py"):   # also: can it be written?
        weights = save_weights(out, export(args.caffemodel, args.prototxt), legacy_pickle=args.legacy_pickle)
    print(f"wrote {out}: refine width {weights.refine_width}, projector width {weights.projector_width}")


def main(argv=None):
    return run_tool("gen_refinepkl.py", build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
