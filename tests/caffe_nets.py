"""Helpers for tests that run layers inside real Caffe nets built from prototxt text."""
import os

import numpy as np
from google.protobuf import text_format

import caffe
from caffe.proto import caffe_pb2
from caffe_layers.params import format_params, split_params


def make_net(tmp_path, text, phase=caffe.TRAIN, name="net.prototxt"):
    path = tmp_path / name
    path.write_text("force_backward: true\n" + text)
    return caffe.Net(str(path), phase)


def input_layer(name, shape):
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


def python_layer(name, module, layer, bottoms, tops, param_str="", extra=""):
    b = " ".join(f'bottom: "{x}"' for x in bottoms)
    t = " ".join(f'top: "{x}"' for x in tops)
    return (f'layer {{ name: "{name}" type: "Python" {b} {t} {extra}\n'
            f'  python_param {{ module: "{module}" layer: "{layer}" param_str: "{param_str}" }} }}\n')


def check_gradient_by_finite_differences(net, inputs, loss, rng, eps=5e-2, samples=24, rtol=2e-3):
    """Compare net.backward()'s gradient of blob `loss` w.r.t. each input blob with central differences
    at `samples` random elements of each input. The absolute tolerance is the float32 rounding of the
    loss divided by the step, the part of a central difference no step size removes."""
    for name, value in inputs.items():
        net.blobs[name].data[...] = value
    value = abs(float(net.forward()[loss].reshape(-1)[0]))
    atol = 8 * value * np.finfo(np.float32).eps / eps + 1e-6
    net.backward()
    analytic = {name: net.blobs[name].diff.copy() for name in inputs}
    for name in inputs:
        flat = net.blobs[name].data.reshape(-1)
        for i in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            original = flat[i]
            flat[i] = original + eps
            up = float(net.forward()[loss].reshape(-1)[0])
            flat[i] = original - eps
            down = float(net.forward()[loss].reshape(-1)[0])
            flat[i] = original
            numeric = (up - down) / (2 * eps)
            got = analytic[name].reshape(-1)[i]
            assert abs(got - numeric) <= atol + rtol * abs(numeric), (name, int(i), got, numeric)


def write_caffemodel(path, blobs):
    """A caffemodel holding {layer name: [arrays]}, as Caffe stores trained weights."""
    model = caffe_pb2.NetParameter()
    for name, arrays in blobs.items():
        layer = model.layer.add()
        layer.name = name
        for array in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(array.shape)
            blob.data.extend(np.asarray(array, np.float32).reshape(-1))
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return str(path)


DATA_LAYERS = ("ImageDataLstm", "ImageData")


def retarget_data(prototxt, data_dir, out_path, **overrides):
    """Copy of a net whose data layers read their lists (same file names) and images from data_dir."""
    net = caffe_pb2.NetParameter()
    with open(prototxt) as f:
        text_format.Merge(f.read(), net)
    for layer in net.layer:
        if layer.type == "Python" and layer.python_param.layer in DATA_LAYERS:
            p = split_params(layer.name, layer.python_param.param_str)
            p["source"] = os.path.join(str(data_dir), os.path.relpath(p["source"], p["root_folder"]))
            p["root_folder"] = os.path.join(str(data_dir), "")
            p.update(overrides)
            layer.python_param.param_str = format_params(p)
    with open(out_path, "w") as f:
        f.write(text_format.MessageToString(net))
    return str(out_path)
