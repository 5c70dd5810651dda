"""From runs to verdicts: per-run outcomes, per-method summaries with intervals, exact tests, and the
rules that call each of Pascanu et al.'s claims confirmed, refuted or inconclusive.

The rules (fixed before the full run; design.py holds the pre-registered constants):

- A run *learned* when its held-out loss at the end of training is at most SUCCESS_FRACTION of the
  input-blind baseline on the same fresh set (trainer.succeeded). A run that stays finite but does
  not meet that has not learned, whatever its loss.
- *Diverged*: a non-finite loss or gradient stopped the run. *Blew up*: it stayed finite but its
  final held-out loss is above BLOWUP_FACTOR baselines. Counted in separate columns.
- Claim 1 (clipping lets SGD learn): per setting, norm clipping at the pre-registered threshold
  against no clipping, one-sided Fisher exact test. Confirmed when p < ALPHA; refuted when runs
  learned but clipped ones no more often than unclipped ones; otherwise inconclusive, with the reason
  (no run learned at all, or a difference that is not significant).
- Claim 2 (thresholds from 0.5x to 10x the average norm work): per setting that ran them, each end
  of the relative range against no clipping, one-sided Fisher with Holm's correction over the
  setting's exploratory thresholds. Confirmed when every end has adjusted p < ALPHA; refuted when
  claim 1 is confirmed for the setting (learning was possible in the budget) and an end learned no
  more often than no clipping; otherwise inconclusive, with the reason.
- Claim 3 (clipping by value behaves like clipping by norm): value clipping at the pre-registered
  element threshold. Refuted when its success rate differs from norm clipping's (two-sided Fisher,
  p < ALPHA); confirmed when it does not and it learns more often than no clipping (one-sided,
  p < ALPHA); inconclusive otherwise (with n = 10, "not different" is weak evidence, said so).
- Every threshold other than the pre-registered ones is exploratory: reported with Holm-adjusted
  p-values, never used to decide claim 1.
"""

import numpy as np
import pandas as pd

from ..science.intervals import bootstrap_interval, fisher_exact, wilson_interval
from ..training.regime import regime_of
from .design import ALPHA, BLOWUP_FACTOR, NONE, PRIMARY, VALUE, method_name

SETTING = ["cell", "init"]
METHOD = ["cell", "init", "clip", "t"]


def runs_frame(results):
    """One row per run: its setting, method, measured regime and outcome."""
    rows = []
    for c, r in results:
        loss, base = float(r["final_loss"]), float(r["baseline"])
        diverged = bool(r["diverged"])
        lam, se = float(r["lambda1"]), float(r["lambda1_se"])
        rows.append({
            "cell": c["cell"], "init": c["init"], "lr": c["lr"], "updates": c["updates"], "clip": c["clip"],
            "t": c["t"], "method": method_name(c["clip"], c["t"]), "replica": c["replica"],
            "train_seed": c["train_seed"], "lambda1": lam, "lambda1_se": se, "regime": regime_of(lam, se, c["T"]),
            "initial_norm": float(r["initial_norm"]), "threshold": float(r["threshold"]) if c["clip"] != "none" else np.nan,
            "success": bool(r["success"]), "diverged": diverged, "blew_up": blew_up(diverged, loss, base),
            "final_loss": loss if not diverged else np.nan, "baseline": base,
            "loss_ratio": loss / base if not diverged else np.nan,
            "updates_run": int(r["updates_run"]),
            "solved_at": int(r["solved_at"]) if int(r["solved_at"]) > 0 else np.nan,
            "clipped_fraction": float(r["clipped_fraction"]),
        })
    return pd.DataFrame(rows)


def blew_up(diverged, final_loss, baseline):
    """Stayed finite (no non-finite loss or gradient stopped it) but ended above BLOWUP_FACTOR
    baselines (an infinite final loss of a run that was not stopped counts here too)."""
    return (not diverged) and not (final_loss <= BLOWUP_FACTOR * baseline)


def regime_label(labels):
    """The measured regime of a setting's seeds: the commonest label with its count, e.g.
    "expanding (10/10)"; a setting is *exploding* only when every seed is measured expanding."""
    labels = list(labels)
    values, counts = np.unique(labels, return_counts=True)
    i = int(np.argmax(counts))
    return f"{values[i]} ({counts[i]}/{len(labels)})"


def _median_ci(values, seed=0):
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    if x.size < 2:
        return float(x[0]), np.nan, np.nan
    lo, hi = bootstrap_interval(x, np.median, resamples=2000, seed=seed)
    return float(np.median(x)), lo, hi


