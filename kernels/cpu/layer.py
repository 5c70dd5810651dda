"""One layer, one direction, on the CPU: the glue between the backend and the kernels.

``forward_layer`` runs the jitted time loop (batch chunks on Numba's threads), with the input
projection either inside it, step by step, or as one matrix product for all steps before it;
``backward_layer`` runs the jitted backward over one truncation window and turns what it
leaves (dL/d(pre-activations) of every step) into the weight, bias and input gradients with a
few large matrix products. All products are _gemm's, on packed weights: the forward packs its
transposed weights itself; the backward's packs are kept in the prepared parameters (which
the tape holds), so the windows of a TBPTT pass pack once.
"""

from dataclasses import dataclass, field

import numpy as np

from .._backend import LayerTape
from ._common import finish_norms
from ._gemm import MR
from ._par import (
    GRU,
    GRU_CHO,
    LSTM,
    RNN,
    backward_chunks,
    forward_chunks,
    forward_units,
    kernel_kind,
    mm_par,
    pack,
    time_loop_chunks,
    unit_slices,
)


@dataclass
class BackwardPacks:
    """Row blocks of the weights packed for _gemm as they are (the backward's products g @ W),
    each made on first use. Flat arrays in _gemm's panel layout."""

    w_hh: np.ndarray = None  # W_hh rows [0, G*H): the recurrence (not the reset-before GRU)
    w_rz: np.ndarray = None  # W_hh rows [0, 2H): the reset-before GRU's r and z blocks
    w_n: np.ndarray = None  # W_hh rows [2H, 3H): the reset-before GRU's n block
    w_ih: np.ndarray = None  # W_ih rows [0, G*H): dL/dx (not the reset-after GRU)
    w_ih_rz: np.ndarray = None  # W_ih rows [0, 2H): the reset-after GRU's dL/dx from (r, z)
    w_ih_n: np.ndarray = None  # W_ih rows [2H, 3H): the reset-after GRU's dL/dx from n


@dataclass
class LayerParams:
    """One layer-direction's parameters as the CPU kernels take them.

    w_ih (G*H, I), w_hh (G*H, H), b_ih and b_hh (G*H,): the caller's arrays. bias (G*H,): the
    biases summed where they add (b_hn stays inside the reset-after GRU's reset product).
    peep (3, H): the LSTMs' peephole weights (zeros for plain and CIFG), None for other cells.
    """

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    bias: np.ndarray
    peep: np.ndarray = None
    packs: BackwardPacks = field(default_factory=BackwardPacks, repr=False)


@dataclass
class Workspace:
    """Per layer-direction buffers for backward_layer, reused across TBPTT windows.

    dg (T, B, G*H): dL/d(pre-activations). dgn (T, B, H): the reset-after GRU's dL/d(input
    side of n). drh (1, B, H): the reset-before GRU's dL/d(r*h) of one step. gc (B, H): the
    LSTM's cell-state error scratch. dh, dc (B, H): the carry (dc (0, 0) without a cell state).
    """

    dg: np.ndarray
    dh: np.ndarray
    dc: np.ndarray
    dgn: np.ndarray = None
    drh: np.ndarray = None
    gc: np.ndarray = None


def prepare(spec, w):
    """LayerParams from one layer-direction's LayerArrays."""
    kind = kernel_kind(spec)
    H = w.w_hh.shape[1]
    lp = LayerParams(w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.b_ih + w.b_hh)
    if kind == LSTM:
        lp.peep = w.peep if w.peep is not None else np.zeros((3, H), w.w_hh.dtype)
    if kind == GRU:
        lp.bias[2 * H :] = w.b_ih[2 * H :]  # b_hn sits inside the reset gate's product
    return lp


def _packed_t(w, r0, r1):
    """Rows [r0, r1) of the weight w, packed transposed for _gemm (the forward products x @ w.T).
    Made afresh by every forward pass (the tape does not keep them)."""
    cols = w.shape[1]
    return pack(w.reshape(-1), r0 * cols, cols, cols, r1 - r0, transpose=True)


def _packed(lp, name, w, r0, r1):
    """Rows [r0, r1) of the weight w, packed as they are for _gemm (the backward's products
    g @ w), kept in lp.packs under ``name``, so the windows of a TBPTT pass pack once."""
    packed = getattr(lp.packs, name)
    if packed is None:
        cols = w.shape[1]
        packed = pack(w.reshape(-1), r0 * cols, cols, r1 - r0, cols)
        setattr(lp.packs, name, packed)
    return packed


def state_rows(T, reverse):
    """Rows of hs holding the initial and the final state."""
    return (T, 0) if reverse else (0, T)


