"""Argument checks that turn bad input into one clear error (never a Numba typing traceback).

Each message names the argument, what it got and what was expected. The checks serve every
backend: NumPy input (or anything np.asarray takes) comes out as a C-contiguous ndarray;
device arrays (numba's, or any exporting ``__cuda_array_interface__``) are checked by their
shape and dtype and returned as they are, for the backend to take over.
"""

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_device_array(a):
    """A numba device array or a foreign one that exports __cuda_array_interface__."""
    if isinstance(a, np.ndarray):
        return False
    return bool(getattr(a, "__cuda_ndarray__", False)) or hasattr(a, "__cuda_array_interface__")


def _device_shape_dtype(a):
    if getattr(a, "__cuda_ndarray__", False):
        return tuple(a.shape), np.dtype(a.dtype)
    cai = a.__cuda_array_interface__  # foreign arrays (CuPy, PyTorch) have their own dtype types
    return tuple(cai["shape"]), np.dtype(cai["typestr"])


def dtype_of(a):
    """The NumPy dtype of an array of either kind (after as_float_array)."""
    return _device_shape_dtype(a)[1] if is_device_array(a) else a.dtype


def as_float_array(name, a, *, ndim=None, shape=None, dtype=None):
    """A C-contiguous float32/float64 ndarray view (or copy) of ``a``, or the device array ``a``
    itself once its dtype and shape are checked; never modifies ``a``."""
    if is_device_array(a):
        arr_shape, arr_dtype = _device_shape_dtype(a)
        arr = None
    elif isinstance(a, np.ndarray):
        arr = a
    else:
        try:
            arr = np.asarray(a)
        except Exception as e:  # e.g. a ragged list
            raise TypeError(f"{name}: got {type(a).__name__}, expected an array ({e})") from None
    if arr is not None:
        arr_shape, arr_dtype = arr.shape, arr.dtype
    if arr_dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: got dtype {arr_dtype}, expected float32 or float64")
    if dtype is not None and arr_dtype != dtype:
        raise TypeError(f"{name}: got dtype {arr_dtype}, expected {np.dtype(dtype)} (the dtype of x; dtypes must not be mixed)")
    if ndim is not None and len(arr_shape) != ndim:
        raise ValueError(f"{name}: got a {len(arr_shape)}-D array of shape {arr_shape}, expected {ndim}-D")
    if shape is not None and tuple(arr_shape) != tuple(shape):
        raise ValueError(f"{name}: got shape {tuple(arr_shape)}, expected {tuple(shape)}")
    return a if arr is None else np.ascontiguousarray(arr)


def check_x(x, input_size):
    """x (T, B, input_size), time-major, at least one step and one batch row."""
    x = as_float_array("x", x)
    shape = tuple(x.shape)
    if len(shape) != 3:
        raise ValueError(f"x: got shape {shape}, expected (T, B, {input_size}) (time-major)")
    T, B, In = shape
    if T == 0:
        raise ValueError(f"x: got T = 0 steps (shape {shape}), expected at least 1 step")
    if B == 0:
        raise ValueError(f"x: got batch size 0 (shape {shape}), expected at least 1")
    if In != input_size:
        raise ValueError(f"x: got shape {shape}, expected (T, B, {input_size}): input size {In} != {input_size}")
    return x


def check_params(params, expected, dtype):
    """Validate a parameter dict against {key: shape}; returns its arrays in key order."""
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
    """(h, c) from a state argument (c is None for cells without a cell state); None → (None, None)."""
    if state is None:
        return None, None
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


def check_flag(name, v):
    """A boolean switch: only True or False (or numpy.bool_), since any object has a truth value
    and a string such as "False" would silently count as True."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: got {v!r} (a {type(v).__name__}), expected True or False")
    return bool(v)


def check_real(name, v, *, optional=False):
    """A finite real number (not a bool: True as a gain is a mistake, not 1.0)."""
    if v is None and optional:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        what = "None or a finite real number" if optional else "a finite real number"
        raise TypeError(f"{name}: got {v!r} (a {type(v).__name__}), expected {what}")
    if not np.isfinite(v):
        raise ValueError(f"{name}: got {v!r}, expected a finite real number")
    return float(v)


def check_seed(name, v):
    """A seed for np.random.default_rng: an integer >= 0 (a bool is refused as a likely mistake)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: got {v!r} (a {type(v).__name__}), expected an integer >= 0")
    if v < 0:
        raise ValueError(f"{name}: got {v!r}, expected an integer >= 0")
    return int(v)


def check_float_dtype(name, v):
    """float32 or float64, given as a dtype, a type or a name; never NumPy's own message."""
    try:
        if v is None:  # np.dtype(None) is float64: a forgotten argument would pass unnoticed
            raise TypeError
        dtype = np.dtype(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: got {v!r}, expected float32 or float64 (a NumPy dtype or its name)") from None
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name}: got {dtype}, expected float32 or float64")
    return dtype


def check_truncation(k1, k2, T):
    """TBPTT window parameters; None, None means full BPTT."""
    if k1 is None and k2 is None:
        return T, T
    hint = " (TBPTT(k1, k2) needs 1 <= k1 <= k2)"
    k1 = check_positive_int("k1", k1, hint=hint)
    k2 = check_positive_int("k2", k2, hint=hint)
    if k2 < k1:
        raise ValueError(f"k2: got {k2}, expected k2 >= k1 = {k1}{hint}: with k2 < k1 some losses would reach no step")
    return k1, k2
