"""Device helpers shared by the CUDA kernels: scalar functions, the block reduction, small
element-wise kernels, launch sizes, and the one place that allocates, moves and launches.

Every allocation, transfer and launch of the CUDA backend goes through ``empty``, ``zeros``,
``to_device``, ``to_host`` and ``launch`` here. That keeps the simulator shortcuts in one
place and lets :func:`ptx_check` swap them for a mode that only compiles the kernels
(every launch is turned into a PTX compilation of the kernel for the real argument types),
which type-checks the real-GPU code paths on a machine with the CUDA toolkit but no GPU.

Only the modules of kernels/cuda/ import this one: importing ``kernels`` never loads numba.cuda.
"""

import math

import numpy as np
from numba import cuda

from .._config import CUDA_CACHE, CUDA_JIT_OPTIONS, MAX_TPB, SIM_TPB, cuda_simulator_requested, numba_cache_dir
from .._validation import is_device_array  # noqa: F401 - part of this module's interface

try:
    from numba.cuda.core import config as _cuda_config

    SIMULATOR = bool(_cuda_config.ENABLE_CUDASIM)
except ImportError:  # an older numba-cuda layout
    SIMULATOR = cuda_simulator_requested()


def jit(fn=None, device=False, launch_bounds=None):
    """cuda.jit with the options of _config (none in the simulator); kernels are cached on
    disk (CUDA_CACHE) in the directory keyed on every kernel source. launch_bounds (a kernel's
    (max threads per block, min blocks per SM)) goes into the PTX, where ptxas reads it."""
    if SIMULATOR:
        return cuda.jit(device=device) if fn is None else cuda.jit(fn, device=device)
    opts = dict(CUDA_JIT_OPTIONS, cache=CUDA_CACHE and not device)
    if launch_bounds is not None:
        opts["launch_bounds"] = launch_bounds

    def decorate(f):
        from numba.cuda.core import config as cuda_config  # noqa: PLC0415 - numba-cuda's own settings

        with numba_cache_dir(cuda_config):
            return cuda.jit(f, device=device, **opts)

    return decorate if fn is None else decorate(fn)


# Backward step modes. FUSED: the recurrent product of the previous step's error, the
# injection of dL/dh_t and the gate arithmetic, in one launch. log_norms mode splits it:
# PROD (the product, plus the squared norm of the carry) then GATE (renormalize, inject,
# gates), since renormalizing needs the norm over all units. PHASE_B: the second half of a
# reset-before GRU step, whose n-block product must wait for the whole dL/da_n.
FUSED, PROD, GATE, PHASE_B = 0, 1, 2, 3

# When set (by ptx_check), launches compile instead of running and "device" arrays are NumPy.
_DRY = {"on": False, "cc": (9, 0), "seen": None, "keep": False}


def compile_only():
    """Whether ptx_check is running: then launches only compile and arrays are NumPy."""
    return _DRY["on"]


# -- scalar device functions -----------------------------------------------------------------

def like(x, c):
    """The constant c in the floating type of x.

    A Python float literal is a float64 in Numba, and an integer one meeting a float32 makes a
    float64 too, so ``1 - z`` would run a float32 kernel's gate arithmetic in float64. Device
    code writes such constants as like(x, c): float32 in the float32 kernels, float64 in the
    float64 ones. (In the simulator, this plain Python version.)
    """
    return type(x)(c)


if not SIMULATOR:
    from numba.cuda.extending import overload

    @overload(like, target="cuda")
    def _like(x, c):
        ty = x

        def impl(x, c):
            return ty(c)

        return impl


@jit(device=True)
def sigmoid(x):
    # Same branches as the CPU kernels' sigmoid: no exp overflow, NaN stays NaN.
    one = like(x, 1)
    if x >= 0:
        return one / (one + math.exp(-x))
    e = math.exp(x)
    return e / (one + e)


# Batch rows per thread in the step kernels' recurrent products (dot_cols, dot_rows are written
# for 4): a W_hh element is loaded once per 4 rows. 4 keeps an LSTM's 16 float64 sums in
# registers (ptxas: no spills, tests/test_cuda_resources.py).
ROWS = 4


