"""The report: tables, figures and prose from the stored results."""

from ..framework.report import FLOAT_FORMAT, atomic_write_text
from ..science import meanfield as mf
from .configs import SIZES
from .figures import decay_figure, fss_figure, lyapunov_figure, theory_figure
from .tables import (
    add_predictions,
    fmt_forget_bias,
    fss_fits,
    fss_points,
    identities,
    network_frame,
    pm,
    rounded,
    setting_frame,
    split,
    theory_rows,
    theory_summary,
    yes_no,
)
from .text import (
    ENSEMBLE_TEXT,
    FSS_POINTS_TEXT,
    IDENTITY_TEXT,
    QUICK_NOTE,
    REPRODUCTION_TEXT,
    THEORY_FIG_TEXT,
    THEORY_ROWS_TEXT,
    decay_free_text,
    decay_input_text,
    fss_text,
    identity_findings,
    intro,
    lyap_text,
    theory_findings,
)


def _summary_md(df):
    md = df.drop(columns=["kind"]).copy()
    # the ratio decides pass or fail: three digits, so 1.03 does not print as 1
    md["max |difference| / tolerance"] = md["max |difference| / tolerance"].map(lambda v: "" if v != v else f"{v:.3g}")
    md["failing"] = [f if len(f) < 400 else f[:400] + " ..." for f in md.failing]
    return md


