"""One layer, one direction, on the GPU: the launch structure around the per-unit steps.

Forward: the input projection of all T steps is one tiled matmul (_gemm.gemm), then
the time loop runs either

- per step: one launch per step (two for the reset-before GRU), one thread per unit j and
  group of ROWS (4) batch rows, each computing its unit's G recurrent dot products for the
  group's rows, loading each weight once for them, then the rows' gates (``_step_kernels``),
  through a prepared launch that packs the arguments once per loop (``forward_steps``,
  _launch.py); or
- persistent (Diamos et al. 2016): one cooperative launch for all T steps. Block k owns
  hidden units [k*Jb, (k+1)*Jb) for every batch row (a thread per unit and group of rows, as
  per step, the group's rows interleaved) and stages their columns of W_hh in shared memory
  once; the products read h_{t-1} (dL/da) from an (H, B) ((G*H, B)) copy the threads fill as
  they write the state, so a warp's loads are consecutive addresses; a grid-wide barrier
  (grid.sync()) separates the steps (``_persistent_kernels``).

Backward through a window [ts, te] has the same two structures. A step's launch first
takes the previous step's dL/da through W_hh (the recurrent product) into the carry, adds
dL/dh_t, then runs the gate derivatives, writing dL/da_t for the weight gradients, which
``backward_layer`` forms afterwards with large matmuls (_gemm.py). The norms ‖dL/dh_t‖ and
‖dL/dc_t‖ are reduced per block in shared memory, in float64 and safe from under- and
overflow, into one partial per block that the backend combines (_common.block_norm).
log_norms mode splits each backward step in two (PROD, then GATE: see _common), since
renormalizing the carry needs its norm over all units first.

Neither structure uses warp-level intrinsics, so both run in Numba's CUDA simulator; there a
cooperative grid has one block, so the persistent kernel runs with Jb = H. On a GPU the
persistent kernel is chosen ("auto") wherever its W_hh slices fit the shared memory of a
co-resident grid (plan_persistent; on an H100 at B = 64 an LSTM up to H = 1320 in float32, 924
in float64: README's table, which tests/test_cuda_resources.py recomputes), else the per-step
launches run. The two agree to rounding: each unit's dot products run in the same order.
"""

import functools
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import cuda
from numba.cuda import types as cuda_types

from .._backend import LayerTape
from .._config import PERSIST_STATIC_SMEM, SMEM_LIMIT, SMEM_OPT_IN, cuda_min_blocks
from ..cells import GRU_RESET_BEFORE
from . import _common as gc
from . import gru, lstm, rnn
from ._common import (
    FUSED,
    GATE,
    PHASE_B,
    PROD,
    ROWS,
    block_combined_norm,
    block_norm,
    dot_cols,
    dot_rows,
    like,
    norm_acc,
)
from ._gemm import colsum, gemm
from ._launch import StepLaunch

FAMILIES = {"rnn": rnn, "lstm": lstm, "gru": gru}

_UNAVAILABLE = []  # why the persistent kernel could not be compiled or queried, once it failed


def forward_phases(spec):
    return 2 if spec.family == "gru" and spec.variant == GRU_RESET_BEFORE else 1


# -- kernels ----------------------------------------------------------------------------------

