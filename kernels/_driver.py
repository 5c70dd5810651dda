"""The one driver over layers, directions and truncation windows, for any backend.

The arguments arrive checked (kernels/network.py); the per-layer work is the backend's
(kernels/_backend.py). Arrays are the backend's kind inside; results go back as the kind of
x (forward) or dy (backward).
"""

from ._backend import LayerArrays
from .results import Forward, Gradients, Tape


def window_ends(T, k1):
    ends = list(range(k1 - 1, T, k1))
    if not ends or ends[-1] != T - 1:
        ends.append(T - 1)
    return ends


def _move_state(be, h, c):
    return (None if h is None else be.move_in(h)[0]), (None if c is None else be.move_in(c)[0])


def forward(net, be, params, x, h0, c0, training):
    spec = net.spec
    L, D, H = net.num_layers, net.directions, net.hidden_size
    x, on_device = be.move_in(x)
    T, B, _ = x.shape
    dtype = x.dtype
    P = {k: be.move_in(v)[0] for k, v in params.items()}
    shape = (L * D, B, H)
    h0, c0 = _move_state(be, h0, c0)
    if h0 is None:
        h0 = be.zeros(shape, dtype)
        c0 = be.zeros(shape, dtype) if spec.has_cell_state else None
    if training and on_device == be.device:
        x = be.clone(x)  # still the caller's array: the tape must not change if the caller later writes into it
    hT = be.empty(shape, dtype)
    cT = be.empty(shape, dtype) if c0 is not None else None
    layers, prepared = [], []
    inp = x
    for layer in range(L):
        outs, tapes, lps = [], [], []
        for d in range(D):
            idx = layer * D + d
            lp = be.prepare(spec, LayerArrays.of(P, layer, d))
            y_d, h_last, c_last, tape = be.forward_layer(
                spec, lp, inp, h0[idx], None if c0 is None else c0[idx], d == 1, training
            )
            be.copy_into(h_last, hT[idx])
            if cT is not None:
                be.copy_into(c_last, cT[idx])
            outs.append(y_d)
            tapes.append(tape)
            lps.append(lp)
        inp = outs[0] if D == 1 else be.concat_directions(outs)
        layers.append(tapes)
        prepared.append(lps)
    y = be.clone(inp) if training and D == 1 else inp  # never hand out a view of the tape
    y, hT = be.move_out(y, on_device), be.move_out(hT, on_device)
    cT = be.move_out(cT, on_device) if cT is not None else None
    final = (hT, cT) if cT is not None else hT
    if not training:
        return Forward(y, final, None)
    tape = Tape(net.cell, T, B, L, D, H, net.input_size, dtype, P, layers, prepared, backend=be.name)
    return Forward(y, final, tape)


def backprop(net, be, tape, dy, dh_T, dc_T, k1, k2, renorm):
    """Full BPTT (k1 = k2 = T) or TBPTT(k1, k2); with ``renorm`` only the log-norms."""
    spec = net.spec
    T, B, L, D, H = tape.T, tape.B, tape.num_layers, tape.directions, tape.hidden_size
    dtype = tape.dtype
    has_c = spec.has_cell_state
    dy, on_device = be.move_in(dy)
    dh_T, dc_T = _move_state(be, dh_T, dc_T)
    grads = {k: be.zeros(v.shape, dtype) for k, v in tape.params.items()}
    layer_grads = [[LayerArrays.of(grads, layer, d) for d in range(D)] for layer in range(L)]
    dx = be.zeros((T, B, tape.input_size), dtype)
    shape = (L * D, B, H)
    dh0 = be.zeros(shape, dtype)
    dc0 = be.zeros(shape, dtype) if has_c else None
    norms = be.norm_buffers(L * D, T, B, H, has_c, renorm)
    ws = [[be.workspace(spec, T, B, H, dtype, renorm) for _ in range(D)] for _ in range(L)]
    dy_dirs = be.split_directions(dy, D, H)
    prev_end = -1
    for w, te in enumerate(window_ends(T, k1)):
        ts = max(0, te - k2 + 1)
        loss = (prev_end + 1, te)
        above, off, inj = dy_dirs, 0, loss
        for layer in reversed(range(L)):
            In = tape.layers[layer][0].X.shape[2]
            dX = be.window_dx(dx, layer, ts, te, B, In, dtype, renorm)
            for d in range(D):
                idx = layer * D + d
                dh, dc = be.carry(spec, ws[layer][d])
                # The final state came out of step T-1 (forward) or step 0 (reverse).
                if dh_T is not None and ((d == 0 and te == T - 1) or (d == 1 and w == 0)):
                    be.copy_into(dh_T[idx], dh)
                    if has_c:
                        be.copy_into(dc_T[idx], dc)
                edge = (d == 0 and ts == 0) or (d == 1 and te == T - 1)
                a, col0 = above[d]
                be.backward_layer(
                    spec, tape.prepared[layer][d], tape.layers[layer][d], ws[layer][d], a, off, col0, inj, loss, ts,
                    te, d == 1, renorm, norms, idx, layer_grads[layer][d], dX, layer > 0 and d == 0,
                    edge and not renorm,
                )
                if renorm:
                    continue
                # What leaves the window next to the initial state is its gradient.
                if edge:
                    be.add_into(dh0[idx], dh)
                    if has_c:
                        be.add_into(dc0[idx], dc)
            if layer > 0:
                above, off, inj = be.split_directions(dX, D, H), ts, (ts, te)
        if not renorm:
            be.finish_window_dx(dx, dX, ts, te)
        prev_end = te
    norms_h, norms_c = be.finish_norms(norms)
    if renorm:
        return Gradients(None, None, None, norms_h, norms_c)
    for layer in range(L):
        for d in range(D):
            be.finish_layer_grads(spec, ws[layer][d], layer_grads[layer][d])
    grads = {k: be.move_out(v, on_device) for k, v in grads.items()}
    dx, dh0 = be.move_out(dx, on_device), be.move_out(dh0, on_device)
    dc0 = be.move_out(dc0, on_device) if has_c else None
    return Gradients(grads, dx, (dh0, dc0) if has_c else dh0, norms_h, norms_c)
