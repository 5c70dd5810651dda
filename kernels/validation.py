"""Argument checks that turn bad input into one clear error (never a Numba typing traceback).

Each message names the argument, what it got and what was expected.
"""

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(name, a, *, ndim=None, shape=None, dtype=None):
    """A C-contiguous float32/float64 ndarray view (or copy) of ``a``; never modifies ``a``."""
    if isinstance(a, np.ndarray):
        arr = a
    else:
        try:
            arr = np.asarray(a)
        except Exception as e:  # e.g. a ragged list
            raise TypeError(f"{name}: got {type(a).__name__}, expected an array ({e})") from None
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: got dtype {arr.dtype}, expected float32 or float64")
    if dtype is not None and arr.dtype != dtype:
        raise TypeError(f"{name}: got dtype {arr.dtype}, expected {np.dtype(dtype)} (the dtype of x; dtypes must not be mixed)")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: got a {arr.ndim}-D array of shape {arr.shape}, expected {ndim}-D")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name}: got shape {tuple(arr.shape)}, expected {tuple(shape)}")
    return np.ascontiguousarray(arr)


def check_params(params, expected, dtype):
    """Validate a parameter dict against {key: shape}; returns contiguous arrays in key order."""
    if not isinstance(params, dict):
        raise TypeError(f"params: got {type(params).__name__}, expected a dict of arrays keyed like a state_dict")
    missing = [k for k in expected if k not in params]
    extra = sorted(k for k in params if k not in expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise KeyError(f"params: {'; '.join(parts)}; expected exactly {list(expected)}")
    return {k: as_float_array(f"params[{k!r}]", params[k], shape=shape, dtype=dtype) for k, shape in expected.items()}


def check_state(name, state, has_c, shape, dtype):
    """(h, c) from a state argument (c is None for cells without a cell state); None → zeros."""
    if state is None:
        z = np.zeros(shape, dtype)
        return z, (np.zeros(shape, dtype) if has_c else None)
    if has_c:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"{name}: got {type(state).__name__}, expected a tuple (h, c) of arrays of shape {shape}")
        return (as_float_array(f"{name}[0] (h)", state[0], shape=shape, dtype=dtype),
                as_float_array(f"{name}[1] (c)", state[1], shape=shape, dtype=dtype))
    if isinstance(state, (tuple, list)):
        raise TypeError(f"{name}: got a {type(state).__name__}, expected one array h of shape {shape} (this cell has no cell state)")
    return as_float_array(name, state, shape=shape, dtype=dtype), None


def check_positive_int(name, v, *, at_least=1, hint=""):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < at_least:
        raise ValueError(f"{name}: got {v!r}, expected an integer >= {at_least}{hint}")
    return int(v)
