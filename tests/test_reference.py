"""Tests that prove the NumPy oracle (tests/reference.py) itself.

- full BPTT gradients vs float64 central finite differences, every entry, every cell;
- TBPTT(k1, k2) vs its independent "detached" definition (each window re-run from a
  constant start state), a hand-derived k1 = k2 = 1 case, and k1 = k2 >= T == BPTT;
- per-step norms vs finite differences of perturbations added to h_t / c_t;
- outputs, states and gradients vs torch.nn.RNN/LSTM/GRU (skipped without torch).
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

CELLS = ref.CELLS
EPS = 1e-6        # finite-difference step
FD_TOL = 1e-6     # norm-wise relative error allowed against finite differences
TORCH_TOL = 1e-10


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if denom == 0 else np.linalg.norm(a - b) / denom


def assert_close(got, want, tol, what=""):
    assert np.shape(got) == np.shape(want), (what, np.shape(got), np.shape(want))
    err = rel_err(got, want)
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.1e}"


def fd_grad(f, arr, eps=EPS):
    """Central finite differences of the scalar f() w.r.t. every entry of arr (in place)."""
    g = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        fp = f()
        arr[idx] = old - eps
        fm = f()
        arr[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def state_parts(cell, state):
    return list(state) if ref.is_lstm(cell) else [state]


def make_problem(cell, L, D, T, B, I, H, seed=0):
    rng = np.random.default_rng(seed)
    params = ref.random_params(cell, I, H, L, D == 2, rng=rng)
    if cell == "rnn_relu":  # keep some units alive so the recurrent path is exercised
        for k in params:
            if k.startswith("bias_ih"):
                params[k] = np.abs(params[k])
    x = rng.uniform(-1, 1, (T, B, I))
    shape = (L * D, B, H)
    if ref.is_lstm(cell):
        state = (rng.uniform(-0.5, 0.5, shape), rng.uniform(-0.5, 0.5, shape))
        R2 = (rng.standard_normal(shape), rng.standard_normal(shape))
    else:
        state = rng.uniform(-0.5, 0.5, shape)
        R2 = rng.standard_normal(shape)
    R1 = rng.standard_normal((T, B, D * H))
    return params, x, state, R1, R2


def loss(cell, params, x, state, R1, R2):
    y, final, _ = ref.forward(cell, params, x, state)
    return np.sum(y * R1) + sum(np.sum(f * r) for f, r in
                                zip(state_parts(cell, final), state_parts(cell, R2), strict=True))


# An independent network loop (own layer/direction bookkeeping, reference cell steps)
# that can add a perturbation to h_t or c_t of one (row, t) right where step t produces
# it, and that records every per-step state.

def h_from_c(cell, p, x_t, h_prev, c):
    """Recompute an LSTM cell's h_t from a (perturbed) c_t; o is the last gate block."""
    a = x_t @ p["w_ih"].T + p["b_ih"] + h_prev @ p["w_hh"].T + p["b_hh"]
    a_o = np.split(a, ref.GATES[cell], axis=-1)[-1]
    if cell == "lstm_peephole":
        a_o = a_o + p["peep"][2] * c
    return ref.sigmoid(a_o) * np.tanh(c)


def run_net(cell, params, x, init, perturb=None):
    """init: tuple of (L*D, B, H) arrays. perturb: (row, t, "h" or "c", delta (B, H)).
    Returns y, final tuple, states[row][t] (tuple after step t)."""
    fwd = ref.STEPS[cell][0]
    L, D, _, H = ref.dims(cell, params)
    T = x.shape[0]
    states = {}
    final = [np.zeros_like(s) for s in init]
    inp = x
    for l in range(L):
        outs = []
        for d in range(D):
            row = l * D + d
            p = ref.layer_params(params, l, d)
            st = tuple(s[row] for s in init)
            hs = [None] * T
            states[row] = [None] * T
            ts = list(range(T)) if d == 0 else list(range(T))[::-1]
            for t in ts:
                h_prev = st[0]
                st, _ = fwd(p, inp[t], st)
                if perturb is not None and perturb[:2] == (row, t):
                    kind, delta = perturb[2], perturb[3]
                    if kind == "h":
                        st = (st[0] + delta,) + st[1:]
                    else:
                        c = st[1] + delta
                        st = (h_from_c(cell, p, inp[t], h_prev, c), c)
                hs[t] = st[0]
                states[row][t] = st
            for f, s in zip(final, st, strict=True):
                f[row] = s
            outs.append(np.stack(hs))
        inp = np.concatenate(outs, axis=-1)
    return inp, tuple(final), states


