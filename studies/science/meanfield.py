"""Mean-field theory of random Elman networks (Molgedey, Schuchhardt & Schuster 1992;
Poole et al. 2016; Pennington, Schoenholz & Ganguli 2017), with Gaussian expectations by
Gauss–Hermite quadrature.

Setting: a_t = W h_{t-1} + u_t, h_t = phi(a_t), W_ij ~ N(0, g^2/H) (or g times a Haar
orthogonal matrix), u_t i.i.d. over units and steps with variance sigma2_in (input drive
plus bias). For H -> infinity the pre-activations are Gaussian with variance q_t, and

    q_{t+1} = g^2 E_z[phi(sqrt(q_t) z)^2] + sigma2_in,          z ~ N(0, 1),

whose stable fixed point is q*. A tangent vector v picks up ||D_t W v||^2 / ||v||^2 -> chi
per step, chi = g^2 E_z[phi'(sqrt(q*) z)^2], so the largest Lyapunov exponent (and the
per-step rate of log||dL/dh_t|| in the distance, which is the same number) is
lambda_max = (1/2) ln chi. chi = 1 is the edge of chaos.
"""

import math
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq
from scipy.special import roots_hermitenorm

# sech^4(sqrt(q) z) has poles at z = i pi / (2 sqrt(q)): the larger q, the more nodes a
# Gauss–Hermite rule needs. 2001 nodes reach 1e-10 relative error up to q = 16 (checked
# against adaptive quadrature in the tests); the studies' q* stay below 12.
GH_NODES = 2001


@lru_cache(maxsize=4)
def gauss_hermite(n=GH_NODES):
    """Nodes and weights with sum(w * f(z)) ~= E[f(z)], z ~ N(0, 1)."""
    z, w = roots_hermitenorm(n)
    return z, w / w.sum()


def gaussian_mean(f, q, n=GH_NODES):
    """E[f(sqrt(q) z)] for z ~ N(0, 1)."""
    z, w = gauss_hermite(n)
    return float(np.sum(w * f(math.sqrt(max(q, 0.0)) * z)))


def sech2(x):
    # 4 e^{-2|x|} / (1 + e^{-2|x|})^2: no overflow however large |x|.
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def tanh_q_map(q, g, sigma2_in):
    return g * g * gaussian_mean(lambda a: np.tanh(a) ** 2, q) + sigma2_in


def tanh_fixed_point(g, sigma2_in=0.0):
    """q*: the stable fixed point of the pre-activation variance map (0 in the ordered,
    undriven phase g <= 1, sigma2_in = 0)."""
    if sigma2_in <= 0.0 and g <= 1.0:
        return 0.0
    hi = g * g + sigma2_in  # E[tanh^2] < 1 bounds the map from above
    return brentq(lambda q: tanh_q_map(q, g, sigma2_in) - q, 1e-300 if sigma2_in <= 0 else 0.0, hi,
                  xtol=1e-15, rtol=1e-14)


def tanh_chi(g, sigma2_in=0.0):
    """chi = g^2 E[sech^4(sqrt(q*) z)]: mean squared gain of a tangent vector per step."""
    q = tanh_fixed_point(g, sigma2_in)
    return g * g * gaussian_mean(lambda a: sech2(a) ** 2, q)


def tanh_lambda(g, sigma2_in=0.0):
    """Mean-field lambda_max = (1/2) ln chi (per step, natural log)."""
    return 0.5 * math.log(tanh_chi(g, sigma2_in))


def tanh_edge(sigma2_in=0.0):
    """The g at which chi = 1 (the edge of chaos)."""
    if sigma2_in <= 0.0:
        return 1.0
    return brentq(lambda g: tanh_chi(g, sigma2_in) - 1.0, 1.0, 20.0, xtol=1e-12)


def relu_fixed_point(g, sigma2_in=0.0):
    """ReLU: E[relu(sqrt(q) z)^2] = q / 2, so q* = sigma2_in / (1 - g^2/2) for g < sqrt(2)
    (inf above: the activity grows without bound)."""
    return sigma2_in / (1.0 - g * g / 2.0) if g * g < 2.0 else math.inf


def relu_lambda(g):
    """ReLU: phi' is 1 on half the units whatever q is, so chi = g^2 / 2 and
    lambda_max = ln(g / sqrt(2)), driven or not."""
    return math.log(g / math.sqrt(2.0))
