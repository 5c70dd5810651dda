"""Plain NumPy reference (the correctness oracle) for the bpttlab RNN kernels.

Written for clarity, not speed: explicit Python loops over time, one small forward
function and one hand-derived backward function per cell step (no autograd).
Everything follows docs/conventions.md (cells, shapes, PyTorch state_dict keys,
state layout, norms, TBPTT(k1, k2)). Works in float64 and float32 (the dtype of x).

Public API
    CELLS
    random_params(cell, input_size, hidden_size, num_layers=1, bidirectional=False,
                  rng=None, dtype=np.float64, scale=0.5)
    forward(cell, params, x, state=None)              -> (y, final_state, cache)
    backward(cell, params, cache, dy, dstate=None)    -> grads dict (full BPTT)
    tbptt(cell, params, x, dy, k1, k2, state=None, dstate=None) -> grads dict
The grads dict has keys "params", "x", "state", "norms_h", "norms_c".

Internally a per-(layer, direction) state is a tuple: (h,) for the RNN/GRU cells and
(h, c) for the LSTM cells, each (B, H). A step's pre-activations are written a = x W^T ...
with x of shape (B, in) and W of shape (G*H, in), as in PyTorch.
"""

import numpy as np

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "lstm_peephole", "lstm_cifg", "gru", "gru_cho")
LSTM_CELLS = ("lstm", "lstm_peephole", "lstm_cifg")
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "lstm_peephole": 4, "lstm_cifg": 3,
         "gru": 3, "gru_cho": 3}


def is_lstm(cell):
    return cell in LSTM_CELLS


def sigmoid(a):
    # exp(-log(1 + exp(-a))): overflow-free for large |a|, keeps the dtype.
    return np.exp(-np.logaddexp(0, -a))


def split(a, n):
    """Split the last axis into n equal gate blocks."""
    return np.split(a, n, axis=-1)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------

def key(name, layer, direction):
    """PyTorch state_dict key, e.g. key("weight_ih", 1, 1) == "weight_ih_l1_reverse"."""
    return f"{name}_l{layer}{'_reverse' if direction == 1 else ''}"