def net_loss(y, final, R1, R2_parts):
    return np.sum(y * R1) + sum(np.sum(f * r) for f, r in zip(final, R2_parts, strict=True))


# --------------------------------------------------------------------------------------
# parameters / shapes / dtype
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_random_params_keys_and_shapes(cell):
    G = ref.GATES[cell]
    p = ref.random_params(cell, 3, 4, num_layers=2, bidirectional=True, scale=0.25,
                          dtype=np.float32)
    expected = {}
    for l in range(2):
        for s in ("", "_reverse"):
            in_l = 3 if l == 0 else 8
            expected[f"weight_ih_l{l}{s}"] = (G * 4, in_l)
            expected[f"weight_hh_l{l}{s}"] = (G * 4, 4)
            expected[f"bias_ih_l{l}{s}"] = (G * 4,)
            expected[f"bias_hh_l{l}{s}"] = (G * 4,)
            if cell == "lstm_peephole":
                expected[f"weight_peephole_l{l}{s}"] = (3, 4)
    assert {k: v.shape for k, v in p.items()} == expected
    assert all(v.dtype == np.float32 for v in p.values())
    assert all(np.abs(v).max() <= 0.25 for v in p.values())
    assert ref.dims(cell, p) == (2, 2, 3, 4)
    q = ref.random_params(cell, 3, 4, num_layers=2, bidirectional=True, scale=0.25,
                          dtype=np.float32)
    assert all(np.array_equal(p[k], q[k]) for k in p)  # rng=None is reproducible


@pytest.mark.parametrize("cell", CELLS)
def test_forward_shapes_float32_matches_float64(cell):
    L, D, T, B, I, H = 2, 2, 3, 2, 3, 4
    params, x, state, R1, R2 = make_problem(cell, L, D, T, B, I, H, seed=7)
    y, fin, cache = ref.forward(cell, params, x, state)
    g = ref.backward(cell, params, cache, R1, R2)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    s32 = tuple(s.astype(np.float32) for s in state_parts(cell, state))
    s32 = s32 if ref.is_lstm(cell) else s32[0]
    y32, fin32, cache32 = ref.forward(cell, p32, x.astype(np.float32), s32)
    g32 = ref.backward(cell, p32, cache32, R1.astype(np.float32),
                       ref.tuple_to_state(cell, tuple(r.astype(np.float32) for r in
                                                      state_parts(cell, R2))))
    assert y.shape == (T, B, D * H) and y32.dtype == np.float32
    for a, b in zip(state_parts(cell, fin32), state_parts(cell, fin), strict=True):
        assert a.shape == (L * D, B, H) and a.dtype == np.float32
        assert_close(a, b, 1e-5, "final state f32")
    assert_close(y32, y, 1e-5, "y f32")
    assert g32["x"].dtype == np.float32 and g32["norms_h"].shape == (L * D, T)
    for k in params:
        assert g32["params"][k].dtype == np.float32
        assert_close(g32["params"][k], g["params"][k], 1e-4, k)
    assert_close(g32["x"], g["x"], 1e-4, "dx f32")
    assert_close(g32["norms_h"], g["norms_h"], 1e-4, "norms_h f32")
    if ref.is_lstm(cell):
        assert g32["norms_c"].shape == (L * D, T)
    else:
        assert g32["norms_c"] is None and g["norms_c"] is None


# --------------------------------------------------------------------------------------
# full BPTT vs finite differences
# --------------------------------------------------------------------------------------

FD_CONFIGS = [  # (L, D, T, B, I, H)
    (1, 1, 3, 2, 3, 2),
    (1, 2, 3, 2, 2, 2),
    (2, 1, 3, 1, 2, 3),
    (2, 2, 2, 2, 2, 2),
    (1, 1, 1, 1, 1, 1),
    (2, 2, 1, 1, 1, 1),
]


@pytest.mark.parametrize("cfg", FD_CONFIGS, ids=lambda c: "L{}D{}T{}B{}I{}H{}".format(*c))
@pytest.mark.parametrize("cell", CELLS)
def test_backward_vs_finite_differences(cell, cfg):
    L, D, T, B, I, H = cfg
    params, x, state, R1, R2 = make_problem(cell, L, D, T, B, I, H, seed=sum(cfg))
    _, _, cache = ref.forward(cell, params, x, state)
    g = ref.backward(cell, params, cache, R1, R2)
    f = lambda: loss(cell, params, x, state, R1, R2)  # noqa: E731
    for k in params:
        assert_close(g["params"][k], fd_grad(f, params[k]), FD_TOL, k)
    assert_close(g["x"], fd_grad(f, x), FD_TOL, "x")
    for name, gs, s in zip("hc", state_parts(cell, g["state"]), state_parts(cell, state), strict=False):
        assert_close(gs, fd_grad(f, s), FD_TOL, "initial " + name)
    assert np.abs(g["params"]["weight_hh_l0"]).max() > 0


