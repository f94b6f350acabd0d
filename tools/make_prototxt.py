#!/usr/bin/env python3
"""Writes every network and solver under prototxt/ from one definition (pycaffe NetSpec), for the
paper's 368x368 configuration (prototxt/<stage>/) and the reduced CPU demo (prototxt/demo/<stage>/):
same topology and released layer names, smaller images and channel widths.

Stages, as released: cpm (2D pose), bilstm (2D-to-3D), addsrr (3D-to-2D), mask3d, finetune_whole;
with the fitted_projector and fitted_refine improvements, the projector and refine stages of ours
(fitted before addsrr); plus test templates (3D and 2D, one action at a time, filled by
tools/test_all.sh) and a deploy net.
Paths inside are relative to the repository root, where `caffe train` is run. tests/ check that the
committed files are what this script writes, so edit this script, not the prototxts.
"""
import argparse
import json
import os
import sys

from caffe import layers as L, params as P
import caffe

from caffe_layers.params import format_params
from pose_formats.listfile import (LABEL_DIM_POSE_PAIRS, LIST_COARSE_POSES, LIST_MPII as MPII_LIST,
                                   LIST_TRAIN as TRAIN_LIST)
from pose_formats.skeleton import DIM_3D

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Adam's base rate per stage, the same for the paper and the demo (cpm as the released cpm solver; a
# tenfold rate let the demo's from-scratch cpm collapse to one constant pose: every conv4_7 unit dead).
BASE_LR = {"cpm": 1e-4, "bilstm": 1e-4, "addsrr": 1e-4, "mask3d": 1e-5, "finetune_whole": 1e-5,
           "projector": 1e-3, "refine": 1e-3}
# Improvements of a stage's Adam rate: (name, factor on its base rate, whether it falls linearly to 0).
# A short schedule at the released fixed rate ends wherever the last clips left it (the demo's coarse 3D
# moved by 24 mm between two bilstm snapshots 500 iterations apart); a higher rate that falls to 0 learns
# faster and, given iterations enough, ends settled. finetune_whole moves every weight, the backbone's
# too, on 8-frame batches: at the released rate its 200 demo steps left both poses worse than addsrr's.
RATE_IMPROVEMENTS = {"addsrr": ("falling_addsrr_rate", 1, True), "cpm": ("falling_cpm_rate", 4, True),
                     "bilstm": ("falling_bilstm_rate", 5, True),
                     "finetune_whole": ("low_finetune_whole_rate", 0.1, False)}


def rate_description(stage):
    """What a rate improvement of RATE_IMPROVEMENTS does, in words, with its rates."""
    _, factor, falls = RATE_IMPROVEMENTS[stage]
    base, short = BASE_LR[stage], lambda rate: f"{rate:.0e}".replace("e-0", "e-")
    if not falls:
        return f"{stage}'s Adam rate is {short(base * factor)} instead of the released {short(base)}"
    if factor == 1:
        return f"{stage}'s Adam rate ({short(base)}) falls linearly to 0 (poly, power 1) instead of staying fixed"
    return (f"{stage}'s Adam rate starts at {short(base * factor)} ({factor}x the released, fixed {short(base)}) "
            "and falls linearly to 0 (poly, power 1)")


