"""Where a resumed `caffe train -snapshot` starts. Caffe restores the weights and the solver's history
but not a Python layer's own draws, so tools/train.sh sets HPM_START_ITERATION to the snapshot's
iteration: the training-phase layers that draw (data order, joint masks) continue their sequences
there, one draw per iteration, and a resumed run sees what an uninterrupted one would have."""
import os

import caffe

ENV = "HPM_START_ITERATION"


def start_iteration(layer):
    """Iterations already done when `layer` (a caffe.Layer) starts: HPM_START_ITERATION in the TRAIN
    phase, else 0 (a test net starts its lists from the top)."""
    value = os.environ.get(ENV, "")
    if layer.phase != caffe.TRAIN or value == "":
        return 0
    if not value.isdigit():
        raise ValueError(f"layer {type(layer).__name__}: environment {ENV}={value!r} is not an iteration count")
    return int(value)
