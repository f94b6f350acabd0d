# Compiles stock Caffe (Python layers) from an unpacked source tree into one libcaffe.so,
# the pycaffe extension _caffe.so and the `caffe` binary, both linked against that one library
# (two copies of the protobuf descriptors abort a Python layer inside `caffe train`).
# Driven by tools/build_caffe.sh, which sets SRC (unpacked sdist), OUT (build folder), PYTHON, and
# for the CUDA build GPU=1, CUDA_HOME (nvcc and cudart headers) and CUDA_LIBS (the folder holding the
# PyPI wheels of cudart, cuBLAS and cuRAND: nvidia/cu13/{include,lib}).

SRC    ?= $(error SRC not set)
OUT    ?= $(error OUT not set)
PYTHON ?= python3

PY_VER    := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PY_TAG    := $(subst .,,$(PY_VER))
PY_INC    := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NUMPY_INC := $(shell $(PYTHON) -c 'import numpy; print(numpy.get_include())')
HDF5_DIR  := /usr/lib/x86_64-linux-gnu/hdf5/serial

GPU       ?= 0
PROTO_OUT := $(OUT)/proto-gen
DEFINES   := -DWITH_PYTHON_LAYER -DUSE_HDF5 -DCAFFE_VERSION=1.0.0
# The protoc output comes first: the sdist ships a stale include/caffe/proto/caffe.pb.h.
INCLUDES  := -I$(PROTO_OUT) -I$(SRC)/include -I$(PY_INC) -I$(NUMPY_INC) -I/usr/include/hdf5/serial
LIBS      := -L$(HDF5_DIR) -lglog -lgflags -lprotobuf -lboost_system -lboost_thread \
             -lboost_filesystem -lboost_python$(PY_TAG) -lhdf5_hl -lhdf5 -lopenblas -lpthread \
             -lpython$(PY_VER)
LIB_SRCS := $(filter-out %cudnn.cpp,$(shell cd $(SRC) && find src/caffe -name '*.cpp' \
              -not -path 'src/caffe/test/*' -not -name 'cudnn_*'))

ifeq ($(GPU),1)
CUDA_HOME ?= /usr/local/cuda-13.0
CUDA_LIBS ?= $(error CUDA_LIBS not set)
WHEEL_CU  := $(CUDA_LIBS)/nvidia/cu13
NVCC      := $(CUDA_HOME)/bin/nvcc
# sm_90 machine code for H100/H200, and compute_90 PTX that newer cards compile when loading.
GENCODE   := -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
INCLUDES  += -I$(WHEEL_CU)/include -I$(CUDA_HOME)/include
# CUDA 13's Thrust/CCCL headers need C++17.
CXXFLAGS  := -std=c++17 -O2 -fPIC -w $(DEFINES) $(INCLUDES)
NVCCFLAGS := -std=c++17 -O2 $(GENCODE) -Xcompiler -fPIC -w $(DEFINES) $(INCLUDES)
# cudart, cuBLAS and cuRAND from the wheels, found at run time through the rpath.
LIBS      += -L$(WHEEL_CU)/lib -l:libcudart.so.13 -l:libcublas.so.13 -l:libcurand.so.10 \
             -Wl,-rpath,$(WHEEL_CU)/lib
# Extra layers of the sdist that have no GPU code (their Forward_gpu is declared, never defined);
# the pose nets use none of them.
NO_GPU_CODE := hardsigmoid hardswish maxunpool pixelshuffle proposal upsample relu6
LIB_SRCS  := $(filter-out $(NO_GPU_CODE:%=src/caffe/layers/%_layer.cpp),$(LIB_SRCS))
CU_SRCS   := $(filter-out $(NO_GPU_CODE:%=src/caffe/layers/%_layer.cu),$(shell cd $(SRC) && \
               find src/caffe -name '*.cu' -not -path 'src/caffe/test/*' -not -name 'cudnn_*'))
else
DEFINES   += -DCPU_ONLY
CXXFLAGS  := -std=c++14 -O2 -fPIC -w $(DEFINES) $(INCLUDES)
CU_SRCS   :=
endif

LIB_OBJS := $(addprefix $(OUT)/obj/,$(LIB_SRCS:.cpp=.o) $(CU_SRCS:.cu=.cu.o)) $(OUT)/obj/caffe.pb.o

.PHONY: all
all: $(OUT)/lib/libcaffe.so $(OUT)/python/caffe/_caffe.so $(OUT)/bin/caffe.bin \
     $(OUT)/python/caffe/proto/caffe_pb2.py

$(PROTO_OUT)/caffe/proto/caffe.pb.cc: $(SRC)/src/caffe/proto/caffe.proto
	@mkdir -p $(PROTO_OUT)/caffe/proto
	protoc --proto_path=$(SRC)/src/caffe/proto --cpp_out=$(PROTO_OUT)/caffe/proto $<
$(PROTO_OUT)/caffe/proto/caffe.pb.h: $(PROTO_OUT)/caffe/proto/caffe.pb.cc

$(OUT)/python/caffe/proto/caffe_pb2.py: $(SRC)/src/caffe/proto/caffe.proto
	@mkdir -p $(OUT)/python/caffe/proto
	cp $(SRC)/python/caffe/*.py $(OUT)/python/caffe/
	touch $(OUT)/python/caffe/proto/__init__.py
	protoc --proto_path=$(SRC)/src/caffe/proto --python_out=$(OUT)/python/caffe/proto $<

$(OUT)/obj/caffe.pb.o: $(PROTO_OUT)/caffe/proto/caffe.pb.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(OUT)/obj/%.o: $(SRC)/%.cpp $(PROTO_OUT)/caffe/proto/caffe.pb.h
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(OUT)/obj/%.cu.o: $(SRC)/%.cu $(PROTO_OUT)/caffe/proto/caffe.pb.h
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(OUT)/lib/libcaffe.so: $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CXX) -shared -o $@ $^ -Wl,-soname,libcaffe.so $(LIBS)

$(OUT)/obj/_caffe.o: $(SRC)/python/caffe/_caffe.cpp $(PROTO_OUT)/caffe/proto/caffe.pb.h
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(OUT)/python/caffe/_caffe.so: $(OUT)/obj/_caffe.o $(OUT)/lib/libcaffe.so
	@mkdir -p $(@D)
	$(CXX) -shared -o $@ $< -L$(OUT)/lib -lcaffe -Wl,-rpath,'$$ORIGIN/../../lib' $(LIBS)

$(OUT)/obj/caffe_tool.o: $(SRC)/tools/caffe.cpp $(PROTO_OUT)/caffe/proto/caffe.pb.h
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(OUT)/bin/caffe.bin: $(OUT)/obj/caffe_tool.o $(OUT)/lib/libcaffe.so
	@mkdir -p $(@D)
	$(CXX) -o $@ $< -L$(OUT)/lib -lcaffe -Wl,-rpath,'$$ORIGIN/../lib' $(LIBS)
