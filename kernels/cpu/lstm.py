"""The LSTM family on the CPU: plain (i, f, g, o), peephole and coupled-gate (CIFG).

One kernel pair serves all three; ``variant`` (see cells.py) picks the gate equations, once
per row, outside the vectorized loops over hidden units. Peephole weights are a (3, H)
array (p_i, p_f, p_o); the other variants get zeros.

Conventions shared by every cell's kernels (rnn.py, gru.py):

- ``xp`` (T, B, G*H) arrives holding W_ih x_t for every step (one large product done by the
  caller, without biases); each step adds W_hh h_{t-1} into xp[t] in place and the gate
  loop overwrites it with the gate activations, so in training xp *is* the tape's ``acts``.
- A kernel works on batch rows [b0, b1) only. Batch rows never interact in a recurrence, so
  _par.py runs independent row chunks on Numba's threads, with no synchronization
  between steps.
- The backward kernels write dL/d(pre-activations) to dg[t], add its sum over steps and
  rows to the chunk's float64 ``dbias`` row (the bias gradients, without another pass over
  dg), and store the chunk's share of each step's norm in ``parts`` (see
  _common.finish_norms).
"""

from ..cells import LSTM_CIFG, LSTM_PEEPHOLE
from ._atomic import compare_exchange, load_acquire, spin_pause, store_release, yield_cpu
from ._common import add_rows, fma, inject, record_part, renormalize, sigmoid, step_indices, tanh
from ._gemm import rec_backward, rec_forward, rec_forward_units, step_input
from ._jit import jit

# -- one step of rows [b0, b1): the gate arithmetic, vectorized over hidden units ---------
# Each gate block gets its own 1-D view: LLVM vectorizes a loop over separate views far
# better than one over a single row indexed at j, H + j, 2H + j, ...
# The views are sliced out in each variant: a helper returning them as a tuple made the
# gate loops 1.6-2x slower (measured at B = 16, H = 64, float32).


@jit
def _fwd_plain(x, bias, c_prev, c_out, h_out, b0, b1, u0, u1):
    H = c_out.shape[1]
    bi, bf, bg, bo = bias[u0:u1], bias[H + u0 : H + u1], bias[2 * H + u0 : 2 * H + u1], bias[3 * H + u0 : 3 * H + u1]
    for b in range(b0, b1):
        xb = x[b]
        ai, af, ag, ao = xb[u0:u1], xb[H + u0 : H + u1], xb[2 * H + u0 : 2 * H + u1], xb[3 * H + u0 : 3 * H + u1]
        cp, co, ho = c_prev[b, u0:u1], c_out[b, u0:u1], h_out[b, u0:u1]
        for j in range(u1 - u0):
            i = sigmoid(ai[j] + bi[j])
            f = sigmoid(af[j] + bf[j])
            g = tanh(ag[j] + bg[j])
            o = sigmoid(ao[j] + bo[j])
            c = fma(f, cp[j], i * g)
            co[j] = c
            ho[j] = o * tanh(c)
            ai[j] = i
            af[j] = f
            ag[j] = g
            ao[j] = o


@jit
def _fwd_peephole(x, bias, peep, c_prev, c_out, h_out, b0, b1, u0, u1):
    H = c_out.shape[1]
    bi, bf, bg, bo = bias[u0:u1], bias[H + u0 : H + u1], bias[2 * H + u0 : 2 * H + u1], bias[3 * H + u0 : 3 * H + u1]
    pi, pf, po = peep[0, u0:u1], peep[1, u0:u1], peep[2, u0:u1]
    for b in range(b0, b1):
        xb = x[b]
        ai, af, ag, ao = xb[u0:u1], xb[H + u0 : H + u1], xb[2 * H + u0 : 2 * H + u1], xb[3 * H + u0 : 3 * H + u1]
        cp, co, ho = c_prev[b, u0:u1], c_out[b, u0:u1], h_out[b, u0:u1]
        for j in range(u1 - u0):
            cpj = cp[j]
            i = sigmoid(ai[j] + bi[j] + pi[j] * cpj)
            f = sigmoid(af[j] + bf[j] + pf[j] * cpj)
            g = tanh(ag[j] + bg[j])
            c = fma(f, cpj, i * g)
            o = sigmoid(ao[j] + bo[j] + po[j] * c)
            co[j] = c
            ho[j] = o * tanh(c)
            ai[j] = i
            af[j] = f
            ag[j] = g
            ao[j] = o


