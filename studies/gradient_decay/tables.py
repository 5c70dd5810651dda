"""The measurements as tables: one row per network, one per setting (the ensemble's statistics),
the finite-size scaling fits, and the two kinds of check: identities (code tests) and theory tests."""

import math
import re

import numpy as np
import pandas as pd

from .configs import ELMAN, IDENTITY_TOL, PASCANU_SLACK, RULES
from .theory import elman_mean_field, gated_mean_field, mean_field_zero_state, sigma2_in

LABELS = {"gaussian": "Gaussian", "orthogonal": "orthogonal", "identity": "identity (IRNN)"}
INPUT_COLOR = {False: "tab:blue", True: "tab:orange"}
SETTING = ["cell", "init", "g", "forget_bias", "input"]


def split(results):
    """{kind: [(config, result)]} (ginibre: the sampled log radii)."""
    out = {"curve": [], "lyap": [], "relu_free": []}
    gin = np.array([])
    for c, r in results:
        if c["kind"] == "ginibre":
            gin = np.asarray(r["log_rho"])
        else:
            out[c["kind"]].append((c, r))
    out["ginibre"] = gin
    return out


def setting_of(key):
    """A network's key without its network index: the key of its setting."""
    return re.sub(r"-n\d+$", "", key)


def _fb(v):
    return math.nan if v is None else float(v)


def network_frame(curves):
    """One row per network of the ensembles (kind curve)."""
    rows = []
    for c, r in curves:
        quiescent = bool(not c["input"] and r.get("at_zero"))
        row = {
            "setting": setting_of(c["key"]), "net": c["net"], "seed": c["seed"], "cell": c["cell"], "init": c["init"],
            "g": c["g"], "forget_bias": _fb(c["forget_bias"]), "input": c["input"], "H": c["H"],
            "fit_lo": r["fit_lo"], "fit_hi": r["fit_hi"], "rate": r["rate"], "rate_stderr": r["rate_stderr"],
            "rate_late": r["rate_late"], "timescale": r["timescale"], "vanished": r["vanished"],
            "lambda1": r["lyap1"], "lambda1_stderr_within": r["lyap1_stderr"],
            "rate_minus_lambda1": r["rate"] - r["lyap1"],
            "tol_identity": max(IDENTITY_TOL["lyapunov_floor"], IDENTITY_TOL["lyapunov_se"] * r["lyap1_stderr"]),
            "quiescent": quiescent, "log_rho_J0": r.get("log_rho_J0", math.nan), "max_abs_h": r["max_abs_h"],
            "final_log10_norm": float(r["log_h"][-1] / math.log(10)),
        }
        if c["cell"] in ELMAN:
            row.update({k: r[k] for k in ("sigma_max", "log_rho_W", "pascanu_rate", "pascanu_max_step_excess",
                                          "pascanu_max_path_excess", "pascanu_violations", "q_meas", "chi_meas",
                                          "frac_active")})
        rows.append(row)
    return pd.DataFrame(rows)


def mean_sd_se(x):
    x = np.asarray(x, dtype=float)
    n = x.size
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    return float(x.mean()), sd, sd / math.sqrt(n) if n > 1 else math.nan


def finite_size_term(mean_h, se_h, mean_half, se_half, k_fs=None):
    """The measured finite-size allowance: |mean_H - mean_(H/2)| + k_fs SE of that difference. A
    correction a/H extrapolated from H/2 and H moves the mean by mean_H - mean_(H/2) at H -> infinity."""
    k_fs = RULES["k_fs"] if k_fs is None else k_fs
    if not all(math.isfinite(v) for v in (mean_h, se_h, mean_half, se_half)):
        return math.nan
    return abs(mean_h - mean_half) + k_fs * math.hypot(se_h, se_half)


def tolerance(se, fs_term, k_se=None):
    """The theory tests' rule: k_se standard errors of the ensemble mean plus the measured
    finite-size term. NaN (no test) when either is unknown; never a constant."""
    k_se = RULES["k_se"] if k_se is None else k_se
    if not (math.isfinite(se) and math.isfinite(fs_term)) or se < 0 or fs_term < 0:
        return math.nan
    return k_se * se + fs_term


