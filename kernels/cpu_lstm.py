"""The LSTM family on the CPU: plain (i, f, g, o), peephole and coupled-gate (CIFG).

One kernel pair serves all three; ``variant`` (see cells.py) picks the gate equations.
Peephole weights are a (3, H) array (p_i, p_f, p_o); the other variants get zeros.
"""

import math

import numpy as np

from ._common import inject, record, renormalize, sigmoid, step_indices
from ._jit import jit
from .cells import LSTM_CIFG, LSTM_PEEPHOLE


@jit
def lstm_forward(xp, w_hh_t, b_hh, peep, hs, cs, acts, reverse, variant, training):
    """Fill hs (T+1, B, H) and cs from xp (T, B, G*H); h0 and c0 rows are already set.

    Training: cs has T + 1 rows laid out like hs, and acts (T, B, G*H) keeps the gate
    activations. Inference: cs has 2 rows used in turn (c0 in row 0) and acts 1 row.
    """
    T, B, GH = xp.shape
    H = hs.shape[2]
    a = np.empty((B, GH), xp.dtype)
    cifg = variant == LSTM_CIFG
    peephole = variant == LSTM_PEEPHOLE
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        if training:
            cp, cq, gi = p, q, t
        else:
            cp, cq, gi = k % 2, 1 - k % 2, 0
        np.dot(hs[p], w_hh_t, a)
        for b in range(B):
            for j in range(H):
                c_prev = cs[cp, b, j]
                if cifg:
                    f = sigmoid(a[b, j] + xp[t, b, j] + b_hh[j])
                    g = math.tanh(a[b, H + j] + xp[t, b, H + j] + b_hh[H + j])
                    ao = a[b, 2 * H + j] + xp[t, b, 2 * H + j] + b_hh[2 * H + j]
                    i = 1 - f
                else:
                    ai = a[b, j] + xp[t, b, j] + b_hh[j]
                    af = a[b, H + j] + xp[t, b, H + j] + b_hh[H + j]
                    g = math.tanh(a[b, 2 * H + j] + xp[t, b, 2 * H + j] + b_hh[2 * H + j])
                    ao = a[b, 3 * H + j] + xp[t, b, 3 * H + j] + b_hh[3 * H + j]
                    if peephole:
                        ai += peep[0, j] * c_prev
                        af += peep[1, j] * c_prev
                    i = sigmoid(ai)
                    f = sigmoid(af)
                c = f * c_prev + i * g
                if peephole:
                    ao += peep[2, j] * c
                o = sigmoid(ao)
                cs[cq, b, j] = c
                hs[q, b, j] = o * math.tanh(c)
                if cifg:
                    acts[gi, b, j] = f
                    acts[gi, b, H + j] = g
                    acts[gi, b, 2 * H + j] = o
                else:
                    acts[gi, b, j] = i
                    acts[gi, b, H + j] = f
                    acts[gi, b, 2 * H + j] = g
                    acts[gi, b, 3 * H + j] = o


@jit
def lstm_backward(hs, cs, acts, w_hh, peep, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te,
                  reverse, variant, dh, dc, renorm, dg, dpeep, norms_h, norms_c):
    """Backpropagate through steps [ts, te] (see rnn_backward for the common arguments).

    (dh, dc) is the carry (dL/dh, dL/dc from later steps); dg[t] receives dL/d(gate
    pre-activations); dpeep (3, H) accumulates the peephole gradients.
    """
    T = hs.shape[0] - 1
    B, H = dh.shape
    cifg = variant == LSTM_CIFG
    peephole = variant == LSTM_PEEPHOLE
    no_c = np.empty((0, 0), dh.dtype)
    gc = np.empty((B, H), dh.dtype)  # dL/dc_t, kept for its norm
    scale = 0.0
    n = te - ts + 1
    for k in range(n):
        t = ts + k if reverse else te - k
        _, p, q = step_indices(T - 1 - t if reverse else t, T, reverse)
        if inj_lo <= t <= inj_hi:
            scale = inject(dh, dc, dy[t - dy_off], scale, renorm)
        if rec_lo <= t <= rec_hi:
            record(norms_h, t, dh, no_c, scale, renorm)
        for b in range(B):
            for j in range(H):
                c = cs[q, b, j]
                c_prev = cs[p, b, j]
                if cifg:
                    f = acts[t, b, j]
                    g = acts[t, b, H + j]
                    o = acts[t, b, 2 * H + j]
                    i = 1 - f
                else:
                    i = acts[t, b, j]
                    f = acts[t, b, H + j]
                    g = acts[t, b, 2 * H + j]
                    o = acts[t, b, 3 * H + j]
                tc = math.tanh(c)
                g_h = dh[b, j]
                dao = g_h * tc * o * (1 - o)
                g_c = dc[b, j] + g_h * o * (1 - tc * tc)
                if peephole:
                    g_c += dao * peep[2, j]
                gc[b, j] = g_c
                if cifg:
                    daf = g_c * (c_prev - g) * f * (1 - f)
                    dag = g_c * i * (1 - g * g)
                    dg[t, b, j] = daf
                    dg[t, b, H + j] = dag
                    dg[t, b, 2 * H + j] = dao
                    dc[b, j] = g_c * f
                else:
                    dai = g_c * g * i * (1 - i)
                    daf = g_c * c_prev * f * (1 - f)
                    dag = g_c * i * (1 - g * g)
                    dg[t, b, j] = dai
                    dg[t, b, H + j] = daf
                    dg[t, b, 2 * H + j] = dag
                    dg[t, b, 3 * H + j] = dao
                    dc_prev = g_c * f
                    if peephole:
                        dc_prev += dai * peep[0, j] + daf * peep[1, j]
                        dpeep[0, j] += dai * c_prev
                        dpeep[1, j] += daf * c_prev
                        dpeep[2, j] += dao * c
                    dc[b, j] = dc_prev
        if rec_lo <= t <= rec_hi:
            record(norms_c, t, gc, no_c, scale, renorm)
        np.dot(dg[t], w_hh, dh)
        if renorm:
            scale = renormalize(dh, dc, scale)
    return scale