@jit(device=True)
def dot_cols(src, i0, b0, rs, nr, w, ldw, wb, wcs, n, G):
    """sum_m src[i0, b, m] * w[m*ldw + wb + k*wcs] for the G gate columns k < G (G <= 4) and
    the nr batch rows b = b0, b0 + rs, ..., b0 + (nr - 1) * rs (1 <= nr <= ROWS = 4) at once.

    Batch blocking: each weight is loaded once for the nr rows (the per-step kernels used to
    load all of W_hh once per batch row). w is a flat row-major weight matrix (global memory,
    or the shared-memory slice of a persistent kernel). Returns 16 sums, row r's gate k at
    4*r + k; rows past nr repeat row nr - 1 and gates past G repeat gate 0: ignore them. Each
    sum runs over m = 0, 1, ... from its first product, as the CPU's, so it keeps the array's
    dtype and the float64 results equal the CPU's.
    """
    # Rows past nr re-read row nr - 1 (in bounds, no branch in the loop); G is uniform.
    r1 = b0 + min(1, nr - 1) * rs
    r2 = b0 + min(2, nr - 1) * rs
    r3 = b0 + min(3, nr - 1) * rs
    c1 = wcs * min(1, G - 1)
    c2 = wcs * min(2, G - 1)
    c3 = wcs * min(3, G - 1)
    h0 = src[i0, b0, 0]
    h1 = src[i0, r1, 0]
    h2 = src[i0, r2, 0]
    h3 = src[i0, r3, 0]
    w0 = w[wb]
    a00 = h0 * w0
    a10 = h1 * w0
    a20 = h2 * w0
    a30 = h3 * w0
    a01 = a02 = a03 = a00
    a11 = a12 = a13 = a10
    a21 = a22 = a23 = a20
    a31 = a32 = a33 = a30
    if G > 1:
        w1 = w[wb + c1]
        a01, a11, a21, a31 = h0 * w1, h1 * w1, h2 * w1, h3 * w1
    if G > 2:
        w2 = w[wb + c2]
        a02, a12, a22, a32 = h0 * w2, h1 * w2, h2 * w2, h3 * w2
    if G > 3:
        w3 = w[wb + c3]
        a03, a13, a23, a33 = h0 * w3, h1 * w3, h2 * w3, h3 * w3
    for m in range(1, n):
        h0 = src[i0, b0, m]
        h1 = src[i0, r1, m]
        h2 = src[i0, r2, m]
        h3 = src[i0, r3, m]
        base = m * ldw + wb
        w0 = w[base]
        a00 += h0 * w0
        a10 += h1 * w0
        a20 += h2 * w0
        a30 += h3 * w0
        if G > 1:
            w1 = w[base + c1]
            a01 += h0 * w1
            a11 += h1 * w1
            a21 += h2 * w1
            a31 += h3 * w1
        if G > 2:
            w2 = w[base + c2]
            a02 += h0 * w2
            a12 += h1 * w2
            a22 += h2 * w2
            a32 += h3 * w2
        if G > 3:
            w3 = w[base + c3]
            a03 += h0 * w3
            a13 += h1 * w3
            a23 += h2 * w3
            a33 += h3 * w3
    return (a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33)


@jit(device=True)
def dot_rows(src, i0, b0, rs, nr, w, ldw, wb, r0, r1):
    """sum_{r0 <= r < r1} src[i0, b, r] * w[r*ldw + wb] for the nr batch rows b = b0, b0 + rs,
    ..., b0 + (nr - 1) * rs (1 <= nr <= 4) at once: one column of (error rows) @ W_hh, each
    weight loaded once for the nr rows. Returns 4 sums (rows past nr repeat row nr - 1), each
    in the CPU's order (r = r0, r0 + 1, ...)."""
    b1 = b0 + min(1, nr - 1) * rs
    b2 = b0 + min(2, nr - 1) * rs
    b3 = b0 + min(3, nr - 1) * rs
    wv = w[r0 * ldw + wb]
    a0 = src[i0, b0, r0] * wv
    a1 = src[i0, b1, r0] * wv
    a2 = src[i0, b2, r0] * wv
    a3 = src[i0, b3, r0] * wv
    for r in range(r0 + 1, r1):
        wv = w[r * ldw + wb]
        a0 += src[i0, b0, r] * wv
        a1 += src[i0, b1, r] * wv
        a2 += src[i0, b2, r] * wv
        a3 += src[i0, b3, r] * wv
    return a0, a1, a2, a3


