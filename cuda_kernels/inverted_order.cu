// Reverse the order of items along axis 0 (time) of an (N, row) array: out[i] = in[N - 1 - i].
// The same op is its own backward. One logical thread per element, grid-stride.

extern "C" __global__ void inverted_order(const float* in, float* out, long long n_items, long long row) {
    const long long total = n_items * row;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long item = i / row;
        out[i] = in[(n_items - 1 - item) * row + (i - item * row)];
    }
}
