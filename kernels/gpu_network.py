"""The CUDA backend's driver: Network(..., backend="cuda") delegates forward and backward here.

It mirrors network.py's CPU driver step for step (layers, directions, TBPTT windows, the
final- and initial-state gradients), with the per-step work in gpu_layer.py and the
weight gradients, dL/dx and the input projections in gpu_matmul.py.

Array kinds: NumPy in, NumPy out; device arrays in, device arrays out. forward returns y
and the final state as the kind of x; backward returns the gradients (params, x, state)
as the kind of dy. Device arrays are numba device arrays; any object exporting
``__cuda_array_interface__`` (CuPy, PyTorch CUDA tensors) is accepted as input. Parameters
and states may be either kind. The per-step norms are always small NumPy arrays. The tape
stays on the device between forward and backward.

This module imports numba.cuda only after checking that it can: see :func:`require_cuda`.
"""

import importlib.util

import numpy as np

from .cells import get_spec
from .network import check_truncation, window_ends
from .params import param_key
from .results import Forward, Gradients, Tape
from .validation import FLOAT_DTYPES, as_float_array

INSTALL_HINT = "install numba-cuda: pip install numba-cuda (or pip install 'bpttlab[cuda]')"
SIM_HINT = (
    "to run the CUDA kernels without a GPU, set NUMBA_ENABLE_CUDASIM=1 in the environment before numba is "
    "imported (Numba's CUDA simulator: correct but very slow, for tests), or use backend='cpu'"
)


def _have_numba_cuda():
    return importlib.util.find_spec("numba_cuda") is not None


def _simulator_on():
    from . import gpu_common  # noqa: PLC0415 - numba.cuda loads only once it is known to be there

    return gpu_common.SIMULATOR


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