def setting_frame(nets, lyaps):
    """One row per setting: lambda_1 and the gradient rate across its networks (mean, SD, SE), the
    within-run SE (diagnostic), the half-size ensemble and the finite-size term, the predictions."""
    half = {}
    for c, r in lyaps:
        if c.get("role") == "half":
            half.setdefault(setting_of(c["key"]).removeprefix("lyap-"), []).append(r["lyap1"])
    rows = []
    for key, sub in nets.groupby("setting", sort=False):
        first = sub.iloc[0]
        cfg = {"cell": first.cell, "init": first.init, "g": first.g, "input": bool(first.input), "sigma_x": 0.0}
        m, sd, se = mean_sd_se(sub.lambda1)
        rm, rsd, rse = mean_sd_se(sub.rate)
        row = {"setting": key, "cell": first.cell, "init": first.init, "g": first.g, "forget_bias": first.forget_bias,
               "input": bool(first.input), "H": int(first.H), "networks": len(sub),
               "lambda1_mean": m, "lambda1_sd": sd, "lambda1_se": se, "rate_mean": rm, "rate_sd": rsd, "rate_se": rse,
               "within_run_se_mean": float(sub.lambda1_stderr_within.mean()),
               "quiescent_networks": int(sub.quiescent.sum())}
        H2 = int(first.H) // 2
        hk = re.sub(r"-H\d+$", f"-H{H2}", key)
        if hk in half:
            hm, _, hse = mean_sd_se(half[hk])
            row.update(half_H=H2, lambda1_half_mean=hm, lambda1_half_se=hse,
                       finite_size_term=finite_size_term(m, se, hm, hse))
        else:
            row.update(half_H=math.nan, lambda1_half_mean=math.nan, lambda1_half_se=math.nan, finite_size_term=math.nan)
        rows.append((row, cfg))
    return pd.DataFrame([r for r, _ in rows])


def add_predictions(st, sigma_x):
    """The theories' predictions for every setting, from its parameters alone."""
    mf, tied, ann = [], [], []
    for r in st.itertuples():
        s2 = sigma_x**2 if r.input else 0.0
        if r.cell in ELMAN:
            mf.append(elman_mean_field(r.cell, r.g, s2) if r.init != "identity" else math.nan)
            tied.append(math.nan)
            ann.append(math.nan)
        else:
            bf = None if r.forget_bias != r.forget_bias else r.forget_bias
            mf.append(math.nan)
            tied.append(gated_mean_field(r.cell, r.g, bf, s2, "tied"))
            ann.append(gated_mean_field(r.cell, r.g, bf, s2, "annealed"))
    st = st.copy()
    st["lambda_mf"], st["lambda_tied"], st["lambda_annealed"] = mf, tied, ann
    st["mf_zero_state"] = [mean_field_zero_state({"input": r.input, "cell": r.cell, "g": r.g})
                           for r in st.itertuples()]
    return st


# -- finite-size scaling ---------------------------------------------------------------------


def fss_points(lyaps):
    """lambda_1 of the finite-size runs by (cell, input, g, H): mean, SD, SE across networks and
    the mean within-run SE."""
    rows = {}
    for c, r in lyaps:
        if c.get("role") != "fss":
            continue
        rows.setdefault((c["cell"], c["input"], c["g"], c["H"], c["T"]), []).append((r["lyap1"], r["lyap1_stderr"]))
    out = []
    for (cell, inp, g, H, T), v in sorted(rows.items()):
        lam = np.array([a for a, _ in v])
        m, sd, se = mean_sd_se(lam)
        out.append({"cell": cell, "input": inp, "g": g, "H": H, "steps": T, "networks": len(v), "lambda1_mean": m,
                    "lambda1_sd": sd, "lambda1_se": se, "within_run_se_mean": float(np.mean([b for _, b in v]))})
    return pd.DataFrame(out)


def weighted_fit(x, y, se):
    """y = c0 + c1 x by weighted least squares (weights 1/se^2). Returns (c0, c1, se0, se1,
    chi2/dof); the SEs are scaled by sqrt(chi2/dof) when that exceeds 1 (the points scatter more
    than their error bars say: the Birge ratio), never scaled down."""
    x, y, se = (np.asarray(v, dtype=float) for v in (x, y, se))
    w = 1.0 / se**2
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    c = cov @ (A.T @ (w * y))
    dof = len(x) - 2
    chi2 = float(np.sum(w * (y - A @ c) ** 2)) / dof if dof > 0 else math.nan
    scale = math.sqrt(max(1.0, chi2)) if math.isfinite(chi2) else 1.0
    return float(c[0]), float(c[1]), float(math.sqrt(cov[0, 0]) * scale), float(math.sqrt(cov[1, 1]) * scale), chi2


