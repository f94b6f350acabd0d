"""Our generated nets train and compute what the released nets did.

Structure: tools/net_facts.py reads each generated train/deploy net and the result is compared with
models/released_net_facts.json, the same facts of the released network files (written by running
that tool on them; the files themselves are not in this repository). The differences we keep on
purpose are listed here and in docs/networks.md.

Function: for random weights in a caffemodel with the released layer names, the paper deploy net's
prediction, `change` and `project_2d` equal an independent float64 NumPy forward of the released
topology from `fc` on (Caffe's LSTM gate order i, f, o, g)."""
import copy
import json
import os

import numpy as np
import pytest

caffe = pytest.importorskip("caffe")
from caffe.proto import caffe_pb2  # noqa: E402
from google.protobuf import text_format  # noqa: E402

from caffe_nets import retarget_data, write_caffemodel  # noqa: E402
from conftest import REPO  # noqa: E402
from tool_modules import load_tool  # noqa: E402

net_facts = load_tool("net_facts")
GT3D_SUFFIX = load_tool("make_prototxt").GT3D_SUFFIX

with open(os.path.join(REPO, "models", "released_net_facts.json")) as _f:
    RELEASED = json.load(_f)["nets"]
with open(os.path.join(REPO, "models", "released_layers.json")) as _f:
    LAYER_SHAPES = {name: shapes for key, group in json.load(_f).items() if key != "about"
                    for name, shapes in group.items()}

NETS = {"cpm": "cpm/train.prototxt", "bilstm": "bilstm/train.prototxt", "addsrr": "addsrr/train.prototxt",
        "mask3d": "mask3d/train.prototxt", "finetune_whole": "finetune_whole/train.prototxt",
        "deploy": "deploy.prototxt"}
BACKBONE = [name for name in LAYER_SHAPES if name.startswith("conv")]


def deliberate(stage):
    """The released facts with the differences we keep on purpose (docs/networks.md, "Differences from the
    released nets") applied."""
    facts = copy.deepcopy(RELEASED[stage])
    if stage == "mask3d":
        # The 2D bone loss sees the H36M frames only: bones to the spine, absent from 2D-only frames.
        for loss in facts["losses"]:
            if loss["kind"] == "SkelVectorLoss" and loss["on"] == ["project_2d"]:
                loss["frames"] = "first"
    return facts


def without_gt3d_projector(net):
    """Our net less the projector's copy on the ground-truth 3D pose (docs/networks.md: the projector_gt3d improvement;
    test_gt3d_projector_shares_the_projector checks it)."""
    kept = [l for l in net.layer if not l.name.endswith(GT3D_SUFFIX)]
    del net.layer[:]
    net.layer.extend(kept)


# The released gradient cuts that our frozen_coarse_* improvements move to the prediction: mask3d's
# above the backbone; finetune_whole has none (it trains every layer).
RELEASED_CUT = {"mask3d": "special_conv_1", "finetune_whole": None}


def with_released_cut(net, stage):
    """The demo's net of `stage` with the released gradient cut instead of the one at the prediction
    (docs/networks.md: the frozen_coarse_mask3d and frozen_coarse_finetune_whole improvements)."""
    for layer in net.layer:
        if layer.name == "pred_3d":
            del layer.propagate_down[:]
        elif layer.name == RELEASED_CUT[stage]:
            layer.propagate_down.append(False)


def without_demo_improvements(stage):
    """What takes a demo net of the stage back to the paper's: out goes the projector's copy, and
    mask3d and finetune_whole get the released gradient cut back."""
    def mutate(net):
        without_gt3d_projector(net)
        if stage in RELEASED_CUT:
            with_released_cut(net, stage)
    return mutate


# What one solver step of a demo stage trains, where its improvements change it: with frozen_coarse_mask3d
# and frozen_coarse_finetune_whole they train what addsrr trains (the refine branch and projector).
DEMO_TRAINED = {stage: set(RELEASED["addsrr"]["trained"]) for stage in RELEASED_CUT}