def random_params(cell, input_size, hidden_size, num_layers=1, bidirectional=False,
                  rng=None, dtype=np.float64, scale=0.5):
    """Parameters keyed as in conventions.md, entries ~ U(-scale, scale).

    rng: a numpy Generator, an int seed, or None (seed 0, so results are reproducible).
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    G, H, D = GATES[cell], hidden_size, 2 if bidirectional else 1
    shapes = {}
    for l in range(num_layers):
        in_l = input_size if l == 0 else D * H
        for d in range(D):
            shapes[key("weight_ih", l, d)] = (G * H, in_l)
            shapes[key("weight_hh", l, d)] = (G * H, H)
            shapes[key("bias_ih", l, d)] = (G * H,)
            shapes[key("bias_hh", l, d)] = (G * H,)
            if cell == "lstm_peephole":
                shapes[key("weight_peephole", l, d)] = (3, H)
    return {k: rng.uniform(-scale, scale, size=s).astype(dtype) for k, s in shapes.items()}


def dims(cell, params):
    """(L, D, I, H) inferred from the parameter keys and shapes."""
    L = 0
    while key("weight_ih", L, 0) in params:
        L += 1
    if L == 0:
        raise ValueError("no weight_ih_l0 in params")
    D = 2 if key("weight_ih", 0, 1) in params else 1
    GH, I = params["weight_ih_l0"].shape
    H = params["weight_hh_l0"].shape[1]
    if GH != GATES[cell] * H:
        raise ValueError(f"{cell}: weight_ih_l0 has {GH} rows, expected {GATES[cell]}*{H}")
    return L, D, I, H


def layer_params(params, layer, direction):
    """The weights of one (layer, direction) under short names."""
    p = {"w_ih": params[key("weight_ih", layer, direction)],
         "w_hh": params[key("weight_hh", layer, direction)],
         "b_ih": params[key("bias_ih", layer, direction)],
         "b_hh": params[key("bias_hh", layer, direction)]}
    pk = key("weight_peephole", layer, direction)
    if pk in params:
        p["peep"] = params[pk]
    return p


SHORT_TO_KEY = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih",
                "b_hh": "bias_hh", "peep": "weight_peephole"}


# --------------------------------------------------------------------------------------
# Cell steps. fwd(p, x, state) -> (new_state, cache)
#             bwd(p, cache, dstate) -> (dx, dstate_prev, grads, dc_total)
# dstate is the gradient w.r.t. the step's output state (h_t[, c_t]) arriving from
# everything after the step. dc_total is dL/dc_t including the path through h_t
# (None for non-LSTM cells). grads holds this step's contribution to w_ih, w_hh, ...
# --------------------------------------------------------------------------------------

def linear_grads(p, x, h_prev, dgi, dgh):
    """Gradients of gi = x W_ih^T + b_ih and gh = h_prev W_hh^T + b_hh."""
    grads = {"w_ih": dgi.T @ x, "b_ih": dgi.sum(0),
             "w_hh": dgh.T @ h_prev, "b_hh": dgh.sum(0)}
    return dgi @ p["w_ih"], dgh @ p["w_hh"], grads


# ---- Elman RNN (tanh / relu) ----

def rnn_tanh_fwd(p, x, state):
    (h_prev,) = state
    a = x @ p["w_ih"].T + p["b_ih"] + h_prev @ p["w_hh"].T + p["b_hh"]
    h = np.tanh(a)
    return (h,), (x, h_prev, h)


def rnn_tanh_bwd(p, cache, dstate):
    x, h_prev, h = cache
    (dh,) = dstate
    da = dh * (1 - h * h)
    dx, dh_prev, grads = linear_grads(p, x, h_prev, da, da)
    return dx, (dh_prev,), grads, None


def rnn_relu_fwd(p, x, state):
    (h_prev,) = state
    a = x @ p["w_ih"].T + p["b_ih"] + h_prev @ p["w_hh"].T + p["b_hh"]
    h = np.maximum(a, 0)
    return (h,), (x, h_prev, a)


def rnn_relu_bwd(p, cache, dstate):
    x, h_prev, a = cache
    (dh,) = dstate
    da = dh * (a > 0)  # derivative 0 at a == 0, as in PyTorch
    dx, dh_prev, grads = linear_grads(p, x, h_prev, da, da)
    return dx, (dh_prev,), grads, None


# ---- LSTM (PyTorch gate order i, f, g, o) ----

def lstm_fwd(p, x, state):
    h_prev, c_prev = state
    a = x @ p["w_ih"].T + p["b_ih"] + h_prev @ p["w_hh"].T + p["b_hh"]
    a_i, a_f, a_g, a_o = split(a, 4)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    tc = np.tanh(c)
    h = o * tc
    return (h, c), (x, h_prev, c_prev, i, f, g, o, tc)


def lstm_bwd(p, cache, dstate):
    x, h_prev, c_prev, i, f, g, o, tc = cache
    dh, dc = dstate
    do = dh * tc
    dc = dc + dh * o * (1 - tc * tc)  # total dL/dc_t
    di, df, dg = dc * g, dc * c_prev, dc * i
    dc_prev = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g),
                         do * o * (1 - o)], axis=-1)
    dx, dh_prev, grads = linear_grads(p, x, h_prev, da, da)
    return dx, (dh_prev, dc_prev), grads, dc


# ---- LSTM with diagonal peepholes (Gers & Schmidhuber 2000) ----

def lstm_peephole_fwd(p, x, state):
    h_prev, c_prev = state
    p_i, p_f, p_o = p["peep"]
    a = x @ p["w_ih"].T + p["b_ih"] + h_prev @ p["w_hh"].T + p["b_hh"]
    a_i, a_f, a_g, a_o = split(a, 4)
    i = sigmoid(a_i + p_i * c_prev)
    f = sigmoid(a_f + p_f * c_prev)
    g = np.tanh(a_g)
    c = f * c_prev + i * g
    o = sigmoid(a_o + p_o * c)
    tc = np.tanh(c)
    h = o * tc
    return (h, c), (x, h_prev, c_prev, i, f, g, o, c, tc)


def lstm_peephole_bwd(p, cache, dstate):
    x, h_prev, c_prev, i, f, g, o, c, tc = cache
    p_i, p_f, p_o = p["peep"]
    dh, dc = dstate
    dao = dh * tc * o * (1 - o)
    dc = dc + dh * o * (1 - tc * tc) + dao * p_o  # total dL/dc_t (via h_t and o_t too)
    dai = dc * g * i * (1 - i)
    daf = dc * c_prev * f * (1 - f)
    dag = dc * i * (1 - g * g)
    dc_prev = dc * f + dai * p_i + daf * p_f
    da = np.concatenate([dai, daf, dag, dao], axis=-1)
    dx, dh_prev, grads = linear_grads(p, x, h_prev, da, da)
    grads["peep"] = np.stack([(dai * c_prev).sum(0), (daf * c_prev).sum(0),
                              (dao * c).sum(0)])
    return dx, (dh_prev, dc_prev), grads, dc


# ---- LSTM with coupled input-forget gate (i = 1 - f), blocks f, g, o ----

def lstm_cifg_fwd(p, x, state):
    h_prev, c_prev = state
    a = x @ p["w_ih"].T + p["b_ih"] + h_prev @ p["w_hh"].T + p["b_hh"]
    a_f, a_g, a_o = split(a, 3)
    f, g, o = sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + (1 - f) * g
    tc = np.tanh(c)
    h = o * tc
    return (h, c), (x, h_prev, c_prev, f, g, o, tc)


def lstm_cifg_bwd(p, cache, dstate):
    x, h_prev, c_prev, f, g, o, tc = cache
    dh, dc = dstate
    do = dh * tc
    dc = dc + dh * o * (1 - tc * tc)  # total dL/dc_t
    df = dc * (c_prev - g)
    dg = dc * (1 - f)
    dc_prev = dc * f
    da = np.concatenate([df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=-1)
    dx, dh_prev, grads = linear_grads(p, x, h_prev, da, da)
    return dx, (dh_prev, dc_prev), grads, dc


# ---- GRU, PyTorch/cuDNN form: n = tanh(gi_n + r * (W_hn h + b_hn)) ----

def gru_fwd(p, x, state):
    (h_prev,) = state
    gi = x @ p["w_ih"].T + p["b_ih"]
    gh = h_prev @ p["w_hh"].T + p["b_hh"]
    gi_r, gi_z, gi_n = split(gi, 3)
    gh_r, gh_z, gh_n = split(gh, 3)
    r = sigmoid(gi_r + gh_r)
    z = sigmoid(gi_z + gh_z)
    n = np.tanh(gi_n + r * gh_n)
    h = (1 - z) * n + z * h_prev
    return (h,), (x, h_prev, r, z, n, gh_n)


def gru_bwd(p, cache, dstate):
    x, h_prev, r, z, n, gh_n = cache
    (dh,) = dstate
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1 - n * n)
    dar = dan * gh_n * r * (1 - r)
    daz = dz * z * (1 - z)
    dgi = np.concatenate([dar, daz, dan], axis=-1)
    dgh = np.concatenate([dar, daz, dan * r], axis=-1)
    dx, dh_prev, grads = linear_grads(p, x, h_prev, dgi, dgh)
    return dx, (dh_prev + dh * z,), grads, None


# ---- GRU, Cho et al. 2014 form: n = tanh(gi_n + W_hn (r * h) + b_hn) ----

def gru_cho_fwd(p, x, state):
    (h_prev,) = state
    H = h_prev.shape[-1]
    w_hr, w_hz, w_hn = p["w_hh"][:H], p["w_hh"][H:2 * H], p["w_hh"][2 * H:]
    b_hr, b_hz, b_hn = split(p["b_hh"], 3)
    gi_r, gi_z, gi_n = split(x @ p["w_ih"].T + p["b_ih"], 3)
    r = sigmoid(gi_r + h_prev @ w_hr.T + b_hr)
    z = sigmoid(gi_z + h_prev @ w_hz.T + b_hz)
    rh = r * h_prev
    n = np.tanh(gi_n + rh @ w_hn.T + b_hn)
    h = (1 - z) * n + z * h_prev
    return (h,), (x, h_prev, r, z, n, rh)


def gru_cho_bwd(p, cache, dstate):
    x, h_prev, r, z, n, rh = cache
    (dh,) = dstate
    H = h_prev.shape[-1]
    w_hr, w_hz, w_hn = p["w_hh"][:H], p["w_hh"][H:2 * H], p["w_hh"][2 * H:]
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1 - n * n)
    drh = dan @ w_hn
    dar = drh * h_prev * r * (1 - r)
    daz = dz * z * (1 - z)
    dgi = np.concatenate([dar, daz, dan], axis=-1)
    grads = {"w_ih": dgi.T @ x, "b_ih": dgi.sum(0),
             "w_hh": np.concatenate([dar.T @ h_prev, daz.T @ h_prev, dan.T @ rh]),
             "b_hh": dgi.sum(0)}
    dx = dgi @ p["w_ih"]
    dh_prev = dh * z + drh * r + dar @ w_hr + daz @ w_hz
    return dx, (dh_prev,), grads, None


STEPS = {
    "rnn_tanh": (rnn_tanh_fwd, rnn_tanh_bwd),
    "rnn_relu": (rnn_relu_fwd, rnn_relu_bwd),
    "lstm": (lstm_fwd, lstm_bwd),
    "lstm_peephole": (lstm_peephole_fwd, lstm_peephole_bwd),
    "lstm_cifg": (lstm_cifg_fwd, lstm_cifg_bwd),
    "gru": (gru_fwd, gru_bwd),
    "gru_cho": (gru_cho_fwd, gru_cho_bwd),
}


# --------------------------------------------------------------------------------------
# State helpers: public structure (h or (h, c), each (L*D, B, H)) <-> tuple of arrays
# --------------------------------------------------------------------------------------

def state_to_tuple(cell, state, shape, dtype):
    n = 2 if is_lstm(cell) else 1
    if state is None:
        return tuple(np.zeros(shape, dtype) for _ in range(n))
    parts = tuple(state) if is_lstm(cell) else (state,)
    if len(parts) != n:
        raise ValueError(f"{cell}: state must be {'(h, c)' if n == 2 else 'an array h'}")
    return tuple(np.asarray(s, dtype).reshape(shape) for s in parts)


def tuple_to_state(cell, parts):
    return (parts[0], parts[1]) if is_lstm(cell) else parts[0]


def time_order(T, direction):
    """Order in which a direction's recursion visits the steps (forward pass)."""
    return range(T) if direction == 0 else range(T - 1, -1, -1)