@jit
def _fwd_cifg(x, bias, c_prev, c_out, h_out, b0, b1, u0, u1):
    H = c_out.shape[1]
    one = x.dtype.type(1)
    bf, bg, bo = bias[u0:u1], bias[H + u0 : H + u1], bias[2 * H + u0 : 2 * H + u1]
    for b in range(b0, b1):
        xb = x[b]
        af, ag, ao = xb[u0:u1], xb[H + u0 : H + u1], xb[2 * H + u0 : 2 * H + u1]
        cp, co, ho = c_prev[b, u0:u1], c_out[b, u0:u1], h_out[b, u0:u1]
        for j in range(u1 - u0):
            f = sigmoid(af[j] + bf[j])
            g = tanh(ag[j] + bg[j])
            o = sigmoid(ao[j] + bo[j])
            c = fma(f, cp[j], (one - f) * g)
            co[j] = c
            ho[j] = o * tanh(c)
            af[j] = f
            ag[j] = g
            ao[j] = o


@jit
def _bwd_plain(acts, c, c_prev, dh, dc, gc, dg, b0, b1):
    H = dh.shape[1]
    one = dh.dtype.type(1)
    for b in range(b0, b1):
        ai, af, ag, ao = acts[b, :H], acts[b, H : 2 * H], acts[b, 2 * H : 3 * H], acts[b, 3 * H :]
        di, df, dgg, do = dg[b, :H], dg[b, H : 2 * H], dg[b, 2 * H : 3 * H], dg[b, 3 * H :]
        cb, cp, dhb, dcb, gcb = c[b], c_prev[b], dh[b], dc[b], gc[b]
        for j in range(H):
            i = ai[j]
            f = af[j]
            g = ag[j]
            o = ao[j]
            tc = tanh(cb[j])
            g_h = dhb[j]
            g_c = dcb[j] + g_h * o * (one - tc * tc)
            gcb[j] = g_c
            di[j] = g_c * g * i * (one - i)
            df[j] = g_c * cp[j] * f * (one - f)
            dgg[j] = g_c * i * (one - g * g)
            do[j] = g_h * tc * o * (one - o)
            dcb[j] = g_c * f


@jit
def _bwd_peephole(acts, c, c_prev, peep, dh, dc, gc, dg, dpeep, b0, b1):
    H = dh.shape[1]
    one = dh.dtype.type(1)
    pi, pf, po = peep[0], peep[1], peep[2]
    qi, qf, qo = dpeep[0], dpeep[1], dpeep[2]
    for b in range(b0, b1):
        ai, af, ag, ao = acts[b, :H], acts[b, H : 2 * H], acts[b, 2 * H : 3 * H], acts[b, 3 * H :]
        di, df, dgg, do = dg[b, :H], dg[b, H : 2 * H], dg[b, 2 * H : 3 * H], dg[b, 3 * H :]
        cb, cp, dhb, dcb, gcb = c[b], c_prev[b], dh[b], dc[b], gc[b]
        for j in range(H):
            i = ai[j]
            f = af[j]
            g = ag[j]
            o = ao[j]
            cj = cb[j]
            cpj = cp[j]
            tc = tanh(cj)
            g_h = dhb[j]
            dao = g_h * tc * o * (one - o)
            g_c = dcb[j] + g_h * o * (one - tc * tc) + dao * po[j]
            gcb[j] = g_c
            dai = g_c * g * i * (one - i)
            daf = g_c * cpj * f * (one - f)
            di[j] = dai
            df[j] = daf
            dgg[j] = g_c * i * (one - g * g)
            do[j] = dao
            dcb[j] = g_c * f + dai * pi[j] + daf * pf[j]
            qi[j] += dai * cpj
            qf[j] += daf * cpj
            qo[j] += dao * cj


