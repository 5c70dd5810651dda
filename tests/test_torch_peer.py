"""The kernels against PyTorch's nn.RNN / nn.LSTM / nn.GRU (skipped when torch is absent)."""

import numpy as np
import pytest
from bpttlab import kernels
from helpers import as_tuple, assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

MODULES = {
    "rnn_tanh": lambda **kw: torch.nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: torch.nn.RNN(nonlinearity="relu", **kw),
    "lstm": lambda **kw: torch.nn.LSTM(**kw),
    "gru": lambda **kw: torch.nn.GRU(**kw),
}


def run_torch(module, x, state, dy, dstate):
    xt = torch.tensor(x, requires_grad=True)
    st = tuple(torch.tensor(s, requires_grad=True) for s in as_tuple(state))
    y, final = module(xt, st if len(st) == 2 else st[0])
    final = as_tuple(final)
    loss = (y * torch.tensor(dy)).sum() + sum((f * torch.tensor(d)).sum() for f, d in zip(final, as_tuple(dstate), strict=True))
    module.zero_grad()
    loss.backward()
    grads = {k: v.grad.detach().numpy() for k, v in module.named_parameters()}
    return (y.detach().numpy(), tuple(f.detach().numpy() for f in final), grads, xt.grad.numpy(),
            tuple(s.grad.numpy() for s in st))


@pytest.mark.parametrize("cell", list(MODULES))
@pytest.mark.parametrize("L,bi", [(1, False), (1, True), (2, False), (3, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_pytorch(cell, L, bi, dtype):
    torch.manual_seed(L * 7 + bi)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    T, B, I, H = 11, 3, 5, 6
    m = MODULES[cell](input_size=I, hidden_size=H, num_layers=L, bidirectional=bi).to(tdtype)
    params = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    net = kernels.Network.for_params(cell, params)
    assert (net.num_layers, net.bidirectional, net.hidden_size) == (L, bi, H)
    rng = np.random.default_rng(0)
    D = 2 if bi else 1
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype)
    state = (h0, rng.standard_normal(h0.shape).astype(dtype)) if cell == "lstm" else h0
    dy = rng.standard_normal((T, B, D * H)).astype(dtype)
    dstate = tuple(rng.standard_normal(h0.shape).astype(dtype) for _ in as_tuple(state))
    dstate = dstate if cell == "lstm" else dstate[0]

    y_t, final_t, grads_t, dx_t, dstate_t = run_torch(m, x, state, dy, dstate)
    fw = net.forward(params, x, state)
    g = net.backward(fw.tape, dy, dstate)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_close(fw.y, y_t, tol, "y")
    for a, b in zip(as_tuple(fw.state), final_t, strict=True):
        assert_close(a, b, tol, "final state")
    assert set(grads_t) == set(g.params)
    for k, v in grads_t.items():
        assert_close(g.params[k], v, tol * 10, k)
    assert_close(g.x, dx_t, tol * 10, "dx")
    for a, b in zip(as_tuple(g.state), dstate_t, strict=True):
        assert_close(a, b, tol * 10, "dstate")


def test_pytorch_default_init_matches_in_distribution():
    """init_params' default draws from PyTorch's U(-1/sqrt(H), 1/sqrt(H))."""
    H = 64
    ours = kernels.init_params("lstm", 32, H, seed=0)
    theirs = {k: v.detach().numpy() for k, v in torch.nn.LSTM(32, H).state_dict().items()}
    assert set(ours) == set(theirs)
    for k in ours:
        assert ours[k].shape == theirs[k].shape
        bound = 1 / np.sqrt(H)
        assert np.abs(ours[k]).max() <= bound
        # The spread matches that of a uniform on [-bound, bound] (std = bound/sqrt(3)).
        assert abs(ours[k].std() - bound / np.sqrt(3)) < 0.1 * bound
