"""The GRU family on the CPU: reset-after (PyTorch/cuDNN) and reset-before (Cho et al. 2014).

Reset-after:  n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); one (H, 3H) recurrent product.
Reset-before: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn); the n-block product waits for r,
so a step does two products, (H, 2H) for r and z, then (H, H) for n.

The conventions (batch chunks, xp becoming the activations, dbias, parts) are in lstm.py.
"""

from ._common import add_rows, inject, record_part, renormalize, sigmoid, step_indices, tanh
from ._gemm import rec_backward, rec_forward, step_input
from ._jit import jit

# -- reset-after -------------------------------------------------------------------------


@jit
def _fwd_rows(x, a, bias, b_hh, h_prev, h_out, hn, b0, b1):
    H = h_out.shape[1]
    one = x.dtype.type(1)
    br, bz, bn, bhn = bias[:H], bias[H : 2 * H], bias[2 * H :], b_hh[2 * H :]
    for b in range(b0, b1):
        xr, xz, xn = x[b, :H], x[b, H : 2 * H], x[b, 2 * H :]
        ar, az, an = a[b, :H], a[b, H : 2 * H], a[b, 2 * H :]
        hp, ho, hnb = h_prev[b], h_out[b], hn[b]
        for j in range(H):
            r = sigmoid(xr[j] + ar[j] + br[j])
            z = sigmoid(xz[j] + az[j] + bz[j])
            hn_v = an[j] + bhn[j]
            nv = tanh(xn[j] + bn[j] + r * hn_v)
            ho[j] = (one - z) * nv + z * hp[j]
            xr[j] = r
            xz[j] = z
            xn[j] = nv
            hnb[j] = hn_v


@jit
def gru_forward(X, wih_p, xp, whh_p, bias, b_hh, hs, hn, a, reverse, training, fused, b0, b1):
    """Reset-after GRU over rows [b0, b1). xp: W_ih x_t as in rnn_forward; bias = (b_ir + b_hr,
    b_iz + b_hz, b_in); b_hh is the recurrent bias, of which the n block b_hn sits inside the
    reset. xp ends up holding (r, z, n); hn keeps W_hn h + b_hn (one row if inference); a
    (1, B, 3H) is scratch."""
    T, GH = hs.shape[0] - 1, xp.shape[2]
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        gi = t if training else 0
        xi = t if xp.shape[0] == T else 0
        step_input(X, t, wih_p, xp, xi, fused, b0, b1)
        rec_forward(hs, p, whh_p, GH, a, 0, 0, 0.0, b0, b1)
        _fwd_rows(xp[xi], a[0], bias, b_hh, hs[p], hs[q], hn[gi], b0, b1)


@jit
def _bwd_rows(acts, hn, h_prev, dh, dgh, dgn, b0, b1):
    H = dh.shape[1]
    one = dh.dtype.type(1)
    for b in range(b0, b1):
        ar, az, an = acts[b, :H], acts[b, H : 2 * H], acts[b, 2 * H :]
        gr, gz, gn = dgh[b, :H], dgh[b, H : 2 * H], dgh[b, 2 * H :]
        hnb, hp, d, gnx = hn[b], h_prev[b], dh[b], dgn[b]
        for j in range(H):
            r = ar[j]
            z = az[j]
            nv = an[j]
            g = d[j]
            dan = g * (one - z) * (one - nv * nv)
            gr[j] = dan * hnb[j] * r * (one - r)
            gz[j] = g * (hp[j] - nv) * z * (one - z)
            gn[j] = dan * r
            gnx[j] = dan
            d[j] = g * z


@jit
def gru_backward(hs, acts, hn, whh_bp, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse,
                 dh, renorm, dgh, dgn, parts, scales, dbias, b0, b1):
    """Reset-after GRU backward over rows [b0, b1). dgh[t]: dL/d(W_hh h + b_hh); dgn[t]:
    dL/d(W_in x + b_in), the input side of the n block (the r and z blocks of the input side
    equal dgh's). dbias (4H, float64) accumulates the sums of dgh (3H) and dgn (H)."""
    T = hs.shape[0] - 1
    H = dh.shape[1]
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
        _bwd_rows(acts[t], hn[t], hs[p], dh, dgh[t], dgn[t], b0, b1)
        add_rows(dbias[: 3 * H], dgh[t], b0, b1)
        add_rows(dbias[3 * H :], dgn[t], b0, b1)
        rec_backward(dgh, t, 0, whh_bp, 3 * H, dh, 1.0, b0, b1)
        if renorm:
            scale = renormalize(dh, no_c, scale)
    return scale