@jit
def _bwd_cifg(acts, c, c_prev, dh, dc, gc, dg, b0, b1):
    H = dh.shape[1]
    one = dh.dtype.type(1)
    for b in range(b0, b1):
        af, ag, ao = acts[b, :H], acts[b, H : 2 * H], acts[b, 2 * H :]
        df, dgg, do = dg[b, :H], dg[b, H : 2 * H], dg[b, 2 * H :]
        cb, cp, dhb, dcb, gcb = c[b], c_prev[b], dh[b], dc[b], gc[b]
        for j in range(H):
            f = af[j]
            g = ag[j]
            o = ao[j]
            tc = tanh(cb[j])
            g_h = dhb[j]
            g_c = dcb[j] + g_h * o * (one - tc * tc)
            gcb[j] = g_c
            df[j] = g_c * (cp[j] - g) * f * (one - f)
            dgg[j] = g_c * (one - f) * (one - g * g)
            do[j] = g_h * tc * o * (one - o)
            dcb[j] = g_c * f


# -- the time loops ----------------------------------------------------------------------


@jit
def lstm_forward(X, wih_p, xp, whh_p, bias, peep, hs, cs, reverse, variant, training, fused, b0, b1):
    """Fill hs[:, b0:b1] (T+1, B, H) and cs; h0 and c0 rows are set.

    xp (T or 1, B, G*H): W_ih x_t, as in rnn_forward; bias = b_ih + b_hh. Training: cs has
    T + 1 rows laid out like hs, and xp (T rows) ends up holding the gate activations.
    Inference: cs has 2 rows used in turn (c0 in row 0).
    """
    T, GH = hs.shape[0] - 1, xp.shape[2]
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        if training:
            cp, cq = p, q
        else:
            cp, cq = k % 2, 1 - k % 2
        xi = t if xp.shape[0] == T else 0
        step_input(X, t, wih_p, xp, xi, fused, b0, b1)
        rec_forward(hs, p, whh_p, GH, xp, xi, 0, 1.0, b0, b1)
        _gates(variant, xp[xi], bias, peep, cs[cp], cs[cq], hs[q], b0, b1, 0, hs.shape[2])


@jit
def _gates(variant, x, bias, peep, c_prev, c_out, h_out, b0, b1, u0, u1):
    if variant == LSTM_CIFG:
        _fwd_cifg(x, bias, c_prev, c_out, h_out, b0, b1, u0, u1)
    elif variant == LSTM_PEEPHOLE:
        _fwd_peephole(x, bias, peep, c_prev, c_out, h_out, b0, b1, u0, u1)
    else:
        _fwd_plain(x, bias, c_prev, c_out, h_out, b0, b1, u0, u1)


# Spin-waits longer than this many pauses (tens of microseconds) yield the core instead: the
# thread being waited for has most likely been descheduled.
SPINS_BEFORE_YIELD = 1 << 12


