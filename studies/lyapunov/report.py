"""The report: every sentence with a number is computed from the tables below it."""

import math

import numpy as np
import pandas as pd

from ..framework.report import FLOAT_FORMAT, atomic_write_text
from .configs import OTHER_CPU_ATOL, SIZES, Z
from .figures import collapse_figure, measures_figure, spectra_by_g_figure, theory_figure
from .tables import (
    SUMMARY_COLUMNS,
    identities,
    networks,
    per_configuration,
    spectra,
    spectrum_tests,
    theory_tests,
)

QUICK_NOTE = ("\n\n*Quick/tiny mode: tiny networks and runs, every code path exercised; no number here means "
              "anything. The full report is `python -m bpttlab.studies.lyapunov`.*")


def _write_csv(w, df, name):
    atomic_write_text(w.out / f"{name}.csv", df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
    w.files.append(f"{name}.csv")


def _f(x, fmt=".3g"):
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def collapse_table(sp):
    """Spectrum at the largest H against the next smaller one, on the largest H's i/S grid."""
    rows = []
    for (cell, g, v), sub in sp.groupby(["cell", "g", "input_variance"], sort=True):
        Hs = sorted(sub.H.unique())
        if len(Hs) < 2:
            continue
        big, small = Hs[-1], Hs[-2]

        def mean_spec(H, sub=sub):
            s = sub[sub.H == H]
            mat = np.vstack([t.exponent.to_numpy() for _, t in s.groupby("seed", sort=True)])
            x = s[s.seed == s.seed.iloc[0]].i_over_S.to_numpy()
            return x, mat.mean(axis=0), mat.std(axis=0, ddof=1) if mat.shape[0] > 1 else np.zeros(mat.shape[1])

        xb, mb, sdb = mean_spec(big)
        xs, ms, _ = mean_spec(small)
        diff = mb - np.interp(xb, xs, ms)
        rows.append({"cell": cell, "g": g, "input_variance": v, "H_small": small, "H_large": big,
                     "rms_difference": float(np.sqrt(np.mean(diff**2))), "max_abs_difference": float(np.abs(diff).max()),
                     "spectrum_range": float(mb.max() - mb.min()), "median_sd_across_networks": float(np.median(sdb))})
    return pd.DataFrame(rows)


def drive_table(summary):
    """Driven minus undriven at the largest H of each cell, with the SE of the difference."""
    rows = []
    for (cell, g), sub in summary.groupby(["cell", "g"], sort=True):
        s = sub[sub.H == sub.H.max()]
        base = s[s.input_variance == 0.0]
        for v in sorted(s.input_variance.unique()):
            if v == 0.0 or base.empty:
                continue
            d = s[s.input_variance == v]
            row = {"cell": cell, "H": int(s.H.max()), "g": g, "input_variance": v}
            for col in ("ky_dimension_per_unit", "entropy_rate_per_unit", "lambda_max"):
                row[f"d_{col}"] = float(d[f"{col}_mean"].iloc[0] - base[f"{col}_mean"].iloc[0])
                row[f"d_{col}_se"] = float(math.hypot(d[f"{col}_se"].iloc[0], base[f"{col}_se"].iloc[0]))
            rows.append(row)
    return pd.DataFrame(rows)


def published_table(summary, col, drive, st):
    """Engelken, Wolf & Abbott's qualitative claims (the abstract of arXiv:2006.02427, published as Phys. Rev.
    Research 5, 043044 (2023)) against this study's measurements. They state no discrete-time number in the
    text available here, so only the claims are compared; the quantities are named exactly."""
    rows = []
    col = col[col.cell == "rnn_tanh"]  # the claim is about random tanh (rate) networks
    if not col.empty:
        worst = col.loc[col.rms_difference.idxmax()]
        rows.append({"claim (source)": "chaos is extensive: the Lyapunov spectrum against i/N is size-invariant "
                     "(Engelken, Wolf & Abbott 2023; continuous-time and discrete-time rate networks)",
                     "quantity compared here": "RMS over i/S of mean spectrum(H_large) - mean spectrum(H_small), "
                     "per step, discrete-time map",
                     "this study": f"largest RMS {_f(worst.rms_difference)} ({worst.cell}, g = {worst.g:g}, input var "
                     f"{worst.input_variance:g}, H {int(worst.H_small)} vs {int(worst.H_large)}) against a spectrum "
                     f"range of {_f(worst.spectrum_range)}"})
    tanh = summary[(summary.cell == "rnn_tanh") & (summary.input_variance == 0.0)]
    if not tanh.empty:
        t = tanh[tanh.H == tanh.H.max()].sort_values("g")
        last = len(t) - 1

        def edge(i):
            return " (the largest g sampled: no fall seen)" if i == last else ""

        k = int(np.argmax(t.ky_dimension_per_unit_mean.to_numpy()))
        e = int(np.argmax(t.entropy_rate_per_unit_mean.to_numpy()))
        rows.append({"claim (source)": "attractor dimension and entropy rate rise with g near the onset of chaos and "
                     "fall far from it (Engelken, Wolf & Abbott 2023)",
                     "quantity compared here": "D_KY / H and (sum of positive exponents) / H of the undriven rnn_tanh "
                     f"at H = {int(t.H.max())}, g in {', '.join(f'{g:g}' for g in t.g)}",
                     "this study": f"D_KY/H largest at g = {t.g.iloc[k]:g}{edge(k)}, entropy rate/H largest at g = "
                     f"{t.g.iloc[e]:g}{edge(e)}"})
    if not drive.empty:
        d = drive[drive.cell == "rnn_tanh"]
        lower = int(np.sum(d.d_entropy_rate_per_unit < -Z * d.d_entropy_rate_per_unit_se))
        lower_ky = int(np.sum(d.d_ky_dimension_per_unit < -Z * d.d_ky_dimension_per_unit_se))
        rows.append({"claim (source)": "temporally fluctuating input reduces the entropy rate and the attractor "
                     "dimension (Engelken, Wolf & Abbott 2023)",
                     "quantity compared here": "driven minus undriven D_KY/H and entropy rate/H, rnn_tanh, largest H",
                     "this study": f"entropy rate lower by more than {Z:g} SE in {lower} of {len(d)} gains, D_KY/H in "
                     f"{lower_ky} of {len(d)}"})
    if not st.empty:
        rows.append({"claim (source)": "for discrete-time dynamics random matrix theory gives good analytical "
                     "approximations to the full Lyapunov spectrum (Engelken, Wolf & Abbott 2023)",
                     "quantity compared here": "every exponent of the mean rnn_tanh spectrum at the largest H against "
                     "the annealed random-matrix spectrum with mean field's q* (theory.tanh_spectrum)",
                     "this study": f"RMS deviation {_f(st.rms_deviation.min())} to {_f(st.rms_deviation.max())} per "
                     f"step over spectra {_f(st.spectrum_range.min())} to {_f(st.spectrum_range.max())} wide; "
                     f"{_f(st.fraction_within_rule.min())} to {_f(st.fraction_within_rule.max())} of the exponents "
                     "within the rule (table above)"})
    rows.append({"claim (source)": "largest exponent of the discrete-time random tanh map = (1/2) ln chi in the "
                 "large-network limit (Molgedey, Schuchhardt & Schuster 1992)",
                 "quantity compared here": "lambda_max per step (discrete time)",
                 "this study": "the theory test lambda_max vs mean field above"})
    return pd.DataFrame(rows)


def report(results, opts, w):
    S = SIZES[opts.mode]
    df = networks(results)
    sp = spectra(results)
    summary = per_configuration(df)
    n_net = S["networks"]
    sizes = "; ".join(f"{c}: H = {', '.join(str(h) for h in hs)}" for c, hs in S["H"].items() if c in set(df.cell))
    gains = "; ".join(f"{c}: g = {', '.join(f'{g:g}' for g in gs)}" for c, gs in S["g"].items() if c in set(df.cell))
    w.text(
        "All Lyapunov exponents of random recurrent networks, the map s_t = F(s_(t-1), x_t) of one layer: the "
        "Elman tanh network h_t = tanh(W h_(t-1) + W_ih x_t) and the LSTM and GRU cells (biases 0, forget-gate "
        "bias 0). Every gate block of W_hh has i.i.d. N(0, g^2/H) entries; W_ih is one orthonormal-row H x H block "
        "per gate, so with x_t ~ N(0, v I) every pre-activation gets an independent N(0, v) drive (v = input "
        "variance; v = 0: no input). "
        f"Sizes: {sizes}. Gains: {gains}. Input variances: {', '.join(f'{v:g}' for v in S['input_variance'])}. "
        f"{n_net} independent networks (W_hh, W_ih, initial state and drive all redrawn) per configuration, "
        f"{len(df)} networks in all. Each runs {S['burn']} burn-in steps, then {S['skip'] + S['steps']} steps with "
        f"S tangent vectors (S = state size: H, or 2H for the LSTM), the first {S['skip']} left out of the "
        f"averages (alignment with the Oseledets directions): exponents are averages over {S['steps']} steps, natural "
        "log per step.\n\n"
        "**Method.** The trajectory is the kernels' training forward pass on the chosen backend (`--backend cuda` "
        "runs it on the GPU); its stored states are re-read at every step, the tangent step J_t V is computed "
        "from them in float64 (studies/lyapunov/spectra.py; the gated cells through "
        "studies/science/cell_equations.py) and V (S x S) is re-orthonormalized by a Householder QR after every "
        "step: numba's np.linalg.qr, i.e. LAPACK dgeqrf + dorgqr, the blocked BLAS-3 forms, with W V a BLAS "
        "product. The QR runs on the rows sorted by decreasing norm (R is the same in exact arithmetic): once units "
        "saturate, J_t V is graded by rows over many orders of magnitude, and without the sort Householder QR "
        "loses the smallest R_ii (the identity below then fails by far more than rounding at g = 5). The QR stays every step: the spread of a spectrum lambda_1 - lambda_S reaches the values in "
        "the per-configuration table (column lambda range below), and a QR every m steps keeps the columns' "
        "condition number exp(m (lambda_1 - lambda_S)) below 1e16 only for m < 36.8 / (lambda_1 - lambda_S). "
        "KY dimension D_KY = j + (lambda_1 + ... + lambda_j) / |lambda_(j+1)| (j the last non-negative partial sum "
        "of the sorted exponents); entropy rate = sum of positive exponents (Pesin); both divided by H (the LSTM's "
        "state has 2H coordinates: its D_KY/H can reach 2). Unstable fraction = (number of positive exponents) / S. "
        "Spread across networks is the error that matters (mean, SD and SE = SD/sqrt(n) across networks); the "
        "within-run batch-means SE of lambda_max is kept as a diagnostic."
        + (QUICK_NOTE if opts.quick else ""))

    _write_csv(w, df[SUMMARY_COLUMNS + [c for c in df.columns if c not in SUMMARY_COLUMNS]], "spectrum_summary")
    _write_csv(w, sp, "spectra")
    w.text("**Data.** [spectrum_summary.csv](spectrum_summary.csv): one row per network (the columns "
           f"{', '.join(SUMMARY_COLUMNS)}, then diagnostics: within-run SEs, the identities' residuals, timings). "
           "[spectra.csv](spectra.csv): the spectra themselves, long format, one row per exponent (cell, g, H, "
           "input_variance, seed, state_size, i, i_over_S, exponent), sorted so that i = 1 is the largest.")

    summary = summary.assign(lambda_range=[float(df[(df.cell == r.cell) & (df.H == r.H) & (df.g == r.g)
                                                   & (df.input_variance == r.input_variance)].eval(
                                                       "lambda_max - lambda_min").mean()) for r in summary.itertuples()])
    times = summary.groupby(["cell", "H"]).agg(ms_per_step=("ms_per_step", "mean"),
                                                seconds_per_network=("seconds_per_network", "mean"),
                                                networks_per_configuration=("n", "max")).reset_index()
    t_txt = "; ".join(f"{r.cell} H = {r.H}: {_f(r.ms_per_step, '.3g')} ms per step, {_f(r.seconds_per_network, '.3g')} s "
                      f"per network, {_f(r.seconds_per_network * r.networks_per_configuration, '.3g')} s per "
                      "configuration" for r in times.itertuples())
    md = summary[["cell", "H", "g", "input_variance", "n"]].copy()
    for s, label in (("lambda_max", "lambda_max"), ("ky_dimension_per_unit", "D_KY/H"),
                     ("entropy_rate_per_unit", "entropy/H"), ("unstable_fraction", "unstable frac."),
                     ("mean_exponent", "mean exponent")):
        md[label] = [f"{_f(m, '.4f')} ± {_f(sd, '.4f')} ({_f(se, '.2g')})" for m, sd, se in
                     zip(summary[f"{s}_mean"], summary[f"{s}_sd"], summary[f"{s}_se"], strict=True)]
    md["lambda range"] = summary.lambda_range.map(lambda x: _f(x, ".3g"))
    md["s / network"] = summary.seconds_per_network.map(lambda x: _f(x, ".3g"))
    w.table(summary, "configurations", "Per configuration: mean ± SD across networks (SE)",
            "Each cell: mean ± SD across the networks (SE of the mean in parentheses). Time per configuration, "
            f"wall clock measured in this run (one process per configuration, machine in provenance.json; other work "
            f"sharing the machine makes these upper bounds): {t_txt}.", md_df=md)

    tanh_H = sorted(df[df.cell == "rnn_tanh"].H.unique())
    if len(tanh_H):
        w.figure(spectra_by_g_figure(sp, "rnn_tanh", tanh_H[-1], theory=True), "spectra_tanh",
                 f"Full spectra of the random tanh network, H = {tanh_H[-1]}",
                 "Every exponent against i/S, one line per g (mean over the networks, band ±1 SD across networks); "
                 "left without input, right driven. Thin black dashes: the annealed random-matrix spectrum with "
                 "mean field's q* (computed without the networks; tested below).")
    col = collapse_table(sp)
    for cell in [c for c in ("rnn_tanh", "lstm", "gru") if c in set(sp.cell)]:
        c = col[col.cell == cell]
        txt = ("" if c.empty else
               f"Largest RMS difference between the mean spectra at the two largest sizes: {_f(c.rms_difference.max())} "
               f"(g = {c.loc[c.rms_difference.idxmax(), 'g']:g}); the median SD across networks at one i is "
               f"{_f(c.median_sd_across_networks.median())}, the spectrum's range up to {_f(c.spectrum_range.max())}.")
        w.figure(collapse_figure(sp, cell), f"collapse_{cell}", f"{cell}: spectra against i/S at every H (collapse)",
                 "(a) If chaos is extensive, the spectra at different H fall on one curve of i/S. " + txt)
    if not col.empty:
        w.table(col, "collapse", "Collapse across H",
                "Mean spectrum at the largest H minus the one at the next smaller H (interpolated in i/S), "
                "per configuration.", floatfmt=".3g")

    w.figure(measures_figure(summary), "measures_vs_g", "KY dimension, entropy rate and lambda_max against g",
             "(b), (c), (d): ensemble means with error bars of ±1 SE across networks, every cell at its largest H.")
    drive = drive_table(summary)
    if not drive.empty:
        dl = drive[(drive.d_entropy_rate_per_unit < -Z * drive.d_entropy_rate_per_unit_se)]
        dh = drive[(drive.d_entropy_rate_per_unit > Z * drive.d_entropy_rate_per_unit_se)]
        w.table(drive, "drive", "(c) What input drive changes",
                f"Driven minus undriven at the largest H, with the SE of the difference. The entropy rate per unit "
                f"is lower by more than {Z:g} SE in {len(dl)} of {len(drive)} (cell, g) pairs and higher by more "
                f"than {Z:g} SE in {len(dh)}.", floatfmt=".3g")

    ids = identities(df)
    bad = ids[~ids.holds]
    w.table(ids, "identities", "Identities (hold by construction: they test the code, not a theory)",
            "The kernels' trajectory must satisfy the analysis step equations to rounding, and for the tanh network "
            "the sum of the exponents (from the QR's R) must equal the time average of ln|det J_t| = ln|det W| + "
            "sum_i ln sech^2(a_t,i) computed independently (LU of W, the pre-activations). "
            + (f"{len(bad)} of {len(ids)} rows do not hold." if len(bad) else f"All {len(ids)} rows hold."),
            floatfmt=".3g")

    tt = theory_tests(df)
    if not tt.empty:
        fails = tt[~tt.passes]
        ftxt = ("; ".join(f"{r.cell} {r.quantity} at g = {r.g:g}, input var {r.input_variance:g} (deviation "
                          f"{_f(r.deviation)} against tolerance {_f(r.tolerance)})" for r in fails.itertuples())
                or "none")
        w.text("### Theory tests: the rule\n\nStated before the comparison (docs/lyapunov_theory.md derives the "
               "predictions): for each configuration, d(H) = ensemble mean - prediction(H). The test is at the "
               f"largest H with tolerance {Z:g} SE(H_max) + |shift| + {Z:g} SE(shift), shift = d(H_max) - d(H_prev) "
               "(the next smaller H). With an O(1/H) correction and H_prev = H_max / 2 the shift estimates the "
               "correction still left at H_max; the SEs are across networks. Nothing else enters.")
        w.table(tt, "theory_tests", "Theory tests (predictions computed without the measurement)",
                f"{len(tt) - len(fails)} of {len(tt)} rows pass; the largest |deviation| is "
                f"{_f(tt.deviation.abs().max())}. Failures: {ftxt}. `extrapolated_deviation` = deviation + shift "
                "(the H -> infinity estimate for a 1/H correction).", floatfmt=".3g",
                md_df=tt[["quantity", "cell", "g", "input_variance", "H", "n", "measured_mean", "se", "prediction",
                          "deviation", "finite_size_shift", "tolerance", "passes", "extrapolated_deviation"]])
        w.figure(theory_figure(tt), "theory_tests", "Measured minus predicted, against the tolerance",
                 "Grey: the tolerance interval of each row; red: the deviation of the ensemble mean (±1 SE).")

    st = spectrum_tests(sp)
    if not st.empty:
        worst = st.loc[st.rms_deviation.idxmax()]
        w.table(st, "spectrum_theory", "The whole tanh spectrum against the annealed random-matrix spectrum",
                "A theory test of the spectrum's shape, not only its ends: every exponent of the mean spectrum at "
                "the largest H against lambda(x_i) of theory.tanh_spectrum (docs/lyapunov_theory.md: J_t = D_t W_t "
                "with W_t treated as redrawn every step and D_t's squared entries sech^4(a), a ~ N(0, q*) from mean "
                "field; Engelken, Wolf & Abbott (2023) report such random-matrix approximations to be good for "
                "discrete-time networks), x_i = (i - 1/2)/S, each exponent held to the rule above "
                f"({Z:g} SE_i + |shift_i| + {Z:g} SE(shift_i)). RMS deviation over the spectrum: "
                f"{_f(st.rms_deviation.min())} to {_f(st.rms_deviation.max())} (largest at g = {worst.g:g}, input "
                f"variance {worst.input_variance:g}), against spectrum ranges of {_f(st.spectrum_range.min())} to "
                f"{_f(st.spectrum_range.max())}; the largest single deviation, {_f(st.max_abs_deviation.max())}, at "
                f"x = {_f(st.loc[st.max_abs_deviation.idxmax(), 'x_of_max'])}, among the most negative exponents, where "
                "a product of Gaussian matrices has its largest finite-H corrections (of order 1/(2(S - i + 1))); "
                "the fraction of exponents within the rule is "
                f"{_f(st.fraction_within_rule.min())} to {_f(st.fraction_within_rule.max())}. D_KY/H and the entropy "
                "rate per unit of this spectrum are the predictions of their rows in the theory tests above.",
                floatfmt=".3g")

    pub = published_table(summary, col, drive, st)
    w.table(pub, "published", "Comparison with published results",
            "No published *number* for the discrete-time random tanh map's spectrum, dimension or entropy rate was "
            "found in the sources searched (Engelken, Wolf & Abbott's abstract and text available to this study; "
            "their figures are for continuous-time rate networks in units of 1/tau unless stated, which are not "
            "per-step exponents and are not compared here). The rows therefore compare claims, each with the "
            "exact quantity measured here; for their random-matrix claim the approximation is this study's own "
            "derivation (docs/lyapunov_theory.md), not their formula, which the text available here does not give.")

    se_max = float(df.lambda_max_se_run.max())
    w.text("### Reproduction\n\n"
           "On the same machine, with the same packages and the `--private-cache` protocol, every number in "
           "these tables reproduces bit for bit (every network is self-seeded; one thread per configuration; "
           "timings excepted). On another CPU generation (or another numba/llvmlite/numpy) the float64 "
           "trajectories of these chaotic maps part after a few dozen steps, so each network's exponents are "
           "another finite-time sample of the same quantities: individual values agree only within the finite-time "
           f"statistics (the within-run SE of lambda_max is at most {_f(se_max)} here), and ensemble means within their SE. The study's reproduce= "
           "declaration (studies/lyapunov/study.py, calibrated as studies/lyapunov/configs.py says) allows, across "
           f"CPUs, {_f(OTHER_CPU_ATOL['per_network'])} per step in a network's summary values, "
           f"{_f(OTHER_CPU_ATOL['exponent'])} in a single exponent and {_f(OTHER_CPU_ATOL['ensemble'])} in "
           "configuration means (ensemble tables); the "
           "theory verdicts are not compared across CPUs.")
