"""The rates theory predicts, each computed from a setting's parameters alone (never from a
measurement): mean field for the Elman cells, the gated-cell mean field of
studies.science.gated_meanfield (tied and annealed), and the exact rates at the zero fixed point."""

import math
from functools import lru_cache

from ..science import gated_meanfield as gm
from ..science import meanfield as mf
from .configs import GRUS, LSTMS


def sigma2_in(config):
    """Variance the drive adds to each pre-activation: W_ih rows are orthonormal and x_t ~
    N(0, sigma_x^2 I), so (W_ih x_t)_i ~ N(0, sigma_x^2) exactly; the biases are 0."""
    return config["sigma_x"] ** 2 if config["input"] else 0.0


def lstm_zero_rate(g, forget_bias, cifg=False):
    """H -> infinity rate at the LSTM's zero fixed point: J* has the nonzero eigenvalues of
    f I + o i W_g (o = 1/2, i = 1/2 or 1 - f for CIFG), whose rightmost point is f + o i g."""
    f = 1.0 / (1.0 + math.exp(-forget_bias))
    i = 1.0 - f if cifg else 0.5
    return math.log(f + 0.5 * i * g)


def gru_zero_rate(g):
    """H -> infinity rate at the GRU's zero fixed point (both forms): J* = I/2 + W_hn/4."""
    return math.log(0.5 + g / 4.0)


def elman_mean_field(cell, g, s2):
    """Mean-field lambda_max of a random Elman network (H -> infinity)."""
    return mf.tanh_lambda(g, s2) if cell == "rnn_tanh" else mf.relu_lambda(g)


@lru_cache(maxsize=4096)  # the tables and the figures ask for the same values
def gated_mean_field(cell, g, forget_bias, s2, theory="tied"):
    """lambda_1 of the gated cell's mean field ("tied": one W_hh for all steps, the study's
    networks; "annealed": W_hh redrawn every step), docs/gated_meanfield.md."""
    if cell in LSTMS:
        fn = gm.lstm_lambda_tied if theory == "tied" else gm.lstm_lambda
        return fn(g, forget_bias, s2, cell)
    if cell in GRUS:
        fn = gm.gru_lambda_tied if theory == "tied" else gm.gru_lambda
        return fn(g, s2, cell)
    raise ValueError(f"cell: got {cell!r}, expected one of {', '.join(LSTMS + GRUS)}")


def mean_field_zero_state(config):
    """Does mean field put the undriven network at the zero state (q* = 0)? For tanh below g = 1;
    ReLU is never run undriven in the ensembles."""
    return (not config["input"]) and config["cell"] == "rnn_tanh" and config["g"] <= 1.0
