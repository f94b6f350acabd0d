"""tools/init_refine.py: the identity start of the refine branch, checked through real Caffe nets."""
import numpy as np
import pytest

caffe = pytest.importorskip("caffe")
from caffe_nets import input_layer, make_net  # noqa: E402
from tool_modules import load_tool  # noqa: E402

init_refine = load_tool("init_refine")

HIDDEN = 128


def inner_product(name, bottom, n):
    return (f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}" '
            f'inner_product_param {{ num_output: {n} weight_filler {{ type: "xavier" }} }} }}\n')


def refine_net_text(hidden=HIDDEN, fc_out=7):
    """Input x (48) -> change_tmp -> ReLU -> change, plus an unrelated trained layer `fc` (none with
    fc_out None)."""
    ip = inner_product
    return (input_layer("x", (6, 48)) + (ip("fc", "x", fc_out) if fc_out else "") + ip("change_tmp", "x", hidden)
            + 'layer { name: "relu_change_tmp" type: "ReLU" bottom: "change_tmp" top: "change_tmp" }\n'
            + ip("change", "change_tmp", 48))


@pytest.fixture
def trained(tmp_path):
    """A caffemodel saved by Caffe (random fc and refine weights), and the net definition."""
    net = make_net(tmp_path, refine_net_text(), caffe.TEST, name="refine.prototxt")
    path = tmp_path / "trained.caffemodel"
    net.save(str(path))
    return path, tmp_path / "refine.prototxt", net.params["fc"][0].data.copy()


def test_change_starts_equal_to_the_coarse_pose(tmp_path, trained):
    model, prototxt, fc_weights = trained
    out = tmp_path / "init.caffemodel"
    assert init_refine.main([str(model), "--prototxt", str(prototxt), "--out", str(out)]) == 0
    net = caffe.Net(str(prototxt), str(out), caffe.TEST)
    x = np.random.default_rng(3).normal(0.0, 2.0, (6, 48)).astype(np.float32)  # both signs
    net.blobs["x"].data[...] = x
    net.forward()
    np.testing.assert_array_equal(net.blobs["change"].data, x)
    # the other layers are the trained model's, untouched
    np.testing.assert_array_equal(net.params["fc"][0].data, fc_weights)
    # the silent units: a Xavier start in, zero weights out, so they train from the first step
    w0, w00 = net.params["change_tmp"][0].data, net.params["change"][0].data
    assert np.all(w00[:, 96:] == 0) and np.all(np.abs(w0[96:]) <= np.sqrt(3.0 / 48))
    assert np.count_nonzero(w0[96:]) == w0[96:].size


def test_same_seed_same_file(tmp_path, trained):
    model, prototxt, _ = trained
    runs = [tmp_path / f"init{i}.caffemodel" for i in range(3)]
    for path, seed in zip(runs, (1, 1, 2)):
        assert init_refine.main([str(model), "--prototxt", str(prototxt), "--out", str(path), "--seed", str(seed)]) == 0
    assert runs[0].read_bytes() == runs[1].read_bytes() != runs[2].read_bytes()


