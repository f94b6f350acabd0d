// Seeded Bernoulli joint masks from a counter-based hash, so a mask depends only on
// (seed, counter, frame, joint) and the NumPy reference (joint_mask.py) draws the very same bits:
// h = mix(mix(mix(mix(seed) ^ counter) ^ frame) ^ joint) with mix = lowbias32, u = (h >> 8) / 2^24 in
// [0, 1) (exact in float32), and the joint is kept (1) when u < keep_prob[joint], dropped (0) otherwise.
// Every coordinate of a joint shares its draw. One logical thread per (frame, joint), grid-stride.

__device__ __forceinline__ unsigned int lowbias32(unsigned int x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

__device__ __forceinline__ float keep_joint(unsigned int seed, unsigned int counter, unsigned int frame,
                                            unsigned int joint, float keep_prob) {
    const unsigned int h = lowbias32(lowbias32(lowbias32(lowbias32(seed) ^ counter) ^ frame) ^ joint);
    const float u = (float)(h >> 8) * 5.9604644775390625e-08f;   // 2^-24
    return u < keep_prob ? 1.f : 0.f;
}

extern "C" __global__ void joint_mask(const float* keep_prob, float* mask, long long n_frames, int n_joints,
                                      int dim, unsigned int seed, unsigned int counter) {
    const long long total = n_frames * n_joints;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long frame = i / n_joints;
        const int joint = (int)(i - frame * n_joints);
        const float keep = keep_joint(seed, counter, (unsigned int)frame, (unsigned int)joint, keep_prob[joint]);
        for (int c = 0; c < dim; ++c) mask[i * dim + c] = keep;
    }
}

// The Mask2D3D pair: one draw per (frame, joint) written to both the (N, J*2) and the (N, J*3) mask.
extern "C" __global__ void joint_mask_2d_3d(const float* keep_prob, float* mask_2d, float* mask_3d,
                                            long long n_frames, int n_joints, unsigned int seed,
                                            unsigned int counter) {
    const long long total = n_frames * n_joints;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long frame = i / n_joints;
        const int joint = (int)(i - frame * n_joints);
        const float keep = keep_joint(seed, counter, (unsigned int)frame, (unsigned int)joint, keep_prob[joint]);
        for (int c = 0; c < 2; ++c) mask_2d[i * 2 + c] = keep;
        for (int c = 0; c < 3; ++c) mask_3d[i * 3 + c] = keep;
    }
}
