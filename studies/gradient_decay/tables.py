"""The measurements as one table, and the checks of measured against predicted rates."""

import math

import numpy as np
import pandas as pd

from ..science import meanfield as mf
from .configs import ELMAN, PASCANU_SLACK, TOL
from .theory import sigma2_in, theory

LABELS = {"gaussian": "Gaussian", "orthogonal": "orthogonal", "identity": "identity (IRNN)"}
INPUT_COLOR = {False: "tab:blue", True: "tab:orange"}


def split(results):
    curves = [(c, r) for c, r in results if c["kind"] == "curve"]
    ginibre = [r["log_rho"] for c, r in results if c["kind"] == "ginibre"]
    return curves, (ginibre[0] if ginibre else np.array([]))


def frame(curves):
    """One row per curve configuration: measurements, theory and differences."""
    rows = []
    for c, r in curves:
        name, pred = theory(c, r)
        quiescent = bool(not c["input"] and r.get("at_zero"))
        row = {
            "key": c["key"], "cell": c["cell"], "init": c["init"], "g": c["g"],
            "forget_bias": c["forget_bias"] if c["forget_bias"] is not None else math.nan,
            "input": c["input"], "H": c["H"], "fit_lo": r["fit_lo"], "fit_hi": r["fit_hi"],
            "rate": r["rate"], "rate_stderr": r["rate_stderr"], "rate_late": r["rate_late"],
            "timescale": r["timescale"], "vanished": r["vanished"],
            "lambda1": r["lyap1"], "lambda1_stderr": r["lyap1_stderr"],
            **{f"lambda{i + 1}": float(v) for i, v in enumerate(r["lyap"])},
            "rate_minus_lambda1": r["rate"] - r["lyap1"],
            "tol_lyapunov": max(TOL["lyapunov_floor"], TOL["lyapunov_se"] * r["lyap1_stderr"]),
            "theory": name, "predicted": pred, "rate_minus_predicted": r["rate"] - pred,
            "lambda1_minus_predicted": r["lyap1"] - pred if name != "lyapunov" else math.nan,
            "quiescent": quiescent, "log_rho_J0": r.get("log_rho_J0", math.nan), "max_abs_h": r["max_abs_h"],
            "final_log10_norm": float(r["log_h"][-1] / math.log(10)),
        }
        if c["cell"] in ELMAN:
            row.update(sigma_max=r["sigma_max"], log_rho_W=r["log_rho_W"], pascanu_rate=r["pascanu_rate"],
                       pascanu_max_step_excess=r["pascanu_max_step_excess"],
                       pascanu_max_path_excess=r["pascanu_max_path_excess"],
                       pascanu_violations=r["pascanu_violations"], q_meas=r["q_meas"], chi_meas=r["chi_meas"],
                       frac_active=r["frac_active"])
            if c["init"] != "identity":
                s2 = sigma2_in(c)
                if c["cell"] == "rnn_tanh":
                    row.update(q_star=mf.tanh_fixed_point(c["g"], s2), lambda_mf=mf.tanh_lambda(c["g"], s2))
                else:
                    row.update(q_star=mf.relu_fixed_point(c["g"], s2), lambda_mf=mf.relu_lambda(c["g"]))
        rows.append(row)
    return pd.DataFrame(rows)


def fmt_forget_bias(v):
    return "" if v != v else f"{v:g}"


def yes_no(v):
    return "yes" if v else "no"


def downsample(n, points=400):
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))




def _check(name, diff, tol, tol_text=None):
    diff = np.abs(np.asarray(diff, dtype=float))
    tol = np.broadcast_to(np.asarray(tol, dtype=float), diff.shape)
    ok = np.isfinite(diff)
    d, t = diff[ok], tol[ok]
    return {"comparison": name, "n": int(d.size), "max |measured - predicted|": float(d.max()) if d.size else math.nan,
            "tolerance": tol_text or (f"{t[0]:.3g}" if t.size else ""),
            "max |difference| / tolerance": float(np.max(d / t)) if d.size else math.nan,
            "within": int(np.sum(d <= t))}


def agreement(df, tol_gin):
    lin = df[df.theory == "linear"]
    ident = df[df.theory == "identity"]
    el = df[df.cell.isin(ELMAN) & (df.init != "identity")]
    active = el[~el.quiescent]
    quiet = el[el.quiescent & (el.init == "gaussian")]
    elman = df[df.cell.isin(ELMAN)]
    rows = [
        _check("gradient rate vs lambda_1 (QR), every configuration", df.rate_minus_lambda1, df.tol_lyapunov,
               f"max({TOL['lyapunov_floor']:g}, 5 sqrt2 SE(lambda_1))"),
        _check("gradient rate vs ln rho(J*), quiescent networks (zero fixed point)", lin.rate_minus_predicted,
               TOL["linear"]),
        _check("lambda_1 vs ln rho(J*), quiescent networks", lin.lambda1_minus_predicted, TOL["linear"]),
        _check("IRNN gradient rate vs 0", ident.rate_minus_predicted, TOL["identity"]),
        _check("lambda_1 vs mean field, Elman networks with activity", active.lambda1 - active.lambda_mf,
               TOL["mean-field"]),
        _check("gradient rate vs mean field, Elman networks with activity", active.rate - active.lambda_mf,
               TOL["mean-field"]),
        _check("lambda_1 vs mean field, quiescent Gaussian Elman networks (ln rho(W) vs ln g)",
               quiet.lambda1 - quiet.lambda_mf, tol_gin),
    ]
    if len(elman):
        excess = np.maximum(elman.pascanu_max_step_excess, elman.pascanu_max_path_excess)
        rows.append({"comparison": "Pascanu bound, every step and distance of every Elman curve (max excess)",
                     "n": len(elman), "max |measured - predicted|": float(excess.max()),
                     "tolerance": f"excess <= {PASCANU_SLACK:g} |log norm|", "max |difference| / tolerance": math.nan,
                     "within": int(np.sum(elman.pascanu_violations == 0))})
    return pd.DataFrame(rows)


def select_row(df, **conds):
    m = np.ones(len(df), bool)
    for k, v in conds.items():
        m &= (df[k].isna() if v is None else df[k] == v).to_numpy()
    sub = df[m]
    return sub.iloc[0] if len(sub) else None