@pytest.mark.parametrize("text, message", [
    (refine_net_text(hidden=64), "change_tmp has num_output 64"),
    (input_layer("x", (6, 48)), "no InnerProduct layer change_tmp, change"),
    ("layer { name: ", "not a readable net definition"),
])
def test_bad_prototxt_names_the_file(tmp_path, trained, capsys, text, message):
    model, _, _ = trained
    bad = tmp_path / "bad.prototxt"
    bad.write_text(text)
    out = tmp_path / "init.caffemodel"
    assert init_refine.main([str(model), "--prototxt", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and message in err
    assert not out.exists()


def test_bad_caffemodel_names_the_file(tmp_path, trained, capsys):
    _, prototxt, _ = trained
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\xff" * 64)
    out = tmp_path / "init.caffemodel"
    assert init_refine.main([str(bad), "--prototxt", str(prototxt), "--out", str(out)]) == 2
    assert f"{bad}: not a readable caffemodel" in capsys.readouterr().err
    assert not out.exists()


def projector_net_text():
    """The refine net plus the projector layers init_refine carries over with --projector."""
    ip = inner_product
    return (refine_net_text() + ip("project_1", "change", 16) + ip("project_2", "project_1", 16)
            + ip("project_3", "project_2", 16) + ip("project_2d", "project_3", 32))


def test_projector_comes_from_the_projector_model(tmp_path, trained):
    """--projector: project_* from the projector stage's model, every other layer from the trained one;
    --refine fillers leaves the refine branch as the trained model has it (bilstm's has none: addsrr's fillers)."""
    model, _, fc_weights = trained
    trained_change = caffe.Net(str(trained[1]), str(model), caffe.TEST).params["change"][0].data.copy()
    addsrr = make_net(tmp_path, projector_net_text(), caffe.TEST, name="addsrr.prototxt")
    projector = tmp_path / "projector.caffemodel"
    addsrr.save(str(projector))    # its project_* are the fitted ones; its fc and refine layers must not be used
    for refine in ("identity", "fillers"):
        out = tmp_path / f"init_{refine}.caffemodel"
        assert init_refine.main([str(model), "--prototxt", str(tmp_path / "addsrr.prototxt"), "--out", str(out),
                                 "--projector", str(projector), "--refine", refine]) == 0
        net = caffe.Net(str(tmp_path / "addsrr.prototxt"), str(out), caffe.TEST)
        for name in init_refine.PROJECTOR_LAYERS:
            for got, expected in zip(net.params[name], addsrr.params[name]):
                np.testing.assert_array_equal(got.data, expected.data)
        np.testing.assert_array_equal(net.params["fc"][0].data, fc_weights)
        identity = np.count_nonzero(net.params["change"][0].data[:, 96:]) == 0
        assert identity == (refine == "identity")
        assert np.array_equal(net.params["change"][0].data, trained_change) == (refine == "fillers")


def test_projector_model_without_the_projector_is_refused(tmp_path, trained, capsys):
    model, prototxt, _ = trained
    make_net(tmp_path, projector_net_text(), caffe.TEST, name="addsrr.prototxt")
    out = tmp_path / "init.caffemodel"
    assert init_refine.main([str(model), "--prototxt", str(tmp_path / "addsrr.prototxt"), "--out", str(out),
                             "--projector", str(model)]) == 2
    err = capsys.readouterr().err
    assert f"{model}: no layer(s) project_1, project_2, project_3, project_2d" in err
    assert not out.exists()


def test_refine_branch_comes_from_the_refine_model(tmp_path, trained):
    """--refine-model (fitted_refine): change_tmp and change from the refine stage's model, the projector
    from the projector stage's, every other layer from the trained one."""
    model, _, fc_weights = trained
    addsrr = make_net(tmp_path, projector_net_text(), caffe.TEST, name="addsrr.prototxt")
    fitted = tmp_path / "fitted.caffemodel"
    addsrr.save(str(fitted))    # its refine and projector layers stand for the two fitted stages' models
    out = tmp_path / "init.caffemodel"
    assert init_refine.main([str(model), "--prototxt", str(tmp_path / "addsrr.prototxt"), "--out", str(out),
                             "--refine-model", str(fitted), "--projector", str(fitted)]) == 0
    net = caffe.Net(str(tmp_path / "addsrr.prototxt"), str(out), caffe.TEST)
    for name in init_refine.REFINE_LAYERS + init_refine.PROJECTOR_LAYERS:
        for got, expected in zip(net.params[name], addsrr.params[name]):
            np.testing.assert_array_equal(got.data, expected.data)
    np.testing.assert_array_equal(net.params["fc"][0].data, fc_weights)


def test_refine_model_without_the_refine_branch_is_refused(tmp_path, capsys):
    prototxt = tmp_path / "refine.prototxt"
    prototxt.write_text(refine_net_text())
    other = make_net(tmp_path, input_layer("x", (6, 48)) + inner_product("fc", "x", 7), caffe.TEST, name="fc.prototxt")
    model = tmp_path / "fc.caffemodel"
    other.save(str(model))
    out = tmp_path / "init.caffemodel"
    assert init_refine.main([str(model), "--prototxt", str(prototxt), "--out", str(out),
                             "--refine-model", str(model)]) == 2
    assert f"{model}: no layer(s) change_tmp, change (--refine-model takes the refine stage's model)" in \
        capsys.readouterr().err
    assert not out.exists()


def test_without_a_model_only_the_identity_branch_is_written(tmp_path, capsys):
    """The refine stage's start: a model of change_tmp and change alone, the identity map."""
    prototxt = tmp_path / "refine.prototxt"
    prototxt.write_text(refine_net_text(fc_out=None))
    out = tmp_path / "init.caffemodel"
    assert init_refine.main(["--prototxt", str(prototxt), "--out", str(out)]) == 0
    net = caffe.Net(str(prototxt), str(out), caffe.TEST)
    x = np.random.default_rng(4).normal(0.0, 2.0, (6, 48)).astype(np.float32)
    net.blobs["x"].data[...] = x
    net.forward()
    np.testing.assert_array_equal(net.blobs["change"].data, x)
    assert {layer.name for layer in init_refine.read_layer_model(str(out)).layer} == set(init_refine.REFINE_LAYERS)
    # what goes into a trained model needs one
    again = tmp_path / "again.caffemodel"
    assert init_refine.main(["--prototxt", str(prototxt), "--out", str(again), "--projector", str(out)]) == 2
    assert "without a trained model only the identity refine branch is written" in capsys.readouterr().err
    assert not again.exists()
