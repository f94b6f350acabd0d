#!/usr/bin/env bash
# `make demo`: the demo configuration of the pipeline (tools/train.sh --config demo) on the embedded
# synthetic data set: data/synthetic -> results/demo (models in results/demo/models/). Options are
# passed on (tools/train.sh --help). Run it again after a kill: it resumes.
set -euo pipefail
exec "$(dirname "$0")/train.sh" --config demo "$@"
