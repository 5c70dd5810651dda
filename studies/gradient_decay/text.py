"""The report's prose: every number in it is computed from the tables of the run."""

import math

import numpy as np

from .configs import IDENTITY_TOL, RULES
from .tables import pm, select_row


def _fmt_list(items):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def intro(S, opts, nets, st, points, gin, edge):
    n = S["networks"]
    gated = _fmt_list(f"{c}" + ("" if bf is None else f" (b_f = {bf:g})") for c, bf in S["gated"])
    fss = _fmt_list(f"{c} {'driven' if i else 'undriven'} at g = {', '.join(f'{g:g}' for g in gs)}"
                    for c, i, gs in S["fss"])
    cmd = f" --{opts.mode}" if opts.quick else ""
    se_ratio = st.lambda1_sd / st.within_run_se_mean
    se_ratio = se_ratio[np.isfinite(se_ratio) & (st.within_run_se_mean > 1e-6)]
    ratio = (f" Across the settings whose runs fluctuate (within-run SE > 1e-6), the SD across networks is a median "
             f"{np.median(se_ratio):.2g} times the within-run SE of one network's lambda_1, which is why the "
             f"statistics are taken across networks.") if len(se_ratio) else ""
    return f"""\
How fast does the gradient of a loss at the last step fade, or blow up, as it travels back through time, and
does a theory computed without the measurement predict the rate? Each **network** is a one-layer RNN that runs
{S['burn']} burn-in steps and then a window of T = {S['T']} steps; the loss gradient dL/dh_(T-1) is a random
unit vector and the kernels' backward pass in `log_norms` mode (renormalized in float64 every step) gives
log||dL/dh_t|| at every distance d = T-1-t. Its **rate** is the least-squares slope over d in [{S['fit_lo']},
T-1]. **lambda_1**, the largest Lyapunov exponent of the forward map along the same inputs, comes from one
tangent vector propagated with Jacobian-vector products (`studies/science/jvp.py`) and renormalized every
step, averaged after {S['lyap_skip']} steps. (Full Lyapunov spectra are the lyapunov study's:
`reports/lyapunov/`.)

**Ensembles.** Every setting (cell, W_hh initialization and gain g, LSTM forget-gate bias b_f, with or
without input) is run on **{n} independent networks**: each has its own W_hh, W_ih, initial state, drive
and tangent vector, from a seed the framework derives from the run's seed and the network's key. The tables
give the mean, the SD across networks and the standard error of the mean (SD/sqrt({n})); the within-run
(batch-means) SE of each network's lambda_1 is kept as a diagnostic column only.{ratio} There are
{len(st)} settings and {len(nets)} networks; H = {S['H_elman']} for rnn_tanh and rnn_relu, {S['H_gated']}
for the gated cells. W_hh is Gaussian N(0, g^2/H) per gate block, g times a Haar orthogonal matrix (rnn_tanh
only), or the identity (IRNN). All biases are 0 except b_f. Input: x_t ~ N(0, {S['sigma_x']:g}^2 I) with one
orthonormal-row W_ih block per gate, so each pre-activation's input term is exactly N(0, {S['sigma_x'] ** 2:g}).
Gated cells in the ensembles: {gated}.

**Finite-size scaling.** lambda_1 alone (one tangent vector) of random Gaussian {fss}, at
H = {', '.join(str(h) for h in S['fss_H'])} with {n} networks at each H and
{', '.join(str(t) for t in S['fss_steps'])} steps respectively ({S['fss_burn']} burn-in, {S['fss_skip']}
steps of tangent alignment): fewer at large H, where the spread across networks shrinks (table below).

**What was cut for the budget** (breadth, never the number of networks): six g values per cell, T =
{S['T']} (the ensemble carries the statistics), the gated variants listed above (not lstm_peephole, whose mean field is the
plain LSTM's, nor lstm_cifg at b_f = 0), orthogonal W_hh for rnn_tanh only, ReLU only driven below g = sqrt 2 (undriven it has
no stationary state, shown in the decay figure), and one Lyapunov exponent.

**Rules, stated before any comparison.** Two kinds of check, kept apart:

- *Identities* (code tests) hold by construction whatever any theory says: the gradient rate against
  lambda_1 of the same network (backpropagation multiplies by the transposes of the Jacobians whose products
  the tangent vector follows, so both estimate one number), the rate at the zero fixed point against
  ln rho(J*) and the IRNN's rate against 0 (linear algebra), and Pascanu, Mikolov & Bengio's bound (a
  theorem). Tolerances: max({IDENTITY_TOL['lyapunov_floor']:g}, 5 sqrt2 within-run SE) for the first (two
  finite-time estimates, each with that SE; the floor is the fit's O(1/T) transient), {IDENTITY_TOL['linear']:g}
  (the fit's transient) for the linear rows, 1e-9 per unit of |log norm| (rounding) for the bound.
- *Theory tests* compare the ensemble mean of lambda_1 with a prediction computed from the setting's
  parameters alone: **mean field** for rnn_tanh and rnn_relu (lambda = (1/2) ln chi, Molgedey, Schuchhardt &
  Schuster 1992; Poole et al. 2016; edge of chaos at g = 1 undriven, g = {edge:.3f} driven), which is an H ->
  infinity theory and is tested twice: at H -> infinity through the finite-size extrapolation, and at the
  ensembles' H; the **finite-H circular law** for the undriven Gaussian tanh networks that mean field puts at
  the zero state (g <= 1), whose rate is then ln rho(W_hh): ln g plus the mean of ln(rho(W)/g) over
  {gin.size} independently sampled Gaussian matrices of the same size; and the **gated-cell mean field** of
  `studies/science/gated_meanfield.py` (docs/gated_meanfield.md) for the LSTMs and GRUs, in its tied form (one
  W_hh for all steps, as in these networks) and its annealed form (W_hh redrawn every step).
  **Tolerance rule**: |mean - prediction| <= {RULES['k_se']:g} SE(mean) + the measured finite-size term
  |mean_H - mean_(H/2)| + {RULES['k_fs']:g} SE(mean_H - mean_(H/2)), from the same setting run again on {n}
  networks at half the size (a correction a/H extrapolated from H/2 and H moves the mean by exactly
  mean_H - mean_(H/2)). The extrapolation is tested with {RULES['k_se']:g} SE(lambda_inf) of its fit. For
  the circular law: {RULES['k_se']:g} sqrt(SE^2 + SE_sample^2). No other constant enters a tolerance.

All numbers come from `python -m bpttlab.studies.gradient_decay{cmd}` (seed 0).
"""


