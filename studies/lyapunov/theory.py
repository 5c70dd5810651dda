"""Predictions computed without the measurement (docs/lyapunov_theory.md derives them), and the
tolerance rule the report holds them to.

- lambda_max of the random tanh network: mean field, (1/2) ln chi (studies.science.meanfield).
- The mean exponent (1/H) sum_i lambda_i of the tanh network. The *identity* sum_i lambda_i =
  <ln|det J_t>>_t, J_t = diag(phi'(a_t)) W, splits it into (1/H) ln|det W| and the time average of
  (1/H) sum_i ln phi'(a_t,i). The *prediction* replaces both by numbers that need no network:
  E ln|det W| at finite H exactly (Bartlett: |det G| of a standard Gaussian H x H matrix is a
  product of independent chi variables with H, H-1, ..., 1 degrees of freedom) and
  E_{a ~ N(0, q*)} ln sech^2(a) with mean field's q*.
- The whole spectrum of the tanh network: the annealed random-matrix approximation (J_t = D_t W_t
  with W_t redrawn every step, independent of D_t, whose squared entries sigma = sech^4(a) have a
  ~ N(0, q*) from mean field), the approximation Engelken, Wolf & Abbott (2023) report to be good for
  discrete-time dynamics. docs/lyapunov_theory.md derives it; its top is mean field's (1/2) ln chi and
  its mean is the exact mean exponent's H -> infinity limit, so it adds the shape in between.
"""

import math
from functools import lru_cache

import numpy as np
from scipy.integrate import quad
from scipy.special import digamma, polygamma

from ..science import gated_meanfield as gmf
from ..science import meanfield as mf
from .spectra import entropy_rate, ky_dimension


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


SIGMA_NODES = 4001  # trapezoid nodes over a in [-12 sqrt(q), 12 sqrt(q)]: the weight is Gaussian, sigma smooth


def _sigma_distribution(q):
    """Nodes sigma = sech^4(a), a ~ N(0, q), and their weights (sum 1): phi'(a)^2 of the tanh units."""
    if q <= 0.0:
        return np.ones(1), np.ones(1)
    s = math.sqrt(q)
    a = np.linspace(-12.0 * s, 12.0 * s, SIGMA_NODES)
    w = np.exp(-0.5 * (a / s) ** 2)
    return mf.sech2(a) ** 2, w / w.sum()


def tanh_spectrum(g, input_variance, x):
    """Annealed random-matrix spectrum lambda(x), x = i/S in [0, 1), of the random tanh network.

    A QR step multiplies an orthonormal (H, k) frame by D W with W Gaussian and fresh: W V is an (H, k)
    Gaussian matrix, and the k-th new direction gains (1/2) ln(g^2 (1/H) tr(D^2 P_perp)), P_perp the
    projector off the k - 1 directions D W V already spans. For H -> infinity (deterministic equivalent)
    (1/H) tr(D^2 P_perp) = E[sigma / (1 + delta sigma)] with delta solving E[delta sigma / (1 + delta sigma)]
    = x, so lambda(x) = (1/2) ln(g^2 E[sigma / (1 + delta(x) sigma)]). With sigma = 1 (no saturation) it is
    ln g + (1/2) ln(1 - x), the spectrum of a product of Gaussian matrices (Newman 1986).
    """
    x = np.asarray(x, dtype=np.float64)
    if np.any((x < 0.0) | (x >= 1.0)):
        raise ValueError(f"x: got values outside [0, 1) (min {x.min()}, max {x.max()}), expected i/S fractions")
    sig, w = _sigma_distribution(mf.tanh_fixed_point(g, input_variance))
    # delta(x) by bisection in ln(delta), all x at once: E[delta sigma / (1 + delta sigma)] rises from 0 to 1.
    lo = np.full(x.shape, -60.0)
    hi = np.full(x.shape, 90.0)
    for _ in range(48):  # the bracket's 150 in ln(delta) halved 48 times: 5e-13
        mid = 0.5 * (lo + hi)
        d = np.exp(mid)[:, None]
        frac = (w * (d * sig / (1.0 + d * sig))).sum(axis=1)
        below = frac < x
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    d = np.where(x > 0.0, np.exp(0.5 * (lo + hi)), 0.0)[:, None]
    return 0.5 * np.log(g * g * (w * sig / (1.0 + d * sig)).sum(axis=1))


@lru_cache(maxsize=64)
def _spectrum_at(g, input_variance, H):
    return tanh_spectrum(g, input_variance, (np.arange(1, H + 1) - 0.5) / H)


def tanh_spectrum_at(g, input_variance, H):
    """The approximation at the S = H exponents of a network, x_i = (i - 1/2) / H (midpoints)."""
    return _spectrum_at(float(g), float(input_variance), _check_h(H)).copy()


def tanh_spectrum_measures(g, input_variance, H):
    """(D_KY / H, entropy rate / H) of the approximate spectrum at size H."""
    lam = _spectrum_at(float(g), float(input_variance), _check_h(H))
    return ky_dimension(lam) / H, entropy_rate(lam) / H
