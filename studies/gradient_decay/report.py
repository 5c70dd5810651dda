"""The report: figures, tables and prose from the stored results."""

import math

import numpy as np

from ..science import meanfield as mf
from .configs import ELMAN, SIZES, TOL
from .figures import agreement_figure, decay_figure, lyapunov_figure, spectrum_figure
from .tables import agreement, fmt_forget_bias, frame, split, yes_no
from .text import (
    AGREEMENT_FIG_TEXT,
    AGREEMENT_TEXT,
    INTRO,
    LINEAR_TEXT,
    LYAP_TEXT,
    QUICK_NOTE,
    RATES_TEXT,
    decay_free_text,
    decay_input_text,
    lyap_agreement,
    meanfield_text,
    pascanu_text,
    spectrum_text,
)


def report(results, opts, w):
    S = SIZES[opts.mode]
    curves, gin = split(results)
    df = frame(curves)
    s2 = S["sigma_x"] ** 2
    edge = mf.tanh_edge(s2)
    tol_gin = float(np.quantile(gin, TOL["ginibre_quantile"])) if gin.size else math.nan
    se = df.lambda1_stderr[df.lambda1_stderr > 0]
    w.text(INTRO.format(T=S["T"], He=S["H_elman"], Hg=S["H_gated"], burn=S["burn"], lo=S["fit_lo"], k=S["lyap_k"],
                        skip=S["lyap_skip"], sx=S["sigma_x"], s2=s2, edge=edge, n=len(df), tlf=TOL["lyapunov_floor"],
                        se_hi=se.max() if len(se) else math.nan,
                        tlin=TOL["linear"], tmf=TOL["mean-field"], gin_n=gin.size,
                        gin_mean=gin.mean() if gin.size else math.nan, gin_sd=gin.std() if gin.size else math.nan,
                        gin_q=tol_gin, cmd=f" --{opts.mode}" if opts.quick else "")
           + (QUICK_NOTE if opts.quick else ""))

    summary = agreement(df, tol_gin)
    w.table(summary, "agreement", "Measured against theory: summary", AGREEMENT_TEXT, floatfmt=".3g")
    w.figure(decay_figure(curves, False, S), "decay_no_input", "Gradient norm against distance, no input",
             decay_free_text(df, S))
    w.figure(decay_figure(curves, True, S), "decay_input", "Gradient norm against distance, with input drive",
             decay_input_text(df, S, edge))
    w.figure(lyapunov_figure(df, S), "lyapunov_vs_g", "Largest Lyapunov exponent against g",
             LYAP_TEXT.format(edge=edge, s2=s2, agree=lyap_agreement(df)))
    w.figure(spectrum_figure(curves), "lyapunov_spectrum", "Leading Lyapunov spectrum (rnn_tanh)",
             spectrum_text(df, S))
    w.figure(agreement_figure(df, tol_gin), "agreement", "Measured minus predicted", AGREEMENT_FIG_TEXT)

    md = df[["cell", "init", "g", "forget_bias", "input", "rate", "timescale", "lambda1", "rate_minus_lambda1",
             "theory", "predicted", "rate_minus_predicted"]].copy()
    md["forget_bias"] = md.forget_bias.map(fmt_forget_bias)
    md["input"] = md.input.map(yes_no)
    md.columns = ["cell", "W_hh", "g", "b_f", "input", "rate", "timescale", "lambda_1", "rate - lambda_1", "theory",
                  "predicted", "rate - predicted"]
    w.table(df, "rates", "Decay rates, timescales and theory (every configuration)",
            RATES_TEXT.format(lo=S["fit_lo"], hi=S["T"] - 1), md_df=md)

    el = df[df.cell.isin(ELMAN) & (df.init != "identity")]
    if len(el):
        mm = el[["cell", "init", "g", "input", "quiescent", "q_star", "q_meas", "lambda_mf", "lambda1", "rate"]].copy()
        mm["input"] = mm.input.map(yes_no)
        mm["quiescent"] = mm.quiescent.map(yes_no)
        mm["half_ln_chi_meas"] = 0.5 * np.log(el.chi_meas)
        mm["d1"] = el.lambda1 - el.lambda_mf
        mm["d2"] = el.rate - el.lambda_mf
        mm.columns = ["cell", "W_hh", "g", "input", "quiescent", "q* (MF)", "q (measured)", "lambda_MF", "lambda_1",
                      "rate", "1/2 ln chi (measured a)", "lambda_1 - MF", "rate - MF"]
        w.table(mm, "meanfield", "Mean-field theory against the Elman networks",
                meanfield_text(df, S, s2), floatfmt=".4g")

    free = df[~df.input & (df.init != "identity")]
    lm = free[["cell", "init", "g", "forget_bias", "quiescent", "max_abs_h", "log_rho_J0", "rate", "lambda1"]].copy()
    lm["forget_bias"] = lm.forget_bias.map(fmt_forget_bias)
    lm["quiescent"] = lm.quiescent.map(yes_no)
    lm["d"] = np.where(free.quiescent, free.rate - free.log_rho_J0, math.nan)
    lm.columns = ["cell", "W_hh", "g", "b_f", "quiescent", "max |h_t|", "ln rho(J*)", "rate", "lambda_1",
                  "rate - ln rho(J*)"]
    w.table(lm, "linear", "Linear regime: the zero fixed point", LINEAR_TEXT)

    elman = df[df.cell.isin(ELMAN)]
    if len(elman):
        pm = elman[["cell", "init", "g", "input", "sigma_max", "log_rho_W", "pascanu_rate", "rate",
                    "pascanu_max_step_excess", "pascanu_max_path_excess", "pascanu_violations"]].copy()
        pm["input"] = pm.input.map(yes_no)
        pm.columns = ["cell", "W_hh", "g", "input", "sigma_max(W_hh)", "ln rho(W_hh)", "bound ln(gamma sigma_max)",
                      "rate", "max step excess", "max path excess", "violations"]
        w.table(pm, "pascanu", "Pascanu, Mikolov & Bengio's bound, checked along every curve", pascanu_text(df),
                floatfmt=".4g")
