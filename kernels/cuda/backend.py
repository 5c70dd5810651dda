"""The CUDA backend: device arrays, numba.cuda kernels (see kernels/_backend.py for the interface).

The per-layer work is in layer.py, the products in _gemm.py, and every allocation, transfer
and launch in _common.py. This module imports numba.cuda only after checking that it can
(:func:`require_cuda`), so that the errors without numba-cuda or a GPU are clear ones.
"""

import importlib.util

import numpy as np

from .. import _config, _memory

INSTALL_HINT = "install numba-cuda: pip install numba-cuda (or pip install 'bpttlab[cuda]')"
SIM_HINT = (
    "to run the CUDA kernels without a GPU, set NUMBA_ENABLE_CUDASIM=1 in the environment before numba is "
    "imported (Numba's CUDA simulator: correct but very slow, for tests), or use backend='cpu'"
)


def _have_numba_cuda():
    return importlib.util.find_spec("numba_cuda") is not None


def _simulator_on():
    from . import _common  # noqa: PLC0415 - numba.cuda loads only once it is known to be there

    return _common.SIMULATOR


def _gpu_available():
    from numba import cuda  # noqa: PLC0415

    return cuda.is_available()


def require_cuda():
    """Raise a clear error unless the CUDA kernels can run (a GPU, or the simulator)."""
    if not _have_numba_cuda():
        raise ImportError(f"backend='cuda' needs the numba-cuda package, which is not installed: {INSTALL_HINT}")
    try:
        import numba.cuda  # noqa: F401, PLC0415
    except ImportError as e:
        raise ImportError(f"backend='cuda': numba.cuda failed to import ({e}); {INSTALL_HINT}") from e
    if _simulator_on():
        return
    if not _gpu_available():
        raise RuntimeError(
            "backend='cuda': no CUDA GPU was found (numba.cuda.is_available() is False: no NVIDIA GPU or driver "
            f"is visible to this process); {SIM_HINT}"
        )


class CudaBackend:
    """``persistent``: "auto" (default; the persistent kernel wherever W_hh fits on chip),
    True (always; an error where it cannot) or False (one launch per step). The default
    comes from the BPTTLAB_CUDA_PERSISTENT environment variable (auto, 1 or 0).
    """

    name = "cuda"
    device = True

    def __init__(self):
        require_cuda()
        from . import _common, layer  # noqa: PLC0415

        self._gc = _common
        self._layer = layer
        self.persistent = _config.cuda_persistent()
        self._placeholders = {}

    def _ph(self, dtype):
        if dtype not in self._placeholders or self._gc.compile_only():
            self._placeholders[dtype] = self._layer.placeholders(dtype)
        return self._placeholders[dtype]

    def available_memory(self):
        free = self._gc.free_device_memory()
        if free is None:  # the simulator and ptx_check keep their "device" arrays in host memory
            return _memory.host_available(), "host memory (the CUDA simulator's device)"
        return free, "free GPU memory"

    # -- arrays ----------------------------------------------------------------------------

    def move_in(self, a):
        gc = self._gc
        if gc.is_device_array(a):
            return gc.contiguous(gc.as_device_view(a)), True
        return gc.to_device(a), False

    def move_out(self, a, on_device):
        return a if on_device else self._gc.to_host(a)

    def empty(self, shape, dtype):
        return self._gc.empty(shape, dtype)

    def zeros(self, shape, dtype):
        return self._gc.zeros(shape, dtype)

    def clone(self, a):
        out = self._gc.empty(a.shape, a.dtype)
        self._gc.copy(a, out)
        return out

    def copy_into(self, src, dst):
        self._gc.copy(src, dst)

    def add_into(self, dst, src):
        self._gc.add_into(dst, src)

    def concat_directions(self, outs):
        T, B, H = outs[0].shape
        y = self._gc.empty((T, B, len(outs) * H), outs[0].dtype)
        for d, out in enumerate(outs):
            self._gc.copy(out, y[:, :, d * H : (d + 1) * H])
        return y

    def split_directions(self, a, D, H):
        return [(a, d * H) for d in range(D)]  # the kernels read their columns in place

    # -- one layer-direction -----------------------------------------------------------------

    def prepare(self, spec, weights):
        return self._layer.prepare(spec, weights, self._ph(weights.w_hh.dtype))

    def forward_layer(self, spec, lp, X, h0, c0, reverse, training):
        return self._layer.forward_layer(spec, lp, X, h0, c0, reverse, training, self._ph(X.dtype), self.persistent)

    def workspace(self, spec, T, B, H, dtype, renorm):
        return self._layer.workspace(spec, T, B, H, dtype, renorm, self._ph(dtype))

    def carry(self, spec, ws):
        self._gc.fill(ws.dh, 0)
        if spec.has_cell_state:
            self._gc.fill(ws.dc, 0)
        return ws.dh, ws.dc

    def norm_buffers(self, rows, T, B, H, has_c, renorm):
        """Per-block norm partials (rows, T, blocks, 3) of dL/dh and dL/dc, and the log-scales (rows, T)."""
        gc = self._gc
        NB = self._layer.norm_blocks(B, H)
        nrm_h = gc.zeros((rows, T, NB, 3), np.float64)
        nrm_c = gc.zeros((rows, T, NB, 3), np.float64) if has_c else None
        scl = gc.zeros((rows, T), np.float64) if renorm else None
        return nrm_h, nrm_c, scl

    def finish_norms(self, norms):
        nrm_h, nrm_c, scl = norms
        gc = self._gc
        return gc.finish_norms(nrm_h, scl), (gc.finish_norms(nrm_c, scl) if nrm_c is not None else None)

    def window_dx(self, dx, layer_index, ts, te, B, In, dtype, renorm):
        return None if renorm else self._gc.zeros((te - ts + 1, B, In), dtype)

    def finish_window_dx(self, dx, dX, ts, te):
        self._gc.add_into(dx[ts : te + 1], dX)

    def backward_layer(self, spec, lp, tape, ws, dy, dy_off, col0, inj, rec, ts, te, reverse, renorm, norms, idx,
                       grads, dX, dX_overwrite, carry_out):
        # dX starts zeroed (window_dx), so adding into it also serves dX_overwrite.
        nrm_h, nrm_c, scl = norms
        ph = self._ph(tape.hs.dtype)
        self._layer.backward_layer(
            spec, lp, tape, ws, dy, dy_off, col0, inj, rec, ts, te, reverse, renorm, nrm_h[idx],
            nrm_c[idx] if nrm_c is not None else ph.part, scl[idx] if renorm else ph.f64, carry_out, grads, dX,
            self.persistent,
        )

    def finish_layer_grads(self, spec, ws, grads):
        if spec.peephole:
            self._layer.finish_peephole(ws, grads)