# -- reset-before (Cho) ------------------------------------------------------------------


@jit
def _cho_fwd_rz(x, bias, h_prev, rh, b0, b1):
    H = rh.shape[1]
    br, bz = bias[:H], bias[H : 2 * H]
    for b in range(b0, b1):
        xr, xz = x[b, :H], x[b, H : 2 * H]
        hp, rhb = h_prev[b], rh[b]
        for j in range(H):
            r = sigmoid(xr[j] + br[j])
            xr[j] = r
            xz[j] = sigmoid(xz[j] + bz[j])
            rhb[j] = r * hp[j]


@jit
def _cho_fwd_n(x, bias, h_prev, h_out, b0, b1):
    H = h_out.shape[1]
    one = x.dtype.type(1)
    bn = bias[2 * H :]
    for b in range(b0, b1):
        xz, xn = x[b, H : 2 * H], x[b, 2 * H :]
        hp, ho = h_prev[b], h_out[b]
        for j in range(H):
            z = xz[j]
            nv = tanh(xn[j] + bn[j])
            xn[j] = nv
            ho[j] = (one - z) * nv + z * hp[j]


@jit
def gru_cho_forward(X, wih_p, xp, wrz_p, wn_p, bias, hs, rh, reverse, training, fused, b0, b1):
    """Reset-before GRU over rows [b0, b1). xp: W_ih x_t as in rnn_forward; bias = b_ih + b_hh;
    xp ends up holding (r, z, n); rh keeps r * h_{t-1} (one row if inference)."""
    T, H = hs.shape[0] - 1, hs.shape[2]
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        gi = t if training else 0
        xi = t if xp.shape[0] == T else 0
        step_input(X, t, wih_p, xp, xi, fused, b0, b1)
        rec_forward(hs, p, wrz_p, 2 * H, xp, xi, 0, 1.0, b0, b1)
        _cho_fwd_rz(xp[xi], bias, hs[p], rh[gi], b0, b1)
        rec_forward(rh, gi, wn_p, H, xp, xi, 2 * H, 1.0, b0, b1)
        _cho_fwd_n(xp[xi], bias, hs[p], hs[q], b0, b1)


@jit
def _cho_bwd_n(acts, dh, dg, b0, b1):
    H = dh.shape[1]
    one = dh.dtype.type(1)
    for b in range(b0, b1):
        az, an, gn, d = acts[b, H : 2 * H], acts[b, 2 * H :], dg[b, 2 * H :], dh[b]
        for j in range(H):
            z = az[j]
            nv = an[j]
            gn[j] = d[j] * (one - z) * (one - nv * nv)


@jit
def _cho_bwd_rz(acts, h_prev, drh, dh, dg, b0, b1):
    H = dh.shape[1]
    one = dh.dtype.type(1)
    for b in range(b0, b1):
        ar, az, an = acts[b, :H], acts[b, H : 2 * H], acts[b, 2 * H :]
        gr, gz = dg[b, :H], dg[b, H : 2 * H]
        hpb, drb, d = h_prev[b], drh[b], dh[b]
        for j in range(H):
            r = ar[j]
            z = az[j]
            nv = an[j]
            g = d[j]
            hp = hpb[j]
            e = drb[j]
            gr[j] = e * hp * r * (one - r)
            gz[j] = g * (hp - nv) * z * (one - z)
            d[j] = g * z + e * r


@jit
def gru_cho_backward(hs, acts, wrz_bp, wn_bp, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te,
                     reverse, dh, renorm, dg, drh, parts, scales, dbias, b0, b1):
    """Reset-before GRU backward over rows [b0, b1). dg[t] receives dL/d(pre-activations) of
    r, z and n; the recurrent input of the n block is r * h_{t-1}, which the caller takes
    from the tape. drh (1, B, H) is scratch for dL/d(r * h_{t-1})."""
    T = hs.shape[0] - 1
    H = dh.shape[1]
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
        _cho_bwd_n(acts[t], dh, dg[t], b0, b1)
        rec_backward(dg, t, 2 * H, wn_bp, H, drh[0], 0.0, b0, b1)
        _cho_bwd_rz(acts[t], hs[p], drh[0], dh, dg[t], b0, b1)
        add_rows(dbias, dg[t], b0, b1)
        rec_backward(dg, t, 0, wrz_bp, 2 * H, dh, 1.0, b0, b1)
        if renorm:
            scale = renormalize(dh, no_c, scale)
    return scale
