"""One layer, one direction, on the CPU: the glue between the network driver and the kernels.

``forward_layer`` runs the input projection (one matrix product for all steps) and the
jitted time loop; ``backward_layer`` runs the jitted backward over one window and returns
the buffers from which the driver forms the weight gradients with large matrix products.
"""

import numpy as np

from .cells import GRU_RESET_BEFORE
from .cpu_gru import gru_backward, gru_cho_backward, gru_cho_forward, gru_forward
from .cpu_lstm import lstm_backward, lstm_forward
from .cpu_rnn import rnn_backward, rnn_forward


def prepare(spec, w_ih, w_hh, b_ih, b_hh, peep):
    """Layer parameters plus the contiguous transposes the time loop multiplies by."""
    H = w_hh.shape[1]
    lp = {"w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}
    if spec.family == "lstm":
        lp["peep"] = peep if peep is not None else np.zeros((3, H), w_hh.dtype)
    if spec.family == "gru" and spec.variant == GRU_RESET_BEFORE:
        lp["w_rz"] = np.ascontiguousarray(w_hh[: 2 * H])
        lp["w_n"] = np.ascontiguousarray(w_hh[2 * H :])
        lp["w_rz_t"] = np.ascontiguousarray(lp["w_rz"].T)
        lp["w_n_t"] = np.ascontiguousarray(lp["w_n"].T)
    else:
        lp["w_hh_t"] = np.ascontiguousarray(w_hh.T)
    return lp


def state_rows(T, reverse):
    """Rows of hs holding the initial and the final state."""
    return (T, 0) if reverse else (0, T)


def forward_layer(spec, lp, X, h0, c0, reverse, training):
    T, B, In = X.shape
    H = lp["w_hh"].shape[1]
    GH = spec.gates * H
    dtype = X.dtype
    xp = (X.reshape(T * B, In) @ lp["w_ih"].T + lp["b_ih"]).reshape(T, B, GH)
    first, last = state_rows(T, reverse)
    hs = np.empty((T + 1, B, H), dtype)
    hs[first] = h0
    tape = {"X": X, "hs": hs}
    rows = T if training else 1
    if spec.family == "rnn":
        rnn_forward(xp, lp["w_hh_t"], lp["b_hh"], hs, reverse, spec.variant)
        c_final = None
    elif spec.family == "lstm":
        acts = np.empty((rows, B, GH), dtype)
        cs = np.empty((T + 1 if training else 2, B, H), dtype)
        cs[first if training else 0] = c0
        lstm_forward(xp, lp["w_hh_t"], lp["b_hh"], lp["peep"], hs, cs, acts, reverse, spec.variant, training)
        c_final = cs[last] if training else cs[T % 2]
        tape.update(cs=cs, acts=acts)
    else:
        acts = np.empty((rows, B, GH), dtype)
        aux = np.empty((rows, B, H), dtype)
        if spec.variant == GRU_RESET_BEFORE:
            gru_cho_forward(xp, lp["w_rz_t"], lp["w_n_t"], lp["b_hh"], hs, acts, aux, reverse, training)
        else:
            gru_forward(xp, lp["w_hh_t"], lp["b_hh"], hs, acts, aux, reverse, training)
        c_final = None
        tape.update(acts=acts, aux=aux)
    y = hs[:T] if reverse else hs[1:]
    return y, hs[last], c_final, (tape if training else None)


def workspace(spec, T, B, H, dtype):
    """Per-layer buffers for backward_layer, reused across TBPTT windows."""
    GH = spec.gates * H
    ws = {"dgx": np.zeros((T, B, GH), dtype)}
    if spec.family == "gru" and spec.variant != GRU_RESET_BEFORE:
        ws["dgh"] = np.zeros((T, B, GH), dtype)
    if spec.family == "lstm":
        ws["dpeep"] = np.zeros((3, H), dtype)
    return ws


def backward_layer(spec, lp, tape, ws, dy, dy_off, inj, rec, ts, te, reverse, dh, dc, renorm, norms_h, norms_c):
    """Backward through steps [ts, te] of one layer-direction (carry (dh, dc) updated in place).

    Returns (log-scale, dgx window, [(row slice of W_hh, dgh window, recurrent input window)]):
    the driver turns them into dW_ih, db_ih, dx, dW_hh and db_hh.
    """
    hs = tape["hs"]
    dgx = ws["dgx"]
    H = hs.shape[2]
    args = (dy, dy_off, inj[0], inj[1], rec[0], rec[1], ts, te, reverse)
    h_in = hs[ts + 1 : te + 2] if reverse else hs[ts : te + 1]
    win = slice(ts, te + 1)
    if spec.family == "rnn":
        scale = rnn_backward(hs, lp["w_hh"], *args, spec.variant, dh, renorm, dgx, norms_h)
        blocks = [(slice(None), dgx[win], h_in)]
    elif spec.family == "lstm":
        scale = lstm_backward(
            hs, tape["cs"], tape["acts"], lp["w_hh"], lp["peep"], *args, spec.variant,
            dh, dc, renorm, dgx, ws["dpeep"], norms_h, norms_c,
        )
        blocks = [(slice(None), dgx[win], h_in)]
    elif spec.variant == GRU_RESET_BEFORE:
        scale = gru_cho_backward(hs, tape["acts"], lp["w_rz"], lp["w_n"], *args, dh, renorm, dgx, norms_h)
        blocks = [
            (slice(0, 2 * H), dgx[win, :, : 2 * H], h_in),
            (slice(2 * H, 3 * H), dgx[win, :, 2 * H :], tape["aux"][win]),
        ]
    else:
        dgh = ws["dgh"]
        scale = gru_backward(hs, tape["acts"], tape["aux"], lp["w_hh"], *args, dh, renorm, dgx, dgh, norms_h)
        blocks = [(slice(None), dgh[win], h_in)]
    return scale, dgx[win], blocks
