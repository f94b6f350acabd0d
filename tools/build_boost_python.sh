#!/usr/bin/env bash
# Builds Boost.Python 1.74 as a shared library for one Python, from Debian 12's boost1.74 source
# package with Debian's patches, for a Caffe build against a Python that Debian's libboost-python
# does not serve (Debian 12's is for 3.11 only). Only Boost.Python is compiled: the rest of Boost is
# headers plus Debian's libraries, and its headers are Debian's /usr/include/boost/python (checked to
# be the patched source's own), so Caffe compiles against the same Boost.Python it links.
#
#   tools/build_boost_python.sh --python EXE [--cache DIR]
#
# Prints the folder holding libboost_pythonXY.so and libboost_pythonXY.so.1.74.0:
# CACHE/boost-python-1.74.0-pyX.Y-KEY, KEY = hash(pinned source sha256s, this script, Python's
# version); CACHE defaults as for tools/build_caffe.sh. The source comes through `apt-get source` from
# deb.debian.org with a private source list and state (the machine's apt settings are untouched) and is
# kept in CACHE/debian-src; a fresh build is checked by importing a Boost.Python module with EXE.
set -euo pipefail

DEB_SOURCE=boost1.74
DEB_VERSION=1.74.0+ds1-21
ORIG_TAR=boost1.74_1.74.0+ds1.orig.tar.xz
ORIG_SHA256=192f5df504d282cb81288f88232d8af45b64a9ab531e1c7cf8ae955f16f6bb28
DEBIAN_TAR=boost1.74_1.74.0+ds1-21.debian.tar.xz
DEBIAN_SHA256=6549dab4824c781e0510272ac352f9e0367d4d47c16c94989e5ec7447fd8f0d8

here=$(cd "$(dirname "$0")" && pwd)
cache=${CAFFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hpm3d}
python=""
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --python) python=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build_boost_python.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
die() { echo "build_boost_python.sh: $*" >&2; exit 1; }
[ -n "$python" ] || { usage >&2; exit 2; }
command -v "$python" >/dev/null || die "--python $python: no such interpreter"
[ -f /usr/include/boost/python.hpp ] || die "missing Debian package libboost-python-dev (Boost 1.74 headers)"

py_ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
py_inc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$py_inc/Python.h" ] || die "--python $python: no Python.h in $py_inc"
tag=${py_ver/./}
key=$( { echo "$ORIG_SHA256 $DEBIAN_SHA256 python $py_ver"; cat "$0"; } | sha256sum | cut -c1-16)
out=$cache/boost-python-1.74.0-py$py_ver-$key
lib=libboost_python$tag.so.1.74.0
if [ -s "$out/$lib" ]; then echo "$out"; exit 0; fi

# The pinned source files, fetched once.
srcdir=$cache/debian-src
mkdir -p "$srcdir"
pinned() { echo "$2  $srcdir/$1" | sha256sum -c --quiet - >/dev/null 2>&1; }
if ! pinned "$ORIG_TAR" "$ORIG_SHA256" || ! pinned "$DEBIAN_TAR" "$DEBIAN_SHA256"; then
  echo "== fetching Debian's $DEB_SOURCE $DEB_VERSION source (61 MB)" >&2
  apt_dir=$(mktemp -d)
  trap 'rm -rf "$apt_dir"' EXIT
  mkdir -p "$apt_dir/lists/partial"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: %s\n' \
    /usr/share/keyrings/debian-archive-keyring.gpg > "$apt_dir/src.sources"
  apt_opts=(-o Dir::Etc::SourceList="$apt_dir/src.sources" -o Dir::Etc::SourceParts=/dev/null
            -o Dir::State::Lists="$apt_dir/lists" -o Debug::NoDropPrivs=true -qq)
  apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of Debian's source index failed"
  (cd "$srcdir" && apt-get "${apt_opts[@]}" source --download-only "$DEB_SOURCE=$DEB_VERSION" >&2) \
    || die "apt-get source $DEB_SOURCE=$DEB_VERSION failed"
  pinned "$ORIG_TAR" "$ORIG_SHA256" || die "sha256 of $srcdir/$ORIG_TAR is not the pinned $ORIG_SHA256"
  pinned "$DEBIAN_TAR" "$DEBIAN_SHA256" || die "sha256 of $srcdir/$DEBIAN_TAR is not the pinned $DEBIAN_SHA256"
