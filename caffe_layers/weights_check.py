"""Whether a caffemodel holds every parameter layer a net takes from it, with the net's blob shapes.

Caffe copies weights by layer name and says nothing about a net layer the model lacks: the layer
keeps its filler's random start, so a model of the wrong stage gives complete-looking wrong results.
A blob of the wrong shape aborts Caffe with a stack dump. This check runs before Caffe loads a model
(tools/check_weights.py, tools/test_all.sh, tools/init_refine.py, tools/gen_refinepkl.py) and names,
in one line, what is missing or mis-shaped.

The net's side is read from the net pycaffe builds (so the shapes are Caffe's own); the model's side
from its protobuf, without a net. A layer whose blobs all belong to an earlier layer (shared by
ParamSpec name, as the projector's ground-truth copy shares the projector's) takes nothing from the
model. Layers a stage starts from their fillers on purpose are passed as `fresh`.
"""
from caffe.proto import caffe_pb2
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from pose_formats.input_files import read_bytes

PHASES = ("train", "test")


def read_model(path):
    """The NetParameter of a caffemodel file; ValueError naming it if it is none."""
    model = caffe_pb2.NetParameter()
    try:
        model.ParseFromString(read_bytes(path))
    except DecodeError as e:
        raise ValueError(f"{path}: not a readable caffemodel ({e})") from None
    if not any(l.blobs for l in model.layer or model.layers):
        raise ValueError(f"{path}: holds no trained layers (not a caffemodel?)")
    return model


def model_shapes(model):
    """{layer name: [(shape, legacy)]} of a caffemodel's NetParameter; legacy: the blob gives num,
    channels, height, width instead of a shape (old models), which Caffe compares with the net's shape
    padded to 4 axes."""
    layers = model.layer or model.layers   # V1-format models keep their layers in `layers`
    return {l.name: [(tuple(b.shape.dim), False) if b.HasField("shape") else
                     ((b.num, b.channels, b.height, b.width), True) for b in l.blobs] for l in layers}


def same_shape(saved, net_shape):
    """Caffe's Blob::ShapeEquals for a saved blob (shape, legacy) and a net blob's shape."""
    shape, legacy = saved
    if legacy:
        return len(net_shape) <= 4 and shape == (1,) * (4 - len(net_shape)) + tuple(net_shape)
    return shape == tuple(net_shape)


def parse_net(prototxt):
    """The NetParameter of a net definition; ValueError naming the file on a syntax error."""
    net = caffe_pb2.NetParameter()
    try:
        text_format.Merge(read_bytes(prototxt).decode("utf-8"), net)
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise ValueError(f"{prototxt}: not a readable net definition ({e})") from None
    return net


def build_net(prototxt, phase="train"):
    """The net pycaffe builds of `prototxt` in `phase` ("train" or "test")."""
    import caffe
    if phase not in PHASES:
        raise ValueError(f"phase {phase!r}: expected one of {', '.join(PHASES)}")
    parse_net(prototxt)   # Caffe would abort on a syntax error with a stack dump
    return caffe.Net(prototxt, caffe.TRAIN if phase == "train" else caffe.TEST)


def net_needs(net):
    """({layer: [blob shapes]} of a built net's parameter layers that take their blobs from a model,
    {layer: [blob shapes]} of those whose blobs all belong to an earlier layer)."""
    owned, shared_only, seen = {}, {}, set()
    for name, blobs in net.params.items():
        # shared blobs are views of their owner's memory (Caffe's ShareData)
        pointers = [b.data.__array_interface__["data"][0] for b in blobs]
        shapes = [tuple(b.data.shape) for b in blobs]
        (shared_only if all(p in seen for p in pointers) else owned)[name] = shapes
        seen.update(pointers)
    return owned, shared_only


def problems(saved, owned, shared_only, fresh=()):
    """The ways a model (model_shapes) fails a net (net_needs): a list of short phrases, empty if none."""
    found = []
    missing = [name for name in owned if name not in saved and name not in fresh]
    if missing:
        found.append(f"no layer(s) {', '.join(missing)}")
    needed = {**owned, **shared_only}
    misfits = [name for name, shapes in needed.items() if name in saved and (
        len(saved[name]) != len(shapes) or not all(map(same_shape, saved[name], shapes)))]
    if misfits:
        first = misfits[0]
        found.append(f"other blob shapes in layer(s) {', '.join(misfits)} ({first}: "
                     f"{[list(s) for s, _ in saved[first]]} in the model, {[list(s) for s in needed[first]]} in the net)")
    return found


def check_weights(prototxt, caffemodel, fresh=(), phase="train", model=None, net_name=None, net=None):
    """ValueError naming the model, the net and every missing or mis-shaped layer, unless the model
    supplies every parameter layer of the net other than `fresh` with the net's blob shapes.
    model: the caffemodel's NetParameter when the caller holds it (default: read from caffemodel);
    net_name: how the message names the net (default: prototxt); net: the net pycaffe built of
    prototxt in `phase` when the caller holds it (default: built here)."""
    read_bytes(prototxt)   # missing, empty or a directory: one line naming it
    saved = model_shapes(model if model is not None else read_model(caffemodel))
    owned, shared_only = net_needs(net if net is not None else build_net(prototxt, phase))
    found = problems(saved, owned, shared_only, fresh)
    if found:
        raise ValueError(f"{caffemodel}: does not fit {net_name or prototxt}: {'; '.join(found)}")
