#!/usr/bin/env bash
# Caffe on the GPU (run by tools/gpu_checks.sh where a device is present): the Python layers in GPU
# mode against NumPy through real nets, 20 iterations of each demo stage with -gpu 0, test_all.sh -g 0
# on that model against the CPU (poses to 1e-4), and the paper-size bilstm iteration time (`caffe
# time`) on the GPU and on the CPU. Exits non-zero on a failure.
# The Caffe: .venv's GPU build (HPM_CAFFE=gpu; HPM_CAFFE=cpu is the CPU build), or with CAFFE_BUNDLE=DIR
# an unpacked device bundle (tools/make_device_bundle.sh) under $PYTHON or python3. A bundle holds the
# GPU build only; HPM_CAFFE is then moot and the CPU runs are that build in CPU mode (no -gpu), which
# computes every layer with Caffe's CPU code and our NumPy references: the same twin for the poses.
set -uo pipefail
cd "$(dirname "$0")/.."
export GLOG_minloglevel=1
# A device has neither the motion-capture sources (`make mocap`) nor anything to fetch them with: its
# demo data is the generator's own motion, which these GPU-against-CPU checks are indifferent to.
if [ -n "${CAFFE_BUNDLE:-}" ]; then
  . tools/caffe_bundle_env.sh "$CAFFE_BUNDLE" || exit 1
  py=${PYTHON:-python3} build_tests=tests/test_device_bundle.py motion=procedural
else
  export PATH=$PWD/.venv/bin:$PATH
  py=.venv/bin/python build_tests=tests/test_caffe_gpu_build.py motion=real
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
fail() { echo "FAILED: $*"; status=1; }

HPM_CAFFE=gpu caffe device_query -gpu 0 2>&1 | grep -E "Name|Major|Total global" \
  || { echo "Caffe's GPU build sees no device"; exit 1; }

$py -c "import cupy" 2>/dev/null || { echo "no CuPy for $py (in .venv: .venv/bin/pip install -e '.[gpu]')"; exit 1; }

echo "== Python layers in GPU mode (CuPy kernels on the blobs' device memory) and their CPU twins"
HPM_CAFFE=gpu HPM_BACKEND=cupy $py -m pytest -q -rs -p no:cacheprovider tests/test_layers_order_and_loss.py \
  tests/test_layers_results_and_mask.py 2>&1 | tee "$work/layers.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "layer tests"
grep -q "skipped" "$work/layers.log" && fail "layer tests skipped in GPU mode (see the reasons above)"
HPM_CAFFE=gpu $py -m pytest -q -p no:cacheprovider $build_tests || fail "GPU build tests"

echo "== 20 iterations of each demo stage, caffe train -gpu 0"
[ -f data/synthetic/meta.json ] || $py tools/make_synthetic_h36m.py --motion $motion --out data/synthetic > /dev/null
weights=()
for stage in cpm bilstm addsrr; do
  sed -e 's/^max_iter: .*/max_iter: 20/' -e "s|^snapshot_prefix: .*|snapshot_prefix: \"$work/$stage\"|" \
    "prototxt/demo/$stage/solver.prototxt" > "$work/$stage.solver.prototxt"
  start=$(date +%s)
  if HPM_CAFFE=gpu caffe train -gpu 0 -solver "$work/$stage.solver.prototxt" "${weights[@]}" > "$work/$stage.log" 2>&1; then
    printf '  %-7s %4d s  %s\n' "$stage" "$(( $(date +%s) - start ))" \
      "$(grep -o 'Iteration 20, loss = .*' "$work/$stage.log" | tail -1)"
  else
    tail -15 "$work/$stage.log"; fail "caffe train $stage -gpu 0"
  fi
  weights=(-weights "$work/${stage}_iter_20.caffemodel")
done

echo "== test_all.sh -g 0 against the CPU build, same model (20-iteration addsrr)"
model=$work/addsrr_iter_20.caffemodel
if [ -f "$model" ]; then
  tools/test_all.sh -t prototxt/demo/test/test_3d.prototxt -g 0 "$model" "$work/gpu" > "$work/test_gpu.log" 2>&1 \
    || fail "test_all.sh -g 0"
  HPM_CAFFE=cpu tools/test_all.sh -t prototxt/demo/test/test_3d.prototxt "$model" "$work/cpu" > "$work/test_cpu.log" 2>&1 \
    || fail "test_all.sh on the CPU"
  $py - "$work/cpu" "$work/gpu" <<'PY' || fail "GPU poses differ from the CPU's"
import glob, os, sys
import numpy as np
cpu, gpu = sys.argv[1:]
files = sorted(glob.glob(os.path.join(cpu, "result*_norm.csv")))
assert len(files) >= 15, f"only {len(files)} result files in {cpu}"
worst = max(np.abs(np.loadtxt(f, delimiter=",") - np.loadtxt(os.path.join(gpu, os.path.basename(f)), delimiter=",")).max()
            for f in files)
print(f"  {len(files)} normalised result files, largest |GPU - CPU| = {worst:.2e}")
sys.exit(0 if worst <= 1e-4 else 1)
PY
fi

echo "== paper-size bilstm iteration (368x368, full widths, 5 frames): caffe time, GPU and CPU"
$py - "$work/bilstm_paper.prototxt" <<'PY'
import sys
sys.path.insert(0, "tests")
from caffe_nets import retarget_data
retarget_data("prototxt/bilstm/train.prototxt", "data/synthetic", sys.argv[1])
PY
for mode in gpu cpu; do
  flags=(); iterations=3
  [ $mode = gpu ] && flags=(-gpu 0) && iterations=20
  HPM_CAFFE=$mode GLOG_minloglevel=0 caffe time -model "$work/bilstm_paper.prototxt" -iterations $iterations "${flags[@]}" \
    > "$work/time_$mode.log" 2>&1 || { tail -5 "$work/time_$mode.log"; fail "caffe time ($mode)"; continue; }
  echo "  $mode: $(grep -o 'Average Forward-Backward: .*' "$work/time_$mode.log")"
done
exit $status
