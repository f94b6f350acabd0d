"""Online self-supervised correction (SPEC section 9) and evaluation helpers. Never imports pycaffe."""
from .correction import (MODES, OnlineConfig, OnlineModel, PaperResult, refine, refine_independent,
                         refine_paper, refine_released)
from .weights import KEYS, ProjectorWeights, load_weights, save_weights

__all__ = ["MODES", "OnlineConfig", "OnlineModel", "PaperResult", "refine", "refine_independent",
           "refine_paper", "refine_released", "KEYS", "ProjectorWeights", "load_weights", "save_weights"]
