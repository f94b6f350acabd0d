"""InvertedOrder and SkelVectorLoss inside real Caffe nets: values and finite-difference gradients."""
import numpy as np
import pytest

caffe = pytest.importorskip("caffe")

from caffe_nets import check_gradient_by_finite_differences, input_layer, make_net, python_layer  # noqa: E402
from pose_formats.skeleton import PARENTS  # noqa: E402


@pytest.mark.parametrize("shape", [(5, 2, 7), (8, 48), (1, 3), (7, 1, 4, 3)])
def test_inverted_order_forward_and_gradient(tmp_path, shape, caffe_mode):
    rng = np.random.default_rng(len(shape))
    # Reversed x against a fixed target through EuclideanLoss: a smooth scalar of the layer's output.
    net = make_net(tmp_path, input_layer("x", shape) + input_layer("target", shape)
                   + python_layer("rev", "caffe_layers.order", "InvertedOrder", ["x"], ["y"])
                   + 'layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "target" top: "loss" }\n')
    x = rng.normal(size=shape).astype(np.float32)
    net.blobs["x"].data[...] = x
    net.blobs["target"].data[...] = rng.normal(size=shape)
    net.forward()
    np.testing.assert_array_equal(net.blobs["y"].data, x[::-1])
    check_gradient_by_finite_differences(net, {"x": x}, "loss", rng)


def _bones_loop(p, dim):
    """Independent float64 bone vectors: explicit loops over frames and joints."""
    n = p.shape[0]
    joints = p.reshape(n, 16, dim).astype(np.float64)
    bones = np.zeros_like(joints)
    for f in range(n):
        for j in range(16):
            bones[f, j] = joints[f, PARENTS[j]] - joints[f, j]
    return bones


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("n", [1, 5, 8])
def test_skel_vector_loss_value_and_true_gradient(tmp_path, dim, n, caffe_mode):
    rng = np.random.default_rng(10 * dim + n)
    width = 16 * dim
    net = make_net(tmp_path, input_layer("a", (n, width)) + input_layer("b", (n, width))
                   + python_layer("skel", "caffe_layers.skel_loss", "SkelVectorLoss", ["a", "b"], ["loss"],
                                  param_str=f"dim: {dim}", extra="loss_weight: 1"))
    a = rng.normal(size=(n, width)).astype(np.float32)
    b = rng.normal(size=(n, width)).astype(np.float32)
    net.blobs["a"].data[...] = a
    net.blobs["b"].data[...] = b
    out = net.forward()["loss"]
    assert out.shape == ()                         # a scalar top, as Caffe's own loss layers give
    loss = float(out)                              # (NumPy 2 refuses float() of a (1,) array)
    expected = np.sum((_bones_loop(a, dim) - _bones_loop(b, dim)) ** 2) / (2 * n)
    assert loss == pytest.approx(expected, rel=1e-5)
    check_gradient_by_finite_differences(net, {"a": a, "b": b}, "loss", rng)

    # The released layer passed (a - b) / N back; the true gradient differs from it.
    net.backward()
    assert not np.allclose(net.blobs["a"].diff, (a - b) / n, atol=1e-3)


def test_skel_vector_loss_rejects_bad_params_and_shapes(tmp_path):
    text = input_layer("a", (2, 48)) + input_layer("b", (2, 48))
    with pytest.raises(Exception, match="SkelVectorLoss.*'dim'"):
        make_net(tmp_path, text + python_layer("s", "caffe_layers.skel_loss", "SkelVectorLoss", ["a", "b"], ["l"],
                                               param_str="dim: 4"))
    with pytest.raises(Exception, match="unknown param 'dims'"):
        make_net(tmp_path, text + python_layer("s", "caffe_layers.skel_loss", "SkelVectorLoss", ["a", "b"], ["l"],
                                               param_str="dims: 3"))
    with pytest.raises(Exception, match="16 joints x 2"):
        make_net(tmp_path, text + python_layer("s", "caffe_layers.skel_loss", "SkelVectorLoss", ["a", "b"], ["l"],
                                               param_str="dim: 2"))
