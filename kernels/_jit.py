"""The one place that decides how bpttlab's CPU kernels are compiled.

Every jitted function in ``kernels`` is decorated with :func:`jit` (or :func:`jit_parallel`,
the same with Numba's parallel loops: the few wrappers in cpu_par.py), and the element-wise
math that depends on the dtype is registered with :func:`overload_math`, so a change of
policy (caching, fast-math flags, error model, threads) is made here once.
"""

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numba
from numba.core import config
from numba.extending import overload

# Reassociation and contraction let LLVM vectorize reductions and fuse multiply-adds.
# "nnan" and "ninf" are deliberately absent: NaN and Inf in the inputs must reach the
# outputs, and a kernel compiled under them may silently turn NaN into a number.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# The float32 approximations of exp/tanh/sigmoid (kernels/_common.py) rely on the order of
# their range reduction (x - n*ln2_hi - n*ln2_lo): they are compiled without "reassoc", which
# is attached to each instruction, so it stays off after they are inlined into a kernel.
MATH_FASTMATH = FASTMATH - {"reassoc"}

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": FASTMATH,
    # NumPy semantics for 1/0 and friends: Inf/NaN instead of a ZeroDivisionError.
    "error_model": "numpy",
}

_HERE = Path(__file__).resolve().parent


def _source_digest():
    h = hashlib.sha256()
    for p in sorted(_HERE.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


# Numba's on-disk cache is keyed on the decorated function's own file only, so an edit to a
# helper in another module (say _common.py) would leave callers running stale machine code.
# Keying the cache directory on the digest of every kernel source closes that hole.
_DIGEST = _source_digest()


@contextmanager
def _cache_dir():
    user = config.CACHE_DIR
    base = Path(user) / "bpttlab" if user else _HERE / "__pycache__"
    config.CACHE_DIR = os.fspath(base / f"numba-{_DIGEST}")
    try:
        yield
    finally:
        config.CACHE_DIR = user


def jit(fn):
    """Compile ``fn`` in nopython mode with the project's options."""
    with _cache_dir():
        return numba.njit(**JIT_OPTIONS)(fn)


def jit_parallel(fn):
    """Like :func:`jit`, with ``prange`` loops run on Numba's threads."""
    with _cache_dir():
        return numba.njit(parallel=True, **JIT_OPTIONS)(fn)


def overload_math(stub):
    """Register the decorated typing function as the jitted implementation of ``stub``.

    Used for the scalar math whose implementation depends on the dtype (exact libm calls
    for float64, vectorizable approximations for float32); see kernels/_common.py.
    """
    return overload(stub, jit_options={"fastmath": MATH_FASTMATH, "error_model": "numpy", "nogil": True})


# -- threads -------------------------------------------------------------------------------

# Numba's OpenMP threads spin this many times (GOMP_SPINCOUNT; a spin is one "pause", tens of
# cycles) before sleeping, between parallel regions and at their end. libgomp's default,
# 300000 (milliseconds), keeps back-to-back regions cheap but lets an idle pool steal a core
# for that long, and on an oversubscribed machine a spinning wait at the end of a region can
# cost a whole scheduler time slice; sleeping right away (a futex wake per region) is slow on
# virtual machines, where waking a halted CPU costs tens of microseconds or more. 20000 spins
# (a few hundred microseconds) keeps the threads hot across one call's regions and the gaps
# between calls, and no longer.
GOMP_SPINCOUNT = "20000"


def _start_threads():
    """Start Numba's thread pool now, with GOMP_SPINCOUNT set for it alone.

    libgomp reads the variable once, when it is loaded (here, by Numba's OpenMP layer), so the
    setting is restored right after: an OpenMP runtime loaded later (PyTorch's own copy, say)
    does not see it. Nothing is changed if the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, or
    if Numba's threads were already running.
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        numba.get_num_threads()
        return
    os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
    try:
        numba.get_num_threads()  # launches the threads (and loads the threading layer) once
    finally:
        del os.environ["GOMP_SPINCOUNT"]


def num_threads():
    """Threads the kernels use: Numba's setting (``numba.set_num_threads``)."""
    return numba.get_num_threads()


_start_threads()
