// Device helpers shared by the online correction's kernels (online_first_step.cu, online_adam.cu,
// online_released.cu). backend.kernel_source pastes this file in place of their #include, so the
// source CuPy compiles (and caches by its text) holds it.
#ifndef HPM_ONLINE_COMMON_CUH
#define HPM_ONLINE_COMMON_CUH

template <typename T>
__device__ __forceinline__ T magnitude(T v) { return v < T(0) ? -v : v; }

template <typename T>
__device__ __forceinline__ T relu(T v) { return v > T(0) ? v : T(0); }

template <typename T>
__device__ __forceinline__ T square_root(T v);
template <>
__device__ __forceinline__ float square_root<float>(float v) { return sqrtf(v); }
template <>
__device__ __forceinline__ double square_root<double>(double v) { return sqrt(v); }

// Σ_i x_i² / (|x_i|·s + eps) over a frame's n inputs: a W0 Adam step's product with that input x, for a
// unit whose moments are x ⊗ M and x² ⊗ V (s = √V; the first step's s = |g| with eps = ε/√(1−β2)).
template <typename T>
__device__ __forceinline__ T input_step_sum(const T* x, int n, T s, T eps) {
    T sum = T(0);
    for (int i = 0; i < n; ++i) {
        const T a = magnitude(x[i]);
        sum += a * a / (a * s + eps);
    }
    return sum;
}

// What an Adam step does with the offset θ0 − θ (online_adam.MODES, in order).
enum AdamOffset { MOMENTS_ONLY = 0, SET_OFFSET = 1, ADD_OFFSET = 2 };

// One TF-1 Adam step's constants, in the kernel's precision, and what it does with the offset.
template <typename T>
struct AdamStep {
    T beta1, beta2, one_minus_beta1, one_minus_beta2, eps, inverse_lr;  // inverse_lr = 1 / lr_t
    int mode;                                                           // an AdamOffset
};

// The moments of element e with gradient g, updated in m, v and returned in mi, vi.
template <typename T>
__device__ __forceinline__ void adam_moments(T* m, T* v, long long e, T g, const AdamStep<T>& c, T& mi, T& vi) {
    mi = c.beta1 * m[e] + c.one_minus_beta1 * g;
    vi = c.beta2 * v[e] + c.one_minus_beta2 * (g * g);
    m[e] = mi;
    v[e] = vi;
}

template <typename T>
__device__ __forceinline__ void adam_offset(T* offset, long long e, T step, int mode) {
    if (mode == SET_OFFSET) offset[e] = step;
    else if (mode == ADD_OFFSET) offset[e] += step;
}

// One Adam step on element e: the moments, then the step lr_t·m/(√v + ε) into the offset by mode.
template <typename T>
__device__ __forceinline__ void adam_element(T* m, T* v, T* offset, long long e, T g, const AdamStep<T>& c) {
    T mi, vi;
    adam_moments(m, v, e, g, c, mi, vi);
    if (c.mode != MOMENTS_ONLY) adam_offset(offset, e, mi / ((square_root(vi) + c.eps) * c.inverse_lr), c.mode);
}

#endif
