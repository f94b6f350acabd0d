"""Bone vectors, their gradient and the fused SkelVectorLoss (NumPy references), against an explicit
linear-map implementation in float64 and central finite differences."""
import numpy as np
import pytest

from cuda_kernels import bones
from pose_formats import skeleton
from pose_formats.skeleton import JOINTS, PARENTS

SIZES = (1, 5, 37)
DIMS = (2, 3)
# A different tree: a chain 0-1-2-...-5 with the root its own parent.
CHAIN_PARENTS = np.array([0, 0, 1, 2, 3, 4])


def bone_matrix(parents, dim):
    """The (J*dim, J*dim) matrix B with bones = poses @ B.T, built entry by entry from any parent list:
    an independent reference on purpose, not derived from pose_formats.skeleton.parent_entries."""
    n_joints = len(parents)
    matrix = np.zeros((n_joints * dim, n_joints * dim))
    for joint in range(n_joints):
        for coord in range(dim):
            row = joint * dim + coord
            matrix[row, int(parents[joint]) * dim + coord] += 1.0
            matrix[row, joint * dim + coord] -= 1.0
    return matrix


def random_poses(n, n_joints, dim, seed, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=(n, n_joints * dim)).astype(dtype)


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("parents", (PARENTS, CHAIN_PARENTS), ids=("skeleton16", "chain6"))
def test_forward_and_backward_match_the_linear_map(n, dim, parents):
    poses = random_poses(n, len(parents), dim, seed=n * 10 + dim)
    grad_bones = random_poses(n, len(parents), dim, seed=n * 10 + dim + 1)
    matrix = bone_matrix(parents, dim)

    forward = bones.bone_vectors(poses, dim, parents)
    backward = bones.bone_vectors_backward(grad_bones, dim, parents)

    assert forward.dtype == np.float32 and backward.dtype == np.float32
    np.testing.assert_allclose(forward, poses.astype(np.float64) @ matrix.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(backward, grad_bones.astype(np.float64) @ matrix, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("dim", DIMS)
def test_the_skeletons_bone_matrix_is_the_linear_map(dim):
    """pose_formats.skeleton.bone_matrix (which online and the released kernel derive from) against the
    entry-by-entry matrix, in its (z @ B) convention."""
    np.testing.assert_array_equal(skeleton.bone_matrix(dim), bone_matrix(PARENTS, dim).T)
    assert skeleton.parent_entries(dim).shape == (16 * dim,)


def test_named_bones_of_the_skeleton():
    poses = random_poses(3, 16, 3, seed=0, dtype=np.float64)
    b = bones.bone_vectors(poses, 3).reshape(3, 16, 3)
    p = poses.reshape(3, 16, 3)
    assert np.all(b[:, 0] == 0), "the root's bone is 0"
    np.testing.assert_array_equal(b[:, JOINTS.index("RKnee")], p[:, JOINTS.index("RHip")] - p[:, JOINTS.index("RKnee")])
    np.testing.assert_array_equal(b[:, JOINTS.index("Head")], p[:, JOINTS.index("Thorax")] - p[:, JOINTS.index("Head")])


def central_difference(f, x, eps=1e-6):
    """d f / d x for a scalar function f of a float64 array x, entry by entry."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("n", (1, 4))
def test_backward_is_the_gradient_of_the_forward(n, dim):
    poses = random_poses(n, 16, dim, seed=1, dtype=np.float64)
    weights = random_poses(n, 16, dim, seed=2, dtype=np.float64)

    def objective(p):
        return float(np.sum(weights * bones.bone_vectors(p, dim) ** 2))

    analytic = bones.bone_vectors_backward(2 * weights * bones.bone_vectors(poses, dim), dim)
    np.testing.assert_allclose(analytic, central_difference(objective, poses), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("n", SIZES)
def test_skel_vector_loss_matches_loops(n, dim):
    a = random_poses(n, 16, dim, seed=3 + n)
    b = random_poses(n, 16, dim, seed=4 + n)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = 0.0
    for frame in range(n):
        for joint in range(16):
            for coord in range(dim):
                parent = int(PARENTS[joint])
                bone_a = a64[frame, parent * dim + coord] - a64[frame, joint * dim + coord]
                bone_b = b64[frame, parent * dim + coord] - b64[frame, joint * dim + coord]
                expected += (bone_a - bone_b) ** 2
    expected /= 2 * n

    loss, grad_a = bones.skel_vector_loss(a, b, dim)

    assert isinstance(loss, float) and grad_a.dtype == np.float32 and grad_a.shape == a.shape
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("dim", DIMS)
def test_skel_vector_loss_gradient_matches_finite_differences(dim):
    a = random_poses(3, 16, dim, seed=5, dtype=np.float64)
    b = random_poses(3, 16, dim, seed=6, dtype=np.float64)

    _, grad_a = bones.skel_vector_loss(a, b, dim)

    np.testing.assert_allclose(grad_a, central_difference(lambda x: bones.skel_vector_loss(x, b, dim)[0], a),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(-grad_a, central_difference(lambda x: bones.skel_vector_loss(a, x, dim)[0], b),
                               rtol=1e-6, atol=1e-8)


def test_true_gradient_differs_from_the_released_pass_through():
    """The released layer returned (a - b) / N; the chain rule through the parent map does not."""
    a = random_poses(2, 16, 3, seed=7, dtype=np.float64)
    b = random_poses(2, 16, 3, seed=8, dtype=np.float64)
    _, grad_a = bones.skel_vector_loss(a, b, 3)
    assert not np.allclose(grad_a, (a - b) / 2)


@pytest.mark.parametrize("call", (
    lambda: bones.bone_vectors(np.zeros((5, 47), np.float32), 3),
    lambda: bones.bone_vectors(np.zeros((5, 48), np.float32), 4),
    lambda: bones.bone_vectors(np.zeros(48, np.float32), 3),
    lambda: bones.bone_vectors_backward(np.zeros((5, 48), np.float32), 3, parents=[0, 0, 16] + [0] * 13),
    lambda: bones.skel_vector_loss(np.zeros((5, 48), np.float32), np.zeros((4, 48), np.float32), 3),
    lambda: bones.skel_vector_loss(np.zeros((0, 32), np.float32), np.zeros((0, 32), np.float32), 2),
), ids=("width", "dim", "rank", "parent-range", "mismatched", "empty-loss"))
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()
