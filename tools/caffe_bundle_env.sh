# Sourced by bash: puts an unpacked device bundle (tools/make_device_bundle.sh) in front for the
# python3 on PATH, or $PYTHON:
#   . tools/caffe_bundle_env.sh BUNDLE_DIR        (BUNDLE_DIR: the unpacked caffe/ folder)
# Checks that this Python is the bundle's minor version, its NumPy is new enough for _caffe.so and its
# glibc for the libraries, then exports
#   PATH             the bundle's `caffe`, then the Python's own folder (caffe.bin's embedded
#                    interpreter finds its prefix, a venv's too, through the `python3` on PATH);
#   PYTHONPATH       pycaffe, then this repository (the layers);
#   LD_LIBRARY_PATH  the CUDA 13 runtime the bundle leaves to the machine (libcudart.so.13,
#                    libcublas.so.13, libcurand.so.10) from this Python's nvidia-* wheels, else
#                    CUDA_HOME's (/usr/local/cuda) lib64;
#   HPM_CAFFE_BUNDLE BUNDLE_DIR (tests/conftest.py then reads BUILD_INFO there);
# and links BUNDLE_DIR/lib/python/libpython3.X.so.1.0 to this Python's shared libpython, or to the
# bundle's copy where it has none (a static build), for caffe.bin.
# Returns non-zero with the reason on stderr when something is missing.

_caffe_bundle_env() {
  local bundle repo py info want found cuda libpython
  bundle=$(cd "${1:?usage: . tools/caffe_bundle_env.sh BUNDLE_DIR}" && pwd) || return 1
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  py=${PYTHON:-python3}
  info=$bundle/BUNDLE_INFO
  [ -f "$info" ] || { echo "caffe_bundle_env.sh: $info missing: not an unpacked device bundle" >&2; return 1; }
  # One Python check for all three requirements, with the bundle's values as arguments.
  "$py" - "$(sed -n 's/^python //p' "$info")" "$(sed -n 's/^numpy-min //p' "$info")" \
      "$(sed -n 's/^glibc //p' "$info")" "$info" <<'EOF' || return 1
import platform, sys
built, numpy_min, glibc, info = sys.argv[1:]
version = lambda s: tuple(int(x) for x in s.split(".")[:2])
problems = []
if version(platform.python_version()) != version(built):
    problems.append(f"Python {platform.python_version()} here, the bundle is for {built}")
try:
    import numpy
    if version(numpy.__version__) < version(numpy_min):
        problems.append(f"NumPy {numpy.__version__} here, _caffe.so needs {numpy_min} or newer")
except ImportError:
    problems.append("no NumPy here")
libc, libc_version = platform.libc_ver()
if libc != "glibc" or version(libc_version) < version(glibc):
    problems.append(f"{libc} {libc_version} here, the libraries need glibc {glibc}")
if problems:
    sys.exit(f"caffe_bundle_env.sh: {sys.executable} cannot run the bundle ({info}): " + "; ".join(problems))
EOF
  want=$(sed -n 's/^cuda //p' "$info")
  cuda=$("$py" - $want <<'EOF'
import glob, os, sys
# The wheels' layouts: nvidia/cu13/lib (CUDA 13) or nvidia/<component>/lib (CUDA 12 style).
places = []
try:
    import nvidia
    places += [d for base in nvidia.__path__ for d in sorted(glob.glob(os.path.join(base, "*", "lib")))]
except ImportError:
    pass
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
places += [os.path.join(cuda_home, "lib64"), os.path.join(cuda_home, "targets", "x86_64-linux", "lib")]
found = {lib: next((d for d in places if os.path.exists(os.path.join(d, lib))), None) for lib in sys.argv[1:]}
missing = [lib for lib, d in found.items() if d is None]
if missing:
    sys.exit(f"caffe_bundle_env.sh: {', '.join(missing)} not found for {sys.executable} "
             f"(looked in {', '.join(places)}): install the CUDA 13 runtime wheels or set CUDA_HOME")
print(":".join(dict.fromkeys(found.values())))
EOF
  ) || return 1
  # caffe.bin finds libpython in lib/python (its RUNPATH), not through LD_LIBRARY_PATH: that folder is
  # often the system's, which would then come before the bundle's own libraries for every lookup.
  libpython=$("$py" -c 'import os, sys, sysconfig
p = os.path.join(sysconfig.get_config_var("LIBDIR") or "", "libpython%d.%d.so.1.0" % sys.version_info[:2])
print(p if os.path.isfile(p) else "")')
  if [ -z "$libpython" ]; then
    echo "caffe_bundle_env.sh: $py has no shared libpython; caffe.bin uses the bundle's copy" >&2
    libpython=$(ls "$bundle"/lib/python-fallback/libpython*.so.1.0)
  fi
  mkdir -p "$bundle/lib/python" && ln -sfn "$libpython" "$bundle/lib/python/$(basename "$libpython")" || return 1
  export PATH="$bundle/bin:$(dirname "$(command -v "$py")"):$PATH"
  export PYTHONPATH="$bundle/python:$repo${PYTHONPATH:+:$PYTHONPATH}"
  export LD_LIBRARY_PATH="$cuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export HPM_CAFFE_BUNDLE=$bundle
}
_caffe_bundle_env "$@"
