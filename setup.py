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
    packages=find_packages(include=["caffe_layers", "cuda_kernels", "pose_formats", "pose_formats.*", "online"]),
    package_data={"cuda_kernels": ["*.cu"], "pose_formats": ["data/*"]},
    install_requires=["numpy", "protobuf", "scipy", "scikit-image", "opencv-python-headless", "six", "tqdm"],
    extras_require={"gpu": ["cupy-cuda13x"]},
)
