"""The clipping study's report: the pre-registration, the findings (each sentence generated from the
claims and summary tables it cites), the figures and the tables."""

import numpy as np
import pandas as pd

from ..framework import mode_of
from ..training.trainer import SUCCESS_FRACTION
from . import figures
from .design import (
    ABSOLUTE_GRID,
    ALPHA,
    BLOWUP_FACTOR,
    MOMENTUM,
    NONE,
    PRIMARY,
    PRIMARY_THRESHOLD,
    RELATIVE_GRID,
    SEED_OFFSET,
    VALUE,
    sizes,
)
from .verdicts import CLAIM1, CLAIM2, CLAIM3, claims, exploratory, runs_frame, summarize


def _fmt_p(p):
    return "n/a" if not np.isfinite(p) else f"{p:.3g}"


def preregistration(mode, s):
    return (
        f"**Question.** Does clipping the gradient let SGD *learn* where unclipped SGD fails, as Pascanu, Mikolov & "
        f"Bengio (2013) claim, on the adding problem (Le et al.'s form) at T = {s['T']} with H = {s['H']} units, "
        f"batch {s['batch']}, SGD with momentum {MOMENTUM}? Staying finite is not learning: a run *learned* when its "
        f"loss on a fresh held-out set of {s['final_batch']} sequences at the end of training is at most "
        f"{SUCCESS_FRACTION:g} of the input-blind baseline computed from the task's own data on that set (R^2 >= "
        f"{1 - SUCCESS_FRACTION:g}); runs stop early once solved. A run *diverged* when a non-finite loss or gradient "
        f"stopped it; it *blew up* when it stayed finite but ended above {BLOWUP_FACTOR:g} baselines.\n\n"
        f"**Pre-registered before the full run** (constants in studies/clipping/design.py, rules in "
        f"studies/clipping/verdicts.py). Claim 1 of every setting (cell, initialization, learning rate) is decided "
        f"by one comparison: clipping by global norm at the absolute threshold {PRIMARY_THRESHOLD:g} against no "
        f"clipping, one-sided Fisher exact test, *confirmed* only when p < {ALPHA:g}; *refuted* when runs learned "
        f"but clipped runs no more often; otherwise *inconclusive*, with the reason. Claim 2 tests both ends of "
        f"Pascanu et al.'s range, {' and '.join(f'{m:g}x' for m in RELATIVE_GRID)} each seed's own median initial "
        f"gradient norm, against no clipping with Holm's correction over the setting's exploratory thresholds; "
        f"claim 3 tests clipping by value at {PRIMARY_THRESHOLD:g}/sqrt(P) per element (P parameters: the worst "
        f"case of the clipped vector has the norm threshold's norm) against norm clipping (two-sided Fisher) and "
        f"no clipping (one-sided). Every other threshold, on the absolute grid "
        f"{', '.join(f'{t:g}' for t in ABSOLUTE_GRID)} shared by all seeds, is exploratory: its Holm-adjusted "
        f"p-value is reported and never changes a verdict. The regime of each network is measured, not read off "
        f"its gain: lambda_1 of the initialized network driven by the task's inputs, labelled contracting, "
        f"critical or expanding by training/regime.py's rule (|lambda_1| T against 1, two SEs); a setting is "
        f"called *exploding* only when all its seeds are measured expanding. {s['seeds']} seeds per configuration "
        f"(training seeds {SEED_OFFSET} to {SEED_OFFSET + s['seeds'] - 1}; the pilots that chose the settings used "
        f"seeds 0 to 2). Mode: {mode}.")


def settings_table(summary):
    cols = ["cell", "init", "lr", "updates", "regime", "expanding_seeds", "exploding", "median_initial_norm"]
    return summary.drop_duplicates(["cell", "init"])[cols].reset_index(drop=True)