@jit
def lstm_forward_units(xp, segs, bounds, bias, peep, hs, cs, reverse, variant, training, sync, me):
    """The forward time loop with the hidden units split into slices (all batch rows), for
    when there are fewer batch rows than threads (B = 1: the step is a matrix-vector product
    that one core streams from its cache at a fixed rate; slices on several cores stream
    several parts of W_hh at once). Called by each of the threads with its slice ``me``.

    xp (T, B, G*H) holds W_ih x_t for every step (no fused input projection). Slice s covers
    units [bounds[s], bounds[s+1]); segs[s] (G, ...) its rows of W_hh, packed by gate (see
    _gemm.rec_forward_units). Every step of a slice reads the whole h_{t-1}, so a step starts
    only when every slice of the step before has finished.

    The hand-over: for slice s, sync[16 s] counts the steps claimed and sync[16 s + 1] the
    steps finished (one cache line pair per slice). A thread claims step k of a slice with a
    compare-and-swap, its own slice first, then any other slice still unclaimed, and waits
    only for slices claimed by threads that are running them. So the loop finishes whatever
    the threads do: run side by side (each takes its own slice), run one after the other (the
    first takes every slice of every step; 1 Numba thread, or a threading layer that runs
    the prange iterations in turn), or lag (a late or descheduled thread's slices are taken
    by the others). Whichever thread computes a slice, it does the same arithmetic, so the
    result does not depend on the schedule.
    """
    T = hs.shape[0] - 1
    S = bounds.shape[0] - 1
    B = hs.shape[1]
    for k in range(T):
        t, p, q = step_indices(k, T, reverse)
        if training:
            cp, cq = p, q
        else:
            cp, cq = k % 2, 1 - k % 2
        for r in range(S):
            s = (me + r) % S
            if load_acquire(sync, 16 * s) == k and compare_exchange(sync, 16 * s, k, k + 1):
                u0, u1 = bounds[s], bounds[s + 1]
                rec_forward_units(hs, p, segs[s], xp, t, u0, u1, 0, B)
                _gates(variant, xp[t], bias, peep, cs[cp], cs[cq], hs[q], 0, B, u0, u1)
                store_release(sync, 16 * s + 1, k + 1)
        for s in range(S):
            spins = 0
            while load_acquire(sync, 16 * s + 1) <= k:
                spins += 1
                if spins < SPINS_BEFORE_YIELD:
                    spin_pause()
                else:
                    yield_cpu()


@jit
def lstm_backward(hs, cs, acts, whh_bp, peep, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te,
                  reverse, variant, dh, dc, renorm, dg, gc, parts_h, parts_c, scales, dbias, dpeep, b0, b1):
    """Backpropagate rows [b0, b1) through steps [ts, te] (see rnn_backward for the common
    arguments).

    (dh, dc) is the carry (dL/dh, dL/dc from later steps); gc (B, H) is scratch for dL/dc_t,
    whose norm goes to parts_c; dpeep (3, H, float64) accumulates the peephole gradients.
    """
    T = hs.shape[0] - 1
    GH = dg.shape[2]
    no_c = dh[:0]
    scale = 0.0
    n = te - ts + 1
    for k in range(n):
        t = ts + k if reverse else te - k
        _, p, q = step_indices(T - 1 - t if reverse else t, T, reverse)
        if inj_lo <= t <= inj_hi:
            scale = inject(dh[b0:b1], dc[b0:b1], dy[t - dy_off, b0:b1], scale, renorm)
        if rec_lo <= t <= rec_hi:
            record_part(parts_h, t, dh[b0:b1], no_c)
            scales[t] = scale
        if variant == LSTM_CIFG:
            _bwd_cifg(acts[t], cs[q], cs[p], dh, dc, gc, dg[t], b0, b1)
        elif variant == LSTM_PEEPHOLE:
            _bwd_peephole(acts[t], cs[q], cs[p], peep, dh, dc, gc, dg[t], dpeep, b0, b1)
        else:
            _bwd_plain(acts[t], cs[q], cs[p], dh, dc, gc, dg[t], b0, b1)
        add_rows(dbias, dg[t], b0, b1)
        if rec_lo <= t <= rec_hi:
            record_part(parts_c, t, gc[b0:b1], no_c)
        rec_backward(dg, t, 0, whh_bp, GH, dh, 0.0, b0, b1)
        if renorm:
            scale = renormalize(dh, dc, scale)
    return scale
