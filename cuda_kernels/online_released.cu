// Released-mode online correction (SPEC section 9) as one persistent kernel: the whole sequential
// scan over the frames of up to MAX_ROWS sequences (the actions) runs in a single launch, the
// sequences side by side as rows. Each pass of a frame is a chain of phases (the layers forward, the
// loss gradient, the layers backward, Adam); every phase spreads its output columns over all blocks
// of the grid, and a grid-wide barrier separates phases, so no launch happens per step.
// The grid barrier needs every block resident at once: see the launch in online_released.py.
//
// Products: every phase is out[a, col] = Σ_k in[a, k]·W[k, col] (W shared, row-major K × n_cols)
// minus, where given, Σ_k in[a, k]·D_a[k, col] for a per-row matrix D_a (Adam's accumulated step,
// kept apart from the frozen weights as in the array engine). A block takes tile_cols columns at a
// time; its threads split K into slices and each accumulates all rows, so a weight is read once per
// step for every row; the slices are summed in shared memory in a fixed order (deterministic).

#define MAX_ROWS 16
#define DIM_3D 48
#define DIM_2D 32
// Columns per block tile: 1024-wide outputs in tiles of 8 keep ~128 blocks busy (one per SM); the
// 48- and 32-wide outputs in tiles of 4 split K over more slices instead of leaving threads idle.
#define WIDE_TILE 8
#define NARROW_TILE 4

#include "online_common.cuh"

// A barrier over the whole grid (the blocks must all be resident). barrier[0] counts arrivals,
// barrier[1] is the generation the waiting blocks watch; the fences publish each phase's writes.
__device__ __forceinline__ void grid_sync(unsigned int* barrier) {
    __syncthreads();
    if (threadIdx.x == 0) {
        volatile unsigned int* generation = barrier + 1;
        const unsigned int seen = *generation;
        __threadfence();
        if (atomicAdd(barrier, 1u) == gridDim.x - 1) {
            atomicExch(barrier, 0u);
            __threadfence();
            atomicAdd(barrier + 1, 1u);
        } else {
            // A phase takes microseconds; blocks that never arrive (not all resident) would hang
            // the device, so after seconds of waiting the kernel traps: an error, not a hang.
            unsigned int spins = 0;
            while (*generation == seen) {
                __nanosleep(32);
                if (++spins == (1u << 28)) __trap();
            }
        }
        __threadfence();
    }
    __syncthreads();
}

// Per-row matrices D_a: element (k, col) of row a at a·row_stride + k·k_stride + col·col_stride.
template <typename T>
struct RowMatrices {
    const T* data;  // nullptr: none
    long long row_stride;
    int k_stride, col_stride;
};

template <typename T, class Epilogue>
__device__ __forceinline__ void dense(const T* in, int n_rows, int n_in, int n_cols, const T* w,
                                      RowMatrices<T> offset, int tile_cols, T* reduction, Epilogue epilogue) {
    const int col_in_tile = threadIdx.x % tile_cols;
    const int slice = threadIdx.x / tile_cols;
    const int n_slices = blockDim.x / tile_cols;
    for (int tile_start = blockIdx.x * tile_cols; tile_start < n_cols; tile_start += gridDim.x * tile_cols) {
        const int col = tile_start + col_in_tile;
        T acc[MAX_ROWS];
#pragma unroll
        for (int a = 0; a < MAX_ROWS; ++a) acc[a] = T(0);
        if (col < n_cols) {
            for (int k = slice; k < n_in; k += n_slices) {
                const T wv = w[(long long)k * n_cols + col];
#pragma unroll
                for (int a = 0; a < MAX_ROWS; ++a) {
                    if (a < n_rows) {
                        const T v = in[a * n_in + k];
                        acc[a] += v * wv;
                        if (offset.data != nullptr)
                            acc[a] -= v * offset.data[a * offset.row_stride + (long long)k * offset.k_stride
                                                      + (long long)col * offset.col_stride];
                    }
                }
            }
        }
#pragma unroll
        for (int a = 0; a < MAX_ROWS; ++a)
            if (a < n_rows) reduction[(slice * MAX_ROWS + a) * tile_cols + col_in_tile] = acc[a];
        __syncthreads();
        for (int o = threadIdx.x; o < n_rows * tile_cols; o += blockDim.x) {
            const int a = o / tile_cols, c = o % tile_cols;
            if (tile_start + c < n_cols) {
                T sum = T(0);
                for (int s = 0; s < n_slices; ++s) sum += reduction[(s * MAX_ROWS + a) * tile_cols + c];
                epilogue(a, tile_start + c, sum);
            }
        }
        __syncthreads();
    }
}

