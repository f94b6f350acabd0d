# 3D Human Pose Machines with Self-supervised Learning — build, test, demo.
#   make demo    everything from a fresh Debian 12 machine to the demo's results (see README.md)
#   make test    the whole test suite (builds what it needs first)
SHELL := /bin/bash
SYSTEM_PYTHON ?= /usr/bin/python3
VENV   := .venv
PYTHON := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Debian 12 packages: the compiler, Python headers and venv, Caffe's libraries, patchelf (the device
# bundle's library paths) and real motion capture (assimp-testmodels: CMU BVH and Vicon CSM files,
# read by pose_formats/mocap).
DEBIAN_PACKAGES := build-essential python3-dev python3-venv libprotobuf-dev protobuf-compiler \
  libgoogle-glog-dev libgflags-dev libhdf5-dev libopenblas-dev libboost-system-dev \
  libboost-thread-dev libboost-filesystem-dev libboost-python-dev libgtest-dev patch patchelf assimp-testmodels

# The pybullet, isaaclab and holosoma-retargeting wheels hold motion clips; they are downloaded, read as
# zips, never installed. One platform's pybullet wheel for every host, so each machine reads the same file.
MOCAP_WHEEL_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hpm3d/wheels
PYBULLET_WHEEL := pybullet-3.2.7-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
ISAACLAB_WHEEL := isaaclab-3.0.0-py3-none-any.whl
HOLOSOMA_WHEEL := holosoma_retargeting-0.1.0-py3-none-any.whl
# Debian dart-doc's two Vicon C3D captures: downloaded and unpacked, not installed (images may strip
# /usr/share/doc); its copyright file is kept beside them.
DART_C3D := $(MOCAP_WHEEL_DIR)/dart-doc/usr/share/doc/dart/data/c3d
export MOCAP_WHEEL_DIR

.PHONY: all deps venv mocap caffe caffe-gpu device-bundle test demo bench gpu-check clean

all: caffe

deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "missing Debian packages:$$missing"; echo "run as root: apt-get install -y$$missing"; exit 1; fi; \
	  echo "== installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt setup.py | deps
	@[ -x $(PYTHON) ] || { echo "== creating $(VENV)"; $(SYSTEM_PYTHON) -m venv $(VENV); }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --config-settings editable_mode=compat -e .
	@touch $@

# Real motion capture for pose_formats/mocap: the Debian package (via deps), three wheels and dart-doc.
mocap: $(MOCAP_WHEEL_DIR)/$(PYBULLET_WHEEL) $(MOCAP_WHEEL_DIR)/$(ISAACLAB_WHEEL) $(MOCAP_WHEEL_DIR)/$(HOLOSOMA_WHEEL) \
  $(DART_C3D)/squat.c3d | deps
$(MOCAP_WHEEL_DIR)/$(PYBULLET_WHEEL): | venv
	$(PYTHON) -m pip download --quiet --disable-pip-version-check pybullet==3.2.7 --no-deps \
	  --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
	  -d $(MOCAP_WHEEL_DIR)
	@[ -f $@ ] || { echo "pip download pybullet==3.2.7 did not give $(PYBULLET_WHEEL)"; exit 1; }
$(MOCAP_WHEEL_DIR)/$(ISAACLAB_WHEEL) $(MOCAP_WHEEL_DIR)/$(HOLOSOMA_WHEEL): | venv
	$(PYTHON) -m pip download --quiet --disable-pip-version-check \
	  $(if $(findstring isaaclab,$@),isaaclab==3.0.0,holosoma-retargeting==0.1.0) \
	  --no-deps --only-binary=:all: --python-version 3.12 -d $(MOCAP_WHEEL_DIR)
	@[ -f $@ ] || { echo "pip download did not give $(notdir $@)"; exit 1; }
$(DART_C3D)/squat.c3d:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && \
	{ apt-get download dart-doc >/dev/null 2>&1 || { apt-get update -qq && apt-get download dart-doc; } || \
	  { echo "apt-get download dart-doc failed (as root: apt-get update, then make mocap)"; exit 1; }; } && \
	dpkg-deb -x dart-doc_*.deb x && rm -rf "$(MOCAP_WHEEL_DIR)/dart-doc" && \
	mkdir -p "$(DART_C3D)" "$(MOCAP_WHEEL_DIR)/dart-doc/usr/share/doc/dart-doc" && \
	cp x/usr/share/doc/dart/data/c3d/*.c3d "$(DART_C3D)/" && \
	cp x/usr/share/doc/dart-doc/copyright "$(MOCAP_WHEEL_DIR)/dart-doc/usr/share/doc/dart-doc/"
	@[ -f $@ ] || { echo "dart-doc did not give $@"; exit 1; }

caffe: venv
	@tools/build_caffe.sh --venv $(CURDIR)/$(VENV)

# The CUDA build beside the CPU one (nvcc 13 at CUDA_HOME, default /usr/local/cuda-13.0; cudart, cuBLAS
# and cuRAND from pinned PyPI wheels); HPM_CAFFE=gpu selects it. Needs no GPU to build.
caffe-gpu: venv
	@tools/build_caffe.sh --gpu --venv $(CURDIR)/$(VENV)

# The GPU build for the lent device machines' Python 3.12, packed with its libraries into
# .device/caffe-gpu-py3.12.tar.xz (tools/make_device_bundle.sh; a `run` carries .device). Needs no GPU.
device-bundle: deps
	@tools/make_device_bundle.sh

test: caffe mocap
	$(PYTHON) -m pytest tests

demo: caffe mocap
	@tools/demo.sh

bench: caffe
	$(PYTHON) tools/bench_data.py
	$(PYTHON) tools/bench_kernels.py
	$(PYTHON) tools/bench_online.py

# On a GPU machine: the GPU tests and timings, in one run (tools/gpu_checks.sh; with the GPU build of
# Caffe also the layers in GPU mode, the demo stages on -gpu 0 and test_all.sh -g 0 against the CPU).
gpu-check:
	tools/gpu_checks.sh

clean:
	rm -rf $(VENV) results .pytest_cache