def summarize(runs):
    """One row per setting and method: successes with Wilson intervals, diverged and blown-up runs,
    the median final loss over baselines (finite runs) with a bootstrap interval, and more."""
    rows = []
    for (cell, init, clip, t), g in runs.groupby(METHOD, sort=False):
        n, k = len(g), int(g["success"].sum())
        lo, hi = wilson_interval(k, n)
        med, mlo, mhi = _median_ci(g["loss_ratio"])
        expanding = int((g["regime"] == "expanding").sum())
        rows.append({
            "cell": cell, "init": init, "lr": float(g["lr"].iloc[0]), "updates": int(g["updates"].iloc[0]),
            "regime": regime_label(g["regime"]), "expanding_seeds": f"{expanding}/{n}", "exploding": expanding == n,
            "clip": clip, "t": t, "method": method_name(clip, t), "seeds": n, "successes": k,
            "success_rate": k / n, "wilson_low": lo, "wilson_high": hi,
            "diverged": int(g["diverged"].sum()), "blew_up": int(g["blew_up"].sum()),
            "median_loss_ratio": med, "loss_ratio_low": mlo, "loss_ratio_high": mhi,
            # among runs that learned (a run can reach the threshold on the monitoring batch and miss it
            # on the fresh set that decides success)
            "median_updates_to_solve": float(g.loc[g["success"], "solved_at"].median()) if k else np.nan,
            "clipped_fraction": float(g["clipped_fraction"].mean()),
            "threshold_min": float(g["threshold"].min()), "threshold_max": float(g["threshold"].max()),
            "median_initial_norm": float(g["initial_norm"].median()),
        })
    return pd.DataFrame(rows)


