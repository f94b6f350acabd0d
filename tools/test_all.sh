#!/usr/bin/env bash
# Tests a model on every action (1..15), one `caffe test` each, as the released test_all.sh did.
#
#   tools/test_all.sh [-t TEMPLATE] [-d DATA] [-a ACTIONS] [-g GPU] [-f LAYER,...] <weights.caffemodel> <out dir> [batch]
#
# -a ACTIONS: comma-separated action numbers (default: 1..15).
# -g GPU runs `caffe test -gpu GPU` with the GPU build of Caffe (HPM_CAFFE=gpu, `make caffe-gpu`).
# TEMPLATE defaults to prototxt/test/test_3d.prototxt (paper size); the demo uses
# prototxt/demo/test/test_3d.prototxt, and test_2d.prototxt with a 2D model. DATA replaces the
# template's data folder (lists DATA/gt/test/test<a>.txt, images under DATA). batch (default 5)
# must divide every action's frame count. Writes, per action a:
#   3D template: result<a>_{norm,unnorm}.csv, result<a>_change_{norm,unnorm}.csv, result<a>_project_2d_norm.csv
#   2D template: result<a>_2d_norm.csv
# and prints the MPJPE of each action over exactly the frames of its list. Run from the repo root.
# First checks that the weights hold every layer of the net (tools/check_weights.py) but those given
# with -f (e.g. a bilstm model has no refine branch or projector: their outputs are then meaningless). The results are
# written into a hidden work folder in <out dir> and moved into place once all its actions are done,
# so a failed or killed run leaves the previous results as they were; a second run into a folder in
# use (test_all.sh, pred_v2.py, eval_h36m.py) is refused.
set -euo pipefail
die() { echo "test_all.sh: $*" >&2; exit "${code:-1}"; }
usage() { code=2 die "$1 (usage: $(sed -n '4s/^# *//p' "$0"))"; }
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0
fi
template=prototxt/test/test_3d.prototxt
data=()
gpu=()
actions=$(seq -s, 1 15)
fresh=()
while [ $# -gt 0 ]; do
  case $1 in
    -t|-d|-a|-g|-f) [ $# -ge 2 ] || usage "option $1 needs a value" ;;&
    -t) template=$2; shift 2 ;;
    -d) data=(--data "$2"); shift 2 ;;
    -a) actions=$2; shift 2 ;;
    -g) gpu=(-gpu "$2"); export HPM_CAFFE=gpu; shift 2 ;;
    -f) IFS=, read -r -a fresh <<< "$2"; fresh=(--fresh "${fresh[@]}"); shift 2 ;;
    --) shift; break ;;
    -*) usage "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] && [ $# -le 3 ] || usage "expected <weights.caffemodel> <out dir> [batch], got $# argument(s)"
weights=$1 out=$2 batch=${3:-5}
[[ $batch =~ ^[1-9][0-9]*$ ]] || usage "batch '$batch': must be a positive whole number of frames"
[[ $actions =~ ^[0-9]+(,[0-9]+)*$ ]] || usage "-a '$actions': expected action numbers separated by commas"
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
[ -f "$weights" ] || die "weights $weights not found"
mkdir -p "$out" 2>/dev/null || die "$out: cannot create the output folder"
# The lock of pose_formats/atomic.py (LOCK_NAME), held until this script exits.
{ exec 9>>"$out/.hpm3d.lock"; } 2>/dev/null || die "$out: cannot write in the output folder"
flock -n 9 || die "$out: in use by another run (tools/test_all.sh, pred_v2.py or eval_h36m.py, lock .hpm3d.lock);" \
                  "wait for it to end or choose another folder"
rm -rf "$out"/.*.tmp   # left by killed runs: under the lock, nothing uses them
work=$(mktemp -d --suffix=.tmp "$out/.test_all.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every action's net filled at once (tools/fill_test_prototxt.py): $work/test<a>.prototxt, results going
# to $work; `action frames iterations name` per action in $work/actions.txt.
"$python" "$here/fill_test_prototxt.py" --batch "$batch" "${data[@]}" "$template" "$actions" "$work" "$work" \
  > "$work/actions.txt" || exit 1
# Before any test: a model of another stage would leave the layers it lacks at their random start.
first=${actions%%,*}
"$python" "$here/check_weights.py" "$work/test$first.prototxt" "$weights" --phase test --net-name "$template" \
  "${fresh[@]}" || exit 1

# mpjpe KIND: what MPJPEEvaluation logged for result<a>_KIND.csv of the current action's log.
mpjpe() { sed -n "s/^MPJPEEvaluation (result${a}_$1.csv): MPJPE over [0-9]* frames = \([0-9.]*\) mm$/\1/p" "$log"; }

printf '%-7s %-13s %7s %14s %14s\n' action name frames "MPJPE (mm)" "change (mm)"
while read -r a frames iterations name <&3; do
  log=$work/test$a.log
  if ! caffe test -model "$work/test$a.prototxt" -weights "$weights" -iterations "$iterations" "${gpu[@]}" \
       > "$log" 2>&1; then
    tail -20 "$log" >&2
    die "caffe test failed on action $a (log above); $out is unchanged"
  fi
  if compgen -G "$work/*.partial" > /dev/null; then
    die "caffe test on action $a ended before writing every frame of $(basename "$(ls "$work"/*.partial | head -1)" .partial)"
  fi
  coarse=$(mpjpe unnorm) change=$(mpjpe change_unnorm)
  printf '%-7s %-13s %7s %14s %14s\n' "$a" "$name" "$frames" "${coarse:--}" "${change:--}"
done 3< "$work/actions.txt"
mv -f "$work"/result*.csv "$out"/
