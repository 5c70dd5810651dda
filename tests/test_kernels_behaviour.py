"""Dtypes, modes, log-space norms, non-finite input, and the caller's arrays."""

import numpy as np
import pytest
from bpttlab import kernels
from helpers import LSTM_CELLS, as_tuple, assert_close, random_problem


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("L,bi", [(1, False), (2, True)])
def test_float32_agrees_with_float64(cell, L, bi):
    net, p64, x64, s64, dy64, ds64 = random_problem(cell, 20, 4, 5, 8, L, bi, seed=1)
    cast = lambda a: tuple(v.astype(np.float32) for v in a) if isinstance(a, tuple) else a.astype(np.float32)  # noqa: E731
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    fw64, g64 = net.tbptt(p64, x64, dy64, 20, 20, s64, ds64)
    fw32, g32 = net.tbptt(p32, cast(x64), cast(dy64), 20, 20, cast(s64), cast(ds64))
    assert fw32.y.dtype == np.float32 and g32.x.dtype == np.float32
    assert all(v.dtype == np.float32 for v in g32.params.values())
    assert_close(fw32.y, fw64.y, 1e-5, "y")
    for k in g64.params:
        assert_close(g32.params[k], g64.params[k], 2e-4, k)
    assert_close(g32.x, g64.x, 2e-4, "dx")
    assert_close(g32.norms_h, g64.norms_h, 2e-4, "norms_h")


@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("L,bi", [(1, False), (2, True)])
def test_inference_mode_matches_training_and_keeps_no_tape(cell, L, bi):
    net, params, x, state, _, _ = random_problem(cell, 7, 3, 2, 4, L, bi, seed=2)
    train = net.forward(params, x, state, training=True)
    infer = net.forward(params, x, state, training=False)
    assert infer.tape is None and train.tape is not None
    np.testing.assert_array_equal(infer.y, train.y)
    for a, b in zip(as_tuple(infer.state), as_tuple(train.state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_carries_across_calls():
    """Running T steps equals running T1 then T - T1 steps from the first call's final state."""
    for cell in kernels.CELLS:
        net, params, x, state, _, _ = random_problem(cell, 10, 2, 3, 4, 2, False, seed=4)
        whole = net.forward(params, x, state, training=False)
        first = net.forward(params, x[:4], state, training=False)
        second = net.forward(params, x[4:], first.state, training=False)
        np.testing.assert_allclose(np.concatenate([first.y, second.y]), whole.y, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("cell", kernels.CELLS)
def test_log_norms_equal_log_of_norms(cell):
    net, params, x, state, dy, dstate = random_problem(cell, 12, 2, 3, 5, 1, True, seed=6)
    tape = net.forward(params, x, state).tape
    plain = net.backward(tape, dy, dstate)
    logs = net.backward(tape, dy, dstate, log_norms=True)
    assert logs.params is None
    np.testing.assert_allclose(logs.norms_h, np.log(plain.norms_h), rtol=0, atol=1e-10)
    if cell in LSTM_CELLS:
        np.testing.assert_allclose(logs.norms_c, np.log(plain.norms_c), rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell,gain,direction", [("rnn_tanh", 0.3, -1), ("rnn_tanh", 3.0, +1), ("gru", 0.3, -1), ("lstm", 0.3, -1)])
def test_log_norms_stay_finite_where_plain_norms_underflow_or_overflow(cell, gain, direction):
    T, H = 4000, 16  # g = 3: chaotic tanh dynamics, bounded states, exploding gradient
    net = kernels.Network(cell, 1, H)
    params = net.init_params(seed=0, recurrent="gaussian", gain=gain)
    x = np.zeros((T, 1, 1))
    state = np.full((1, 1, H), 0.1) if cell != "lstm" else (np.full((1, 1, H), 0.1), np.zeros((1, 1, H)))
    tape = net.forward(params, x, state).tape
    dy = np.zeros((T, 1, H))
    dy[-1] = 1.0
    plain = net.backward(tape, dy)
    logs = net.backward(tape, dy, log_norms=True)
    assert np.all(np.isfinite(logs.norms_h))
    slope = np.polyfit(np.arange(1000), logs.norms_h[0, -1000:][::-1], 1)[0]
    assert np.sign(slope) == direction
    # The log of the plain norms agrees wherever those are representable...
    ok = (plain.norms_h > 1e-300) & (plain.norms_h < 1e300)
    np.testing.assert_allclose(logs.norms_h[ok], np.log(plain.norms_h[ok]), atol=1e-8)
    # ...and the plain ones did leave the floating-point range, which is the point of log mode.
    assert not ok.all()


def test_log_norms_needs_one_layer():
    net, params, x, state, dy, _ = random_problem("gru", 3, 1, 2, 2, 2, False)
    with pytest.raises(ValueError, match="log_norms"):
        net.backward(net.forward(params, x, state).tape, dy, log_norms=True)


@pytest.mark.parametrize("cell", kernels.CELLS)
def test_non_finite_input_propagates_and_backward_survives(cell):
    net, params, x, state, dy, dstate = random_problem(cell, 6, 2, 3, 4, seed=7)
    x = x.copy()
    x[2, 0, 1] = np.nan
    x[3, 1, 0] = np.inf
    fw = net.forward(params, x, state)
    # Batch row 0 is NaN from step 2 on (it has seen the NaN); steps before it are clean.
    assert np.all(np.isnan(fw.y[2:, 0]))
    assert np.all(np.isfinite(fw.y[:2]))
    g = net.backward(fw.tape, dy, dstate)
    assert np.isnan(g.params["weight_hh_l0"]).any()
    params = dict(params)
    params["weight_hh_l0"] = params["weight_hh_l0"].copy()
    params["weight_hh_l0"][0, 0] = np.nan
    fw = net.forward(params, np.zeros_like(x), state)
    assert np.isnan(fw.y[-1]).all()


@pytest.mark.parametrize("cell", kernels.CELLS)
def test_callers_arrays_untouched_and_odd_layouts_accepted(cell):
    net, params, x, state, dy, dstate = random_problem(cell, 5, 3, 2, 3, 2, True, seed=8)
    expect_fw = net.forward(params, x, state)
    expect = net.backward(expect_fw.tape, dy, dstate)
    # Fortran order, strided views and read-only arrays: same answers, nothing written.
    odd = {k: np.asfortranarray(v) for k, v in params.items()}
    big = np.zeros((5, 6, 2))
    big[:, ::2] = x
    xs = big[:, ::2]
    assert not xs.flags.c_contiguous
    snapshots = [a.copy() for a in (*odd.values(), xs, dy, *as_tuple(state), *as_tuple(dstate))]
    for a in (*odd.values(), xs, dy, *as_tuple(state), *as_tuple(dstate)):
        a.flags.writeable = False
    fw = net.forward(odd, xs, state)
    g = net.backward(fw.tape, dy, dstate)
    for a, s in zip((*odd.values(), xs, dy, *as_tuple(state), *as_tuple(dstate)), snapshots, strict=True):
        np.testing.assert_array_equal(a, s)
    np.testing.assert_array_equal(fw.y, expect_fw.y)
    for k in expect.params:
        np.testing.assert_array_equal(g.params[k], expect.params[k])
    # Writing into the returned output must not corrupt the tape.
    fw.y[:] = 0
    g2 = net.backward(fw.tape, dy, dstate)
    np.testing.assert_array_equal(g2.params["weight_ih_l0"], expect.params["weight_ih_l0"])