QUICK_NOTE = """
*This is a `--quick` run (small H, short T, 3 networks per setting). It exercises every code path but is not
sized to test anything; the committed full report is in reports/gradient_decay/.*
"""


def theory_findings(summary, rows, fits):
    tot = int(summary.n.sum())
    bad = int(summary.failures.sum())
    lines = [f"{tot} comparisons in {len(summary)} tests; **{bad} fail** their stated tolerance. Each row: how many "
             "comparisons, the largest |measured - predicted|, the rule, the largest ratio of the difference to its "
             "tolerance, the failures and which they are."]
    for r in summary.to_dict("records"):
        if r["n"] == 0:
            continue
        verdict = "all within" if r["failures"] == 0 else f"{r['failures']} of {r['n']} fail"
        lines.append(f"*{r['check']}*: {verdict} (largest deviation {r['max |measured - predicted|']:.2g}).")
    gated = rows[rows.test.str.startswith("gated mean field (tied)")] if len(rows) else rows
    if len(gated):
        ok = gated[gated["pass"]]
        lines.append(f"The tied gated-cell mean field holds in {len(ok)} of {len(gated)} gated settings.")
        for drive, name in ((True, "driven"), (False, "undriven")):
            s = gated[gated.input == drive]
            if not len(s):
                continue
            fail = s[~s["pass"]]
            text = f"{name.capitalize()}: {len(s) - len(fail)} of {len(s)} within"
            if len(fail):
                lo = fail.prediction.min()
                below = s[s.prediction < lo]
                text += (f"; the smallest predicted lambda among the failures is {lo:.3f}, and all {len(below)} "
                         "settings predicted below it are within" if len(below) else "")
            lines.append(text + ".")
    if len(rows):
        by_fs = rows[rows["pass"] & (rows.deviation.abs() > 3 * rows.lambda1_se)]
        if len(by_fs):
            lines.append(f"{len(by_fs)} of the passing comparisons pass only through the finite-size term (their "
                         f"deviation exceeds 3 SE): {'; '.join(by_fs.label)}.")
    ann = rows[rows.test.str.startswith("gated mean field (annealed)")] if len(rows) else rows
    if len(ann):
        low = int((ann.deviation > 0).sum())
        lines.append(f"The annealed theory lies below the measured mean in {low} of {len(ann)} settings "
                     f"(median deviation {ann.deviation.median():.3f}).")
    return " ".join(lines)


