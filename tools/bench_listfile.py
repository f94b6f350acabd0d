#!/usr/bin/env python3
"""Benchmark reading a list file of the released training list's size (about 300,000 lines of 81
values, written by write_list_file: 9 significant digits, the longest form our tools write):
seconds to parse it with NumPy in blocks, and with the line-by-line reader it falls back to."""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pose_formats import listfile  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed reads (best one reported)")
    parser.add_argument("--line-by-line", action="store_true", help="also time the line-by-line reader")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    labels = rng.uniform(0, 1, (args.lines, listfile.LABEL_DIM_2D3D)).astype(np.float32)
    labels[:, -1] = np.arange(args.lines) % 5 != 0
    paths = [f"images/S1/Walking 1.54138969/{5 * i:06d}.jpg".replace(" ", "_") for i in range(args.lines)]
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "16skel_train_2d3d_clip.txt")
        listfile.write_list_file(source, paths, labels)
        size_mb = os.path.getsize(source) / 1e6

        def best(read):
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                read()
                times.append(time.perf_counter() - start)
            return min(times)

        bulk = best(lambda: listfile.parse_list_file(source, listfile.LABEL_DIM_2D3D))
        print(f"{args.lines} lines, {size_mb:.0f} MB, {os.cpu_count()} cores")
        print(f"{'NumPy blocks (parse_list_file)':<40}{bulk:>8.2f} s")
        if args.line_by_line:
            with open(source) as f:
                text = f.read()
            slow = best(lambda: listfile._parse_lines(source, text, listfile.LABEL_DIM_2D3D))
            print(f"{'line by line (the fallback)':<40}{slow:>8.2f} s")


if __name__ == "__main__":
    main()