def findings(cl, summary, settings, ex):
    """Sentences generated from the claims and summary tables, one per fact."""
    out = []
    n_set = len(settings)
    explo = settings[settings["exploding"]]
    out.append(f"{len(explo)} of the {n_set} settings are exploding by measurement (every seed expanding at "
               f"initialization): {', '.join(f'{r.cell} {r.init}' for r in explo.itertuples()) or 'none'}.")
    c1 = cl[cl["claim"] == CLAIM1]
    for r in c1.itertuples():
        out.append(f"Claim 1, {r.cell} {r.init} init (lr {r.lr:g}; {r.regime} at initialization): norm clipping at "
                   f"{PRIMARY_THRESHOLD:g} learned in {r.success_clipped} seeds (Wilson 95% "
                   f"{r.wilson_clipped_low:.2f}-{r.wilson_clipped_high:.2f}), no clipping in {r.success_unclipped} "
                   f"({r.wilson_unclipped_low:.2f}-{r.wilson_unclipped_high:.2f}); diverged {r.diverged_clipped} vs "
                   f"{r.diverged_unclipped}, blew up {r.blew_up_clipped} vs {r.blew_up_unclipped}; p = {_fmt_p(r.p_value)}: "
                   f"{r.verdict}.")
        if r.expanding_seeds.startswith("0/") and r.diverged_unclipped > 0:
            out.append(f"{r.cell} {r.init} init has no seed measured expanding at initialization ({r.regime}), yet {r.diverged_unclipped} of its unclipped runs diverged (a non-finite loss or "
                       "gradient): the instability arose during training, not at the start.")
    learned = summary[(summary["clip"] != "none") & (summary["successes"] > 0)]
    by_setting = learned.groupby(["cell", "init"], sort=False)
    out.append(f"Clipped runs learned in {by_setting.ngroups} of the {n_set} settings"
               + (": " + "; ".join(f"{c} {i} init ({', '.join(f'{r.method}: {r.successes}/{r.seeds}' for r in g.itertuples())})"
                                   for (c, i), g in by_setting) if by_setting.ngroups else "")
               + f"; unclipped runs learned in {int((summary[summary['clip'] == 'none']['successes'] > 0).sum())}.")
    confirmed = c1[c1["verdict"] == "confirmed"]
    learned_any = summary.groupby(["cell", "init"])["successes"].sum()
    silent = [f"{c} {i}" for (c, i), k in learned_any.items() if k == 0]
    out.append(f"Claim 1 is confirmed in {len(confirmed)} of {len(c1)} settings"
               + (f" ({', '.join(f'{r.cell} {r.init}' for r in confirmed.itertuples())})" if len(confirmed) else "")
               + f"; in {len(silent)} {'setting' if len(silent) == 1 else 'settings'} no run of any method learned "
               "within the budget"
               + (f" ({', '.join(silent)}): a null result of this budget, not evidence against clipping." if silent
                  else "."))
    sig = ex[np.where(ex["role"] == "pre-registered", ex["p_raw"], ex["p_holm"]) < ALPHA]
    if len(sig):
        out.append("Methods that learned significantly more often than no clipping (one-sided Fisher p < "
                   f"{ALPHA:g}; Holm-adjusted for exploratory thresholds): " + "; ".join(
                       f"{r.cell} {r.init} init, {r.method} ({r.role}): {r.success_clipped} against "
                       f"{r.success_unclipped}, p = {_fmt_p(r.p_raw if r.role == 'pre-registered' else r.p_holm)}"
                       for r in sig.itertuples()) + ".")
    else:
        out.append(f"No method of any setting learned significantly more often than no clipping (p < {ALPHA:g}).")
    for r in summary[(summary["clip"] == "value") & (summary["successes"] > 0)].itertuples():
        out.append(f"Where value clipping learned ({r.cell} {r.init} init, {r.successes}/{r.seeds}), it clipped "
                   f"{r.clipped_fraction:.1%} of the updates (at least one element each). Clipping element by element "
                   "changes the gradient's direction as well as its length, clipping by norm only its length; this "
                   "study does not separate the two effects.")
    for claim, name in ((CLAIM2, "Claim 2"), (CLAIM3, "Claim 3")):
        for (cell, init), g in cl[cl["claim"] == claim].groupby(["cell", "init"], sort=False):
            parts = "; ".join(f"{r.method}: {r.success_clipped} (p = {_fmt_p(r.p_value)}"
                              + (f", vs norm {_fmt_p(r.p_value_vs_norm)}" if np.isfinite(r.p_value_vs_norm) else "")
                              + ")" for r in g.itertuples())
            out.append(f"{name}, {cell} {init} init: {parts}, against {g['success_unclipped'].iloc[0]} unclipped: "
                       f"{g['verdict'].iloc[0]}.")
    return out


def _early_divergence(results):
    """Which drawn runs went non-finite before their first evaluation (and so have no curve)."""
    drawn = [(c, r) for c, r in results
             if c["replica"] == 0 and (c["clip"], c["t"]) in (NONE, PRIMARY, VALUE) and bool(r["diverged"])]
    early = [c for c, r in drawn if len(r["eval_updates"]) == 0]
    if not early:
        return ""
    which = "all" if len(early) == len(drawn) else f"{len(early)} of the"
    return f" ({which} {len(drawn)} drawn runs that went non-finite did so before their first evaluation and have no curve)"


