"""The CPU kernels' performance paths against the oracle: threads, blocking and fused products.

The other oracle tests use tiny shapes, which on their own take only the single-thread,
unblocked paths. Here the shapes straddle the GEMM's tile and cache-block sizes (rows not a
multiple of MR, K above KC, odd column counts, B = 1), the input projection is done both step
by step inside the time loop and as one product before it, and the thresholds that keep small
work on one thread are lowered to zero so that every product, pack and time loop runs as
parallel batch chunks or row blocks on 1, 2 (and 3 where Numba has them) threads.
"""

import numba
import numpy as np
import pytest
import reference
from helpers import as_tuple, assert_close, assert_grads_close, random_problem

import kernels
import kernels.cpu_par
from kernels._gemm import KC, MR

SHAPES = [  # (T, B, I, H)
    (5, 17, KC + 2, 70),  # K blocking in the input projection, ragged row tiles and panels
    (4, 1, 5, KC + 1),  # one batch row: the matrix-vector path; K blocking in the recurrence
    (6, 3, 9, 33),  # fewer rows than a tile: the projection as one product
    (3, 2 * MR, 4, 2 * MR + 1),  # exactly two tiles of rows per chunk at two threads
]
THREADS = sorted({1, 2, 3} & set(range(1, numba.config.NUMBA_NUM_THREADS + 1)))


@pytest.fixture(params=THREADS, ids=lambda n: f"{n}threads")
def threads_everywhere(request, monkeypatch):
    """Numba threads set to the parameter, and no work too small to be split."""
    monkeypatch.setattr(kernels.cpu_par, "PARALLEL_MIN", 0)
    monkeypatch.setattr(kernels.cpu_par, "LOOP_PARALLEL_MIN", 0)
    before = numba.get_num_threads()
    numba.set_num_threads(request.param)
    yield request.param
    numba.set_num_threads(before)


def _check(cell, shape, L, bi, dtype, tol, seed):
    T, B, I, H = shape
    net, params, x, state, dy, dstate = random_problem(cell, T, B, I, H, L, bi, seed=seed)
    y_ref, state_ref, cache = reference.forward(cell, params, x, state)
    g_ref = reference.backward(cell, params, cache, dy, dstate)
    cast = lambda a: a.astype(dtype)  # noqa: E731
    p = {k: cast(v) for k, v in params.items()}
    s = tuple(cast(a) for a in state) if isinstance(state, tuple) else cast(state)
    fw = net.forward(p, cast(x), s)
    assert_close(fw.y, y_ref, tol, "y")
    for a, b in zip(as_tuple(fw.state), as_tuple(state_ref), strict=True):
        assert_close(a, b, tol, "final state")
    inference = net.forward(p, cast(x), s, training=False)
    np.testing.assert_array_equal(inference.y, fw.y)
    ds = tuple(cast(a) for a in dstate) if isinstance(dstate, tuple) else cast(dstate)
    assert_grads_close(net.backward(fw.tape, cast(dy), ds), g_ref, 10 * tol, cell)


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_parallel_paths_match_oracle_float64(threads_everywhere, cell, shape):
    _check(cell, shape, 1, False, np.float64, 1e-12, seed=sum(shape))


@pytest.mark.parametrize("cell", kernels.CELLS)
def test_parallel_paths_stacked_bidirectional(threads_everywhere, cell):
    _check(cell, SHAPES[0], 2, True, np.float64, 1e-12, seed=7)


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("shape", SHAPES[:2], ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_parallel_paths_float32(threads_everywhere, cell, shape):
    """float32 (the vectorized tanh/sigmoid approximations) against the float64 oracle."""
    _check(cell, shape, 1, False, np.float32, 2e-5, seed=3)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_thread_count_does_not_change_the_result(monkeypatch, cell):
    """Batch rows never interact, so the chunking must not change a single bit of y."""
    monkeypatch.setattr(kernels.cpu_par, "PARALLEL_MIN", 0)
    monkeypatch.setattr(kernels.cpu_par, "LOOP_PARALLEL_MIN", 0)
    net, params, x, state, dy, dstate = random_problem(cell, 5, 17, 6, 40, seed=11, dtype=np.float32)
    before = numba.get_num_threads()
    ys = []
    try:
        for n in THREADS:
            numba.set_num_threads(n)
            ys.append(net.forward(params, x, state).y)
    finally:
        numba.set_num_threads(before)
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
