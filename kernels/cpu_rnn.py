"""Elman RNN (tanh or ReLU) on the CPU: forward and windowed BPTT.

h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh). The input projection of all steps is
one matrix product done by the caller (``xp``); the time loop runs here.
"""

import math

import numpy as np

from ._common import inject, record, renormalize, step_indices
from ._jit import jit
from .cells import RNN_RELU


@jit
def rnn_forward(xp, w_hh_t, b_hh, hs, reverse, variant):
    """Fill hs (T+1, B, H), whose h0 row is already set, from xp (T, B, H)."""
    T, B, H = xp.shape
    a = np.empty((B, H), xp.dtype)
    relu = variant == RNN_RELU
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        np.dot(hs[p], w_hh_t, a)
        for b in range(B):
            for j in range(H):
                v = a[b, j] + xp[t, b, j] + b_hh[j]
                if relu:
                    # "not v < 0" keeps NaN as NaN; max(v, 0) would not.
                    hs[q, b, j] = v if not v < 0 else 0
                else:
                    hs[q, b, j] = math.tanh(v)


@jit
def rnn_backward(hs, w_hh, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse, variant,
                 dh, renorm, dg, norms_h):
    """Backpropagate through steps [ts, te]; dh is the carry in, and on return the carry out.

    dy[t - dy_off] is added to dL/dh_t for t in [inj_lo, inj_hi]; norms are recorded for t in
    [rec_lo, rec_hi]; dg[t] receives dL/da_t (the pre-activation). Returns the log-scale of
    the carry (0 unless renorm).
    """
    T = hs.shape[0] - 1
    B, H = dh.shape
    relu = variant == RNN_RELU
    no_c = np.empty((0, 0), dh.dtype)
    scale = 0.0
    n = te - ts + 1
    for k in range(n):
        t = ts + k if reverse else te - k
        _, p, q = step_indices(T - 1 - t if reverse else t, T, reverse)
        if inj_lo <= t <= inj_hi:
            scale = inject(dh, no_c, dy[t - dy_off], scale, renorm)
        if rec_lo <= t <= rec_hi:
            record(norms_h, t, dh, no_c, scale, renorm)
        for b in range(B):
            for j in range(H):
                h = hs[q, b, j]
                if relu:
                    # h > 0: slope 1; h == 0: slope 0; NaN: NaN, so a NaN step stays visible.
                    dg[t, b, j] = dh[b, j] if h > 0 else (dh[b, j] * 0 if h == 0 else h)
                else:
                    dg[t, b, j] = dh[b, j] * (1 - h * h)
        np.dot(dg[t], w_hh, dh)
        if renorm:
            scale = renormalize(dh, no_c, scale)
    return scale
