"""Kernel gradients against float64 central finite differences of the kernels' own forward.

Every parameter entry, every entry of x and of the initial state (h and c), for every cell,
stacked and bidirectional, on small shapes including T = B = H = 1.
"""

import numpy as np
import pytest
from bpttlab import kernels
from helpers import STRUCTURES, as_tuple, loss, random_problem

EPS = 1e-6
TOL = 1e-6


def numeric_grad(f, arr, eps=EPS):
    """Central differences of the scalar f() with respect to every entry of arr (in place, restored)."""
    g = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def fd_rel_err(analytic, numeric):
    # Norm-wise relative error; the floor keeps an all-~0 gradient (e.g. a dead ReLU) honest.
    return np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), np.linalg.norm(analytic), 1e-8)


def check_all(cell, T, B, I, H, L, bi, seed):
    net, params, x, state, dy, dstate = random_problem(cell, T, B, I, H, L, bi, seed=seed)
    if cell == "rnn_relu":
        # Keep pre-activations away from the kink at 0, where the derivative is undefined.
        for k in params:
            if k.startswith("bias"):
                params[k] += 0.3
    g = net.backward(net.forward(params, x, state).tape, dy, dstate)

    def f():
        fw = net.forward(params, x, state, training=False)
        return loss(fw.y, fw.state, dy, dstate)

    worst = 0.0
    for k in params:
        err = fd_rel_err(g.params[k], numeric_grad(f, params[k]))
        assert err <= TOL, f"{cell} L={L} bi={bi} d{k}: rel err {err:.2e}"
        worst = max(worst, err)
    err = fd_rel_err(g.x, numeric_grad(f, x))
    assert err <= TOL, f"{cell} dx: rel err {err:.2e}"
    for i, (s, gs) in enumerate(zip(as_tuple(state), as_tuple(g.state), strict=True)):
        err = fd_rel_err(gs, numeric_grad(f, s))
        assert err <= TOL, f"{cell} dstate[{i}]: rel err {err:.2e}"
    return max(worst, err)


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("L,bi", STRUCTURES)
def test_gradients_match_finite_differences(cell, L, bi):
    check_all(cell, T=4, B=2, I=2, H=3, L=L, bi=bi, seed=11)


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("L,bi", [(1, False), (2, True)])
def test_gradients_match_finite_differences_degenerate_sizes(cell, L, bi):
    check_all(cell, T=1, B=1, I=1, H=1, L=L, bi=bi, seed=12)
