"""Property-based tests: random cells, structures, shapes and truncations against the oracle."""

import numpy as np
import reference
from bpttlab import kernels
from helpers import as_tuple, assert_close, assert_grads_close, random_problem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    cell = draw(st.sampled_from(kernels.CELLS))
    T = draw(st.integers(1, 9))
    shape = (T, draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    L = draw(st.integers(1, 3))
    bi = draw(st.booleans())
    k1 = draw(st.integers(1, T + 1))
    k2 = draw(st.integers(k1, T + 2))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return cell, shape, L, bi, k1, k2, seed, dtype


@SETTINGS
@given(problems())
def test_random_networks_match_oracle(problem):
    cell, (T, B, I, H), L, bi, k1, k2, seed, dtype = problem
    net, params, x, state, dy, dstate = random_problem(cell, T, B, I, H, L, bi, seed=seed, dtype=dtype)
    fw, g = net.tbptt(params, x, dy, k1, k2, state, dstate)
    # The oracle runs in float64 on the same (rounded) inputs.
    up = lambda a: tuple(v.astype(np.float64) for v in a) if isinstance(a, tuple) else a.astype(np.float64)  # noqa: E731
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    y_ref, s_ref, _ = reference.forward(cell, p64, up(x), up(state))
    ref = reference.tbptt(cell, p64, up(x), up(dy), k1, k2, up(state), up(dstate))
    tol = 1e-12 if dtype == np.float64 else 2e-4
    assert fw.y.dtype == dtype
    assert_close(fw.y, y_ref, tol, "y")
    for a, b in zip(as_tuple(fw.state), as_tuple(s_ref), strict=True):
        assert_close(a, b, tol, "state")
    assert_grads_close(g, ref, tol, cell)


@SETTINGS
@given(problems())
def test_gradient_is_linear_in_the_upstream_error(problem):
    """Backprop is linear: grads(a*dy1 + dy2) = a*grads(dy1) + grads(dy2)."""
    cell, (T, B, I, H), L, bi, k1, k2, seed, _ = problem
    net, params, x, state, dy, dstate = random_problem(cell, T, B, I, H, L, bi, seed=seed)
    dy2 = np.random.default_rng(seed + 1).standard_normal(dy.shape)
    tape = net.forward(params, x, state).tape
    g1 = net.backward_truncated(tape, dy, k1, k2)
    g2 = net.backward_truncated(tape, dy2, k1, k2)
    g = net.backward_truncated(tape, 2.5 * dy + dy2, k1, k2)
    for k in g.params:
        assert_close(g.params[k], 2.5 * g1.params[k] + g2.params[k], 1e-12, k)
    assert_close(g.x, 2.5 * g1.x + g2.x, 1e-12, "dx")