# --------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------

def forward(cell, params, x, state=None):
    """Run the L-layer, D-direction network over x (T, B, I).

    Returns y (T, B, D*H), the final state (same structure as state) and a cache for
    backward/tbptt.
    """
    fwd, _ = STEPS[cell]
    L, D, I, H = dims(cell, params)
    x = np.asarray(x)
    T, B, I_x = x.shape
    if I_x != I:
        raise ValueError(f"x has input size {I_x}, params expect {I}")
    init = state_to_tuple(cell, state, (L * D, B, H), x.dtype)
    final = tuple(np.zeros_like(s) for s in init)
    inputs, steps = [], {}
    layer_in = x
    for l in range(L):
        out = np.zeros((T, B, D * H), x.dtype)
        for d in range(D):
            row = l * D + d
            p = layer_params(params, l, d)
            st = tuple(s[row] for s in init)
            steps[row] = [None] * T
            for t in time_order(T, d):
                st, steps[row][t] = fwd(p, layer_in[t], st)
                out[t, :, d * H:(d + 1) * H] = st[0]
            for s_final, s in zip(final, st, strict=True):
                s_final[row] = s
        inputs.append(layer_in)
        layer_in = out
    cache = {"cell": cell, "dims": (L, D, I, H), "T": T, "B": B, "dtype": x.dtype,
             "inputs": inputs, "steps": steps}
    return layer_in, tuple_to_state(cell, final), cache