// (|u_j| − |v_j|)·sign(u_j) for bone j of the masked projection p and the masked 2D target q.
template <typename T>
__device__ __forceinline__ T bone_error(const T* p, const T* q, const T* mask, const int* parent_entry, int j) {
    const int pj = parent_entry[j];
    const T u = mask[pj] * p[pj] - mask[j] * p[j];
    const T v = mask[pj] * q[pj] - mask[j] * q[j];
    const T sign = u > T(0) ? T(1) : (u < T(0) ? T(-1) : T(0));
    return (magnitude(u) - magnitude(v)) * sign;
}

// dL/dp for each live row into grad_p (rows × 32), every block computing it for itself:
// (2/32)·k_i·[(k_i p_i − k_i q_i) + Σ_j B_ij e_j], B_ij = [i = parent(j)] − [i = j].
template <typename T>
__device__ __forceinline__ void loss_gradient(const T* p, const T* q, const T* mask, const int* parent_entry,
                                              int n_rows, T* grad_p) {
    for (int o = threadIdx.x; o < n_rows * DIM_2D; o += blockDim.x) {
        const int a = o / DIM_2D, i = o % DIM_2D;
        const T* pa = p + a * DIM_2D;
        const T* qa = q + a * DIM_2D;
        T back = -bone_error(pa, qa, mask, parent_entry, i);
        for (int j = 0; j < DIM_2D; ++j)
            if (parent_entry[j] == i) back += bone_error(pa, qa, mask, parent_entry, j);
        grad_p[o] = T(2) / T(DIM_2D) * mask[i] * ((mask[i] * pa[i] - mask[i] * qa[i]) + back);
    }
    __syncthreads();
}

