"""3D Human Pose Machines with Self-supervised Learning: Caffe layers, CUDA kernels, online stage.

Installed editable into the project's venv by `make venv`; pycaffe itself comes from
tools/build_caffe.sh (stock Caffe built from source), not from this package.
"""
from setuptools import find_packages, setup

setup(
    name="hpm3d",
    version="0.1.0",
    description="3D Human Pose Machines with Self-supervised Learning on stock Caffe + CuPy",
    python_requires=">=3.11",
    packages=find_packages(include=["caffe_layers", "cuda_kernels", "pose_formats", "pose_formats.*", "online", "evaluation", "pipeline"]),
    package_data={"cuda_kernels": ["*.cu", "*.cuh"], "pose_formats": ["data/*"]},
    install_requires=["numpy", "protobuf", "scipy", "scikit-image", "opencv-python-headless", "six", "tqdm", "cdflib==1.3.16"],
    # CuPy 14.2.0 is what pip resolves for CUDA 13 today. CuPy 13.x differs where the kernels care: a
    # RawModule made with enable_cooperative_groups compiles with --device-c and links libcudadevrt.a
    # from a CUDA toolkit (launch.KernelFile.run_resident gives the flag to the launch instead, which
    # both versions honour), and RawModule defaults to -std=c++11, not c++17 (backend.raw_module passes
    # -std=c++17 itself).
    # tests/emulated_cuda.py and tests/test_nvrtc_compile.py follow 14.2.
    extras_require={"gpu": ["cupy-cuda13x==14.2.0"]},
)