def fss_fits(points, sigma_x):
    """lambda_1(H) = lambda_inf + a/H for each (cell, input, g); the alternative a/sqrt(H) for
    comparison of the fits' chi^2; mean field at H -> infinity."""
    out = []
    for (cell, inp, g), sub in points.groupby(["cell", "input", "g"], sort=True):
        if len(sub) < 3 or not (sub.lambda1_se > 0).all():
            continue
        H = sub.H.to_numpy(float)
        c0, c1, s0, s1, chi2 = weighted_fit(1.0 / H, sub.lambda1_mean, sub.lambda1_se)
        a0, _, as0, _, chi2_sqrt = weighted_fit(1.0 / np.sqrt(H), sub.lambda1_mean, sub.lambda1_se)
        pred = elman_mean_field(cell, g, sigma_x**2 if inp else 0.0)
        tol = RULES["k_se"] * s0
        out.append({"cell": cell, "input": bool(inp), "g": g, "sizes": len(sub), "lambda_inf": c0, "lambda_inf_se": s0,
                    "a": c1, "a_se": s1, "chi2_dof": chi2, "lambda_inf_sqrt_form": a0, "chi2_dof_sqrt_form": chi2_sqrt,
                    "lambda_mf": pred, "lambda_inf_minus_mf": c0 - pred, "tolerance": tol,
                    "pass": bool(abs(c0 - pred) <= tol)})
    return pd.DataFrame(out)


# -- the checks ------------------------------------------------------------------------------


def _summary_row(name, kind, diff, tol, rule, labels):
    diff = np.abs(np.asarray(diff, dtype=float))
    tol = np.asarray(tol, dtype=float)
    ok = np.isfinite(diff) & np.isfinite(tol)
    d, t = diff[ok], tol[ok]
    bad = [lab for lab, dd, tt in zip(np.asarray(labels)[ok], d, t, strict=True) if dd > tt]
    return {"check": name, "kind": kind, "n": int(d.size), "max |measured - predicted|": float(d.max()) if d.size else math.nan,
            "tolerance rule": rule, "max |difference| / tolerance": float(np.max(d / t)) if d.size else math.nan,
            "failures": len(bad), "failing": "; ".join(bad)}


def _label(r):
    bf = "" if r.forget_bias != r.forget_bias else f" b_f={r.forget_bias:g}"
    init = "" if r.init == "gaussian" else f" {r.init}"
    return f"{r.cell}{init} g={r.g:g}{bf} {'input' if r.input else 'free'}"


def identities(nets):
    """Code tests: relations that hold by construction whatever the theory, so they test the
    kernels, the JVPs and the fit, not any theory."""
    lin = nets[nets.quiescent]
    ident = nets[(nets.init == "identity") & ~nets.input]
    labels = lambda d: [f"{_label(r)} n{r.net}" for r in d.itertuples()]  # noqa: E731
    rows = [
        _summary_row("gradient rate vs lambda_1 of the same network (the same Jacobians, transposed)", "identity",
                     nets.rate_minus_lambda1, nets.tol_identity,
                     f"max({IDENTITY_TOL['lyapunov_floor']:g}, 5 sqrt2 within-run SE(lambda_1))", labels(nets)),
        _summary_row("gradient rate vs ln rho(J*), networks at the zero fixed point (linear algebra)", "identity",
                     lin.rate - lin.log_rho_J0, np.full(len(lin), IDENTITY_TOL["linear"]),
                     f"{IDENTITY_TOL['linear']:g} (fit transient)", labels(lin)),
        _summary_row("lambda_1 vs ln rho(J*), networks at the zero fixed point (linear algebra)", "identity",
                     lin.lambda1 - lin.log_rho_J0, np.full(len(lin), IDENTITY_TOL["linear"]),
                     f"{IDENTITY_TOL['linear']:g} (fit transient)", labels(lin)),
        _summary_row("undriven IRNN gradient rate vs 0 (W_hh = I)", "identity", ident.rate,
                     np.full(len(ident), IDENTITY_TOL["linear"]), f"{IDENTITY_TOL['linear']:g} (fit transient)",
                     labels(ident)),
    ]
    elman = nets[nets.cell.isin(ELMAN)]
    if len(elman):
        excess = np.maximum(elman.pascanu_max_step_excess, elman.pascanu_max_path_excess)
        bad = [f"{_label(r)} n{r.net}" for r in elman[elman.pascanu_violations > 0].itertuples()]
        rows.append({"check": "Pascanu's bound (a theorem), every step and distance of every Elman curve",
                     "kind": "identity", "n": len(elman), "max |measured - predicted|": float(excess.max()),
                     "tolerance rule": f"excess <= {PASCANU_SLACK:g} |log norm|",
                     "max |difference| / tolerance": math.nan, "failures": len(bad), "failing": "; ".join(bad)})
    return pd.DataFrame(rows)


