#!/usr/bin/env bash
# Tests a model on every action (1..15), one `caffe test` each, as the released test_all.sh did.
#
#   tools/test_all.sh [-t TEMPLATE] [-d DATA] [-a ACTIONS] [-g GPU] <weights.caffemodel> <out dir> [batch]
#
# -a ACTIONS: comma-separated action numbers (default: 1..15).
# -g GPU runs `caffe test -gpu GPU` with the GPU build of Caffe (HPM_CAFFE=gpu, `make caffe-gpu`).
# TEMPLATE defaults to prototxt/test/test_3d.prototxt (paper size); the demo uses
# prototxt/demo/test/test_3d.prototxt, and test_2d.prototxt with a 2D model. DATA replaces the
# template's data folder (lists DATA/gt/test/test<a>.txt, images under DATA). Writes, per action a:
#   3D template: result<a>_{norm,unnorm}.csv, result<a>_change_{norm,unnorm}.csv, result<a>_project_2d_norm.csv
#   2D template: result<a>_2d_norm.csv
# and prints the MPJPE of each action over exactly the frames of its list. Run from the repo root.
set -euo pipefail
template=prototxt/test/test_3d.prototxt
data=()
gpu=()
actions=$(seq -s, 1 15)
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
while [ $# -gt 0 ]; do
  case $1 in
    -t) template=$2; shift 2 ;;
    -d) data=(--data "$2"); shift 2 ;;
    -a) actions=$2; shift 2 ;;
    -g) gpu=(-gpu "$2"); export HPM_CAFFE=gpu; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { sed -n '4,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
weights=$1 out=$2 batch=${3:-5}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
[ -f "$weights" ] || { echo "test_all.sh: weights $weights not found" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# mpjpe KIND: what MPJPEEvaluation logged for result<a>_KIND.csv of the current action's log.
mpjpe() { sed -n "s/^MPJPEEvaluation (result${a}_$1.csv): MPJPE over [0-9]* frames = \([0-9.]*\) mm$/\1/p" "$log"; }

printf '%-7s %-13s %7s %14s %14s\n' action name frames "MPJPE (mm)" "change (mm)"
for a in ${actions//,/ }; do
  # A failed fill stops here (a process substitution would hide its exit status from set -e).
  info=$("$python" "$here/fill_test_prototxt.py" --batch "$batch" "${data[@]}" "$template" "$a" "$out" \
         "$work/test$a.prototxt") || exit 1
  read -r frames iterations name <<< "$info"
  log=$work/test$a.log
  if ! caffe test -model "$work/test$a.prototxt" -weights "$weights" -iterations "$iterations" "${gpu[@]}" \
       > "$log" 2>&1; then
    tail -20 "$log" >&2
    echo "test_all.sh: caffe test failed on action $a (log above)" >&2
    exit 1
  fi
  coarse=$(mpjpe unnorm) change=$(mpjpe change_unnorm)
  printf '%-7s %-13s %7s %14s %14s\n' "$a" "$name" "$frames" "${coarse:--}" "${change:--}"
done
