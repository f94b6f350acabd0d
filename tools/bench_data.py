#!/usr/bin/env python3
"""Benchmark the image pipeline of the data layers: images per second read (JPEG), resized to
368x368 and transformed, by a plain single-threaded loop and by ListFileBatches (background
threads, prefetch), measured side by side in one run."""
import argparse
import os
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pose_formats.image_batches import ListFileBatches  # noqa: E402
from pose_formats.listfile import write_list_file  # noqa: E402


def make_images(folder, count, size, seed=0):
    """`count` smooth random JPEGs of size x size (so the resize to 368 does real work)."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        small = rng.integers(0, 256, size=(size // 8, size // 8, 3), dtype=np.uint8)
        image = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        names.append(f"{i}.jpg")
        cv2.imwrite(os.path.join(folder, names[-1]), image)
    return names


def plain_loop(paths, side):
    """What a straightforward loader does: one image after another on one thread."""
    for path in paths:
        image = cv2.resize(cv2.imread(path), (side, side), interpolation=cv2.INTER_LINEAR)
        ((image.astype(np.float32) - 128.0) * (1 / 256)).transpose(2, 0, 1).copy()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200, help="images per timed pass")
    parser.add_argument("--source-size", type=int, default=480, help="side of the JPEGs on disk")
    parser.add_argument("--side", type=int, default=368, help="network input side")
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="decode threads of ListFileBatches")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        names = make_images(folder, args.images, args.source_size)
        paths = [os.path.join(folder, n) for n in names]
        source = os.path.join(folder, "list.txt")
        labels = np.zeros((len(names), 81), np.float32)
        write_list_file(source, names, labels)
        plain_loop(paths[:10], args.side)                 # warm the page cache and OpenCV

        start = time.perf_counter()
        plain_loop(paths, args.side)
        plain_rate = len(paths) / (time.perf_counter() - start)

        batches = ListFileBatches(source, folder, 81, args.batch, args.side, args.side, threads=args.threads,
                                  prefetch=2)
        batches.next()
        steps = len(paths) // args.batch
        start = time.perf_counter()
        for _ in range(steps):
            batches.next()
        layer_rate = steps * args.batch / (time.perf_counter() - start)
        batches.close()

    print(f"{'pipeline':<40}{'images/s':>10}{'ratio':>8}")
    print(f"{'plain single-threaded loop':<40}{plain_rate:>10.0f}{1.0:>8.2f}")
    print(f"{f'ListFileBatches ({args.threads} threads)':<40}{layer_rate:>10.0f}{layer_rate / plain_rate:>8.2f}")
    print(f"({args.images} JPEGs {args.source_size}x{args.source_size} -> {args.side}x{args.side}, "
          f"{os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
