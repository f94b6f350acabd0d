#!/usr/bin/env bash
# Every check and timing that needs a GPU, in one run, for a machine with CUDA, CuPy and (for the
# torch.func baseline) PyTorch. Prints what BENCHMARKS.md records.
#   usage: tools/gpu_checks.sh [--quick]      (--quick: the tests and small timings only)
# PYTHON picks the interpreter (default python3). Exits non-zero when a test fails.
# Where the venv also has the GPU build of Caffe (`make caffe-gpu`, HPM_CAFFE=gpu), or else the run
# carried the device bundle (`make device-bundle`; `carry: [".device"]`), which it unpacks into /tmp,
# it then checks Caffe on the device (tools/gpu_checks_caffe.sh): the layers in GPU mode, the demo
# stages on -gpu 0, test_all.sh -g 0 against the CPU, and the paper-size bilstm iteration on both.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then sed -n 2,9p "$0"; exit 0; fi
quick=${1:-}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || exit 1
$PY -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)" || exit 1

echo "== GPU tests: kernels and online modes on CuPy against the NumPy references and the float64 definition"
HPM_BACKEND=cupy $PY -m pytest -q -p no:cacheprovider tests/test_kernels_device.py tests/test_online_device.py \
    tests/test_cu_compile.py -k "not emulated"
tests_status=$?
# on its own: without the nvidia-cuda-nvrtc wheel (requirements.txt) its collection fails, not the above
echo "== the kernels through NVRTC with CuPy's options (sm_90 CUBIN and PTX)"
$PY -m pytest -q -p no:cacheprovider tests/test_nvrtc_compile.py || tests_status=1

echo "== released kernel's cooperative launch: registers, resident blocks, grid at the full width (1024)"
HPM_BACKEND=cupy $PY - <<'EOF' || tests_status=1
import cupy
import numpy as np
from cuda_kernels import launch, online_released
for dtype in (np.float32, np.float64):
    name, block, shared_mem = online_released.launch_layout(dtype)
    kernel = online_released._KERNELS.function(name)
    per_sm = cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(kernel.kernel.ptr, block, shared_mem)
    sms = launch.multiprocessor_count()
    print(f"{name}: {kernel.num_regs} registers/thread, {block} threads, {shared_mem} B shared; {per_sm} blocks "
          f"resident per SM x {sms} SMs; grid at width 1024: {min(per_sm * sms, 1024 // online_released.WIDE_TILE)}")
EOF

echo "== layer kernels: NumPy against CuPy (resident, and with a pycaffe layer's two host copies)"
HPM_BACKEND=cupy $PY tools/bench_kernels.py

echo "== online correction"
if [ "$quick" = "--quick" ]; then
    HPM_BACKEND=cupy $PY tools/bench_online.py --repeats 1
else
    HPM_BACKEND=cupy $PY tools/bench_online.py --frames 1000000 --released-frames 150000 --paper-frames 20000 \
        --torch-frames 100000 --memory-budget-mb 1024 --device-memory-gb 8 --repeats 3
fi
bundle=.device/caffe-gpu-py3.12.tar.xz
if [ -f .venv/caffe-build-gpu ]; then
    tools/gpu_checks_caffe.sh || tests_status=1
elif [ -f $bundle ]; then
    unpacked=$(mktemp -d /tmp/caffe-bundle.XXXXXX)
    echo "== Caffe on the GPU: the device bundle $bundle, unpacked into $unpacked"
    if tar -xJf $bundle -C "$unpacked"; then
        cat "$unpacked/caffe/BUILD_INFO" "$unpacked/caffe/BUNDLE_INFO"
        CAFFE_BUNDLE=$unpacked/caffe PYTHON=$PY tools/gpu_checks_caffe.sh || tests_status=1
        rm -rf "$unpacked"
    else
        echo "FAILED: could not unpack $bundle"; tests_status=1
    fi
else
    echo "== Caffe on the GPU: skipped (no GPU build in .venv, no $bundle: make device-bundle and carry .device)"
fi
exit $tests_status
