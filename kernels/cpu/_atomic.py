"""Atomic int64 counters for jitted code: how the threads of one time loop hand steps over.

Numba has no atomics on the CPU, and a plain load in a spin loop may legally be hoisted out
of it. These intrinsics emit LLVM's atomic instructions on elements of a 1-D int64 array:
an acquire load, a release store and a compare-and-swap, plus the CPU's spin-wait hint and a
yield of the time slice (for waits that last, on a machine with more runnable threads than
cores). Used by lstm.lstm_forward_units; see there for the protocol.
"""

import sys

import llvmlite.binding as llb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_X86 = llb.get_process_triple().split("-")[0] in ("x86_64", "i386", "i686")
_POSIX = sys.platform != "win32"


def _pause(builder):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
    builder.call(fn, [])


def _slot(context, builder, arrty, arr, idx):
    ary = context.make_array(arrty)(context, builder, arr)
    return cgutils.gep(builder, ary.data, idx, inbounds=True)


def _is_counter_array(arr):
    return isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.int64


@intrinsic
def load_acquire(typingctx, arr, idx):
    """arr[idx], ordered before every memory access after it (a spin loop rereads it)."""
    if not _is_counter_array(arr) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_slot(context, builder, sig.args[0], args[0], args[1]), "acquire", 8)

    return types.int64(arr, idx), codegen


@intrinsic
def store_release(typingctx, arr, idx, value):
    """arr[idx] = value, after every memory access before it is visible to other threads."""
    if not _is_counter_array(arr) or not isinstance(idx, types.Integer) or not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(v, _slot(context, builder, sig.args[0], args[0], args[1]), "release", 8)
        return context.get_dummy_value()

    return types.none(arr, idx, value), codegen


@intrinsic
def compare_exchange(typingctx, arr, idx, expected, new):
    """Atomically: if arr[idx] == expected, set it to new. True when this call set it."""
    if not _is_counter_array(arr) or not all(isinstance(a, types.Integer) for a in (idx, expected, new)):
        return None

    def codegen(context, builder, sig, args):
        exp = context.cast(builder, args[2], sig.args[2], types.int64)
        val = context.cast(builder, args[3], sig.args[3], types.int64)
        pair = builder.cmpxchg(_slot(context, builder, sig.args[0], args[0], args[1]), exp, val, "acq_rel",
                               "acquire")
        return builder.extract_value(pair, 1)

    return types.boolean(arr, idx, expected, new), codegen


@intrinsic
def spin_pause(typingctx):
    """The spin-wait hint (x86 ``pause``: yields the core's pipeline to its sibling thread and
    saves power); nothing elsewhere."""

    def codegen(context, builder, sig, args):
        if _X86:
            _pause(builder)
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def yield_cpu(typingctx):
    """Give up the rest of the time slice (POSIX ``sched_yield``), so that a descheduled
    thread this one waits for gets the core; a spin pause elsewhere."""

    def codegen(context, builder, sig, args):
        if _POSIX:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
            builder.call(fn, [])
        elif _X86:
            _pause(builder)
        return context.get_dummy_value()

    return types.none(), codegen
