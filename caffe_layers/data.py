"""Data layers: ImageDataLstm (2D+3D clips from a list file), ImageData (multi-label 2D-only
frames, MPII-style) and ListLabels (a list file's labels without its images). Images and labels are
prepared ahead by pose_formats.image_batches so Caffe does not wait on disk; the layer only copies
ready batches into its tops."""
import os

import caffe

from pose_formats.image_batches import MEAN_VALUE, SCALE, BatchSampler, ListFileBatches
from pose_formats.listfile import LABEL_DIM_2D, LABEL_DIM_2D3D, parse_list_file

from .params import REQUIRED, parse_params
from .resume import start_iteration

_SCHEMA = {
    "source": (str, REQUIRED),          # list file, relative to the working directory (the repo root)
    "root_folder": (str, ""),           # prefix of the image paths in the list
    "batch_size": (int, 5),             # = clip length for the LSTM stages
    "new_height": (int, REQUIRED),
    "new_width": (int, REQUIRED),
    "mean_value": (float, MEAN_VALUE),
    "scale": (float, SCALE),
    "is_shuffle_batch": (bool, False),  # each batch starts at a random line and opens a new clip
    "shuffle": (bool, False),           # shuffle the lines at the start and at every wrap-around
    "seed": (int, 0),
    "prefetch": (int, 4),               # batches prepared ahead
    "threads": (int, 2),                # image decoding threads
}


def list_params(layer, bottom, top, schema, top_names, positive):
    """A list-file data layer's params (parse_params of `schema`), checked: no bottom, the tops
    `top_names`, the `positive` params at least 1 and the list file there."""
    name = layer.__class__.__name__
    p = parse_params(name, layer.param_str, schema)
    if len(bottom) != 0 or len(top) != len(top_names):
        tops = f"{len(top_names)} top{'s' if len(top_names) > 1 else ''}"
        raise ValueError(f"layer {name}: needs no bottom and {tops} ({', '.join(top_names)})")
    for key in positive:
        if p[key] < 1:
            raise ValueError(f"layer {name}: param '{key}' must be positive, got {p[key]}")
    if not os.path.isfile(p["source"]):
        raise ValueError(f"layer {name}: param 'source': list file {p['source']!r} not found "
                         f"(working directory {os.getcwd()})")
    return p


class ImageDataLstm(caffe.Layer):
    """Tops: data (N x 3 x new_height x new_width), label (N x label_dim)."""

    default_label_dim = LABEL_DIM_2D3D

    def setup(self, bottom, top):
        p = list_params(self, bottom, top, {**_SCHEMA, "label_dim": (int, self.default_label_dim)},
                        ("data", "label"), ("batch_size", "new_height", "new_width", "label_dim", "prefetch", "threads"))
        self.batches = ListFileBatches(
            p["source"], p["root_folder"], p["label_dim"], p["batch_size"], p["new_height"], p["new_width"],
            mean_value=p["mean_value"], scale=p["scale"], shuffle_batch=p["is_shuffle_batch"],
            shuffle_lines=p["shuffle"], seed=p["seed"], prefetch=p["prefetch"], threads=p["threads"],
            start_batch=start_iteration(self))
        top[0].reshape(p["batch_size"], 3, p["new_height"], p["new_width"])
        top[1].reshape(p["batch_size"], p["label_dim"])

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        data, labels = self.batches.next()
        top[0].data[...] = data
        top[1].data[...] = labels

    def backward(self, top, propagate_down, bottom):
        pass


class ImageData(ImageDataLstm):
    """The released multi-label ImageData for 2D-only lists: path + 32 2D values + clip marker."""

    default_label_dim = LABEL_DIM_2D


class ListLabels(caffe.Layer):
    """Top: label (N x label_dim), the frames of a list file in an order reshuffled at every pass and
    no image read: what a net fed only poses needs (the fitted_projector stage: 3D pose -> 2D pose)."""

    _schema = {"source": (str, REQUIRED), "batch_size": (int, 64), "label_dim": (int, LABEL_DIM_2D3D),
               "seed": (int, 0)}

    def setup(self, bottom, top):
        p = list_params(self, bottom, top, self._schema, ("label",), ("batch_size", "label_dim"))
        self.labels = parse_list_file(p["source"], p["label_dim"]).labels
        self.sampler = BatchSampler(len(self.labels), p["batch_size"], shuffle_lines=True, seed=p["seed"])
        self.sampler.skip(start_iteration(self))
        top[0].reshape(p["batch_size"], p["label_dim"])

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        top[0].data[...] = self.labels[self.sampler.next_batch()[0]]

    def backward(self, top, propagate_down, bottom):
        pass
