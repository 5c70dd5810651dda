"""Shared test utilities: random problems, loss-gradient pairs and comparisons."""

import numpy as np
from bpttlab import kernels

LSTM_CELLS = ("lstm", "lstm_peephole", "lstm_cifg")
# (num_layers, bidirectional) structures every cell is tested in.
STRUCTURES = [(1, False), (1, True), (2, False), (2, True)]


def has_c(cell):
    return cell in LSTM_CELLS


def random_state(cell, L, D, B, H, rng, dtype=np.float64, scale=0.5):
    shape = (L * D, B, H)
    h = rng.uniform(-scale, scale, shape).astype(dtype)
    if has_c(cell):
        return h, rng.uniform(-scale, scale, shape).astype(dtype)
    return h


def random_problem(cell, T, B, I, H, L=1, bidirectional=False, seed=0, dtype=np.float64, scale=0.5):
    """A network, random params, x, initial state, dL/dy and dL/d(final state)."""
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    net = kernels.Network(cell, I, H, L, bidirectional)
    params = {
        k: rng.uniform(-scale, scale, shape).astype(dtype) for k, shape in net.param_shapes.items()
    }
    x = rng.uniform(-1, 1, (T, B, I)).astype(dtype)
    state = random_state(cell, L, D, B, H, rng, dtype)
    dy = rng.standard_normal((T, B, D * H)).astype(dtype)
    dstate = random_state(cell, L, D, B, H, rng, dtype, scale=1.0)
    return net, params, x, state, dy, dstate


def as_tuple(state):
    return tuple(state) if isinstance(state, tuple) else (state,)


def loss(y, state, dy, dstate):
    """L = <y, dy> + <final state, dstate>: its gradient w.r.t. y is dy, w.r.t. the state dstate."""
    total = float(np.sum(y * dy))
    if dstate is not None:
        total += sum(float(np.sum(s * d)) for s, d in zip(as_tuple(state), as_tuple(dstate), strict=True))
    return total


def rel_err(a, b):
    """Norm-wise relative difference, robust when both are ~0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)
    return np.linalg.norm(a - b) / denom


def assert_close(a, b, tol, what=""):
    err = rel_err(a, b)
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.1e}"


def assert_grads_close(g, ref, tol, cell):
    """Compare a kernels.Gradients with the oracle's gradient dict."""
    assert set(g.params) == set(ref["params"])
    for k in g.params:
        assert_close(g.params[k], ref["params"][k], tol, f"{cell} d{k}")
    assert_close(g.x, ref["x"], tol, f"{cell} dx")
    for i, (a, b) in enumerate(zip(as_tuple(g.state), as_tuple(ref["state"]), strict=True)):
        assert_close(a, b, tol, f"{cell} dstate[{i}]")
    assert_close(g.norms_h, ref["norms_h"], tol, f"{cell} norms_h")
    if has_c(cell):
        assert_close(g.norms_c, ref["norms_c"], tol, f"{cell} norms_c")
    else:
        assert g.norms_c is None and ref["norms_c"] is None