@jit(device=True)
def enter(raw, dcv, has_prev, renorm, inj, g, ngs, nrm, scl, t, tp):
    """The carry entering step t: renormalized (log_norms mode) and with dL/dh_t injected.

    Mirrors the CPU's renormalize (of the previous step's carry) followed by inject; in
    log_norms mode every thread derives the same log-scale from what earlier launches
    reduced: nrm, the raw carry's norm (block_combined_norm of its partials), and ngs[t] =
    sum of squares of dy[t].
    Returns (dh, dc, log-scale).
    """
    # The log-scale and the rescaling factors stay float64 in the float32 kernels too: a
    # factor such as 1/n for a carry of norm 1e-40 is past float32's range (the CPU, too,
    # rescales in float64); the carry is rounded back to its own type at once.
    s = 0.0  # f64: norms
    if renorm:
        if has_prev:
            s = scl[tp]  # f64: norms
            n = nrm  # f64: norms
            if n > 0.0 and not math.isinf(n):  # f64: norms
                inv = 1.0 / n  # f64: norms
                raw = like(raw, raw * inv)  # f64: norms
                dcv = like(dcv, dcv * inv)  # f64: norms
                s += math.log(n)  # f64: norms
        if inj:
            ng = math.sqrt(ngs[t])  # f64: norms
            if ng > 0.0:  # f64: norms
                new = max(s, math.log(ng))  # f64: norms
                f_old = math.exp(s - new)  # f64: norms
                f_new = math.exp(-new)  # f64: norms
                raw = like(raw, raw * f_old + g * f_new)  # f64: norms
                dcv = like(dcv, dcv * f_old)  # f64: norms
                s = new
    elif inj:
        raw = raw + g
    return raw, dcv, s


# -- norms safe from under- and overflow ---------------------------------------------------------
#
# The CPU records ‖·‖ from the plain sum of squares when that lies well inside the float64
# range and rescales by the largest magnitude otherwise (_common.scaled_sumsq). Here each
# thread keeps (m, s, p): the largest magnitude, the sum of squares scaled by it, and the
# plain sum; blocks combine them in shared memory and write one partial per block
# (part[t, block]); combine_norm (within a step) and finish_norms (after the sweep) then make
# the CPU's choice for the whole. No atomics: the result does not depend on block order.

PLAIN_LO, PLAIN_HI = 1e-280, 1e280  # the plain sum is used strictly between these (as on the CPU)


@jit(device=True)
def norm_acc(v, m, s, p):
    a = abs(float(v))
    p += a * a
    if a > m:
        r = m / a
        s = s * r * r + 1.0
        m = a
    elif a > 0.0:
        r = a / m
        s += r * r
    return m, s, p


