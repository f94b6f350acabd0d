#!/usr/bin/env bash
# Builds stock Caffe 1.0 (Python layers, pycaffe, the `caffe` tool) from the pinned PyPI source
# distribution and wires it into the project's virtual environment: CPU-only, or with --gpu the CUDA
# build (nvcc from CUDA_HOME, default /usr/local/cuda-13.0; cudart/cuBLAS/cuRAND from the PyPI
# wheels pinned in tools/caffe_cuda_wheels.txt).
#
#   tools/build_caffe.sh [--gpu] [--venv DIR | --python EXE [--lib-dir DIR]] [--cache DIR] [--check]
#
# --check only says whether a usable build for this venv's Python and NumPy is in the cache.
# --python builds for another interpreter (NumPy importable from it) and leaves every venv alone;
# --lib-dir names a folder of libraries to link first, e.g. a Boost.Python built for that Python
# (tools/build_boost_python.sh); tools/make_device_bundle.sh uses both for Python 3.12.
# Patches in tools/caffe_patches/ are applied to the sources first. The build lands in
# CACHE/caffe-KEY (CPU) or CACHE/caffe-gpu-KEY, KEY = hash(sdist sha256, compile rules, patches,
# Python and NumPy versions; for --gpu also nvcc's version and the wheel pins): a second run with
# nothing changed only re-links the venv. A build is first made under a temporary name and renamed
# when complete, so an interrupted build is never taken for a cached one. The venv can hold both
# builds; HPM_CAFFE=cpu|gpu (default cpu) picks the one `import caffe` and `caffe` use.
set -euo pipefail

SDIST_NAME=brocolli-caffe
SDIST_VERSION=9.0.2
SDIST_SHA256=c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv=$root/.venv
cache=${CAFFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hpm3d}
check_only=0
gpu=0
python=""   # set by --python; empty: the venv's
lib_dir=""

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --venv) venv=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --lib-dir) lib_dir=$(cd "$2" && pwd) || exit 2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --check) check_only=1; shift ;;
    --gpu) gpu=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build_caffe.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "build_caffe.sh: $*" >&2; exit 1; }

wire_venv=0
if [ -z "$python" ]; then
  wire_venv=1
  python=$venv/bin/python
  [ -x "$python" ] || die "no virtual environment at $venv (run 'make venv' first)"
else
  command -v "$python" >/dev/null || die "--python $python: no such interpreter"
  py_inc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [ -f "$py_inc/Python.h" ] || die "--python $python: no Python.h in $py_inc (its headers are needed)"
fi

