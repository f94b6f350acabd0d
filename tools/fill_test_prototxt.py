#!/usr/bin/env python3
"""Fills a per-action test template (prototxt/*/test/test_{3d,2d}.prototxt) for each given action: the
action's list file, the batch, the sample count of every result-writing layer and the result paths
(result<a>_*.csv in the output folder), written as <filled dir>/test<a>.prototxt. Edits the nets
through pycaffe's protobuf classes. Prints `<action> <frames> <iterations> <action name>` per action
for tools/test_all.sh, which fills a whole pass in one process (each start imports pycaffe). Writes
nothing unless every action fills."""
import argparse
import json
import os
import re
import sys

from google.protobuf import text_format

from caffe_layers.params import split_params
from caffe_layers.weights_check import parse_net
from pose_formats.listfile import LABEL_DIM_2D3D, read_list_file
from pose_formats.per_action import parse_actions
from pose_formats.skeleton import ACTIONS

DATA_LAYERS = ("ImageDataLstm", "ImageData")
RESULT_LAYERS = ("MPJPEEvaluation", "SavePath")


def format_json(params):
    """param_str as JSON, which holds any path (the `key: value; ...` form would split one at a ';')."""
    return json.dumps(params, sort_keys=True)


def fill(template, template_net, action, out_dir, batch, data_dir=None):
    """(filled net, frames, iterations) of one action; `template_net` is parse_net(template), left as it is."""
    if batch < 1:
        raise ValueError(f"batch {batch}: must be a positive number of frames")
    net = type(template_net)()
    net.CopyFrom(template_net)
    data_layers = [l for l in net.layer if l.type == "Python" and l.python_param.layer in DATA_LAYERS]
    if len(data_layers) != 1:
        raise ValueError(f"{template}: expected one data layer, found {len(data_layers)}")
    data = data_layers[0]
    params = split_params(data.name, data.python_param.param_str)
    if data_dir is not None:  # lists and images from another data folder of the same layout
        params["source"] = os.path.join(data_dir, "gt", "test", f"test{action}.txt")
        params["root_folder"] = os.path.join(data_dir, "")
    params["source"] = re.sub(r"test\d+\.txt$", f"test{action}.txt", params["source"])
    if not params["source"].endswith(f"test{action}.txt"):
        raise ValueError(f"{template}: layer '{data.name}': source {params['source']!r} is not a test<a>.txt list")
    frames = len(read_list_file(params["source"], LABEL_DIM_2D3D)[0])
    if frames % batch:
        # A last batch that wraps around would feed the list's first frames into the backward LSTM
        # of its last ones: results would depend on the batch size.
        raise ValueError(f"{params['source']}: {frames} frames is not a multiple of the batch {batch}")
    params.update(batch_size=batch, is_shuffle_batch=False)
    data.python_param.param_str = format_json(params)
    for layer in net.layer:
        if layer.type == "Python" and layer.python_param.layer in RESULT_LAYERS:
            p = split_params(layer.name, layer.python_param.param_str)
            name = os.path.basename(p["save_filepath"])
            p["save_filepath"] = os.path.join(out_dir, re.sub(r"^result\d+", f"result{action}", name))
            p["sample_num"] = frames
            layer.python_param.param_str = format_json(p)
    return net, frames, frames // batch


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("template")
    parser.add_argument("actions", help="action numbers 1..15, e.g. 3 or 1,4,7-9")
    parser.add_argument("out_dir", help="where the filled nets write their results")
    parser.add_argument("filled_dir", help="where to write the filled nets, test<a>.prototxt")
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--data", help="data folder to read instead of the template's (<data>/gt/test/test<a>.txt)")
    args = parser.parse_args()
    try:
        template_net = parse_net(args.template)
        filled = {a: fill(args.template, template_net, a, args.out_dir, args.batch, args.data)
                  for a in parse_actions(args.actions)}
    except (ValueError, KeyError, OSError) as e:
        print(f"fill_test_prototxt.py: {e}", file=sys.stderr)
        return 1
    for action, (net, frames, iterations) in filled.items():
        with open(os.path.join(args.filled_dir, f"test{action}.prototxt"), "w") as f:
            f.write(text_format.MessageToString(net))
        print(action, frames, iterations, ACTIONS[action - 1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