template <typename T>
__device__ __forceinline__ void released_scan(
        const T* W0, const T* b0, const T* W00, const T* b00, const T* W00_T,
        const T* W1, const T* b1, const T* W1_T, const T* W2, const T* b2, const T* W2_T,
        const T* W3, const T* b3, const T* W3_T, const T* W4, const T* b4, const T* W4_T,
        const T* loss_mask, const int* parent_entry, const T* xs, const T* qs, const int* lengths, T* out,
        T* state, T* scratch, unsigned int* barrier, int n_rows, int n_steps, int refine_width,
        int projector_width, int iterations, T scale, double lr, double beta1, double beta2, T eps) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T* reduction = reinterpret_cast<T*>(shared_bytes);         // blockDim.x × MAX_ROWS
    T* grad_p = reduction + blockDim.x * MAX_ROWS;              // MAX_ROWS × 32
    const int R = refine_width, P = projector_width;
    const long long rows = n_rows;
    // Adam's state per row: m, v and the accumulated step (offset) of W0, b0, W00, b00
    T* m_W0 = state;
    T* v_W0 = m_W0 + rows * DIM_3D * R;
    T* off_W0 = v_W0 + rows * DIM_3D * R;
    T* m_b0 = off_W0 + rows * DIM_3D * R;
    T* v_b0 = m_b0 + rows * R;
    T* off_b0 = v_b0 + rows * R;
    T* m_W00 = off_b0 + rows * R;
    T* v_W00 = m_W00 + rows * R * DIM_3D;
    T* off_W00 = v_W00 + rows * R * DIM_3D;
    T* m_b00 = off_W00 + rows * R * DIM_3D;
    T* v_b00 = m_b00 + rows * DIM_3D;
    T* off_b00 = v_b00 + rows * DIM_3D;
    // activations of the current pass, rows × width each
    T* z0 = scratch;
    T* h0 = z0 + rows * R;
    T* r = h0 + rows * R;
    T* a1 = r + rows * DIM_3D;
    T* h1 = a1 + rows * P;
    T* a2 = h1 + rows * P;
    T* h2 = a2 + rows * P;
    T* a3 = h2 + rows * P;
    T* h_sum = a3 + rows * P;
    T* p = h_sum + rows * P;
    T* grad_sum = p + rows * DIM_2D;
    T* d3 = grad_sum + rows * P;
    T* d2 = d3 + rows * P;
    T* d1 = d2 + rows * P;
    T* grad_r = d1 + rows * P;

    const RowMatrices<T> none = {nullptr, 0, 0, 0};

    for (int s = 0; s < n_steps; ++s) {
        int live = 0;  // rows are sorted longest first: the live ones are a prefix
        while (live < n_rows && lengths[live] > s) ++live;
        const T* x = xs + (long long)s * n_rows * DIM_3D;
        const T* q = qs + (long long)s * n_rows * DIM_2D;
        for (int k = 1; k <= iterations; ++k) {
            const bool shifted = k > 1;  // θ is reset to θ0 for every frame: no offset in its first pass
            const bool last = k == iterations;
            const long long t = (long long)s * iterations + k;
            const double lr_t = lr * sqrt(1.0 - pow(beta2, (double)t)) / (1.0 - pow(beta1, (double)t));
            const T inverse_lr = T(1.0 / lr_t);
            // Adam's constants rounded to T as the array engine rounds them
            const AdamStep<T> adam = {T(beta1), T(beta2), T(1.0 - beta1), T(1.0 - beta2), eps, inverse_lr,
                                      last ? MOMENTS_ONLY : (k == 1 ? SET_OFFSET : ADD_OFFSET)};

            const RowMatrices<T> w0_offset = {shifted ? off_W0 : nullptr, (long long)DIM_3D * R, R, 1};
            dense(x, live, DIM_3D, R, W0, w0_offset, WIDE_TILE, reduction, [&](int a, int u, T sum) {
                const T z = sum + b0[u] - (shifted ? off_b0[a * R + u] : T(0));
                z0[a * R + u] = z;
                h0[a * R + u] = relu(z);
            });
            grid_sync(barrier);
            const RowMatrices<T> w00_offset = {shifted ? off_W00 : nullptr, (long long)R * DIM_3D, DIM_3D, 1};
            dense(h0, live, R, DIM_3D, W00, w00_offset, NARROW_TILE, reduction, [&](int a, int j, T sum) {
                const T v = sum + b00[j] - (shifted ? off_b00[a * DIM_3D + j] : T(0));
                r[a * DIM_3D + j] = v;
                if (last) out[((long long)s * n_rows + a) * DIM_3D + j] = v;
            });
            grid_sync(barrier);
            dense(r, live, DIM_3D, P, W1, none, WIDE_TILE, reduction, [&](int a, int c, T sum) {
                const T v = scale * (sum + b1[c]);
                a1[a * P + c] = v;
                h1[a * P + c] = relu(v);
            });
            grid_sync(barrier);
            dense(h1, live, P, P, W2, none, WIDE_TILE, reduction, [&](int a, int c, T sum) {
                const T v = scale * (sum + b2[c]);
                a2[a * P + c] = v;
                h2[a * P + c] = relu(v);
            });
            grid_sync(barrier);
            dense(h2, live, P, P, W3, none, WIDE_TILE, reduction, [&](int a, int c, T sum) {
                const T v = scale * (sum + b3[c]);
                a3[a * P + c] = v;
                h_sum[a * P + c] = h1[a * P + c] + relu(v);
            });
            grid_sync(barrier);
            dense(h_sum, live, P, DIM_2D, W4, none, NARROW_TILE, reduction, [&](int a, int c, T sum) {
                p[a * DIM_2D + c] = sum + b4[c];
            });
            grid_sync(barrier);
            loss_gradient(p, q, loss_mask, parent_entry, live, grad_p);
            dense(grad_p, live, DIM_2D, P, W4_T, none, WIDE_TILE, reduction, [&](int a, int c, T sum) {
                grad_sum[a * P + c] = sum;  // dL/d(h1 + h3): h1 gets it directly and through h3
                d3[a * P + c] = a3[a * P + c] > T(0) ? sum : T(0);
            });
            grid_sync(barrier);
            dense(d3, live, P, P, W3_T, none, WIDE_TILE, reduction, [&](int a, int c, T sum) {
                d2[a * P + c] = a2[a * P + c] > T(0) ? scale * sum : T(0);
            });
            grid_sync(barrier);
            dense(d2, live, P, P, W2_T, none, WIDE_TILE, reduction, [&](int a, int c, T sum) {
                d1[a * P + c] = a1[a * P + c] > T(0) ? grad_sum[a * P + c] + scale * sum : T(0);
            });
            grid_sync(barrier);
            dense(d1, live, P, DIM_3D, W1_T, none, NARROW_TILE, reduction, [&](int a, int j, T sum) {
                grad_r[a * DIM_3D + j] = scale * sum;
            });
            grid_sync(barrier);
            // dL/dz0 = (dL/dr·(W00 − D_a)ᵀ)⊙(z0 > 0), then Adam on every element that unit u owns:
            // column u of W0 and b0, row u of W00, and the entries j ≡ u (mod R) of b00.
            const RowMatrices<T> w00_t_offset = {shifted ? off_W00 : nullptr, (long long)R * DIM_3D, 1, DIM_3D};
            dense(grad_r, live, DIM_3D, R, W00_T, w00_t_offset, WIDE_TILE, reduction, [&](int a, int u, T sum) {
                const T g = z0[a * R + u] > T(0) ? sum : T(0);
                adam_element(m_b0, v_b0, off_b0, a * (long long)R + u, g, adam);
                for (int i = 0; i < DIM_3D; ++i)
                    adam_element(m_W0, v_W0, off_W0, (a * (long long)DIM_3D + i) * R + u, x[a * DIM_3D + i] * g,
                                 adam);
                const T h = h0[a * R + u];
                for (int j = 0; j < DIM_3D; ++j)
                    adam_element(m_W00, v_W00, off_W00, (a * (long long)R + u) * DIM_3D + j,
                                 h * grad_r[a * DIM_3D + j], adam);
                for (int j = u; j < DIM_3D; j += R)
                    adam_element(m_b00, v_b00, off_b00, a * (long long)DIM_3D + j, grad_r[a * DIM_3D + j], adam);
            });
            grid_sync(barrier);
        }
    }
}

