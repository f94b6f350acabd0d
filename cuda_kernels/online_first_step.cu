// The first TF-1 Adam step of independent-mode online correction, applied without per-frame weight
// copies (derivation in online_first_step.py). Both kernels are elementwise over their outputs and
// sum positive terms only, so their order of summation costs a few ulp at most. float and double
// entry points share one template: the double ones recompute the frames float32 cannot resolve.

#include "online_common.cuh"

// h1[n, u] = max(z0 − lr·g·k0 − lr·g/(|g| + eps1), 0) where z0[n, u] > 0, else 0, with g = grad_z0[n, u]
// and k0 = Σ_i x[n, i]² / (|g|·|x[n, i]| + eps1): the W0 step's product with this frame's input.
template <typename T>
__device__ __forceinline__ void updated_hidden(const T* x, const T* z0, const T* grad_z0, T* h1,
                                               long long n_frames, int n_inputs, int n_units, T lr, T eps1) {
    const long long total = n_frames * n_units;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)gridDim.x * blockDim.x) {
        const T z = z0[e];
        T out = T(0);
        if (z > T(0)) {
            const T g = grad_z0[e];
            const T abs_g = magnitude(g);
            const T k0 = input_step_sum(x + (e / n_units) * n_inputs, n_inputs, abs_g, eps1);
            out = z - lr * g * k0 - lr * g / (abs_g + eps1);
            out = out > T(0) ? out : T(0);
        }
        h1[e] = out;
    }
}

// k00[n, j] = Σ_u h1[n, u]·h0[n, u] / (|grad_r[n, j]|·h0[n, u] + eps1) over the units with h1 > 0
// (there h0 = z0 > 0): the W00 step's product with the updated hidden layer.
template <typename T>
__device__ __forceinline__ void output_step_sums(const T* z0, const T* h1, const T* grad_r, T* k00,
                                                 long long n_frames, int n_units, int n_outputs, T eps1) {
    const long long total = n_frames * n_outputs;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)gridDim.x * blockDim.x) {
        const long long row = (e / n_outputs) * n_units;
        const T d = magnitude(grad_r[e]);
        T sum = T(0);
        for (int u = 0; u < n_units; ++u) {
            const T h = h1[row + u];
            if (h > T(0)) {
                const T h0 = z0[row + u];
                sum += h * h0 / (d * h0 + eps1);
            }
        }
        k00[e] = sum;
    }
}

extern "C" __global__ void updated_hidden_f32(const float* x, const float* z0, const float* grad_z0, float* h1,
                                              long long n_frames, int n_inputs, int n_units, float lr,
                                              float eps1) {
    updated_hidden<float>(x, z0, grad_z0, h1, n_frames, n_inputs, n_units, lr, eps1);
}

extern "C" __global__ void updated_hidden_f64(const double* x, const double* z0, const double* grad_z0,
                                              double* h1, long long n_frames, int n_inputs, int n_units,
                                              double lr, double eps1) {
    updated_hidden<double>(x, z0, grad_z0, h1, n_frames, n_inputs, n_units, lr, eps1);
}

extern "C" __global__ void output_step_sums_f32(const float* z0, const float* h1, const float* grad_r,
                                                float* k00, long long n_frames, int n_units, int n_outputs,
                                                float eps1) {
    output_step_sums<float>(z0, h1, grad_r, k00, n_frames, n_units, n_outputs, eps1);
}

extern "C" __global__ void output_step_sums_f64(const double* z0, const double* h1, const double* grad_r,
                                                double* k00, long long n_frames, int n_units, int n_outputs,
                                                double eps1) {
    output_step_sums<double>(z0, h1, grad_r, k00, n_frames, n_units, n_outputs, eps1);
}
