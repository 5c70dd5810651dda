"""The float32 tanh / sigmoid / exp approximations of kernels/cpu/_common.py against float64 libm.

Their documented bounds (tanh 1.3 ulp, sigmoid 2.4 ulp, exp 1.0 ulp for results in the
normal range; sigmoid within 4.2e-39 below it) are checked on every 1021st float32 bit
pattern with |x| < 120 (about 2 million inputs), plus the special values.
"""

import math

import numpy as np
import pytest
from bpttlab.kernels.cpu._common import exp_f32, sigmoid, tanh
from bpttlab.kernels.cpu._jit import jit

TINY = float(np.finfo(np.float32).tiny)


# Loops LLVM vectorizes, as in the kernels.
@jit
def _tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = tanh(x[i])


@jit
def _sigmoid(x, out):
    for i in range(x.shape[0]):
        out[i] = sigmoid(x[i])


@jit
def _exp(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_f32(x[i])


FUNCS = {"tanh": _tanh, "sigmoid": _sigmoid, "exp": _exp}


def _eval(name, x):
    out = np.empty_like(x)
    FUNCS[name](x, out)
    return out


def _sample():
    bits = np.arange(0, 2**31, 1021, dtype=np.int64).astype(np.uint32)
    xs = bits.view(np.float32)
    xs = xs[np.isfinite(xs) & (np.abs(xs) < 120)]
    return np.concatenate([xs, -xs])


def _reference(name, x64):
    if name == "tanh":
        return np.tanh(x64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x64))
    return np.exp(x64)


@pytest.mark.parametrize("name, max_ulp, max_sub", [("tanh", 1.3, 0.0), ("sigmoid", 2.4, 4.2e-39),
                                                     ("exp", 1.01, 1.2e-38)])
def test_error_bounds(name, max_ulp, max_sub):
    x = _sample()
    if name == "exp":
        x = x[x < 88.7]  # exp overflows float32 above 88.72
    got = _eval(name, x).astype(np.float64)
    want = _reference(name, x.astype(np.float64))
    normal = np.abs(want) >= TINY
    ulp = np.spacing(np.abs(want[normal]).astype(np.float32)).astype(np.float64)
    err = np.abs(got[normal] - want[normal]) / ulp
    assert err.max() <= max_ulp, f"{name}: {err.max():.3f} ulp at x = {x[normal][err.argmax()]!r}"
    sub = np.abs(got[~normal] - want[~normal])
    assert sub.size == 0 or sub.max() <= max_sub, f"{name}: absolute error {sub.max():.2e} below the normal range"


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 200.0, -200.0], np.float32)
    t, s = _eval("tanh", x), _eval("sigmoid", x)
    assert np.isnan(t[0]) and np.isnan(s[0])
    np.testing.assert_array_equal(t[1:], [1, -1, 0, 0, 1, -1])
    np.testing.assert_array_equal(s[1:], [1, 0, 0.5, 0.5, 1, 0])
    e = _eval("exp", np.array([np.nan, np.inf, -np.inf, 0.0, 89.0, -104.0], np.float32))
    assert np.isnan(e[0])
    np.testing.assert_array_equal(e[[1, 3, 4]], [np.inf, 1, np.inf])
    assert 0 <= e[2] <= 1.2e-38 and 0 <= e[5] <= 1.2e-38  # the documented bound below the normal range


def test_float64_is_libm():
    """float64 is the C library's tanh and exp, as Python's math module calls them."""
    x = np.random.default_rng(0).uniform(-30, 30, 10_000)
    np.testing.assert_array_equal(_eval("tanh", x), [math.tanh(v) for v in x])
    want = [1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in x]
    np.testing.assert_array_equal(_eval("sigmoid", x), want)
