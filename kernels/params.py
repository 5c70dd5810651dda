"""Parameter dictionaries keyed like PyTorch's ``state_dict``: names, structure, initializers."""

import numpy as np

from . import _memory
from ._validation import check_flag, check_float_dtype, check_real, check_seed
from .cells import get_spec

KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
RECURRENT_INITS = ("uniform", "gaussian", "orthogonal", "identity")


def param_key(kind, layer, direction):
    return f"{kind}_l{layer}" + ("_reverse" if direction else "")


def expected_shapes(cell, input_size, hidden_size, num_layers, bidirectional):
    """{key: shape} of every parameter the network owns, in a fixed order."""
    spec = get_spec(cell)
    D = 2 if check_flag("bidirectional", bidirectional) else 1
    G, H = spec.gates, hidden_size
    shapes = {}
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else D * H
        for d in range(D):
            shapes[param_key("weight_ih", layer, d)] = (G * H, in_size)
            shapes[param_key("weight_hh", layer, d)] = (G * H, H)
            shapes[param_key("bias_ih", layer, d)] = (G * H,)
            shapes[param_key("bias_hh", layer, d)] = (G * H,)
            for kind in spec.extra_keys:
                shapes[param_key(kind, layer, d)] = (3, H)
    return shapes


def infer_structure(cell, params):
    """(input_size, hidden_size, num_layers, bidirectional) implied by a parameter dict."""
    spec = get_spec(cell)
    if not isinstance(params, dict):
        raise TypeError(f"params: got {type(params).__name__}, expected a dict of arrays keyed like a state_dict")
    w = params.get("weight_hh_l0")
    wi = params.get("weight_ih_l0")
    if w is None or wi is None or np.ndim(w) != 2 or np.ndim(wi) != 2:
        raise ValueError("params: 'weight_ih_l0' and 'weight_hh_l0' (2-D arrays) are required to read the network's sizes")
    hidden = np.shape(w)[1]
    num_layers = 0
    while param_key("weight_ih", num_layers, 0) in params:
        num_layers += 1
    bidirectional = "weight_ih_l0_reverse" in params
    input_size = np.shape(wi)[1]
    if hidden < 1 or np.shape(w)[0] != spec.gates * hidden:
        raise ValueError(
            f"params['weight_hh_l0']: got shape {np.shape(w)}, expected ({spec.gates}*H, H) for cell {cell!r}"
        )
    return input_size, hidden, num_layers, bidirectional


def _uniform(rng, shape, bound, dtype):
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # sign fix: Haar-distributed, not biased by QR's convention


def init_params(cell, input_size, hidden_size, num_layers=1, bidirectional=False, *, seed=0, dtype=np.float64,
                recurrent="uniform", gain=1.0, forget_bias=None):
    """Initial parameters for a network of ``cell``.

    recurrent: how each gate block of W_hh is drawn; every other parameter follows
    PyTorch's default U(-1/sqrt(H), 1/sqrt(H)) unless noted.
      "uniform"     PyTorch's default, scaled by gain.
      "gaussian"    N(0, gain**2 / H) entries (the random-matrix setting of the decay studies).
      "orthogonal"  gain times a Haar-random orthogonal matrix.
      "identity"    gain times I, zero biases and W_ih ~ N(0, 0.001**2) (Le et al. 2015's IRNN).
    forget_bias: LSTM cells only; the forget gate's total bias (bias_ih gets it, bias_hh 0).
    seed: an integer >= 0. Raises kernels.MemoryBudgetError, before drawing anything, when the
    parameters would not fit in the memory available.
    """
    spec = get_spec(cell)
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: got {v!r}, expected a positive integer")
    bidirectional = check_flag("bidirectional", bidirectional)
    if not isinstance(recurrent, str) or recurrent not in RECURRENT_INITS:
        raise ValueError(f"recurrent: got {recurrent!r}, expected one of {', '.join(RECURRENT_INITS)}")
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed("seed", seed)
    gain = check_real("gain", gain)
    forget_bias = check_real("forget_bias", forget_bias, optional=True)
    if forget_bias is not None and spec.family != "lstm":
        raise ValueError(f"forget_bias: given for cell {cell!r}, which has no forget gate (LSTM cells only)")
    shapes = expected_shapes(cell, input_size, hidden_size, num_layers, bidirectional)

    def what():
        largest = max(shapes.items(), key=lambda kv: np.prod(kv[1], dtype=object))
        return (f"init_params: hidden_size={hidden_size}, input_size={input_size}, num_layers={num_layers}"
                f"{', bidirectional' if bidirectional else ''} ({dtype}; {cell}: {len(shapes)} arrays, the largest "
                f"{largest[0]} of shape {largest[1]})")

    _memory.require(
        what,
        _memory.init_bytes(shapes, dtype.itemsize, recurrent),
        lambda: (_memory.host_available(), "host memory"),
        lambda: ["a smaller hidden_size (W_hh grows as its square) or fewer layers"]
        + (["float32 halves the parameters"] if dtype.itemsize == 8 else []),
    )
    rng = np.random.default_rng(seed)
    H = hidden_size
    bound = 1.0 / np.sqrt(H)
    params = {}
    for key, shape in shapes.items():
        if key.startswith("weight_hh") and recurrent != "uniform":
            blocks = []
            for _ in range(spec.gates):
                if recurrent == "gaussian":
                    blocks.append(rng.standard_normal((H, H)) * (gain / np.sqrt(H)))
                elif recurrent == "orthogonal":
                    blocks.append(gain * _orthogonal(rng, H))
                else:
                    blocks.append(gain * np.eye(H))
            params[key] = np.concatenate(blocks).astype(dtype)
        elif recurrent == "identity" and key.startswith("bias"):
            params[key] = np.zeros(shape, dtype)
        elif recurrent == "identity" and key.startswith("weight_ih"):
            params[key] = (rng.standard_normal(shape) * 1e-3).astype(dtype)
        elif key.startswith("weight_hh"):
            params[key] = _uniform(rng, shape, bound * gain, dtype)
        else:
            params[key] = _uniform(rng, shape, bound, dtype)
        if forget_bias is not None and key.startswith("bias"):
            f = spec.gate_names.index("f")
            params[key][f * H : (f + 1) * H] = forget_bias if key.startswith("bias_ih") else 0.0
    return params
