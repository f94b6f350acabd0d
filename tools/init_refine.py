#!/usr/bin/env python3
"""Writes the weights the 3D-to-2D stage (addsrr) starts from: every layer of a trained model (the
bilstm stage's) plus the refine branch change_tmp -> ReLU -> change set to the identity map, so that
`change` starts equal to the coarse pose and training adds corrections to it.

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


def with_identity_refine(model_path, hidden, seed):
    """The model at model_path (NetParameter) with its refine layers replaced by the identity start."""
    model = read_model(model_path)
    if model.layers:
        raise ValueError(f"{model_path}: a V1-format caffemodel; upgrade it with Caffe's upgrade_net_proto_binary")
    kept = [l for l in model.layer if l.name not in REFINE_LAYERS]
    del model.layer[:]
    model.layer.extend(kept)
    w0, b0, w00, b00 = identity_refine(hidden, seed)
    for name, arrays in zip(REFINE_LAYERS, ((w0, b0), (w00, b00))):
        layer = model.layer.add(name=name, type="InnerProduct")
        for a in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(a.shape)
            blob.data.extend(a.astype(np.float32).ravel())
    return model


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("caffemodel", help="the trained model addsrr continues from (bilstm's)")
    parser.add_argument("--prototxt", required=True,
                        help="the addsrr net (its change_tmp width), e.g. prototxt/demo/addsrr/train.prototxt")
    parser.add_argument("--out", required=True, help="the caffemodel to write (for caffe train -weights)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the silent units' Xavier start (default 1)")
    parser.add_argument("--fresh", nargs="*", default=list(PROJECTOR_LAYERS), metavar="LAYER",
                        help="layers of the net that start from their fillers, all others must come from the model "
                             f"(default: the projector, {' '.join(PROJECTOR_LAYERS)})")
    return parser


def run(args):
    hidden = refine_width(args.prototxt)
    check_writable(os.path.dirname(os.path.abspath(args.out)))
    model = with_identity_refine(args.caffemodel, hidden, args.seed)
    # a model of another stage would leave the layers it lacks at their random start in addsrr
    check_weights(args.prototxt, args.caffemodel, [name for name in args.fresh if name not in REFINE_LAYERS],
                  model=model)
    with atomic_write(args.out, "wb") as f:
        f.write(model.SerializeToString())
    print(f"wrote {args.out}: {args.caffemodel} with an identity refine branch ({hidden} hidden units)")


def main(argv=None):
    return run_tool("init_refine.py", build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