def our_facts(config, stage, mutate=None):
    folder = "prototxt" if config == "paper" else "prototxt/demo"
    net = net_facts.load(os.path.join(REPO, folder, NETS[stage]))
    if mutate:
        mutate(net)
    return net_facts.facts(net, caffe_pb2.TEST if stage == "deploy" else caffe_pb2.TRAIN)


def differences(ours, released):
    """Readable list of what differs, property by property and layer by layer."""
    out = []
    for key in ("activations", "params", "inputs"):
        for name in sorted(set(ours[key]) | set(released[key])):
            if ours[key].get(name) != released[key].get(name):
                out.append(f"{key} {name}: ours {ours[key].get(name)}, released {released[key].get(name)}")
    for key in ("reached", "trained", "losses"):
        if ours[key] != released[key]:
            out.append(f"{key}: ours {ours[key]}, released {released[key]}")
    return out


@pytest.mark.parametrize("stage", list(NETS))
def test_paper_net_is_the_released_one(stage):
    """The paper configuration applies none of our improvements: nothing is taken out before comparing."""
    assert differences(our_facts("paper", stage), deliberate(stage)) == []


@pytest.mark.parametrize("stage", list(NETS))
def test_demo_net_is_the_released_one_less_its_improvements(stage):
    assert differences(our_facts("demo", stage, without_demo_improvements(stage)), deliberate(stage)) == []


@pytest.mark.parametrize("stage", list(RELEASED_CUT))
def test_demo_stage_with_a_frozen_coarse_pose_trains_what_addsrr_trains(stage):
    """frozen_coarse_mask3d / frozen_coarse_finetune_whole: the demo's stage stops the gradient at the
    prediction, as addsrr does, so its losses reach the refine branch and projector only; the paper's
    reaches above the backbone (mask3d) or every layer (finetune_whole), as released."""
    demo = our_facts("demo", stage, without_gt3d_projector)
    assert set(demo["trained"]) == DEMO_TRAINED[stage]
    assert set(our_facts("paper", stage)["trained"]) == set(RELEASED[stage]["trained"]) > DEMO_TRAINED[stage]


@pytest.mark.parametrize("stage", ["addsrr", "mask3d", "finetune_whole"])
def test_gt3d_projector_shares_the_projector(stage):
    """The demo's copy (improvement projector_gt3d) reads the ground-truth 3D pose, names the same
    parameter blobs as the projector (so Caffe trains one set), and its loss against the ground-truth
    2D reaches nothing else."""
    net = net_facts.load(os.path.join(REPO, "prototxt", "demo", NETS[stage]))
    layers = {l.name: l for l in net.layer}
    for name in ("project_1", "project_2", "project_3", "project_2d"):
        ours, copy_ = layers[name], layers[name + GT3D_SUFFIX]
        assert [p.name for p in ours.param] == [p.name for p in copy_.param] == [f"{name}_w", f"{name}_b"]
        assert [(p.lr_mult, p.decay_mult) for p in ours.param] == [(p.lr_mult, p.decay_mult) for p in copy_.param]
    assert list(layers["project_1" + GT3D_SUFFIX].bottom) == ["h36m_label_3d"]
    assert list(layers["loss_project" + GT3D_SUFFIX].bottom) == ["project_2d" + GT3D_SUFFIX, "h36m_label_2d"]
    facts = net_facts.facts(net, caffe_pb2.TRAIN)
    [loss] = [x for x in facts["losses"] if x["on"] == ["project_2d" + GT3D_SUFFIX]]
    assert set(loss["reaches"]) == {n + GT3D_SUFFIX for n in ("project_1", "project_2", "project_3", "project_2d")}


def _add_relu_after_fc(net):
    layer = net.layer.add()
    layer.CopyFrom(caffe_pb2.LayerParameter(name="relu_fc", type="ReLU", bottom=["fc"], top=["fc"]))
    fc = [l.name for l in net.layer].index("fc")
    net.layer.insert(fc + 1, layer)
    del net.layer[-1]


def _change_lr_mult(net):
    next(l for l in net.layer if l.name == "project_2d").param[0].lr_mult = 1