def holm(pvalues):
    """Holm's step-down adjusted p-values, in the input order: the i-th smallest of m is multiplied
    by m - i (i from 0), then made non-decreasing, capped at 1."""
    p = np.asarray(pvalues, float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        adj[j] = running
    return adj


def _row(s, clip, t):
    hit = s[(s["clip"] == clip) & (s["t"] == t)]
    return None if hit.empty else hit.iloc[0]


def exploratory(summary):
    """Every threshold of every setting against no clipping (one-sided Fisher): the raw p and, for the
    thresholds that are not pre-registered, Holm's adjustment over the setting's exploratory family."""
    rows = []
    for (cell, init), s in summary.groupby(SETTING, sort=False):
        none = _row(s, *NONE)
        if none is None:
            continue
        clipped = s[s["clip"] != "none"]
        raw = [fisher_exact(int(m.successes), int(m.seeds), int(none.successes), int(none.seeds), "greater")
               for m in clipped.itertuples()]
        pre = [(m.clip, m.t) in (PRIMARY, VALUE) for m in clipped.itertuples()]
        family = [p for p, is_pre in zip(raw, pre, strict=True) if not is_pre]
        adjusted = iter(holm(family)) if family else iter(())
        for m, p, is_pre in zip(clipped.itertuples(), raw, pre, strict=True):
            rows.append({"cell": cell, "init": init, "regime": m.regime, "method": m.method, "clip": m.clip, "t": m.t,
                         "role": "pre-registered" if is_pre else "exploratory",
                         "success_clipped": f"{m.successes}/{m.seeds}",
                         "success_unclipped": f"{none.successes}/{none.seeds}",
                         "diverged_clipped": int(m.diverged), "blew_up_clipped": int(m.blew_up),
                         "p_raw": p, "p_holm": np.nan if is_pre else float(next(adjusted)),
                         "family_size": 0 if is_pre else len(family)})
    return pd.DataFrame(rows)


def _counts(row):
    return int(row.successes), int(row.seeds)


def claim1_verdict(k_c, n_c, k_u, n_u, p):
    if k_c == 0 and k_u == 0:
        return "inconclusive: no run learned the task in the budget, clipped or not"
    if p < ALPHA:
        return "confirmed"
    if k_c / n_c <= k_u / n_u:
        return "refuted: runs learned, but clipped runs no more often than unclipped ones"
    return f"inconclusive: clipped runs learned more often, but not significantly (p >= {ALPHA:g})"


def claim2_verdict(ends, claim1_confirmed):
    """``ends``: [(k_clipped, n_clipped, k_unclipped, n_unclipped, holm_p)] for 0.5x and 10x."""
    if all(k == 0 for k, *_ in ends) and ends[0][2] == 0:
        return "inconclusive: no run learned at these thresholds or unclipped"
    if all(p < ALPHA for *_, p in ends):
        return "confirmed"
    if claim1_confirmed and any(k / n <= ku / nu for k, n, ku, nu, _ in ends):
        return ("refuted: the pre-registered threshold learned, but an end of the range learned no more often "
                "than no clipping")
    return f"inconclusive: not every end of the range learned significantly more often than no clipping (Holm p >= {ALPHA:g})"


def claim3_verdict(k_v, n_v, k_n, n_n, p_vs_norm, p_vs_none):
    if k_v == 0 and k_n == 0:
        return "inconclusive: no clipped run learned, by value or by norm"
    if p_vs_norm < ALPHA:
        more = "value" if k_v / n_v > k_n / n_n else "norm"
        return f"refuted: value and norm clipping learned at different rates ({more} clipping more often, two-sided p < {ALPHA:g})"
    if p_vs_none < ALPHA:
        return "confirmed (no significant difference from norm clipping at this n, and better than no clipping)"
    return ("inconclusive: value clipping neither differs significantly from norm clipping nor learns "
            "significantly more often than no clipping")


CLAIM1 = "1: norm clipping lets SGD learn more often than no clipping"
CLAIM2 = "2: every threshold from 0.5x to 10x the initial gradient norm learns more often than no clipping"
CLAIM3 = "3: clipping by value behaves like clipping by norm"


def _claim_row(claim, clipped, none, test, p, adjustment, verdict, **extra):
    k, n = _counts(clipped)
    ku, nu = _counts(none)
    return {"claim": claim, "cell": clipped.cell, "init": clipped.init, "lr": clipped.lr,
            "regime": clipped.regime, "expanding_seeds": clipped.expanding_seeds, "method": clipped.method,
            "threshold_min": clipped.threshold_min, "threshold_max": clipped.threshold_max,
            "success_clipped": f"{k}/{n}", "success_unclipped": f"{ku}/{nu}",
            "wilson_clipped_low": clipped.wilson_low, "wilson_clipped_high": clipped.wilson_high,
            "wilson_unclipped_low": none.wilson_low, "wilson_unclipped_high": none.wilson_high,
            "diverged_clipped": int(clipped.diverged), "diverged_unclipped": int(none.diverged),
            "blew_up_clipped": int(clipped.blew_up), "blew_up_unclipped": int(none.blew_up),
            "test": test, "p_value": p, "p_adjustment": adjustment, **extra, "verdict": verdict}


def claims(summary):
    """Claims 1-3 per setting, by the rules in the module docstring."""
    explo = exploratory(summary)
    rows = []
    for (cell, init), s in summary.groupby(SETTING, sort=False):
        none, norm, value = _row(s, *NONE), _row(s, *PRIMARY), _row(s, *VALUE)
        if none is None or norm is None:
            continue
        k, n = _counts(norm)
        ku, nu = _counts(none)
        p1 = fisher_exact(k, n, ku, nu, "greater")
        v1 = claim1_verdict(k, n, ku, nu, p1)
        rows.append(_claim_row(CLAIM1, norm, none, "Fisher one-sided (clipped > unclipped)", p1,
                               "none (pre-registered)", v1, p_value_vs_norm=np.nan))
        e = explo[(explo["cell"] == cell) & (explo["init"] == init) & (explo["clip"] == "norm_rel")]
        if len(e) >= 2:
            ends = []
            for m in e.itertuples():
                r = _row(s, "norm_rel", m.t)
                ends.append((*_counts(r), ku, nu, m.p_holm))
            v2 = claim2_verdict(ends, v1 == "confirmed")
            for m in e.itertuples():
                r = _row(s, "norm_rel", m.t)
                rows.append(_claim_row(CLAIM2, r, none, "Fisher one-sided (clipped > unclipped)", m.p_holm,
                                       f"Holm over {m.family_size} exploratory thresholds", v2, p_value_vs_norm=np.nan))
        if value is not None:
            kv, nv = _counts(value)
            p_none = fisher_exact(kv, nv, ku, nu, "greater")
            p_norm = fisher_exact(kv, nv, k, n, "two-sided")
            rows.append(_claim_row(CLAIM3, value, none, "Fisher one-sided (value > unclipped); two-sided value vs norm",
                                   p_none, "none (pre-registered)", claim3_verdict(kv, nv, k, n, p_norm, p_none),
                                   p_value_vs_norm=p_norm))
    return pd.DataFrame(rows)

