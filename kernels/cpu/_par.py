"""The CPU kernels' parallel regions: everything that runs on Numba's threads.

Four ``prange`` wrappers, each one parallel region (used only for more than one chunk or
block; otherwise the work runs on the calling thread): the forward time loops and the backward
time loops (batch chunks: batch rows never interact in a recurrence, so each chunk runs its
whole loop on its own thread with no synchronization between steps), and the large matrix
products and their packing (blocks of rows or panels). The time-loop wrappers take the union
of the four cell families' arguments (``kind`` picks one; unused arrays are empty): a parallel
region costs about a second of compilation, one wrapper per family would cost four.

The threads are Numba's (``numba.set_num_threads``), started on first use by
kernels/_config.py.
"""

import numpy as np
from numba import prange

from .. import _config
from .._config import num_threads
from ..cells import GRU_RESET_BEFORE
from ._gemm import MR, mm, pack_n, pack_t, pack_unit_slices, packed_size, panels
from ._jit import jit_parallel
from ._simd import VBYTES
from .gru import gru_backward, gru_cho_backward, gru_cho_forward, gru_forward
from .lstm import lstm_backward, lstm_forward, lstm_forward_units
from .rnn import rnn_backward, rnn_forward

RNN, LSTM, GRU, GRU_CHO = 0, 1, 2, 3


def kernel_kind(spec):
    """The time-loop kernels that run a cell: the one place the CPU backend maps a cell to them
    (within a family, ``spec.variant`` is the kernels' own switch)."""
    if spec.family == "gru":
        return GRU_CHO if spec.variant == GRU_RESET_BEFORE else GRU
    return {"rnn": RNN, "lstm": LSTM}[spec.family]

# The thresholds that keep small work on one thread are in kernels/_config.py, read there at
# every call so that a test can lower them.


def _lanes(dtype):
    """Elements of dtype in one SIMD vector."""
    return VBYTES // np.dtype(dtype).itemsize


