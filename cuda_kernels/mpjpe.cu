// Per-joint Euclidean errors between two pose arrays laid out (N, J*dim), each coordinate difference
// multiplied by scale[entry] first (max - min of the normalisation table turns normalised poses into
// mm; the min cancels in the difference), and the per-frame mean over joints (MPJPE).

extern "C" __global__ void joint_errors(const float* pred, const float* target, const float* scale,
                                        float* errors, long long n_frames, int n_joints, int dim) {
    const long long total = n_frames * n_joints;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long first = i * dim;    // (frame, joint) entries are contiguous: i * dim
        const int first_in_row = (int)(i % n_joints) * dim;
        float sum_sq = 0.f;
        for (int c = 0; c < dim; ++c) {
            const float d = (pred[first + c] - target[first + c]) * scale[first_in_row + c];
            sum_sq += d * d;
        }
        errors[i] = sqrtf(sum_sq);
    }
}

extern "C" __global__ void mean_over_joints(const float* errors, float* frame_mean, long long n_frames,
                                            int n_joints) {
    for (long long frame = blockIdx.x * (long long)blockDim.x + threadIdx.x; frame < n_frames;
         frame += (long long)gridDim.x * blockDim.x) {
        float sum = 0.f;
        for (int j = 0; j < n_joints; ++j) sum += errors[frame * n_joints + j];
        frame_mean[frame] = sum / n_joints;
    }
}
