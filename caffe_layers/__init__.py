"""Python layers for stock Caffe that replace the released fork's C++ layers (SPEC section 4).

Each module is one layer family; each layer is a thin adapter that validates its param_str at setup
and calls plain functions from cuda_kernels/ and pose_formats/. Use from a prototxt as
    type: "Python"  python_param { module: "caffe_layers.order"  layer: "InvertedOrder" }
"""
