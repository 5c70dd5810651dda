"""Fitting decay curves, and the within-run error of a time average."""

import math

import numpy as np


def fit_line(x, y):
    """Least-squares y = a + b x over the finite points. Returns dict(slope, intercept,
    stderr (of the slope, i.i.d.-residual formula), r2, n); NaNs when fewer than 3 points."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 3:
        return {"slope": math.nan, "intercept": math.nan, "stderr": math.nan, "r2": math.nan, "n": n}
    xm, ym = x.mean(), y.mean()
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (y - ym)) / sxx)
    intercept = float(ym - slope * xm)
    res = y - (intercept + slope * x)
    ss_res, ss_tot = float(np.sum(res**2)), float(np.sum((y - ym) ** 2))
    return {"slope": slope, "intercept": intercept, "stderr": math.sqrt(ss_res / (n - 2) / sxx),
            "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0, "n": n}


def fit_rate(log_norm, lo, hi=None):
    """Per-step rate of a log-norm curve indexed by distance d = 0, 1, ...: the slope of
    log_norm[d] against d over lo <= d <= hi (default: to the end), skipping -inf/NaN.

    Returns fit_line's dict plus ``rate`` (= slope) and ``timescale`` = -1/rate (steps for
    the norm to fall by e; inf when the rate is 0, negative when the norm grows).
    """
    log_norm = np.asarray(log_norm, dtype=np.float64)
    hi = log_norm.size - 1 if hi is None else min(hi, log_norm.size - 1)
    d = np.arange(lo, hi + 1)
    fit = fit_line(d, log_norm[lo : hi + 1])
    rate = fit["slope"]
    fit["rate"] = rate
    fit["timescale"] = (-1.0 / rate if rate != 0 else math.inf) if math.isfinite(rate) else math.nan
    fit["lo"], fit["hi"] = int(lo), int(hi)
    return fit


def batch_se(x, blocks=10, min_per_block=1):
    """Batch-means standard error of the mean of a time series (within one run: a diagnostic; the
    studies' statistics come from the spread across networks). NaN when the series has fewer than
    ``blocks * min_per_block`` values."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < blocks * min_per_block:
        return math.nan
    means = np.array([b.mean() for b in np.array_split(x, blocks)])
    return float(means.std(ddof=1) / math.sqrt(blocks))
