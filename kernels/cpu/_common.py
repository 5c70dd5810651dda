"""Scalar math and carry helpers shared by the CPU kernels (inlined by Numba).

``tanh`` and ``sigmoid`` depend on the dtype, picked when a kernel is compiled:

- float64: libm's ``tanh``/``exp``, exactly as written (the finite-difference and oracle
  tests run in float64);
- float32: branch-free approximations that LLVM vectorizes (``math.tanh``/``math.exp``
  calls do not: llvmlite has no vector math library). Measured against float64 libm over
  every 61st float32 bit pattern (about 37 million inputs): exp at most 1.0 ulp, tanh
  1.3 ulp, sigmoid 2.4 ulp for results in the normal range (below 1.2e-38 the sigmoid's
  absolute error stays under 4.2e-39). NaN stays NaN; tanh(±inf) = ±1, sigmoid(-inf) = 0,
  sigmoid(+inf) = 1. ``bench/cpu_vs_torch.py --accuracy`` repeats the measurement.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._config import FMA_INTRINSIC
from ._jit import jit, overload_math

# -- dtype-dependent scalar math ---------------------------------------------------------


def tanh(x):
    """tanh(x): libm in float64, a ≤ 1.3 ulp approximation in float32 (jitted code only)."""
    raise NotImplementedError("kernels._common.tanh is only callable from jitted code")


def sigmoid(x):
    """1 / (1 + exp(-x)), overflow-free: libm in float64, ≤ 2.4 ulp in float32 (jitted code only)."""
    raise NotImplementedError("kernels._common.sigmoid is only callable from jitted code")


def exp_f32(x):
    """exp(x) for float32, ≤ 1 ulp, vectorizable (jitted code only)."""
    raise NotImplementedError("kernels._common.exp_f32 is only callable from jitted code")


@intrinsic
def _f32_from_bits(typingctx, i):
    """The float32 whose bit pattern is the low 32 bits of the integer i."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = args[0]
        if v.type.width != 32:
            v = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return types.float32(i), codegen


