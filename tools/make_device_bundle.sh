#!/usr/bin/env bash
# The device bundle: Caffe's GPU build for Python 3.12, the python3 of the lent device machines
# (docs/gpu.md, "On a lent device machine"), packed with the libraries it links into one
# tar.xz that a `run` carries (`carry: [".device"]`) and tools/gpu_checks.sh unpacks there.
#
#   tools/make_device_bundle.sh [--python EXE] [--out FILE] [--cache DIR] [--check]
#   tools/make_device_bundle.sh --pack BUILD --python EXE --out FILE
#
# The build is tools/build_caffe.sh --gpu (the same pinned source, patches, sm_90 + PTX flags and
# CUDA wheels) with --python: a venv of EXE (CPython 3.12 with its headers and libpython3.12.so;
# default python3.12 on PATH, else pyenv's newest 3.12) holding requirements.txt, which also stands in
# for the device's Python in the tests, and Boost.Python 1.74 built for it (tools/build_boost_python.sh).
# Packed: bin/caffe.bin (and `caffe`), lib/libcaffe.so, python/caffe, BUILD_INFO, BUNDLE_INFO, and every
# library they link except glibc's, libstdc++/libgcc_s, libpython and CUDA's (the device has its own;
# tools/caffe_bundle_env.sh finds them), each with RUNPATH $ORIGIN, so nothing is forced on the rest of
# the process. libcaffe.so and _caffe.so stop naming libpython (the importing interpreter has it);
# caffe.bin finds one in lib/python, which tools/caffe_bundle_env.sh links to the device Python's, or
# to lib/python-fallback, EXE's copy, where that Python has no shared one.
# FILE (default .device/caffe-gpu-py3.12.tar.xz) is remade only when FILE.key differs from the key
# (the two builds' keys, this script). --check only says whether FILE is up to date and prints it,
# the venv's python and the Caffe build. --pack packs an existing build for EXE (the test of the
# packing packs the venv's 3.11 GPU build so). XZ_OPT sets the compression (tar's default, -6).
set -euo pipefail

DEVICE_PYTHON=3.12   # the device's python3 (.library/device/KINDS.md: 3.12.3)

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${CAFFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hpm3d}
python="" out=$root/.device/caffe-gpu-py$DEVICE_PYTHON.tar.xz pack_build="" check_only=0
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --python) python=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --pack) pack_build=$2; shift 2 ;;
    --check) check_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "make_device_bundle.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
die() { echo "make_device_bundle.sh: $*" >&2; exit 1; }
command -v patchelf >/dev/null || die "missing Debian package patchelf (apt-get install -y patchelf, or 'make deps' as root)"

# Libraries the device brings itself: glibc's, the C++ runtime, the interpreter's, and CUDA's (cudart,
# cuBLAS/cuBLASLt, cuRAND from its CUDA 13 wheels, the ones its CuPy uses).
SYSTEM_LIBS='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libutil|libresolv|libstdc\+\+|libgcc_s|libpython3\.[0-9]+)\.so'
CUDA_LIBS='^(libcudart|libcublas|libcublasLt|libcurand)\.so'

