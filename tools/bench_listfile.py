#!/usr/bin/env python3
"""Benchmark reading a list file of the released training list's size (about 300,000 lines of 81
values, written by write_list_file: 9 significant digits, the longest form our tools write):
seconds for parse_list_file (NumPy's C reader, one part per core this process may run on), for the
same reader in one part (one core, as under `taskset -c 0`), and optionally for the line-by-line
reader it falls back to. Wall and CPU seconds are printed, and the load average: other jobs on
the cores slow every reader's wall time."""
import argparse
import os
import resource
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
        size = os.path.getsize(source)
        parts = listfile._part_count(size)

        def best(read):
            """(wall, CPU) seconds of the fastest read; the CPU time, this process's and its forked
            readers', is what the read would take on idle cores, once divided among them."""
            times = []
            for _ in range(args.repeats):
                start, cpu = time.perf_counter(), _cpu_seconds()
                read()
                times.append((time.perf_counter() - start, _cpu_seconds() - cpu))
            return min(times)

        print(f"{args.lines} lines, {size / 1e6:.0f} MB, {len(os.sched_getaffinity(0))} cores for this "
              f"process, load average {os.getloadavg()[0]:.1f} at the start (best of {args.repeats})")
        rows = [(f"parse_list_file ({parts} part{'s' * (parts > 1)})",
                 lambda: listfile.parse_list_file(source, listfile.LABEL_DIM_2D3D))]
        if parts > 1:
            rows.append(("the same reader in one part", lambda: listfile._parse_fast(source, listfile.LABEL_DIM_2D3D, 1)))
        if args.line_by_line:
            rows.append(("line by line (the fallback)", lambda: listfile._parse_lines(source, listfile.LABEL_DIM_2D3D)))
        print(f"{'reader':<40}{'wall':>8}{'CPU':>8}")
        for name, read in rows:
            wall, cpu = best(read)
            print(f"{name:<40}{wall:>6.2f} s{cpu:>6.2f} s", flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _cpu_seconds():
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


if __name__ == "__main__":
    main()