# --------------------------------------------------------------------------------------
# Backward restricted to a window of steps [t_s, t_e]
# --------------------------------------------------------------------------------------

def backward_window(cell, params, cache, dy, dstate, t_s, t_e):
    """Backpropagate dy (T, B, D*H) through steps t_s..t_e only, in every layer and
    direction; every path leaving the window is cut.

    dstate (tuple of (L*D, B, H) arrays) is the gradient w.r.t. the final state; it is
    injected into each row's recursion at the window's first backward step, so the
    caller passes zeros for rows whose producing step (T-1 forward, 0 reverse) is not
    that step. The gradient leaving the window's edge is returned as the initial-state
    gradient when that edge is the initial state (t_s == 0 forward, t_e == T-1 reverse)
    and dropped otherwise. Returns (param grads, dx, dinit tuple, norms_h, norms_c);
    norms are filled only at steps inside the window.
    """
    _, bwd = STEPS[cell]
    L, D, I, H = cache["dims"]
    T, B, dtype = cache["T"], cache["B"], cache["dtype"]
    lstm = is_lstm(cell)
    if lstm:
        assert dstate is not None and len(dstate) == 2
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dinit = tuple(np.zeros((L * D, B, H), dtype) for _ in dstate)
    norms_h = np.zeros((L * D, T), dtype)
    norms_c = np.zeros((L * D, T), dtype) if lstm else None

    d_out = dy  # gradient w.r.t. the current layer's output
    for l in reversed(range(L)):
        layer_in = cache["inputs"][l]
        d_in = np.zeros_like(layer_in)
        for d in range(D):
            row = l * D + d
            p = layer_params(params, l, d)
            carried = tuple(ds[row] for ds in dstate)  # dL/d(state after this step)
            order = range(t_e, t_s - 1, -1) if d == 0 else range(t_s, t_e + 1)
            for t in order:
                dh = d_out[t, :, d * H:(d + 1) * H] + carried[0]
                dx_t, carried, g, dc_total = bwd(p, cache["steps"][row][t],
                                                 (dh,) + carried[1:])
                norms_h[row, t] = np.linalg.norm(dh)
                if lstm:
                    norms_c[row, t] = np.linalg.norm(dc_total)
                d_in[t] += dx_t
                for short, gv in g.items():
                    grads[key(SHORT_TO_KEY[short], l, d)] += gv
            at_initial_edge = (t_s == 0) if d == 0 else (t_e == T - 1)
            if at_initial_edge:
                for di, c in zip(dinit, carried, strict=True):
                    di[row] += c
        d_out = d_in
    return grads, d_out, dinit, norms_h, norms_c