@intrinsic
def _bits_of_f32(typingctx, x):
    """The bit pattern of the float32 x, as an int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(x), codegen


def _exp_reduced_f32(y, n):
    raise NotImplementedError("kernels._common._exp_reduced_f32 is only callable from jitted code")


@overload_math(_exp_reduced_f32)
def _exp_reduced_f32_impl(y, n):
    if y != types.float32 or n != types.float32:
        return None

    def impl(y, n):
        # Cephes expf's core: exp(y - n ln2) for |y - n ln2| <= ln2/2, ln2 in two parts so that
        # n * ln2_hi is exact, then a degree-7 polynomial.
        r = y - n * np.float32(0.693359375)
        r = r - n * np.float32(-2.12194440e-4)
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        return p * r * r + r + np.float32(1.0)

    return impl


def _exp_gate_f32(x):
    raise NotImplementedError("kernels._common._exp_gate_f32 is only callable from jitted code")


@overload_math(_exp_gate_f32)
def _exp_gate_f32_impl(x):
    if x != types.float32:
        return None

    def impl(x):
        # exp_f32's reduction and polynomial with fewer instructions around them (the gate
        # functions spend most of their time here): n = round(y / ln2) by the 1.5 * 2^23 trick,
        # which leaves n in the low bits of t (no floor, no float-to-int conversion, and NaN
        # flows through as NaN), and 2^n built from those bits in one factor. The one factor
        # cannot hold n = 128, so from x = 127.5 ln2 (88.38) on the result is inf where exp
        # has 2.4e38 to 3.4e38 left: for 1/(1 + exp(-x)) and 2/(exp(2x) + 1) that moves a
        # subnormal result by at most 4.2e-39, and nothing else.
        hi = np.float32(89.0)
        lo = np.float32(-87.33654475)  # n >= -126: 2^n stays a normal number
        y = hi if x > hi else x  # NaN-preserving clamps: a comparison with NaN is false
        y = lo if y < lo else y
        magic = np.float32(12582912.0)
        t = y * np.float32(1.44269504088896341) + magic
        n = t - magic
        p = _exp_reduced_f32(y, n)
        # bits(t) = bits(magic) + n; the exponent field of 2^n is n + 127 (255 at n = 128: inf)
        return p * _f32_from_bits((_bits_of_f32(t) - np.int32(0x4B400000 - 127)) << np.int32(23))

    return impl


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma, which LLVM vectorizes), or, on a target without
    hardware FMA, a multiply and an add (kernels/_config.py: FMA_INTRINSIC).

    Written out where an expression has two products feeding one sum (f c' + i g): left to
    the "contract" flag, which product LLVM fuses depends on how the surrounding code was
    optimized, so the same cell compiled into two different loops (the batch-chunk and the
    hidden-unit-slice time loops) could differ in the last bit.
    """
    if not isinstance(a, types.Float) or b != a or c != a:
        return None

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(sig.args[0])
        fn = builder.module.declare_intrinsic(FMA_INTRINSIC, [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, args)

    return a(a, b, c), codegen


@overload_math(exp_f32)
def _exp_f32(x):
    if x != types.float32:
        return None

    def impl(x):
        # Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-7 polynomial, 2^n by
        # exponent bits (in two factors, so that n = 128 does not overflow the field).
        hi = np.float32(88.72283935546875)
        lo = np.float32(-87.33654475)
        y = hi if x > hi else x  # NaN-preserving clamps: a comparison with NaN is false
        y = lo if y < lo else y
        n = np.floor(y * np.float32(1.44269504088896341) + np.float32(0.5))
        n = n if n == n else np.float32(0.0)  # NaN: keep the integer conversion defined
        p = _exp_reduced_f32(y, n)
        ni = np.int32(n)
        h = ni >> 1
        e = p * _f32_from_bits((h + 127) << 23) * _f32_from_bits((ni - h + 127) << 23)
        return np.float32(np.inf) if x > hi else e

    return impl


@overload_math(tanh)
def _tanh(x):
    if x == types.float32:

        def impl(x):
            # Cephes tanhf: an odd polynomial below |x| = 0.625, 1 - 2 / (exp(2|x|) + 1) above.
            one = np.float32(1.0)
            ax = abs(x)
            big = one - np.float32(2.0) / (_exp_gate_f32(np.float32(2.0) * ax) + one)
            big = -big if x < 0 else big
            z = x * x
            p = np.float32(-5.70498872745e-3)
            p = p * z + np.float32(2.06390887954e-2)
            p = p * z + np.float32(-5.37397155531e-2)
            p = p * z + np.float32(1.33314422036e-1)
            p = p * z + np.float32(-3.33332819422e-1)
            small = x + x * z * p
            return small if ax < np.float32(0.625) else big  # NaN: big, which is NaN

        return impl
    if isinstance(x, types.Float):
        return lambda x: math.tanh(x)
    return None


@overload_math(sigmoid)
def _sigmoid(x):
    if x == types.float32:

        def impl(x):
            one = np.float32(1.0)
            return one / (one + _exp_gate_f32(-x))  # exp overflow gives 1/inf = 0

        return impl
    if isinstance(x, types.Float):

        def impl64(x):
            # Both branches avoid exp overflow; NaN falls through the second and stays NaN.
            if x >= 0:
                return 1.0 / (1.0 + math.exp(-x))
            e = math.exp(x)
            return e / (1.0 + e)

        return impl64
    return None


# -- steps and carries -------------------------------------------------------------------


@jit
def step_indices(k, T, reverse):
    """Time index t of processing step k, and the rows of hs holding h_{prev} and h_t.

    hs has T + 1 rows: forward, hs[0] = h0 and hs[t + 1] = h_t; reverse, hs[T] = h0 and
    hs[t] = h_t. Either way the state a step reads and the one it writes are adjacent rows.
    """
    if reverse:
        t = T - 1 - k
        return t, t + 1, t
    return k, k, k + 1


@jit
def add_rows(acc, g, b0, b1):
    """acc (float64, width W) += the sum of rows [b0, b1) of g (B, W): a bias gradient."""
    for b in range(b0, b1):
        row = g[b]
        for j in range(acc.shape[0]):
            acc[j] += row[j]


@jit
def sumsq(a):
    s = 0.0
    for b in range(a.shape[0]):
        for j in range(a.shape[1]):
            v = float(a[b, j])
            s += v * v
    return s


@jit
def inject(dh, dc, g, scale, renorm):
    """dh += g, where in renormalized mode the true carry is (dh, dc) * exp(scale).

    Returns the new log-scale. The larger of the two magnitudes becomes the new scale,
    so neither the carry nor g overflows or underflows on the way in.
    """
    if not renorm:
        for b in range(dh.shape[0]):
            for j in range(dh.shape[1]):
                dh[b, j] += g[b, j]
        return scale
    ng = math.sqrt(sumsq(g))
    if not ng > 0.0:
        return scale
    new = max(scale, math.log(ng))
    f_old = math.exp(scale - new)
    f_new = math.exp(-new)
    for b in range(dh.shape[0]):
        for j in range(dh.shape[1]):
            dh[b, j] = dh[b, j] * f_old + g[b, j] * f_new
    for b in range(dc.shape[0]):
        for j in range(dc.shape[1]):
            dc[b, j] *= f_old
    return new


@jit
def renormalize(dh, dc, scale):
    """Divide the carry (dh, dc) by its norm and fold the norm into the log-scale."""
    m, s = scaled_sumsq(dh, dc)
    n = m * math.sqrt(s)
    if not (n > 0.0 and n < np.inf):
        return scale
    inv = 1.0 / n
    for b in range(dh.shape[0]):
        for j in range(dh.shape[1]):
            dh[b, j] *= inv
    for b in range(dc.shape[0]):
        for j in range(dc.shape[1]):
            dc[b, j] *= inv
    return scale + math.log(n)


@jit
def scaled_sumsq(a, c):
    """(m, s) with sum of squares of a and c = m**2 * s, safe from under/overflow.

    The plain sum of squares is used when it is comfortably inside the float64 range; only
    tiny or huge carries (the point of the gradient-decay studies) pay for a second pass.
    """
    s = sumsq(a) + sumsq(c)
    if s == 0.0 or (s > 1e-280 and s < 1e280) or not s == s:
        return 1.0, s
    m = 0.0
    for x in (a, c):
        for b in range(x.shape[0]):
            for j in range(x.shape[1]):
                m = max(m, abs(float(x[b, j])))
    if m == 0.0 or m == np.inf:
        return 1.0, s
    s = 0.0
    for x in (a, c):
        for b in range(x.shape[0]):
            for j in range(x.shape[1]):
                v = float(x[b, j]) / m
                s += v * v
    return m, s


@jit
def record_part(parts, t, a, c):
    """Store this batch chunk's (m, s) of ‖(a, c)‖² = m² s at step t (see finish_norms)."""
    m, s = scaled_sumsq(a, c)
    parts[t, 0] = m
    parts[t, 1] = s


@jit
def finish_norms(parts, scales, norms, lo, hi, renorm):
    """norms[t] for t in [lo, hi] from the chunks' parts (nchunks, T, 2): ‖·‖, or with renorm
    log‖·‖ + scales[t]. One chunk gives exactly what a single (m, s) pair gives."""
    for t in range(lo, hi + 1):
        M = 0.0
        for c in range(parts.shape[0]):
            M = max(M, parts[c, t, 0])
        S = 0.0
        for c in range(parts.shape[0]):
            if parts[c, t, 0] == M:
                S += parts[c, t, 1]
            else:
                r = parts[c, t, 0] / M
                S += parts[c, t, 1] * r * r
        if renorm:
            if S > 0.0:
                norms[t] = math.log(M) + 0.5 * math.log(S) + scales[t]
            else:
                norms[t] = -np.inf if S == 0.0 else np.nan
        else:
            norms[t] = M * math.sqrt(S)