@functools.cache
def _row_steps(family):
    """(fwd_rows, bwd_rows): one unit's step for a group of up to ROWS batch rows, the device
    functions both loop structures run. The recurrent products of all the rows come first, each
    weight loaded once for the group (batch blocking, _common.dot_cols/dot_rows), then each
    row's gate arithmetic (the cell's fwd_unit/bwd_unit)."""
    mod = FAMILIES[family]
    fwd_unit, bwd_unit, fwd_product, bwd_product = mod.fwd_unit, mod.bwd_unit, mod.fwd_product, mod.bwd_product

    @gc.jit(device=True)
    def fwd_rows(ph, xp, hs, cs, acts, aux, hsrc, hi, asrc, ai, w, ldw, wb, wcs, b_hh, peep, t, p, q, cp, cq, gi,
                 b0, rs, nr, j, H, variant):
        """Unit j's forward step (phase ph) for the nr rows b0, b0 + rs, ...; the product reads
        h_{t-1} as hsrc[hi] (aux[gi] as asrc[ai]): hs and aux themselves in the step kernels,
        the persistent kernels' (H, B) copy through its swapped view."""
        from_aux, k0, G = fwd_product(ph, variant)
        src = hsrc
        i0 = hi
        if from_aux:
            src = asrc
            i0 = ai
        s = dot_cols(src, i0, b0, rs, nr, w, ldw, wb + k0 * wcs, wcs, H, G)
        # Unrolled by hand: constant tuple indices keep the 16 sums in registers.
        fwd_unit(ph, xp, hs, cs, acts, aux, s[0], s[1], s[2], s[3], b_hh, peep, t, p, q, cp, cq, gi, b0, j, H,
                 variant)
        if nr > 1:
            fwd_unit(ph, xp, hs, cs, acts, aux, s[4], s[5], s[6], s[7], b_hh, peep, t, p, q, cp, cq, gi, b0 + rs, j,
                     H, variant)
        if nr > 2:
            fwd_unit(ph, xp, hs, cs, acts, aux, s[8], s[9], s[10], s[11], b_hh, peep, t, p, q, cp, cq, gi,
                     b0 + 2 * rs, j, H, variant)
        if nr > 3:
            fwd_unit(ph, xp, hs, cs, acts, aux, s[12], s[13], s[14], s[15], b_hh, peep, t, p, q, cp, cq, gi,
                     b0 + 3 * rs, j, H, variant)

    @gc.jit(device=True)
    def bwd_row(mode, hs, cs, acts, aux, prod, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0, inj, t, tp, p, q,
                has_prev, variant, renorm, ngs, nrm, scl, b, j, H, merge, mh, sh, ph, mc, sc, pc):
        """One row's gate arithmetic, its (dh, dc) added to the norm accumulators (both to the
        first with merge: the raw carry's norm is over (dh, dc) together)."""
        vh, vc = bwd_unit(mode, hs, cs, acts, aux, prod, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0, inj, t, tp,
                          p, q, has_prev, variant, renorm, ngs, nrm, scl, b, j, H)
        mh, sh, ph = norm_acc(vh, mh, sh, ph)
        if merge:
            mh, sh, ph = norm_acc(vc, mh, sh, ph)
        else:
            mc, sc, pc = norm_acc(vc, mc, sc, pc)
        return mh, sh, ph, mc, sc, pc

    @gc.jit(device=True)
    def bwd_rows(mode, hs, cs, acts, aux, w, ldw, wb, esrc, egsrc, ei_t, ei_tp, dg, dgh, dh, dc, dpeep, peep, dy,
                 dy_off, col0, inj, t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b0, rs, nr, j, H, merge, mh,
                 sh, ph, mc, sc, pc):
        """Unit j's backward step (mode) for the nr rows b0, b0 + rs, ...; returns the norm
        accumulators. The product reads dL/da of step tp (t) as esrc[ei_tp] (esrc[ei_t]), egsrc
        for dgh: dg, dgh themselves in the step kernels, the persistent kernels' (G*H, B) copy."""
        zero = like(dh[b0, j], 0)
        p0 = p1 = p2 = p3 = zero
        if mode == PHASE_B or (mode != GATE and has_prev):
            from_dgh, at_t, r0, r1 = bwd_product(mode, variant, H)
            src = esrc
            if from_dgh:
                src = egsrc
            i0 = ei_tp
            if at_t:
                i0 = ei_t
            p0, p1, p2, p3 = dot_rows(src, i0, b0, rs, nr, w, ldw, wb, r0, r1)
        mh, sh, ph, mc, sc, pc = bwd_row(mode, hs, cs, acts, aux, p0, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0,
                                         inj, t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b0, j, H, merge,
                                         mh, sh, ph, mc, sc, pc)
        if nr > 1:
            mh, sh, ph, mc, sc, pc = bwd_row(mode, hs, cs, acts, aux, p1, dg, dgh, dh, dc, dpeep, peep, dy, dy_off,
                                             col0, inj, t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b0 + rs,
                                             j, H, merge, mh, sh, ph, mc, sc, pc)
        if nr > 2:
            mh, sh, ph, mc, sc, pc = bwd_row(mode, hs, cs, acts, aux, p2, dg, dgh, dh, dc, dpeep, peep, dy, dy_off,
                                             col0, inj, t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b0 + 2 * rs,
                                             j, H, merge, mh, sh, ph, mc, sc, pc)
        if nr > 3:
            mh, sh, ph, mc, sc, pc = bwd_row(mode, hs, cs, acts, aux, p3, dg, dgh, dh, dc, dpeep, peep, dy, dy_off,
                                             col0, inj, t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, b0 + 3 * rs,
                                             j, H, merge, mh, sh, ph, mc, sc, pc)
        return mh, sh, ph, mc, sc, pc

    @gc.jit(device=True)
    def stash_err(mode_next, variant, H, dg, dgh, t, ev, slot, b0, rs, nr, j):
        """Copy unit j's entries of dL/da_t (nr rows b0, b0 + rs, ...) that the product of mode_next
        reads into slot of the swapped copy ev (the persistent backward)."""
        from_dgh, _, r0, r1 = bwd_product(mode_next, variant, H)
        src = dg
        if from_dgh:
            src = dgh
        stash_rows(src, t, r0 + j, r1, H, ev, slot, b0, rs, nr)

    return fwd_rows, bwd_rows, stash_err


@gc.jit(device=True)
def stash_rows(src, i0, c, c1, cs, dst, slot, b0, rs, nr):
    """dst[slot, b, k] = src[i0, b, k] for the nr rows b = b0, b0 + rs, ... and the columns k = c,
    c + cs, ... < c1. dst: a swapped view (_common.swapped), so the values land at element (k, b)
    of the buffer, where the next product's warps read consecutive batch rows."""
    while c < c1:
        for r in range(nr):
            b = b0 + r * rs
            dst[slot, b, c] = src[i0, b, c]
        c += cs