def unit_slices(T, B, H, G, dtype):
    """How many slices of hidden units the forward time loop runs on (1: no split)."""
    threads = num_threads()
    step = B * G * H * H
    if threads < 2 or B >= threads or step < _config.UNIT_STEP_MIN or T * step < _config.UNIT_LOOP_MIN:
        return 1
    return max(1, min(threads, H // _lanes(dtype)))  # a slice is at least one vector of units


def _unit_bounds(H, slices, lanes):
    """Slice boundaries over H hidden units, on whole vectors (no two threads write one cache
    line of h or c)."""
    nv = (H + lanes - 1) // lanes
    return np.array([min(H, lanes * (nv * s // slices)) for s in range(slices + 1)], np.int64)


def forward_units(xp, w_hh, slices, bias, peep, hs, cs, reverse, variant, training):
    """Run the LSTM forward time loop on ``slices`` slices of hidden units (see
    lstm_forward_units); packs each slice's rows of w_hh (G*H x H) first."""
    H = w_hh.shape[1]
    G = w_hh.shape[0] // H
    bounds = _unit_bounds(H, slices, _lanes(w_hh.dtype))
    segs = np.empty((slices, G, packed_size(w_hh, H, int(np.diff(bounds).max()))), w_hh.dtype)
    pack_unit_slices(w_hh, G, bounds, segs)
    sync = np.zeros(16 * bounds.shape[0], np.int64)
    _forward_units_par(xp, segs, bounds, bias, peep, hs, cs, reverse, variant, training, sync)


@jit_parallel
def _forward_units_par(xp, segs, bounds, bias, peep, hs, cs, reverse, variant, training, sync):
    for s in prange(bounds.shape[0] - 1):
        lstm_forward_units(xp, segs, bounds, bias, peep, hs, cs, reverse, variant, training, sync, s)


def time_loop_chunks(T, B, I, H, G, fused):
    """Batch chunks for a time loop (one per thread, at least one row each), or 1 when small."""
    work = T * B * (G * H * (H + (I if fused else 0)) + _config.GATE_WORK * H)
    return max(1, min(num_threads(), B)) if work >= _config.LOOP_PARALLEL_MIN else 1


def forward_chunks(kind, X, wih, xp, w1, w2, bias, b_hh, peep, hs, cs, aux, a, reverse, variant, training, fused,
                   nch):
    """Run the forward time loop of cell family ``kind`` on nch batch chunks side by side (one
    chunk: on this thread, without a parallel region).

    w1, w2: the packed recurrent weights (w_hh, or GRU-Cho's w_rz and w_n); cs (LSTM), aux (the
    GRUs' hn or r*h), a (GRU scratch): see the kernels.
    """
    if nch > 1:
        _forward_par(kind, X, wih, xp, w1, w2, bias, b_hh, peep, hs, cs, aux, a, reverse, variant, training, fused,
                     nch)
        return
    B = hs.shape[1]
    if kind == RNN:
        rnn_forward(X, wih, xp, w1, bias, hs, reverse, variant, fused, 0, B)
    elif kind == LSTM:
        lstm_forward(X, wih, xp, w1, bias, peep, hs, cs, reverse, variant, training, fused, 0, B)
    elif kind == GRU:
        gru_forward(X, wih, xp, w1, bias, b_hh, hs, aux, a, reverse, training, fused, 0, B)
    else:
        gru_cho_forward(X, wih, xp, w1, w2, bias, hs, aux, reverse, training, fused, 0, B)


@jit_parallel
def _forward_par(kind, X, wih, xp, w1, w2, bias, b_hh, peep, hs, cs, aux, a, reverse, variant, training, fused,
                   nch):
    B = hs.shape[1]
    for c in prange(nch):
        b0 = B * c // nch
        b1 = B * (c + 1) // nch
        if kind == RNN:
            rnn_forward(X, wih, xp, w1, bias, hs, reverse, variant, fused, b0, b1)
        elif kind == LSTM:
            lstm_forward(X, wih, xp, w1, bias, peep, hs, cs, reverse, variant, training, fused, b0, b1)
        elif kind == GRU:
            gru_forward(X, wih, xp, w1, bias, b_hh, hs, aux, a, reverse, training, fused, b0, b1)
        else:
            gru_cho_forward(X, wih, xp, w1, w2, bias, hs, aux, reverse, training, fused, b0, b1)


def backward_chunks(kind, hs, cs, acts, aux, w1, w2, peep, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te,
                    reverse, variant, dh, dc, renorm, dg, dg2, gc, parts_h, parts_c, scales, dbias, dpeep, nch):
    """Run the backward time loop of ``kind`` on nch batch chunks; returns chunk 0's log-scale.

    dg2: the GRU's dL/d(input side of n) or GRU-Cho's dL/d(r*h) scratch; parts_*, dbias and dpeep
    have one row per chunk.
    """
    if nch > 1:
        return _backward_par(kind, hs, cs, acts, aux, w1, w2, peep, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts,
                             te, reverse, variant, dh, dc, renorm, dg, dg2, gc, parts_h, parts_c, scales, dbias,
                             dpeep, nch)
    B = dh.shape[0]
    args = (dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse)
    if kind == RNN:
        return rnn_backward(hs, w1, *args, variant, dh, renorm, dg, parts_h[0], scales, dbias[0], 0, B)
    if kind == LSTM:
        return lstm_backward(hs, cs, acts, w1, peep, *args, variant, dh, dc, renorm, dg, gc, parts_h[0], parts_c[0],
                             scales, dbias[0], dpeep[0], 0, B)
    if kind == GRU:
        return gru_backward(hs, acts, aux, w1, *args, dh, renorm, dg, dg2, parts_h[0], scales, dbias[0], 0, B)
    return gru_cho_backward(hs, acts, w1, w2, *args, dh, renorm, dg, dg2, parts_h[0], scales, dbias[0], 0, B)


@jit_parallel
def _backward_par(kind, hs, cs, acts, aux, w1, w2, peep, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te,
                  reverse, variant, dh, dc, renorm, dg, dg2, gc, parts_h, parts_c, scales, dbias, dpeep, nch):
    B = dh.shape[0]
    scale = 0.0
    for c in prange(nch):
        b0 = B * c // nch
        b1 = B * (c + 1) // nch
        if kind == RNN:
            s = rnn_backward(hs, w1, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse, variant, dh,
                             renorm, dg, parts_h[c], scales, dbias[c], b0, b1)
        elif kind == LSTM:
            s = lstm_backward(hs, cs, acts, w1, peep, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse,
                              variant, dh, dc, renorm, dg, gc, parts_h[c], parts_c[c], scales, dbias[c], dpeep[c],
                              b0, b1)
        elif kind == GRU:
            s = gru_backward(hs, acts, aux, w1, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse, dh,
                             renorm, dg, dg2, parts_h[c], scales, dbias[c], b0, b1)
        else:
            s = gru_cho_backward(hs, acts, w1, w2, dy, dy_off, inj_lo, inj_hi, rec_lo, rec_hi, ts, te, reverse, dh,
                                 renorm, dg, dg2, parts_h[c], scales, dbias[c], b0, b1)
        scale += s if c == 0 else 0.0
    return scale


@jit_parallel
def _mm_blocks(M, N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, parts):
    blocks = (M + MR - 1) // MR
    for c in prange(parts):
        lo = min(M, blocks * c // parts * MR)
        hi = min(M, blocks * (c + 1) // parts * MR)
        mm(M, N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, lo, hi)


def mm_par(M, N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta):
    """_gemm.mm over all M rows of C, in blocks of rows on the threads when the product is large."""
    parts = min(num_threads(), (M + MR - 1) // MR) if M * N * K >= _config.PARALLEL_MIN else 1
    if parts <= 1:
        mm(M, N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, 0, M)
    else:
        _mm_blocks(M, N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, parts)


@jit_parallel
def _pack_blocks(S, s0, lds, K, N, Bp, transpose, parts):
    npan = panels(Bp, N)
    for c in prange(parts):
        p0 = npan * c // parts
        p1 = npan * (c + 1) // parts
        if transpose:
            pack_t(S, s0, lds, K, N, Bp, p0, p1)
        else:
            pack_n(S, s0, lds, K, N, Bp, p0, p1)


def pack(S, s0, lds, K, N, transpose=False):
    """B packed for _gemm.mm: B(k, j) = S[s0 + k*lds + j], or with transpose S[s0 + j*lds + k]
    (S flat). Large packs are split over the threads."""
    bp = np.empty(packed_size(S, K, N), S.dtype)
    parts = min(num_threads(), panels(bp, N)) if K * N >= _config.PARALLEL_MIN // 4 else 1
    if parts <= 1:
        (pack_t if transpose else pack_n)(S, s0, lds, K, N, bp, 0, panels(bp, N))
    else:
        _pack_blocks(S, s0, lds, K, N, bp, transpose, parts)
    return bp
