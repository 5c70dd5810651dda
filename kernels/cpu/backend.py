"""The CPU backend: NumPy arrays, Numba-compiled kernels (see kernels/_backend.py for the interface).

The per-layer work is in layer.py; this class adapts it to the driver. The backward writes
layer 0's dL/dx straight into dx (TBPTT windows may overlap when k2 > k1).
"""

import numpy as np

from .. import _config, _memory
from . import layer


class CpuBackend:
    name = "cpu"
    device = False
    persistent = None

    def __init__(self):
        self._no_norms = {}

    def available_memory(self):
        return _memory.host_available(), "host memory"

    # -- arrays ----------------------------------------------------------------------------

    def move_in(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"backend='cpu' takes NumPy arrays, got a {type(a).__name__} (a device array?)")
        return a, False

    def move_out(self, a, on_device):
        return a

    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def clone(self, a):
        return a.copy()

    def copy_into(self, src, dst):
        dst[...] = src

    def add_into(self, dst, src):
        dst += src

    def concat_directions(self, outs):
        return np.concatenate(outs, axis=2)

    def split_directions(self, a, D, H):
        if D == 1:
            return [(a, 0)]
        return [(np.ascontiguousarray(a[..., d * H : (d + 1) * H]), 0) for d in range(D)]

    # -- one layer-direction -----------------------------------------------------------------

    def prepare(self, spec, weights):
        return layer.prepare(spec, weights)

    def forward_layer(self, spec, lp, X, h0, c0, reverse, training):
        _config.start_threads()
        return layer.forward_layer(spec, lp, X, h0, c0, reverse, training)

    def workspace(self, spec, T, B, H, dtype, renorm):
        return layer.workspace(spec, T, B, H, dtype)

    def carry(self, spec, ws):
        ws.dh[...] = 0
        ws.dc[...] = 0
        return ws.dh, ws.dc

    def norm_buffers(self, rows, T, B, H, has_c, renorm):
        """(norms_h, norms_c) (rows, T) float64, written by the backward directly."""
        return np.zeros((rows, T)), (np.zeros((rows, T)) if has_c else None)

    def finish_norms(self, norms):
        return norms

    def window_dx(self, dx, layer_index, ts, te, B, In, dtype, renorm):
        if layer_index == 0:
            return dx[ts : te + 1]
        return np.empty((te - ts + 1, B, In), dtype)

    def finish_window_dx(self, dx, dX, ts, te):
        pass  # window_dx pointed layer 0 into dx

    def backward_layer(self, spec, lp, tape, ws, dy, dy_off, col0, inj, rec, ts, te, reverse, renorm, norms, idx,
                       grads, dX, dX_overwrite, carry_out):
        _config.start_threads()
        norms_h, norms_c = norms
        T = norms_h.shape[1]
        row_c = norms_c[idx] if norms_c is not None else np.zeros(T)
        layer.backward_layer(spec, lp, tape, ws, dy, dy_off, inj, rec, ts, te, reverse, ws.dh, ws.dc, renorm,
                             norms_h[idx], row_c, grads, dX, 0.0 if dX_overwrite else 1.0)

    def finish_layer_grads(self, spec, ws, grads):
        pass  # backward_layer accumulates every gradient itself