def identity_findings(ident):
    bad = int(ident.failures.sum())
    return (f"{int(ident.n.sum())} checks, {bad} failing: the rows name them." if bad else
            f"All {int(ident.n.sum())} checks hold: the kernels, the JVPs and the fit agree with each other.")


IDENTITY_TEXT = """\
These rows cannot test any theory: they hold by construction (same Jacobians transposed, linear algebra at
a fixed point, a theorem). A failure would mean a bug in the kernels' backward pass, the JVPs or the fit.
One row per check over every network of the ensembles.
"""

THEORY_FIG_TEXT = """\
Each point is one comparison (a setting's ensemble mean, or one finite-size extrapolation), its deviation
from the prediction divided by its tolerance; inside the shaded band (green) it passes, outside (red) it fails.
"""

THEORY_ROWS_TEXT = """\
One row per setting and theory: the prediction (from the parameters alone), the ensemble mean ± SE of
lambda_1 at H, the tolerance from the rule above and whether the mean is within it. theory_rows.csv adds the
finite-size term and the half-size mean.
"""

ENSEMBLE_TEXT = """\
Every setting's {n} networks: lambda_1 (mean ± SE, and the SD across networks), the gradient rate (mean ±
SE), the within-run SE of lambda_1 averaged over the networks (a diagnostic: it says how well one run pins
its own network's exponent, not how much networks differ), lambda_1 at half the size and the finite-size
term, the theory's prediction (mean field for the Elman cells; tied / annealed mean field for the gated
ones), and how many networks sat at the zero state. ensembles.csv has every column; networks.csv has one
row per network (rate, lambda_1, the within-run errors, the Pascanu columns, the measured q and chi).
"""

FSS_POINTS_TEXT = """\
The finite-size runs: at each H the mean ± SE of lambda_1 over the networks, the SD across networks and the
mean within-run SE. The step counts shrink with H because the networks' spread does.
"""

