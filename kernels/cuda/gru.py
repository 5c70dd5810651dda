"""The GRU family on the GPU: reset-after (PyTorch/cuDNN) and reset-before (Cho et al. 2014).

Per-unit steps as in cpu/gru.py. Reset-after fuses its single (H, 3H) recurrent product
with the gates. Reset-before cannot: the n-block product takes r * h_{t-1} of every unit,
so a step has two phases (two launches, or two grid barriers in the persistent kernel):
forward phase 0 computes r, z and r * h_{t-1}, phase 1 the n block and h_t; backward, the
first phase (FUSED/GATE mode) takes the carry to dL/da_n and PHASE_B does the n-block
product and the r, z gates.
"""

import math

from ..cells import GRU_RESET_BEFORE
from ._common import GATE, PHASE_B, PROD, enter, jit, like, sigmoid

GATES = 3


def forward_phases(variant):
    return 2 if variant == GRU_RESET_BEFORE else 1


@jit(device=True)
def fwd_product(ph, variant):
    """The forward step's recurrent product: (over aux instead of hs, first gate, gates).
    Reset-before: phase 0 the r, z gates over h_{t-1}, phase 1 the n gate over r * h_{t-1}."""
    if variant != GRU_RESET_BEFORE:
        return False, 0, 3
    if ph == 0:
        return False, 0, 2
    return True, 2, 1


@jit(device=True)
def bwd_product(mode, variant, H):
    """The backward step's recurrent product: (over dgh instead of dg, at step t instead of
    tp, first row, end row) of W_hh. Reset-after: over dgh, all rows; reset-before: over dg,
    the r, z rows, and in PHASE_B the n rows at step t."""
    if variant != GRU_RESET_BEFORE:
        return True, False, 0, 3 * H
    if mode == PHASE_B:
        return False, True, 2 * H, 3 * H
    return False, False, 0, 2 * H


@jit(device=True)
def fwd_unit(ph, xp, hs, cs, acts, aux, a0, a1, a2, a3, b_hh, peep, t, p, q, cp, cq, gi, b, j, H, variant):
    """One unit's gates and state, given its recurrent products a0..a3 (fwd_product's gates)."""
    one = like(hs[p, b, j], 1)  # not 1: keeps the float32 kernels' arithmetic float32
    if variant != GRU_RESET_BEFORE:
        r = sigmoid(xp[t, b, j] + a0 + b_hh[j])
        z = sigmoid(xp[t, b, H + j] + a1 + b_hh[H + j])
        hn_v = a2 + b_hh[2 * H + j]
        nv = math.tanh(xp[t, b, 2 * H + j] + r * hn_v)
        hs[q, b, j] = (one - z) * nv + z * hs[p, b, j]
        acts[gi, b, j] = r
        acts[gi, b, H + j] = z
        acts[gi, b, 2 * H + j] = nv
        aux[gi, b, j] = hn_v
    elif ph == 0:
        r = sigmoid(xp[t, b, j] + a0 + b_hh[j])
        acts[gi, b, j] = r
        acts[gi, b, H + j] = sigmoid(xp[t, b, H + j] + a1 + b_hh[H + j])
        aux[gi, b, j] = r * hs[p, b, j]
    else:
        an = a0
        z = acts[gi, b, H + j]
        nv = math.tanh(xp[t, b, 2 * H + j] + an + b_hh[2 * H + j])
        acts[gi, b, 2 * H + j] = nv
        hs[q, b, j] = (one - z) * nv + z * hs[p, b, j]


@jit(device=True)
def bwd_unit(mode, hs, cs, acts, aux, prod, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0, inj,
             t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b, j, H):
    """Returns (dL/dh_t, 0), in the array type, for the norms (PROD mode: the raw carry, 0).

    Reset-after: dg receives dL/d(input-side pre-activations) and dgh dL/d(W_hh h + b_hh),
    which differ in the n block by the factor r; the recurrent product runs over dgh.
    Reset-before: dg receives dL/d(pre-activations); the product over its r, z columns.
    prod: the recurrent product (bwd_product), in PHASE_B and where mode != GATE and has_prev.
    """
    cho = variant == GRU_RESET_BEFORE
    one = like(dh[b, j], 1)  # not 1: keeps the float32 kernels' arithmetic float32
    zero = one - one
    if mode == PHASE_B:
        drh = prod
        r = acts[t, b, j]
        z = acts[t, b, H + j]
        nv = acts[t, b, 2 * H + j]
        gv = dh[b, j]
        hp = hs[p, b, j]
        dg[t, b, j] = drh * hp * r * (one - r)
        dg[t, b, H + j] = gv * (hp - nv) * z * (one - z)
        dh[b, j] = gv * z + drh * r
        return zero, zero
    raw = dh[b, j]
    if mode != GATE and has_prev:
        raw = raw + prod
    if mode == PROD:
        dh[b, j] = raw
        return raw, zero
    g_in = raw * zero
    if inj:
        g_in = dy[t - dy_off, b, col0 + j]
    gv, _, s = enter(raw, zero, has_prev, renorm, inj, g_in, ngs, nrm, scl, t, tp)
    if renorm and b == 0 and j == 0:
        scl[t] = s
    z = acts[t, b, H + j]
    nv = acts[t, b, 2 * H + j]
    dan = gv * (one - z) * (one - nv * nv)
    if cho:
        dg[t, b, 2 * H + j] = dan
        dh[b, j] = gv  # PHASE_B needs the whole dL/dh_t
    else:
        r = acts[t, b, j]
        dar = dan * aux[t, b, j] * r * (one - r)
        daz = gv * (hs[p, b, j] - nv) * z * (one - z)
        dg[t, b, j] = dar
        dg[t, b, H + j] = daz
        dg[t, b, 2 * H + j] = dan
        dgh[t, b, j] = dar
        dgh[t, b, H + j] = daz
        dgh[t, b, 2 * H + j] = dan * r
        dh[b, j] = gv * z
    return gv, zero
