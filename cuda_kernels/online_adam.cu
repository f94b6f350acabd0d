// TF-1 Adam steps on the online correction's per-row state (one row per frame or per action), in
// place: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², and, by `mode`, the step lr_t·m/(√v + ε) set
// into (1) or added to (2) the row's offset θ0 − θ, or not taken (0). Gradients are never formed:
// a weight's is the outer product of two row vectors, made per element. References and the W0
// input-product form: online_adam.py. float and double entry points share one template.

#include "online_common.cuh"

// Vectors (a bias per row, n entries each) with gradient g.
template <typename T>
__device__ __forceinline__ void vector_step(T* m, T* v, T* offset, const T* g, long long n,
                                            const AdamStep<T>& step) {
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)gridDim.x * blockDim.x)
        adam_element(m, v, offset, e, g[e], step);
}

// Per-row matrices (rows, n_left, n_right) with gradient left[a] ⊗ right[a].
template <typename T>
__device__ __forceinline__ void outer_step(T* m, T* v, T* offset, const T* left, const T* right, long long rows,
                                           int n_left, int n_right, const AdamStep<T>& step) {
    const long long per_row = (long long)n_left * n_right;
    const long long total = rows * per_row;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)gridDim.x * blockDim.x) {
        const long long a = e / per_row;
        const int i = (int)((e % per_row) / n_right), j = (int)(e % n_right);
        const T g = left[a * n_left + i] * right[a * n_right + j];
        adam_element(m, v, offset, e, g, step);
    }
}

// W0 with each row's input x fixed across steps: m, v (rows, units) are the right factors of the
// moments x ⊗ M, x² ⊗ V, updated with grad; the offset holds x·(θ0 − θ)_W0, to which the step adds
// lr_t·M_u·Σ_i x_i² / (|x_i|·√V_u + ε).
template <typename T>
__device__ __forceinline__ void input_product_step(T* m, T* v, T* offset, const T* x, const T* grad, long long rows,
                                                   int n_inputs, int n_units, const AdamStep<T>& step) {
    const long long total = rows * n_units;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)gridDim.x * blockDim.x) {
        T mi, vi;
        adam_moments(m, v, e, grad[e], step, mi, vi);
        if (step.mode == MOMENTS_ONLY) continue;
        const T sum = input_step_sum(x + (e / n_units) * n_inputs, n_inputs, square_root(vi), step.eps);
        adam_offset(offset, e, mi * sum / step.inverse_lr, step.mode);
    }
}

extern "C" __global__ void outer_step_f32(float* m, float* v, float* offset, const float* left, const float* right,
                                          long long rows, int n_left, int n_right, float beta1, float beta2,
                                          float one_minus_beta1, float one_minus_beta2, float eps, float inverse_lr,
                                          int mode) {
    outer_step<float>(m, v, offset, left, right, rows, n_left, n_right,
        {beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode});
}

extern "C" __global__ void outer_step_f64(double* m, double* v, double* offset, const double* left,
                                          const double* right, long long rows, int n_left, int n_right, double beta1,
                                          double beta2, double one_minus_beta1, double one_minus_beta2, double eps,
                                          double inverse_lr, int mode) {
    outer_step<double>(m, v, offset, left, right, rows, n_left, n_right,
        {beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode});
}

extern "C" __global__ void vector_step_f32(float* m, float* v, float* offset, const float* g, long long n,
                                           float beta1, float beta2, float one_minus_beta1, float one_minus_beta2,
                                           float eps, float inverse_lr, int mode) {
    vector_step<float>(m, v, offset, g, n,
        {beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode});
}

extern "C" __global__ void vector_step_f64(double* m, double* v, double* offset, const double* g, long long n,
                                           double beta1, double beta2, double one_minus_beta1, double one_minus_beta2,
                                           double eps, double inverse_lr, int mode) {
    vector_step<double>(m, v, offset, g, n,
        {beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode});
}

extern "C" __global__ void input_product_step_f32(float* m, float* v, float* offset, const float* x,
                                                  const float* grad, long long rows, int n_inputs, int n_units,
                                                  float beta1, float beta2, float one_minus_beta1,
                                                  float one_minus_beta2, float eps, float inverse_lr, int mode) {
    input_product_step<float>(m, v, offset, x, grad, rows, n_inputs, n_units,
        {beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode});
}

extern "C" __global__ void input_product_step_f64(double* m, double* v, double* offset, const double* x,
                                                  const double* grad, long long rows, int n_inputs, int n_units,
                                                  double beta1, double beta2, double one_minus_beta1,
                                                  double one_minus_beta2, double eps, double inverse_lr, int mode) {
    input_product_step<double>(m, v, offset, x, grad, rows, n_inputs, n_units,
        {beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode});
}
