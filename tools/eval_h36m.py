#!/usr/bin/env python3
"""MPJPE / P-MPJPE tables and skeleton pictures for a results directory; see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from evaluation.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
