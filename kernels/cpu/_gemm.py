"""Matrix products for the CPU kernels: a small BLAS-style GEMM written with _simd vectors.

C[M, N] = beta C + A[M, K] B[K, N], beta 0 or 1, row-major C. A is read in place through
two strides (A(i, k) = A[a0 + i*ars + k*acs], so A or its transpose); B is first packed
(``pack_n``: B(k, j) = S[s0 + k*lds + j]; ``pack_t``: B(k, j) = W[w0 + j*ldw + k], a weight
matrix used transposed) into panels of NR = NV vectors of columns, zero-padded, each panel
k-major and contiguous: the micro-kernel streams it with unit stride.

The micro-kernel keeps a MR x NR tile of C (MR * NV vector registers) across a block of KC
steps of k, one broadcast of A per row and NV vector loads of B per step. NV is chosen per
instruction set so that the tile fits the register file (kernels/_config.py: 4 with AVX-512's
32 registers, 3 with AVX2's 16); NV is a compile-time constant, and the code for the fourth
vector is removed by the compiler when NV = 3. Blocking: KC = 128 steps of k (a panel block
stays in L1), MC = 64 rows (their A block stays in L2).

Why not BLAS: the recurrent product of one step is small (a few to 64 rows), and a BLAS call
repacks the weights on every call and starts at a fixed cost; here the weights are packed
once per pass and every step runs straight on them. It also makes the kernels' speed
independent of which BLAS (and which of its CPU kernels) the process loaded.
All functions take flat 1-D arrays and element offsets.
"""

import numpy as np

from .._config import GEMM_MR, GEMM_NV
from ._jit import jit
from ._simd import vadd, vfma, vlanes, vload, vload_n, vstore, vstore_n, vtranspose, vzero

KC = 128
MC = 64
MR = GEMM_MR
NV = GEMM_NV  # vectors per panel and per row of the register tile: 2, 3 or 4
assert MR == 4 and 2 <= NV <= 4  # the micro-kernels below are written for these


@jit
def panel_width(C):
    """NR: the columns of one packed panel (NV vectors of C's dtype)."""
    return NV * vlanes(C)


