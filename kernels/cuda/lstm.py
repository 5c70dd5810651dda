"""The LSTM family on the GPU (plain, peephole, CIFG): the per-unit step of the forward and
backward pass, fusing the G gate dot products with the gate arithmetic.

Same buffers and equations as cpu/lstm.py. The peephole gradients are accumulated per
(batch row, unit) in dpeep (B, 3, H), which each thread owns, and summed over the batch
by the driver, so no two threads ever add into one element.
"""

import math

from ..cells import LSTM_CIFG, LSTM_PEEPHOLE
from ._common import GATE, PROD, enter, jit, like, sigmoid

GATES = 4  # lstm_cifg uses 3; the kernels take the variant
FORWARD_PHASES = 1


@jit(device=True)
def fwd_product(ph, variant):
    """The forward step's recurrent product: (over aux instead of hs, first gate, gates)."""
    return False, 0, 3 if variant == LSTM_CIFG else 4


@jit(device=True)
def bwd_product(mode, variant, H):
    """The backward step's recurrent product: (over dgh instead of dg, at step t instead of
    tp, first row, end row) of W_hh."""
    return False, False, 0, (3 if variant == LSTM_CIFG else 4) * H


@jit(device=True)
def fwd_unit(ph, xp, hs, cs, acts, aux, a0, a1, a2, a3, b_hh, peep, t, p, q, cp, cq, gi, b, j, H, variant):
    """One unit's gates and state, given its recurrent products a0..a3 (fwd_product's gates)."""
    cifg = variant == LSTM_CIFG
    peephole = variant == LSTM_PEEPHOLE
    c_prev = cs[cp, b, j]
    one = like(c_prev, 1)  # not 1: keeps the float32 kernels' arithmetic float32
    if cifg:
        f = sigmoid(a0 + xp[t, b, j] + b_hh[j])
        g = math.tanh(a1 + xp[t, b, H + j] + b_hh[H + j])
        ao = a2 + xp[t, b, 2 * H + j] + b_hh[2 * H + j]
        i = one - f
    else:
        ai = a0 + xp[t, b, j] + b_hh[j]
        af = a1 + xp[t, b, H + j] + b_hh[H + j]
        g = math.tanh(a2 + xp[t, b, 2 * H + j] + b_hh[2 * H + j])
        ao = a3 + xp[t, b, 3 * H + j] + b_hh[3 * H + j]
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


@jit(device=True)
def bwd_unit(mode, hs, cs, acts, aux, prod, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0, inj,
             t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b, j, H):
    """Returns (dL/dh_t, dL/dc_t), in the array type, for the norms (PROD mode: the raw carry (dh, dc)).
    prod: the recurrent product (bwd_product), where mode != GATE and has_prev."""
    cifg = variant == LSTM_CIFG
    peephole = variant == LSTM_PEEPHOLE
    raw = dh[b, j]
    one = like(raw, 1)  # not 1: keeps the float32 kernels' arithmetic float32
    zero = one - one
    if mode != GATE and has_prev:
        raw = raw + prod
    dcv = dc[b, j]
    if mode == PROD:
        dh[b, j] = raw
        return raw, dcv
    g_in = raw * zero
    if inj:
        g_in = dy[t - dy_off, b, col0 + j]
    g_h, dcv, s = enter(raw, dcv, has_prev, renorm, inj, g_in, ngs, nrm, scl, t, tp)
    if renorm and b == 0 and j == 0:
        scl[t] = s
    c = cs[q, b, j]
    c_prev = cs[p, b, j]
    if cifg:
        f = acts[t, b, j]
        g = acts[t, b, H + j]
        o = acts[t, b, 2 * H + j]
        i = one - f
    else:
        i = acts[t, b, j]
        f = acts[t, b, H + j]
        g = acts[t, b, 2 * H + j]
        o = acts[t, b, 3 * H + j]
    tc = math.tanh(c)
    dao = g_h * tc * o * (one - o)
    g_c = dcv + g_h * o * (one - tc * tc)
    if peephole:
        g_c += dao * peep[2, j]
    if cifg:
        daf = g_c * (c_prev - g) * f * (one - f)
        dag = g_c * i * (one - g * g)
        dg[t, b, j] = daf
        dg[t, b, H + j] = dag
        dg[t, b, 2 * H + j] = dao
        dc[b, j] = g_c * f
    else:
        dai = g_c * g * i * (one - i)
        daf = g_c * c_prev * f * (one - f)
        dag = g_c * i * (one - g * g)
        dg[t, b, j] = dai
        dg[t, b, H + j] = daf
        dg[t, b, 2 * H + j] = dag
        dg[t, b, 3 * H + j] = dao
        dc_prev = g_c * f
        if peephole:
            dc_prev += dai * peep[0, j] + daf * peep[1, j]
            dpeep[b, 0, j] += dai * c_prev
            dpeep[b, 1, j] += daf * c_prev
            dpeep[b, 2, j] += dao * c
        dc[b, j] = dc_prev
    dh[b, j] = 0
    return g_h, g_c
