"""Predictions computed without the measurement (docs/lyapunov_theory.md derives them), and the
tolerance rule the report holds them to.

- lambda_max of the random tanh network: mean field, (1/2) ln chi (studies.science.meanfield).
- The mean exponent (1/H) sum_i lambda_i of the tanh network. The *identity* sum_i lambda_i =
  <ln|det J_t>>_t, J_t = diag(phi'(a_t)) W, splits it into (1/H) ln|det W| and the time average of
  (1/H) sum_i ln phi'(a_t,i). The *prediction* replaces both by numbers that need no network:
  E ln|det W| at finite H exactly (Bartlett: |det G| of a standard Gaussian H x H matrix is a
  product of independent chi variables with H, H-1, ..., 1 degrees of freedom) and
  E_{a ~ N(0, q*)} ln sech^2(a) with mean field's q*.
"""

import math

import numpy as np
from scipy.integrate import quad
from scipy.special import digamma, polygamma

from ..science import gated_meanfield as gmf
from ..science import meanfield as mf


def _check_h(H):
    if isinstance(H, bool) or not isinstance(H, (int, np.integer)) or H < 1:
        raise ValueError(f"H: got {H!r}, expected a positive integer (the matrix size)")
    return int(H)


def logdet_gaussian_mean(H, g=1.0):
    """E ln|det W| for W (H, H) with i.i.d. N(0, g^2/H) entries, exact at finite H:
    H ln g - (H/2) ln H + (1/2) sum_{k=1}^{H} [digamma(k/2) + ln 2]."""
    H = _check_h(H)
    k = np.arange(1, H + 1)
    return float(H * math.log(g) - 0.5 * H * math.log(H) + 0.5 * np.sum(digamma(k / 2.0) + math.log(2.0)))


def logdet_gaussian_var(H):
    """Var ln|det W| (independent of g): (1/4) sum_{k=1}^{H} trigamma(k/2)."""
    H = _check_h(H)
    k = np.arange(1, H + 1)
    return float(0.25 * np.sum(polygamma(1, k / 2.0)))


def mean_log_sech2(q):
    """E ln sech^2(a), a ~ N(0, q): ln 4 - 2 E|a| - 2 E ln(1 + e^{-2|a|}), E|a| = sqrt(2q/pi); the last
    term by adaptive quadrature on a >= 0 (the integrand has a kink at 0, which Gauss–Hermite handles badly)."""
    if q <= 0.0:
        return 0.0
    s = math.sqrt(q)
    tail, _ = quad(lambda a: math.exp(-0.5 * (a / s) ** 2) * math.log1p(math.exp(-2.0 * a)), 0.0, math.inf,
                   epsabs=1e-13, epsrel=1e-12, limit=200)
    e_log1p = 2.0 * tail / (s * math.sqrt(2.0 * math.pi))
    return math.log(4.0) - 2.0 * math.sqrt(2.0 * q / math.pi) - 2.0 * e_log1p


def tanh_mean_exponent(g, input_variance, H):
    """Predicted (1/H) sum_i lambda_i of the random tanh network at size H (mean field for the phi' part)."""
    q = mf.tanh_fixed_point(g, input_variance)
    return logdet_gaussian_mean(H, g) / H + mean_log_sech2(q)


def tanh_mean_exponent_limit(g, input_variance):
    """The H -> infinity limit: ln g - 1/2 + E ln sech^2(a)."""
    return math.log(g) - 0.5 + mean_log_sech2(mf.tanh_fixed_point(g, input_variance))


def lambda_max_prediction(cell, g, input_variance):
    """Mean-field lambda_max: (1/2) ln chi for rnn_tanh; for the gated cells the *tied* mean-field rate of
    studies.science.gated_meanfield (forget-gate bias 0), NaN where that theory has no value."""
    try:
        if cell == "rnn_tanh":
            return mf.tanh_lambda(g, input_variance)
        if cell == "lstm":
            return gmf.lstm_lambda_tied(g, 0.0, input_variance)
        if cell == "gru":
            return gmf.gru_lambda_tied(g, input_variance)
    except (ValueError, RuntimeError, ArithmeticError):
        return math.nan
    raise ValueError(f"cell: got {cell!r}, expected rnn_tanh, lstm or gru")
