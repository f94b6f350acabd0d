#!/usr/bin/env python3
"""Human3.6M's official downloads -> the list files and 368x368 crops the paper configuration reads
(SPEC section 3): 16skel_{train,test}_2d3d[_p3]_clip.txt, gt/test[_p3]/test<a>.txt, images/, meta.json.

Reads S<k>/MyPoseFeatures/D3_Positions_mono/*.cdf (3D, camera coordinates, mm), .../D2_Positions/*.cdf
(2D, pixels) and S<k>/Videos/*.mp4 under --h36m-root. Keeps every 5th video frame in whole 5-frame
clips, crops a square box around the 2D joints (with a margin) and resizes it. A rerun skips the
sequences already finished; every file is written under a temporary name and renamed when complete.
A video OpenCV cannot read is skipped with a warning, a video shorter than its pose file is used up to
the common length; both are listed in meta.json.
"""
import argparse
import os
import sys
import time

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pose_formats import h36m_official  # noqa: E402


def parse_args(argv=None):
    defaults = h36m_official.CropOptions()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--h36m-root", required=True, help="folder holding S1, S5, ... as unpacked from the downloads")
    p.add_argument("--out", default="data/h36m", help="output folder (default: %(default)s)")
    p.add_argument("--protocol", choices=("1", "3", "both"), default="both",
                   help="#1: train S1 S5 S6 S7 S8, test S9 S11; #3: train adds S9, test every 64th frame "
                        "of S11 (default: %(default)s)")
    p.add_argument("--size", type=int, default=defaults.size, help="crop side in pixels (default: %(default)s)")
    p.add_argument("--margin", type=float, default=defaults.margin,
                   help="crop side / larger extent of the 2D joints (default: %(default)s)")
    p.add_argument("--quality", type=int, default=defaults.quality, help="JPEG quality (default: %(default)s)")
    p.add_argument("--mean-limb-scale", action="store_true",
                   help="3D labels with every bone's length set to the training subjects' mean (directions "
                        "kept), as the released 'mean limb scaled' naming suggests; test MPJPE then compares "
                        "to those poses. Default: the raw mm")
    p.add_argument("--max-min", help="max-min normalisation table (default: the shipped "
                                     "16point_mean_limb_scaled_max_min.csv)")
    p.add_argument("--workers", type=int, default=1, help="sequences prepared in parallel (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    protocols = (1, 3) if args.protocol == "both" else (int(args.protocol),)
    if args.size < 16 or args.margin < 1 or not 1 <= args.quality <= 100 or args.workers < 1:
        sys.exit("prepare_h36m: need --size >= 16, --margin >= 1, --quality 1..100 and --workers >= 1")
    options = h36m_official.CropOptions(size=args.size, margin=args.margin, quality=args.quality)
    bars = []

    def progress(total):
        bars.append(tqdm(total=total, unit="sequence", desc="cropping", disable=args.no_progress))
        return lambda: bars[0].update()

    start = time.monotonic()
    try:
        meta = h36m_official.prepare(args.h36m_root, args.out, protocols, options, args.mean_limb_scale,
                                     args.max_min, args.workers, progress)
    except (ValueError, OSError) as e:
        sys.exit(f"prepare_h36m: {e}")
    finally:
        for bar in bars:
            bar.close()
    for note in meta["warnings"]:
        print(f"prepare_h36m: warning: {note}", file=sys.stderr)
    lists = ", ".join(f"{name} {n}" for name, n in meta["frames"].items() if "/" not in name)
    print(f"prepare_h36m: {meta['sequences']} sequences ({meta['prepared_now']} prepared now, "
          f"{meta['skipped_as_finished']} already finished) in {time.monotonic() - start:.1f} s; frames: {lists}; "
          f"{os.path.join(args.out, 'meta.json')}")


if __name__ == "__main__":
    main()