def _result(cell, grads, dx, dinit, norms_h, norms_c):
    return {"params": grads, "x": dx, "state": tuple_to_state(cell, dinit),
            "norms_h": norms_h, "norms_c": norms_c}


def backward(cell, params, cache, dy, dstate=None):
    """Full BPTT. dy: dL/dy (T, B, D*H); dstate: dL/d(final state) or None."""
    L, D, I, H = cache["dims"]
    T, B, dtype = cache["T"], cache["B"], cache["dtype"]
    ds = state_to_tuple(cell, dstate, (L * D, B, H), dtype)
    return _result(cell, *backward_window(cell, params, cache, np.asarray(dy, dtype), ds,
                                          0, T - 1))


# --------------------------------------------------------------------------------------
# Truncated BPTT (Williams & Peng 1990), conventions.md
# --------------------------------------------------------------------------------------

def window_ends(T, k1):
    ends = list(range(k1 - 1, T, k1))
    if not ends or ends[-1] != T - 1:
        ends.append(T - 1)
    return ends


def windows(T, k1, k2):
    """[(t_s, t_e, loss_start)]: window [t_s, t_e], loss part [loss_start, t_e]."""
    if not 1 <= k1 <= k2:
        raise ValueError(f"need 1 <= k1 <= k2, got k1={k1}, k2={k2}")
    out, prev = [], -1
    for t_e in window_ends(T, k1):
        out.append((max(0, t_e - k2 + 1), t_e, prev + 1))
        prev = t_e
    return out


def tbptt(cell, params, x, dy, k1, k2, state=None, dstate=None):
    """TBPTT(k1, k2): for each window, backpropagate the loss part of dy through the
    window only; sum the gradients over windows. The forward pass is not truncated."""
    y, _, cache = forward(cell, params, x, state)
    L, D, I, H = cache["dims"]
    T, B, dtype = cache["T"], cache["B"], cache["dtype"]
    dy = np.asarray(dy, dtype)
    ds = state_to_tuple(cell, dstate, (L * D, B, H), dtype)
    fwd_rows = [l * D for l in range(L)]
    rev_rows = [l * D + 1 for l in range(L)] if D == 2 else []

    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dx = np.zeros_like(np.asarray(x, dtype))
    dinit = tuple(np.zeros_like(s) for s in ds)
    norms_h = np.zeros((L * D, T), dtype)
    norms_c = np.zeros((L * D, T), dtype) if is_lstm(cell) else None
    for t_s, t_e, t_loss in windows(T, k1, k2):
        dy_w = np.zeros_like(dy)
        dy_w[t_loss:t_e + 1] = dy[t_loss:t_e + 1]
        # final-state gradient goes into the window whose loss part holds the step that
        # produced it: T-1 for forward rows, 0 for reverse rows
        ds_w = tuple(np.zeros_like(s) for s in ds)
        for s_w, s in zip(ds_w, ds, strict=True):
            if t_e == T - 1:
                s_w[fwd_rows] = s[fwd_rows]
            if t_loss == 0:
                s_w[rev_rows] = s[rev_rows]
        g, dx_w, dinit_w, nh, nc = backward_window(cell, params, cache, dy_w, ds_w,
                                                   t_s, t_e)
        for k in grads:
            grads[k] += g[k]
        dx += dx_w
        for a, b in zip(dinit, dinit_w, strict=True):
            a += b
        norms_h[:, t_loss:t_e + 1] = nh[:, t_loss:t_e + 1]
        if norms_c is not None:
            norms_c[:, t_loss:t_e + 1] = nc[:, t_loss:t_e + 1]
    return _result(cell, grads, dx, dinit, norms_h, norms_c)
