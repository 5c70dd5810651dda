"""The decorators that compile the CPU kernels, with the options of kernels/_config.py.

Every jitted function of the CPU backend is decorated with :func:`jit` (or
:func:`jit_parallel`, the same with Numba's parallel loops: the few wrappers in _par.py), and
the element-wise math that depends on the dtype is registered with :func:`overload_math`.
"""

import numba
from numba.extending import overload

from .. import _config


def jit(fn):
    """Compile ``fn`` in nopython mode with the project's options."""
    with _config.numba_cache_dir():
        return numba.njit(**_config.JIT_OPTIONS)(fn)


def jit_parallel(fn):
    """Like :func:`jit`, with ``prange`` loops run on Numba's threads."""
    with _config.numba_cache_dir():
        return numba.njit(parallel=True, **_config.JIT_OPTIONS)(fn)


def overload_math(stub):
    """Register the decorated typing function as the jitted implementation of ``stub``.

    Used for the scalar math whose implementation depends on the dtype (exact libm calls
    for float64, vectorizable approximations for float32); see _common.py.
    """
    return overload(stub, jit_options=_config.MATH_JIT_OPTIONS)