def report(results, opts, w):
    S = SIZES[opts.mode]
    parts = split(results)
    nets = network_frame(parts["curve"])
    st = add_predictions(setting_frame(nets, parts["lyap"]), S["sigma_x"])
    gin = parts["ginibre"]
    points = fss_points(parts["lyap"])
    fits = fss_fits(points, S["sigma_x"])
    rows = theory_rows(st, gin)
    summary = theory_summary(rows, fits)
    ident = identities(nets)
    s2 = S["sigma_x"] ** 2
    edge = mf.tanh_edge(s2)

    w.text(intro(S, opts, nets, st, points, gin, edge) + (QUICK_NOTE if opts.quick else ""))
    w.table(summary, "theory_tests", "Theory tests: predictions made without the measurement",
            theory_findings(summary, rows, fits), md_df=_summary_md(summary), floatfmt=".2g")
    w.figure(theory_figure(rows, fits), "theory_tests", "Theory tests, comparison by comparison", THEORY_FIG_TEXT)
    w.table(ident, "identities", "Identities (code tests: they hold by construction)",
            IDENTITY_TEXT + " " + identity_findings(ident), md_df=_summary_md(ident), floatfmt=".2g")

    if len(points):
        fm = fits.copy()
        md = fm[["cell", "input", "g"]].copy()
        md["input"] = md.input.map(yes_no)
        md["lambda_inf ± SE"] = [pm(a, b) for a, b in zip(fm.lambda_inf, fm.lambda_inf_se, strict=True)]
        md["a ± SE"] = [pm(a, b) for a, b in zip(fm.a, fm.a_se, strict=True)]
        md["chi2/dof (a/H)"] = fm.chi2_dof.map(lambda v: f"{v:.2g}")
        md["chi2/dof (a/sqrt H)"] = fm.chi2_dof_sqrt_form.map(lambda v: f"{v:.2g}")
        md["mean field"] = fm.lambda_mf.map(lambda v: f"{v:.4f}")
        md["lambda_inf - MF"] = [rounded(a, b) for a, b in zip(fm.lambda_inf_minus_mf, fm.lambda_inf_se, strict=True)]
        md["tolerance 3 SE"] = fm.tolerance.map(lambda v: f"{v:.2g}")
        md["within"] = fm["pass"].map(yes_no)
        w.table(fm, "fss", "Finite-size scaling: lambda_1 extrapolated to H -> infinity against mean field",
                fss_text(fits, points, S), md_df=md)
        pmd = points[["cell", "input", "g", "H", "steps", "networks"]].copy()
        pmd["input"] = pmd.input.map(yes_no)
        pmd["lambda_1 mean ± SE"] = [pm(a, b) for a, b in zip(points.lambda1_mean, points.lambda1_se, strict=True)]
        pmd["SD across networks"] = points.lambda1_sd.map(lambda v: f"{v:.2g}")
        pmd["within-run SE (mean)"] = points.within_run_se_mean.map(lambda v: f"{v:.2g}")
        w.table(points, "fss_points", "Finite-size runs: lambda_1 at each H", FSS_POINTS_TEXT, md_df=pmd)
        w.figure(fss_figure(points, fits), "fss", "Finite-size scaling of lambda_1",
                 "lambda_1 against 1/H, mean ± SE over the networks at each size; the line is the weighted fit "
                 "lambda_inf + a/H, the hollow square its intercept ± SE, the star mean field's H -> infinity value.")

    # the theory lines cost ~20 ms a point for the gated cells: 4 points suffice where nothing is tested
    w.figure(lyapunov_figure(st, S, points=30 if not opts.quick else 4), "lyapunov_vs_g",
             "Largest Lyapunov exponent against g (ensembles)", lyap_text(st, edge, s2))
    w.figure(decay_figure(parts["curve"], parts["relu_free"], False, S), "decay_no_input",
             "Gradient norm against distance, no input", decay_free_text(nets, st, parts["relu_free"], S))
    w.figure(decay_figure(parts["curve"], parts["relu_free"], True, S), "decay_input",
             "Gradient norm against distance, with input drive", decay_input_text(nets, st, S, edge))

    md = st[["cell", "init", "g", "forget_bias", "input", "H", "networks"]].copy()
    md["forget_bias"] = md.forget_bias.map(fmt_forget_bias)
    md["input"] = md.input.map(yes_no)
    md["lambda_1 mean ± SE"] = [pm(a, b) for a, b in zip(st.lambda1_mean, st.lambda1_se, strict=True)]
    md["SD"] = st.lambda1_sd.map(lambda v: f"{v:.2g}")
    md["gradient rate mean ± SE"] = [pm(a, b) for a, b in zip(st.rate_mean, st.rate_se, strict=True)]
    md["within-run SE (diagnostic)"] = st.within_run_se_mean.map(lambda v: f"{v:.1g}")
    md["lambda_1 at H/2"] = [pm(a, b) for a, b in zip(st.lambda1_half_mean, st.lambda1_half_se, strict=True)]
    md["finite-size term"] = st.finite_size_term.map(lambda v: "" if v != v else f"{v:.2g}")
    md["theory"] = [f"{a:.4f}" if a == a else (f"{b:.4f} (tied) / {c:.4f} (ann.)" if b == b else "")
                    for a, b, c in zip(st.lambda_mf, st.lambda_tied, st.lambda_annealed, strict=True)]
    md["quiescent"] = [f"{q}/{n}" for q, n in zip(st.quiescent_networks, st.networks, strict=True)]
    w.table(st, "ensembles", "Every setting: the ensemble's statistics", ENSEMBLE_TEXT.format(n=S["networks"]),
            md_df=md)

    tmd = rows[["test", "label", "H", "networks", "prediction"]].copy()
    tmd["lambda_1 mean ± SE"] = [pm(a, b) for a, b in zip(rows.lambda1_mean, rows.lambda1_se, strict=True)]
    tmd["deviation"] = [rounded(a, b) for a, b in zip(rows.deviation, rows.lambda1_se, strict=True)]
    tmd["tolerance"] = rows.tolerance.map(lambda v: f"{v:.2g}")
    tmd["within"] = rows["pass"].map(yes_no)
    tmd["prediction"] = tmd.prediction.map(lambda v: f"{v:.4f}")
    w.table(rows, "theory_rows", "Every theory comparison", THEORY_ROWS_TEXT, md_df=tmd)

    # One row per network: the CSV only (a thousand rows), linked from the text.
    atomic_write_text(w.out / "networks.csv", nets.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
    w.files.append("networks.csv")
    w.text(REPRODUCTION_TEXT)