# Our improvements over the released training, each a named option (off in the paper configuration,
# which is the released nets; docs/networks.md, "Improvements"). make_prototxt applies all but
# identity_refine and the fitted stages' hand-over, which the pipeline (tools/train.sh) applies, reading
# them from the config.json written beside the nets.
IMPROVEMENTS = {
    "projector_gt3d": "the 3D-to-2D stages also train the projector on the ground-truth 3D pose, through a "
                      "weight-sharing copy (project_*_gt3d) with its own Euclidean 2D loss",
    "falling_addsrr_rate": rate_description("addsrr"),
    "identity_refine": "addsrr's refine branch starts as the identity map of the coarse pose "
                       "(tools/init_refine.py) instead of Xavier",
    "falling_cpm_rate": rate_description("cpm"),
    "falling_bilstm_rate": rate_description("bilstm"),
    "low_finetune_whole_rate": rate_description("finetune_whole"),
    "frozen_coarse_mask3d": "mask3d's loss gradient stops at the 3D prediction, as addsrr's does, instead of "
                            "above the backbone: it trains the refine branch and projector, not the coarse pose",
    "frozen_coarse_finetune_whole": "finetune_whole's loss gradient stops at the 3D prediction, as addsrr's "
                                    "does, instead of reaching every layer: it trains the refine branch and "
                                    "projector on at its rate, not the coarse pose",
    "fitted_projector": "addsrr's projector starts fitted to the training frames' ground-truth 3D -> 2D pairs "
                        "(the projector stage, run before addsrr; tools/init_refine.py --projector) instead of "
                        "from its fillers",
    "fitted_refine": "addsrr's refine branch starts fitted to bilstm's coarse 3D poses of a third of the training "
                     "clips -> their ground-truth 3D poses (tools/coarse_poses.py, then the refine stage, run "
                     "before addsrr; tools/init_refine.py --refine-model) instead of from the identity or fillers",
}
# Stages of ours, not in the released schedule: each runs where the improvement of its name is on.
# projector fits project_1..project_2d alone on pose pairs, no image read, in seconds; released, the
# projector starts from random in addsrr and, in the demo's 1,000 clips, ended 4.7 px off on the
# ground-truth 3D pose where a fitted one is 1.4 px off: the online correction follows its gradient.
# refine fits change_tmp -> change alone on bilstm's coarse poses of training frames: addsrr's 5 frames
# a step, less than one pass over the training set, left `change` 1 % below the coarse pose where the
# same branch fitted on 3,000 cached poses for 3,000 steps of 128 is 5 % below.
OWN_STAGES = {"projector": "fitted_projector", "refine": "fitted_refine"}
POSE_PAIR_BATCH = 128   # pose pairs per step of the projector and refine stages

CONFIGS = {
    # The paper's configuration: VGG-19/CPM widths at 368x368, 1024-wide 3D head, the released nets and
    # solvers. Snapshots every 2,000 iterations: a kill loses minutes of GPU time (tools/train.sh resumes).
    "paper": dict(folder="prototxt", side=368, width_div=1, data="data/h36m", models="models/paper",
                  iters=dict(cpm=100000, bilstm=200000, addsrr=100000, finetune_whole=50000, mask3d=50000,
                             projector=20000, refine=20000),
                  snapshot=2000, display=50, solver_mode="GPU", improvements=()),
    # The demo: 96x96 images and a quarter of every width, on the CPU. With no MPII-pretrained CPM its cpm
    # stage learns the 2D backbone from scratch, which bilstm then freezes. Snapshots let a killed
    # `make demo` resume.
    "demo": dict(folder="prototxt/demo", side=96, width_div=4, data="data/synthetic", models="models/demo",
                 iters=dict(cpm=1500, bilstm=5000, addsrr=1000, finetune_whole=200, mask3d=200, projector=3000,
                            refine=3000),
                 snapshot=250, display=50, solver_mode="CPU", improvements=tuple(IMPROVEMENTS)),
}

# Weight / bias lr_mult of each parameter group, per stage, as in the released files (decay_mult: 1 on
# trained weights, 0 on biases and frozen weights). None: Caffe's defaults (1 for every blob).
LR_MULTS = {
    "cpm": dict(backbone=(1, 2), head_2d=(10, 20)),
    "bilstm": dict(backbone=(0, 0), encoder=(1, 2), lstm=None, regressor_3d=(10, 20)),
    "addsrr": dict(backbone=(1, 1), encoder=(1, 2), lstm=None, regressor_3d=(2, 2), change_tmp=(1, 2),
                   change=(2, 2), projector=(1, 2), project_2d=(5, 5)),
    "mask3d": dict(backbone=(1, 1), encoder=(1, 1), lstm=(1, 1), regressor_3d=(1, 1), change_tmp=(1, 1),
                   change=(2, 1), projector=(1, 1), project_2d=(2, 1)),
}
LR_MULTS["projector"] = dict(projector=(1, 2), project_2d=(1, 2))
LR_MULTS["refine"] = dict(change_tmp=(1, 2), change=(1, 2))
LR_MULTS["finetune_whole"] = LR_MULTS["addsrr"]
LR_MULTS["inference"] = LR_MULTS["addsrr"]   # deploy and test nets: as the released deploy.prototxt

