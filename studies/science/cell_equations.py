"""The cells' equations for the studies' float64 analysis: one step s_t = F(s_{t-1}, x_t) of every
cell together with its Jacobian applied to tangent columns, J_t V = (ds_t/ds_{t-1}) V.

The one copy of the step equations in studies/ (the kernels have their own, optimized): all
Jacobian-vector-product code (studies.science.jvp) goes through :func:`step`. The state is h (H,)
for the RNN and GRU cells and [h; c] (2H,) for the LSTM cells; ``xp`` is the input side of the
pre-activations, W_ih x_t + b_ih (G*H,). The equations are those of docs/conventions.md; the
tests check every cell against central differences of the kernels' own forward pass.
"""

import math

import numpy as np
from bpttlab import kernels
from bpttlab.kernels._config import ANALYSIS_JIT_OPTIONS  # every Numba option lives there
from numba import njit

jit = njit(**ANALYSIS_JIT_OPTIONS)

FAMILY_CODES = {"rnn": 0, "lstm": 1, "gru": 2}
# The variant codes of kernels.CellSpec, read through the public API.
RNN_RELU = kernels.get_spec("rnn_relu").variant
LSTM_PEEPHOLE = kernels.get_spec("lstm_peephole").variant
LSTM_CIFG = kernels.get_spec("lstm_cifg").variant
GRU_RESET_BEFORE = kernels.get_spec("gru_cho").variant


def codes(spec):
    """(family code, variant code) of a kernels.CellSpec, the arguments :func:`step` dispatches on."""
    return FAMILY_CODES[spec.family], spec.variant


@jit
def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@jit
def _rnn(xp, w_hh, b_hh, s, V, s_new, V_new, relu):
    H = s.shape[0]
    a = w_hh @ s
    dA = w_hh @ V
    for j in range(H):
        v = a[j] + xp[j] + b_hh[j]
        if relu:
            s_new[j] = v if v > 0 else 0.0
            d = 1.0 if v > 0 else 0.0
        else:
            hv = math.tanh(v)
            s_new[j] = hv
            d = 1.0 - hv * hv
        for m in range(V.shape[1]):
            V_new[j, m] = d * dA[j, m]


@jit
def _lstm(xp, w_hh, b_hh, peep, s, V, s_new, V_new, variant):
    H = s.shape[0] // 2
    h = s[:H]
    c = s[H:]
    A = w_hh @ h
    dA = w_hh @ np.ascontiguousarray(V[:H])
    k = V.shape[1]
    cifg = variant == LSTM_CIFG
    peephole = variant == LSTM_PEEPHOLE
    for j in range(H):
        cp = c[j]
        if cifg:
            f = _sigmoid(A[j] + xp[j] + b_hh[j])
            g = math.tanh(A[H + j] + xp[H + j] + b_hh[H + j])
            ao = A[2 * H + j] + xp[2 * H + j] + b_hh[2 * H + j]
            i = 1.0 - f
            bf, bg, bo = j, H + j, 2 * H + j
            bi = -1
        else:
            ai = A[j] + xp[j] + b_hh[j]
            af = A[H + j] + xp[H + j] + b_hh[H + j]
            g = math.tanh(A[2 * H + j] + xp[2 * H + j] + b_hh[2 * H + j])
            ao = A[3 * H + j] + xp[3 * H + j] + b_hh[3 * H + j]
            if peephole:
                ai += peep[0, j] * cp
                af += peep[1, j] * cp
            i = _sigmoid(ai)
            f = _sigmoid(af)
            bi, bf, bg, bo = j, H + j, 2 * H + j, 3 * H + j
        cn = f * cp + i * g
        if peephole:
            ao += peep[2, j] * cn
        o = _sigmoid(ao)
        tc = math.tanh(cn)
        s_new[j] = o * tc
        s_new[H + j] = cn
        for m in range(k):
            dcp = V[H + j, m]
            daf = dA[bf, m]
            if peephole:
                daf += peep[1, j] * dcp
            df = f * (1.0 - f) * daf
            if cifg:
                di = -df
            else:
                dai = dA[bi, m]
                if peephole:
                    dai += peep[0, j] * dcp
                di = i * (1.0 - i) * dai
            dg = (1.0 - g * g) * dA[bg, m]
            dcn = df * cp + f * dcp + di * g + i * dg
            dao = dA[bo, m]
            if peephole:
                dao += peep[2, j] * dcn
            do = o * (1.0 - o) * dao
            V_new[j, m] = do * tc + o * (1.0 - tc * tc) * dcn
            V_new[H + j, m] = dcn


@jit
def _gru(xp, w_hh, b_hh, s, V, s_new, V_new):
    """Reset-after GRU: n = tanh(x_n + r * (W_hn h + b_hn))."""
    H = s.shape[0]
    A = w_hh @ s
    dA = w_hh @ V
    for j in range(H):
        r = _sigmoid(xp[j] + A[j] + b_hh[j])
        z = _sigmoid(xp[H + j] + A[H + j] + b_hh[H + j])
        hn = A[2 * H + j] + b_hh[2 * H + j]
        n = math.tanh(xp[2 * H + j] + r * hn)
        hp = s[j]
        s_new[j] = (1.0 - z) * n + z * hp
        for m in range(V.shape[1]):
            dr = r * (1.0 - r) * dA[j, m]
            dz = z * (1.0 - z) * dA[H + j, m]
            dn = (1.0 - n * n) * (dr * hn + r * dA[2 * H + j, m])
            V_new[j, m] = (hp - n) * dz + (1.0 - z) * dn + z * V[j, m]


@jit
def _gru_cho(xp, w_rz, w_n, b_hh, s, V, s_new, V_new):
    """Reset-before GRU: n = tanh(x_n + W_hn (r * h) + b_hn)."""
    H = s.shape[0]
    k = V.shape[1]
    A = w_rz @ s
    dA = w_rz @ V
    r = np.empty(H)
    z = np.empty(H)
    rh = np.empty(H)
    drh = np.empty((H, k))
    dz = np.empty((H, k))
    for j in range(H):
        r[j] = _sigmoid(xp[j] + A[j] + b_hh[j])
        z[j] = _sigmoid(xp[H + j] + A[H + j] + b_hh[H + j])
        rh[j] = r[j] * s[j]
        for m in range(k):
            drh[j, m] = r[j] * (1.0 - r[j]) * dA[j, m] * s[j] + r[j] * V[j, m]
            dz[j, m] = z[j] * (1.0 - z[j]) * dA[H + j, m]
    an = w_n @ rh
    dan = w_n @ drh
    for j in range(H):
        n = math.tanh(xp[2 * H + j] + an[j] + b_hh[2 * H + j])
        hp = s[j]
        s_new[j] = (1.0 - z[j]) * n + z[j] * hp
        for m in range(k):
            V_new[j, m] = (hp - n) * dz[j, m] + (1.0 - z[j]) * (1.0 - n * n) * dan[j, m] + z[j] * V[j, m]


@jit
def step(family, variant, xp, w_hh, b_hh, peep, w_rz, w_n, s, V, s_new, V_new):
    if family == 0:
        _rnn(xp, w_hh, b_hh, s, V, s_new, V_new, variant == RNN_RELU)
    elif family == 1:
        _lstm(xp, w_hh, b_hh, peep, s, V, s_new, V_new, variant)
    elif variant == GRU_RESET_BEFORE:
        _gru_cho(xp, w_rz, w_n, b_hh, s, V, s_new, V_new)
    else:
        _gru(xp, w_hh, b_hh, s, V, s_new, V_new)
