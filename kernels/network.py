"""Stacked and bidirectional networks of any cell: the driver over layers, directions and
truncation windows. The per-step work runs in the jitted kernels (cpu_*.py / gpu_*.py)."""

import numpy as np

from . import cpu_layer
from .cells import get_spec
from .params import expected_shapes, infer_structure, init_params, param_key
from .results import Forward, Gradients, Tape
from .validation import as_float_array, check_params, check_positive_int, check_state

BACKENDS = ("cpu", "cuda")


class Network:
    """A recurrent network: ``num_layers`` layers of ``cell``, optionally bidirectional.

    The network holds only its structure; parameters are plain dicts of arrays keyed like
    PyTorch's state_dict (see docs/conventions.md), passed to each call.
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bidirectional=False, backend="cpu"):
        self.spec = get_spec(cell)
        self.cell = cell
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional: got {bidirectional!r}, expected True or False")
        self.bidirectional = bool(bidirectional)
        self.directions = 2 if bidirectional else 1
        if backend not in BACKENDS:
            raise ValueError(f"backend: got {backend!r}, expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        if backend == "cuda":
            from . import gpu_network  # noqa: PLC0415 - the CUDA backend loads only when asked for

            self._impl = gpu_network.GpuDriver(self)
        else:
            self._impl = None

    @classmethod
    def for_params(cls, cell, params, backend="cpu"):
        """The network that a parameter dict (e.g. a PyTorch state_dict) describes."""
        input_size, hidden, num_layers, bidirectional = infer_structure(cell, params)
        return cls(cell, input_size, hidden, num_layers, bidirectional, backend=backend)

    def __repr__(self):
        return (
            f"Network({self.cell!r}, input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, backend={self.backend!r})"
        )

    @property
    def param_shapes(self):
        return expected_shapes(self.cell, self.input_size, self.hidden_size, self.num_layers, self.bidirectional)

    def init_params(self, **kwargs):
        """Initial parameters; see :func:`kernels.params.init_params` for the options."""
        return init_params(
            self.cell, self.input_size, self.hidden_size, self.num_layers, self.bidirectional, **kwargs
        )

    # -- argument checks -------------------------------------------------------------------

    def _state_shape(self, B):
        return (self.num_layers * self.directions, B, self.hidden_size)

    def _check_x(self, x):
        if isinstance(x, np.ndarray) or not hasattr(x, "__cuda_array_interface__"):
            x = as_float_array("x", x)
        if len(x.shape) != 3:
            raise ValueError(f"x: got shape {tuple(x.shape)}, expected (T, B, {self.input_size}) (time-major)")
        T, B, In = x.shape
        if T == 0:
            raise ValueError(f"x: got T = 0 steps (shape {tuple(x.shape)}), expected at least 1 step")
        if B == 0:
            raise ValueError(f"x: got batch size 0 (shape {tuple(x.shape)}), expected at least 1")
        if In != self.input_size:
            raise ValueError(f"x: got shape {tuple(x.shape)}, expected (T, B, {self.input_size}): input size {In} != {self.input_size}")
        return x

    def check_params(self, params, dtype):
        return check_params(params, self.param_shapes, dtype)

    def check_dy(self, dy, T, B, dtype):
        return as_float_array("dy", dy, shape=(T, B, self.directions * self.hidden_size), dtype=dtype)

    # -- forward ---------------------------------------------------------------------------

    def forward(self, params, x, state=None, training=True):
        """Run the network over x (T, B, I).

        Returns Forward(y, state, tape): y (T, B, D*H), the final state (h, or (h, c) for the
        LSTM cells) and, when ``training``, the tape for :meth:`backward` (None otherwise).
        NaN or Inf in x or the parameters propagate to the outputs.
        """
        if self._impl is not None:
            return self._impl.forward(params, x, state, training)
        x = self._check_x(x)
        T, B, _ = x.shape
        P = self.check_params(params, x.dtype)
        h0, c0 = check_state("state", state, self.spec.has_cell_state, self._state_shape(B), x.dtype)
        if training:
            x = x.copy()  # the tape must not change if the caller later writes into x
        L, D, H = self.num_layers, self.directions, self.hidden_size
        hT = np.empty(self._state_shape(B), x.dtype)
        cT = np.empty_like(hT) if c0 is not None else None
        layers, prepared = [], []
        inp = x
        for layer in range(L):
            outs, tapes, lps = [], [], []
            for d in range(D):
                idx = layer * D + d
                lp = cpu_layer.prepare(self.spec, *(P.get(param_key(k, layer, d)) for k in
                                       ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_peephole")))
                y_d, h_last, c_last, tape = cpu_layer.forward_layer(
                    self.spec, lp, inp, h0[idx], None if c0 is None else c0[idx], d == 1, training
                )
                hT[idx] = h_last
                if cT is not None:
                    cT[idx] = c_last
                outs.append(y_d)
                tapes.append(tape)
                lps.append(lp)
            inp = outs[0] if D == 1 else np.concatenate(outs, axis=2)
            layers.append(tapes)
            prepared.append(lps)
        y = inp.copy() if training and D == 1 else inp  # never hand out a view of the tape
        final = (hT, cT) if cT is not None else hT
        if not training:
            return Forward(y, final, None)
        tape = Tape(self.cell, T, B, L, D, H, self.input_size, x.dtype, P, layers, prepared)
        return Forward(y, final, tape)

    # -- backward --------------------------------------------------------------------------

    def backward(self, tape, dy, dstate=None, *, log_norms=False):
        """Full BPTT. dy: dL/dy (T, B, D*H); dstate: dL/d(final state), or None.

        Returns Gradients(params, x, state, norms_h, norms_c). With ``log_norms=True`` the
        error is renormalized at every step and only log‖dL/dh_t‖ (and log‖dL/dc_t‖) are
        returned, finite however far the norms decay or grow (one layer only).
        """
        return self._backprop(tape, dy, dstate, None, None, log_norms)

    def backward_truncated(self, tape, dy, k1, k2, dstate=None):
        """TBPTT(k1, k2) on a forward pass's tape: every k1 steps, backpropagate k2 steps.

        See docs/conventions.md for the exact definition; k1 = k2 >= T is full BPTT.
        """
        return self._backprop(tape, dy, dstate, k1, k2, False)

    def tbptt(self, params, x, dy, k1, k2, state=None, dstate=None):
        """Forward (training mode) then TBPTT(k1, k2); returns (Forward, Gradients)."""
        fw = self.forward(params, x, state, training=True)
        return fw, self.backward_truncated(fw.tape, dy, k1, k2, dstate)

    def _check_tape(self, tape):
        if not isinstance(tape, Tape):
            raise TypeError(
                f"tape: got {type(tape).__name__}, expected the Tape of a forward pass run with training=True"
            )
        ours = (self.cell, self.num_layers, self.directions, self.hidden_size, self.input_size, self.backend)
        theirs = (tape.cell, tape.num_layers, tape.directions, tape.hidden_size, tape.input_size, tape.backend)
        if ours != theirs:
            raise ValueError(f"tape: made by a network {theirs}, expected one of this network's {ours}")

    def _backprop(self, tape, dy, dstate, k1, k2, renorm):
        self._check_tape(tape)
        if self._impl is not None:
            return self._impl.backprop(tape, dy, dstate, k1, k2, renorm)
        T, B, L = tape.T, tape.B, tape.num_layers
        k1, k2 = check_truncation(k1, k2, T)
        if renorm and L != 1:
            raise ValueError(f"log_norms: supported for one layer, got a network of num_layers={L}")
        dy = self.check_dy(dy, T, B, tape.dtype)
        dh_T, dc_T = (None, None) if dstate is None else check_state(
            "dstate", dstate, self.spec.has_cell_state, self._state_shape(B), tape.dtype)
        return backprop_cpu(self.spec, tape, dy, dh_T, dc_T, k1, k2, renorm)


def check_truncation(k1, k2, T):
    """TBPTT window parameters; None, None means full BPTT."""
    if k1 is None and k2 is None:
        return T, T
    hint = " (TBPTT(k1, k2) needs 1 <= k1 <= k2)"
    k1 = check_positive_int("k1", k1, hint=hint)
    k2 = check_positive_int("k2", k2, hint=hint)
    if k2 < k1:
        raise ValueError(f"k2: got {k2}, expected k2 >= k1 = {k1}{hint}: with k2 < k1 some losses would reach no step")
    return k1, k2


def window_ends(T, k1):
    ends = list(range(k1 - 1, T, k1))
    if not ends or ends[-1] != T - 1:
        ends.append(T - 1)
    return ends


_GRAD_KEYS = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
              "peep": "weight_peephole"}


def backprop_cpu(spec, tape, dy, dh_T, dc_T, k1, k2, renorm):
    T, B, L, D, H = tape.T, tape.B, tape.num_layers, tape.directions, tape.hidden_size
    dtype = tape.dtype
    has_c = spec.has_cell_state
    grads = {k: np.zeros_like(v) for k, v in tape.params.items()}
    # The gradient arrays of each layer-direction, under the names cpu_layer uses.
    layer_grads = [[{short: grads[param_key(long, layer, d)] for short, long in _GRAD_KEYS.items()
                     if param_key(long, layer, d) in grads} for d in range(D)] for layer in range(L)]
    dx = np.zeros((T, B, tape.input_size), dtype)
    shape = (L * D, B, H)
    dh0 = np.zeros(shape, dtype)
    dc0 = np.zeros(shape, dtype) if has_c else None
    norms_h = np.zeros((L * D, T))
    norms_c = np.zeros((L * D, T)) if has_c else None
    no_norms = np.zeros(T)
    no_c = np.empty((0, 0), dtype)
    ws = [[cpu_layer.workspace(spec, T, B, H, dtype) for _ in range(D)] for _ in range(L)]
    dy_dirs = [dy] if D == 1 else [np.ascontiguousarray(dy[..., d * H : (d + 1) * H]) for d in range(D)]
    prev_end = -1
    for w, te in enumerate(window_ends(T, k1)):
        ts = max(0, te - k2 + 1)
        loss = (prev_end + 1, te)
        above, off, inj = dy_dirs, 0, loss
        for layer in reversed(range(L)):
            X = tape.layers[layer][0]["X"]
            # Layer 0 adds its dL/dx straight into dx (windows may overlap when k2 > k1).
            dX = dx[ts : te + 1] if layer == 0 else np.empty((te - ts + 1, B, X.shape[2]), dtype)
            for d in range(D):
                idx = layer * D + d
                lp, lt = tape.prepared[layer][d], tape.layers[layer][d]
                dh = np.zeros((B, H), dtype)
                dc = np.zeros((B, H), dtype) if has_c else no_c
                # The final state came out of step T-1 (forward) or step 0 (reverse).
                if dh_T is not None and ((d == 0 and te == T - 1) or (d == 1 and w == 0)):
                    dh[:] = dh_T[idx]
                    if has_c:
                        dc[:] = dc_T[idx]
                cpu_layer.backward_layer(
                    spec, lp, lt, ws[layer][d], above[d], off, inj, loss, ts, te, d == 1, dh, dc, renorm,
                    norms_h[idx], norms_c[idx] if has_c else no_norms,
                    layer_grads[layer][d], dX, 1.0 if layer == 0 or d > 0 else 0.0,
                )
                if renorm:
                    continue
                # What leaves the window next to the initial state is its gradient.
                if (d == 0 and ts == 0) or (d == 1 and te == T - 1):
                    dh0[idx] += dh
                    if has_c:
                        dc0[idx] += dc
            if layer > 0:
                above = [dX] if D == 1 else [np.ascontiguousarray(dX[..., d * H : (d + 1) * H]) for d in range(D)]
                off, inj = ts, (ts, te)
        prev_end = te
    if renorm:
        return Gradients(None, None, None, norms_h, norms_c)
    return Gradients(grads, dx, (dh0, dc0) if has_c else dh0, norms_h, norms_c)