# Where a stage stops the loss gradient (the released `propagate_down: 0`): addsrr at the prediction
# (inverted2), so only the refine branch and projector train; mask3d above the backbone.
GRADIENT_CUT = {"addsrr": "prediction", "mask3d": "special_conv_1"}
# frozen_coarse_mask3d and frozen_coarse_finetune_whole: the stage stops it where addsrr does. Released,
# mask3d's 1-clip steps also move the LSTMs, and in the demo they left the coarse pose 1.6 mm worse and
# `change` worse at every rate tried; finetune_whole's whole-net steps left `change` worse than addsrr's.
IMPROVED_GRADIENT_CUT = {"mask3d": ("frozen_coarse_mask3d", GRADIENT_CUT["addsrr"]),
                         "finetune_whole": ("frozen_coarse_finetune_whole", GRADIENT_CUT["addsrr"])}

CLIP = 5          # frames per clip = batch of the LSTM stages
GT3D_SUFFIX = "_gt3d"  # the 3D-to-2D stages' projector copy fed the ground-truth 3D pose
MPII_BATCH = 3    # 2D-only frames added to each clip in the 3D-to-2D stages

# conv name -> (output channels at full width, kernel); pooling after the names in POOL_AFTER.
BACKBONE = [("conv1_1", 64), ("conv1_2", 64), ("conv2_1", 128), ("conv2_2", 128),
            ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256),
            ("conv4_1", 512), ("conv4_2", 512), ("conv4_3_CPM", 256), ("conv4_4_CPM", 256),
            ("conv4_5_CPM", 256), ("conv4_6_CPM", 256), ("conv4_7_CPM", 128)]
POOL_AFTER = {"conv1_2": "pool1_stage1", "conv2_2": "pool2_stage1", "conv3_4": "pool3_stage1"}


def param_specs(mults, share=None):
    """lr/decay multipliers of a weight and bias; `share` names them, so that layers with the same
    `share` use one set of parameters (Caffe shares parameter blobs by name)."""
    if mults is None:
        return None
    weight, bias = mults
    specs = [dict(lr_mult=weight, decay_mult=1 if weight else 0), dict(lr_mult=bias, decay_mult=0)]
    if share:
        for spec, blob in zip(specs, ("w", "b")):
            spec["name"] = f"{share}_{blob}"
    return specs


def python(module, layer, bottoms=(), ntop=1, params=None, **kwargs):
    param_str = format_params(params or {})
    return L.Python(*bottoms, python_param=dict(module=module, layer=layer, param_str=param_str),
                    ntop=ntop, **kwargs)