# --------------------------------------------------------------------------------------
# norms (full BPTT) vs finite differences of perturbations of h_t / c_t
# --------------------------------------------------------------------------------------

def fd_norm(f_of_delta, B, H):
    delta = np.zeros((B, H))
    return np.linalg.norm(fd_grad(lambda: f_of_delta(delta), delta))


@pytest.mark.parametrize("cfg", [(1, 1, 4, 2, 2, 3), (2, 2, 3, 2, 2, 2)],
                         ids=lambda c: "L{}D{}T{}B{}I{}H{}".format(*c))
@pytest.mark.parametrize("cell", CELLS)
def test_norms_full_bptt(cell, cfg):
    L, D, T, B, I, H = cfg
    params, x, state, R1, R2 = make_problem(cell, L, D, T, B, I, H, seed=3)
    init = tuple(state_parts(cell, state))
    R2p = state_parts(cell, R2)
    y, final, _ = run_net(cell, params, x, init)
    y_ref, fin_ref, cache = ref.forward(cell, params, x, state)
    np.testing.assert_array_equal(y, y_ref)  # the independent loop agrees with forward
    for a, b in zip(final, state_parts(cell, fin_ref), strict=True):
        np.testing.assert_array_equal(a, b)
    g = ref.backward(cell, params, cache, R1, R2)
    kinds = ["h", "c"] if ref.is_lstm(cell) else ["h"]
    for row in range(L * D):
        for t in range(T):
            for kind in kinds:
                def f(delta, row=row, t=t, kind=kind):
                    yy, ff, _ = run_net(cell, params, x, init, (row, t, kind, delta))
                    return net_loss(yy, ff, R1, R2p)
                want = fd_norm(f, B, H)
                got = g["norms_" + kind][row, t]
                assert abs(got - want) <= FD_TOL * max(want, 1e-3), (row, t, kind, got, want)
    if not ref.is_lstm(cell):
        assert g["norms_c"] is None


def test_norms_tanh_1layer_rerun():
    """1-layer tanh: perturb h_t after step t using only the public forward, rerun."""
    cell, T, B, I, H = "rnn_tanh", 5, 2, 3, 3
    params, x, state, R1, R2 = make_problem(cell, 1, 1, T, B, I, H, seed=11)
    _, _, cache = ref.forward(cell, params, x, state)
    g = ref.backward(cell, params, cache, R1, R2)
    for t in range(T):
        def f(delta, t=t):
            y1, h_t, _ = ref.forward(cell, params, x[:t + 1], state)
            h_t = h_t + delta
            y1[t] += delta[0]
            total = np.sum(y1 * R1[:t + 1])
            if t + 1 < T:
                y2, h_t, _ = ref.forward(cell, params, x[t + 1:], h_t)
                total += np.sum(y2 * R1[t + 1:])
            return total + np.sum(h_t * R2)
        delta = np.zeros((1, B, H))
        want = np.linalg.norm(fd_grad(lambda delta=delta: f(delta), delta))
        assert abs(g["norms_h"][0, t] - want) <= FD_TOL * want


# --------------------------------------------------------------------------------------
# TBPTT
# --------------------------------------------------------------------------------------

def assert_grads_equal(a, b, tol, cell):
    for k in a["params"]:
        assert_close(a["params"][k], b["params"][k], tol, k)
    assert_close(a["x"], b["x"], tol, "x")
    for p, q in zip(state_parts(cell, a["state"]), state_parts(cell, b["state"]), strict=True):
        assert_close(p, q, tol, "state")
    assert_close(a["norms_h"], b["norms_h"], tol, "norms_h")
    if ref.is_lstm(cell):
        assert_close(a["norms_c"], b["norms_c"], tol, "norms_c")


