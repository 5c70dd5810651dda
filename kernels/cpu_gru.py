"""The GRU family on the CPU: reset-after (PyTorch/cuDNN) and reset-before (Cho et al. 2014).

Reset-after:  n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); one (H, 3H) recurrent product.
Reset-before: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn); the n-block product waits for r,
so a step does two products, (H, 2H) for r and z, then (H, H) for n.
"""

import math

import numpy as np

from ._common import inject, record, renormalize, sigmoid, step_indices
from ._jit import jit


@jit
def gru_forward(xp, w_hh_t, b_hh, hs, acts, hn, reverse, training):
    """Reset-after GRU. acts keeps (r, z, n), hn keeps W_hn h + b_hn (one row if inference)."""
    T, B, GH = xp.shape
    H = hs.shape[2]
    a = np.empty((B, GH), xp.dtype)
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        gi = t if training else 0
        np.dot(hs[p], w_hh_t, a)
        for b in range(B):
            for j in range(H):
                r = sigmoid(xp[t, b, j] + a[b, j] + b_hh[j])
                z = sigmoid(xp[t, b, H + j] + a[b, H + j] + b_hh[H + j])
                hn_v = a[b, 2 * H + j] + b_hh[2 * H + j]
                nv = math.tanh(xp[t, b, 2 * H + j] + r * hn_v)
                hs[q, b, j] = (1 - z) * nv + z * hs[p, b, j]
                acts[gi, b, j] = r
                acts[gi, b, H + j] = z
                acts[gi, b, 2 * H + j] = nv
                hn[gi, b, j] = hn_v


@jit
def gru_backward(hs, acts, hn, w_hh, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse,
                 dh, renorm, dgx, dgh, norms_h):
    """Reset-after GRU backward. dgx[t]: dL/d(input-side pre-activations);
    dgh[t]: dL/d(W_hh h + b_hh), which differs from dgx in the n block by the factor r."""
    T = hs.shape[0] - 1
    B, H = dh.shape
    no_c = np.empty((0, 0), dh.dtype)
    rec = np.empty((B, H), dh.dtype)
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
                r = acts[t, b, j]
                z = acts[t, b, H + j]
                nv = acts[t, b, 2 * H + j]
                g = dh[b, j]
                dan = g * (1 - z) * (1 - nv * nv)
                dar = dan * hn[t, b, j] * r * (1 - r)
                daz = g * (hs[p, b, j] - nv) * z * (1 - z)
                dgx[t, b, j] = dar
                dgx[t, b, H + j] = daz
                dgx[t, b, 2 * H + j] = dan
                dgh[t, b, j] = dar
                dgh[t, b, H + j] = daz
                dgh[t, b, 2 * H + j] = dan * r
                dh[b, j] = g * z
        np.dot(dgh[t], w_hh, rec)
        for b in range(B):
            for j in range(H):
                dh[b, j] += rec[b, j]
        if renorm:
            scale = renormalize(dh, no_c, scale)
    return scale


@jit
def gru_cho_forward(xp, w_rz_t, w_n_t, b_hh, hs, acts, rh, reverse, training):
    """Reset-before GRU. acts keeps (r, z, n), rh keeps r * h_{t-1} (one row if inference)."""
    T, B, GH = xp.shape
    H = hs.shape[2]
    a = np.empty((B, 2 * H), xp.dtype)
    an = np.empty((B, H), xp.dtype)
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        gi = t if training else 0
        np.dot(hs[p], w_rz_t, a)
        for b in range(B):
            for j in range(H):
                r = sigmoid(xp[t, b, j] + a[b, j] + b_hh[j])
                acts[gi, b, j] = r
                acts[gi, b, H + j] = sigmoid(xp[t, b, H + j] + a[b, H + j] + b_hh[H + j])
                rh[gi, b, j] = r * hs[p, b, j]
        np.dot(rh[gi], w_n_t, an)
        for b in range(B):
            for j in range(H):
                z = acts[gi, b, H + j]
                nv = math.tanh(xp[t, b, 2 * H + j] + an[b, j] + b_hh[2 * H + j])
                acts[gi, b, 2 * H + j] = nv
                hs[q, b, j] = (1 - z) * nv + z * hs[p, b, j]


@jit
def gru_cho_backward(hs, acts, w_rz, w_n, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te,
                     reverse, dh, renorm, dg, norms_h):
    """Reset-before GRU backward. dg[t] receives dL/d(pre-activations) of r, z and n; the
    recurrent input of the n block is r * h_{t-1}, which the caller takes from the tape."""
    T = hs.shape[0] - 1
    B, H = dh.shape
    no_c = np.empty((0, 0), dh.dtype)
    dan = np.empty((B, H), dh.dtype)
    drh = np.empty((B, H), dh.dtype)
    drz = np.empty((B, 2 * H), dh.dtype)
    rec = np.empty((B, H), dh.dtype)
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
                z = acts[t, b, H + j]
                nv = acts[t, b, 2 * H + j]
                v = dh[b, j] * (1 - z) * (1 - nv * nv)
                dan[b, j] = v
                dg[t, b, 2 * H + j] = v
        np.dot(dan, w_n, drh)
        for b in range(B):
            for j in range(H):
                r = acts[t, b, j]
                z = acts[t, b, H + j]
                nv = acts[t, b, 2 * H + j]
                g = dh[b, j]
                hp = hs[p, b, j]
                dar = drh[b, j] * hp * r * (1 - r)
                daz = g * (hp - nv) * z * (1 - z)
                drz[b, j] = dar
                drz[b, H + j] = daz
                dg[t, b, j] = dar
                dg[t, b, H + j] = daz
                dh[b, j] = g * z + drh[b, j] * r
        np.dot(drz, w_rz, rec)
        for b in range(B):
            for j in range(H):
                dh[b, j] += rec[b, j]
        if renorm:
            scale = renormalize(dh, no_c, scale)
    return scale
