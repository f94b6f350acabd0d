#!/usr/bin/env python3
"""Writes the coarse 3D pose a trained model (bilstm's) predicts for training frames, beside each
frame's ground-truth 3D pose: the pose pairs the refine stage fits the refine branch on
(fitted_refine).

Every --every-th clip of the list (clips as their markers delimit them) goes through the deploy net
(backbone, encoder, both LSTMs, fc-final_16) one clip per forward pass, as tools/test_all.sh feeds
the test nets. Writes a list file in the released layout, one line per frame: the image path, then
97 values, the 48 normalised coordinates of the coarse pose (`pred_3d`), the 48 of the list's 3D
label, and the frame's clip marker. The list is written whole or not at all.
"""
import argparse
import collections
import concurrent.futures
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")  # Caffe's per-layer INFO log would bury the result line

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from caffe_layers.weights_check import build_net, check_weights  # noqa: E402
from online.weights import LAYERS  # noqa: E402
from pose_formats.atomic import check_writable  # noqa: E402
from pose_formats.cli import run_tool  # noqa: E402
from pose_formats.image_batches import MEAN_VALUE, SCALE, read_images  # noqa: E402
from pose_formats.listfile import LABEL_DIM_2D3D, parse_list_file, write_list_file  # noqa: E402
from pose_formats.skeleton import DIM_2D, DIM_3D  # noqa: E402

PREDICTION = "pred_3d"
PREFETCH = 4   # clips decoded ahead of the forward pass


def clip_bounds(markers, every):
    """[(first line, end)] of every `every`-th clip; a clip opens at marker 0 (and at line 0)."""
    starts = np.flatnonzero(markers == 0)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    ends = np.append(starts[1:], len(markers))
    return list(zip(starts.tolist(), ends.tolist()))[::every]


def predict(net, listing, root, bounds, threads, progress):
    """(frame indices, coarse poses (frames, 48) float32) of the clips in `bounds`."""
    side = net.blobs["data"].data.shape[2:]
    transform = (*side, MEAN_VALUE, SCALE)   # as the test nets' data layer reads images

    def load(clip):   # a clip's images, decoded one after another on a pool thread
        return read_images(listing, np.arange(*clip), root, transform)

    indices, poses = [], []
    cv2.setNumThreads(1)   # parallelism comes from the decode threads
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        pending = collections.deque(pool.submit(load, clip) for clip in bounds[:PREFETCH])
        for k, (first, end) in enumerate(bounds):
            images = pending.popleft().result()
            if k + PREFETCH < len(bounds):
                pending.append(pool.submit(load, bounds[k + PREFETCH]))
            frames = end - first
            net.blobs["data"].reshape(frames, 3, *side)
            net.blobs["clip"].reshape(frames, 1)
            net.blobs["data"].data[...] = images
            net.blobs["clip"].data[:, 0] = listing.labels[first:end, -1]
            net.blobs["clip"].data[0, 0] = 0.0   # a clip of its own
            net.forward()
            indices.append(np.arange(first, end))
            poses.append(net.blobs[PREDICTION].data.copy())
            progress.update(frames)
    return np.concatenate(indices), np.concatenate(poses)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("caffemodel", help="the trained model whose coarse poses are wanted (bilstm's)")
    parser.add_argument("--prototxt", required=True, help="the deploy net of the model's configuration, e.g. "
                        "prototxt/demo/deploy.prototxt")
    parser.add_argument("--list", required=True, help="the training list file (2D + 3D labels and clip markers)")
    parser.add_argument("--root", required=True, help="the folder the list's image paths are relative to")
    parser.add_argument("--out", required=True, help="the list file of pose pairs to write")
    parser.add_argument("--every", type=int, default=1, help="take every N-th clip (default 1: all)")
    parser.add_argument("--gpu", type=int, help="run on this GPU (with HPM_CAFFE=gpu)")
    parser.add_argument("--threads", type=int, default=2, help="image decoding threads (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run(args):
    if args.every < 1 or args.threads < 1:
        raise ValueError("--every and --threads must be at least 1")
    check_writable(os.path.dirname(os.path.abspath(args.out)))
    listing = parse_list_file(args.list, LABEL_DIM_2D3D)
    import caffe
    if args.gpu is not None:
        caffe.set_mode_gpu()
        caffe.set_device(args.gpu)
    net = build_net(args.prototxt, "test")
    # the refine branch and projector are not used: a bilstm model has none
    check_weights(args.prototxt, args.caffemodel, fresh=tuple(LAYERS.values()), phase="test", net=net)
    net.copy_from(args.caffemodel)
    bounds = clip_bounds(listing.labels[:, -1], args.every)
    total = sum(end - first for first, end in bounds)
    with tqdm(total=total, unit="frame", desc="coarse poses", disable=args.no_progress) as progress:
        indices, coarse = predict(net, listing, args.root, bounds, args.threads, progress)
    labels = listing.labels[indices]
    pairs = np.concatenate([coarse, labels[:, DIM_2D:DIM_2D + DIM_3D], labels[:, -1:]], axis=1)
    write_list_file(args.out, [listing.image_paths[i] for i in indices], pairs)
    print(f"wrote {args.out}: coarse and ground-truth 3D poses of {len(indices)} frames ({len(bounds)} clips) "
          f"of {args.list}, from {args.caffemodel}")


def main(argv=None):
    return run_tool("coarse_poses.py", build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
