"""The study's tables: the bias against the measured regime, the cost of streaming truncation, and
the learning table with its intervals, exact tests and the window-bound predictions."""

import math

import numpy as np
import pandas as pd

from ..science import fit_line
from ..science.intervals import bootstrap_interval, fisher_exact, wilson_interval
from ..training.trainer import SUCCESS_FRACTION

ALPHA = 0.05  # Fisher's test calls a difference in success at p < ALPHA (two-sided), fixed in advance
BOOTSTRAP = {"resamples": 10_000, "seed": 0}


def _first(k, mask):
    idx = np.flatnonzero(mask)
    return int(k[idx[0]]) if idx.size else -1


def bias_frame(bias):
    rows = []
    for c, r in bias:
        k2, rel = np.asarray(r["k2"]), np.asarray(r["relerr"])
        rate = float(r["rate"])
        # Where the error is resolvable (above float64 round-off, below saturation), its slope in k2.
        ok = (rel > 1e-12) & (rel < 0.5) & (k2 < c["T"])
        slope = fit_line(k2[ok], np.log(rel[ok]))["slope"] if ok.sum() >= 3 else math.nan
        rows.append({"cell": c["cell"], "gain": c["gain"], "lambda1": float(r["lambda1"]),
                     "lambda1_se": float(r["lambda1_se"]), "regime": r["regime"], "decay_rate": rate,
                     "bias_slope": slope, "slope_minus_rate": slope - rate,
                     "slope_minus_lambda1": slope - float(r["lambda1"]), "relerr_k2_1": float(rel[0]),
                     "cos_k2_1": float(np.asarray(r["cos"])[0]), "k2_for_1pct": _first(k2, rel < 0.01)})
    return pd.DataFrame(rows)


def cost_frame(cost):
    rows = []
    for c, r in cost:
        k, sec, tb = np.asarray(r["k"]), np.asarray(r["seconds"]), np.asarray(r["tape_bytes"])
        full = sec[k == c["T"]][0] if (k == c["T"]).any() else sec[-1]
        for ki, si, ti in zip(k, sec, tb, strict=True):
            rows.append({"cell": c["cell"], "T": c["T"], "k": int(ki), "ms_per_update": 1e3 * si,
                         "time_vs_full": si / full, "tape_MiB": ti / 2**20})
    return pd.DataFrame(rows)


def runs_frame(learn):
    return pd.DataFrame([{
        "task": c["task"] if c["form"] is None else f"{c['task']}_{c['form']}", "T": c["T"], "lag": int(r["lag"]),
        "cell": c["cell"], "k1": c["k1"], "k2": c["k2"], "replica": c["replica"], "lr": c["train"]["lr"],
        "updates_budget": c["updates"], "success": bool(r["success"]), "final_loss": float(r["final_loss"]),
        "final_accuracy": float(r["final_accuracy"]), "baseline": float(r["baseline"]),
        "window_bound": float(r["window_bound"]), "solved_at": int(r["solved_at"]), "updates_run": int(r["updates_run"]),
        "diverged": bool(r["diverged"]), "lambda1": float(r["lambda1"]), "lambda1_se": float(r["lambda1_se"]),
        "regime": r["regime"], "seconds": float(r["seconds"]),
    } for c, r in learn])


GROUP = ["task", "T", "lag", "cell", "k1", "k2"]


def _regimes(s):
    counts = s.value_counts()
    return ", ".join(f"{name} {n}/{len(s)}" for name, n in counts.items())


def learning_table(runs):
    """One row per (task, T, cell, k1, k2) over its seeds; p_vs_full compares its successes with the
    same task, T and cell at the largest k2 run (full BPTT), by Fisher's exact test (two-sided)."""
    rows = []
    for key, g in runs.groupby(GROUP, sort=False):
        n, k = len(g), int(g["success"].sum())
        lo, hi = wilson_interval(k, n)
        finite = g.loc[~g["diverged"] & np.isfinite(g["final_loss"]), "final_loss"].to_numpy()
        med = float(np.median(finite)) if finite.size else math.nan
        blo, bhi = bootstrap_interval(finite, np.median, **BOOTSTRAP) if finite.size >= 2 else (math.nan, math.nan)
        baseline, bound = float(g["baseline"].mean()), float(g["window_bound"].mean())
        solved = g.loc[g["solved_at"] > 0, "solved_at"]
        rows.append({**dict(zip(GROUP, key, strict=True)), "seeds": n, "successes": k, "success_rate": k / n,
                     "ci_low": lo, "ci_high": hi, "median_final_loss": med, "loss_ci_low": blo, "loss_ci_high": bhi,
                     "baseline": baseline, "window_bound": bound,
                     "window_allows_success": bound <= SUCCESS_FRACTION * baseline,
                     "beats_window": bool(bound > 0 and bhi < bound),
                     "median_updates_to_solve": float(solved.median()) if len(solved) else math.nan,
                     "updates_budget": int(g["updates_budget"].iloc[0]), "lr": float(g["lr"].iloc[0]),
                     "diverged": int(g["diverged"].sum()), "regimes": _regimes(g["regime"]),
                     "lambda1_mean": float(g["lambda1"].mean()),
                     "lambda1_sd": float(g["lambda1"].std(ddof=1)) if n > 1 else math.nan,
                     "seconds_per_run": float(g["seconds"].mean())})
    table = pd.DataFrame(rows)
    table["p_vs_full"] = math.nan
    for _, g in table.groupby(["task", "T", "cell"], sort=False):
        full = g.loc[g["k2"].idxmax()]
        for i, row in g.iterrows():
            if i != full.name:
                table.loc[i, "p_vs_full"] = fisher_exact(int(row.successes), int(row.seeds), int(full.successes),
                                                         int(full.seeds))
    return table


def predictions(table):
    """The study's predictions, each judged by its rule (stated in the report before the table):
    - window: where the window bound is above the success threshold, no seed succeeds;
    - full: where the window covers every dependency (bound 0) but k2 is below the largest run,
      success does not differ from full BPTT (Fisher p >= ALPHA); a p below it is reported as a
      difference, either way."""
    rows = []
    for r in table.itertuples():
        base = {"task": r.task, "T": r.T, "cell": r.cell, "k1": r.k1, "k2": r.k2, "lag": r.lag,
                "successes": f"{r.successes}/{r.seeds}", "window_bound_over_baseline": r.window_bound / r.baseline,
                "median_final_loss_over_baseline": r.median_final_loss / r.baseline}
        if not r.window_allows_success:
            holds = r.successes == 0
            rows.append({**base, "prediction": "no seed succeeds: the window bound is above the success threshold",
                         "p_value": math.nan, "verdict": "holds" if holds else
                         f"broken: {r.successes} seed(s) learned past their window"})
        elif r.window_bound == 0 and not math.isnan(r.p_vs_full):
            same = r.p_vs_full >= ALPHA
            rows.append({**base, "prediction": "a window covering every dependency learns like full BPTT",
                         "p_value": r.p_vs_full, "verdict": "no difference detected" if same else "differs"})
    return pd.DataFrame(rows)
