#!/usr/bin/env python3
"""Write the synthetic Human3.6M-format data set (SPEC section 11, docs/data.md): images, list files,
per-action test lists, the 2D-only list, the max-min table, meta.json and raw_poses.npz, and in <out>/unseen
the unseen-motion test set. With --out alone it writes what the demo uses: Human3.6M's protocol (every
subject performs every action), no mirroring, the unseen-motion set beside it.

The folder is built beside --out under a temporary name and renamed when complete, so an interrupted
run leaves nothing half-written. The same arguments always give byte-identical list files.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pose_formats import synthetic  # noqa: E402
from pose_formats.mocap.catalogue import MissingMocapPackage  # noqa: E402
from pose_formats.synthetic.motions import sequence_world_poses  # noqa: E402
from pose_formats.synthetic.real_motion import (TRAIN_REAL_SHARE, ProtocolMotionSource,  # noqa: E402
                                                UnseenMotionSource)

UNSEEN_FRAMES = 10     # kept frames per test subject and slot: 300 frames, a quarter of the main test set

DEFAULTS = synthetic.SyntheticConfig()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="data/synthetic", help="output folder (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=DEFAULTS.image_size,
                   help="side of the square crops in pixels (default: %(default)s; the paper uses 368)")
    p.add_argument("--train-subjects", default=",".join(DEFAULTS.train_subjects),
                   help="a count n (the first n of S1,S5,S6,S7,S8) or names (default: %(default)s)")
    p.add_argument("--test-subjects", default=",".join(DEFAULTS.test_subjects),
                   help="a count n (the first n of S9,S11) or names; the last one is the Protocol #3 "
                        "test subject (default: %(default)s)")
    p.add_argument("--frames-per-action", type=int, default=DEFAULTS.frames_per_action,
                   help="kept frames (every 5th of a 50 fps video) per subject, action and camera; "
                        "a multiple of 5 (default: %(default)s)")
    p.add_argument("--cameras", type=int, default=DEFAULTS.cameras,
                   help="views of the 4-camera rig rendered for the training subjects (default: %(default)s)")
    p.add_argument("--test-cameras", type=int, default=DEFAULTS.test_cameras,
                   help="views rendered for the test subjects (default: %(default)s)")
    p.add_argument("--image-format", choices=("jpg", "png"), default=DEFAULTS.image_format,
                   help="image file format (default: %(default)s)")
    p.add_argument("--motion", choices=("real", "procedural"), default="real",
                   help="real: each action's family of the procedural motion and the real clips that fit it, "
                        "held-out segments of multi-cycle captures for the test subjects, and the unseen-motion "
                        "set (needs `make mocap`); procedural: the generator's own motions only, no unseen set "
                        "(default: %(default)s)")
    p.add_argument("--mirror", action="store_true",
                   help="augmentation: mirror each training sequence left to right with probability 1/2 (seeded; "
                        "off by default: it made the main test set's probes worse, docs/data.md); rotation about "
                        "the vertical is every sequence's seeded heading already")
    p.add_argument("--unseen-frames", type=int, default=UNSEEN_FRAMES,
                   help="with --motion real: kept frames per test subject and slot of the unseen-motion set in "
                        "<out>/unseen, a multiple of 5; 0: none (default: %(default)s)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="rendering processes (default: the number of cores, %(default)s)")
    p.add_argument("--real-share", type=float, default=TRAIN_REAL_SHARE,
                   help="with --motion real: the share of training sequences of an action with real clips that "
                        f"perform one (the others its procedural motion; default: {TRAIN_REAL_SHARE})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if os.path.exists(args.out) and not args.force:
        sys.exit(f"make_synthetic_h36m: {args.out} exists; pass --force to replace it")
    try:
        config = synthetic.SyntheticConfig(
            seed=args.seed, image_size=args.image_size,
            train_subjects=synthetic.parse_subjects(args.train_subjects, synthetic.P1_TRAIN_SUBJECTS),
            test_subjects=synthetic.parse_subjects(args.test_subjects, synthetic.P1_TEST_SUBJECTS),
            frames_per_action=args.frames_per_action, cameras=args.cameras, test_cameras=args.test_cameras,
            image_format=args.image_format)
        start = time.monotonic()
        real = args.motion == "real"
        motion_source = (ProtocolMotionSource(config.test_subjects, mirror=args.mirror,
                                              train_real_share=args.real_share) if real else sequence_world_poses)
        unseen = UnseenMotionSource() if real and args.unseen_frames else None
        meta = synthetic.generate(args.out, config, workers=args.workers, progress=not args.no_progress,
                                  overwrite=args.force, motion_source=motion_source, unseen_source=unseen,
                                  unseen_frames=args.unseen_frames)
    except (ValueError, MissingMocapPackage) as e:
        sys.exit(f"make_synthetic_h36m: {e}")
    counts = {name: sum(per_action.values()) for name, per_action in meta["frames_per_action"].items()}
    print(f"wrote {args.out} in {time.monotonic() - start:.1f} s: "
          + ", ".join(f"{name} {n} frames" for name, n in counts.items())
          + (f", unseen/ {meta['unseen']['frames']} test frames" if "unseen" in meta else ""))


if __name__ == "__main__":
    main()