REPRODUCTION_TEXT = """\
### Reproduction

Every configuration is self-seeded and runs on one Numba thread, and the report is regenerated with a
private, empty Numba cache per process (`--private-cache`), so on one machine (the same CPU
microarchitecture, the same numba/llvmlite/numpy) a rerun reproduces every table bit for bit; the test suite
checks this for the quick mode. What another CPU generation changes was measured on this machine by
compiling for another target: the quick mode regenerated with `NUMBA_CPU_NAME=x86-64-v3` and compared with
the host's (`python -m bpttlab.studies.regenerate --compare`, output in
[cross_cpu_quick.txt](cross_cpu_quick.txt)). There lambda_1 (the JVP loop) and the forward trajectories came
out bit for bit the same, and only the columns that come from the kernels' backward pass (the gradient rates,
their fits, the final norms) moved, in the last 1-2 digits. A CPU whose forward kernels round differently
(e.g. AVX-512 on znver4, as the audit of the previous report found) makes the chaotic networks' trajectories
part after some tens of steps: then every measured number (lambda_1, the rates, their means, SDs and SEs, the
fits) changes within its statistical error, a verdict that sits near its tolerance can flip, and only the
predictions (mean field, tied and annealed), the exact zero-fixed-point and orthogonal rates and the rules
stay fixed to rounding. The Study's `reproduce=` tolerances (studies/gradient_decay/study.py) say this per
column: exact on one machine; across CPUs, 5 of the largest standard errors of the column's kind for the
measured numbers, to rounding for the predictions, and the pass/fail columns not compared.
"""


def fss_text(fits, points, S):
    if not len(fits):
        return "No finite-size fits in this run."
    n_ok = int(fits["pass"].sum())
    lines = [f"Weighted least squares of the mean lambda_1 at the {len(S['fss_H'])} sizes against 1/H, "
             "lambda_1(H) = lambda_inf + a/H, with the SEs scaled by sqrt(chi^2/dof) where that exceeds 1. "
             f"lambda_inf agrees with mean field within 3 SE(lambda_inf) in {n_ok} of {len(fits)} settings."]
    better = int((fits.chi2_dof <= fits.chi2_dof_sqrt_form).sum())
    lines.append(f"The 1/H form fits at least as well as a/sqrt(H) (smaller chi^2/dof) in {better} of {len(fits)} "
                 f"settings; median chi^2/dof {fits.chi2_dof.median():.2g} (1/H) against "
                 f"{fits.chi2_dof_sqrt_form.median():.2g} (1/sqrt H).")
    for r in fits[~fits["pass"]].itertuples():
        lines.append(f"Fails: {r.cell} g = {r.g:g} {'driven' if r.input else 'undriven'}: lambda_inf = "
                     f"{pm(r.lambda_inf, r.lambda_inf_se)} against mean field {r.lambda_mf:.4f}.")
    if len(points):
        hs = sorted(set(points.H))
        sd_lo = points[points.H == hs[0]].lambda1_sd.median()
        sd_hi = points[points.H == hs[-1]].lambda1_sd.median()
        lines.append(f"The SD across networks falls from a median {sd_lo:.2g} at H = {hs[0]} to {sd_hi:.2g} at "
                     f"H = {hs[-1]} (self-averaging), which is what lets the large sizes run fewer steps.")
    return " ".join(lines)


def lyap_text(st, edge, s2):
    lines = ["lambda_1 against g: the mean over each setting's networks with the SD across them as error bars, and "
             f"the H -> infinity theories: mean field for the Elman cells (edges of chaos dotted: g = 1 undriven, "
             f"g = {edge:.3f} with sigma_in^2 = {s2:g}), the tied (solid) and annealed (dotted) gated-cell mean "
             "field for the LSTMs and GRUs."]
    tanh = st[(st.cell == "rnn_tanh") & (st.init == "gaussian") & st.input]
    if len(tanh):
        neg, pos = tanh[tanh.lambda1_mean + 3 * tanh.lambda1_se < 0].g, tanh[tanh.lambda1_mean - 3 * tanh.lambda1_se > 0].g
        if len(neg) and len(pos) and neg.max() < pos.min():
            lines.append(f"The driven Gaussian tanh networks' mean lambda_1 is more than 3 SE below 0 up to g = "
                         f"{neg.max():g} and more than 3 SE above from g = {pos.min():g}; mean field's edge is "
                         f"{edge:.3f}.")
    return " ".join(lines)


