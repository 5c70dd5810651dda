"""Tiled shared-memory matrix products for the non-recurrent work of the CUDA backend.

``gemm`` computes C = op(A) @ op(B) (+ C) (+ bias), op = identity or transpose, on 2-D
device arrays of any strides (column slices of a gate buffer included). The network uses
it for the input projection of all steps (X W_ih^T + b_ih), the weight gradients summed
over the steps of a window (dG^T X, dG^T H) and dL/dx (dG W_ih). ``colsum`` gives the
bias gradients.

Each block computes a BM x BN tile of C with (BM/TM) x (BN/TN) threads, each owning a
TM x TN register tile; the K dimension is walked in BK-wide slabs staged in shared memory.
The loads are arranged so that consecutive threads read consecutive addresses whichever
operand is transposed. The simulator gets a 4 x 4 tile (four threads per block) since it
runs each thread as a Python thread.
"""

import functools

import numpy as np
from numba import cuda
from numba.cuda import types as cuda_types

from .._config import REAL_TILE, SIM_TILE
from . import _common as gc


@functools.cache
def _gemm_kernel(dtype, tile):
    BM, BN, BK, TM, TN = tile
    NTX, NTY = BN // TN, BM // TM
    NT = NTX * NTY
    PAD = 1  # one extra column: the row-major loads of a non-transposed A stay bank-conflict free
    nbt = getattr(cuda_types, np.dtype(dtype).name)
    A_SHAPE, B_SHAPE = (BK, BM + PAD), (BK, BN + PAD)  # shared-array shapes must be closure constants

    @gc.jit
    def gemm(A, Bm, C, bias, M, N, K, ta, tb, accumulate, has_bias):
        As = cuda.shared.array(A_SHAPE, nbt)
        Bs = cuda.shared.array(B_SHAPE, nbt)
        acc = cuda.local.array((TM, TN), nbt)
        ar = cuda.local.array(TM, nbt)
        br = cuda.local.array(TN, nbt)
        tid = cuda.threadIdx.x
        tx = tid % NTX
        ty = tid // NTX
        # Row tiles on grid.x (up to 2**31 - 1 blocks: M = T*B of any size); column tiles on
        # grid.y (at most 65535 blocks: gemm_grid), walked with a stride where N needs more.
        r0 = cuda.blockIdx.x * BM
        c0 = cuda.blockIdx.y * BN
        while c0 < N:
            for i in range(TM):
                for jj in range(TN):
                    acc[i, jj] = 0
            for k0 in range(0, K, BK):
                for e in range(tid, BM * BK, NT):
                    if ta:  # A is stored (K, M): walk along M
                        kk = e // BM
                        i = e - kk * BM
                    else:
                        i = e // BK
                        kk = e - i * BK
                    r = r0 + i
                    kq = k0 + kk
                    if r < M and kq < K:
                        if ta:
                            As[kk, i] = A[kq, r]
                        else:
                            As[kk, i] = A[r, kq]
                    else:
                        As[kk, i] = 0
                for e in range(tid, BN * BK, NT):
                    if tb:  # B is stored (N, K): walk along K
                        jn = e // BK
                        kk = e - jn * BK
                    else:
                        kk = e // BN
                        jn = e - kk * BN
                    c = c0 + jn
                    kq = k0 + kk
                    if c < N and kq < K:
                        if tb:
                            Bs[kk, jn] = Bm[c, kq]
                        else:
                            Bs[kk, jn] = Bm[kq, c]
                    else:
                        Bs[kk, jn] = 0
                cuda.syncthreads()
                for kk in range(BK):
                    for i in range(TM):
                        ar[i] = As[kk, ty + i * NTY]
                    for jj in range(TN):
                        br[jj] = Bs[kk, tx + jj * NTX]
                    for i in range(TM):
                        for jj in range(TN):
                            acc[i, jj] += ar[i] * br[jj]
                cuda.syncthreads()
            for i in range(TM):
                r = r0 + ty + i * NTY
                if r < M:
                    for jj in range(TN):
                        c = c0 + tx + jj * NTX
                        if c < N:
                            v = acc[i, jj]
                            if accumulate:
                                v += C[r, c]
                            if has_bias:
                                v += bias[c]
                            C[r, c] = v
            c0 += cuda.gridDim.y * BN


    return gemm


@gc.jit
def _colsum(a, out, accumulate):
    c = cuda.grid(1)
    n = cuda.gridsize(1)
    while c < a.shape[1]:
        s = a[0, c]
        for r in range(1, a.shape[0]):
            s += a[r, c]
        if accumulate:
            out[c] += s
        else:
            out[c] = s
        c += n


_DUMMY = {}


def _dummy(dtype):
    key = np.dtype(dtype)
    if key not in _DUMMY or gc.compile_only():
        _DUMMY[key] = gc.zeros((1,), dtype)
    return _DUMMY[key]


# CUDA's grid limits: 2**31 - 1 blocks along x, 65535 along y.
GRID_X_MAX, GRID_Y_MAX = 2**31 - 1, 65535


def gemm_grid(M, N, tile):
    """The launch grid of gemm for an M x N product: (row tiles, column tiles), the column
    tiles capped at CUDA's grid.y limit (the kernel strides over the rest)."""
    BM, BN = tile[0], tile[1]
    rows = -(-M // BM)
    if rows > GRID_X_MAX:
        raise ValueError(f"gemm: M = {M} needs {rows} row tiles, past CUDA's grid limit of {GRID_X_MAX}")
    return rows, min(-(-N // BN), GRID_Y_MAX)


def gemm(A, B, C, trans_a=False, trans_b=False, accumulate=False, bias=None):
    """C = op(A) @ op(B) [+ C if accumulate] [+ bias broadcast over rows]."""
    M, N = C.shape
    K = A.shape[0] if trans_a else A.shape[1]
    if (A.shape[1] if trans_a else A.shape[0]) != M or (B.shape[1] if trans_b else B.shape[0]) != K or (
        B.shape[0] if trans_b else B.shape[1]
    ) != N:
        raise ValueError(f"gemm: shapes {A.shape}{'^T' * trans_a} @ {B.shape}{'^T' * trans_b} -> {C.shape} do not match")
    if M == 0 or N == 0:
        return
    if K == 0:
        raise ValueError("gemm: K = 0")
    tile = SIM_TILE if gc.SIMULATOR else REAL_TILE
    BM, BN, _, TM, TN = tile
    kern = _gemm_kernel(np.dtype(C.dtype).name, tile)
    grid = gemm_grid(M, N, tile)
    b = bias if bias is not None else _dummy(C.dtype)
    gc.launch(kern, grid, (BN // TN) * (BM // TM), (A, B, C, b, M, N, K, trans_a, trans_b, accumulate, bias is not None))


def colsum(a, out, accumulate=True):
    """out[c] (+)= sum_r a[r, c]."""
    n = a.shape[1]
    tpb = gc.tpb_for(n)
    gc.launch(_colsum, gc.blocks_for(n, tpb, cap=4096), tpb, (a, out, accumulate))