def row_groups(B):
    """Groups of up to ROWS batch rows: the step kernels run one thread per (group, unit)."""
    return -(-B // ROWS)


def _step_grid(B, H):
    """(blocks, threads per block) of a per-step launch: one thread per (row group, unit), one pass."""
    n = row_groups(B) * H
    tpb = gc.tpb_for(n)
    return -(-n // tpb), tpb


@functools.cache
def _step_kernels(family):
    fwd_rows, bwd_rows, _ = _row_steps(family)
    has_c = family == "lstm"

    # Thread u owns unit j = u % H of the batch rows [b0, b0 + ROWS): consecutive threads take
    # consecutive units, so a warp's weight loads are consecutive addresses and its loads of h
    # (the same element for the warp's threads of one group) a broadcast, which L1 serves; h is
    # not staged in shared memory, which would take a block barrier and ROWS * H elements.
    # Grid-stride loops: correct for any grid; the launches size it for one pass (row_groups(B) * H).

    @gc.jit(launch_bounds=cuda_min_blocks("fwd_step", family))
    def fwd_step(ph, xp, hs, cs, acts, aux, w, b_hh, peep, t, p, q, cp, cq, gi, variant):
        B = hs.shape[1]
        H = hs.shape[2]
        u = cuda.grid(1)
        while u < (B + ROWS - 1) // ROWS * H:
            g = u // H
            j = u - g * H
            b0 = g * ROWS
            # w: W_hh^T (H, G*H) flattened; gate k of unit j is column k*H + j.
            fwd_rows(ph, xp, hs, cs, acts, aux, hs, p, aux, gi, w, xp.shape[2], j, H, b_hh, peep, t, p, q, cp, cq, gi,
                     b0, 1, min(ROWS, B - b0), j, H, variant)
            u += cuda.gridsize(1)

    @gc.jit(launch_bounds=cuda_min_blocks("bwd_step", family))
    def bwd_step(mode, hs, cs, acts, aux, w, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0, inj, rec, acc_ss,
                 t, tp, has_prev, reverse, variant, renorm, ngs, ssp, scl, nrm_h, nrm_c):
        B = hs.shape[1]
        H = hs.shape[2]
        if reverse:
            p = t + 1
            q = t
        else:
            p = t
            q = t + 1
        u = cuda.grid(1)
        mh = sh = ph = mc = sc = pc = 0.0  # f64: norms
        nrm = 0.0  # f64: norms
        if mode == GATE and renorm and has_prev:  # uniform: the whole block calls it
            nrm = block_combined_norm(ssp, t, cuda.gridDim.x)
        while u < (B + ROWS - 1) // ROWS * H:
            g = u // H
            j = u - g * H
            b0 = g * ROWS
            # w: W_hh (G*H, H) flattened; unit j's column is j, row stride H.
            mh, sh, ph, mc, sc, pc = bwd_rows(mode, hs, cs, acts, aux, w, H, j, dg, dgh, t, tp, dg, dgh, dh, dc, dpeep,
                                              peep, dy, dy_off, col0, inj, t, tp, p, q, has_prev, variant, renorm,
                                              ngs, nrm, scl, b0, 1, min(ROWS, B - b0), j, H, acc_ss, mh, sh, ph, mc,
                                              sc, pc)
            u += cuda.gridsize(1)  # f64: norms (the optimizer moves norm_acc's float64 division here)
        # Every thread of the block reaches the reductions (uniform conditions).
        if acc_ss:
            block_norm(mh, sh, ph, ssp, t)
        if rec:
            block_norm(mh, sh, ph, nrm_h, t)
            if has_c:
                block_norm(mc, sc, pc, nrm_c, t)

    return fwd_step, bwd_step


@functools.cache
def _persistent_kernels(family, dtype_name):
    fwd_rows, bwd_rows, stash_err = _row_steps(family)
    has_c = family == "lstm"
    nbt = getattr(cuda_types, dtype_name)  # a Numba type: the simulator sizes dynamic shared arrays by it

    # Work item e of a block: unit jl = e % nj of the block's slice and row group g = e // nj, whose
    # rows are interleaved, g, g + ng, g + 2 ng, g + 3 ng (ng groups): the consecutive groups of a
    # warp (32 / nj of them; nj is 1-21 at B = 64 on an H100) take consecutive rows. The products
    # read h_{t-1} (dL/da) from an (H, B) ((G*H, B)) copy, sv (ev), which each thread fills with the
    # values it has just written (stash_rows, stash_err; read back by the thread that wrote them, no
    # barrier), so one load instruction of a warp reads consecutive addresses instead of one row of
    # hs (dg) per group, H (G*H) elements apart: _resources.product_traffic, README. Slots: the
    # forward's h copy alternates between 0 and 1 (a step reads one while writing the other), 2
    # holds the reset-before GRU's r * h_{t-1}; the backward's alternates between 0 and 1.

    @gc.jit(launch_bounds=cuda_min_blocks("fwd_persist", family, dtype_name))
    def fwd_persist(xp, hs, cs, acts, aux, w_t, b_hh, peep, reverse, training, variant, G, nph, Jb, sv):
        ws = cuda.shared.array(0, nbt)
        T = xp.shape[0]
        B = hs.shape[1]
        H = hs.shape[2]
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        j0 = cuda.blockIdx.x * Jb
        nj = min(Jb, H - j0)
        ng = (B + ROWS - 1) // ROWS
        ldw = G * Jb
        # The block's columns of W_hh^T, gate-major: ws[m*G*Jb + k*Jb + jl] = W_hh^T[m, k*H + j0 + jl].
        e = tid
        while e < H * G * nj:
            m = e // (G * nj)
            r = e - m * G * nj
            k = r // nj
            jl = r - k * nj
            ws[m * ldw + k * Jb + jl] = w_t[m, k * H + j0 + jl]
            e += nt
        p0 = 0
        if reverse:
            p0 = T
        e = tid
        while e < nj * ng:  # h_0 into slot 0
            g = e // nj
            jl = e - g * nj
            stash_rows(hs, p0, j0 + jl, j0 + jl + 1, H, sv, 0, g, ng, (B - g + ng - 1) // ng)
            e += nt
        grid = cuda.cg.this_grid()
        grid.sync()  # the block's W_hh columns, and every block's part of h_0
        for k in range(T):
            if reverse:
                t = T - 1 - k
                p = t + 1
                q = t
            else:
                t = k
                p = k
                q = k + 1
            if training:
                cp = p
                cq = q
                gi = t
            else:
                cp = k % 2
                cq = 1 - k % 2
                gi = 0
            for ph in range(nph):
                e = tid
                while e < nj * ng:
                    g = e // nj
                    jl = e - g * nj
                    nr = (B - g + ng - 1) // ng
                    fwd_rows(ph, xp, hs, cs, acts, aux, sv, k % 2, sv, 2, ws, ldw, jl, Jb, b_hh, peep, t, p, q, cp, cq,
                             gi, g, ng, nr, j0 + jl, H, variant)
                    if ph == nph - 1:
                        stash_rows(hs, q, j0 + jl, j0 + jl + 1, H, sv, (k + 1) % 2, g, ng, nr)
                    else:  # the reset-before GRU's phase 0: r * h_{t-1}, for phase 1
                        stash_rows(aux, gi, j0 + jl, j0 + jl + 1, H, sv, 2, g, ng, nr)
                    e += nt
                grid.sync()

    @gc.jit(launch_bounds=cuda_min_blocks("bwd_persist", family, dtype_name))
    def bwd_persist(hs, cs, acts, aux, w_hh, dg, dgh, dh, dc, dpeep, peep, dy, dy_off, col0, inj_lo, inj_hi,
                    rec_lo, rec_hi, ts, te, reverse, variant, renorm, ngs, ssp, scl, nrm_h, nrm_c, cho, carry_out, Jb,
                    ev):
        ws = cuda.shared.array(0, nbt)
        B = hs.shape[1]
        H = hs.shape[2]
        GH = w_hh.shape[0]
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        j0 = cuda.blockIdx.x * Jb
        nj = min(Jb, H - j0)
        ng = (B + ROWS - 1) // ROWS
        # The block's columns of W_hh: ws[r*Jb + jl] = W_hh[r, j0 + jl].
        e = tid
        while e < GH * nj:
            r = e // nj
            jl = e - r * nj
            ws[r * Jb + jl] = w_hh[r, j0 + jl]
            e += nt
        cuda.syncthreads()
        grid = cuda.cg.this_grid()
        nbk = cuda.gridDim.x
        n = te - ts + 1
        t = ts
        # What the product after a gate step reads: PHASE_B's n rows (reset-before GRU), else the
        # next step's product rows (the same in FUSED and PROD mode).
        nxt = FUSED
        if cho:
            nxt = PHASE_B
        mh = sh = ph = mc = sc = pc = 0.0  # f64: norms
        for k in range(n):
            if reverse:
                t = ts + k
                tp = t - 1
                p = t + 1
                q = t
            else:
                t = te - k
                tp = t + 1
                p = t
                q = t + 1
            has_prev = k > 0  # f64: norms (the optimizer moves norm_acc's float64 division here)
            inj = inj_lo <= t and t <= inj_hi
            rec = rec_lo <= t and t <= rec_hi
            # ev's slot of step t's dL/da; step tp's is the other. (Integer arithmetic only: the marks are for
            # the float32 LSTM, where the optimizer hoists a loop-invariant part of a float64 division of the
            # norm machinery, rcp.rn.f64 and mul.f64, to these lines.)
            cur = k % 2  # f64: norms
            prv = 1 - cur  # f64: norms
            nrm = 0.0  # f64: norms
            if renorm and has_prev:
                mh = sh = ph = mc = sc = pc = 0.0  # f64: norms
                e = tid
                while e < nj * ng:
                    g = e // nj
                    jl = e - g * nj
                    mh, sh, ph, mc, sc, pc = bwd_rows(PROD, hs, cs, acts, aux, ws, Jb, jl, ev, ev, cur, prv, dg, dgh,
                                                      dh, dc, dpeep, peep, dy, dy_off, col0, inj, t, tp, p, q,
                                                      has_prev, variant, renorm, ngs, nrm, scl, g, ng,
                                                      (B - g + ng - 1) // ng, j0 + jl, H, True, mh, sh, ph, mc, sc, pc)
                    e += nt
                block_norm(mh, sh, ph, ssp, t)
                grid.sync()
            mode = GATE if renorm else FUSED
            if renorm and has_prev:  # after the barrier that completed ssp[t]
                nrm = block_combined_norm(ssp, t, nbk)
            mh = sh = ph = mc = sc = pc = 0.0  # f64: norms
            e = tid
            while e < nj * ng:
                g = e // nj
                jl = e - g * nj
                nr = (B - g + ng - 1) // ng
                mh, sh, ph, mc, sc, pc = bwd_rows(mode, hs, cs, acts, aux, ws, Jb, jl, ev, ev, cur, prv, dg, dgh, dh,
                                                  dc, dpeep, peep, dy, dy_off, col0, inj, t, tp, p, q, has_prev,
                                                  variant, renorm, ngs, nrm, scl, g, ng, nr, j0 + jl, H, False, mh, sh,
                                                  ph, mc, sc, pc)
                stash_err(nxt, variant, H, dg, dgh, t, ev, cur, g, ng, nr, j0 + jl)
                e += nt
            if rec:
                block_norm(mh, sh, ph, nrm_h, t)
                if has_c:
                    block_norm(mc, sc, pc, nrm_c, t)
            grid.sync()
            if cho:
                e = tid
                while e < nj * ng:
                    g = e // nj
                    jl = e - g * nj
                    nr = (B - g + ng - 1) // ng
                    bwd_rows(PHASE_B, hs, cs, acts, aux, ws, Jb, jl, ev, ev, cur, prv, dg, dgh, dh, dc, dpeep, peep, dy,
                             dy_off, col0, inj, t, tp, p, q, has_prev, variant, renorm, ngs, nrm, scl, g, ng, nr,
                             j0 + jl, H, False, mh, sh, ph, mc, sc, pc)
                    stash_err(FUSED, variant, H, dg, dgh, t, ev, cur, g, ng, nr, j0 + jl)
                    e += nt
                grid.sync()
        if carry_out:
            # What leaves the window: the last step's error through W_hh, plus the element-wise carry.
            e = tid
            while e < nj * ng:
                g = e // nj
                jl = e - g * nj
                bwd_rows(PROD, hs, cs, acts, aux, ws, Jb, jl, ev, ev, (n - 1) % 2, (n - 1) % 2, dg, dgh, dh, dc, dpeep,
                         peep, dy, dy_off, col0, False, t, t, t, t, True, variant, False, ngs, nrm, scl, g, ng,
                         (B - g + ng - 1) // ng, j0 + jl, H, False, mh, sh, ph, mc, sc, pc)
                e += nt

    return fwd_persist, bwd_persist


# -- the persistent plan ------------------------------------------------------------------------

def plan_persistent(H, B, col_bytes, static_smem, smem_cap, coop_blocks, tpb_for=None, rows=1):
    """(nblocks, tpb, Jb, smem) for a persistent launch over H units, or None where none fits.

    A pure function of its arguments. col_bytes: shared memory of one hidden unit's column of
    W_hh (all gates); static_smem: the kernel's static shared memory; smem_cap: what a block
    may use in all (SMEM_LIMIT, or the device's opt-in limit); coop_blocks(tpb, smem): how
    many blocks of tpb threads and smem dynamic bytes fit co-resident on the device. The
    smallest slice Jb (the most blocks, the least serial work per block) whose grid fits wins.
    rows: batch rows per thread (the kernels take ROWS), so a block has Jb * ceil(B / rows) threads' work.
    """
    tpb_for = tpb_for or gc.tpb_for
    jb_max = min(H, (smem_cap - static_smem) // col_bytes)
    prev = None
    for Jb in range(1, jb_max + 1):
        nblocks = -(-H // Jb)
        if nblocks == prev:  # the same grid with more units per block: no better
            continue
        prev = nblocks
        tpb = tpb_for(Jb * -(-B // rows))
        smem = Jb * col_bytes
        if nblocks <= coop_blocks(tpb, smem):
            return nblocks, tpb, Jb, smem
    return None


# H100 SXM (sm_90) figures, for the documented limits (persistent_h_limit): NVIDIA's
# occupancy calculator with these reproduces the driver's answer.
H100 = {"sms": 132, "smem_per_sm": 228 * 1024, "smem_optin": 227 * 1024, "smem_reserved": 1024,
        "regs_per_sm": 65536, "threads_per_sm": 2048, "blocks_per_sm": 32}


def occupancy_blocks(dev, regs, tpb, smem):
    """Co-resident blocks on the whole device (dev: a dict like H100) for a kernel of regs
    registers per thread, tpb threads and smem bytes of shared memory per block."""
    warps = -(-tpb // 32)
    regs_warp = -(-regs * 32 // 256) * 256  # registers are allocated per warp in units of 256
    by_regs = dev["regs_per_sm"] // (regs_warp * warps)
    by_smem = dev["smem_per_sm"] // (smem + dev["smem_reserved"])
    per_sm = min(dev["blocks_per_sm"], dev["threads_per_sm"] // (warps * 32), by_regs, by_smem)
    return per_sm * dev["sms"]


def persistent_h_limit(gates, itemsize, B, regs, static_smem, dev=H100, opt_in=True, h_max=8192):
    """The largest H the persistent kernel is chosen for ("auto") on dev, at batch B, for a
    kernel of regs registers and static_smem bytes of static shared memory."""
    cap = dev["smem_optin"] if opt_in else 48 * 1024

    def fits(H):
        return plan_persistent(H, B, gates * H * itemsize, static_smem, cap,
                               lambda tpb, smem: occupancy_blocks(dev, regs, tpb, smem + static_smem),
                               tpb_for=lambda n: min(gc.MAX_TPB, max(32, gc.next_pow2(n))), rows=ROWS) is not None

    best = 0
    for H in range(1, h_max + 1):  # not monotone in general (block sizes jump): scan
        if fits(H):
            best = H
    return best


def _set_dynamic_smem(ck, nbytes):
    """Let a compiled kernel take nbytes of dynamic shared memory (past 48 KB needs the opt-in)."""
    from numba.cuda.cudadrv.driver import binding, driver  # noqa: PLC0415 - real GPU only

    cufunc = ck._codelibrary.get_cufunc()
    attr = binding.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    # As numba-cuda sets the carveout (CudaPythonFunction.set_shared_memory_carveout); its
    # driver wrapper raises CudaAPIError on failure.
    driver.cuKernelSetAttribute(attr, int(nbytes), cufunc.handle, cufunc.device.id)


def _device_plan(kern, args_of, H, B, col_bytes, static_smem):
    """plan_persistent on the current GPU: its opt-in shared memory limit and occupancy."""
    argtypes = tuple(kern.typeof_pyval(a) for a in args_of(1))
    ck = kern.compile(argtypes)
    dev = cuda.get_current_device()
    cap = SMEM_LIMIT
    if SMEM_OPT_IN:
        cap = max(cap, int(dev.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN))
    static_smem = max(static_smem, ck._codelibrary.get_cufunc().attrs.shared)
    raised = [0]

    def coop_blocks(tpb, smem):
        if smem + static_smem > SMEM_LIMIT and smem > raised[0]:
            _set_dynamic_smem(ck, smem)
            raised[0] = smem
        return ck.max_cooperative_grid_blocks(tpb, smem)

    plan = plan_persistent(H, B, col_bytes, static_smem, cap, coop_blocks, rows=ROWS)
    if plan is not None and plan[3] + static_smem > SMEM_LIMIT:
        _set_dynamic_smem(ck, plan[3])
    return plan


def _persistent_plan(kern, args_of, H, B, col_bytes, policy, static_smem):
    """(nblocks, tpb, Jb, smem) for a persistent launch, or None to run per step.

    col_bytes: shared memory for one hidden unit's column of W_hh (all gates). args_of(Jb)
    gives the kernel arguments (their types, for the compilation the occupancy query needs).
    """
    if policy is False or (_UNAVAILABLE and policy == "auto"):
        return None
    plan = None
    if gc.SIMULATOR:
        # The simulator runs a cooperative grid as one block: Jb = H, without an opt-in.
        plan = plan_persistent(H, B, col_bytes, static_smem, SMEM_LIMIT, lambda tpb, smem: 1, rows=ROWS)
    elif gc.compile_only():
        plan = plan_persistent(H, B, col_bytes, static_smem, SMEM_LIMIT, lambda tpb, smem: 1 << 16,
                               rows=ROWS)
    else:
        try:
            plan = _device_plan(kern, args_of, H, B, col_bytes, static_smem)
        except Exception as e:
            _unavailable(e, policy)
    if plan is None and policy is True:
        raise RuntimeError(
            f"persistent=True: W_hh of H={H} does not fit the shared memory of a cooperative grid on this device"
        )
    return plan


def _unavailable(e, policy):
    # No cooperative launch here (say, libcudadevrt missing from the CUDA toolkit, which
    # grid.sync() links against, or a launch the device refuses): per-step launches still
    # work, so remember and fall back.
    if policy is True:
        raise e
    _UNAVAILABLE.append(repr(e))
    warnings.warn(f"bpttlab: persistent CUDA kernel unavailable ({e}); using per-step launches", stacklevel=4)


# What the driver raises when it refuses a launch (numba-cuda's driver wrapper; cuda.core's).
LAUNCH_ERRORS = ("CudaAPIError", "CudaDriverError", "CudaSupportError", "CUDAError")


def _launch_persistent(kern, plan, args, policy):
    """Launch the persistent kernel; False (after a warning) where the device refused the
    launch (say, a cooperative grid it cannot hold after all). Other errors propagate."""
    nblocks, tpb, _, smem = plan
    try:
        gc.launch(kern, nblocks, tpb, args, smem)
    except Exception as e:
        if type(e).__name__ not in LAUNCH_ERRORS:
            raise
        _unavailable(e, policy)
        return False
    return True


# -- one layer-direction ------------------------------------------------------------------------

class Placeholders(NamedTuple):
    """Tiny device arrays standing in for the buffers a cell does not use (the kernels take
    every argument): float64 (1,), dtype (1, 1) and (1, 1, 1), and a float64 (1, 1, 3) norm
    partial."""

    f64: object
    d2: object
    d3: object
    part: object


def placeholders(dtype):
    return Placeholders(gc.zeros((1,), np.float64), gc.zeros((1, 1), dtype), gc.zeros((1, 1, 1), dtype),
                        gc.zeros((1, 1, 3), np.float64))


@dataclass
class LayerParams:
    """One layer-direction's parameters as the CUDA kernels take them (device arrays).

    w_ih (G*H, I), w_hh (G*H, H), b_ih and b_hh (G*H,); w_t (H, G*H): W_hh transposed, for
    the forward's per-unit dot products; peep (3, H): the LSTMs' peephole weights (zeros for
    plain and CIFG), a placeholder for other cells.
    """

    w_ih: object
    w_hh: object
    w_t: object
    b_ih: object
    b_hh: object
    peep: object


def prepare(spec, w, ph):
    """LayerParams from one layer-direction's LayerArrays; ph: the Placeholders."""
    peep = ph.d2
    if spec.family == "lstm":
        peep = w.peep if spec.peephole else gc.zeros((3, w.w_hh.shape[1]), w.w_hh.dtype)
    return LayerParams(w.w_ih, w.w_hh, gc.transpose(w.w_hh), w.b_ih, w.b_hh, peep)


@dataclass
class Workspace:
    """Per layer-direction buffers for backward_layer, reused across TBPTT windows.

    dg (T, B, G*H): dL/d(pre-activations). dgh (T, B, G*H): the reset-after GRU's recurrent
    side of it. dh, dc (B, H): the carry. dpeep (B, 3, H): the peephole gradient per row,
    summed by finish_peephole. ss (T, blocks, 3) and ngs (T,): log_norms mode's norm
    partials of the raw carry and squared norms of dy. ev: the persistent backward's (G*H, B)
    copy of two steps' dL/da (_common.swapped, (2, B, G*H) as indexed). Unused ones are placeholders.
    """

    dg: object
    dgh: object
    dh: object
    dc: object
    dpeep: object
    ss: object
    ngs: object
    ev: object


def norm_blocks(B, H):
    """Room for one norm partial per block, whichever structure runs: the per-step grid
    (_step_grid), or a persistent grid (at most H blocks, one unit each)."""
    return max(_step_grid(B, H)[0], H)


def forward_layer(spec, lp, X, h0, c0, reverse, training, ph, persistent="auto"):
    """Run one layer-direction over X (T, B, In): returns (y (T, B, H), h_T, c_T or None,
    LayerTape or None); y and h_T are views of hs (T+1, B, H), laid out as in cpu/layer.state_rows.
    """
    T, B, In = X.shape
    H = lp.w_hh.shape[1]
    G = spec.gates
    GH = G * H
    dtype = X.dtype
    xp = gc.empty((T, B, GH), dtype)
    gemm(X.reshape(T * B, In), lp.w_ih, xp.reshape(T * B, GH), trans_b=True, bias=lp.b_ih)
    first, last = (T, 0) if reverse else (0, T)
    hs = gc.empty((T + 1, B, H), dtype)
    gc.copy(h0, hs[first])
    rows = T if training else 1
    cs = acts = aux = ph.d3
    c_final = None
    if spec.family == "lstm":
        cs = gc.empty((T + 1 if training else 2, B, H), dtype)
        gc.copy(c0, cs[first if training else 0])
        acts = gc.empty((rows, B, GH), dtype)
        c_final = cs[last] if training else cs[T % 2]
    elif spec.family == "gru":
        acts = gc.empty((rows, B, GH), dtype)
        aux = gc.empty((rows, B, H), dtype)
    peep = lp.peep
    nph = forward_phases(spec)
    fwd_persist, _ = _persistent_kernels(spec.family, dtype.name)
    # The persistent kernel's (H, B) copies of h (two slots) and of the reset-before GRU's r * h.
    sv = gc.swapped(3, H, B, dtype) if persistent is not False else None

    def args_of(Jb):
        return (xp, hs, cs, acts, aux, lp.w_t, lp.b_hh, peep, reverse, training, spec.variant, G, nph, Jb, sv)

    plan = _persistent_plan(fwd_persist, args_of, H, B, GH * np.dtype(dtype).itemsize, persistent,
                            PERSIST_STATIC_SMEM["fwd"])
    # A failed launch changed nothing the per-step loop reads (h0 is still in hs[first]).
    if plan is None or not _launch_persistent(fwd_persist, plan, args_of(plan[2]), persistent):
        forward_steps(spec.family, (xp, hs, cs, acts, aux, gc.flat(lp.w_t), lp.b_hh, peep), spec.variant, reverse,
                      training, nph)
    y = hs[:T] if reverse else hs[1:]
    tape = LayerTape(X, hs, acts, cs, aux) if training else None
    return y, hs[last], c_final, tape


def forward_steps(family, arrays, variant, reverse, training, nph, prepared=True):
    """The per-step forward loop: one fwd_step launch per step and phase (a prepared launch,
    _launch.py: the arguments are packed once, per step only t, p, q, cp, cq, gi and the phase
    change). arrays: (xp, hs, cs, acts, aux, w (W_hh^T flattened), b_hh, peep)."""
    fwd_step, _ = _step_kernels(family)
    xp, hs = arrays[0], arrays[1]
    T, B, H = xp.shape[0], hs.shape[1], hs.shape[2]
    nb, tpb = _step_grid(B, H)
    # (phase, *arrays, t, p, q, cp, cq, gi, variant): the phase and t..gi vary.
    launch = StepLaunch(fwd_step, nb, tpb, (0, *arrays, 0, 0, 0, 0, 0, 0, variant), (0, 9, 10, 11, 12, 13, 14),
                        prepared=prepared)
    for k in range(T):
        t, p, q = (T - 1 - k, T - k, T - 1 - k) if reverse else (k, k, k + 1)
        cp, cq, gi = (p, q, t) if training else (k % 2, 1 - k % 2, 0)
        for phase in range(nph):
            launch(phase, t, p, q, cp, cq, gi)


def backward_steps(family, arrays, dy_at, norms, inj, rec, ts, te, reverse, variant, renorm, cho, carry_out,
                   prepared=True):
    """The per-step backward loop over [ts, te]: one bwd_step launch per step (more in log_norms
    mode and for the reset-before GRU), prepared as in forward_steps (mode, the step's flags, t and
    tp vary). arrays: (hs, cs, acts, aux, w (W_hh flattened), dg, dgh, dh, dc, dpeep, peep, dy);
    dy_at: (dy_off, col0); norms: (ngs, ss, scl, nrm_h, nrm_c)."""
    _, bwd_step = _step_kernels(family)
    hs = arrays[0]
    B, H = hs.shape[1], hs.shape[2]
    nb, tpb = _step_grid(B, H)
    ngs, ss, scl, nrm_h, nrm_c = norms
    # (mode, *arrays, dy_off, col0, inj_t, rec_t, acc_ss, t, tp, has_prev, reverse, variant, renorm, ngs, ss, scl,
    # nrm_h, nrm_c): mode, inj_t, rec_t, acc_ss, t, tp and has_prev vary.
    launch = StepLaunch(bwd_step, nb, tpb, (FUSED, *arrays, *dy_at, False, False, False, 0, 0, False, reverse, variant,
                                            renorm, ngs, ss, scl, nrm_h, nrm_c), (0, 15, 16, 17, 18, 19, 20),
                        prepared=prepared)

    def step(mode, t, tp, has_prev, inj_t, rec_t, acc_ss):
        launch(mode, inj_t, rec_t, acc_ss, t, tp, has_prev)

    n = te - ts + 1
    t = ts
    for k in range(n):
        t, tp = (ts + k, ts + k - 1) if reverse else (te - k, te - k + 1)
        inj_t = inj[0] <= t <= inj[1]
        rec_t = rec[0] <= t <= rec[1]
        if renorm:
            if k > 0:
                step(PROD, t, tp, True, False, False, True)
            step(GATE, t, tp, k > 0, inj_t, rec_t, False)
        else:
            step(FUSED, t, tp, k > 0, inj_t, rec_t, False)
        if cho:
            step(PHASE_B, t, tp, k > 0, False, False, False)
    if carry_out:
        step(PROD, t, t, True, False, False, False)


def workspace(spec, T, B, H, dtype, renorm, ph):
    """The Workspace of one layer-direction."""
    GH = spec.gates * H
    ws = Workspace(gc.zeros((T, B, GH), dtype), ph.d3, gc.empty((B, H), dtype), ph.d2, ph.d3, ph.part, ph.f64,
                   gc.swapped(2, GH, B, dtype))
    if spec.family == "gru" and spec.variant != GRU_RESET_BEFORE:
        ws.dgh = gc.zeros((T, B, GH), dtype)
    if spec.family == "lstm":
        ws.dc = gc.empty((B, H), dtype)
        if spec.peephole:
            ws.dpeep = gc.zeros((B, 3, H), dtype)
    if renorm:
        ws.ss = gc.zeros((T, norm_blocks(B, H), 3), np.float64)
        ws.ngs = gc.zeros((T,), np.float64)
    return ws


def backward_layer(spec, lp, tape, ws, dy, dy_off, col0, inj, rec, ts, te, reverse, renorm, nrm_h, nrm_c, scl,
                   carry_out, grads, dX, persistent="auto"):
    """Backward through steps [ts, te] of one layer-direction; the carry (ws.dh, ws.dc) goes in
    holding the error entering the window and, with carry_out, comes out holding the error
    leaving it at the initial-state side.

    dy[t - dy_off, :, col0:col0+H] is added to dL/dh_t for t in inj; for t in rec the norm
    partials of dL/dh_t (dL/dc_t) go to nrm_h[t] (nrm_c[t]), see _common.block_norm. Unless
    renorm, the weight and bias gradients of the window are added into grads (LayerArrays)
    and its dL/dx into dX (te - ts + 1, B, I).
    """
    hs, cs, acts, aux, X = tape.hs, tape.cs, tape.acts, tape.aux, tape.X
    B, H = hs.shape[1], hs.shape[2]
    GH = spec.gates * H
    n = te - ts + 1
    cho = spec.family == "gru" and spec.variant == GRU_RESET_BEFORE
    dg, dgh, dh, dc, dpeep, ss, ngs = ws.dg, ws.dgh, ws.dh, ws.dc, ws.dpeep, ws.ss, ws.ngs
    if renorm:
        gc.slice_sumsq(dy, dy_off, col0, H, inj[0], inj[1] - inj[0] + 1, ngs)
    _, bwd_persist = _persistent_kernels(spec.family, hs.dtype.name)

    def args_of(Jb):
        return (hs, cs, acts, aux, lp.w_hh, dg, dgh, dh, dc, dpeep, lp.peep, dy, dy_off, col0, inj[0], inj[1],
                rec[0], rec[1], ts, te, reverse, spec.variant, renorm, ngs, ss, scl, nrm_h, nrm_c, cho, carry_out, Jb,
                ws.ev)

    plan = _persistent_plan(bwd_persist, args_of, H, B, GH * np.dtype(hs.dtype).itemsize, persistent,
                            PERSIST_STATIC_SMEM["bwd"])
    if plan is None or not _launch_persistent(bwd_persist, plan, args_of(plan[2]), persistent):
        backward_steps(spec.family, (hs, cs, acts, aux, gc.flat(lp.w_hh), dg, dgh, dh, dc, dpeep, lp.peep, dy),
                       (dy_off, col0), (ngs, ss, scl, nrm_h, nrm_c), inj, rec, ts, te, reverse, spec.variant, renorm,
                       cho, carry_out)
    if renorm:
        return
    # The weight gradients of the window: dW_ih += dG^T X, db_ih, dX += dG W_ih, then per
    # block of W_hh's rows dW_hh += dG^T h_in and db_hh.
    In = X.shape[2]
    gx = dg[ts : te + 1].reshape(n * B, GH)
    gemm(gx, X[ts : te + 1].reshape(n * B, In), grads.w_ih, trans_a=True, accumulate=True)
    colsum(gx, grads.b_ih)
    gemm(gx, lp.w_ih, dX.reshape(n * B, In), accumulate=True)
    h_in = (hs[ts + 1 : te + 2] if reverse else hs[ts : te + 1]).reshape(n * B, H)
    if cho:
        blocks = [(slice(0, 2 * H), gx[:, : 2 * H], h_in),
                  (slice(2 * H, 3 * H), gx[:, 2 * H :], aux[ts : te + 1].reshape(n * B, H))]
    elif spec.family == "gru":
        blocks = [(slice(None), dgh[ts : te + 1].reshape(n * B, GH), h_in)]
    else:
        blocks = [(slice(None), gx, h_in)]
    for rows, gh, rin in blocks:
        gemm(gh, rin, grads.w_hh[rows], trans_a=True, accumulate=True)
        colsum(gh, grads.b_hh[rows])


def finish_peephole(ws, grads):
    """The peephole gradient, summed over the batch rows once all windows ran."""
    B = ws.dpeep.shape[0]
    H = ws.dpeep.shape[2]
    colsum(ws.dpeep.reshape(B, 3 * H), gc.flat(grads.peep), False)
