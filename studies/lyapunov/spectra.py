"""Full Lyapunov spectra along a given trajectory, and the quantities read off a spectrum.

The trajectory (the states s_0 .. s_T) comes from the kernels' forward pass on the chosen
backend; the tangent dynamics J_t V are computed here, in float64, at each stored state, and
the k = S tangent columns are re-orthonormalized by a Householder QR after every step
(numba's np.linalg.qr: LAPACK dgeqrf + dorgqr, the blocked BLAS-3 forms). log|R_ii| of step t
is the growth of the i-th Gram-Schmidt direction; their time averages are the exponents
(Benettin et al. 1980; Shimada & Nagashima 1979).

Before each QR the rows are sorted by decreasing norm (and Q's rows put back): R is unchanged in
exact arithmetic ((P A)^T (P A) = A^T A), but J_t V is strongly graded by rows once units saturate
(sech^2(a) down to e^-38), and Householder QR of a graded matrix keeps the small R_ii accurate only
with the large rows first (Powell & Reid 1969; Cox & Higham 1998). Without the sort, the sum of
log|R_ii| of one step of a g = 5 network missed ln|det J_t| by up to several units; with it, by
rounding (the identity the study and the tests check).

Why the tangent step is evaluated at the stored state s_(t-1) (and not along a trajectory of its
own): the map is chaotic, so two float64 implementations of one step part after ~(36 / lambda_1)
steps; re-reading the kernels' state every step keeps the tangent on the trajectory the kernels
computed, and the recomputed step (s_t from s_(t-1)) checks the kernels against the analysis
equations to rounding (an identity, reported per network).

rnn_tanh gets its own tangent step: J_t = diag(sech^2(a_t)) W with sech^2 from the
pre-activation a_t, because 1 - tanh(a)^2 is exactly 0 in float64 for |a| > 18.7 (which a
g = 5 network reaches thousands of times per run), and a zero row would make an exponent -inf.
The gated cells use studies.science.cell_equations.step (their gates saturate far later).
"""

import math

import numpy as np

from ..science.cell_equations import codes, jit, step
from ..science.jvp import CellDynamics


@jit
def _sech2(x):
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


@jit
def _log_sech2(x):
    ax = abs(x)
    return math.log(4.0) - 2.0 * ax - 2.0 * math.log1p(math.exp(-2.0 * ax))


@jit
def _row_sorted_qr(A):
    """Q, R of A with the Householder QR applied to A's rows in decreasing norm order; Q's rows are
    returned in A's order, so A = Q R as for np.linalg.qr."""
    norms = np.empty(A.shape[0])
    for i in range(A.shape[0]):
        acc = 0.0
        for m in range(A.shape[1]):
            acc += A[i, m] * A[i, m]
        norms[i] = acc
    p = np.argsort(-norms)
    Qp, R = np.linalg.qr(A[p])
    Q = np.empty_like(Qp)
    for r in range(p.shape[0]):
        Q[p[r]] = Qp[r]
    return Q, R


@jit
def _tanh_along(xps, hs, w, V0, logs, logdet_d):
    """rnn_tanh: h_t = tanh(W h_(t-1) + xp_t) with the states hs (T+1, H) given. Fills logs (T, k)
    with log|R_ii| and logdet_d (T,) with sum_i ln sech^2(a_t,i); returns max |tanh(a_t) - h_t|."""
    V = V0.copy()
    dev = 0.0
    H = hs.shape[1]
    for t in range(xps.shape[0]):
        a = w @ hs[t] + xps[t]
        WV = w @ V
        acc = 0.0
        for i in range(H):
            d = _sech2(a[i])
            acc += _log_sech2(a[i])
            e = abs(math.tanh(a[i]) - hs[t + 1, i])
            if e > dev:
                dev = e
            for m in range(WV.shape[1]):
                WV[i, m] *= d
        logdet_d[t] = acc
        Q, R = _row_sorted_qr(WV)
        for m in range(R.shape[0]):
            logs[t, m] = math.log(abs(R[m, m]))
        V = Q
    return dev


@jit
def _cell_along(family, variant, xps, states, w_hh, b_hh, peep, w_rz, w_n, V0, logs):
    """Any cell through cell_equations.step at the given states (T+1, S); returns max |F(s_(t-1)) - s_t|."""
    V = V0.copy()
    V_new = np.empty_like(V)
    s_new = np.empty(states.shape[1])
    dev = 0.0
    for t in range(xps.shape[0]):
        s_prev = states[t].copy()
        step(family, variant, xps[t], w_hh, b_hh, peep, w_rz, w_n, s_prev, V, s_new, V_new)
        for i in range(s_new.shape[0]):
            e = abs(s_new[i] - states[t + 1, i])
            if e > dev:
                dev = e
        Q, R = _row_sorted_qr(V_new)
        for m in range(R.shape[0]):
            logs[t, m] = math.log(abs(R[m, m]))
        V = Q
    return dev


def tangent_logs(cell, params, xps, states, k=None, seed=0):
    """log|R_ii| (T, k) of the repeated QR along ``states`` (T+1, S) with input projections
    ``xps`` (T, G*H), k = S by default (the full spectrum). Returns (logs, logdet_d, max_dev):
    logdet_d (T,) is sum_i ln phi'(a_t,i) for rnn_tanh (None for the other cells), max_dev the
    largest |F(s_(t-1), x_t) - s_t| over the run (the kernels' trajectory against these equations)."""
    dyn = CellDynamics(cell, params)
    xps = np.ascontiguousarray(xps, dtype=np.float64)
    states = np.ascontiguousarray(states, dtype=np.float64)
    T, S = xps.shape[0], dyn.state_size
    if states.shape != (T + 1, S):
        raise ValueError(f"states: got shape {states.shape}, expected ({T + 1}, {S}) for {T} steps of {cell}")
    k = S if k is None else int(k)
    if not 1 <= k <= S:
        raise ValueError(f"k: got {k}, expected 1 <= k <= state size {S}")
    V0, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((S, k)))
    logs = np.zeros((T, k))
    if cell == "rnn_tanh":
        logdet_d = np.zeros(T)
        if np.any(dyn.b_hh):
            xps = xps + dyn.b_hh
        dev = _tanh_along(xps, states, dyn.w_hh, np.ascontiguousarray(V0), logs, logdet_d)
        return logs, logdet_d, float(dev)
    dev = _cell_along(*codes(dyn.spec), xps, states, dyn.w_hh, dyn.b_hh, dyn.peep, dyn.w_rz, dyn.w_n,
                      np.ascontiguousarray(V0), logs)
    return logs, None, float(dev)


def ky_dimension(exponents):
    """Kaplan–Yorke dimension: j + (lambda_1 + ... + lambda_j) / |lambda_(j+1)|, j the largest index with a
    non-negative partial sum (exponents sorted in decreasing order); 0 when lambda_1 < 0, the number of
    exponents when every partial sum is non-negative."""
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    if lam.size == 0:
        raise ValueError("exponents: got an empty array, expected at least one exponent")
    c = np.cumsum(lam)
    nonneg = np.nonzero(c >= 0.0)[0]
    if nonneg.size == 0:
        return 0.0
    j = int(nonneg[-1]) + 1  # number of exponents in the non-negative partial sum
    if j == lam.size:
        return float(lam.size)
    return float(j + c[j - 1] / abs(lam[j]))


def entropy_rate(exponents):
    """Sum of the positive exponents (Pesin's formula: the Kolmogorov–Sinai entropy rate, an upper bound of it)."""
    lam = np.asarray(exponents, dtype=np.float64)
    return float(lam[lam > 0].sum())