def theory_rows(st, gin):
    """Every theory comparison, one row per (setting, theory): prediction, measurement, tolerance."""
    rows = []
    k = RULES["k_se"]
    gin_mean = float(gin.mean()) if gin.size else math.nan
    gin_se = float(gin.std(ddof=1) / math.sqrt(gin.size)) if gin.size > 1 else math.nan
    for r in st.itertuples():
        base = {"setting": r.setting, "cell": r.cell, "init": r.init, "g": r.g, "forget_bias": r.forget_bias,
                "input": r.input, "H": r.H, "networks": r.networks, "lambda1_mean": r.lambda1_mean,
                "lambda1_se": r.lambda1_se, "finite_size_term": r.finite_size_term, "label": _label(r)}
        if r.cell in ELMAN:
            if r.init == "identity":
                continue
            if r.mf_zero_state and r.init == "gaussian":
                # mean field: q* = 0, the state at 0, the rate that of W: ln g at H -> infinity and, at
                # this H, ln g + E ln(rho(W)/g) of the circular law (sampled matrices, not these networks)
                pred = math.log(r.g) + gin_mean
                tol = k * math.hypot(r.lambda1_se, gin_se)
                rows.append({**base, "test": "finite-H circular law, quiescent Gaussian rnn_tanh", "prediction": pred,
                             "tolerance": tol, "rule": "3 sqrt(SE^2 + SE_sample^2)"})
                continue
            if r.mf_zero_state:
                continue  # orthogonal at the zero state: ln g exactly, an identity (J* = gQ)
            test = f"mean field, {r.cell} {LABELS[r.init]} W_hh, H = {r.H}"
            rows.append({**base, "test": test, "prediction": r.lambda_mf,
                         "tolerance": tolerance(r.lambda1_se, r.finite_size_term), "rule": "3 SE + finite-size term"})
        else:
            drive = "driven" if r.input else "undriven"
            regime = "ordered (tied lambda < 0)" if r.lambda_tied < 0 else "chaotic (tied lambda >= 0)"
            tol = tolerance(r.lambda1_se, r.finite_size_term)
            rows.append({**base, "test": f"gated mean field (tied), {drive}, {regime}", "prediction": r.lambda_tied,
                         "tolerance": tol, "rule": "3 SE + finite-size term"})
            rows.append({**base, "test": "gated mean field (annealed), every setting", "prediction": r.lambda_annealed,
                         "tolerance": tol, "rule": "3 SE + finite-size term"})
    df = pd.DataFrame(rows)
    if len(df):
        df["order"] = df.test.map(_test_order)
        df = df.sort_values("order", kind="stable").drop(columns="order").reset_index(drop=True)
        df["deviation"] = df.lambda1_mean - df.prediction
        df["pass"] = df.deviation.abs() <= df.tolerance
    return df


def _test_order(test):
    """Elman first, then the tied gated theory (driven, undriven; ordered before chaotic), the annealed last."""
    for i, head in enumerate(("finite-H", "mean field, rnn_tanh Gaussian", "mean field, rnn_tanh orthogonal",
                              "mean field, rnn_relu", "gated mean field (tied), driven, ordered",
                              "gated mean field (tied), driven, chaotic", "gated mean field (tied), undriven, ordered",
                              "gated mean field (tied), undriven, chaotic", "gated mean field (annealed)")):
        if test.startswith(head):
            return i
    return 99


def theory_summary(rows, fits):
    out = []
    if len(fits):
        out.append(_summary_row("mean field, Elman, H -> infinity (finite-size extrapolation lambda_inf + a/H)",
                                "theory", fits.lambda_inf_minus_mf, fits.tolerance, "3 SE(lambda_inf)",
                                [f"{c} g={g:g} {'input' if i else 'free'}" for c, g, i in zip(fits.cell, fits.g, fits.input,
                                                                                             strict=True)]))
    for test, sub in rows.groupby("test", sort=False):
        rule = sub.rule.iloc[0]
        out.append(_summary_row(test, "theory", sub.deviation, sub.tolerance, rule, sub.label))
    return pd.DataFrame(out)


def fmt_forget_bias(v):
    return "" if v != v else f"{v:g}"


def yes_no(v):
    return "yes" if v else "no"


def downsample(n, points=400):
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))


def pm(mean, se):
    """mean ± SE printed to the digits the SE supports (two significant digits of the SE)."""
    if not (math.isfinite(mean) and math.isfinite(se)) or se <= 0:
        return f"{mean:.4g}" if math.isfinite(mean) else ""
    if se < 1e-6:  # rounding-level numbers (exact identities): scientific notation
        return f"{mean:.1e} ± {se:.1e}"
    dec = max(0, 1 - int(math.floor(math.log10(se))))
    return f"{mean:.{dec}f} ± {se:.{dec}f}"


def rounded(v, se):
    """v rounded to the decimal place of two significant digits of se."""
    if not (math.isfinite(v) and math.isfinite(se)) or se <= 0:
        return f"{v:.4g}" if math.isfinite(v) else ""
    dec = max(0, 1 - int(math.floor(math.log10(se))))
    return f"{v:.{dec}f}"


def select_row(df, **conds):
    m = np.ones(len(df), bool)
    for k, v in conds.items():
        m &= (df[k].isna() if v is None else df[k] == v).to_numpy()
    sub = df[m]
    return sub.iloc[0] if len(sub) else None


def drive_variance(config):
    return sigma2_in(config)