def _drop_gradient_cut(net):
    for layer in net.layer:
        del layer.propagate_down[:]


@pytest.mark.parametrize("mutate, stage, property", [
    (_add_relu_after_fc, "bilstm", "activations fc"),
    (_add_relu_after_fc, "deploy", "activations fc"),
    (_change_lr_mult, "addsrr", "params project_2d"),
    (_drop_gradient_cut, "addsrr", "trained"),
    (_drop_gradient_cut, "mask3d", "trained"),
])
def test_the_comparison_catches_a_reintroduced_difference(mutate, stage, property):
    found = differences(our_facts("paper", stage, mutate), deliberate(stage))
    assert any(line.startswith(property) for line in found), found


def test_the_released_table_says_what_the_released_stages_train():
    """A few facts the whole issue rests on, stated independently of the tool that wrote the table."""
    trained = {stage: set(RELEASED[stage]["trained"]) for stage in NETS if stage != "deploy"}
    refine = {"change_tmp", "change", "project_1", "project_2", "project_3", "project_2d"}
    assert trained["addsrr"] == refine
    assert trained["mask3d"] == set(LAYER_SHAPES) - set(BACKBONE) - {"fc-final"}
    assert trained["finetune_whole"] == set(LAYER_SHAPES) - {"fc-final"}
    assert RELEASED["deploy"]["activations"]["fc"] == []
    assert RELEASED["addsrr"]["params"]["project_2d"] == [[5.0, 1.0], [5.0, 0.0]]


@pytest.mark.parametrize("stage", [stage for stage in NETS if stage != "deploy"])
def test_one_solver_step_changes_exactly_the_released_trained_layers(stage, tiny_dataset, tmp_path):
    """The facts above, as real Caffe sees them: one Adam step of the demo stage moves every layer the
    released stage trained (Adam moves any weight with a non-zero gradient) and no other."""
    net = retarget_data(os.path.join(REPO, "prototxt", "demo", stage, "train.prototxt"), tiny_dataset,
                        tmp_path / "train.prototxt")
    solver_text = open(os.path.join(REPO, "prototxt", "demo", stage, "solver.prototxt")).read()
    # Caffe checks at set-up that it could write a snapshot under the prefix.
    replaced = {"net:": f'net: "{net}"', "snapshot_prefix:": f'snapshot_prefix: "{tmp_path}/{stage}"'}
    solver_text = "\n".join(next((v for k, v in replaced.items() if line.startswith(k)), line)
                            for line in solver_text.splitlines())
    (tmp_path / "solver.prototxt").write_text(solver_text + "\n")
    solver = caffe.get_solver(str(tmp_path / "solver.prototxt"))
    before = {name: [p.data.copy() for p in params] for name, params in solver.net.params.items()}
    solver.step(1)
    changed = {name for name, params in solver.net.params.items()
               if any(not np.array_equal(p.data, old) for p, old in zip(params, before[name]))}
    # the projector's copy on the ground-truth 3D pose shares its blobs, so it moves with it
    copies = {name for name in changed if name.endswith(GT3D_SUFFIX)}
    assert {name[:-len(GT3D_SUFFIX)] for name in copies} <= changed
    assert bool(copies) == (stage in ("addsrr", "mask3d", "finetune_whole"))
    assert changed - copies == DEMO_TRAINED.get(stage, set(deliberate(stage)["trained"]))


# Our own stages (fitted_projector, fitted_refine) and the addsrr layers each fits for addsrr's start.
OWN_STAGE_LAYERS = {"projector": {"project_1", "project_2", "project_3", "project_2d"},
                    "refine": {"change_tmp", "change"}}


