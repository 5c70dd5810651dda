"""The rate each configuration's theory predicts: mean field, the linear rate at the zero fixed
point, or (for the gated cells with activity) the largest Lyapunov exponent."""

import math

from ..science import meanfield as mf


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


def theory(config, r):
    """(name, predicted rate) for one configuration."""
    cell, g = config["cell"], config["g"]
    if not config["input"] and r.get("at_zero"):
        return "linear", r["log_rho_J0"]
    if config["init"] == "identity":
        return "identity", 0.0
    if cell == "rnn_tanh":
        return "mean-field", mf.tanh_lambda(g, sigma2_in(config))
    if cell == "rnn_relu":
        return "mean-field", mf.relu_lambda(g)
    return "lyapunov", r["lyap1"]
