#!/usr/bin/env python3
"""Online self-supervised correction of tested results (the released script's name); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from online.predict import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
