"""Jacobian-vector products of one step of every cell, and what is built on them: Jacobians,
tangent propagation and Lyapunov spectra (repeated QR).

The state of a cell is one vector s: h (H,) for the RNN and GRU cells, [h; c] (2H,) for the
LSTM cells. A step maps (s_{t-1}, x_t) to s_t; its Jacobian J_t = ds_t/ds_{t-1} is applied to
the k columns of a tangent matrix V (S, k) in the same jitted pass that advances the state
(studies.science.cell_equations.step), so a Lyapunov run costs one forward step plus one
(G*H, H) @ (H, k) product per step.
"""

import math

import numpy as np
from bpttlab import kernels

from .cell_equations import codes, jit, step


@jit
def _run(family, variant, xps, w_hh, b_hh, peep, w_rz, w_n, s0, V0, qr, logs, states):
    """Advance (s, V) over xps (T, G*H). With ``qr``, re-orthonormalize V after every step and
    store log|R_ii| in logs[t]; otherwise V is propagated as is. Returns the final (s, V)."""
    s = s0.copy()
    V = np.ascontiguousarray(V0)
    s_new = np.empty_like(s)
    V_new = np.empty_like(V)
    for t in range(xps.shape[0]):
        step(family, variant, xps[t], w_hh, b_hh, peep, w_rz, w_n, s, V, s_new, V_new)
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
        self._codes = codes(spec)

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
