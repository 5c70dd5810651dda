"""Output heads and losses: a linear read-out with MSE or softmax cross-entropy, at the last
step or at every step. Vectorized over steps and samples; returns dL/dh for the kernels."""

import numpy as np


def head_loss(kind, W, b, h, batch):
    """Loss, metrics and gradients of a linear head on h (T, B, H).

    kind "mse": out = h[last] W^T + b against batch.y (B, O); the loss is the mean squared error.
    kind "ce": logits at batch.loss_steps against integer classes batch.y (steps, B); the loss is
    the mean cross-entropy over those steps and samples.
    Returns (loss, metrics, dW, db, dh) with dh (T, B, H) zero outside the loss steps.
    """
    T, B, H = h.shape
    hs = h[batch.loss_steps]  # (n, B, H)
    n = hs.shape[0]
    flat = hs.reshape(n * B, H)
    out = flat @ W.T + b  # (n*B, O)
    if kind == "mse":
        y = batch.y.reshape(n * B, -1)
        err = out - y
        loss = float(np.mean(err * err))
        dout = 2.0 * err / err.size
        metrics = {"mse": loss}
    elif kind == "ce":
        y = batch.y.reshape(n * B)
        shift = out - out.max(axis=1, keepdims=True)
        logp = shift - np.log(np.exp(shift).sum(axis=1, keepdims=True))
        rows = np.arange(n * B)
        loss = float(-logp[rows, y].mean())
        dout = np.exp(logp)
        dout[rows, y] -= 1.0
        dout /= n * B
        metrics = {"ce": loss, "accuracy": float(np.mean(out.argmax(axis=1) == y))}
    else:
        raise ValueError(f"kind: got {kind!r}, expected 'mse' or 'ce'")
    dout = dout.astype(h.dtype, copy=False)
    dW = dout.T @ flat
    db = dout.sum(axis=0)
    dh = np.zeros_like(h)
    dh[batch.loss_steps] = (dout @ W).reshape(n, B, H)
    return loss, metrics, dW, db, dh