@jit(device=True)
def block_norm(m, s, p, part, t):
    """part[t, block] = the block's combined (m, s, p).

    Every thread of the block must call it (a power-of-two block of at most MAX_TPB
    threads). A shared-memory tree, no warp shuffles, so the simulator runs it too.
    """
    bm = cuda.shared.array(MAX_TPB, np.float64)
    bs = cuda.shared.array(MAX_TPB, np.float64)
    bp = cuda.shared.array(MAX_TPB, np.float64)
    tid = cuda.threadIdx.x
    cuda.syncthreads()  # the previous call's readers are done
    bm[tid] = m
    bs[tid] = s
    bp[tid] = p
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if tid < step:
            m1 = bm[tid]
            m2 = bm[tid + step]
            mx = max(m1, m2)
            if mx > 0.0 and not math.isinf(mx):
                acc = 0.0
                if m1 > 0.0:
                    r = m1 / mx
                    acc += bs[tid] * r * r
                if m2 > 0.0:
                    r = m2 / mx
                    acc += bs[tid + step] * r * r
                bs[tid] = acc
            bm[tid] = mx
            bp[tid] += bp[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        blk = cuda.blockIdx.x
        part[t, blk, 0] = bm[0]
        part[t, blk, 1] = bs[0]
        part[t, blk, 2] = bp[0]


@jit(device=True)
def combine_ms(part, t, nbk):
    """(m, s) with ‖·‖² = m² s from the nbk block partials of step t, chosen as the CPU's
    scaled_sumsq chooses: the plain sum (m = 1) unless it is 0 < p outside (PLAIN_LO, PLAIN_HI)."""
    p = 0.0
    mx = 0.0
    for k in range(nbk):
        p += part[t, k, 2]
        mx = max(mx, part[t, k, 0])
    if p == 0.0 or (p > PLAIN_LO and p < PLAIN_HI) or not p == p or mx == 0.0 or math.isinf(mx):
        return 1.0, p
    s = 0.0
    for k in range(nbk):
        mk = part[t, k, 0]
        if mk > 0.0:
            r = mk / mx
            s += part[t, k, 1] * r * r
    return mx, s


@jit(device=True)
def combine_norm(part, t, nbk):
    m, s = combine_ms(part, t, nbk)
    return m * math.sqrt(s)


@jit(device=True)
def block_combined_norm(part, t, nbk):
    """combine_norm(part, t, nbk), computed by one thread and shared with its block, instead of
    every thread reading all nbk partials. Every thread of the block must call it."""
    buf = cuda.shared.array(1, np.float64)
    cuda.syncthreads()  # the previous call's readers are done
    if cuda.threadIdx.x == 0:
        buf[0] = combine_norm(part, t, nbk)
    cuda.syncthreads()
    return buf[0]


@jit
def _finish_norms(part, scale, renorm, out):
    """out[r, t] = ‖·‖ of row r, step t from its partials, or log‖·‖ + scale[r, t] (renorm)."""
    i = cuda.grid(1)
    n = cuda.gridsize(1)
    T = out.shape[1]
    while i < out.shape[0] * T:
        r = i // T
        t = i - r * T
        m, s = combine_ms(part[r], t, part.shape[2])
        if not renorm:
            out[r, t] = m * math.sqrt(s)
        elif s > 0.0:
            out[r, t] = math.log(m) + 0.5 * math.log(s) + scale[r, t]
        elif s == 0.0:
            out[r, t] = -math.inf
        else:
            out[r, t] = math.nan
        i += n


@jit(device=True)
def block_add(val, out, idx):
    """out[idx] += the sum of val over the block (as block_norm: every thread calls it)."""
    buf = cuda.shared.array(MAX_TPB, np.float64)
    tid = cuda.threadIdx.x
    cuda.syncthreads()  # the previous call's readers of buf are done
    buf[tid] = val
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[tid] += buf[tid + s]
        cuda.syncthreads()
        s //= 2
    if tid == 0:
        cuda.atomic.add(out, idx, buf[0])


# -- small kernels --------------------------------------------------------------------------

@jit
def _fill1(a, v):
    i = cuda.grid(1)
    n = cuda.gridsize(1)
    while i < a.shape[0]:
        a[i] = v
        i += n


@jit
def _ew3(src, dst, add):
    """dst = src, or dst += src (add), over 3-D arrays of any strides."""
    i = cuda.grid(1)
    n = cuda.gridsize(1)
    d1 = dst.shape[1]
    d2 = dst.shape[2]
    total = dst.shape[0] * d1 * d2
    while i < total:
        a = i // (d1 * d2)
        r = i - a * d1 * d2
        b = r // d2
        c = r - b * d2
        if add:
            dst[a, b, c] += src[a, b, c]
        else:
            dst[a, b, c] = src[a, b, c]
        i += n


@jit
def _transpose(src, dst):
    i = cuda.grid(1)
    n = cuda.gridsize(1)
    rows = dst.shape[0]
    cols = dst.shape[1]
    while i < rows * cols:
        r = i // cols
        c = i - r * cols
        dst[r, c] = src[c, r]
        i += n


@jit
def _slice_sumsq(a, off, col0, width, t0, out):
    """out[t0 + k] += sum of squares of a[k - off + t0 ..., :, col0:col0+width]; a block per k."""
    k = cuda.blockIdx.x
    B = a.shape[1]
    acc = 0.0
    i = cuda.threadIdx.x
    while i < B * width:
        b = i // width
        j = i - b * width
        v = float(a[t0 + k - off, b, col0 + j])
        acc += v * v
        i += cuda.blockDim.x
    block_add(acc, out, t0 + k)


# -- launch sizes ---------------------------------------------------------------------------

def next_pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


def tpb_for(n):
    """A power-of-two block size for n units of work."""
    if SIMULATOR:
        return min(SIM_TPB, next_pow2(max(n, 1)))
    return min(MAX_TPB, max(32, next_pow2(n)))


def blocks_for(n, tpb, cap=None):
    nb = max(1, -(-n // tpb))
    if SIMULATOR:
        nb = min(nb, 2)  # grid-stride kernels need not cover n, and the simulator runs blocks serially
    if cap is not None:
        nb = min(nb, cap)
    return nb


# -- allocation, transfer, launch -------------------------------------------------------------

def as_device_view(a):
    """A numba device array viewing a (no copy); a foreign CUDA array is wrapped."""
    if getattr(a, "__cuda_ndarray__", False):
        return a
    return cuda.as_cuda_array(a)


def free_device_memory():
    """Free bytes on the current GPU; None where "device" arrays are host arrays."""
    if _DRY["on"] or SIMULATOR:
        return None
    return cuda.current_context().get_memory_info()[0]


def empty(shape, dtype):
    if _DRY["on"]:
        return np.empty(shape, dtype)
    return cuda.device_array(shape, dtype)


def zeros(shape, dtype):
    if _DRY["on"]:
        return np.zeros(shape, dtype)
    if SIMULATOR:
        return cuda.to_device(np.zeros(shape, dtype))
    a = cuda.device_array(shape, dtype)
    fill(a, 0)
    return a


def swapped(slots, n, B, dtype):
    """A (slots, B, n) view of a new C-contiguous (slots, n, B) buffer: ``v[s, b, m]`` is
    element (m, b) of slot s. The persistent kernels index it as they index the state (b, m)
    while consecutive batch rows are consecutive addresses (see layer._persistent_kernels)."""
    buf = empty((slots, n, B), dtype)
    if _DRY["on"] or SIMULATOR:
        return buf.transpose((0, 2, 1))  # NumPy, or the simulator's wrapper of it: a view
    from numba.cuda.cudadrv.devicearray import DeviceNDArray  # noqa: PLC0415 - real GPU only

    s0, s1, s2 = buf.strides
    return DeviceNDArray((slots, B, n), (s0, s2, s1), buf.dtype, gpu_data=buf.gpu_data)


def to_device(a):
    if _DRY["on"]:
        return np.array(a)
    return cuda.to_device(np.ascontiguousarray(a))


def to_host(a):
    if _DRY["on"]:
        return np.array(a)
    return a.copy_to_host()


def flat(a):
    """The 1-D view of a C-contiguous array."""
    return a.reshape(a.size) if not _DRY["on"] else a.reshape(-1)


def launch(kernel, griddim, blockdim, args, sharedmem=0):
    if _DRY["on"]:
        _compile_only(kernel, args)
        return
    kernel[griddim, blockdim, 0, sharedmem](*args)


def fill(a, value):
    """Set every element of a C-contiguous device array."""
    f = flat(a)
    tpb = tpb_for(f.shape[0])
    launch(_fill1, blocks_for(f.shape[0], tpb, cap=4096), tpb, (f, value))


def _3d(a):
    return a if len(a.shape) == 3 else a.reshape((1,) * (3 - len(a.shape)) + tuple(a.shape))


def copy(src, dst):
    """dst[...] = src (same shape; dst may be a strided view; 1-D and 2-D need contiguity)."""
    _ew(src, dst, False)


def add_into(dst, src):
    """dst += src (same shape)."""
    _ew(src, dst, True)


def _ew(src, dst, add):
    s, d = _3d(src), _3d(dst)
    n = int(np.prod(d.shape))
    tpb = tpb_for(n)
    launch(_ew3, blocks_for(n, tpb, cap=4096), tpb, (s, d, add))


def transpose(src):
    """A C-contiguous transposed copy of a 2-D device array."""
    rows, cols = src.shape
    dst = empty((cols, rows), src.dtype)
    n = rows * cols
    tpb = tpb_for(n)
    launch(_transpose, blocks_for(n, tpb, cap=4096), tpb, (src, dst))
    return dst


def contiguous(a):
    """a itself when C-contiguous, else a contiguous device copy."""
    if _DRY["on"] or a.is_c_contiguous():
        return a
    out = empty(a.shape, a.dtype)
    if len(a.shape) == 3:
        copy(a, out)
    elif len(a.shape) == 2:
        # A 2-D view made contiguous through its transpose's transpose keeps the copy kernels 3-D.
        out = transpose(transpose(a))
    else:
        host = to_host(a)  # 1-D vectors (biases) are small
        out = to_device(host)
    return out


def finish_norms(part, scale=None):
    """Host array (rows, T) of norms from device partials (rows, T, NB, 3); with a scale
    (rows, T), log-norms plus it (the log_norms mode)."""
    rows, T = part.shape[0], part.shape[1]
    out = empty((rows, T), np.float64)
    tpb = tpb_for(rows * T)
    renorm = scale is not None
    launch(_finish_norms, blocks_for(rows * T, tpb, cap=4096), tpb, (part, scale if renorm else out, renorm, out))
    return to_host(out)


def slice_sumsq(a, off, col0, width, t0, n, out):
    """out[t0:t0+n] += squared norms of a[t - off, :, col0:col0+width] for t in [t0, t0+n)."""
    tpb = tpb_for(a.shape[1] * width)
    launch(_slice_sumsq, n, tpb, (a, off, col0, width, t0, out))


# -- compile-only mode ------------------------------------------------------------------------

def _compile_only(kernel, args):
    from numba.cuda.typing.typeof import typeof  # noqa: PLC0415 - only in compile-only mode

    sig = tuple(typeof(a) for a in args)
    key = (kernel.py_func, sig)
    if key in _DRY["seen"]:
        return
    # Line info lets _resources.py tell which source line each PTX instruction came from.
    bounds = getattr(kernel, "targetoptions", {}).get("launch_bounds")
    ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=_DRY["cc"], lineinfo=_DRY["keep"], launch_bounds=bounds)
    _DRY["seen"][key] = (kernel, sig, ptx) if _DRY["keep"] else True


def ptx_check(run, cc=(9, 0), keep=None):
    """Call run() with every launch replaced by a PTX compilation (no GPU needed).

    Needs numba-cuda with the CUDA toolkit's NVVM and NVRTC libraries, and the simulator
    off. Returns the number of distinct (kernel, signature) pairs compiled; with a dict as
    ``keep``, also fills it with {(py_func, signature): (kernel, signature, PTX with line info)}.
    """
    if SIMULATOR:
        raise RuntimeError("ptx_check compiles for a real GPU: run it with NUMBA_ENABLE_CUDASIM unset")
    import numba.cuda.dispatcher as dispatcher  # noqa: PLC0415

    class _Device:  # device functions ask the current device for its compute capability
        compute_capability = cc

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = _Device
    _DRY.update(on=True, cc=cc, seen={} if keep is None else keep, keep=keep is not None)
    try:
        run()
        return len(_DRY["seen"])
    finally:
        _DRY.update(on=False, keep=False)
        dispatcher.get_current_device = saved
