"""SIMD vectors for jitted code: a Numba type whose LLVM representation is a vector register.

Numba has no vector types, and LLVM's auto-vectorizer does not register-block a matrix
product (it keeps the accumulators in memory). These intrinsics let ``_gemm.py`` write its
micro-kernel the way a BLAS does: a tile of C held in vector registers across the whole
k loop, one broadcast of A and one vector load of B per multiply-add.

A vector holds ``VBYTES`` bytes: 64 (one AVX-512 register; 16 float32 or 8 float64) when
the compile target has AVX-512, 32 with AVX2, 16 with neither (kernels/_config.py). Loads and
stores are unaligned; ``*_n`` variants mask the lanes from n on (for partial tiles at the
edges of a matrix).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

# The width of the instruction set Numba compiles for (NUMBA_CPU_FEATURES included, so an
# emulated AVX2 target gets AVX2 vectors on an AVX-512 host).
from .._config import FMA_INTRINSIC, VBYTES


class Vec(types.Type):
    """VBYTES bytes of ``dtype`` (float32 or float64) as one LLVM vector value."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = VBYTES * 8 // dtype.bitwidth
        super().__init__(name=f"Vec({dtype}x{self.lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        be = ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes)
        super().__init__(dmm, fe_type, be)


def _vec_of(arr):
    if not isinstance(arr, types.Array) or not isinstance(arr.dtype, types.Float):
        return None
    return Vec(arr.dtype)


def _ptr(context, builder, arrty, arr, idx, vty, inbounds=True):
    ary = context.make_array(arrty)(context, builder, arr)
    p = cgutils.gep(builder, ary.data, idx, inbounds=inbounds)
    return builder.bitcast(p, ir.PointerType(vty))


def _mask(builder, vty, n):
    """<lanes x i1>: lane i < n."""
    lanes = vty.count
    iota = ir.Constant(ir.VectorType(ir.IntType(64), lanes), list(range(lanes)))
    nn = builder.sext(n, ir.IntType(64)) if n.type.width < 64 else n
    splat = builder.insert_element(ir.Constant(ir.VectorType(ir.IntType(64), lanes), ir.Undefined), nn,
                                   ir.Constant(ir.IntType(32), 0))
    splat = builder.shuffle_vector(splat, ir.Constant(splat.type, ir.Undefined),
                                   ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
    return builder.icmp_signed("<", iota, splat)


def _elt_suffix(vty):
    return f"v{vty.count}f{32 if isinstance(vty.element, ir.FloatType) else 64}"


@intrinsic
def vlanes(typingctx, arr):
    """Lanes per vector for arr's dtype (a compile-time constant)."""
    vt = _vec_of(arr)
    if vt is None:
        return None

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(64), vt.lanes)

    return types.int64(arr), codegen


@intrinsic
def vzero(typingctx, arr):
    """A vector of zeros of arr's dtype."""
    vt = _vec_of(arr)
    if vt is None:
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        return ir.Constant(vty, [0.0] * vt.lanes)

    return vt(arr), codegen


@intrinsic
def vload(typingctx, arr, idx):
    """arr[idx : idx + lanes] (arr 1-D contiguous)."""
    vt = _vec_of(arr)
    if vt is None or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        return builder.load(_ptr(context, builder, sig.args[0], args[0], args[1], vty), align=4)

    return vt(arr, idx), codegen


@intrinsic
def vstore(typingctx, arr, idx, v):
    """arr[idx : idx + lanes] = v."""
    vt = _vec_of(arr)
    if vt is None or v != vt or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        builder.store(args[2], _ptr(context, builder, sig.args[0], args[0], args[1], vty), align=4)
        return context.get_dummy_value()

    return types.none(arr, idx, v), codegen


@intrinsic
def vload_n(typingctx, arr, idx, n):
    """arr[idx : idx + n] in the first n lanes, zeros after (nothing read past n)."""
    vt = _vec_of(arr)
    if vt is None or not isinstance(idx, types.Integer) or not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        ptr = _ptr(context, builder, sig.args[0], args[0], args[1], vty, inbounds=False)
        mask = _mask(builder, vty, args[2])
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [ptr.type, ir.IntType(32), mask.type, vty]),
            f"llvm.masked.load.{_elt_suffix(vty)}.p0")
        return builder.call(fn, [ptr, ir.Constant(ir.IntType(32), 4), mask, ir.Constant(vty, [0.0] * vt.lanes)])

    return vt(arr, idx, n), codegen


@intrinsic
def vstore_n(typingctx, arr, idx, v, n):
    """arr[idx : idx + n] = the first n lanes of v (nothing written past n)."""
    vt = _vec_of(arr)
    if vt is None or v != vt or not isinstance(idx, types.Integer) or not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        ptr = _ptr(context, builder, sig.args[0], args[0], args[1], vty, inbounds=False)
        mask = _mask(builder, vty, args[3])
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [vty, ptr.type, ir.IntType(32), mask.type]),
            f"llvm.masked.store.{_elt_suffix(vty)}.p0")
        builder.call(fn, [args[2], ptr, ir.Constant(ir.IntType(32), 4), mask])
        return context.get_dummy_value()

    return types.none(arr, idx, v, n), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """c + a * b, a scalar broadcast to every lane (one fused multiply-add; a multiply and an add
    on a target without hardware FMA: kernels/_config.py FMA_INTRINSIC)."""
    if not isinstance(b, Vec) or c != b or a != b.dtype:
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(b)
        lanes = b.lanes
        av = builder.insert_element(ir.Constant(vty, ir.Undefined), args[0], ir.Constant(ir.IntType(32), 0))
        av = builder.shuffle_vector(av, ir.Constant(vty, ir.Undefined),
                                    ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty, vty, vty]),
                                            f"{FMA_INTRINSIC}.{_elt_suffix(vty)}")
        return builder.call(fn, [av, args[1], args[2]])

    return b(a, b, c), codegen


@intrinsic
def vadd(typingctx, a, b):
    """a + b, lane by lane."""
    if not isinstance(a, Vec) or b != a:
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])

    return a(a, b), codegen


@intrinsic
def vtranspose(typingctx, src, s0, lds, dst, d0, ldd):
    """dst[d0 + c*ldd + r] = src[s0 + r*lds + c] for r, c < lanes: one square block transposed
    in registers (a log2(lanes)-stage shuffle network), for packing weights."""
    vt = _vec_of(src)
    if vt is None or _vec_of(dst) != vt:
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        L = vt.lanes
        rows = []
        for r in range(L):
            idx = builder.add(args[1], builder.mul(args[2], ir.Constant(args[2].type, r)))
            rows.append(builder.load(_ptr(context, builder, sig.args[0], args[0], idx, vty), align=4))
        b = L // 2
        while b >= 1:
            lo = ir.Constant(ir.VectorType(ir.IntType(32), L), [c if c & b == 0 else L + c - b for c in range(L)])
            hi = ir.Constant(ir.VectorType(ir.IntType(32), L), [c + b if c & b == 0 else L + c for c in range(L)])
            new = list(rows)
            for i in range(L):
                if i & b == 0:
                    new[i] = builder.shuffle_vector(rows[i], rows[i + b], lo)
                    new[i + b] = builder.shuffle_vector(rows[i], rows[i + b], hi)
            rows = new
            b //= 2
        for c in range(L):
            idx = builder.add(args[4], builder.mul(args[5], ir.Constant(args[5].type, c)))
            builder.store(rows[c], _ptr(context, builder, sig.args[3], args[3], idx, vty), align=4)
        return context.get_dummy_value()

    return types.none(src, s0, lds, dst, d0, ldd), codegen
