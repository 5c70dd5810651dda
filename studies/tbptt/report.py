"""The report: text whose every number is read from the tables it sits beside."""

import numpy as np

from ..framework import mode_of
from ..training.regime import Z
from ..training.tasks import PSEUDO_COUNT
from ..training.trainer import STOP_FRACTION, SUCCESS_FRACTION
from . import figures
from .tables import ALPHA, BOOTSTRAP, bias_frame, cost_frame, learning_table, predictions, runs_frame


def _parts(results):
    return {p: [(c, r) for c, r in results if c["part"] == p] for p in ("bias", "cost", "learn")}


def report(results, opts, w):
    parts = _parts(results)
    w.text(
        "Truncated BPTT, TBPTT(k1, k2) in Williams & Peng's sense (every k1 steps, backpropagate k2 steps; "
        "docs/conventions.md gives the windows exactly), against full BPTT. Three parts: the bias of the "
        "truncated gradient on random networks whose regime is measured, the cost of streaming truncation, and "
        "learning tasks of known lag with truncation windows shorter and longer than the lag. "
        f"Mode: {mode_of(opts)}."
    )
    if parts["learn"]:
        _report_learn(parts["learn"], w)
    if parts["bias"]:
        _report_bias(parts["bias"], w)
    if parts["cost"]:
        _report_cost(parts["cost"], w)


# -- learning ------------------------------------------------------------------------------------

def _method(learn):
    t = learn[0][0]["train"]
    lrs = sorted({c["train"]["lr"] for c, _ in learn})
    return (
        "## Learning under truncation\n\n"
        "**Method, fixed before the runs.** Each configuration (task, T, cell, k1, k2) is trained from "
        f"{len({c['replica'] for c, _ in learn})} seeds; a seed's network and data are the same at every k2 (paired). "
        f"Adam (learning rate {', '.join(f'{lr:g}' for lr in lrs)}, per task in the table), batch {t['batch']}, "
        f"H = {t['hidden']}, the gradient clipped to norm {t['threshold']:g}, one layer; the IRNN (rnn_relu) "
        "starts from W_hh = I (Le et al. 2015), the other cells from PyTorch's uniform initialization. "
        "Budgets of updates are per task (column updates_budget). A monitoring batch of "
        f"{t['eval_batch']} sequences is checked every {t['eval_every']} updates and a run stops once it is at "
        f"{STOP_FRACTION:g} x the baseline.\n\n"
        f"**Success** is decided once, at the end, on a fresh held-out set of {t['final_batch']} sequences that "
        f"neither training nor monitoring saw: the loss there must be at most {SUCCESS_FRACTION:g} x the "
        "input-blind baseline on the same set (for the adding problem, R^2 >= 0.9). The baseline is the loss of "
        "the best predictor that ignores the inputs, fitted on a separate draw of the task's data (the mean "
        f"target; per-step class frequencies with a pseudo-count of {PSEUDO_COUNT:g}), never a constant typed in.\n\n"
        "**The window bound** is a prediction made before training: the loss, on the same held-out set, of the "
        "best predictor that sees for each loss step only the inputs inside its TBPTT window (adding: the "
        "variance of each marked value outside the window; temporal order: the entropy of each relevant symbol "
        "outside; copy: the symbols' entropy for each recall whose source is outside, blank steps counted as "
        "free, so a lower bound). If a network learned only what its truncated gradient connects, its final "
        "loss could not go below it. Where the bound is above the success threshold the prediction is that "
        "no seed succeeds; a configuration *beats its window* when the 95% bootstrap interval of its median "
        f"final loss ({BOOTSTRAP['resamples']} resamples) lies wholly below the bound.\n\n"
        "**Statistics.** Success rates with 95% Wilson intervals; every k2 against the largest k2 of the same "
        f"task, T and cell (full BPTT) by Fisher's exact test, two-sided, a difference called at p < {ALPHA:g}. "
        "**Regimes** are measured, not read off a gain: lambda_1 of each initialized network driven by its "
        "task's inputs (20 sequences end to end), and the rule, over a sequence of n steps: contracting if "
        f"(lambda_1 + {Z:g} SE) n < -1, expanding if (lambda_1 - {Z:g} SE) n > 1, critical otherwise."
    )