@pytest.mark.parametrize("cell", CELLS)
def test_tbptt_k_ge_T_is_full_bptt(cell):
    L, D, T, B, I, H = 2, 2, 4, 2, 2, 3
    params, x, state, R1, R2 = make_problem(cell, L, D, T, B, I, H, seed=5)
    _, _, cache = ref.forward(cell, params, x, state)
    full = ref.backward(cell, params, cache, R1, R2)
    for k in (T, T + 3):
        tb = ref.tbptt(cell, params, x, R1, k, k, state, R2)
        assert_grads_equal(tb, full, 1e-14, cell)
    # and truncation really changes something
    tb = ref.tbptt(cell, params, x, R1, 1, 2, state, R2)
    assert rel_err(tb["params"]["weight_hh_l0"], full["params"]["weight_hh_l0"]) > 1e-3


def test_windows_layout():
    assert ref.windows(7, 3, 3) == [(0, 2, 0), (3, 5, 3), (4, 6, 6)]
    assert ref.windows(6, 2, 3) == [(0, 1, 0), (1, 3, 2), (3, 5, 4)]
    assert ref.windows(5, 2, 7) == [(0, 1, 0), (0, 3, 2), (0, 4, 4)]
    assert ref.windows(3, 5, 5) == [(0, 2, 0)]
    assert ref.windows(4, 1, 1) == [(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)]
    with pytest.raises(ValueError):
        ref.windows(4, 3, 2)


def test_tbptt_k1_1_tanh_by_hand():
    """1-layer tanh RNN, k1 = k2 = 1: no recurrent flow at all."""
    cell, T, B, I, H = "rnn_tanh", 5, 3, 2, 4
    params, x, h0, dy, dS = make_problem(cell, 1, 1, T, B, I, H, seed=9)
    y, _, _ = ref.forward(cell, params, x, h0)
    g = ref.tbptt(cell, params, x, dy, 1, 1, h0, dS)
    h = y  # (T, B, H)
    h_prev = np.concatenate([h0, h[:-1]])
    dh = dy.copy()
    dh[T - 1] += dS[0]  # final-state gradient enters at t = T-1
    da = dh * (1 - h ** 2)
    W_ih, W_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    dW_hh = sum(np.outer(da[t, b], h_prev[t, b]) for t in range(T) for b in range(B))
    dW_ih = sum(np.outer(da[t, b], x[t, b]) for t in range(T) for b in range(B))
    np.testing.assert_allclose(g["params"]["weight_hh_l0"], dW_hh, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g["params"]["weight_ih_l0"], dW_ih, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g["params"]["bias_ih_l0"], da.sum((0, 1)), rtol=1e-12)
    np.testing.assert_allclose(g["params"]["bias_hh_l0"], da.sum((0, 1)), rtol=1e-12)
    np.testing.assert_allclose(g["x"], da @ W_ih, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g["state"][0], da[0] @ W_hh, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g["norms_h"][0], np.linalg.norm(dh, axis=(1, 2)), rtol=1e-12)


# The independent definition of truncation: each window re-runs the network on its own
# steps from start states held constant (taken from the untruncated forward), so nothing
# can flow out of it. Its loss is the loss part of R1, plus the final-state terms whose
# producing step lies in the loss part. TBPTT gradients = sum over windows of their grads.

def window_losses(cell, params, x, init, R1, R2p, k1, k2):
    """[(t_s, t_e, t_loss, f)] with f(perturb=None) the detached loss of each window.

    init (the initial state parts) and params/x are read at call time, so finite
    differences on them see their perturbations; the other start states are constants.
    """
    L, D, _, _ = ref.dims(cell, params)
    T = x.shape[0]
    _, _, states = run_net(cell, params, x, init)  # constant start states
    out = []
    for t_s, t_e, t_loss in ref.windows(T, k1, k2):
        def f(perturb=None, t_s=t_s, t_e=t_e, t_loss=t_loss):
            start = []
            for j, s0 in enumerate(init):  # j: 0 -> h, 1 -> c
                s = s0.copy()  # rows whose window edge is the initial state keep s0
                for l in range(L):
                    if t_s > 0:  # forward direction enters at t_s from h_{t_s-1}
                        s[l * D] = states[l * D][t_s - 1][j]
                    if D == 2 and t_e < T - 1:  # reverse direction enters from t_e+1
                        s[l * D + 1] = states[l * D + 1][t_e + 1][j]
                start.append(s)
            yw, fw, _ = run_net(cell, params, x[t_s:t_e + 1], tuple(start), perturb)
            total = np.sum(yw[t_loss - t_s:] * R1[t_loss:t_e + 1])
            for row in range(L * D):
                forward_row = row % D == 0
                if (forward_row and t_e == T - 1) or (not forward_row and t_loss == 0):
                    total += sum(np.sum(a[row] * r[row]) for a, r in zip(fw, R2p, strict=True))
            return total
        out.append((t_s, t_e, t_loss, f))
    return out