def decay_free_text(nets, st, relu_free, S):
    free = nets[~nets.input]
    lines = ["log10||dL/dh_t|| against the distance from the loss without input, the first network of each "
             "setting (color: g; LSTM: solid b_f = 1, dashed b_f = 0), with the predicted rate drawn as a thin dashed "
             "line of the same color from the curve's start."]
    if len(free):
        low = free.loc[free.final_log10_norm.idxmin()]
        lines.append(f"The norms fall by up to {-low.final_log10_norm:.0f} orders of magnitude by d = {S['T'] - 1} "
                     f"({low.cell}, {low.init}, g = {low.g:g}); float64 alone stops at 10^-308 (10^-324 with "
                     "subnormals), so only the renormalized backward pass measures them.")
    grow = free[(free.cell == "rnn_tanh") & (free.init == "gaussian")]
    if len(grow):
        s = grow.groupby("g").rate.mean()
        pos = s[s > 0]
        if len(pos):
            lines.append(f"The undriven Gaussian tanh networks' mean rate is positive from g = {pos.index.min():g}: "
                         "the gradient grows exponentially with distance (chaos).")
    ident = select_row(st[~st.input], init="identity")
    if ident is not None:
        lines.append(f"The IRNN (W_hh = I, no input) keeps its gradient norm: rate {pm(ident.rate_mean, ident.rate_se)} "
                     "over its networks.")
    if relu_free:
        rates = {}
        for c, r in relu_free:
            rates.setdefault(c["g"], []).append(r["state_rate"])
        parts = []
        for g, v in sorted(rates.items()):
            v = np.array(v)
            fin = v[np.isfinite(v)]
            m = fin.mean() if fin.size else -math.inf
            se = fin.std(ddof=1) / math.sqrt(fin.size) if fin.size > 1 else math.nan
            if m < 0:
                fate = f"underflows to the dead state h = 0 after about {708 / -m:.0f} steps"
            else:
                fate = f"overflows after about {709 / m:.0f} steps"
            parts.append(f"g = {g:g}: {pm(m, se)} per step (mean field ln(g/sqrt 2) = {math.log(g / math.sqrt(2)):.3f}), "
                         f"so a float64 state {fate}")
        lines.append("The Gaussian ReLU networks have no stationary regime without input, so no gradient curve is "
                     "drawn for them; the dotted lines are their state norms ||h_t|| (the map is positively "
                     "homogeneous, so the norm is tracked exactly past float64's range). Their growth rates, mean ± SE "
                     "over the networks, with mean field's rate of the root-mean-square pre-activation: "
                     + "; ".join(parts) + ".")
    return " ".join(lines)


def decay_input_text(nets, st, S, edge):
    lines = [f"The same with input drive x_t ~ N(0, {S['sigma_x']:g}^2 I) (sigma_in^2 = {S['sigma_x'] ** 2:g})."]
    keys = ["cell", "init", "g", "forget_bias"]
    a = st[~st.input].copy()
    b = st[st.input].copy()
    for x in (a, b):
        x["forget_bias"] = x.forget_bias.fillna(-1)
    p = a.merge(b, on=keys, suffixes=("_free", "_input"))
    p = p[p.init != "identity"]
    if len(p):
        d = p.lambda1_mean_input - p.lambda1_mean_free
        se = np.hypot(p.lambda1_se_input, p.lambda1_se_free)
        lower = int((d < -3 * se).sum())
        higher = int((d > 3 * se).sum())
        lines.append(f"Of the {len(p)} settings run both ways, drive lowered the mean lambda_1 by more than 3 SE in "
                     f"{lower}, raised it in {higher}, and left it within 3 SE in {len(p) - lower - higher}.")
    ident = select_row(st[st.input], init="identity")
    if ident is not None:
        lines.append(f"The driven IRNN's fitted exponential rate is {pm(ident.rate_mean, ident.rate_se)} per step "
                     "(mean ± SE over its networks); no other form (the previous report's power law) is fitted or claimed.")
    return " ".join(lines)