extern "C" __global__ void released_scan_f32(
        const float* W0, const float* b0, const float* W00, const float* b00, const float* W00_T, const float* W1,
        const float* b1, const float* W1_T, const float* W2, const float* b2, const float* W2_T, const float* W3,
        const float* b3, const float* W3_T, const float* W4, const float* b4, const float* W4_T,
        const float* loss_mask, const int* parent_entry, const float* xs, const float* qs, const int* lengths,
        float* out, float* state, float* scratch, unsigned int* barrier, int n_rows, int n_steps,
        int refine_width, int projector_width, int iterations, float scale, double lr, double beta1,
        double beta2, float eps) {
    released_scan<float>(W0, b0, W00, b00, W00_T, W1, b1, W1_T, W2, b2, W2_T, W3, b3, W3_T, W4, b4, W4_T,
                         loss_mask, parent_entry, xs, qs, lengths, out, state, scratch, barrier, n_rows, n_steps,
                         refine_width, projector_width, iterations, scale, lr, beta1, beta2, eps);
}

extern "C" __global__ void released_scan_f64(
        const double* W0, const double* b0, const double* W00, const double* b00, const double* W00_T,
        const double* W1, const double* b1, const double* W1_T, const double* W2, const double* b2,
        const double* W2_T, const double* W3, const double* b3, const double* W3_T, const double* W4,
        const double* b4, const double* W4_T, const double* loss_mask, const int* parent_entry,
        const double* xs, const double* qs, const int* lengths, double* out, double* state, double* scratch,
        unsigned int* barrier, int n_rows, int n_steps, int refine_width, int projector_width, int iterations,
        double scale, double lr, double beta1, double beta2, double eps) {
    released_scan<double>(W0, b0, W00, b00, W00_T, W1, b1, W1_T, W2, b2, W2_T, W3, b3, W3_T, W4, b4, W4_T,
                          loss_mask, parent_entry, xs, qs, lengths, out, state, scratch, barrier, n_rows, n_steps,
                          refine_width, projector_width, iterations, scale, lr, beta1, beta2, eps);
}
