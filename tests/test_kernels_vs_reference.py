"""The Numba kernels against the independent NumPy oracle (tests/reference.py), float64."""

import numpy as np
import pytest
import reference
from bpttlab import kernels
from helpers import STRUCTURES, as_tuple, assert_close, assert_grads_close, random_problem

SHAPES = [  # (T, B, I, H), the degenerate sizes included
    (1, 1, 1, 1),
    (5, 2, 3, 4),
    (7, 1, 2, 1),
    (3, 3, 1, 2),
]


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("L,bi", STRUCTURES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_forward_and_full_bptt_match_oracle(cell, L, bi, shape):
    T, B, I, H = shape
    net, params, x, state, dy, dstate = random_problem(cell, T, B, I, H, L, bi, seed=hash(shape) % 1000)
    fw = net.forward(params, x, state)
    y_ref, state_ref, cache = reference.forward(cell, params, x, state)
    assert_close(fw.y, y_ref, 1e-13, "y")
    for a, b in zip(as_tuple(fw.state), as_tuple(state_ref), strict=True):
        assert_close(a, b, 1e-13, "final state")
    g = net.backward(fw.tape, dy, dstate)
    assert_grads_close(g, reference.backward(cell, params, cache, dy, dstate), 1e-12, cell)


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("L,bi", STRUCTURES)
@pytest.mark.parametrize("k1,k2", [(1, 1), (2, 3), (3, 3), (2, 5), (4, 9)])
def test_truncated_bptt_matches_oracle(cell, L, bi, k1, k2):
    T, B, I, H = 9, 2, 3, 3
    net, params, x, state, dy, dstate = random_problem(cell, T, B, I, H, L, bi, seed=k1 * 10 + k2)
    fw, g = net.tbptt(params, x, dy, k1, k2, state, dstate)
    ref = reference.tbptt(cell, params, x, dy, k1, k2, state, dstate)
    assert_grads_close(g, ref, 1e-12, cell)


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("L,bi", [(1, False), (2, True)])
def test_tbptt_with_k_at_least_T_is_full_bptt(cell, L, bi):
    T = 6
    net, params, x, state, dy, dstate = random_problem(cell, T, 2, 3, 3, L, bi, seed=3)
    fw = net.forward(params, x, state)
    full = net.backward(fw.tape, dy, dstate)
    for k in (T, T + 1, 100):
        g = net.backward_truncated(fw.tape, dy, k, k, dstate)
        for key in full.params:
            np.testing.assert_array_equal(g.params[key], full.params[key])
        np.testing.assert_array_equal(g.x, full.x)
        for a, b in zip(as_tuple(g.state), as_tuple(full.state), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", kernels.CELLS)
def test_truncation_changes_the_gradient(cell):
    """A guard against a TBPTT that silently runs full BPTT: k2 = 1 must differ from full."""
    net, params, x, state, dy, dstate = random_problem(cell, 8, 2, 3, 3, seed=5)
    fw = net.forward(params, x, state)
    full = net.backward(fw.tape, dy, dstate)
    cut = net.backward_truncated(fw.tape, dy, 1, 1, dstate)
    assert np.linalg.norm(cut.params["weight_hh_l0"] - full.params["weight_hh_l0"]) > 1e-3