def forward_layer(spec, lp, X, h0, c0, reverse, training):
    """X (T, B, I) C-contiguous. Returns (y (T, B, H), h_T, c_T or None, LayerTape or None):
    y and h_T are views of hs, which the tape keeps."""
    T, B, In = X.shape
    H = lp.w_hh.shape[1]
    kind = kernel_kind(spec)
    GH = spec.gates * H
    dtype = X.dtype
    wih = _packed_t(lp.w_ih, 0, GH)
    # With a few rows per chunk the input projection is done step by step inside the time
    # loop (as efficient as one large product, and the (T, B, G*H) buffer is never swept
    # twice; in inference it is one step's worth); with fewer, once for all steps here.
    # With fewer rows than threads, the LSTM splits its hidden units over the threads instead
    # of its batch rows (lstm.lstm_forward_units).
    nch = time_loop_chunks(T, B, In, H, spec.gates, True)
    slices = unit_slices(T, B, H, spec.gates, dtype) if kind == LSTM else 1
    fused = B // nch >= MR and slices == 1
    xp = np.empty((T if training or not fused else 1, B, GH), dtype)
    if not fused:
        mm_par(T * B, GH, In, X.reshape(-1), 0, In, 1, wih, xp.reshape(-1), 0, GH, 0.0)
    first, last = state_rows(T, reverse)
    hs = np.empty((T + 1, B, H), dtype)
    hs[first] = h0
    rows = T if training else 1
    c_final = None
    w_hh = lp.w_hh
    none1, none2, none3 = np.empty(0, dtype), np.empty((0, 0), dtype), np.empty((0, 0, 0), dtype)
    cs = aux = a = none3
    w2, peep, b_hh = none1, none2, none1
    if kind == RNN:
        w1 = _packed_t(w_hh, 0, GH)
    elif kind == LSTM:
        peep = lp.peep
        cs = np.empty((T + 1 if training else 2, B, H), dtype)
        cs[first if training else 0] = c0
        w1 = _packed_t(w_hh, 0, GH) if slices == 1 else none1
    elif kind == GRU_CHO:
        w1, w2 = _packed_t(w_hh, 0, 2 * H), _packed_t(w_hh, 2 * H, GH)
        aux = np.empty((rows, B, H), dtype)  # r * h_{t-1}
    else:
        w1, b_hh = _packed_t(w_hh, 0, GH), lp.b_hh
        aux = np.empty((rows, B, H), dtype)  # W_hn h_{t-1} + b_hn
        a = np.empty((1, B, GH), dtype)
    if slices > 1:
        forward_units(xp, w_hh, slices, lp.bias, peep, hs, cs, reverse, spec.variant, training)
    else:
        forward_chunks(kind, X, wih, xp, w1, w2, lp.bias, b_hh, peep, hs, cs, aux, a, reverse, spec.variant,
                       training, fused, nch)
    if kind == LSTM:
        c_final = cs[last] if training else cs[T % 2]
    y = hs[:T] if reverse else hs[1:]
    if not training:
        return y, hs[last], c_final, None
    tape = LayerTape(X, hs, xp, cs if kind == LSTM else None, aux if kind in (GRU, GRU_CHO) else None)
    return y, hs[last], c_final, tape


def workspace(spec, T, B, H, dtype):
    """The Workspace of one layer-direction."""
    kind = kernel_kind(spec)
    GH = spec.gates * H
    ws = Workspace(np.empty((T, B, GH), dtype), np.zeros((B, H), dtype),
                   np.zeros((B, H), dtype) if kind == LSTM else np.empty((0, 0), dtype))
    if kind == GRU:
        ws.dgn = np.empty((T, B, H), dtype)
    if kind == LSTM:
        ws.gc = np.empty((B, H), dtype)
    if kind == GRU_CHO:
        ws.drh = np.empty((1, B, H), dtype)
    return ws


