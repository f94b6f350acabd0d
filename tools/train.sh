#!/usr/bin/env bash
# The released training schedule end to end, resumable, for the paper and the demo configurations:
#   tools/train.sh --config paper|demo [--data DIR] [--work DIR] [--iterations N] [--gpu N]
#                  [--from STEP] [--until STEP] [--cpm-weights FILE|scratch] [--improvements LIST|none]
# `tools/train.sh --help` lists the steps and what each reads and writes (the steps are in pipeline/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$root/.venv/bin/python" ]; then export PATH="$root/.venv/bin:$PATH"; fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m pipeline "$@"