@pytest.mark.parametrize("stage", list(OWN_STAGE_LAYERS))
def test_own_stage_trains_only_the_addsrr_layers_it_fits(stage):
    """Every loss of the demo's projector / refine stage reaches exactly the layers it hands to addsrr,
    and those have addsrr's names and widths, so tools/init_refine.py carries them over."""
    own = net_facts.load(os.path.join(REPO, "prototxt", "demo", stage, "train.prototxt"))
    assert set(net_facts.facts(own)["trained"]) == OWN_STAGE_LAYERS[stage]
    addsrr = net_facts.load(os.path.join(REPO, "prototxt", "demo", "addsrr", "train.prototxt"))
    for name in OWN_STAGE_LAYERS[stage]:
        ours, theirs = (next(l for l in net.layer if l.name == name) for net in (own, addsrr))
        assert ours.inner_product_param.num_output == theirs.inner_product_param.num_output, name


# ---- the 3D head, computed independently ------------------------------------------------------

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lstm(x, cont, w_xc, b_c, w_hc):
    """Caffe's LSTM on one stream: gates in the order input, forget, output, candidate; cont = 0
    starts a sequence (the previous h and c are dropped)."""
    hidden = w_hc.shape[1]
    h, c, out = np.zeros(hidden), np.zeros(hidden), []
    for t in range(len(x)):
        h, c = cont[t] * h, cont[t] * c
        gates = w_xc @ x[t] + b_c + w_hc @ h
        i, f, o = (_sigmoid(gates[k * hidden:(k + 1) * hidden]) for k in range(3))
        g = np.tanh(gates[3 * hidden:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


def _released_head(features, cont, w):
    """fc -> lstm1 -> lstm2 on the reversed frames -> fc-final_16 -> back in order -> change_tmp/ReLU
    -> change -> project_1..3 (ReLU each) -> project_1 + project_3 -> project_2d."""
    def ip(name, x):
        return x @ w[name][0].T + w[name][1]

    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    fc = ip("fc", features)
    lstm1 = _lstm(fc, cont, *w["lstm1"])
    lstm2 = _lstm(lstm1[::-1], cont, *w["lstm2"])     # one clip: its markers read the same reversed
    prediction = ip("fc-final_16", lstm2)[::-1]
    change = ip("change", relu(ip("change_tmp", prediction)))
    p1 = relu(ip("project_1", change))
    p3 = relu(ip("project_3", relu(ip("project_2", p1))))
    return prediction, change, ip("project_2d", p1 + p3)


def test_deploy_head_equals_a_numpy_forward_of_the_released_topology(tmp_path):
    rng = np.random.default_rng(7)
    weights = {}
    for name, shapes in LAYER_SHAPES.items():
        if name == "fc-final":                    # the 2D head: not in the deploy net
            continue
        gain = 2.0 if name in BACKBONE else 1.0     # He scaling keeps 15 ReLU convolutions in range
        # Blob 1 is the bias (LSTM: b_c); the others are weights (LSTM: W_xc and W_hc).
        weights[name] = [rng.normal(0, 0.1, shape) if i == 1 else
                         rng.normal(0, np.sqrt(gain / np.prod(shape[1:])), shape) for i, shape in enumerate(shapes)]
    caffemodel = write_caffemodel(tmp_path / "random.caffemodel", weights)
    net = caffe.Net(os.path.join(REPO, "prototxt", "deploy.prototxt"), caffe.TEST, weights=caffemodel)
    clip = np.array([0, 1, 1, 1, 1], np.float32)
    net.blobs["data"].data[...] = rng.uniform(-0.5, 0.5, net.blobs["data"].data.shape)
    net.blobs["clip"].data[...] = clip.reshape(-1, 1)
    net.forward()

    features = net.blobs["fa_conv_2"].data.reshape(len(clip), -1).astype(np.float64)
    assert np.abs(features).max() > 1e-3                # the backbone did not wash the input out
    w64 = {name: [np.asarray(a, np.float32).astype(np.float64) for a in arrays] for name, arrays in weights.items()}
    expected = _released_head(features, clip, w64)
    for blob, want in zip(("pred_3d", "change", "project_2d"), expected):
        got = net.blobs[blob].data.reshape(want.shape)
        assert np.abs(want).max() > 1e-2, blob          # a non-trivial value to compare
        error = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert error <= 1e-5, (blob, error)
