// TF-1 Adam steps on the online correction's per-row state (one row per frame or per action), in
// place: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², and, by `mode`, the step lr_t·m/(√v + ε) set
// into (1) or added to (2) the row's offset θ0 − θ, or not taken (0). Gradients are never formed:
// a weight's is the outer product of two row vectors, made per element. References and the W0
// input-product form: online_adam.py. float and double entry points share one template.

template <typename T>
__device__ __forceinline__ T magnitude(T v) { return v < T(0) ? -v : v; }

template <typename T>
__device__ __forceinline__ T square_root(T v);
template <>
__device__ __forceinline__ float square_root<float>(float v) { return sqrtf(v); }
template <>
__device__ __forceinline__ double square_root<double>(double v) { return sqrt(v); }

// Updates m[e], v[e] with gradient g; returns the step (0 when mode is 0).
template <typename T>
__device__ __forceinline__ T moments(T* m, T* v, long long e, T g, T beta1, T beta2, T one_minus_beta1,
                                     T one_minus_beta2, T eps, T inverse_lr, int mode) {
    const T mi = beta1 * m[e] + one_minus_beta1 * g;
    const T vi = beta2 * v[e] + one_minus_beta2 * (g * g);
    m[e] = mi;
    v[e] = vi;
    return mode == 0 ? T(0) : mi / ((square_root(vi) + eps) * inverse_lr);
}

template <typename T>
__device__ __forceinline__ void take_step(T* offset, long long e, T step, int mode) {
    if (mode == 1) offset[e] = step;
    else if (mode == 2) offset[e] += step;
}

// Vectors (a bias per row, n entries each) with gradient g.
template <typename T>
__device__ __forceinline__ void vector_step(T* m, T* v, T* offset, const T* g, long long n, T beta1, T beta2,
                                            T one_minus_beta1, T one_minus_beta2, T eps, T inverse_lr, int mode) {
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)gridDim.x * blockDim.x)
        take_step(offset, e, moments(m, v, e, g[e], beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr,
                                     mode), mode);
}

// Per-row matrices (rows, n_left, n_right) with gradient left[a] ⊗ right[a].
template <typename T>
__device__ __forceinline__ void outer_step(T* m, T* v, T* offset, const T* left, const T* right, long long rows,
                                           int n_left, int n_right, T beta1, T beta2, T one_minus_beta1,
                                           T one_minus_beta2, T eps, T inverse_lr, int mode) {
    const long long per_row = (long long)n_left * n_right;
    const long long total = rows * per_row;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)gridDim.x * blockDim.x) {
        const long long a = e / per_row;
        const int i = (int)((e % per_row) / n_right), j = (int)(e % n_right);
        const T g = left[a * n_left + i] * right[a * n_right + j];
        take_step(offset, e, moments(m, v, e, g, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr,
                                     mode), mode);
    }
}

// W0 with each row's input x fixed across steps: m, v (rows, units) are the right factors of the
// moments x ⊗ M, x² ⊗ V, updated with grad; the offset holds x·(θ0 − θ)_W0, to which the step adds
// lr_t·M_u·Σ_i x_i² / (|x_i|·√V_u + ε).
template <typename T>
__device__ __forceinline__ void input_product_step(T* m, T* v, T* offset, const T* x, const T* grad, long long rows,
                                                   int n_inputs, int n_units, T beta1, T beta2, T one_minus_beta1,
                                                   T one_minus_beta2, T eps, T inverse_lr, int mode) {
    const long long total = rows * n_units;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)gridDim.x * blockDim.x) {
        const T mi = beta1 * m[e] + one_minus_beta1 * grad[e];
        const T vi = beta2 * v[e] + one_minus_beta2 * (grad[e] * grad[e]);
        m[e] = mi;
        v[e] = vi;
        if (mode == 0) continue;
        const T root = square_root(vi);
        const T* inputs = x + (e / n_units) * n_inputs;
        T sum = T(0);
        for (int i = 0; i < n_inputs; ++i) {
            const T a = magnitude(inputs[i]);
            sum += a * a / (a * root + eps);
        }
        take_step(offset, e, mi * sum / inverse_lr, mode);
    }
}

extern "C" __global__ void outer_step_f32(float* m, float* v, float* offset, const float* left, const float* right,
                                          long long rows, int n_left, int n_right, float beta1, float beta2,
                                          float one_minus_beta1, float one_minus_beta2, float eps, float inverse_lr,
                                          int mode) {
    outer_step<float>(m, v, offset, left, right, rows, n_left, n_right, beta1, beta2, one_minus_beta1,
                      one_minus_beta2, eps, inverse_lr, mode);
}

extern "C" __global__ void outer_step_f64(double* m, double* v, double* offset, const double* left,
                                          const double* right, long long rows, int n_left, int n_right, double beta1,
                                          double beta2, double one_minus_beta1, double one_minus_beta2, double eps,
                                          double inverse_lr, int mode) {
    outer_step<double>(m, v, offset, left, right, rows, n_left, n_right, beta1, beta2, one_minus_beta1,
                       one_minus_beta2, eps, inverse_lr, mode);
}

extern "C" __global__ void vector_step_f32(float* m, float* v, float* offset, const float* g, long long n,
                                           float beta1, float beta2, float one_minus_beta1, float one_minus_beta2,
                                           float eps, float inverse_lr, int mode) {
    vector_step<float>(m, v, offset, g, n, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode);
}

extern "C" __global__ void vector_step_f64(double* m, double* v, double* offset, const double* g, long long n,
                                           double beta1, double beta2, double one_minus_beta1, double one_minus_beta2,
                                           double eps, double inverse_lr, int mode) {
    vector_step<double>(m, v, offset, g, n, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr, mode);
}

extern "C" __global__ void input_product_step_f32(float* m, float* v, float* offset, const float* x, const float* grad,
                                                  long long rows, int n_inputs, int n_units, float beta1, float beta2,
                                                  float one_minus_beta1, float one_minus_beta2, float eps,
                                                  float inverse_lr, int mode) {
    input_product_step<float>(m, v, offset, x, grad, rows, n_inputs, n_units, beta1, beta2, one_minus_beta1,
                              one_minus_beta2, eps, inverse_lr, mode);
}

extern "C" __global__ void input_product_step_f64(double* m, double* v, double* offset, const double* x,
                                                  const double* grad, long long rows, int n_inputs, int n_units,
                                                  double beta1, double beta2, double one_minus_beta1,
                                                  double one_minus_beta2, double eps, double inverse_lr, int mode) {
    input_product_step<double>(m, v, offset, x, grad, rows, n_inputs, n_units, beta1, beta2, one_minus_beta1,
                               one_minus_beta2, eps, inverse_lr, mode);
}
