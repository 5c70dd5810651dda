"""What a truncated gradient can see: for TBPTT(k1, k2) on a task, the earliest step each loss step's
gradient reaches, and the loss of the best predictor restricted to that window, computed on a batch.

The window bound is a prediction made without training anything: if a network learned only what
its truncated gradient connects (each loss step to the inputs inside its window), its held-out loss
could not go below this. A network beats it only by using inputs outside its windows, which the
forward pass carries across a window's edge in the state: weights trained inside the windows act on
every step, so a memory learned on short dependencies can serve longer ones.
"""

import numpy as np

from .tasks import COPY_LENGTH


def reach_start(t, T, k1, k2):
    """The first step inside the window whose loss part holds step t (docs/conventions.md: windows
    end at k1-1, 2k1-1, ... and at T-1, and cover k2 steps back from their end)."""
    t = np.asarray(t)
    end = np.minimum((t // k1 + 1) * k1 - 1, T - 1)
    return np.maximum(0, end - k2 + 1)


def _entropy(values, classes):
    p = np.bincount(values.ravel(), minlength=classes) / values.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def window_bound(task, batch, k1, k2, form=None):
    """The loss of the best predictor that sees, for each loss step, only the inputs inside its
    TBPTT(k1, k2) window, on ``batch`` (estimated from the batch's own values).

    adding: each marker outside the window costs the variance of a value (times 1/16 in the HS97
    form, whose target is 0.5 + sum/4); temporal order: each relevant symbol outside the window
    costs its entropy; copy: each recalled symbol whose source is outside the window costs the
    symbols' entropy, averaged over all the steps that carry a loss (blank steps taken as free, so
    the copy bound is a lower bound).
    """
    x = batch.x
    T, B = x.shape[:2]
    if task == "adding":
        marks = x[:, :, 1] == 1
        values = x[:, :, 0]
        scale = 1.0 if (form or "le2015") == "le2015" else 1 / 16
        hidden = marks & (np.arange(T)[:, None] < reach_start(T - 1, T, k1, k2))
        return float(scale * values.var() * hidden.sum(axis=0).mean())
    if task == "temporal_order":
        seq = x.argmax(axis=2)
        relevant = seq < 2
        hidden = relevant & (np.arange(T)[:, None] < reach_start(T - 1, T, k1, k2))
        return float(_entropy(seq[relevant], 2) * hidden.sum(axis=0).mean())
    if task == "copy":
        recall = np.arange(T - COPY_LENGTH, T)
        source = recall - (T - COPY_LENGTH)
        hidden = source < reach_start(recall, T, k1, k2)
        symbols = x[:COPY_LENGTH].argmax(axis=2)
        return float(_entropy(symbols, x.shape[2]) * hidden.sum() / T)
    raise ValueError(f"task: got {task!r}, expected 'adding', 'temporal_order' or 'copy'")
