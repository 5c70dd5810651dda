"""Jacobian-vector products of one step of every cell, and what is built on them: Jacobians,
tangent propagation and Lyapunov spectra (repeated QR).

The state of a cell is one vector s: h (H,) for the RNN and GRU cells, [h; c] (2H,) for the
LSTM cells. A step maps (s_{t-1}, x_t) to s_t; its Jacobian J_t = ds_t/ds_{t-1} is applied to
the k columns of a tangent matrix V (S, k) in the same jitted pass that advances the state,
so a Lyapunov run costs one forward step plus one (G*H, H) @ (H, k) product per step.
The equations are those of docs/conventions.md; the tests check every cell against central
differences of the kernels' own forward pass.
"""

import math

import numpy as np
from numba import njit

import kernels
from kernels.cells import GRU_RESET_BEFORE, LSTM_CIFG, LSTM_PEEPHOLE, RNN_RELU

# Same compilation policy as the kernels, without fastmath: the Lyapunov sums are long
# reductions whose results the studies compare at the 1e-3 level, and they must not depend
# on how LLVM chose to reassociate them.
jit = njit(cache=True, nogil=True, error_model="numpy")

FAMILY_CODES = {"rnn": 0, "lstm": 1, "gru": 2}


@jit
def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@jit
def _rnn(xp, w_hh, b_hh, s, V, s_new, V_new, relu):
    H = s.shape[0]
    a = w_hh @ s
    dA = w_hh @ V
    for j in range(H):
        v = a[j] + xp[j] + b_hh[j]
        if relu:
            s_new[j] = v if v > 0 else 0.0
            d = 1.0 if v > 0 else 0.0
        else:
            hv = math.tanh(v)
            s_new[j] = hv
            d = 1.0 - hv * hv
        for m in range(V.shape[1]):
            V_new[j, m] = d * dA[j, m]


@jit
def _lstm(xp, w_hh, b_hh, peep, s, V, s_new, V_new, variant):
    H = s.shape[0] // 2
    h = s[:H]
    c = s[H:]
    A = w_hh @ h
    dA = w_hh @ np.ascontiguousarray(V[:H])
    k = V.shape[1]
    cifg = variant == LSTM_CIFG
    peephole = variant == LSTM_PEEPHOLE
    for j in range(H):
        cp = c[j]
        if cifg:
            f = _sigmoid(A[j] + xp[j] + b_hh[j])
            g = math.tanh(A[H + j] + xp[H + j] + b_hh[H + j])
            ao = A[2 * H + j] + xp[2 * H + j] + b_hh[2 * H + j]
            i = 1.0 - f
            bf, bg, bo = j, H + j, 2 * H + j
            bi = -1
        else:
            ai = A[j] + xp[j] + b_hh[j]
            af = A[H + j] + xp[H + j] + b_hh[H + j]
            g = math.tanh(A[2 * H + j] + xp[2 * H + j] + b_hh[2 * H + j])
            ao = A[3 * H + j] + xp[3 * H + j] + b_hh[3 * H + j]
            if peephole:
                ai += peep[0, j] * cp
                af += peep[1, j] * cp
            i = _sigmoid(ai)
            f = _sigmoid(af)
            bi, bf, bg, bo = j, H + j, 2 * H + j, 3 * H + j
        cn = f * cp + i * g
        if peephole:
            ao += peep[2, j] * cn
        o = _sigmoid(ao)
        tc = math.tanh(cn)
        s_new[j] = o * tc
        s_new[H + j] = cn
        for m in range(k):
            dcp = V[H + j, m]
            daf = dA[bf, m]
            if peephole:
                daf += peep[1, j] * dcp
            df = f * (1.0 - f) * daf
            if cifg:
                di = -df
            else:
                dai = dA[bi, m]
                if peephole:
                    dai += peep[0, j] * dcp
                di = i * (1.0 - i) * dai
            dg = (1.0 - g * g) * dA[bg, m]
            dcn = df * cp + f * dcp + di * g + i * dg
            dao = dA[bo, m]
            if peephole:
                dao += peep[2, j] * dcn
            do = o * (1.0 - o) * dao
            V_new[j, m] = do * tc + o * (1.0 - tc * tc) * dcn
            V_new[H + j, m] = dcn


