"""Truncated BPTT: bias, cost and learning under truncation.

``python -m bpttlab.studies.tbptt [--quick]``. Modules: configs (what is run and the rules), bias,
cost and learning (one configuration of each part), tables and figures, report (the text, every
number read from the tables), study (the Study object).
"""

from .bias import compute_bias, flat_grad
from .configs import SEEDS, TRAIN, configs, sizes
from .cost import compute_cost, streaming_update
from .learning import compute_learn, learn_config
from .study import STUDY, compute

__all__ = ["SEEDS", "STUDY", "TRAIN", "compute", "compute_bias", "compute_cost", "compute_learn", "configs",
           "flat_grad", "learn_config", "sizes", "streaming_update"]
