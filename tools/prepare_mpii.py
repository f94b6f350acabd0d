#!/usr/bin/env python3
"""MPII Human Pose (mpii_human_pose_v1_u12_1.mat and images/) -> the 2D-only list mpii_2d_train.txt
(path + 32 values + clip marker, SPEC section 3) with square 368x368 person crops, and mpii_meta.json.

Single-person training annotations with all 15 of our joints that MPII has; the spine (ours 7) is
absent from MPII and written as 0,0 (the nets mask it). Files are written under temporary names.
"""
import argparse
import os
import sys

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pose_formats import mpii  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mpii-root", required=True, help="folder holding mpii_human_pose_v1_u12_1.mat and images/")
    p.add_argument("--out", default="data/h36m", help="output folder (default: %(default)s)")
    p.add_argument("--size", type=int, default=368, help="crop side in pixels (default: %(default)s)")
    p.add_argument("--margin", type=float, default=1.25, help="crop side / person size (default: %(default)s)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.size < 16 or args.margin < 1 or not 1 <= args.quality <= 100:
        sys.exit("prepare_mpii: need --size >= 16, --margin >= 1 and --quality 1..100")
    try:
        meta = mpii.prepare(args.mpii_root, args.out, args.size, args.margin, args.quality,
                            progress=lambda items: tqdm(items, unit="person", desc="cropping",
                                                        disable=args.no_progress))
    except (ValueError, OSError) as e:
        sys.exit(f"prepare_mpii: {e}")
    print(f"prepare_mpii: {meta['frames']} people in {os.path.join(args.out, meta['list'])} "
          f"({meta['skipped_incomplete']} skipped for unannotated joints)")


if __name__ == "__main__":
    main()
