#!/usr/bin/env python3
"""Writes the weights the 3D-to-2D stage (addsrr) starts from: every layer of a trained model (the
bilstm stage's) plus the refine branch change_tmp -> ReLU -> change set to the identity map, so that
`change` starts equal to the coarse pose and training adds corrections to it; with --refine-model,
the refine branch taken from the refine stage's model instead (fitted_refine); with --projector, the
projector (project_1..3, project_2d) taken from the projector stage's model (fitted_projector).
Without a trained model it writes the identity refine branch alone: the refine stage's start.

The released run starts the branch from Caffe's Xavier filler, a random map of the coarse pose that
the branch must first unlearn; on the demo it never caught up in the iterations there are (docs/networks.md,
"Improvements"). Here hidden units 0..47 carry +x and 48..95 carry -x (x = relu(x) - relu(-x));
the other hidden units keep a Xavier start on change_tmp (Caffe's: uniform, scale sqrt(3 / 48)) with
zero weights into change, so they start silent but take gradients from the first iteration.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import numpy as np  # noqa: E402
from caffe.proto import caffe_pb2  # noqa: E402
from caffe_layers.weights_check import check_weights, parse_net, read_model  # noqa: E402
from online.weights import LAYERS  # noqa: E402
from pose_formats.atomic import atomic_write, check_writable  # noqa: E402
from pose_formats.cli import run_tool  # noqa: E402
from pose_formats.skeleton import DIM_3D  # noqa: E402

REFINE_LAYERS = ("change_tmp", "change")
# addsrr starts its projector from the fillers, as released; every other layer comes from the model.
PROJECTOR_LAYERS = tuple(name for name in LAYERS.values() if name not in REFINE_LAYERS)


def refine_width(prototxt):
    """Hidden width of the refine branch in a net definition (change_tmp's num_output)."""
    net = parse_net(prototxt)
    outputs = {l.name: l.inner_product_param.num_output for l in net.layer if l.type == "InnerProduct"}
    missing = [name for name in REFINE_LAYERS if name not in outputs]
    if missing:
        raise ValueError(f"{prototxt}: no InnerProduct layer {', '.join(missing)} (the 3D-to-2D stages' refine branch)")
    if outputs["change"] != DIM_3D:
        raise ValueError(f"{prototxt}: layer change has num_output {outputs['change']}, expected {DIM_3D}")
    if outputs["change_tmp"] < 2 * DIM_3D:
        raise ValueError(f"{prototxt}: layer change_tmp has num_output {outputs['change_tmp']}; the identity "
                         f"start needs at least {2 * DIM_3D}")
    return outputs["change_tmp"]


def identity_refine(hidden, seed):
    """(W0 (hidden, 48), b0, W00 (48, hidden), b00) in Caffe's output x input layout, with
    relu(x W0^T + b0) W00^T + b00 = x for every x."""
    rng = np.random.default_rng(seed)
    w0 = rng.uniform(-1.0, 1.0, (hidden, DIM_3D)) * np.sqrt(3.0 / DIM_3D)
    eye = np.eye(DIM_3D)
    w0[:DIM_3D], w0[DIM_3D:2 * DIM_3D] = eye, -eye
    w00 = np.zeros((DIM_3D, hidden))
    w00[:, :DIM_3D], w00[:, DIM_3D:2 * DIM_3D] = eye, -eye
    return w0, np.zeros(hidden), w00, np.zeros(DIM_3D)


def read_layer_model(path):
    """The caffemodel at `path` (NetParameter), refused in the V1 format (its layers in another field)."""
    model = read_model(path)
    if model.layers:
        raise ValueError(f"{path}: a V1-format caffemodel; upgrade it with Caffe's upgrade_net_proto_binary")
    return model


def replace_layers(model, layers):
    """`model` (NetParameter) with `layers` (LayerParameter) in place of its layers of the same names."""
    names = {layer.name for layer in layers}
    kept = [l for l in model.layer if l.name not in names]
    del model.layer[:]
    model.layer.extend(kept)
    model.layer.extend(layers)
    return model


def identity_layers(hidden, seed):
    """change_tmp and change as LayerParameters holding the identity start."""
    layers = []
    w0, b0, w00, b00 = identity_refine(hidden, seed)
    for name, arrays in zip(REFINE_LAYERS, ((w0, b0), (w00, b00))):
        layer = caffe_pb2.LayerParameter(name=name, type="InnerProduct")
        for a in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(a.shape)
            blob.data.extend(a.astype(np.float32).ravel())
        layers.append(layer)
    return layers


def stage_layers(path, names, option, stage):
    """The layers `names` of `stage`'s model at `path` (given with `option`), every one required."""
    found = {l.name: l for l in read_layer_model(path).layer if l.name in names}
    missing = [name for name in names if name not in found]
    if missing:
        raise ValueError(f"{path}: no layer(s) {', '.join(missing)} ({option} takes the {stage} stage's model)")
    return [found[name] for name in names]


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("caffemodel", nargs="?", help="the trained model addsrr continues from (bilstm's); "
                        "without it, only the identity refine branch is written (the refine stage's start)")
    parser.add_argument("--prototxt", required=True,
                        help="the addsrr net (its change_tmp width), e.g. prototxt/demo/addsrr/train.prototxt")
    parser.add_argument("--out", required=True, help="the caffemodel to write (for caffe train -weights)")
    refine = parser.add_mutually_exclusive_group()
    refine.add_argument("--refine", choices=("identity", "fillers"), default="identity",
                        help="identity: the refine branch starts as the identity map (identity_refine, the "
                             "default); fillers: it is left out, so addsrr starts it from its fillers as released")
    refine.add_argument("--refine-model", metavar="CAFFEMODEL",
                        help="the refine stage's final model: addsrr's refine branch starts from its layers "
                             "(fitted_refine)")
    parser.add_argument("--projector", metavar="CAFFEMODEL",
                        help="the projector stage's final model: addsrr's projector starts from its layers "
                             "(fitted_projector) instead of from the fillers")
    parser.add_argument("--seed", type=int, default=1, help="seed of the silent units' Xavier start (default 1)")
    parser.add_argument("--fresh", nargs="*", default=list(PROJECTOR_LAYERS), metavar="LAYER",
                        help="layers of the net that start from their fillers, all others must come from the model "
                             f"(default: the projector, {' '.join(PROJECTOR_LAYERS)})")
    return parser


def run(args):
    hidden = refine_width(args.prototxt)
    check_writable(os.path.dirname(os.path.abspath(args.out)))
    if args.caffemodel is None and (args.refine != "identity" or args.refine_model or args.projector):
        raise ValueError("without a trained model only the identity refine branch is written; --refine fillers, "
                         "--refine-model and --projector go into a model")
    model = read_layer_model(args.caffemodel) if args.caffemodel else caffe_pb2.NetParameter()
    written, parts = [], []
    if args.refine_model:
        written += stage_layers(args.refine_model, REFINE_LAYERS, "--refine-model", "refine")
        parts.append(f"the refine branch of {args.refine_model}")
    elif args.refine == "identity":
        written += identity_layers(hidden, args.seed)
        parts.append(f"an identity refine branch ({hidden} hidden units)")
    if args.projector:
        written += stage_layers(args.projector, PROJECTOR_LAYERS, "--projector", "projector")
        parts.append(f"the projector of {args.projector}")
    replace_layers(model, written)
    # a model of another stage would leave the layers it lacks at their random start in addsrr
    names = [layer.name for layer in written]
    check_weights(args.prototxt, args.caffemodel or "the identity refine branch",
                  [name for name in args.fresh if name not in names], model=model)
    with atomic_write(args.out, "wb") as f:
        f.write(model.SerializeToString())
    print(f"wrote {args.out}: {args.caffemodel + ' with ' if args.caffemodel else ''}"
          f"{' and '.join(parts) or 'nothing replaced'}")


def main(argv=None):
    return run_tool("init_refine.py", build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