# pack BUILD PY FILE [LIBDIR]: the bundle of build BUILD (made for interpreter PY, linked against the
# libraries in LIBDIR too) written to FILE; staged in $stage (global: the EXIT trap removes it).
pack() {
  local build=$1 py=$2 file=$3 lib_dir=${4:-} py_libdir py_soname f dep path numpy_min
  for f in BUILD_INFO bin/caffe.bin lib/libcaffe.so python/caffe/_caffe.so; do
    [ -s "$build/$f" ] || die "$build: $f is missing (not a tools/build_caffe.sh build)"
  done
  py_libdir=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
  py_soname=libpython$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])').so.1.0
  [ -f "$py_libdir/$py_soname" ] || die "$py: no $py_soname in $py_libdir (caffe.bin needs a shared libpython)"
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/caffe/lib/python-fallback"
  cp -a "$build/bin" "$build/python" "$build/BUILD_INFO" "$stage/caffe/"
  cp "$build/lib/libcaffe.so" "$stage/caffe/lib/"
  ln -s caffe.bin "$stage/caffe/bin/caffe"
  cp -L "$py_libdir/$py_soname" "$stage/caffe/lib/python-fallback/"
  strip --strip-unneeded "$stage/caffe/lib/python-fallback/$py_soname"   # pyenv's has debug info: 30 MB to 7
  # Every library the three products and that libpython load, transitively (ldd), found as the build does.
  local cuda=() deps
  deps=$(for f in "$build"/{bin/caffe.bin,lib/libcaffe.so,python/caffe/_caffe.so} "$py_libdir/$py_soname"; do
           LD_LIBRARY_PATH=$py_libdir${lib_dir:+:$lib_dir} ldd "$f"; done | awk '$2 == "=>" {print $1, $3}' | sort -u)
  ! grep -q ' not$' <<<"$deps" || die "$build: unresolved libraries: $(grep ' not$' <<<"$deps" | cut -d' ' -f1 | tr '\n' ' ')"
  while read -r dep path; do
    [ "${path:0:1}" = / ] || continue   # the vDSO
    if grep -qE "$CUDA_LIBS" <<<"$dep"; then cuda+=("$dep"); continue; fi
    grep -qE "$SYSTEM_LIBS" <<<"$dep" && continue
    cp -L "$path" "$stage/caffe/lib/$dep"
  done <<<"$deps"
  chmod -R u+w "$stage/caffe"
  for f in "$stage"/caffe/lib/*.so*; do patchelf --set-rpath '$ORIGIN' "$f"; done
  patchelf --set-rpath '$ORIGIN/..' "$stage/caffe/lib/python-fallback/$py_soname"
  patchelf --set-rpath '$ORIGIN/../lib:$ORIGIN/../lib/python' "$stage/caffe/bin/caffe.bin"  # python: caffe_bundle_env.sh
  patchelf --set-rpath '$ORIGIN/../../lib' "$stage/caffe/python/caffe/_caffe.so"
  patchelf --remove-needed "$py_soname" "$stage/caffe/lib/libcaffe.so" "$stage/caffe/python/caffe/_caffe.so"
  # NumPy 2's headers build for older NumPy too: the oldest is numpyconfig.h's default target.
  numpy_min=$("$py" - <<'EOF'
import os, re, numpy
header = open(os.path.join(numpy.get_include(), "numpy", "numpyconfig.h")).read()
major, minor = re.findall(r"#define NPY_FEATURE_VERSION NPY_(\d+)_(\d+)_API_VERSION", header)[-1]
print(f"{major}.{minor}")
EOF
  )
  { echo "python $("$py" -c 'import platform; print(platform.python_version())')"
    echo "numpy-min $numpy_min"
    echo "glibc $(find "$stage/caffe" -type f -name '*.so*' -o -type f -name caffe.bin | xargs objdump -T 2>/dev/null \
                   | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)"
    echo "cuda ${cuda[*]}"
    echo "libraries $(cd "$stage/caffe/lib" && ls *.so* | tr '\n' ' ')"; } > "$stage/caffe/BUNDLE_INFO"
  mkdir -p "$(dirname "$file")"
  tar -C "$stage" -cJf "$file.tmp.$$" caffe || die "tar of the bundle failed"
  mv "$file.tmp.$$" "$file"
}

if [ -n "$pack_build" ]; then
  [ -n "$python" ] || die "--pack needs --python (the interpreter the build is for)"
  # Its --lib-dir libraries from where it was built (BUILD_INFO's `libraries` line, if any).
  pack "$pack_build" "$python" "$out" "$(sed -n 's/^libraries //p' "$pack_build/BUILD_INFO" 2>/dev/null)"
  echo "$out"; exit 0
fi

# The interpreter: --python, python3.12 on PATH (a pyenv shim answers only when 3.12 is selected), or
# pyenv's newest 3.12.
if [ -z "$python" ]; then
  if python3.12 -c '' 2>/dev/null; then python=$(command -v python3.12)
  else python=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$DEVICE_PYTHON.*/bin/python$DEVICE_PYTHON 2>/dev/null | sort -V | tail -1)
  fi
  [ -n "$python" ] || die "no Python $DEVICE_PYTHON found (python3.12 on PATH or pyenv's); name one with --python"
fi
ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || die "--python $python does not run"
[ "$ver" = $DEVICE_PYTHON ] || die "$python is Python $ver; the device's python3 is $DEVICE_PYTHON"

# The build's venv (the pins of requirements.txt, as the project's venv), made once per requirements.
venv=$cache/device-python$DEVICE_PYTHON-$(sha256sum < "$root/requirements.txt" | cut -c1-16)
if [ ! -f "$venv/.complete" ]; then
  [ "$check_only" = 0 ] || die "no device bundle: its venv $venv is not made (make device-bundle)"
  echo "== making $venv (requirements.txt for Python $DEVICE_PYTHON)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements.txt" \
    || die "pip install -r requirements.txt into $venv failed"
  touch "$venv/.complete"
fi
vpy=$venv/bin/python

if [ "$check_only" = 1 ]; then
  # Any finished Boost.Python for this Python: the Caffe build's key holds its library names only.
  boost=$(ls -d "$cache"/boost-python-1.74.0-py$DEVICE_PYTHON-* 2>/dev/null | grep -v '\.tmp\.' | tail -1 || true)
  [ -n "$boost" ] || die "no device bundle: Boost.Python for $DEVICE_PYTHON is not built (make device-bundle)"
else
  boost=$("$here/build_boost_python.sh" --python "$vpy" --cache "$cache")
  "$here/build_caffe.sh" --gpu --python "$vpy" --lib-dir "$boost" --cache "$cache"
fi
build=$("$here/build_caffe.sh" --gpu --python "$vpy" --lib-dir "$boost" --cache "$cache" --check 2>/dev/null) \
  || die "no device bundle: the GPU build of Caffe for Python $DEVICE_PYTHON is not made (make device-bundle)"
key=$( { basename "$build"; ls "$boost"; cat "$0"; } | sha256sum | cut -c1-16)
if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
  [ "$check_only" = 1 ] && { echo "$out $vpy $build"; exit 0; }
  echo "== device bundle up to date: $out ($(du -h "$out" | cut -f1))"; exit 0
fi
[ "$check_only" = 0 ] || die "no device bundle at $out, or it is not made from $build (make device-bundle)"

echo "== packing $build into $out"
start=$(date +%s)
rm -f "$out.key"
pack "$build" "$vpy" "$out" "$boost"
echo "$key" > "$out.key"
echo "== device bundle: $out, $(stat -c %s "$out") bytes, packed in $(( $(date +%s) - start )) s"
echo "   on a lent device: run with carry [\".device\"]: set -o pipefail; tools/gpu_checks.sh 2>&1 | tee \$OUT/gpu_checks.log"
