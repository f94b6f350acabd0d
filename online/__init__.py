"""Online self-supervised correction (SPEC section 9), one module per concept: model (configuration,
weights on the device, loss gradient), rows (the per-row engine), independent, paper and released
(the modes), weights (the converter's files), data and predict (tools/pred_v2.py). Never imports
pycaffe."""
from .independent import refine_independent
from .model import MODES, OnlineConfig, OnlineModel
from .paper import PaperResult, refine_paper
from .released import RELEASED_ENGINES, refine_released
from .weights import KEYS, ProjectorWeights, load_weights, save_weights


def refine(model, mode, x, q, config=OnlineConfig(), range_mm=None, **kwargs):
    """One sequence in any mode: (N, 48) refined poses. Released mode treats x, q as one action."""
    if mode == "released":
        return refine_released(model, [x], [q], config, progress=kwargs.get("progress"))[0]
    if mode == "independent":
        return refine_independent(model, x, q, config, **kwargs)
    if mode == "paper":
        if range_mm is None:
            raise ValueError("paper mode needs range_mm (max − min of the normalisation table)")
        return refine_paper(model, x, q, range_mm, config, **kwargs).refined
    raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")


__all__ = ["MODES", "RELEASED_ENGINES", "OnlineConfig", "OnlineModel", "PaperResult", "refine",
           "refine_independent", "refine_paper", "refine_released", "KEYS", "ProjectorWeights", "load_weights",
           "save_weights"]