def report(results, opts, w):
    mode = mode_of(opts)
    s = sizes(mode)
    runs = runs_frame(results)
    summary = summarize(runs)
    cl = claims(summary)
    ex = exploratory(summary)
    settings = settings_table(summary)
    w.text(preregistration(mode, s))
    w.text("**Findings** (every number from the tables below).\n\n" + "\n".join(f"- {f}" for f in findings(cl, summary, settings, ex)))
    w.text(
        "**What was cut, and why.** The full run was sized to take at most 40 minutes on one core. The temporal-order "
        "task was not run. The full family of thresholds (absolute grid, relative range, value) ran only on the GRU "
        "from PyTorch's default initialization, the one setting where the pilots saw clipped SGD learn; the expanding "
        "GRU ran the relative range too; the Elman and LSTM settings ran no clipping, the pre-registered norm threshold "
        "and value clipping only. Update budgets are per cell (table of settings) and short against the literature's "
        "(Pascanu et al.'s and Le et al.'s runs were far longer): a setting in which nothing learned "
        "says what this budget does, not what clipping can do. No control was found in which unclipped SGD learns: in "
        "the pilots (recorded in studies/clipping/design.py) no cell learned within the budget at learning rates 0.01 "
        "to 0.3, clipped or not. The pilots chose the GRU setting from 3 seeds, 2 of which learned with norm clipping "
        "at 1; on the study's 10 other seeds it learned once (claims table).")
    w.table(settings, "settings", "Settings: cell, initialization, learning rate, budget and measured regime",
            "One row per setting. regime: the commonest measured label of its seeds at initialization with its count; "
            "expanding_seeds: how many seeds were measured expanding; exploding: all of them. median_initial_norm: "
            "the median over seeds of each seed's median gradient norm at initialization (the scale of the relative "
            "thresholds). updates: the budget, with early stopping once the monitoring batch is at half the success "
            "threshold.")
    w.table(cl, "claims", "Pascanu et al.'s claims, by the pre-registered rules",
            "One row per claim, setting and compared method. success_*: seeds that learned / seeds, with Wilson 95% "
            "intervals; diverged_*: non-finite runs; blew_up_*: finite runs ending above "
            f"{BLOWUP_FACTOR:g} baselines; p_value: the test named in `test` (claim 3's value-vs-norm two-sided p in "
            "p_value_vs_norm); threshold_min/max: the absolute threshold over seeds (equal except for relative and "
            "value thresholds).",
            md_df=cl[["claim", "cell", "init", "regime", "method", "success_clipped", "success_unclipped",
                      "diverged_clipped", "diverged_unclipped", "blew_up_clipped", "blew_up_unclipped", "p_value",
                      "p_value_vs_norm", "verdict"]])
    w.figure(figures.success_and_failure(summary), "success_and_divergence", "Learning, divergence and blow-up per method",
             "Per cell (columns) and initialization (colour): top, the fraction of seeds that learned, with Wilson 95% "
             "intervals; bottom, the fraction that diverged (non-finite, filled) and that blew up (finite but above "
             f"{BLOWUP_FACTOR:g} baselines, open). No clipping is the first method of every panel.")
    w.figure(figures.curves(results), "curves", "Training curves",
             "Held-out loss on the monitoring batch divided by the run's own input-blind baseline (computed from the "
             "task's data), seed replica 0, for no clipping, norm clipping at the pre-registered threshold and value "
             f"clipping. Dotted: the baseline (1); dash-dotted, where within the axis: the success threshold "
             f"({SUCCESS_FRACTION:g}). A cross drawn on the baseline line marks the update at which a run went "
             f"non-finite{_early_divergence(results)}; the axis is cut at {figures.CURVE_TOP:g} baselines.")
    w.figure(figures.lambda1(runs, s["T"]), "lambda1", "Measured regime of every seed",
             "lambda_1 per step of each seed's initialized network, driven by the task's inputs (+-2 SE), per setting; "
             f"dotted: +-1/T (T = {s['T']}), the boundaries of the regime rule.")
    w.table(ex, "exploratory", "Every threshold against no clipping",
            "One-sided Fisher p of each clipped method against no clipping in its setting; p_holm adjusts the "
            "exploratory thresholds (all but the pre-registered norm and value ones) of a setting together "
            "(family_size of them). Exploratory results describe; they decide no verdict.")
    w.table(summary, "summary", "Summary over seeds",
            "One row per setting and method: successes with Wilson 95% intervals; diverged and blown-up runs; the "
            "median final held-out loss over the baseline among runs that stayed finite, with a percentile bootstrap "
            "95% interval (2000 resamples); median updates to success among runs that learned; the mean fraction of "
            "updates clipped; the absolute thresholds used.",
            md_df=summary[["cell", "init", "method", "successes", "seeds", "wilson_low", "wilson_high", "diverged",
                           "blew_up", "median_loss_ratio", "loss_ratio_low", "loss_ratio_high",
                           "median_updates_to_solve", "clipped_fraction"]])
    seeds = runs.drop_duplicates(["cell", "init", "replica"])[["cell", "init", "replica", "train_seed", "lambda1",
                                                               "lambda1_se", "regime", "initial_norm"]]
    w.table(seeds.reset_index(drop=True), "regimes", "lambda_1 and regime of every seed",
            "Each seed's initialized network (shared by all methods of the seed): lambda_1 per step with its "
            "batch-means SE, the label by the pre-stated rule, and its median initial gradient norm.")
    w.table(runs, "runs", "Every run", "One row per run (CSV only).", md_df=pd.DataFrame(columns=runs.columns))
