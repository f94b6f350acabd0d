"""Raw CUDA kernels (`*.cu`, run through cupy.RawModule), each beside the NumPy reference that defines
its result. `cuda_kernels.backend` is the one switch between CuPy and NumPy."""
