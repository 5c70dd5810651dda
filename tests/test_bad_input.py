"""Bad input gets a clear error naming the argument, what it got and what was expected."""

import numpy as np
import pytest
from bpttlab import kernels
from helpers import random_problem


@pytest.fixture
def problem():
    return random_problem("lstm", 4, 2, 3, 5, 2, True, seed=0)


def test_unknown_cell():
    with pytest.raises(ValueError, match=r"cell: got 'lstmm', expected one of rnn_tanh, .*gru_cho"):
        kernels.Network("lstmm", 3, 5)


@pytest.mark.parametrize("arg,value", [("input_size", 0), ("hidden_size", -1), ("num_layers", 1.5)])
def test_bad_sizes(arg, value):
    kw = {"input_size": 3, "hidden_size": 5, "num_layers": 1, arg: value}
    with pytest.raises(ValueError, match=rf"{arg}: got {value!r}, expected a positive integer|{arg}: got {value!r}"):
        kernels.Network("gru", **kw)


def test_bad_backend():
    with pytest.raises(ValueError, match="backend: got 'tpu', expected one of cpu, cuda"):
        kernels.Network("gru", 3, 5, backend="tpu")


@pytest.mark.parametrize(
    "x,match",
    [
        (np.zeros((2, 3)), r"x: got a 2-D array of shape \(2, 3\)|x: got shape \(2, 3\), expected \(T, B, 3\)"),
        (np.zeros((0, 2, 3)), r"x: got T = 0 steps"),
        (np.zeros((4, 0, 3)), r"x: got batch size 0"),
        (np.zeros((4, 2, 7)), r"x: got shape \(4, 2, 7\), expected \(T, B, 3\)"),
        (np.zeros((4, 2, 3), np.int64), r"x: got dtype int64, expected float32 or float64"),
        (np.zeros((4, 2, 3), np.float16), r"x: got dtype float16, expected float32 or float64"),
    ],
)
def test_bad_x(problem, x, match):
    net, params, _, state, _, _ = problem
    with pytest.raises((ValueError, TypeError), match=match):
        net.forward(params, x, state)


def test_mixed_dtypes(problem):
    net, params, x, state, _, _ = problem
    with pytest.raises(TypeError, match=r"params\['weight_ih_l0'\]: got dtype float64, expected float32"):
        net.forward(params, x.astype(np.float32))
    p = dict(params, bias_hh_l1=params["bias_hh_l1"].astype(np.float32))
    with pytest.raises(TypeError, match=r"params\['bias_hh_l1'\]: got dtype float32, expected float64"):
        net.forward(p, x)
    with pytest.raises(TypeError, match=r"state\[0\] \(h\): got dtype float32, expected float64"):
        net.forward(params, x, (state[0].astype(np.float32), state[1]))


def test_missing_and_extra_keys(problem):
    net, params, x, state, _, _ = problem
    p = {k: v for k, v in params.items() if k != "weight_hh_l1_reverse"}
    with pytest.raises(KeyError, match=r"params: missing \['weight_hh_l1_reverse'\]"):
        net.forward(p, x, state)
    p = dict(params, weight_hh_l2=params["weight_hh_l1"])
    with pytest.raises(KeyError, match=r"params: unexpected \['weight_hh_l2'\]"):
        net.forward(p, x, state)
    with pytest.raises(TypeError, match="params: got list, expected a dict"):
        net.forward(list(params.values()), x, state)


def test_wrong_param_shape(problem):
    net, params, x, state, _, _ = problem
    p = dict(params, weight_hh_l0=params["weight_hh_l0"][:, :4])
    with pytest.raises(ValueError, match=r"params\['weight_hh_l0'\]: got shape \(20, 4\), expected \(20, 5\)"):
        net.forward(p, x, state)


def test_bad_state(problem):
    net, params, x, state, _, _ = problem
    with pytest.raises(TypeError, match=r"state: got ndarray, expected a tuple \(h, c\)"):
        net.forward(params, x, state[0])
    with pytest.raises(ValueError, match=r"state\[1\] \(c\): got shape \(4, 3, 5\), expected \(4, 2, 5\)"):
        net.forward(params, x, (state[0], np.zeros((4, 3, 5))))
    gru, gp, gx, gs, _, _ = random_problem("gru", 4, 2, 3, 5)
    with pytest.raises(TypeError, match=r"state: got a tuple, expected one array h of shape \(1, 2, 5\)"):
        gru.forward(gp, gx, (gs, gs))


def test_bad_dy_and_dstate(problem):
    net, params, x, state, dy, dstate = problem
    tape = net.forward(params, x, state).tape
    with pytest.raises(ValueError, match=r"dy: got shape \(4, 2, 5\), expected \(4, 2, 10\)"):
        net.backward(tape, dy[..., :5])
    with pytest.raises(TypeError, match=r"dy: got dtype float32, expected float64"):
        net.backward(tape, dy.astype(np.float32))
    with pytest.raises(TypeError, match=r"dstate: got ndarray, expected a tuple \(h, c\)"):
        net.backward(tape, dy, dstate[0])


def test_bad_tape(problem):
    net, params, x, state, dy, _ = problem
    with pytest.raises(TypeError, match="tape: got NoneType, expected the Tape of a forward pass run with training=True"):
        net.backward(net.forward(params, x, state, training=False).tape, dy)
    other = kernels.Network("lstm", 3, 5)
    with pytest.raises(ValueError, match="tape: made by a network"):
        other.backward(net.forward(params, x, state).tape, dy)


@pytest.mark.parametrize(
    "k1,k2,match",
    [
        (0, 3, r"k1: got 0, expected an integer >= 1"),
        (2, 0, r"k2: got 0, expected an integer >= 1"),
        (3, 2, r"k2: got 2, expected k2 >= k1 = 3"),
        (1.5, 2, r"k1: got 1.5, expected an integer >= 1"),
        (None, 2, r"k1: got None"),
        (True, 2, r"k1: got True"),
    ],
)
def test_tbptt_k_out_of_range(problem, k1, k2, match):
    net, params, x, state, dy, _ = problem
    with pytest.raises(ValueError, match=match):
        net.tbptt(params, x, dy, k1, k2, state)


def test_init_param_errors():
    with pytest.raises(ValueError, match="recurrent: got 'xavier', expected one of uniform, gaussian"):
        kernels.init_params("rnn_tanh", 2, 3, recurrent="xavier")
    with pytest.raises(ValueError, match="forget_bias: given for cell 'gru', which has no forget gate"):
        kernels.init_params("gru", 2, 3, forget_bias=1.0)
    with pytest.raises(ValueError, match="dtype: got float16, expected float32 or float64"):
        kernels.init_params("gru", 2, 3, dtype=np.float16)


def test_for_params_reads_structure_and_rejects_garbage():
    p = kernels.init_params("gru_cho", 3, 4, num_layers=3, bidirectional=True)
    net = kernels.Network.for_params("gru_cho", p)
    assert (net.input_size, net.hidden_size, net.num_layers, net.bidirectional) == (3, 4, 3, True)
    with pytest.raises(ValueError, match=r"params\['weight_hh_l0'\]: got shape \(12, 4\), expected \(4\*H, H\)"):
        kernels.Network.for_params("lstm", p)
    with pytest.raises(ValueError, match="'weight_ih_l0' and 'weight_hh_l0'"):
        kernels.Network.for_params("lstm", {})