fi

tmp=$out.tmp.$$
rm -rf "$tmp"; mkdir -p "$tmp/obj"
trap 'rm -rf "$tmp"' EXIT
echo "== compiling Boost.Python 1.74 for Python $py_ver into $out" >&2
tar -xJf "$srcdir/$ORIG_TAR" -C "$tmp" --wildcards 'boost/libs/python/src/*' 'boost/libs/python/include/*'
tar -xJf "$srcdir/$DEBIAN_TAR" -C "$tmp" debian/patches
# Debian's patches that touch Boost.Python (all of them under libs/python), in series order.
while read -r p; do
  case $p in ''|'#'*) continue ;; esac
  files=$(grep -E '^\+\+\+ ' "$tmp/debian/patches/$p" | awk '{print $2}' | cut -d/ -f2-)
  grep -qv '^libs/python/' <<<"$files" && continue
  patch --quiet -p1 -d "$tmp/boost" < "$tmp/debian/patches/$p" || die "Debian patch $p does not apply"
done < "$tmp/debian/patches/series"
diff -rq "$tmp/boost/libs/python/include/boost/python" /usr/include/boost/python >&2 \
  || die "/usr/include/boost/python (libboost-python-dev) is not Debian's patched $DEB_VERSION source"

# Boost's own build flags for a shared Boost.Python: exported API, everything else hidden.
flags=(-std=c++14 -O2 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -DNDEBUG -DBOOST_PYTHON_SOURCE
       -DBOOST_PYTHON_DYN_LINK=1 -Wno-deprecated-declarations -I"$tmp/boost/libs/python/include" -I"$py_inc")
# Boost 1.74's headers print deprecation notes by the page; they go to the log, kept on a failure.
if ! (cd "$tmp/boost/libs/python/src" && find . -name '*.cpp' -not -path './numpy/*') | sort | sed 's|^\./||' \
     | xargs -P "$(nproc)" -I{} sh -c 'g++ "$@" -c "'"$tmp"'/boost/libs/python/src/{}" -o "'"$tmp"'/obj/$(echo {} | tr / _).o"' \
       sh "${flags[@]}" > "$tmp/build.log" 2>&1; then
  cp "$tmp/build.log" "$cache/last-failed-boost-python.log"
  grep -m5 -A3 'error' "$tmp/build.log" >&2 || true
  die "compiling Boost.Python failed; full log: $cache/last-failed-boost-python.log"
fi
[ "$(ls "$tmp/obj" | wc -l)" = 27 ] || die "expected Boost.Python's 27 objects, got $(ls "$tmp/obj" | wc -l)"
g++ -shared -o "$tmp/$lib" -Wl,-soname,$lib "$tmp"/obj/*.o
ln -s $lib "$tmp/libboost_python$tag.so"

# A module built against it must import in that Python.
cat > "$tmp/bp_check.cpp" <<'EOF'
#include <boost/python.hpp>
int twice(int x) { return 2 * x; }
BOOST_PYTHON_MODULE(bp_check) { boost::python::def("twice", twice); }
EOF
g++ -shared -fPIC -O1 -I"$py_inc" "$tmp/bp_check.cpp" -o "$tmp/bp_check.so" -L"$tmp" -lboost_python$tag \
  -Wl,-rpath,"$tmp" >> "$tmp/build.log" 2>&1 || die "the check module does not build against the fresh library"
[ "$(cd "$tmp" && "$python" -c 'import bp_check; print(bp_check.twice(21))')" = 42 ] \
  || die "a Boost.Python module built against the fresh library does not import in $python"
rm -rf "$tmp/obj" "$tmp/boost" "$tmp/debian" "$tmp"/bp_check.* "$tmp/build.log"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
