"""Lyapunov spectra: every exponent of random tanh, LSTM and GRU networks, against H, g and input drive.

``python -m bpttlab.studies.lyapunov [--quick]``. Modules: configs (what is run), compute (one
network), spectra (tangent dynamics, QR, KY dimension, entropy rate), theory (predictions), tables,
figures and report, study (the Study object).
"""

from .compute import compute, make_network
from .configs import CELLS, SIZES, configs
from .spectra import entropy_rate, ky_dimension, tangent_logs
from .study import STUDY

__all__ = ["CELLS", "SIZES", "STUDY", "compute", "configs", "entropy_rate", "ky_dimension", "make_network",
           "tangent_logs"]
