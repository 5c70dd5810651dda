"""Elman RNN (tanh or ReLU) on the CPU: forward and windowed BPTT.

h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh). The caller computes the input projection
of all steps (``xp`` = W_ih x, without biases) as one matrix product; the time loop runs here.
See lstm.py for the conventions every cell's kernels share (batch chunks, buffers).
"""

from ..cells import RNN_RELU
from ._common import add_rows, inject, record_part, renormalize, step_indices, tanh
from ._gemm import rec_backward, rec_forward, step_input
from ._jit import jit


@jit
def rnn_forward(X, wih_p, xp, whh_p, bias, hs, reverse, variant, fused, b0, b1):
    """Fill hs[:, b0:b1] (T+1, B, H), whose h0 row is already set.

    xp (T or 1, B, H) holds (or, fused, receives: _gemm.step_input) W_ih x_t, to which the
    step adds W_hh h_{t-1}; wih_p, whh_p are W_ih and W_hh packed for the forward products
    (layer._packed); bias = b_ih + b_hh.
    """
    T, H = hs.shape[0] - 1, hs.shape[2]
    zero = xp.dtype.type(0)
    relu = variant == RNN_RELU
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        xi = t if xp.shape[0] == T else 0
        step_input(X, t, wih_p, xp, xi, fused, b0, b1)
        rec_forward(hs, p, whh_p, H, xp, xi, 0, 1.0, b0, b1)
        for b in range(b0, b1):
            a = xp[xi, b]
            h = hs[q, b]
            if relu:
                for j in range(H):
                    v = a[j] + bias[j]
                    # "not v < 0" keeps NaN as NaN; max(v, 0) would not.
                    h[j] = v if not v < 0 else zero
            else:
                for j in range(H):
                    h[j] = tanh(a[j] + bias[j])


@jit
def rnn_backward(hs, whh_bp, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse, variant,
                 dh, renorm, dg, parts, scales, dbias, b0, b1):
    """Backpropagate rows [b0, b1) through steps [ts, te]; dh is the carry in, and on return
    the carry out.

    dy[t - dy_off] is added to dL/dh_t for t in [inj_lo, inj_hi]; for t in [rec_lo, rec_hi]
    the chunk's part of ‖dL/dh_t‖ goes to parts[t] (the log-scale to scales[t]); dg[t]
    receives dL/da_t (the pre-activation) and dbias (float64) its sum over steps and rows;
    whh_bp is W_hh packed for the backward product.
    Returns the log-scale of the carry (0 unless renorm, which needs the whole batch in one
    chunk).
    """
    T = hs.shape[0] - 1
    H = dh.shape[1]
    relu = variant == RNN_RELU
    one = dh.dtype.type(1)
    zero = dh.dtype.type(0)
    no_c = dh[:0]
    scale = 0.0
    n = te - ts + 1
    for k in range(n):
        t = ts + k if reverse else te - k
        _, p, q = step_indices(T - 1 - t if reverse else t, T, reverse)
        if inj_lo <= t <= inj_hi:
            scale = inject(dh[b0:b1], no_c, dy[t - dy_off, b0:b1], scale, renorm)
        if rec_lo <= t <= rec_hi:
            record_part(parts, t, dh[b0:b1], no_c)
            scales[t] = scale
        for b in range(b0, b1):
            h = hs[q, b]
            d = dh[b]
            g = dg[t, b]
            if relu:
                for j in range(H):
                    # h > 0: slope 1; h == 0: slope 0; NaN: NaN, so a NaN step stays visible.
                    g[j] = d[j] if h[j] > 0 else (d[j] * zero if h[j] == 0 else h[j])
            else:
                for j in range(H):
                    g[j] = d[j] * (one - h[j] * h[j])
        add_rows(dbias, dg[t], b0, b1)
        rec_backward(dg, t, 0, whh_bp, H, dh, 0.0, b0, b1)
        if renorm:
            scale = renormalize(dh, no_c, scale)
    return scale
