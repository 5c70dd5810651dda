"""The one place that decides how bpttlab's CPU kernels are compiled.

Every jitted function in ``kernels`` is decorated with :func:`jit`, so a change of policy
(caching, fast-math flags, error model) is made here once.
"""

import numba

# Reassociation and contraction let LLVM vectorize reductions and fuse multiply-adds.
# "nnan" and "ninf" are deliberately absent: NaN and Inf in the inputs must reach the
# outputs, and a kernel compiled under them may silently turn NaN into a number.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": FASTMATH,
    # NumPy semantics for 1/0 and friends: Inf/NaN instead of a ZeroDivisionError.
    "error_model": "numpy",
}


def jit(fn):
    """Compile ``fn`` in nopython mode with the project's options."""
    return numba.njit(**JIT_OPTIONS)(fn)