def _cuts(table):
    groups = table.groupby(["task", "T", "cell"], sort=False)["k2"]
    swept = [f"{t} T = {T} {c}" for (t, T, c), k in groups if k.nunique() > 1]
    single = [f"{t} T = {T} {c}" for (t, T, c), k in groups if k.nunique() == 1]
    cells = sorted(set(table["cell"]))
    return ("**What was cut to fit the budget** (about an hour on the 2-core machine). The k2 sweep runs for "
            + "; ".join(swept) + ". Only full BPTT runs for " + "; ".join(single) + ": the Elman cells and the "
            "longer tasks, where a sweep is worth its cost only if full BPTT learns (pilots of the GRU on the copy "
            "task at T = 50 and on temporal order at T = 100 had not learned within the budget). Trained cells: " + ", ".join(cells)
            + "; the LSTM variants and GRU-Cho appear only in the bias part. One learning rate per task, not tuned "
            "per cell or per k2.")


def _fmt_rate(r):
    return f"{r.successes}/{r.seeds} [{r.ci_low:.2f}, {r.ci_high:.2f}]"


def _findings(table, pred):
    lines = ["### Findings\n"]
    full = table.loc[table.groupby(["task", "T", "cell"], sort=False)["k2"].idxmax()]
    learned = full[full.successes > 0]
    null = full[full.successes == 0]
    if len(learned):
        lines.append("- **Full BPTT** (the largest k2 run), successes within the stated budgets: "
                     + "; ".join(f"{r.task} T = {r.T}, {r.cell}: {_fmt_rate(r)}" for r in learned.itertuples())
                     + ".")
    if len(null):
        lines.append("- **Null results** (no seed succeeded even with the full gradient, so success against k2 "
                     "cannot be judged there; the final losses still can, in the table): " + "; ".join(
                         f"{r.task} T = {r.T}, {r.cell} (median final loss {r.median_final_loss / r.baseline:.2f} x "
                         f"baseline after up to {r.updates_budget} updates)" for r in null.itertuples()) + ".")
    win = pred[pred.prediction.str.startswith("no seed")]
    if len(win):
        broken = win[~win.verdict.eq("holds")]
        lines.append(f"- **k2 shorter than the dependency.** In {len(win)} configurations the window bound is above "
                     f"the success threshold; the prediction that no seed succeeds holds in {len(win) - len(broken)}"
                     + (f" and is broken in {len(broken)}: " + "; ".join(
                         f"{r.task} T = {r.T}, {r.cell}, k2 = {r.k2}: {r.successes} succeeded"
                         for r in broken.itertuples()) if len(broken) else "") + ".")
    beat = table[table.beats_window]
    notbeat = table[(table.window_bound > 0) & ~table.beats_window]
    lines.append(f"- **Beyond the window.** {len(beat)} of {len(beat) + len(notbeat)} configurations with a "
                 "non-zero window bound beat it"
                 + (": " + "; ".join(f"{r.task} T = {r.T}, {r.cell}, k2 = {r.k2} (median {r.median_final_loss:.4g} "
                                     f"[{r.loss_ci_low:.4g}, {r.loss_ci_high:.4g}] vs bound {r.window_bound:.4g})"
                                     for r in beat.itertuples()) if len(beat) else "")
                 + ". Beating the bound means the network used inputs from outside its gradient's windows. The "
                 "route open to it (this study does not trace it): the forward pass carries the state across a "
                 "window's edge, and weights trained inside the windows to hold and read out what the state contains "
                 "act on every step, so a memory learned on dependencies short enough to fit serves longer ones.")
    blind = pred[(pred.window_bound_over_baseline > 0.95) & pred.prediction.str.startswith("no seed")]
    if len(blind):
        learned = blind[~blind.verdict.eq("holds")]
        lines.append("- **Windows that hold no dependency at all** (window bound within 5% of the baseline: "
                     + "; ".join(f"{r.task} T = {r.T}, {r.cell}, k2 = {r.k2}: {r.successes}" for r in blind.itertuples())
                     + f"): {len(blind) - len(learned)} of {len(blind)} have no successful seed: no gradient path "
                     "connects a loss to an input it depends on."
                     + _beaten_blind(table, blind))
    cover = pred[pred.prediction.str.startswith("a window covering")]
    if len(cover):
        diff = cover[cover.verdict.eq("differs")]
        lines.append(f"- **k2 covering the dependency but shorter than the sequence**: {len(cover)} "
                     f"configuration{'s' if len(cover) != 1 else ''}; "
                     f"success differs from full BPTT (p < {ALPHA:g}) in {len(diff)}"
                     + (": " + "; ".join(f"{r.task} T = {r.T}, {r.cell}, k2 = {r.k2} ({r.successes}, p = "
                                         f"{r.p_value:.3g})" for r in diff.itertuples()) if len(diff) else "")
                     + ". With ten seeds a p above the threshold is no proof of equality: the intervals say how "
                     "large a difference the data leave room for.")
    regimes = table["regimes"].str.extractall(r"(\w+) \d+/\d+")[0].unique()
    lines.append(f"- **Regimes at the start of training** (measured): {', '.join(sorted(regimes))}; lambda_1 "
                 f"per configuration from {table.lambda1_mean.min():.3f} to {table.lambda1_mean.max():.3f} per step "
                 "(column regimes counts the seeds).")
    return "\n".join(lines) + "\n"