class GpuDriver:
    """Forward and backward of a Network on the GPU (see the module docstring for array kinds).

    ``persistent``: "auto" (default; the persistent kernel wherever W_hh fits on chip),
    True (always; an error where it cannot) or False (one launch per step). The default
    comes from the BPTTLAB_CUDA_PERSISTENT environment variable (auto, 1 or 0).
    """

    def __init__(self, net):
        require_cuda()
        from . import gpu_common, gpu_layer  # noqa: PLC0415

        self._gc = gpu_common
        self._layer = gpu_layer
        self.net = net
        self.spec = get_spec(net.cell)
        self.persistent = gpu_layer.default_persistent()
        self._dums = {}

    def _dummies(self, dtype):
        if dtype not in self._dums or self._gc._DRY["on"]:
            self._dums[dtype] = self._layer.dummies(dtype)
        return self._dums[dtype]

    # -- argument handling ----------------------------------------------------------------

    def _device(self, name, a, shape=None, dtype=None):
        """(device array, whether a was one); NumPy input is validated like the CPU backend's."""
        gc = self._gc
        if gc.is_device_array(a):
            d = gc.as_device_view(a)
            if np.dtype(d.dtype) not in FLOAT_DTYPES:
                raise TypeError(f"{name}: got dtype {d.dtype}, expected float32 or float64")
            if dtype is not None and d.dtype != dtype:
                raise TypeError(
                    f"{name}: got dtype {d.dtype}, expected {np.dtype(dtype)} (the dtype of x; dtypes must not be mixed)"
                )
            if shape is not None and tuple(d.shape) != tuple(shape):
                raise ValueError(f"{name}: got shape {tuple(d.shape)}, expected {tuple(shape)}")
            return gc.contiguous(d), True
        return gc.to_device(as_float_array(name, a, shape=shape, dtype=dtype)), False

    def _x(self, x):
        net = self.net
        if not self._gc.is_device_array(x):
            x = net._check_x(x)
            return self._gc.to_device(x), False
        d, _ = self._device("x", x)
        if len(d.shape) != 3:
            raise ValueError(f"x: got shape {tuple(d.shape)}, expected (T, B, {net.input_size}) (time-major)")
        T, B, In = d.shape
        if T == 0 or B == 0:
            raise ValueError(f"x: got shape {tuple(d.shape)}, expected at least 1 step and a batch of at least 1")
        if In != net.input_size:
            raise ValueError(f"x: got shape {tuple(d.shape)}, expected (T, B, {net.input_size})")
        return d, True

    def _params(self, params, dtype):
        expected = self.net.param_shapes
        if not isinstance(params, dict):
            raise TypeError(f"params: got {type(params).__name__}, expected a dict of arrays keyed like a state_dict")
        missing = [k for k in expected if k not in params]
        extra = sorted(k for k in params if k not in expected)
        if missing or extra:
            parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
            raise KeyError(f"params: {'; '.join(parts)}; expected exactly {list(expected)}")
        return {k: self._device(f"params[{k!r}]", params[k], shape, dtype)[0] for k, shape in expected.items()}

    def _state(self, name, state, shape, dtype):
        """(h, c) device arrays (c None for cells without a cell state); None → zeros."""
        gc = self._gc
        has_c = self.spec.has_cell_state
        if state is None:
            return gc.zeros(shape, dtype), (gc.zeros(shape, dtype) if has_c else None)
        if has_c:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"{name}: got {type(state).__name__}, expected a tuple (h, c) of arrays of shape {shape}")
            return (self._device(f"{name}[0] (h)", state[0], shape, dtype)[0],
                    self._device(f"{name}[1] (c)", state[1], shape, dtype)[0])
        if isinstance(state, (tuple, list)):
            raise TypeError(
                f"{name}: got a {type(state).__name__}, expected one array h of shape {shape} (this cell has no cell state)"
            )
        return self._device(name, state, shape, dtype)[0], None

    def _prepare(self, P, layer, d, dums):
        gc = self._gc
        key = lambda kind: param_key(kind, layer, d)  # noqa: E731
        w_hh = P[key("weight_hh")]
        lp = {"w_ih": P[key("weight_ih")], "w_hh": w_hh, "w_t": gc.transpose(w_hh), "b_ih": P[key("bias_ih")],
              "b_hh": P[key("bias_hh")], "peep": dums[2]}
        if self.spec.family == "lstm":
            lp["peep"] = P[key("weight_peephole")] if self.spec.peephole else gc.zeros((3, w_hh.shape[1]), w_hh.dtype)
        return lp

    # -- forward ---------------------------------------------------------------------------

    def forward(self, params, x, state, training):
        gc, net, spec = self._gc, self.net, self.spec
        x, on_device = self._x(x)
        T, B, _ = x.shape
        dtype = np.dtype(x.dtype)
        P = self._params(params, dtype)
        shape = (net.num_layers * net.directions, B, net.hidden_size)
        h0, c0 = self._state("state", state, shape, dtype)
        if training and on_device:
            x_own = gc.empty(x.shape, dtype)  # the tape must not change if the caller later writes into x
            gc.copy(x, x_own)
            x = x_own
        L, D, H = net.num_layers, net.directions, net.hidden_size
        dums = self._dummies(dtype)
        hT = gc.empty(shape, dtype)
        cT = gc.empty(shape, dtype) if c0 is not None else None
        layers, prepared = [], []
        inp = x
        for layer in range(L):
            y = gc.empty((T, B, D * H), dtype)
            tapes, lps = [], []
            for d in range(D):
                idx = layer * D + d
                lp = self._prepare(P, layer, d, dums)
                hs, c_last, tape = self._layer.forward_layer(
                    spec, lp, inp, h0[idx], None if c0 is None else c0[idx], d == 1, training, dums, self.persistent
                )
                gc.copy(hs[:T] if d == 1 else hs[1:], y[:, :, d * H : (d + 1) * H])
                gc.copy(hs[0] if d == 1 else hs[T], hT[idx])
                if cT is not None:
                    gc.copy(c_last, cT[idx])
                tapes.append(tape)
                lps.append(lp)
            inp = y
            layers.append(tapes)
            prepared.append(lps)
        y = inp
        if not on_device:
            y, hT = gc.to_host(y), gc.to_host(hT)
            cT = gc.to_host(cT) if cT is not None else None
        final = (hT, cT) if cT is not None else hT
        if not training:
            return Forward(y, final, None)
        tape = Tape(net.cell, T, B, L, D, H, net.input_size, dtype, P, layers, prepared, backend="cuda")
        return Forward(y, final, tape)

    # -- backward --------------------------------------------------------------------------

    def backprop(self, tape, dy, dstate, k1, k2, renorm):
        gc, spec = self._gc, self.spec
        from .gpu_matmul import colsum, gemm  # noqa: PLC0415

        T, B, L, D, H = tape.T, tape.B, tape.num_layers, tape.directions, tape.hidden_size
        k1, k2 = check_truncation(k1, k2, T)
        if renorm and L != 1:
            raise ValueError(f"log_norms: supported for one layer, got a network of num_layers={L}")
        dtype = tape.dtype
        dy, on_device = self._device("dy", dy, (T, B, D * H), dtype)
        shape = (L * D, B, H)
        dh_T, dc_T = (None, None) if dstate is None else self._state("dstate", dstate, shape, dtype)
        has_c = spec.has_cell_state
        dums = self._dummies(dtype)
        P = tape.params
        grads = {k: gc.zeros(v.shape, dtype) for k, v in P.items()}
        dx = gc.zeros((T, B, tape.input_size), dtype)
        dh0 = gc.zeros(shape, dtype)
        dc0 = gc.zeros(shape, dtype) if has_c else None
        NB = self._layer.norm_blocks(B, H)
        nrm_h = gc.zeros((L * D, T, NB, 3), np.float64)
        nrm_c = gc.zeros((L * D, T, NB, 3), np.float64) if has_c else None
        scl = gc.zeros((L * D, T), np.float64) if renorm else None
        ws = [[self._layer.workspace(spec, T, B, H, dtype, renorm, dums) for _ in range(D)] for _ in range(L)]
        GH = spec.gates * H
        prev_end = -1
        for w, te in enumerate(window_ends(T, k1)):
            ts = max(0, te - k2 + 1)
            n = te - ts + 1
            loss = (prev_end + 1, te)
            above, off, inj = dy, 0, loss
            for layer in reversed(range(L)):
                X = tape.layers[layer][0]["X"]
                In = X.shape[2]
                dX = None if renorm else gc.zeros((n, B, In), dtype)
                for d in range(D):
                    idx = layer * D + d
                    lp, lt, wsd = tape.prepared[layer][d], tape.layers[layer][d], ws[layer][d]
                    gc.fill(wsd["dh"], 0)
                    if has_c:
                        gc.fill(wsd["dc"], 0)
                    # The final state came out of step T-1 (forward) or step 0 (reverse).
                    if dh_T is not None and ((d == 0 and te == T - 1) or (d == 1 and w == 0)):
                        gc.copy(dh_T[idx], wsd["dh"])
                        if has_c:
                            gc.copy(dc_T[idx], wsd["dc"])
                    edge = (d == 0 and ts == 0) or (d == 1 and te == T - 1)
                    blocks = self._layer.backward_layer(
                        spec, lp, lt, wsd, above, off, d * H, inj, loss, ts, te, d == 1, renorm, nrm_h[idx],
                        nrm_c[idx] if has_c else dums["part"], scl[idx] if renorm else dums[1], edge and not renorm,
                        self.persistent,
                    )
                    if renorm:
                        continue
                    gx = wsd["dg"][ts : te + 1].reshape(n * B, GH)
                    gemm(gx, X[ts : te + 1].reshape(n * B, In), grads[param_key("weight_ih", layer, d)],
                         trans_a=True, accumulate=True)
                    colsum(gx, grads[param_key("bias_ih", layer, d)])
                    gemm(gx, lp["w_ih"], dX.reshape(n * B, In), accumulate=True)
                    for rows, gh, rin in blocks:
                        gemm(gh, rin, grads[param_key("weight_hh", layer, d)][rows], trans_a=True, accumulate=True)
                        colsum(gh, grads[param_key("bias_hh", layer, d)][rows])
                    # What leaves the window next to the initial state is its gradient.
                    if edge:
                        gc.add_into(dh0[idx], wsd["dh"])
                        if has_c:
                            gc.add_into(dc0[idx], wsd["dc"])
                above, off, inj = dX, ts, (ts, te)
            if not renorm:
                gc.add_into(dx[ts : te + 1], dX)
            prev_end = te
        norms_h = gc.finish_norms(nrm_h, scl)
        norms_c = gc.finish_norms(nrm_c, scl) if has_c else None
        if renorm:
            return Gradients(None, None, None, norms_h, norms_c)
        if spec.peephole:
            for layer in range(L):
                for d in range(D):
                    dp = ws[layer][d]["dpeep"]
                    colsum(dp.reshape(B, 3 * H), gc.flat(grads[param_key("weight_peephole", layer, d)]), False)
        if not on_device:
            grads = {k: gc.to_host(v) for k, v in grads.items()}
            dx, dh0 = gc.to_host(dx), gc.to_host(dh0)
            dc0 = gc.to_host(dc0) if has_c else None
        return Gradients(grads, dx, (dh0, dc0) if has_c else dh0, norms_h, norms_c)