# Debian packages the build needs, each checked by a file it installs, so a missing one is named.
missing=()
check() { [ -e "$2" ] || missing+=("$1"); }
check libprotobuf-dev     /usr/include/google/protobuf/message.h
check protobuf-compiler   /usr/bin/protoc
check libgoogle-glog-dev  /usr/include/glog/logging.h
check libgflags-dev       /usr/include/gflags/gflags.h
check libhdf5-dev         /usr/include/hdf5/serial/hdf5.h
check libopenblas-dev     /usr/include/x86_64-linux-gnu/cblas.h
check libboost-system-dev /usr/include/boost/system/error_code.hpp
check libboost-thread-dev /usr/include/boost/thread.hpp
check libboost-filesystem-dev /usr/include/boost/filesystem.hpp
check libboost-python-dev /usr/include/boost/python.hpp
check libgtest-dev        /usr/include/gtest/gtest.h
check patch               /usr/bin/patch
check python3-dev         /usr/include/python3.11/Python.h
[ ${#missing[@]} -eq 0 ] || die "missing Debian packages: ${missing[*]}
  install them with: apt-get install -y ${missing[*]}   (or run 'make deps' as root)"

py_ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# libpython's folder (Debian's is on the linker's path, pyenv's is not) and --lib-dir: searched by the
# link (LIBRARY_PATH) and when the fresh products are tried (LD_LIBRARY_PATH).
link_path=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')${lib_dir:+:$lib_dir}
np_ver=$("$python" -c 'import numpy; print(numpy.__version__)') || die "NumPy is not importable from $python"
mode_args=()
gpu_key=""
cuda_info="none (CPU_ONLY)"
if [ "$gpu" = 1 ]; then
  cuda_home=${CUDA_HOME:-/usr/local/cuda-13.0}
  [ -x "$cuda_home/bin/nvcc" ] || die "no nvcc at $cuda_home/bin/nvcc (set CUDA_HOME to a CUDA 13 toolkit)"
  nvcc_version=$("$cuda_home/bin/nvcc" --version)
  wheels=$(grep -v '^#' "$here/caffe_cuda_wheels.txt")
  # The key takes nvcc's last line ("Build cuda_13.0.r13.0/compiler.…"), which identifies the
  # compiler; BUILD_INFO also names the release ("release 13.0, V13.0.88").
  gpu_key="$(tail -1 <<<"$nvcc_version") $wheels"
  cuda_info="nvcc $(grep -m1 release <<<"$nvcc_version"), $(tail -1 <<<"$nvcc_version"); wheels ${wheels//$'\n'/ }"
fi
# --lib-dir enters the key by its libraries' names (libboost_python312.so.1.74.0: version and Python),
# not its path, which changes whenever its own builder does.
key=$( { echo "$SDIST_SHA256"; cat "$here/caffe.mk" "$here"/caffe_patches/*.patch; echo "python $py_ver numpy $np_ver"
         [ "$gpu" = 0 ] || echo "gpu $gpu_key"; [ -z "$lib_dir" ] || echo "libraries $(ls "$lib_dir")"; } | sha256sum | cut -c1-16)
if [ "$gpu" = 1 ]; then
  build=$cache/caffe-gpu-$key
  # The wheels' libraries stay in the cache beside the build (its rpath points there).
  cuda_libs=$cache/cuda-wheels-$(sha256sum < "$here/caffe_cuda_wheels.txt" | cut -c1-16)
  mode_args=(GPU=1 CUDA_HOME="$cuda_home" CUDA_LIBS="$cuda_libs")
else
  build=$cache/caffe-$key
fi
mkdir -p "$cache"

# A cached build is used only if every product is there and the binary runs; `why` names the fault.
verify() {
  local b=$1 f
  for f in BUILD_INFO bin/caffe.bin lib/libcaffe.so python/caffe/_caffe.so python/caffe/proto/caffe_pb2.py; do
    [ -s "$b/$f" ] || { why="$b/$f is missing"; return 1; }
  done
  LD_LIBRARY_PATH=$link_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$b/bin/caffe.bin" --version >/dev/null 2>&1 \
    || { why="$b/bin/caffe.bin does not run"; return 1; }
}

if [ "$check_only" = 1 ]; then
  verify "$build" || die "no usable Caffe build for this source and NumPy: $why (run 'make caffe')"
  echo "$build"; exit 0
fi

if [ -d "$build" ] && ! verify "$build"; then
  echo "build_caffe.sh: cached build is broken ($why); rebuilding it" >&2
  rm -rf "$build"
fi

if [ "$gpu" = 1 ] && [ ! -d "$cuda_libs" ]; then
  echo "== installing the CUDA runtime wheels into $cuda_libs"
  rm -rf "$cuda_libs.tmp.$$"
  "$python" -m pip install --quiet --disable-pip-version-check --no-deps --target "$cuda_libs.tmp.$$" \
    -r "$here/caffe_cuda_wheels.txt" || die "could not install the wheels of $here/caffe_cuda_wheels.txt"
  mv "$cuda_libs.tmp.$$" "$cuda_libs"
fi

if [ ! -d "$build" ]; then
  tarball=$cache/$SDIST_NAME-$SDIST_VERSION.tar.gz
  if [ ! -f "$tarball" ] || ! echo "$SDIST_SHA256  $tarball" | sha256sum -c --quiet - 2>/dev/null; then
    echo "== fetching $SDIST_NAME==$SDIST_VERSION (source distribution)"
    rm -f "$tarball"
    "$python" -m pip download --quiet --no-deps --no-binary=:all: \
      "$SDIST_NAME==$SDIST_VERSION" -d "$cache" || die "could not download $SDIST_NAME==$SDIST_VERSION from PyPI"
    echo "$SDIST_SHA256  $tarball" | sha256sum -c --quiet - \
      || die "sha256 of $tarball is not the pinned $SDIST_SHA256"
  fi
  tmp=$build.tmp.$$
  rm -rf "$tmp"; mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$tarball" -C "$tmp"
  src=$tmp/$SDIST_NAME-$SDIST_VERSION
  for p in "$here"/caffe_patches/*.patch; do
    patch --quiet -p1 -d "$src" < "$p" || die "patch $p does not apply to $SDIST_NAME-$SDIST_VERSION"
  done
  echo "== compiling Caffe into $build (a few minutes; log: $tmp/build.log)"
  start=$(date +%s)
  if ! LIBRARY_PATH=$link_path${LIBRARY_PATH:+:$LIBRARY_PATH} make -f "$here/caffe.mk" -j"$(nproc)" \
       SRC="$src" OUT="$tmp" PYTHON="$python" "${mode_args[@]}" > "$tmp/build.log" 2>&1; then
    cp "$tmp/build.log" "$cache/last-failed-build.log"
    grep -m5 -B2 -A3 'error' "$tmp/build.log" >&2 || tail -20 "$tmp/build.log" >&2
    die "Caffe compile failed; full log: $cache/last-failed-build.log"
  fi
  rm -rf "$tmp/obj" "$src"
  { printf 'sdist %s==%s sha256 %s\npython %s\nnumpy %s\ncuda %s\n' \
      "$SDIST_NAME" "$SDIST_VERSION" "$SDIST_SHA256" "$py_ver" "$np_ver" "$cuda_info"
    [ -z "$lib_dir" ] || echo "libraries $lib_dir"
    echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - start ))s"; } > "$tmp/BUILD_INFO"
  verify "$tmp" || die "the fresh build does not work ($why): see $tmp/build.log"
  mv "$tmp" "$build"
  trap - EXIT
fi

if [ "$wire_venv" = 0 ]; then
  echo "== Caffe ready: $build"; exit 0
fi

# Wire the builds into the venv: pycaffe on sys.path, `caffe` on PATH, each choosing the build that
# HPM_CAFFE names. The wrapper puts the venv's bin first on PATH because the embedded interpreter of
# caffe.bin locates its prefix (and so the venv's site-packages, where our layers live) by finding
# `python3` on PATH.
if [ "$gpu" = 1 ]; then echo "$build" > "$venv/caffe-build-gpu"; else echo "$build" > "$venv/caffe-build"; fi
builds=()
for mode in cpu gpu; do
  record=$venv/caffe-build; [ $mode = cpu ] || record=$venv/caffe-build-$mode
  [ -f "$record" ] && builds+=("$mode=$(cat "$record")")
done
# Debian 12's OpenBLAS (0.3.21) picks its kernels by CPU model and falls back to its SSE3 ones
# (Prescott) on models newer than itself: on the Intel Xeon of 2026-12-06 the demo's cpm trained 2x
# slower. On every x86-64 CPU with AVX2 and FMA the venv's Python and `caffe` ask for the Haswell
# kernels instead (unless OPENBLAS_CORETYPE is set): one set of kernels, so the same float32 sums, on
# all of them (docs/results.md, "Repeatability and across machines").
coretype=
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then coretype=Haswell; fi
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$site/pycaffe.pth"
"$python" - "$site/_hpm_caffe.py" "$coretype" "${builds[@]}" <<'PY'
import sys
path, coretype, builds = sys.argv[1], sys.argv[2], dict(b.split("=", 1) for b in sys.argv[3:])
coretype = f"os.environ.setdefault('OPENBLAS_CORETYPE', {coretype!r})\n" if coretype else ""
with open(path, "w") as f:
    f.write(f"""\"\"\"Generated by tools/build_caffe.sh: puts the Caffe build HPM_CAFFE names (default cpu) on sys.path
and, before any OpenBLAS loads, asks for the OpenBLAS kernels of tools/build_caffe.sh's choice.\"\"\"
import os
import sys

{coretype}BUILDS = {builds!r}
_choice = os.environ.get("HPM_CAFFE", "cpu")
if _choice in BUILDS:
    sys.path.append(os.path.join(BUILDS[_choice], "python"))
else:
    sys.stderr.write(f"HPM_CAFFE={{_choice!r}}: this venv has the Caffe builds {{', '.join(BUILDS)}} "
                     "(make caffe / make caffe-gpu)\\n")
""")
PY
echo "import _hpm_caffe" > "$site/hpm_caffe.pth"
# The wrapper's part for the GPU build: device_query or a -gpu flag without a usable device ends in
# Caffe's own one line, "caffe: no CUDA device (<cudart's reason>)", asked of the cudart that build
# links. The patched tool says the same, but `caffe train` reads (and dies on) the solver first.
no_device_check() {
  local cudart
  cudart=$(ldd "$1/lib/libcaffe.so" | awk '$1 == "libcudart.so.13" && $3 ~ /^\// {print $3}')
  [ -n "$cudart" ] || die "the GPU build $1 is gone or does not find its cudart (run 'make caffe-gpu')"
  cat <<EOF
if [ "\${HPM_CAFFE:-cpu}" = gpu ]; then
  for arg in "\$@"; do
    case \$arg in device_query|-gpu|--gpu|-gpu=*|--gpu=*)
      "$python" -I -S -c '
import ctypes, sys
cudart, count = ctypes.CDLL(sys.argv[1]), ctypes.c_int(0)
status = cudart.cudaGetDeviceCount(ctypes.byref(count))
cudart.cudaGetErrorString.restype = ctypes.c_char_p
if status or not count.value:
    reason = cudart.cudaGetErrorString(status).decode() if status else "none found"
    sys.exit(f"caffe: no CUDA device ({reason})")
' "$cudart" || exit 1
      break ;;
    esac
  done
fi
EOF
}
{
  echo '#!/bin/sh'
  echo "# Generated by tools/build_caffe.sh: runs Caffe $SDIST_VERSION, the build HPM_CAFFE names (default cpu)"
  echo 'case "${HPM_CAFFE:-cpu}" in'
  for b in "${builds[@]}"; do echo "  ${b%%=*}) build=\"${b#*=}\" ;;"; done
  echo "  *) echo \"caffe: HPM_CAFFE=\$HPM_CAFFE: this venv has the Caffe builds ${builds[*]%%=*} (make caffe / make caffe-gpu)\" >&2; exit 2 ;;"
  echo 'esac'
  [ -z "$coretype" ] || echo "[ -n \"\${OPENBLAS_CORETYPE:-}\" ] || export OPENBLAS_CORETYPE=$coretype"
  [ ! -f "$venv/caffe-build-gpu" ] || no_device_check "$(cat "$venv/caffe-build-gpu")"
  echo "PATH=\"$venv/bin:\$PATH\" exec \"\$build/bin/caffe.bin\" \"\$@\""
} > "$venv/bin/caffe"
chmod +x "$venv/bin/caffe"
echo "== Caffe ready: $build"
