"""What the driver (kernels/_driver.py) asks of a backend, and the named buffers they exchange.

A backend (kernels/cpu/backend.py, kernels/cuda/backend.py) runs one layer-direction at a
time; the driver owns the loops over layers, directions and truncation windows and only passes
a backend's own structures (its LayerParams, workspaces and norm buffers) back to it.

Shapes: T steps, B batch rows, I the layer's input size (the network's input size for layer
0, D*H above it), H hidden units, G gate blocks (CellSpec.gates), D directions, L layers.
"""

from typing import NamedTuple, Protocol

from .params import param_key


class LayerArrays(NamedTuple):
    """One layer-direction's parameters, or their gradients (the same shapes).

    w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H,), b_hh (G*H,); peep (3, H) for the peephole LSTM,
    else None. Views of the parameter (or gradient) dict's arrays, keyed like a state_dict.
    """

    w_ih: object
    w_hh: object
    b_ih: object
    b_hh: object
    peep: object = None

    @classmethod
    def of(cls, arrays, layer, direction):
        def get(kind):
            return arrays.get(param_key(kind, layer, direction))

        return cls(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_peephole"))


class LayerTape(NamedTuple):
    """What one layer-direction's training forward keeps for its backward.

    X (T, B, I): the layer's input. hs (T+1, B, H): h_0 and every h_t (row T holds h_0 in the
    reverse direction, row 0 in the forward one). acts (T, B, G*H): the gate activations.
    cs (T+1, B, H): the LSTM cell states, laid out like hs. aux (T, B, H): the GRUs' second
    product (W_hn h_{t-1} + b_hn, or r * h_{t-1} for the reset-before GRU). A buffer a cell
    does not have is None on the CPU and a placeholder on the GPU.
    """

    X: object
    hs: object
    acts: object
    cs: object = None
    aux: object = None


class Backend(Protocol):
    """The operations the driver needs; ``a`` are arrays of the backend's kind."""

    name: str  # "cpu" or "cuda"
    device: bool  # whether its arrays live on a device (then results go back to the caller's kind)
    persistent: object  # CUDA only: the persistent-kernel policy

    def available_memory(self):
        """(bytes the backend's arrays can still take, or None if unknown; what that measures)."""

    # -- arrays ------------------------------------------------------------------------------
    def move_in(self, a):
        """(a as the backend's array, whether the caller's array was on a device)."""

    def move_out(self, a, on_device):
        """a as the kind of array the caller passed (on_device from move_in)."""

    def empty(self, shape, dtype): ...

    def zeros(self, shape, dtype): ...

    def clone(self, a): ...

    def copy_into(self, src, dst): ...

    def add_into(self, dst, src): ...

    def concat_directions(self, outs):
        """The D outputs (T, B, H) side by side: (T, B, D*H)."""

    def split_directions(self, a, D, H):
        """[(array, col0)] for each direction of a (T, B, D*H): its columns [col0, col0 + H)."""

    # -- one layer-direction -------------------------------------------------------------------
    def prepare(self, spec, weights: LayerArrays):
        """The backend's prepared parameters of one layer-direction (kept in the tape)."""

    def forward_layer(self, spec, lp, X, h0, c0, reverse, training):
        """Run the layer over X (T, B, I): (y (T, B, H), h_T, c_T or None, LayerTape or None)."""

    def workspace(self, spec, T, B, H, dtype, renorm):
        """Per layer-direction buffers for backward_layer, reused across windows."""

    def carry(self, spec, ws):
        """(dh, dc) (B, H): the error carried between steps, zeroed; dc is a placeholder without c."""

    def norm_buffers(self, rows, T, B, H, has_c, renorm): ...

    def finish_norms(self, norms):
        """(norms_h, norms_c): NumPy (L*D, T) float64, norms_c None without a cell state."""

    def window_dx(self, dx, layer, ts, te, B, In, dtype, renorm):
        """Where the layer's dL/d(input) of window [ts, te] goes: (te - ts + 1, B, In)."""

    def finish_window_dx(self, dx, dX, ts, te):
        """Add layer 0's window dL/dx into dx, if window_dx did not point into it."""

    def backward_layer(self, spec, lp, tape, ws, dy, dy_off, col0, inj, rec, ts, te, reverse, renorm, norms, idx,
                       grads: LayerArrays, dX, dX_overwrite, carry_out):
        """Backward through steps [ts, te], weight gradients included (see the backends)."""

    def finish_layer_grads(self, spec, ws, grads: LayerArrays):
        """Gradients the backend accumulates over all windows before writing them out."""