class Builder:
    """One net of one stage: `stage` picks the lr_mult table and the gradient cut."""

    def __init__(self, config, stage):
        self.c = config
        self.improvements = set(config["improvements"])
        self.stage = stage
        self.mults = dict(LR_MULTS[stage])
        improvement, improved_cut = IMPROVED_GRADIENT_CUT.get(stage, (None, None))
        self.cut = improved_cut if improvement in self.improvements else GRADIENT_CUT.get(stage)
        self.n = caffe.NetSpec()

    def width(self, full):
        return max(full // self.c["width_div"], 8)

    def params(self, group, share=None):
        specs = param_specs(self.mults[group], share)
        return {} if specs is None else dict(param=specs)

    def cut_here(self, name):
        return dict(propagate_down=[False]) if self.cut == name else {}

    def conv(self, name, bottom, out, kernel, group, stride=1, pad=None):
        self.n[name] = L.Convolution(bottom, num_output=out, kernel_size=kernel, stride=stride,
                                     pad=kernel // 2 if pad is None else pad, **self.params(group),
                                     weight_filler=dict(type="msra"), bias_filler=dict(type="constant"),
                                     **self.cut_here(name))
        self.n["relu_" + name] = L.ReLU(self.n[name], in_place=True)
        return self.n[name]

    def fc(self, name, bottom, out, group, axis=1, relu=True, share=None):
        self.n[name] = L.InnerProduct(bottom, num_output=out, axis=axis, **self.params(group, share),
                                      weight_filler=dict(type="xavier"), bias_filler=dict(type="constant"))
        if relu:
            self.n["relu_" + name] = L.ReLU(self.n[name], in_place=True)
        return self.n[name]

    def backbone(self, data):
        """The CPM / VGG-19 2D pose sub-network up to conv4_7_CPM (stride 8)."""
        top = data
        for name, out in BACKBONE:
            top = self.conv(name, top, self.width(out), 3, "backbone")
            if name in POOL_AFTER:
                top = self.n[POOL_AFTER[name]] = L.Pooling(top, pool=P.Pooling.MAX, kernel_size=2, stride=2)
        return top

    def encoder(self, data):
        """Backbone, special convs, fa convs (5x5, stride 2) and fc: one feature vector per frame. fc has
        no activation: it goes straight into lstm1, as released."""
        top = self.backbone(data)
        top = self.conv("special_conv_1", top, self.width(128), 3, "encoder")
        top = self.conv("special_conv_2", top, self.width(128), 3, "encoder")
        top = self.conv("fa_conv_1", top, self.width(128), 5, "encoder", stride=2, pad=1)
        top = self.conv("fa_conv_2", top, self.width(128), 5, "encoder", stride=2, pad=1)
        return self.fc("fc", top, self.width(1024), "encoder", relu=False)

    def transformer(self, features, clip):
        """2D-to-3D transformer: lstm1 forward in time, lstm2 backward, fc-final_16. lstm2 gets markers
        for the reversed frames, so clips stay apart in both directions in any batch."""
        n, hidden = self.n, self.width(1024)
        n.fc_seq = L.Reshape(features, shape=dict(dim=[0, 1, -1]))
        lstm = dict(recurrent_param=dict(num_output=hidden, weight_filler=dict(type="uniform", min=-0.08, max=0.08),
                                         bias_filler=dict(type="constant")), **self.params("lstm"))
        n.lstm1 = L.LSTM(n.fc_seq, clip, **lstm)
        n.lstm1_reversed = python("caffe_layers.order", "InvertedOrder", [n.lstm1])
        n.clip_reversed = python("caffe_layers.order", "ReversedClipMarkers", [clip])
        n.lstm2 = L.LSTM(n.lstm1_reversed, n.clip_reversed, **lstm)
        self.fc("fc-final_16", n.lstm2, 48, "regressor_3d", axis=2, relu=False)
        n.pred_reversed = L.Reshape(n["fc-final_16"], shape=dict(dim=[-1, 48]))
        n.pred_3d = python("caffe_layers.order", "InvertedOrder", [n.pred_reversed], **self.cut_here("prediction"))
        return n.pred_3d

    def refine_and_project(self, pred_3d, masked=False, shared_projector=False):
        """The refine branch on the 3D prediction, then the projector with its residual sum.
        shared_projector: name the projector's parameters, for a copy of it made by `projector`."""
        n = self.n
        source = pred_3d
        if masked:
            n.mask_3d = python("caffe_layers.mask", "Mask", [pred_3d], params=dict(dim=3, prob=0.02, seed=1))
            n.pred_3d_masked = L.Eltwise(pred_3d, n.mask_3d, operation=P.Eltwise.PROD)
            source = n.pred_3d_masked
        return self.projector(self.refine(source), share=shared_projector)

    def refine(self, pose_3d):
        """change_tmp -> ReLU -> change."""
        self.fc("change_tmp", pose_3d, self.width(1024), "change_tmp")
        return self.fc("change", self.n.change_tmp, DIM_3D, "change", relu=False)

    def projector(self, pose_3d, suffix="", share=False):
        """project_1..3 (ReLU each), project_1 + project_3 -> project_2d. Layer names get `suffix`; with
        `share` the parameters are named after the unsuffixed layers, so every copy uses one set."""
        n, hidden = self.n, self.width(1024)
        name = lambda base: dict(name=base + suffix, share=base if share else None)
        p1 = self.fc(bottom=pose_3d, out=hidden, group="projector", **name("project_1"))
        p2 = self.fc(bottom=p1, out=hidden, group="projector", **name("project_2"))
        p3 = self.fc(bottom=p2, out=hidden, group="projector", **name("project_3"))
        n["project_residual" + suffix] = L.Eltwise(p1, p3, operation=P.Eltwise.SUM)
        return self.fc(bottom=n["project_residual" + suffix], out=32, group="project_2d", relu=False,
                       **name("project_2d"))

    def lstm_data(self, source, batch, order, label_dim=81, layer="ImageDataLstm"):
        """order: "clips" (each batch the lines from a random start: whole clips, for the LSTM stages),
        "frames" (the lines shuffled: independent frames, as the released cpm and 2D-only data read
        them) or "list" (in list order, for tests)."""
        side = self.c["side"]
        params = dict(source=f"{self.c['data']}/{source}", root_folder=f"{self.c['data']}/", batch_size=batch,
                      new_height=side, new_width=side, is_shuffle_batch=order == "clips", seed=1)
        if order == "frames":
            params.update(shuffle=True)
        if label_dim != 81:
            params.update(label_dim=label_dim)
        return python("caffe_layers.data", layer, ntop=2, params=params)

    def split_labels(self, label, prefix=""):
        n = self.n
        n[prefix + "label_2d"], n[prefix + "label_3d"], n[prefix + "clip_marker"] = L.Slice(
            label, slice_point=[32, 80], axis=1, ntop=3)
        n[prefix + "clip"] = L.Reshape(n[prefix + "clip_marker"], shape=dict(dim=[-1, 1]))


def without_spine(builder, name, pose_2d):
    """The 2D pose less joint 7 (values 14, 15): the spine is absent from 2D-only data."""
    n = builder.n
    n[name + "_a"], n[name + "_spine"], n[name + "_b"] = L.Slice(pose_2d, slice_point=[14, 16], axis=1, ntop=3)
    n[name + "_spine_silence"] = L.Silence(n[name + "_spine"], ntop=0)
    n[name] = L.Concat(n[name + "_a"], n[name + "_b"], axis=1)
    return n[name]


def head_2d(builder, data):
    """The 2D pose network: the backbone and a regression head fc-final (32) on conv4_7_CPM."""
    return builder.fc("fc-final", builder.backbone(data), 32, "head_2d", relu=False)


def cpm_net(config):
    b = Builder(config, "cpm")
    n = b.n
    n.data, n.label = b.lstm_data(TRAIN_LIST, CLIP, "frames")
    b.split_labels(n.label)
    n.unused_silence = L.Silence(n.clip, n.label_3d, ntop=0)
    n.loss_2d = L.EuclideanLoss(head_2d(b, n.data), n.label_2d)
    return n.to_proto()


def bilstm_net(config):
    b = Builder(config, "bilstm")
    n = b.n
    n.data, n.label = b.lstm_data(TRAIN_LIST, CLIP, "clips")
    b.split_labels(n.label)
    n.label_2d_silence = L.Silence(n.label_2d, ntop=0)
    pred = b.transformer(b.encoder(n.data), n.clip)
    n.loss_3d = L.EuclideanLoss(pred, n.label_3d)
    n.mpjpe = python("caffe_layers.results", "MPJPEEvaluation", [pred, n.label_3d], loss_weight=0)
    return n.to_proto()


def addsrr_net(config, stage="addsrr"):
    """The 3D-to-2D stages (addsrr, mask3d, finetune_whole). H36M clips (5) and MPII frames (3) go
    through the network as one sequence of 8: each MPII frame's clip marker is 0, so the LSTMs treat
    it as a clip of its own."""
    masked = stage == "mask3d"
    b = Builder(config, stage)
    n = b.n
    n.h36m_data, n.h36m_label = b.lstm_data(TRAIN_LIST, CLIP, "clips")
    n.mpii_data, n.mpii_label = b.lstm_data(MPII_LIST, MPII_BATCH, "frames", label_dim=33, layer="ImageData")
    b.split_labels(n.h36m_label, "h36m_")
    n.mpii_label_2d, n.mpii_clip_marker = L.Slice(n.mpii_label, slice_point=[32], axis=1, ntop=2)
    n.mpii_clip = L.Reshape(n.mpii_clip_marker, shape=dict(dim=[-1, 1]))
    n.data = L.Concat(n.h36m_data, n.mpii_data, axis=0)
    n.clip = L.Concat(n.h36m_clip, n.mpii_clip, axis=0)
    n.label_2d = L.Concat(n.h36m_label_2d, n.mpii_label_2d, axis=0)
    pred = b.transformer(b.encoder(n.data), n.clip)
    project_2d = b.refine_and_project(pred, masked=masked, shared_projector="projector_gt3d" in b.improvements)
    if "projector_gt3d" in b.improvements:
        # Released, the projector saw only the nets' own poses and learned to map those to the right 2D
        # rather than to project; the copy on the ground-truth 3D pose teaches it geometry.
        n.loss_project_gt3d = L.EuclideanLoss(b.projector(n.h36m_label_3d, suffix=GT3D_SUFFIX, share=True),
                                              n.h36m_label_2d)
    # 3D losses on the H36M frames only: the MPII frames have no 3D label.
    n.pred_h36m, n.pred_mpii = L.Slice(pred, slice_point=[CLIP], axis=0, ntop=2)
    n.change_h36m, n.change_mpii = L.Slice(n.change, slice_point=[CLIP], axis=0, ntop=2)
    n.mpii_3d_silence = L.Silence(n.pred_mpii, n.change_mpii, ntop=0)
    n.loss_3d = L.EuclideanLoss(n.pred_h36m, n.h36m_label_3d)
    n.loss_change = L.EuclideanLoss(n.change_h36m, n.h36m_label_3d)
    n.skel_loss_3d = python("caffe_layers.skel_loss", "SkelVectorLoss", [n.pred_h36m, n.h36m_label_3d],
                            params=dict(dim=3), loss_weight=1)
    n.skel_loss_change = python("caffe_layers.skel_loss", "SkelVectorLoss", [n.change_h36m, n.h36m_label_3d],
                                params=dict(dim=3), loss_weight=1)
    n.loss_project = L.EuclideanLoss(without_spine(b, "project_2d_nospine", project_2d),
                                     without_spine(b, "label_2d_nospine", n.label_2d))
    if masked:
        # Released: on all 8 frames; ours on the H36M frames, since bones to the spine (absent from the
        # 2D-only frames) would pull their projections towards the masked value.
        n.project_h36m, n.project_mpii = L.Slice(project_2d, slice_point=[CLIP], axis=0, ntop=2)
        n.project_mpii_silence = L.Silence(n.project_mpii, ntop=0)
        n.skel_loss_project = python("caffe_layers.skel_loss", "SkelVectorLoss", [n.project_h36m, n.h36m_label_2d],
                                     params=dict(dim=2), loss_weight=1)
    n.mpjpe = python("caffe_layers.results", "MPJPEEvaluation", [n.pred_h36m, n.h36m_label_3d], loss_weight=0)
    n.mpjpe_change = python("caffe_layers.results", "MPJPEEvaluation", [n.change_h36m, n.h36m_label_3d],
                            loss_weight=0)
    return n.to_proto()


def projector_net(config):
    """The projector alone, fed the ground-truth 3D pose of shuffled training frames, its 2D loss as
    addsrr's (spine left out): the layer names are addsrr's, so tools/init_refine.py carries it over."""
    b = Builder(config, "projector")
    n = b.n
    n.label = python("caffe_layers.data", "ListLabels",
                     params=dict(source=f"{config['data']}/{TRAIN_LIST}", batch_size=POSE_PAIR_BATCH, seed=1))
    b.split_labels(n.label)
    n.unused_silence = L.Silence(n.clip, ntop=0)
    n.loss_project = L.EuclideanLoss(without_spine(b, "project_2d_nospine", b.projector(n.label_3d)),
                                     without_spine(b, "label_2d_nospine", n.label_2d))
    return n.to_proto()


def refine_net(config):
    """The refine branch alone, fed bilstm's coarse 3D poses of training frames (the list
    tools/coarse_poses.py writes into the models folder) in shuffled batches, with addsrr's losses on
    `change`: the layer names are addsrr's, so tools/init_refine.py carries it over."""
    b = Builder(config, "refine")
    n = b.n
    n.label = python("caffe_layers.data", "ListLabels",
                     params=dict(source=f"{config['models']}/{LIST_COARSE_POSES}", batch_size=POSE_PAIR_BATCH,
                                 label_dim=LABEL_DIM_POSE_PAIRS, seed=1))
    n.coarse_3d, n.label_3d, n.clip_marker = L.Slice(n.label, slice_point=[DIM_3D, 2 * DIM_3D], axis=1, ntop=3)
    n.unused_silence = L.Silence(n.clip_marker, ntop=0)
    change = b.refine(n.coarse_3d)
    n.loss_change = L.EuclideanLoss(change, n.label_3d)
    n.skel_loss_change = python("caffe_layers.skel_loss", "SkelVectorLoss", [change, n.label_3d],
                                params=dict(dim=3), loss_weight=1)
    return n.to_proto()


def test_3d_net(config):
    """One action at a time; tools/test_all.sh fills in the list, sample count and result paths."""
    b = Builder(config, "inference")
    n = b.n
    n.data, n.label = b.lstm_data("gt/test/test1.txt", CLIP, "list")
    b.split_labels(n.label)
    n.label_2d_silence = L.Silence(n.label_2d, ntop=0)
    pred = b.transformer(b.encoder(n.data), n.clip)
    b.refine_and_project(pred)
    # (layer name, type, blob, result file): each writes `sample_num` rows of its own CSV.
    writers = [("mpjpe", "MPJPEEvaluation", pred, "unnorm"), ("mpjpe_change", "MPJPEEvaluation", n.change, "change_unnorm"),
               ("save_norm", "SavePath", pred, "norm"), ("save_change_norm", "SavePath", n.change, "change_norm"),
               ("save_project", "SavePath", n.project_2d, "project_2d_norm")]
    for name, layer, blob, kind in writers:
        params = dict(sample_num=CLIP, save_filepath=f"results/result1_{kind}.csv")
        if layer == "MPJPEEvaluation":
            n[name] = python("caffe_layers.results", layer, [blob, n.label_3d], loss_weight=0, params=params)
        else:
            n[name] = python("caffe_layers.results", layer, [blob], ntop=0, params=params)
    return n.to_proto()


def test_2d_net(config):
    b = Builder(config, "cpm")
    n = b.n
    n.data, n.label = b.lstm_data("gt/test/test1.txt", CLIP, "list")
    b.split_labels(n.label)
    n.unused_silence = L.Silence(n.clip, n.label_3d, ntop=0)
    n.loss_2d = L.EuclideanLoss(head_2d(b, n.data), n.label_2d)
    n.save_2d = python("caffe_layers.results", "SavePath", [n["fc-final"]], ntop=0,
                       params=dict(sample_num=CLIP, save_filepath="results/result1_2d_norm.csv"))
    return n.to_proto()


def deploy_net(config):
    side = config["side"]
    b = Builder(config, "inference")
    n = b.n
    n.data = L.Input(shape=dict(dim=[CLIP, 3, side, side]))
    n.clip = L.Input(shape=dict(dim=[CLIP, 1]))
    pred = b.transformer(b.encoder(n.data), n.clip)
    b.refine_and_project(pred)
    return n.to_proto()


# In the released order: each stage trains from the previous one's final snapshot.
STAGES = {
    "cpm": cpm_net,
    "bilstm": bilstm_net,
    "addsrr": addsrr_net,
    "finetune_whole": lambda c: addsrr_net(c, "finetune_whole"),
    "mask3d": lambda c: addsrr_net(c, "mask3d"),
}
NETS = {**STAGES, "projector": projector_net, "refine": refine_net}


def solver(config, stage):
    """Adam as released (beta 0.9/0.999, fixed rate, gradients clipped at 5; other rates with the
    RATE_IMPROVEMENTS); the paper's solvers say GPU as released, the demo's CPU (`caffe train -gpu N`
    overrides either)."""
    improvement, factor, falls = RATE_IMPROVEMENTS.get(stage, (None, 1, False))
    improved = improvement in config["improvements"]
    lr = BASE_LR[stage] * (factor if improved else 1)
    falling = improved and falls or stage in OWN_STAGES
    prefix = f"{config['models']}/{stage}/{stage}"
    policy = ['lr_policy: "poly"', "power: 1"] if falling else ['lr_policy: "fixed"']
    lines = [f'net: "{config["folder"]}/{stage}/train.prototxt"', 'type: "Adam"', f"base_lr: {lr:g}",
             "momentum: 0.9", "momentum2: 0.999", *policy, "clip_gradients: 5",
             f"max_iter: {config['iters'][stage]}", f"display: {config['display']}", "average_loss: 20",
             f"snapshot: {config['snapshot']}", f'snapshot_prefix: "{prefix}"', "random_seed: 1",
             f"solver_mode: {config['solver_mode']}"]
    return "\n".join(lines) + "\n"


def render(name, net):
    net.name = name
    return str(net)


def config_files(config_name, config):
    """{path: text} of one configuration's nets and solvers, under config["folder"]."""
    folder, files = config["folder"], {}
    stages = [*STAGES, *(s for s, improvement in OWN_STAGES.items() if improvement in config["improvements"])]
    for stage in stages:
        files[f"{folder}/{stage}/train.prototxt"] = render(f"{stage}_{config_name}", NETS[stage](config))
        files[f"{folder}/{stage}/solver.prototxt"] = solver(config, stage)
    files[f"{folder}/test/test_3d.prototxt"] = render(f"test_3d_{config_name}", test_3d_net(config))
    files[f"{folder}/test/test_2d.prototxt"] = render(f"test_2d_{config_name}", test_2d_net(config))
    files[f"{folder}/deploy.prototxt"] = render(f"deploy_{config_name}", deploy_net(config))
    return files


def outputs():
    """{path relative to the repo: text} of every committed file."""
    return {path: text for name, config in CONFIGS.items() for path, text in config_files(name, config).items()}


def derived_config(name, out, data=None, models=None, iterations=None, improvements=None, snapshot=None,
                   solver_mode=None):
    """CONFIGS[name] with its nets under `out` and the given overrides (tools/train.sh's work folder)."""
    config = dict(CONFIGS[name], folder=out.rstrip("/"))
    if solver_mode is not None:
        config["solver_mode"] = solver_mode
    if snapshot is not None:
        config["snapshot"] = snapshot
    if data is not None:
        config["data"] = data.rstrip("/")
    if models is not None:
        config["models"] = models.rstrip("/")
    if iterations is not None:
        config["iters"] = {stage: iterations for stage in config["iters"]}
    if improvements is not None:
        unknown = sorted(set(improvements) - set(IMPROVEMENTS))
        if unknown:
            raise ValueError(f"--improvements: unknown {', '.join(unknown)} (known: {', '.join(IMPROVEMENTS)})")
        config["improvements"] = tuple(i for i in IMPROVEMENTS if i in improvements)
    return config


def write_files(files):
    for rel, text in files.items():
        path = os.path.join(REPO, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="improvements (--improvements):\n" + "\n".join(
                                         f"  {k}: {v}" for k, v in IMPROVEMENTS.items()))
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file differs from its definition")
    parser.add_argument("--config", choices=CONFIGS, help="write only this configuration's files, into --out")
    parser.add_argument("--out", help="with --config: the folder for its nets and solvers, and config.json")
    parser.add_argument("--data", help="with --config: the prepared data folder the nets read")
    parser.add_argument("--models", help="with --config: the folder the solvers snapshot into (<models>/<stage>/)")
    parser.add_argument("--iterations", type=int, help="with --config: every stage's max_iter")
    parser.add_argument("--snapshot", type=int, help="with --config: iterations between snapshots")
    parser.add_argument("--solver-mode", choices=("CPU", "GPU"), help="with --config: the solvers' solver_mode")
    parser.add_argument("--improvements", help="with --config: comma-separated improvements to apply, or 'none' "
                                               "(default: the configuration's own)")
    args = parser.parse_args()
    if args.config:
        if not args.out or args.check:
            parser.error("--config needs --out, and does not go with --check")
        if args.iterations is not None and args.iterations < 1 or args.snapshot is not None and args.snapshot < 1:
            parser.error("--iterations and --snapshot must be at least 1")
        improvements = None if args.improvements is None else \
            [] if args.improvements == "none" else [i for i in args.improvements.split(",") if i]
        try:
            config = derived_config(args.config, os.path.relpath(os.path.abspath(args.out), REPO), args.data,
                                    args.models, args.iterations, improvements, args.snapshot, args.solver_mode)
        except ValueError as e:
            parser.error(str(e))
        files = config_files(args.config, config)
        settings = {"config": args.config, **{k: config[k] for k in ("data", "models", "iters", "snapshot", "side")},
                    "improvements": list(config["improvements"])}
        # A folder already made with other settings (tools/train.sh's work folder) is not mixed with these.
        previous_path = os.path.join(config["folder"], "config.json")
        if os.path.exists(previous_path):
            with open(previous_path) as f:
                previous = json.load(f)
            changed = [f"{k} {previous.get(k)} -> {v}" for k, v in settings.items() if previous.get(k) != v]
            if changed:
                print(f"make_prototxt.py: {config['folder']} holds nets made with other settings "
                      f"({'; '.join(changed)}); use another folder or remove it", file=sys.stderr)
                return 1
        files[previous_path] = json.dumps(settings, indent=1) + "\n"
        write_files(files)
        print(f"wrote {len(files)} files under {config['folder']}")
        return 0
    stale = {}
    for rel, text in outputs().items():
        path = os.path.join(REPO, rel)
        current = open(path).read() if os.path.exists(path) else None
        if current != text:
            stale[rel] = text
    if args.check and stale:
        print("out of date (run tools/make_prototxt.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    if not args.check:
        write_files(stale)
    print(f"{len(stale)} file(s) {'differ' if args.check else 'written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
