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
from bpttlab import kernels
from bpttlab.kernels.cpu._gemm import KC, MR
from helpers import as_tuple, assert_close, assert_grads_close, random_problem

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
    monkeypatch.setattr(kernels._config, "PARALLEL_MIN", 0)
    monkeypatch.setattr(kernels._config, "LOOP_PARALLEL_MIN", 0)
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
    monkeypatch.setattr(kernels._config, "PARALLEL_MIN", 0)
    monkeypatch.setattr(kernels._config, "LOOP_PARALLEL_MIN", 0)
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


# -- the LSTM forward on slices of hidden units (fewer batch rows than threads) ------------

LSTMS = [c for c in kernels.CELLS if c.startswith("lstm")]
UNIT_SHAPES = [  # (T, B, I, H), one batch row: H ragged against the vector width, and > KC
    (7, 1, 5, 37),
    (5, 1, 9, 70),
    (4, 1, 3, KC + 1),
]


@pytest.fixture
def unit_split(monkeypatch):
    """Split the hidden units whatever the size; returns the slice counts of the loops run."""
    monkeypatch.setattr(kernels._config, "UNIT_STEP_MIN", 0)
    monkeypatch.setattr(kernels._config, "UNIT_LOOP_MIN", 0)
    slices = []
    real = kernels.cpu.layer.forward_units

    def spy(xp, w_hh, n, *rest):
        slices.append(n)
        real(xp, w_hh, n, *rest)

    monkeypatch.setattr(kernels.cpu.layer, "forward_units", spy)
    before = numba.get_num_threads()
    yield slices
    numba.set_num_threads(before)


def _no_split_result(monkeypatch, cell, shape, dtype, L=1, bi=False):
    monkeypatch.setattr(kernels._config, "UNIT_STEP_MIN", 1 << 62)
    return _run(cell, shape, dtype, L, bi)


def _run(cell, shape, dtype, L=1, bi=False, seed=5):
    net, params, x, state, dy, dstate = random_problem(cell, *shape, L, bi, seed=seed, dtype=dtype)
    fw = net.forward(params, x, state)
    g = net.backward(fw.tape, dy, dstate)
    return [fw.y, *as_tuple(fw.state), net.forward(params, x, state, training=False).y, *g.params.values()]


@pytest.mark.skipif(max(THREADS) < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("cell", LSTMS)
@pytest.mark.parametrize("shape", UNIT_SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)], ids=["float64", "float32"])
def test_hidden_unit_slices_match_oracle(unit_split, cell, shape, dtype, tol):
    numba.set_num_threads(max(THREADS))
    _check(cell, shape, 1, False, dtype, tol, seed=sum(shape))
    assert unit_split and min(unit_split) >= 2


@pytest.mark.skipif(max(THREADS) < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("cell", LSTMS)
def test_hidden_unit_slices_stacked_bidirectional(unit_split, cell):
    numba.set_num_threads(max(THREADS))
    _check(cell, (6, 1, 7, 40), 2, True, np.float64, 1e-12, seed=8)
    assert len(unit_split) == 2 * 2 * 2  # layers x directions x (training, inference)


@pytest.mark.parametrize("cell", LSTMS)
def test_hidden_unit_slices_run_one_after_the_other(unit_split, monkeypatch, cell):
    """One thread runs the prange's slices in turn: the first must take every slice of every
    step (waiting for the others would never end)."""
    monkeypatch.setattr(kernels.cpu._par, "num_threads", lambda: 3)
    numba.set_num_threads(1)
    _check(cell, UNIT_SHAPES[1], 1, False, np.float64, 1e-12, seed=4)
    assert unit_split and min(unit_split) == 3


@pytest.mark.parametrize("cell", LSTMS)
def test_hidden_unit_slices_in_any_order(unit_split, monkeypatch, cell):
    """A lone thread starting from the last slice (a threading layer may run the iterations
    in any order) takes the others, wrapping around."""
    from bpttlab.kernels.cpu.lstm import lstm_forward_units  # noqa: PLC0415

    def last_slice_first(xp, segs, bounds, bias, peep, hs, cs, reverse, variant, training, sync):
        for s in reversed(range(len(bounds) - 1)):
            lstm_forward_units(xp, segs, bounds, bias, peep, hs, cs, reverse, variant, training, sync, s)

    monkeypatch.setattr(kernels.cpu._par, "_forward_units_par", last_slice_first)
    monkeypatch.setattr(kernels.cpu._par, "num_threads", lambda: 2)
    numba.set_num_threads(1)
    _check(cell, UNIT_SHAPES[2], 1, True, np.float64, 1e-12, seed=6)
    assert unit_split and min(unit_split) == 2


@pytest.mark.skipif(max(THREADS) < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("cell", LSTMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_hidden_unit_slices_do_not_change_a_bit(unit_split, monkeypatch, cell, dtype):
    """Same arithmetic per unit as the one-thread loop, over a few hundred hand-overs: y, the
    final state, inference y and every gradient, bit for bit."""
    shape = (300, 1, 6, 70)
    numba.set_num_threads(max(THREADS))
    split = _run(cell, shape, dtype)
    assert unit_split
    for a, b in zip(split, _no_split_result(monkeypatch, cell, shape, dtype), strict=True):
        np.testing.assert_array_equal(a, b)
