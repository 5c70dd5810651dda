"""The one place that decides how bpttlab's CPU kernels are compiled.

Every jitted function in ``kernels`` is decorated with :func:`jit`, so a change of policy
(caching, fast-math flags, error model) is made here once.
"""

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numba
from numba.core import config

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