@jit
def _gru(xp, w_hh, b_hh, s, V, s_new, V_new):
    """Reset-after GRU: n = tanh(x_n + r * (W_hn h + b_hn))."""
    H = s.shape[0]
    A = w_hh @ s
    dA = w_hh @ V
    for j in range(H):
        r = _sigmoid(xp[j] + A[j] + b_hh[j])
        z = _sigmoid(xp[H + j] + A[H + j] + b_hh[H + j])
        hn = A[2 * H + j] + b_hh[2 * H + j]
        n = math.tanh(xp[2 * H + j] + r * hn)
        hp = s[j]
        s_new[j] = (1.0 - z) * n + z * hp
        for m in range(V.shape[1]):
            dr = r * (1.0 - r) * dA[j, m]
            dz = z * (1.0 - z) * dA[H + j, m]
            dn = (1.0 - n * n) * (dr * hn + r * dA[2 * H + j, m])
            V_new[j, m] = (hp - n) * dz + (1.0 - z) * dn + z * V[j, m]


@jit
def _gru_cho(xp, w_rz, w_n, b_hh, s, V, s_new, V_new):
    """Reset-before GRU: n = tanh(x_n + W_hn (r * h) + b_hn)."""
    H = s.shape[0]
    k = V.shape[1]
    A = w_rz @ s
    dA = w_rz @ V
    r = np.empty(H)
    z = np.empty(H)
    rh = np.empty(H)
    drh = np.empty((H, k))
    dz = np.empty((H, k))
    for j in range(H):
        r[j] = _sigmoid(xp[j] + A[j] + b_hh[j])
        z[j] = _sigmoid(xp[H + j] + A[H + j] + b_hh[H + j])
        rh[j] = r[j] * s[j]
        for m in range(k):
            drh[j, m] = r[j] * (1.0 - r[j]) * dA[j, m] * s[j] + r[j] * V[j, m]
            dz[j, m] = z[j] * (1.0 - z[j]) * dA[H + j, m]
    an = w_n @ rh
    dan = w_n @ drh
    for j in range(H):
        n = math.tanh(xp[2 * H + j] + an[j] + b_hh[2 * H + j])
        hp = s[j]
        s_new[j] = (1.0 - z[j]) * n + z[j] * hp
        for m in range(k):
            V_new[j, m] = (hp - n) * dz[j, m] + (1.0 - z[j]) * (1.0 - n * n) * dan[j, m] + z[j] * V[j, m]


@jit
def _step(family, variant, xp, w_hh, b_hh, peep, w_rz, w_n, s, V, s_new, V_new):
    if family == 0:
        _rnn(xp, w_hh, b_hh, s, V, s_new, V_new, variant == RNN_RELU)
    elif family == 1:
        _lstm(xp, w_hh, b_hh, peep, s, V, s_new, V_new, variant)
    elif variant == GRU_RESET_BEFORE:
        _gru_cho(xp, w_rz, w_n, b_hh, s, V, s_new, V_new)
    else:
        _gru(xp, w_hh, b_hh, s, V, s_new, V_new)


@jit
def _run(family, variant, xps, w_hh, b_hh, peep, w_rz, w_n, s0, V0, qr, logs, states):
    """Advance (s, V) over xps (T, G*H). With ``qr``, re-orthonormalize V after every step and
    store log|R_ii| in logs[t]; otherwise V is propagated as is. Returns the final (s, V)."""
    s = s0.copy()
    V = np.ascontiguousarray(V0)
    s_new = np.empty_like(s)
    V_new = np.empty_like(V)
    for t in range(xps.shape[0]):
        _step(family, variant, xps[t], w_hh, b_hh, peep, w_rz, w_n, s, V, s_new, V_new)
        s, s_new = s_new, s
        if states.shape[0] > 0:
            states[t] = s
        if qr:
            Q, R = np.linalg.qr(V_new)
            for m in range(R.shape[0]):
                logs[t, m] = math.log(abs(R[m, m]))
            V_new = np.ascontiguousarray(Q)
        V, V_new = V_new, V
    return s, V


