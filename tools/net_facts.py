#!/usr/bin/env python3
"""Prints what a network definition trains, as facts that can be compared between two nets whose
layer types and helper layers differ (ours: Python layers, Silence, Reshape placement; the released
fork: C++ layers, dummy losses): for the parameter layers (Convolution, InnerProduct, LSTM) only,

- `activations`: the activation layers applied to each one's output before anything else reads it;
- `params`: each one's [lr_mult, decay_mult] per blob, Caffe's defaults (1, 1) filled in;
- `inputs`: per bottom, the parameter layers its value comes from through parameter-free layers
  ("<data>" for a data layer);
- `reached`: the parameter layers a loss gradient reaches (Caffe's rules: loss weights, with 1 the
  default for loss layers and 0 for Python layers; `propagate_down`; layers that pass no gradient);
  `trained`: those of them with a non-zero lr_mult;
- `losses`: every loss with a non-zero weight and a bottom that propagates: its kind, the parameter
  layers its first bottom comes from, the frames it sees ("first" when a batch Slice keeps the
  leading part, e.g. the Human3.6M frames of a mixed batch, else "all"), and what its gradient reaches.

    python tools/net_facts.py prototxt/addsrr/train.prototxt [--phase TRAIN|TEST]

tests/test_net_fidelity.py compares these facts of our generated nets with a table of the released
nets' facts (models/released_net_facts.json) that this tool produced from the released files.
"""
import argparse
import json
import sys

from google.protobuf import text_format

from caffe.proto import caffe_pb2

PARAM_BLOBS = {"Convolution": 2, "InnerProduct": 2, "LSTM": 3}
ACTIVATIONS = {"ReLU", "PReLU", "ELU", "Sigmoid", "TanH", "Dropout", "BatchNorm", "Scale"}
DATA = {"Input", "Data", "ImageData", "ImageDataLstm", "HDF5Data", "DummyData"}
LOSS_DEFAULT_WEIGHT_1 = {"EuclideanLoss", "SkelVectorLoss", "SoftmaxWithLoss", "SigmoidCrossEntropyLoss"}
# Layers that pass no gradient to the listed bottoms (None: to any bottom).
NO_GRADIENT_TO = {"LSTM": {1}, "RNN": {1}, "Silence": None, "MPJPEEvaluation": None, "SavePath": None,
                  "Mask": None, "Mask2D3D": None, "ReversedClipMarkers": None}


def kind(layer):
    """The layer's type, Python layers by their class name (ours keep the released type names)."""
    return layer.python_param.layer if layer.type == "Python" else layer.type


def load(path):
    net = caffe_pb2.NetParameter()
    with open(path) as f:
        # The released files carry parameters of the fork's own layers, unknown to stock Caffe's proto.
        text_format.Parse(f.read(), net, allow_unknown_field=True)
    return net


def in_phase(layer, phase):
    def matches(rule):
        return not rule.HasField("phase") or rule.phase == phase
    if layer.include:
        return any(matches(rule) for rule in layer.include)
    return not any(matches(rule) for rule in layer.exclude)


def facts(net, phase=caffe_pb2.TRAIN):
    layers = [l for l in net.layer if in_phase(l, phase)]
    # Blob versions, so that in-place layers (ReLU) read and write distinct nodes.
    version, producer, readers = {}, {}, {}
    bottoms, tops = [], []
    for i, layer in enumerate(layers):
        bottoms.append([version[b] for b in layer.bottom])
        for b in bottoms[-1]:
            readers.setdefault(b, []).append(i)
        tops.append([])
        for t in layer.top:
            node = (t, version[t][1] + 1 if t in version else 0)
            version[t] = node
            producer[node] = i
            tops[-1].append(node)

    params = [i for i, l in enumerate(layers) if l.type in PARAM_BLOBS]

    def sources(node):
        """Parameter layers (or "<data>") whose output reaches this blob through parameter-free layers."""
        i = producer.get(node)
        if i is None or kind(layers[i]) in DATA or (layers[i].type == "Python" and not layers[i].bottom):
            return {"<data>"}
        if i in params:
            return {layers[i].name}
        return set().union(*(sources(b) for b in bottoms[i])) if bottoms[i] else {"<data>"}

    def activation_chain(i):
        chain, node = [], tops[i][0]
        while True:
            nxt = [j for j in readers.get(node, []) if kind(layers[j]) in ACTIVATIONS]
            if not nxt:
                return chain
            chain.append(kind(layers[nxt[0]]))
            node = tops[nxt[0]][0]

    def param_specs(layer):
        specs = [[float(p.lr_mult), float(p.decay_mult)] for p in layer.param]
        return specs + [[1.0, 1.0]] * (PARAM_BLOBS[layer.type] - len(specs))

    def loss_weight(layer):
        if layer.loss_weight:
            return float(layer.loss_weight[0])
        return 1.0 if layer.type in LOSS_DEFAULT_WEIGHT_1 else 0.0

    def passes(i, b):
        if b < len(layers[i].propagate_down) and not layers[i].propagate_down[b]:
            return False
        blocked = NO_GRADIENT_TO.get(kind(layers[i]), set())
        return blocked is not None and b not in blocked

    def reached_from(i):
        """Parameter layers whose output gets gradient from layer i's loss."""
        reached, stack, seen = set(), [i], set()
        while stack:
            j = stack.pop()
            if j in seen:
                continue
            seen.add(j)
            if j in params:
                reached.add(layers[j].name)
            for b, node in enumerate(bottoms[j]):
                if passes(j, b) and node in producer:
                    stack.append(producer[node])
        return reached

    def frames(node):
        """"first" if the blob is the leading part of a batch Slice (axis 0) on its way from a parameter layer."""
        i = producer.get(node)
        if i is None or i in params:
            return "all"
        layer = layers[i]
        if layer.type == "Slice" and layer.slice_param.axis == 0 and tops[i].index(node) == 0:
            return "first"
        return "first" if any(frames(b) == "first" for b in bottoms[i]) else "all"

    losses, reached = [], set()
    for i, layer in enumerate(layers):
        if loss_weight(layer) == 0 or not any(passes(i, b) for b in range(len(layer.bottom))):
            continue
        reach = reached_from(i)
        reached |= reach
        losses.append(dict(kind=kind(layer), on=sorted(sources(bottoms[i][0])), frames=frames(bottoms[i][0]),
                           reaches=sorted(reach)))
    losses.sort(key=lambda d: (d["kind"], d["on"], d["frames"]))

    by_name = {layers[i].name: i for i in params}
    return dict(
        activations={layers[i].name: activation_chain(i) for i in params},
        params={layers[i].name: param_specs(layers[i]) for i in params},
        inputs={layers[i].name: [sorted(sources(b)) for b, _ in zip(bottoms[i], layers[i].bottom)] for i in params},
        reached=sorted(reached),
        trained=sorted(n for n in reached if any(lr for lr, _ in param_specs(layers[by_name[n]]))),
        losses=losses,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prototxt")
    parser.add_argument("--phase", choices=["TRAIN", "TEST"], default="TRAIN")
    args = parser.parse_args()
    try:
        net = load(args.prototxt)
    except (OSError, text_format.ParseError) as e:
        print(f"net_facts.py: {args.prototxt}: {e}", file=sys.stderr)
        return 1
    json.dump(facts(net, getattr(caffe_pb2, args.phase)), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
