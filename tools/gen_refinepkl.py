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

from caffe.proto import caffe_pb2
from google.protobuf.message import DecodeError
from online.weights import KEYS, LAYERS, save_weights
from pose_formats.input_files import check_file, read_bytes

DEFAULT_PROTOTXT = "prototxt/deploy.prototxt"


def caffemodel_shapes(path):
    """{layer name: [blob shapes]} of a caffemodel, read without building a net."""
    model = caffe_pb2.NetParameter()
    try:
        model.ParseFromString(read_bytes(path))
    except DecodeError as e:
        raise ValueError(f"{path}: not a readable caffemodel ({e})") from None
    layers = model.layer or model.layers   # V1-format models keep their layers in `layers`
    return {l.name: [tuple(b.shape.dim) if b.HasField("shape") else (b.num, b.channels, b.height, b.width)
                     for b in l.blobs] for l in layers}


def export(caffemodel, prototxt):
    """{key: array} of the 12 arrays; ValueError naming missing or mis-shaped layers."""
    import caffe
    saved = caffemodel_shapes(caffemodel)
    net = caffe.Net(prototxt, caffe.TEST)
    missing = [name for name in LAYERS.values() if len(saved.get(name, [])) != 2]
    if missing:
        raise ValueError(f"{caffemodel}: no weights for layer(s) {', '.join(missing)} "
                         "(the refine and projector layers of the 3D-to-2D stages)")
    for name in LAYERS.values():
        if name not in net.params:
            raise ValueError(f"{prototxt}: has no layer {name}")
        want = [tuple(p.data.shape) for p in net.params[name]]
        if [tuple(s) for s in saved[name]] != want:
            raise ValueError(f"{caffemodel}: layer {name} has shapes {saved[name]}, {prototxt} expects {want} "
                             "(use --prototxt with the model's configuration)")
    net.copy_from(caffemodel)
    arrays = {}
    for weight_key, name in LAYERS.items():
        bias_key = "b" + weight_key[1:]
        arrays[weight_key] = net.params[name][0].data.T.copy()
        arrays[bias_key] = net.params[name][1].data.copy()
    return {k: arrays[k] for k in KEYS}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("caffemodel")
    parser.add_argument("--prototxt", default=DEFAULT_PROTOTXT,
                        help=f"deploy net of the model's configuration (default {DEFAULT_PROTOTXT}; the demo's "
                             "is prototxt/demo/deploy.prototxt)")
    parser.add_argument("--out", help="output file (default: the caffemodel's name with .refine.npz, or "
                                      ".refine.pkl with --legacy-pickle)")
    parser.add_argument("--legacy-pickle", action="store_true", help="write the released pickled list")
    args = parser.parse_args()
    out = args.out or os.path.splitext(args.caffemodel)[0] + (".refine.pkl" if args.legacy_pickle else ".refine.npz")
    try:
        for path in (args.caffemodel, args.prototxt):
            check_file(path)   # before Caffe, which would abort on a missing prototxt
        weights = save_weights(out, export(args.caffemodel, args.prototxt), legacy_pickle=args.legacy_pickle)
    except ValueError as e:
        print(f"gen_refinepkl.py: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out}: refine width {weights.refine_width}, projector width {weights.projector_width}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