class CellDynamics:
    """One layer, one direction of a kernels.Network as a map s_t = F(s_{t-1}, x_t), float64.

    ``params`` is the network's parameter dict (layer 0, forward direction).
    """

    def __init__(self, cell, params):
        spec = kernels.get_spec(cell)
        self.cell, self.spec = cell, spec
        f64 = lambda k: np.ascontiguousarray(params[k], dtype=np.float64)  # noqa: E731
        self.w_ih, self.w_hh = f64("weight_ih_l0"), f64("weight_hh_l0")
        self.b_ih, self.b_hh = f64("bias_ih_l0"), f64("bias_hh_l0")
        H = self.w_hh.shape[1]
        self.hidden_size = H
        self.state_size = 2 * H if spec.has_cell_state else H
        self.peep = f64("weight_peephole_l0") if spec.peephole else np.zeros((3, H))
        self.w_rz = np.ascontiguousarray(self.w_hh[: 2 * H]) if spec.family == "gru" else np.zeros((0, H))
        self.w_n = np.ascontiguousarray(self.w_hh[2 * H :]) if spec.family == "gru" else np.zeros((0, H))
        self._codes = (FAMILY_CODES[spec.family], spec.variant)

    def project(self, x):
        """x (T, I) -> the input side of every step's pre-activations, W_ih x_t + b_ih (T, G*H)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.w_ih.shape[1])
        return np.ascontiguousarray(x @ self.w_ih.T + self.b_ih)

    def state_vector(self, state):
        """A kernels state (h or (h, c), each (1, 1, H) or (H,)) as the vector s."""
        if self.spec.has_cell_state:
            h, c = state
            return np.concatenate([np.ravel(h), np.ravel(c)]).astype(np.float64)
        return np.ravel(state).astype(np.float64).copy()

    def kernel_state(self, s):
        """The vector s as a kernels state for a one-layer, batch-one network."""
        H = self.hidden_size
        if self.spec.has_cell_state:
            return (s[:H].reshape(1, 1, H).copy(), s[H:].reshape(1, 1, H).copy())
        return s.reshape(1, 1, H).copy()

    def run(self, xps, s0, V0=None, *, qr=False, keep_states=False):
        """Propagate the state and the tangent columns V0 (S, k) over xps (T, G*H).

        Returns (s_T, V_T, logs, states): logs (T, k) holds log|R_ii| of the QR after each
        step when ``qr`` (zeros otherwise); states (T, S) the states when ``keep_states``.
        """
        xps = np.ascontiguousarray(xps, dtype=np.float64)
        if xps.ndim == 1:
            xps = xps[None]
        V0 = np.zeros((self.state_size, 0)) if V0 is None else np.asarray(V0, dtype=np.float64)
        T, k = xps.shape[0], V0.shape[1]
        logs = np.zeros((T if qr else 0, k))
        states = np.empty((T if keep_states else 0, self.state_size))
        s, V = _run(*self._codes, xps, self.w_hh, self.b_hh, self.peep, self.w_rz, self.w_n,
                    np.asarray(s0, dtype=np.float64), V0, qr, logs, states)
        return s, V, logs, states

    def step(self, s, xp, V=None):
        """One step: (s_t, J_t V)."""
        s_new, JV, _, _ = self.run(xp, s, V)
        return s_new, JV

    def jacobian(self, s, xp):
        """The full Jacobian ds_t/ds_{t-1} (S, S) at state s with input projection xp."""
        return self.step(s, xp, np.eye(self.state_size))[1]

    def lyapunov(self, xps, s0, k, *, seed=0, skip=0):
        """The k leading Lyapunov exponents (per step, natural log) along the trajectory from s0.

        Repeated QR (Benettin et al. 1980; Shimada & Nagashima 1979): V is re-orthonormalized
        after every step and log|R_ii| accumulated; the first ``skip`` steps, while V aligns
        with the leading Oseledets directions, are left out of the averages. Column 1 of the
        QR is exactly the renormalized single tangent vector, so exponents[0] is also the
        tangent-vector-renormalization estimate of lambda_max. Returns (exponents (k,),
        logs (T, k)).
        """
        rng = np.random.default_rng(seed)
        V0, _ = np.linalg.qr(rng.standard_normal((self.state_size, k)))
        _, _, logs, _ = self.run(xps, s0, V0, qr=True)
        return logs[skip:].mean(axis=0), logs
