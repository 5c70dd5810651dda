"""The public network: its structure, the argument checks, and the choice of backend.

The loops over layers, directions and truncation windows are in _driver.py, the per-layer
work in the backends (cpu/backend.py, cuda/backend.py).
"""

import numpy as np

from . import _driver, _memory
from ._validation import (
    as_float_array,
    check_flag,
    check_params,
    check_positive_int,
    check_state,
    check_truncation,
    check_x,
    dtype_of,
)
from .cells import get_spec
from .params import expected_shapes, infer_structure, init_params
from .results import Tape

BACKENDS = ("cpu", "cuda")


def make_backend(name):
    """The backend object for ``name``; each backend's modules are imported only when asked for."""
    if name == "cuda":
        from .cuda.backend import CudaBackend  # noqa: PLC0415 - numba.cuda loads only for backend="cuda"

        return CudaBackend()
    from .cpu.backend import CpuBackend  # noqa: PLC0415 - compiles nothing until a kernel runs

    return CpuBackend()


class Network:
    """A recurrent network: ``num_layers`` layers of ``cell``, optionally bidirectional.

    The network holds only its structure; parameters are plain dicts of arrays keyed like
    PyTorch's state_dict (see docs/conventions.md), passed to each call.

    Array kinds (backend="cuda"): NumPy in, NumPy out; device arrays in, device arrays out.
    forward returns y and the final state as the kind of x; backward returns the gradients
    (params, x, state) as the kind of dy. Any object exporting ``__cuda_array_interface__``
    (CuPy, PyTorch CUDA tensors) is accepted as input; parameters and states may be either
    kind. The per-step norms are always small NumPy arrays; the tape stays on the device.

    Flags (bidirectional, training, log_norms) take only True or False. forward, backward and
    tbptt raise MemoryBudgetError (a MemoryError), before allocating anything, when the call
    would need more memory than the backend has available (kernels/_memory.py).
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bidirectional=False, backend="cpu"):
        self.spec = get_spec(cell)
        self.cell = cell
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.bidirectional = check_flag("bidirectional", bidirectional)
        self.directions = 2 if bidirectional else 1
        if backend not in BACKENDS:
            raise ValueError(f"backend: got {backend!r}, expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        self._impl = make_backend(backend)

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

    def check_params(self, params, dtype):
        return check_params(params, self.param_shapes, dtype)

    def check_dy(self, dy, T, B, dtype):
        return as_float_array("dy", dy, shape=(T, B, self.directions * self.hidden_size), dtype=dtype)

    # -- the memory budget (kernels/_memory.py) ---------------------------------------------

    def _sizes(self, T, B, dtype):
        return (self.spec, self.backend, T, B, self.input_size, self.hidden_size, self.num_layers, self.directions,
                dtype.itemsize)

    def _describe(self, dtype):
        return (f"({dtype}; {self.cell}, hidden_size={self.hidden_size}, num_layers={self.num_layers}"
                f"{', bidirectional' if self.bidirectional else ''})")

    def _require_memory(self, call, T, B, dtype, training, backward=None):
        """Refuse a forward (and the backward after it, in tbptt) that cannot fit, before allocating.

        backward: None for a forward alone, else the renorm flag of the backward that follows.
        """

        def parts(T=T, B=B, dtype=dtype, training=training):
            sizes = self._sizes(T, B, dtype)
            p = _memory.forward_bytes(*sizes, training)
            if backward is not None:
                p.update({f"backward {k}": v for k, v in _memory.backward_bytes(*sizes, backward).items()})
            return p

        def hints():
            def about(**changes):
                return f"about {_memory.fmt(sum(parts(**changes).values()))}"

            half_t, half_b = max(1, T // 2), max(1, B // 2)
            tips = []
            if training and backward is None:
                tips.append(f"training=False keeps no tape ({about(training=False)})")
            if dtype.itemsize == 8:
                tips.append(f"float32 halves every buffer ({about(dtype=np.dtype(np.float32))})")
            tips.append(f"fewer steps or a smaller batch ({about(T=half_t)} at T={half_t}, {about(B=half_b)} at "
                        f"B={half_b})")
            if training:
                tips.append("truncation: stream TBPTT(k, k), a forward and a backward of k steps at a time passing "
                            "fw.state on, so that only a k-step tape is alive")
            return tips

        def what():
            return f"{call}: x of shape ({T}, {B}, {self.input_size}) {self._describe(dtype)}"

        _memory.require(what, parts(), self._impl.available_memory, hints)

    def _require_backward_memory(self, T, B, dtype, renorm):
        def hints():
            tips = ["fewer steps or a smaller batch shrink it in proportion",
                    "truncation: stream TBPTT(k, k), a forward and a backward of k steps at a time passing fw.state "
                    "on, so that only a k-step tape is alive"]
            return (["float32 halves every buffer"] if dtype.itemsize == 8 else []) + tips

        def what():
            return f"backward: dy of shape ({T}, {B}, {self.directions * self.hidden_size}) {self._describe(dtype)}"

        _memory.require(what, _memory.backward_bytes(*self._sizes(T, B, dtype), renorm), self._impl.available_memory,
                        hints)

    # -- forward ---------------------------------------------------------------------------

    def forward(self, params, x, state=None, training=True):
        """Run the network over x (T, B, I).

        Returns Forward(y, state, tape): y (T, B, D*H), the final state (h, or (h, c) for the
        LSTM cells) and, when ``training``, the tape for :meth:`backward` (None otherwise).
        NaN or Inf in x or the parameters propagate to the outputs.
        """
        return self._forward(params, x, state, training)

    def _forward(self, params, x, state, training, call="forward", backward=None):
        training = check_flag("training", training)
        x = check_x(x, self.input_size)
        dtype = dtype_of(x)
        P = self.check_params(params, dtype)
        h0, c0 = check_state("state", state, self.spec.has_cell_state, self._state_shape(x.shape[1]), dtype)
        self._require_memory(call, x.shape[0], x.shape[1], dtype, training, backward)
        return _driver.forward(self, self._impl, P, x, h0, c0, training)

    # -- backward --------------------------------------------------------------------------

    def backward(self, tape, dy, dstate=None, *, log_norms=False):
        """Full BPTT. dy: dL/dy (T, B, D*H); dstate: dL/d(final state), or None.

        Returns Gradients(params, x, state, norms_h, norms_c). With ``log_norms=True`` the
        error is renormalized at every step and only log‖dL/dh_t‖ (and log‖dL/dc_t‖) are
        returned, finite however far the norms decay or grow (one layer only).
        """
        return self._backprop(tape, dy, dstate, None, None, check_flag("log_norms", log_norms))

    def backward_truncated(self, tape, dy, k1, k2, dstate=None):
        """TBPTT(k1, k2) on a forward pass's tape: every k1 steps, backpropagate k2 steps.

        See docs/conventions.md for the exact definition; k1 = k2 >= T is full BPTT.
        """
        return self._backprop(tape, dy, dstate, k1, k2, False)

    def tbptt(self, params, x, dy, k1, k2, state=None, dstate=None):
        """Forward (training mode) then TBPTT(k1, k2); returns (Forward, Gradients).

        The memory of both passes is checked before the forward starts.
        """
        x = check_x(x, self.input_size)
        check_truncation(k1, k2, x.shape[0])  # a bad k fails before the forward, not after it
        fw = self._forward(params, x, state, True, call="tbptt", backward=False)
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
        T, B, L = tape.T, tape.B, tape.num_layers
        k1, k2 = check_truncation(k1, k2, T)
        if renorm and L != 1:
            raise ValueError(f"log_norms: supported for one layer, got a network of num_layers={L}")
        dy = self.check_dy(dy, T, B, tape.dtype)
        dh_T, dc_T = check_state("dstate", dstate, self.spec.has_cell_state, self._state_shape(B), tape.dtype)
        self._require_backward_memory(T, B, tape.dtype, renorm)
        return _driver.backprop(self, self._impl, tape, dy, dh_T, dc_T, k1, k2, renorm)