def backward_layer(spec, lp, tape, ws, dy, dy_off, inj, rec, ts, te, reverse, dh, dc, renorm, norms_h, norms_c,
                   grads, dX, dX_beta):
    """Backward through steps [ts, te] of one layer-direction; the carry (dh, dc) is updated in
    place and the norms of the steps in ``rec`` are written.

    Unless ``renorm``: grads (the layer-direction's LayerArrays of gradients) are accumulated, and dX (te - ts + 1, B, I) receives dL/dx of the window
    (added to what it holds when dX_beta = 1, overwriting it when 0). Returns the log-scale
    of the carry (0 unless renorm).
    """
    hs, acts, X = tape.hs, tape.acts, tape.X
    kind = kernel_kind(spec)
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    In = X.shape[2]
    GH = spec.gates * H
    nch = 1 if renorm else time_loop_chunks(te - ts + 1, B, 0, H, spec.gates, False)
    dg = ws.dg
    w_hh = lp.w_hh
    parts_h = np.empty((nch, T, 2))
    scales = np.zeros(T)
    dtype = hs.dtype
    none1, none2, none3 = np.empty(0, dtype), np.empty((0, 0), dtype), np.empty((0, 0, 0), dtype)
    w2, peep, cs, aux, dg2, gc = none1, none2, none3, none3, none3, none2
    dbias = np.zeros((nch, GH))
    dpeep = np.zeros((nch, 3, H))
    parts_c = np.empty((nch, T, 2))
    if kind == RNN:
        w1 = _packed(lp, "w_hh", w_hh, 0, GH)
    elif kind == LSTM:
        w1, peep, cs, gc = _packed(lp, "w_hh", w_hh, 0, GH), lp.peep, tape.cs, ws.gc
    elif kind == GRU_CHO:
        w1, w2 = _packed(lp, "w_rz", w_hh, 0, 2 * H), _packed(lp, "w_n", w_hh, 2 * H, GH)
        dg2 = ws.drh
    else:
        w1, aux, dg2 = _packed(lp, "w_hh", w_hh, 0, GH), tape.aux, ws.dgn
        dbias = np.zeros((nch, GH + H))
    scale = backward_chunks(kind, hs, cs, acts, aux, w1, w2, peep, dy, dy_off, inj[0], inj[1], rec[0], rec[1], ts, te,
                            reverse, spec.variant, dh, dc, renorm, dg, dg2, gc, parts_h, parts_c, scales, dbias, dpeep,
                            nch)
    if kind == LSTM:
        finish_norms(parts_c, scales, norms_c, rec[0], rec[1], renorm)
    finish_norms(parts_h, scales, norms_h, rec[0], rec[1], renorm)
    if renorm:
        return scale

    R = (te - ts + 1) * B  # rows of the window's matrices
    g0 = ts * B  # first row of the window
    h_off = (ts + 1 if reverse else ts) * B * H  # h_{t-1} of the window's steps
    db = dbias.sum(axis=0)
    if kind == GRU:
        # Input side: (r, z) from dgh, n from dgn; recurrent side: dgh.
        xblocks = [("w_ih_rz", 0, 2 * H, dg, g0 * GH, GH), ("w_ih_n", 2 * H, GH, ws.dgn, g0 * H, H)]
        hblocks = [(0, GH, dg, g0 * GH, GH, hs, h_off)]
        grads.b_hh[:] += db[:GH]
        grads.b_ih[: 2 * H] += db[: 2 * H]
        grads.b_ih[2 * H :] += db[GH:]
    else:
        xblocks = [("w_ih", 0, GH, dg, g0 * GH, GH)]
        if kind == GRU_CHO:  # reset-before: the n block's recurrent input is r * h_{t-1}
            hblocks = [(0, 2 * H, dg, g0 * GH, GH, hs, h_off),
                       (2 * H, GH, dg, g0 * GH + 2 * H, GH, tape.aux, g0 * H)]
        else:
            hblocks = [(0, GH, dg, g0 * GH, GH, hs, h_off)]
        grads.b_ih[:] += db
        grads.b_hh[:] += db
    # dW_ih += G^T X and dW_hh += G^T h_in: A = G read transposed, B = the window's inputs, packed.
    xw = pack(X.reshape(-1), g0 * In, In, R, In)
    for _, r0, r1, G, off, ld in xblocks:
        mm_par(r1 - r0, In, R, G.reshape(-1), off, 1, ld, xw, grads.w_ih.reshape(-1), r0 * In, In, 1.0)
    packed_in = {}
    for r0, r1, G, off, ld, rin, rin_off in hblocks:
        key = (id(rin), rin_off)
        if key not in packed_in:
            packed_in[key] = pack(rin.reshape(-1), rin_off, H, R, H)
        mm_par(r1 - r0, H, R, G.reshape(-1), off, 1, ld, packed_in[key], grads.w_hh.reshape(-1), r0 * H, H, 1.0)
    # dX (+)= G W_ih[rows]
    for name, r0, r1, G, off, ld in xblocks:
        wb = _packed(lp, name, lp.w_ih, r0, r1)
        mm_par(R, In, r1 - r0, G.reshape(-1), off, ld, 1, wb, dX.reshape(-1), 0, In, dX_beta)
        dX_beta = 1.0
    if spec.peephole:
        grads.peep[:] += dpeep.sum(axis=0)
    return scale
