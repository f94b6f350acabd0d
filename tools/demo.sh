#!/usr/bin/env bash
# The whole pipeline on the embedded synthetic data set (run by `make demo`, from the repo root):
# data -> caffe train cpm, bilstm, addsrr (each from the previous one's weights, as released; addsrr's
# refine branch starts as the identity, tools/init_refine.py) ->
# test_all.sh per action (3D and 2D) -> gen_refinepkl.py -> online correction (3 modes x our/GT 2D) ->
# evaluation (the ablation table, diagnostics, loss curves).
# Models go to models/demo/, results, logs, the table and the pictures to results/demo/.
# With the GPU build (`make caffe-gpu`) and a CUDA device, Caffe trains and tests on GPU 0 (the demo
# solvers say CPU; `-gpu 0` overrides them); HPM_CAFFE=cpu keeps everything on the CPU.
set -euo pipefail
[ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] && { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
cd "$(dirname "$0")/.."
data=data/synthetic out=results/demo models=models/demo
mkdir -p "$out/logs"
start=$(date +%s)
step() { printf '\n== [%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

train_gpu=() test_gpu=()
if [ "${HPM_CAFFE:-}" != cpu ] && [ -f .venv/caffe-build-gpu ] && HPM_CAFFE=gpu caffe device_query > /dev/null 2>&1; then
  export HPM_CAFFE=gpu; train_gpu=(-gpu 0); test_gpu=(-g 0)
  step "Caffe on GPU 0 (the GPU build)"
fi

if [ ! -f "$data/meta.json" ]; then
  step "generating the synthetic data set in $data"
  python tools/make_synthetic_h36m.py --out "$data"
fi

# train STAGE [WEIGHTS]: prints every logged iteration's loss; the full log goes to results/demo/logs.
train() {
  local stage=$1 weights=${2:-} max_iter
  max_iter=$(sed -n 's/^max_iter: //p' "prototxt/demo/$stage/solver.prototxt")
  step "caffe train $stage ($max_iter iterations${weights:+, from $weights})"
  mkdir -p "$models/$stage"
  caffe train -solver "prototxt/demo/$stage/solver.prototxt" ${weights:+-weights "$weights"} "${train_gpu[@]}" 2>&1 \
    | tee "$out/logs/$stage.log" \
    | sed -un "s/.*solver.cpp:[0-9]*\] Iteration \([0-9]*\), loss = \(.*\)/  $stage iteration \1\/$max_iter  loss \2/p"
  [ "${PIPESTATUS[0]}" = 0 ] || { tail -20 "$out/logs/$stage.log" >&2; exit 1; }
  model="$models/$stage/${stage}_iter_$max_iter.caffemodel"
}

train cpm;                cpm_model=$model
train bilstm "$cpm_model"
# Deliberate difference (README): addsrr's refine branch starts as the identity, not from Xavier.
step "the refine branch's identity start (tools/init_refine.py)"
python tools/init_refine.py "$model" --prototxt prototxt/demo/addsrr/train.prototxt --out "$models/addsrr/init.caffemodel"
train addsrr "$models/addsrr/init.caffemodel";    model_3d=$model

step "testing every action with the 3D model"
tools/test_all.sh -t prototxt/demo/test/test_3d.prototxt "${test_gpu[@]}" "$model_3d" "$out"
step "2D estimates of every action with the 2D model (the online stage's 2D input)"
tools/test_all.sh -t prototxt/demo/test/test_2d.prototxt "${test_gpu[@]}" "$cpm_model" "$out" > "$out/logs/test_2d.log"
step "converting the refine and projector weights"
python tools/gen_refinepkl.py "$model_3d" --prototxt prototxt/demo/deploy.prototxt --out "$out/refine.npz"
# Each mode with our 2D estimates and with ground-truth 2D, for the ablation table; pred_v2 names the
# files per run (result<a>_refined_* for released mode with our 2D, else result<a>_online_<mode>[_gt2d]_*).
for mode in released independent paper; do
  for source in ours gt; do
    step "online self-supervised correction ($mode mode, ${source/ours/our} 2D)"
    python tools/pred_v2.py --weights "$out/refine.npz" --gt-dir "$data/gt/test" --mode "$mode" \
      --2d-source "$source" --redo --no-progress "$out" | tail -1
  done
done
step "evaluation: the ablation table, diagnostics and loss curves"
crop_px=$(sed -n 's/.*new_width: \([0-9]*\).*/\1/p' prototxt/demo/test/test_3d.prototxt | head -1)
python tools/eval_h36m.py --gt-dir "$data/gt/test" --image-root "$data" --crop-px "$crop_px" --logs "$out/logs" "$out"
step "done: table in $out/ablation.md, eval.csv and eval.json, pictures and loss curves in $out/figures"
