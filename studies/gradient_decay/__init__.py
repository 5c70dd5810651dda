"""Gradient decay: ||dL/dh_t|| against the distance from the loss, for every cell, against theory.

``python -m bpttlab.studies.gradient_decay [--quick]``. Modules: configs (what is run, tolerances),
compute (one configuration: a network, its lambda_1 alone, an undriven ReLU state, sampled matrices),
theory (predicted rates), tables and figures, text (the report's
prose), report (puts them together), study (the Study object).
"""

from .compute import compute, make_params
from .configs import ELMAN, GRUS, IDENTITY_TOL, LSTMS, RULES, SIZES, configs
from .study import STUDY

__all__ = ["ELMAN", "GRUS", "IDENTITY_TOL", "LSTMS", "RULES", "SIZES", "STUDY", "compute", "configs", "make_params"]