@jit
def packed_size(C, K, N):
    nr = panel_width(C)
    return ((N + nr - 1) // nr) * nr * K


# -- packing -----------------------------------------------------------------------------


@jit
def _pack_panel_n(S, s0, lds, K, N, Bp, p):
    L = vlanes(Bp)
    nr = NV * L
    j0 = p * nr
    w = min(nr, N - j0)
    for k in range(K):
        o = (p * K + k) * nr
        s = s0 + k * lds + j0
        if w == nr:
            for v in range(NV):
                vstore(Bp, o + v * L, vload(S, s + v * L))
        else:  # the last, partial panel: zeros past column N
            for v in range(NV):
                vstore(Bp, o + v * L, vload_n(S, s + v * L, max(0, min(L, w - v * L))))


@jit
def _pack_panel_t(W, w0, ldw, K, N, Bp, p):
    L = vlanes(Bp)
    nr = NV * L
    j0 = p * nr
    w = min(nr, N - j0)
    base = p * K * nr
    kf = K - K % L if w == nr else 0  # whole L x L blocks, transposed in registers
    for jj in range(0, nr, L):
        for kb in range(0, kf, L):
            vtranspose(W, w0 + (j0 + jj) * ldw + kb, ldw, Bp, base + kb * nr + jj, nr)
    zero = Bp.dtype.type(0)
    for k in range(kf, K):
        o = base + k * nr
        for j in range(w):
            Bp[o + j] = W[w0 + (j0 + j) * ldw + k]
        for j in range(w, nr):
            Bp[o + j] = zero


@jit
def pack_n(S, s0, lds, K, N, Bp, p0, p1):
    """Panels [p0, p1) of Bp <- B (K x N) with B(k, j) = S[s0 + k*lds + j]."""
    for p in range(p0, p1):
        _pack_panel_n(S, s0, lds, K, N, Bp, p)


@jit
def pack_t(W, w0, ldw, K, N, Bp, p0, p1):
    """Panels [p0, p1) of Bp <- B (K x N) with B(k, j) = W[w0 + j*ldw + k] (W holds B
    transposed, N x K)."""
    for p in range(p0, p1):
        _pack_panel_t(W, w0, ldw, K, N, Bp, p)


@jit
def pack_unit_slices(W, G, bounds, segs):
    """segs[s, g] <- rows [g*H + u0, g*H + u1) of W (G*H x H), u0, u1 = bounds[s], bounds[s+1],
    packed by pack_t: each slice of hidden units gets its own rows of every gate block."""
    H = W.shape[1]
    flat = W.reshape(-1)
    for s in range(bounds.shape[0] - 1):
        u0, u1 = bounds[s], bounds[s + 1]
        for g in range(G):
            pack_t(flat, (g * H + u0) * H, H, H, u1 - u0, segs[s, g], 0, panels(segs, u1 - u0))


@jit
def panels(C, N):
    """How many packed panels cover N columns."""
    nr = panel_width(C)
    return (N + nr - 1) // nr


# -- the micro-kernels ---------------------------------------------------------------------


@jit
def _put(C, o, n, acc, v):
    """C[o : o + min(n, lanes)] (+)= v (nothing when n <= 0)."""
    L = vlanes(C)
    if n >= L:
        if acc:
            v = vadd(vload(C, o), v)
        vstore(C, o, v)
    elif n > 0:
        if acc:
            v = vadd(vload_n(C, o, n), v)
        vstore_n(C, o, v, n)


@jit
def _put_row(C, o, n, acc, v0, v1, v2, v3):
    """One row of a tile: vectors v0 .. v(NV-1) to C[o : o + n] (the others are placeholders)."""
    L = vlanes(C)
    _put(C, o, n, acc, v0)
    _put(C, o + L, n - L, acc, v1)
    if NV > 2:
        _put(C, o + 2 * L, n - 2 * L, acc, v2)
    if NV > 3:
        _put(C, o + 3 * L, n - 3 * L, acc, v3)


# The micro-kernels are written for NV = 4 vectors per row; "if NV > 2" / "if NV > 3" guard the
# third and fourth. NV is a compile-time constant, so LLVM deletes the guarded multiply-adds and
# their (then unused) accumulators: with NV = 3 the loop holds 12 accumulators, not 16.


@jit
def _tile4(A, a0, ars, acs, Bp, b0, K, C, c0, ldc, n, acc):
    """Rows 0-3, columns [0, n) of C[c0:] (+)= A[a0:] (4 x K) times one packed panel block."""
    L = vlanes(C)
    nr = NV * L
    c00 = vzero(C)
    c01 = vzero(C)
    c02 = vzero(C)
    c03 = vzero(C)
    c10 = vzero(C)
    c11 = vzero(C)
    c12 = vzero(C)
    c13 = vzero(C)
    c20 = vzero(C)
    c21 = vzero(C)
    c22 = vzero(C)
    c23 = vzero(C)
    c30 = vzero(C)
    c31 = vzero(C)
    c32 = vzero(C)
    c33 = vzero(C)
    for k in range(K):
        bo = b0 + k * nr
        b0v = vload(Bp, bo)
        b1v = vload(Bp, bo + L)
        b2v = vload(Bp, bo + 2 * L) if NV > 2 else b0v
        b3v = vload(Bp, bo + 3 * L) if NV > 3 else b0v
        ak = a0 + k * acs
        x = A[ak]
        c00 = vfma(x, b0v, c00)
        c01 = vfma(x, b1v, c01)
        if NV > 2:
            c02 = vfma(x, b2v, c02)
        if NV > 3:
            c03 = vfma(x, b3v, c03)
        x = A[ak + ars]
        c10 = vfma(x, b0v, c10)
        c11 = vfma(x, b1v, c11)
        if NV > 2:
            c12 = vfma(x, b2v, c12)
        if NV > 3:
            c13 = vfma(x, b3v, c13)
        x = A[ak + 2 * ars]
        c20 = vfma(x, b0v, c20)
        c21 = vfma(x, b1v, c21)
        if NV > 2:
            c22 = vfma(x, b2v, c22)
        if NV > 3:
            c23 = vfma(x, b3v, c23)
        x = A[ak + 3 * ars]
        c30 = vfma(x, b0v, c30)
        c31 = vfma(x, b1v, c31)
        if NV > 2:
            c32 = vfma(x, b2v, c32)
        if NV > 3:
            c33 = vfma(x, b3v, c33)
    _put_row(C, c0, n, acc, c00, c01, c02, c03)
    _put_row(C, c0 + ldc, n, acc, c10, c11, c12, c13)
    _put_row(C, c0 + 2 * ldc, n, acc, c20, c21, c22, c23)
    _put_row(C, c0 + 3 * ldc, n, acc, c30, c31, c32, c33)


@jit
def _tile1(A, a0, acs, Bp, b0, K, C, c0, n, acc):
    """One row of _tile4 (the rows left over, and matrix-vector products)."""
    L = vlanes(C)
    nr = NV * L
    c0v = vzero(C)
    c1v = vzero(C)
    c2v = vzero(C)
    c3v = vzero(C)
    for k in range(K):
        bo = b0 + k * nr
        x = A[a0 + k * acs]
        c0v = vfma(x, vload(Bp, bo), c0v)
        c1v = vfma(x, vload(Bp, bo + L), c1v)
        if NV > 2:
            c2v = vfma(x, vload(Bp, bo + 2 * L), c2v)
        if NV > 3:
            c3v = vfma(x, vload(Bp, bo + 3 * L), c3v)
    _put_row(C, c0, n, acc, c0v, c1v, c2v, c3v)


@jit
def _tile1x4(A, a0, acs, Bp, b0, ps, K, C, c0, cst, N, nst, acc):
    """_tile1 on four panels, b0 + v*ps for v < 4 (4 NV independent multiply-add chains: a
    matrix-vector product is latency- and load-bound otherwise). Panel v goes to C[c0 + v*cst:],
    N - v*nst columns of it at most (consecutive panels: ps = K*nr, cst = nst = nr)."""
    L = vlanes(C)
    nr = NV * L
    c00 = vzero(C)
    c01 = vzero(C)
    c02 = vzero(C)
    c03 = vzero(C)
    c10 = vzero(C)
    c11 = vzero(C)
    c12 = vzero(C)
    c13 = vzero(C)
    c20 = vzero(C)
    c21 = vzero(C)
    c22 = vzero(C)
    c23 = vzero(C)
    c30 = vzero(C)
    c31 = vzero(C)
    c32 = vzero(C)
    c33 = vzero(C)
    for k in range(K):
        x = A[a0 + k * acs]
        o = b0 + k * nr
        c00 = vfma(x, vload(Bp, o), c00)
        c01 = vfma(x, vload(Bp, o + L), c01)
        if NV > 2:
            c02 = vfma(x, vload(Bp, o + 2 * L), c02)
        if NV > 3:
            c03 = vfma(x, vload(Bp, o + 3 * L), c03)
        o += ps
        c10 = vfma(x, vload(Bp, o), c10)
        c11 = vfma(x, vload(Bp, o + L), c11)
        if NV > 2:
            c12 = vfma(x, vload(Bp, o + 2 * L), c12)
        if NV > 3:
            c13 = vfma(x, vload(Bp, o + 3 * L), c13)
        o += ps
        c20 = vfma(x, vload(Bp, o), c20)
        c21 = vfma(x, vload(Bp, o + L), c21)
        if NV > 2:
            c22 = vfma(x, vload(Bp, o + 2 * L), c22)
        if NV > 3:
            c23 = vfma(x, vload(Bp, o + 3 * L), c23)
        o += ps
        c30 = vfma(x, vload(Bp, o), c30)
        c31 = vfma(x, vload(Bp, o + L), c31)
        if NV > 2:
            c32 = vfma(x, vload(Bp, o + 2 * L), c32)
        if NV > 3:
            c33 = vfma(x, vload(Bp, o + 3 * L), c33)
    _put_row(C, c0, N, acc, c00, c01, c02, c03)
    _put_row(C, c0 + cst, N - nst, acc, c10, c11, c12, c13)
    _put_row(C, c0 + 2 * cst, N - 2 * nst, acc, c20, c21, c22, c23)
    _put_row(C, c0 + 3 * cst, N - 3 * nst, acc, c30, c31, c32, c33)


@jit
def _tile1x2(A, a0, acs, Bp, b0, b1, K, C, c0, n0, n1, acc):
    """_tile1 on two panels at once (2 NV multiply-add chains instead of NV)."""
    L = vlanes(C)
    nr = NV * L
    c0v = vzero(C)
    c1v = vzero(C)
    c2v = vzero(C)
    c3v = vzero(C)
    d0v = vzero(C)
    d1v = vzero(C)
    d2v = vzero(C)
    d3v = vzero(C)
    for k in range(K):
        bo = b0 + k * nr
        do = b1 + k * nr
        x = A[a0 + k * acs]
        c0v = vfma(x, vload(Bp, bo), c0v)
        c1v = vfma(x, vload(Bp, bo + L), c1v)
        if NV > 2:
            c2v = vfma(x, vload(Bp, bo + 2 * L), c2v)
        if NV > 3:
            c3v = vfma(x, vload(Bp, bo + 3 * L), c3v)
        d0v = vfma(x, vload(Bp, do), d0v)
        d1v = vfma(x, vload(Bp, do + L), d1v)
        if NV > 2:
            d2v = vfma(x, vload(Bp, do + 2 * L), d2v)
        if NV > 3:
            d3v = vfma(x, vload(Bp, do + 3 * L), d3v)
    _put_row(C, c0, n0, acc, c0v, c1v, c2v, c3v)
    _put_row(C, c0 + nr, n1, acc, d0v, d1v, d2v, d3v)


# -- drivers -----------------------------------------------------------------------------


@jit
def mm(M, N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, i_lo, i_hi):
    """Rows [i_lo, i_hi) of C[c0:] (M x N, row stride ldc) = beta C + A B, B packed (K x N).

    beta is 0 (C's old contents, NaN included, are ignored) or 1.
    """
    nr = panel_width(C)
    npan = (N + nr - 1) // nr
    if K <= 0:
        if beta == 0:
            zero = C.dtype.type(0)
            for i in range(i_lo, i_hi):
                for j in range(N):
                    C[c0 + i * ldc + j] = zero
        return
    if i_hi - i_lo == 1:  # a matrix-vector product: four panels at a time, k unblocked
        i = i_lo
        acc = beta != 0
        p = 0
        while p + 3 < npan:
            _tile1x4(A, a0 + i * ars, acs, Bp, p * K * nr, K * nr, K, C, c0 + i * ldc + p * nr, nr, N - p * nr, nr,
                     acc)
            p += 4
        if p + 1 < npan:
            _tile1x2(A, a0 + i * ars, acs, Bp, p * K * nr, (p + 1) * K * nr, K, C, c0 + i * ldc + p * nr,
                     min(nr, N - p * nr), min(nr, N - (p + 1) * nr), acc)
            p += 2
        while p < npan:
            _tile1(A, a0 + i * ars, acs, Bp, p * K * nr, K, C, c0 + i * ldc + p * nr, min(nr, N - p * nr), acc)
            p += 1
        return
    # A read across k with a stride (acs != 1: a transposed operand, the weight gradients'
    # G^T) touches a new cache line, and often a new page, at every step of k in every tile:
    # such blocks are first packed k-major (MR rows side by side), once per block of MC rows
    # and reused by every panel. A row-major A (acs == 1) is read in place, with no buffer:
    # that is every time step's recurrent product.
    if acs != 1 and npan > 1:
        _mm_packed_a(N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, i_lo, i_hi)
    else:
        _mm_in_place(N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, i_lo, i_hi)


@jit
def _mm_in_place(N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, i_lo, i_hi):
    """mm's blocked loop (K > 0, two rows or more), reading A where it lies."""
    nr = panel_width(C)
    npan = (N + nr - 1) // nr
    for kb in range(0, K, KC):
        kn = min(KC, K - kb)
        acc = beta != 0 or kb > 0
        for ib in range(i_lo, i_hi, MC):
            ie = min(ib + MC, i_hi)
            for p in range(npan):
                n = min(nr, N - p * nr)
                bo = (p * K + kb) * nr
                i = ib
                while i + MR <= ie:
                    _tile4(A, a0 + i * ars + kb * acs, ars, acs, Bp, bo, kn, C, c0 + i * ldc + p * nr, ldc, n, acc)
                    i += MR
                while i < ie:
                    _tile1(A, a0 + i * ars + kb * acs, acs, Bp, bo, kn, C, c0 + i * ldc + p * nr, n, acc)
                    i += 1


@jit
def _mm_packed_a(N, K, A, a0, ars, acs, Bp, C, c0, ldc, beta, i_lo, i_hi):
    """mm's blocked loop (K > 0, two rows or more) with each MC x KC block of A packed first
    (_pack_a); the same tiles in the same order as _mm_in_place, so the same bits."""
    nr = panel_width(C)
    npan = (N + nr - 1) // nr
    Ap = np.empty(MC * KC, C.dtype)
    for kb in range(0, K, KC):
        kn = min(KC, K - kb)
        acc = beta != 0 or kb > 0
        for ib in range(i_lo, i_hi, MC):
            ie = min(ib + MC, i_hi)
            _pack_a(A, a0 + ib * ars + kb * acs, ars, acs, ie - ib, kn, Ap)
            for p in range(npan):
                n = min(nr, N - p * nr)
                bo = (p * K + kb) * nr
                i = ib
                while i + MR <= ie:
                    _tile4(Ap, (i - ib) * kn, 1, MR, Bp, bo, kn, C, c0 + i * ldc + p * nr, ldc, n, acc)
                    i += MR
                while i < ie:
                    _tile1(Ap, (i - ib) * kn, 1, Bp, bo, kn, C, c0 + i * ldc + p * nr, n, acc)
                    i += 1


@jit
def _pack_a(A, a0, ars, acs, m, kn, Ap):
    """Ap <- the m x kn block A(i, k) = A[a0 + i*ars + k*acs]: whole groups of MR rows k-major
    (Ap[g*MR*kn + k*MR + r] = A(g*MR + r, k), what _tile4 reads with ars = 1, acs = MR), then
    each row left over on its own (Ap[i*kn + k], for _tile1 with acs = 1)."""
    g = m // MR * MR
    for k in range(kn):
        for i0 in range(0, g, MR):
            o = i0 * kn + k * MR
            for r in range(MR):
                Ap[o + r] = A[a0 + (i0 + r) * ars + k * acs]
    for i in range(g, m):
        for k in range(kn):
            Ap[i * kn + k] = A[a0 + i * ars + k * acs]


# -- the recurrent products of one step (one batch chunk's rows) -------------------------


@jit
def rec_forward(x, p, wp, n, out, t, col0, beta, b0, b1):
    """out[t, b0:b1, col0:col0+n] = x[p, b0:b1] @ W.T + beta out[...]; W (n x H), packed by
    pack_t (so that wp holds W.T as a packed K x N matrix)."""
    B, H = x.shape[1], x.shape[2]
    GH = out.shape[2]
    mm(b1 - b0, n, H, x.reshape(-1), (p * B + b0) * H, H, 1, wp, out.reshape(-1), (t * B + b0) * GH + col0, GH,
       beta, 0, b1 - b0)


@jit
def step_input(X, t, wih_p, xp, xi, fused, b0, b1):
    """Fused input projection: xp[xi, b0:b1] = X[t, b0:b1] @ W_ih.T when ``fused`` (xp is then
    the activations tape, or in inference a one-step buffer, so no (T, B, G*H) pass over
    memory is made); otherwise the caller has already computed it for every step."""
    if fused:
        rec_forward(X, t, wih_p, xp.shape[2], xp, xi, 0, 0.0, b0, b1)


@jit
def rec_backward(dg, t, col0, wp, k, dh, beta, b0, b1):
    """dh[b0:b1] = dg[t, b0:b1, col0:col0+k] @ W + beta dh[b0:b1]; W (k x H), packed by pack_n."""
    B, GH = dg.shape[1], dg.shape[2]
    H = dh.shape[1]
    mm(b1 - b0, H, k, dg.reshape(-1), (t * B + b0) * GH + col0, GH, 1, wp, dh.reshape(-1), b0 * H, H, beta, 0, b1 - b0)


@jit
def rec_forward_units(x, p, segp, out, t, u0, u1, b0, b1):
    """out[t, b0:b1, g*H + u0 : g*H + u1] += x[p, b0:b1] @ W_g.T for each gate block g, where
    segp[g] holds rows [g*H + u0, g*H + u1) of W (G*H x H), packed by pack_t: the recurrent
    product of one slice of hidden units (lstm.lstm_forward_units)."""
    B, H = x.shape[1], x.shape[2]
    GH = out.shape[2]
    G = segp.shape[0]
    n = u1 - u0
    nr = panel_width(out)
    A = x.reshape(-1)
    a0 = (p * B + b0) * H
    C = out.reshape(-1)
    c0 = (t * B + b0) * GH + u0
    if b1 - b0 == 1 and G == 4 and n <= nr:
        # a matrix-vector product whose four gate slices are one panel each: one pass over the
        # four (consecutive) packed blocks with 16 multiply-add chains
        _tile1x4(A, a0, 1, segp.reshape(-1), 0, segp.shape[1], H, C, c0, H, n, 0, True)
        return
    for g in range(G):
        mm(b1 - b0, n, H, A, a0, H, 1, segp[g], C, c0 + g * H, GH, 1.0, 0, b1 - b0)