def _beaten_blind(table, blind):
    keys = {(r.task, r.T, r.cell, r.k2) for r in blind.itertuples()}
    inside = [k in keys for k in zip(table["task"], table["T"], table["cell"], table["k2"], strict=True)]
    beat = table[table.beats_window.to_numpy() & np.array(inside, bool)]
    if not len(beat):
        return ""
    return (" Yet " + "; ".join(f"{r.task} T = {r.T}, k2 = {r.k2}" for r in beat.itertuples())
            + " end below their bound, which is possible only because the forward state still holds something "
            "of inputs outside the window for the weights trained inside it to use.")


def _report_learn(learn, w):
    runs = runs_frame(learn)
    table = learning_table(runs)
    pred = predictions(table)
    w.text(_method(learn))
    w.text(_cuts(table))
    w.text(_findings(table, pred))
    if len(figures._swept(table)):
        w.figure(figures.loss_and_success_vs_k2(table), "success_vs_k",
                 "Final loss and success against k2, with the window bound",
                 "Top: median final held-out loss over seeds, relative to the input-blind baseline, with its 95% "
                 "bootstrap interval, the window bound (orange: the floor predicted for a network that learns only "
                 "what its gradient connects) and the success threshold (dotted). Bottom: success rate with 95% "
                 "Wilson intervals. The dash-dotted line is the task's longest lag L. One column per task, T and "
                 "cell run at several k2.")
        w.figure(figures.learning_curves(learn, table), "learning_curves", "Training curves under truncation",
                 "The monitoring loss (relative to the baseline, dashed at 1) during training of seed 0 at each k2; "
                 "the dotted line is the success threshold. A curve ends where the run stopped.")
    w.figure(figures.full_bptt_success(table), "full_bptt_success", "Which cells learn which task with the full gradient",
             "Success rate at the largest k2 run (full BPTT) of every task, T and cell, with 95% Wilson intervals, "
             "within the stated budgets.")
    w.table(table, "learning", "Learning against truncation",
            "One row per task, T, cell and (k1, k2): successes over seeds with the Wilson interval (ci_low, "
            "ci_high), the median final held-out loss with its bootstrap interval, the baseline and window bound "
            "(means over seeds' held-out sets), whether the window allows success and whether the runs beat it, "
            "p_vs_full (Fisher, against the largest k2), median updates to success, the budget, diverged runs, the "
            "measured regimes and lambda_1 across seeds, and the mean wall time per run (a measurement, not "
            "reproducible to the byte).")
    w.table(pred, "predictions", "Predictions and verdicts",
            "Each prediction with its rule (see Method) and verdict. 'no seed succeeds' applies where the window "
            "bound is above the success threshold; 'learns like full BPTT' where the window covers every "
            "dependency.")
    w.table(runs, "runs", "Every run", "One row per run (CSV only).", md_df=runs.head(0))


# -- bias ------------------------------------------------------------------------------------------

