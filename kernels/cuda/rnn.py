"""Elman RNN (tanh or ReLU) on the GPU: the per-unit step of the forward and backward pass.

One call handles one hidden unit j of one batch row b at one step: the activation, given
the recurrent product (a dot product over a column of W_hh^T, or over a column of W_hh for
the error), which layer.py computes for several batch rows at once (_common.dot_cols,
dot_rows) as fwd_product and bwd_product describe it. layer.py wraps these in the per-step
kernels (one thread per unit and group of batch rows, one launch per step) and in the
persistent kernel (W_hh in shared memory, a grid barrier per step). Equations and buffers
mirror cpu/rnn.py; see there for the semantics.
"""

import math

from ..cells import RNN_RELU
from ._common import GATE, PROD, enter, jit, like

GATES = 1
FORWARD_PHASES = 1


@jit(device=True)
def fwd_product(ph, variant):
    """The forward step's recurrent product: (over aux instead of hs, first gate, gates)."""
    return False, 0, GATES


@jit(device=True)
def bwd_product(mode, variant, H):
    """The backward step's recurrent product: (over dgh instead of dg, at step t instead of
    tp, first row, end row) of W_hh."""
    return False, False, 0, H


@jit(device=True)
def fwd_unit(ph, xp, hs, cs, acts, aux, a, a1, a2, a3, b_hh, peep, t, p, q, cp, cq, gi, b, j, H, variant):
    v = a + xp[t, b, j] + b_hh[j]
    if variant == RNN_RELU:
        # "not v < 0" keeps NaN as NaN, as on the CPU.
        if not v < 0:
            hs[q, b, j] = v
        else:
            hs[q, b, j] = 0
    else:
        hs[q, b, j] = math.tanh(v)


@jit(device=True)
def bwd_unit(mode, hs, cs, acts, aux, prod, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0, inj,
             t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b, j, H):
    """Returns (dL/dh_t, 0), in the array type, for the norms (PROD mode: the raw carry, 0).
    prod: the recurrent product (bwd_product), where mode != GATE and has_prev."""
    raw = dh[b, j]
    one = like(raw, 1)  # not 1 or 0.0: keeps the float32 kernels' arithmetic float32
    zero = one - one
    if mode != GATE and has_prev:
        raw = raw + prod
    if mode == PROD:
        dh[b, j] = raw
        return raw, zero
    g = raw * zero
    if inj:
        g = dy[t - dy_off, b, col0 + j]
    v, _, s = enter(raw, zero, has_prev, renorm, inj, g, ngs, nrm, scl, t, tp)
    if renorm and b == 0 and j == 0:
        scl[t] = s
    h = hs[q, b, j]
    if variant == RNN_RELU:
        # h > 0: slope 1; h == 0: slope 0; NaN: NaN, so a NaN step stays visible.
        if h > 0:
            dg[t, b, j] = v
        elif h == 0:
            dg[t, b, j] = v * zero
        else:
            dg[t, b, j] = h
    else:
        dg[t, b, j] = v * (one - h * h)
    dh[b, j] = 0
    return v, zero