TB_CONFIGS = [  # (L, D, T, B, I, H, k1, k2)
    (1, 1, 5, 2, 2, 2, 2, 3),
    (1, 2, 4, 2, 2, 2, 1, 2),
    (2, 2, 5, 1, 2, 2, 2, 3),
    (2, 1, 5, 2, 1, 2, 2, 7),
    (1, 2, 6, 1, 1, 2, 3, 3),
]


@pytest.mark.parametrize("cfg", TB_CONFIGS, ids=lambda c: "L{}D{}T{}B{}I{}H{}_k{}_{}".format(*c))
@pytest.mark.parametrize("cell", CELLS)
def test_tbptt_vs_detached_finite_differences(cell, cfg):
    L, D, T, B, I, H, k1, k2 = cfg
    params, x, state, R1, R2 = make_problem(cell, L, D, T, B, I, H, seed=T + k1 + k2)
    init = tuple(state_parts(cell, state))
    R2p = state_parts(cell, R2)
    g = ref.tbptt(cell, params, x, R1, k1, k2, state, R2)
    wins = window_losses(cell, params, x, init, R1, R2p, k1, k2)
    f = lambda: sum(w[3]() for w in wins)  # noqa: E731
    for k in params:
        assert_close(g["params"][k], fd_grad(f, params[k]), FD_TOL, k)
    assert_close(g["x"], fd_grad(f, x), FD_TOL, "x")
    for name, gs, s in zip("hc", state_parts(cell, g["state"]), init, strict=False):
        assert_close(gs, fd_grad(f, s), FD_TOL, "initial " + name)
    # norms: step t is reported by the window whose loss part holds t
    kinds = ["h", "c"] if ref.is_lstm(cell) else ["h"]
    for t_s, t_e, t_loss, fw in wins:
        for t in range(t_loss, t_e + 1):
            for row in range(L * D):
                for kind in kinds:
                    want = fd_norm(lambda d, fw=fw, p=(row, t - t_s, kind): fw((*p, d)), B, H)
                    got = g["norms_" + kind][row, t]
                    assert abs(got - want) <= FD_TOL * max(want, 1e-3), (row, t, kind)


# --------------------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------------------

TORCH_CELLS = {"rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
               "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
               "lstm": ("LSTM", {}), "gru": ("GRU", {})}


@pytest.mark.torch
@pytest.mark.parametrize("bidir", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("cell", list(TORCH_CELLS))
def test_matches_torch(cell, L, bidir):
    torch = pytest.importorskip("torch")
    T, B, I, H = 4, 3, 3, 5
    D = 2 if bidir else 1
    torch.manual_seed(L + 2 * bidir)
    cls, kw = TORCH_CELLS[cell]
    m = getattr(torch.nn, cls)(I, H, num_layers=L, bidirectional=bidir, **kw).double()
    params = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    assert ref.dims(cell, params) == (L, D, I, H)
    rng = np.random.default_rng(L + 2 * bidir)
    x = rng.uniform(-1, 1, (T, B, I))
    shape = (L * D, B, H)
    s0 = [rng.uniform(-0.5, 0.5, shape) for _ in range(2 if cell == "lstm" else 1)]
    R1 = rng.standard_normal((T, B, D * H))
    R2 = [rng.standard_normal(shape) for _ in s0]

    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in s0]
    yt, fin_t = m(xt, tuple(st) if cell == "lstm" else st[0])
    fin_t = list(fin_t) if cell == "lstm" else [fin_t]
    lt = (yt * torch.tensor(R1)).sum() + sum((f * torch.tensor(r)).sum()
                                             for f, r in zip(fin_t, R2, strict=True))
    lt.backward()

    state = tuple(s0) if cell == "lstm" else s0[0]
    dstate = tuple(R2) if cell == "lstm" else R2[0]
    y, fin, cache = ref.forward(cell, params, x, state)
    g = ref.backward(cell, params, cache, R1, dstate)
    assert_close(y, yt.detach().numpy(), TORCH_TOL, "y")
    for a, b in zip(state_parts(cell, fin), fin_t, strict=True):
        assert_close(a, b.detach().numpy(), TORCH_TOL, "final state")
    for k, v in m.named_parameters():
        assert_close(g["params"][k], v.grad.numpy(), TORCH_TOL, k)
    assert_close(g["x"], xt.grad.numpy(), TORCH_TOL, "x")
    for a, b in zip(state_parts(cell, g["state"]), st, strict=True):
        assert_close(a, b.grad.numpy(), TORCH_TOL, "initial state")
