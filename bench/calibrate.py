"""Calibration work for the regression check: one BLAS-bound and one scalar-bound task.

Their speed moves with the machine's (another tenant, a throttled clock), not with our code,
so kernel times divided by them compare across runs and machines of one kind.
"""

import math

import numpy as np

from kernels._jit import jit

_A = np.random.default_rng(0).standard_normal((192, 192)).astype(np.float32)
_X = np.random.default_rng(1).standard_normal(20_000)


def sgemm():
    return _A @ _A


@jit
def _scalar(x):
    s = 0.0
    for v in x:
        s += math.tanh(v) * math.exp(-abs(v))
    return s


def scalar_loop():
    return _scalar(_X)
