"""Scalar and carry helpers shared by the CPU kernels (inlined by Numba)."""

import math

import numpy as np

from ._jit import jit


@jit
def sigmoid(x):
    # Both branches avoid exp overflow; NaN falls through the second and stays NaN.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@jit
def step_indices(k, T, reverse):
    """Time index t of processing step k, and the rows of hs holding h_{prev} and h_t.

    hs has T + 1 rows: forward, hs[0] = h0 and hs[t + 1] = h_t; reverse, hs[T] = h0 and
    hs[t] = h_t. Either way the state a step reads and the one it writes are adjacent rows.
    """
    if reverse:
        t = T - 1 - k
        return t, t + 1, t
    return k, k, k + 1


@jit
def sumsq(a):
    s = 0.0
    for b in range(a.shape[0]):
        for j in range(a.shape[1]):
            v = float(a[b, j])
            s += v * v
    return s


@jit
def inject(dh, dc, g, scale, renorm):
    """dh += g, where in renormalized mode the true carry is (dh, dc) * exp(scale).

    Returns the new log-scale. The larger of the two magnitudes becomes the new scale,
    so neither the carry nor g overflows or underflows on the way in.
    """
    if not renorm:
        for b in range(dh.shape[0]):
            for j in range(dh.shape[1]):
                dh[b, j] += g[b, j]
        return scale
    ng = math.sqrt(sumsq(g))
    if not ng > 0.0:
        return scale
    new = max(scale, math.log(ng))
    f_old = math.exp(scale - new)
    f_new = math.exp(-new)
    for b in range(dh.shape[0]):
        for j in range(dh.shape[1]):
            dh[b, j] = dh[b, j] * f_old + g[b, j] * f_new
    for b in range(dc.shape[0]):
        for j in range(dc.shape[1]):
            dc[b, j] *= f_old
    return new


@jit
def renormalize(dh, dc, scale):
    """Divide the carry (dh, dc) by its norm and fold the norm into the log-scale."""
    m, s = scaled_sumsq(dh, dc)
    n = m * math.sqrt(s)
    if not (n > 0.0 and n < np.inf):
        return scale
    inv = 1.0 / n
    for b in range(dh.shape[0]):
        for j in range(dh.shape[1]):
            dh[b, j] *= inv
    for b in range(dc.shape[0]):
        for j in range(dc.shape[1]):
            dc[b, j] *= inv
    return scale + math.log(n)


@jit
def scaled_sumsq(a, c):
    """(m, s) with sum of squares of a and c = m**2 * s, safe from under/overflow.

    The plain sum of squares is used when it is comfortably inside the float64 range; only
    tiny or huge carries (the point of the gradient-decay studies) pay for a second pass.
    """
    s = sumsq(a) + sumsq(c)
    if s == 0.0 or (s > 1e-280 and s < 1e280) or not s == s:
        return 1.0, s
    m = 0.0
    for x in (a, c):
        for b in range(x.shape[0]):
            for j in range(x.shape[1]):
                m = max(m, abs(float(x[b, j])))
    if m == 0.0 or m == np.inf:
        return 1.0, s
    s = 0.0
    for x in (a, c):
        for b in range(x.shape[0]):
            for j in range(x.shape[1]):
                v = float(x[b, j]) / m
                s += v * v
    return m, s


@jit
def record(norms, t, a, c, scale, renorm):
    """Store ‖(a, c)‖, or log‖(a, c)‖ + scale when renormalized."""
    m, s = scaled_sumsq(a, c)
    if renorm:
        if s > 0.0:
            norms[t] = math.log(m) + 0.5 * math.log(s) + scale
        else:
            norms[t] = -np.inf if s == 0.0 else np.nan
    else:
        norms[t] = m * math.sqrt(s)