def _report_bias(bias, w):
    df = bias_frame(bias)
    T = bias[0][0]["T"]
    counts = df["regime"].value_counts()
    con = df[(df.regime == "contracting") & df.bias_slope.notna()]
    by_rate, by_lam = con["slope_minus_rate"].abs(), con["slope_minus_lambda1"].abs()
    grow = df[df.regime != "contracting"]
    w.text(
        "## Bias of the truncated gradient\n\n"
        f"TBPTT(1, k2) against full BPTT on one random network per cell and gain g (W_hh ~ N(0, g^2/H), T = {T}, "
        "losses at every step, Gaussian inputs). Each network's regime is measured (lambda_1 along the same "
        "sequences, each from the zero state, with the rule above over its T steps), so a gain is never taken "
        "for a regime: " + ", ".join(f"{n} {name}" for name, n in counts.items()) + f" of {len(df)} networks; the "
        "gain at which a cell stops contracting differs between cells (table).\n\n"
        + (f"Where the network contracts, the relative error falls geometrically in k2 at the rate the network's "
           f"own dynamics set: over the {len(con)} contracting networks with a fitted slope, |bias slope - decay "
           f"rate of ||dL/dh_t||| has median {by_rate.median():.3g} and maximum {by_rate.max():.3g} per step, and "
           f"|bias slope - lambda_1| median {by_lam.median():.3g}, maximum {by_lam.max():.3g}. This agreement is "
           "a check of the code, not a theory test: the backward products of the same Jacobians share the forward "
           "ones' Lyapunov exponents. " if len(con) else "")
        + (f"Where it does not contract ({len(grow)} networks), the truncated gradient stays far from the full one: "
           f"the relative error at k2 = 1 is {grow.relerr_k2_1.min():.3g} to {grow.relerr_k2_1.max():.3g}, and it "
           "falls under 1% only at k2 = " + ", ".join(str(int(k)) if k > 0 else "never" for k in
                                                    sorted(set(grow.k2_for_1pct))) + " (k2 = T is full BPTT)."
           if len(grow) else "")
    )
    w.figure(figures.bias_vs_k2(bias), "bias_vs_k2", "Truncation bias against k2",
             "The relative error ||g_trunc - g_full|| / ||g_full|| of the whole parameter gradient under TBPTT(1, k2), "
             "per cell, one line per gain g (labelled where it falls), coloured by the measured regime. Dotted: "
             "exp(rate x k2) through the first point, with the rate the per-step decay of ||dL/dh_t|| measured on the "
             "same network, drawn only over the measured k2. Points at float64 round-off (below 1e-13) are not drawn.")
    w.table(df, "bias_rates", "Bias against the measured regime",
            "lambda_1 (per step; SE from the spread over the sequences) and the regime it gives; decay_rate: slope "
            "of log||dL/dh_t|| against distance; bias_slope: slope of log(relative error) against k2 where the error "
            "is between 1e-12 and 0.5 (NaN with fewer than 3 such points); k2_for_1pct: the smallest k2 measured "
            "with a relative error under 1% (-1: none).")


# -- cost -------------------------------------------------------------------------------------------

def _report_cost(cost, w):
    df = cost_frame(cost)
    T = int(df["T"].iloc[0])
    kmin = int(df["k"].min())
    smallest = df[df.k == kmin]
    trunc = df[df.k < T]
    w.text(
        "## Cost of streaming truncation\n\n"
        f"Time per update over a {T}-step sequence (float32, median of 5 interleaved rounds) and the largest tape "
        f"alive, for streaming TBPTT(k, k) (forward and backward k steps at a time). Memory falls in proportion "
        f"to k. Time does not: over k < T it is {trunc.time_vs_full.min():.2f} to {trunc.time_vs_full.max():.2f} of "
        f"full BPTT, and at k = {kmin} "
        + ", ".join(f"{r.cell} {r.time_vs_full:.2f}" for r in smallest.itertuples())
        + ". Every step is still computed forward and backward once; what can differ is the per-chunk overhead "
        "and how the tape sits in the caches (neither measured here). Timings are measurements of this machine (see provenance.json), not "
        "reproducible to the byte."
    )
    w.figure(figures.cost_vs_k(df), "cost_vs_k", "Cost of streaming TBPTT(k, k)",
             "Time per update relative to full BPTT (k = T) and the largest tape alive at once.")
    w.table(df, "cost", "Cost table", "One row per cell and k; k = T is full BPTT.")

