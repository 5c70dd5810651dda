"""Gradient decay: ||dL/dh_t|| for a loss at the last step as a function of the distance T - t,
for every cell, against the theory that predicts its rate.

    python -m studies.gradient_decay            # full report -> reports/gradient_decay/
    python -m studies.gradient_decay --quick    # CI-sized     -> build/reports/gradient_decay-quick/

What is measured, per configuration (cell, W_hh initialization and scale g, LSTM forget bias,
with or without input drive):

- the curve log||dL/dh_t|| against d = T-1-t, from the kernels' backward pass in log_norms mode
  (the error renormalized in float64 every step, so nothing under- or overflows); its per-step
  rate is the least-squares slope over a fit range that skips the initial transient;
- the leading Lyapunov exponents of the forward dynamics over the same inputs, by tangent
  propagation with Jacobian-vector products (studies.common.jvp) and repeated QR;
- for the Elman cells, the spectral norm and radius of W_hh (Pascanu et al.'s bound, checked at
  every step of every curve) and the pre-activation statistics (mean-field's q and chi);
- without input, the Jacobian at the zero fixed point (exact linear rate when the state sits there).

The theory (mean-field, linear, Lyapunov) and the tolerances are stated in the report.
"""

import math
import sys

import numpy as np
import pandas as pd

import kernels

from .common import Study, config_rng, fit_rate, gaussian_drive, orthogonal_blocks
from .common import meanfield as mf
from .common.jvp import CellDynamics
from .common.report import figure

ELMAN = ("rnn_tanh", "rnn_relu")
LSTMS = ("lstm", "lstm_peephole", "lstm_cifg")
GRUS = ("gru", "gru_cho")

SIZES = {
    "full": {"H_elman": 500, "H_gated": 256, "T": 10_000, "burn": 2000, "fit_lo": 1000, "lyap_k": 4,
             "lyap_skip": 1000, "sigma_x": 0.5,
             "g_tanh": (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0),
             "g_relu": (0.5, 0.75, 0.9, 1.0, 1.1, 1.2, 1.3),
             "g_gated": (0.5, 1.0, 1.5, 2.0, 2.5, 3.0), "ginibre_samples": 300},
    "quick": {"H_elman": 48, "H_gated": 24, "T": 600, "burn": 200, "fit_lo": 100, "lyap_k": 2,
              "lyap_skip": 100, "sigma_x": 0.5,
              "g_tanh": (0.5, 1.0, 2.0), "g_relu": (0.9,), "g_gated": (1.0, 2.5), "ginibre_samples": 40},
}
H0_STD = 0.5  # initial state ~ N(0, 0.5^2) per unit (h and c), before the burn-in

# Tolerances on per-step rates (natural log per step), stated in the report with their reasons.
TOL = {
    # gradient rate vs lambda_1: two finite-time estimates of one number, each with about the
    # batch-means standard error SE of lambda_1; 5 standard errors of their difference, floored
    # for the non-chaotic cases whose SE is ~0 but whose fit still carries an O(1/T) transient.
    "lyapunov_se": 5.0 * math.sqrt(2.0),
    "lyapunov_floor": 1e-3,
    "linear": 2e-3,  # rate vs ln rho(J*) at the zero fixed point: exact up to the fit's transient
    "identity": 2e-3,  # IRNN: no exponential decay at all
    # H = 500 vs H -> infinity in networks with activity (driven or chaotic): finite-size effects,
    # of the size of the one that is known exactly, the mean of ln(rho(W)/g) for Gaussian W at
    # H = 500 (0.028, sampled by this study).
    "mean-field": 0.03,
    # Quiescent undriven Gaussian networks: measured = ln rho(W) exactly, mean field = ln g; the
    # tolerance is the 99th percentile of ln(rho(W)/g) over the sampled Gaussian matrices.
    "ginibre_quantile": 0.99,
}
PASCANU_SLACK = 1e-9  # rounding in the renormalized backward pass, per unit of |log norm|


def add_arguments(p):
    p.add_argument("--cells", default=",".join(kernels.CELLS),
                   help="comma-separated cells to include (default: all)")


def configs(opts):
    S = SIZES[opts.mode]
    cells = [c for c in opts.cells.split(",") if c]
    for c in cells:
        kernels.get_spec(c)
    common = {k: S[k] for k in ("T", "burn", "fit_lo", "lyap_k", "lyap_skip", "sigma_x")}
    # The finite-size spread of the spectral radius of Gaussian W_hh, to state the mean-field
    # tolerance from (not a network run: a sample of random matrices of the Elman size).
    out = [{"key": f"ginibre-H{S['H_elman']}", "kind": "ginibre", "H": S["H_elman"],
            "samples": S["ginibre_samples"]}]

    def add(cell, init, g, inp, forget_bias=None):
        H = S["H_elman"] if cell in ELMAN else S["H_gated"]
        bf = "" if forget_bias is None else f"-bf{forget_bias:g}"
        key = f"{cell}-{init}-g{g:g}{bf}-{'input' if inp else 'free'}"
        out.append({"key": key, "kind": "curve", "cell": cell, "init": init, "g": float(g), "forget_bias": forget_bias,
                    "input": bool(inp), "H": H, **common})

    if "rnn_tanh" in cells:
        for init in ("gaussian", "orthogonal"):
            for inp in (False, True):
                for g in S["g_tanh"]:
                    add("rnn_tanh", init, g, inp)
    if "rnn_relu" in cells:
        # Without drive a random ReLU network's state decays to exactly 0 (g < sqrt 2) or overflows
        # (g > sqrt 2): only the driven networks have a stationary regime to measure.
        for init in ("gaussian", "orthogonal"):
            for g in S["g_relu"]:
                add("rnn_relu", init, g, True)
        for inp in (False, True):
            add("rnn_relu", "identity", 1.0, inp)
    for cell in LSTMS:
        if cell in cells:
            for bf in (0.0, 1.0):
                for inp in (False, True):
                    for g in S["g_gated"]:
                        add(cell, "gaussian", g, inp, bf)
    for cell in GRUS:
        if cell in cells:
            for inp in (False, True):
                for g in S["g_gated"]:
                    add(cell, "gaussian", g, inp)
    return out


# -- compute ------------------------------------------------------------------------------------

def make_params(config):
    """The network's parameters: W_hh from kernels' initializer (gaussian N(0, g^2/H) blocks,
    g times Haar orthogonal, or the identity); W_ih one orthonormal-row (H, H) block per gate, so
    each unit's drive is exactly N(0, sigma_x^2); every bias 0 except an LSTM's forget-gate bias."""
    cell, H = config["cell"], config["H"]
    spec = kernels.get_spec(cell)
    net = kernels.Network(cell, H, H)
    params = net.init_params(seed=config["seed"], dtype=np.float64, recurrent=config["init"], gain=config["g"],
                             forget_bias=config["forget_bias"])
    for k in params:
        if k.startswith("bias"):
            params[k][:] = 0.0
    if config["forget_bias"] is not None:
        f = spec.gate_names.index("f")
        params["bias_ih_l0"][f * H : (f + 1) * H] = config["forget_bias"]
    params["weight_ih_l0"] = orthogonal_blocks(config_rng(config, 1), spec.gates, H, H)
    return net, params


def compute(config):
    if config["kind"] == "ginibre":
        return compute_ginibre(config)
    return compute_curve(config)


def compute_ginibre(config):
    """ln(rho(W)) for W with N(0, 1/H) entries: the finite-H excess of the spectral radius over
    its H -> infinity value 1 (times g: rho(gW) = g rho(W))."""
    rng = config_rng(config)
    H = config["H"]
    logs = np.array([math.log(np.max(np.abs(np.linalg.eigvals(rng.standard_normal((H, H)) / math.sqrt(H)))))
                     for _ in range(config["samples"])])
    return {"log_rho": logs}


def compute_curve(config):
    cell, H, T = config["cell"], config["H"], config["T"]
    spec = kernels.get_spec(cell)
    net, params = make_params(config)
    rng = config_rng(config, 2)
    sigma = config["sigma_x"] if config["input"] else 0.0
    x_burn = gaussian_drive(rng, config["burn"], H, sigma)
    x = gaussian_drive(rng, T, H, sigma)
    h0 = H0_STD * rng.standard_normal((1, 1, H))
    state0 = (h0, H0_STD * rng.standard_normal((1, 1, H))) if spec.has_cell_state else h0
    u = rng.standard_normal(H)
    u /= np.linalg.norm(u)

    start = net.forward(params, x_burn, state0, training=False).state
    fw = net.forward(params, x, start, training=True)
    dy = np.zeros((T, 1, H))
    dy[T - 1, 0] = u
    grads = net.backward(fw.tape, dy, log_norms=True)
    log_h = grads.norms_h[0, ::-1].copy()  # index d = T-1-t: distance from the loss
    res = {"log_h": log_h}
    fit = fit_rate(log_h, config["fit_lo"])
    late = fit_rate(log_h, (T + config["fit_lo"]) // 2)
    res.update(rate=fit["rate"], rate_stderr=fit["stderr"], rate_r2=fit["r2"], fit_lo=fit["lo"], fit_hi=fit["hi"],
               timescale=fit["timescale"], rate_late=late["rate"], vanished=bool(np.isneginf(log_h).any()))

    dyn = CellDynamics(cell, params)
    xps = dyn.project(x[:, 0, :])
    s_start = dyn.state_vector(start)
    exps, logs = dyn.lyapunov(xps, s_start, config["lyap_k"], seed=config["seed"], skip=config["lyap_skip"])
    blocks = np.array_split(logs[config["lyap_skip"]:, 0], 10)
    means = np.array([b.mean() for b in blocks])
    res.update(lyap=exps, lyap1=float(exps[0]), lyap1_stderr=float(means.std(ddof=1) / math.sqrt(len(means))))

    y = fw.y[:, 0, :]
    res["max_abs_h"] = float(np.max(np.abs(y)))
    if not config["input"]:
        # The zero state is a fixed point of every cell when the drive and the biases (forget
        # bias aside) are 0; when the trajectory sits there, J_t = J* every step and the rate is
        # exactly ln rho(J*) in the limit of long distances.
        J0 = dyn.jacobian(np.zeros(dyn.state_size), dyn.project(np.zeros((1, H)))[0])
        rho = float(np.max(np.abs(np.linalg.eigvals(J0))))
        res.update(log_rho_J0=math.log(rho) if rho > 0 else -math.inf, at_zero=bool(res["max_abs_h"] < 1e-6))
    if cell in ELMAN:
        W = params["weight_hh_l0"]
        smax = float(np.linalg.norm(W, 2))
        res.update(sigma_max=smax, log_rho_W=float(np.log(np.max(np.abs(np.linalg.eigvals(W))))))
        # Pascanu, Mikolov & Bengio 2013: dL/dh_{t-1} = W^T diag(phi'(a_t)) dL/dh_t with |phi'| <= gamma = 1
        # (tanh and ReLU), so every step can grow log||dL/dh|| by at most ln sigma_max(W_hh).
        bound = math.log(smax)
        fin = np.isfinite(log_h)
        steps = np.diff(log_h)
        ok = fin[1:] & fin[:-1]
        slack = PASCANU_SLACK * (1.0 + np.abs(log_h[1:]))
        step_excess = np.where(ok, steps - bound, -np.inf)
        path_excess = np.where(fin, log_h - log_h[0] - bound * np.arange(T), -np.inf)
        res.update(pascanu_rate=bound, pascanu_max_step_excess=float(step_excess.max()),
                   pascanu_max_path_excess=float(path_excess[1:].max()),
                   pascanu_violations=int(np.sum(step_excess > slack) + np.sum(path_excess[1:] > slack * np.arange(1, T))))
        # Pre-activation statistics for the mean-field comparison (every 5th step is plenty).
        idx = np.arange(0, T, 5)
        h_prev = np.concatenate([np.ravel(start)[None], y[:-1]])[idx]
        a = h_prev @ W.T + x[idx, 0, :] @ params["weight_ih_l0"].T
        res["q_meas"] = float(np.mean(a * a))
        if cell == "rnn_tanh":
            dphi2 = mf.sech2(a) ** 2
        else:
            dphi2 = (a > 0).astype(np.float64)
        res["chi_meas"] = float(config["g"] ** 2 * np.mean(dphi2))
        res["frac_active"] = float(np.mean(a > 0))
    return res


# -- theory ------------------------------------------------------------------------------------

def sigma2_in(config):
    """Variance the drive adds to each pre-activation: W_ih rows are orthonormal and x_t ~
    N(0, sigma_x^2 I), so (W_ih x_t)_i ~ N(0, sigma_x^2) exactly; the biases are 0."""
    return config["sigma_x"] ** 2 if config["input"] else 0.0


def lstm_zero_rate(g, forget_bias, cifg=False):
    """H -> infinity rate at the LSTM's zero fixed point: J* has the nonzero eigenvalues of
    f I + o i W_g (o = 1/2, i = 1/2 or 1 - f for CIFG), whose rightmost point is f + o i g."""
    f = 1.0 / (1.0 + math.exp(-forget_bias))
    i = 1.0 - f if cifg else 0.5
    return math.log(f + 0.5 * i * g)


def gru_zero_rate(g):
    """H -> infinity rate at the GRU's zero fixed point (both forms): J* = I/2 + W_hn/4."""
    return math.log(0.5 + g / 4.0)


def theory(config, r):
    """(name, predicted rate) for one configuration."""
    cell, g = config["cell"], config["g"]
    if not config["input"] and r.get("at_zero"):
        return "linear", r["log_rho_J0"]
    if config["init"] == "identity":
        return "identity", 0.0
    if cell == "rnn_tanh":
        return "mean-field", mf.tanh_lambda(g, sigma2_in(config))
    if cell == "rnn_relu":
        return "mean-field", mf.relu_lambda(g)
    return "lyapunov", r["lyap1"]


# -- report ------------------------------------------------------------------------------------

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


def _fmt_bf(v):
    return "" if v != v else f"{v:g}"


def _yes(v):
    return "yes" if v else "no"


def _downsample(n, points=400):
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))


def _decay_figure(curves, with_input, S):
    import matplotlib as mpl  # noqa: PLC0415

    panels = [("rnn_tanh", "gaussian"), ("rnn_tanh", "orthogonal"), ("rnn_relu", None), ("lstm", None),
              ("lstm_peephole", None), ("lstm_cifg", None), ("gru", None), ("gru_cho", None)]
    fig, axes = figure(2, 4, figsize=(15, 7), sharex=True, layout="constrained")
    gs = sorted({c["g"] for c, _ in curves if c["init"] != "identity"}) or [1.0]
    norm = mpl.colors.LogNorm(vmin=min(gs), vmax=max(gs) * 1.0001)
    cmap = mpl.colormaps["viridis"]
    for ax, (cell, init) in zip(axes.flat, panels, strict=True):
        ax.set_title(cell if init is None else f"{cell}, {LABELS[init]} W_hh")
        drawn = False
        for c, r in curves:
            if c["cell"] != cell or c["input"] != with_input or (init is not None and c["init"] != init):
                continue
            d = _downsample(len(r["log_h"]))
            y = r["log_h"][d] / math.log(10)
            if c["init"] == "identity":
                ax.plot(d, y, color="k", lw=1.6, label="IRNN (W_hh = I)")
            else:
                lab = f"forget bias {c['forget_bias']:g}" if cell in LSTMS and c["g"] == gs[0] else None
                ax.plot(d, y, color=cmap(norm(c["g"])), ls="--" if c["forget_bias"] == 1.0 else "-", lw=1.1,
                        label=lab)
            drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not run: undriven random ReLU states\ncollapse to 0 or overflow",
                    transform=ax.transAxes, ha="center", va="center", fontsize=8)
        ax.set_ylabel("log10 ||dL/dh_t||")
        if ax in axes[1]:
            ax.set_xlabel("distance T - 1 - t (steps)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="g (recurrent weight scale)", shrink=0.8)
    drive = f"input drive sigma_x = {S['sigma_x']:g}" if with_input else "no input"
    fig.suptitle(f"Gradient norm against distance from the loss ({drive}); H = {S['H_elman']} (Elman), "
                 f"{S['H_gated']} (gated)")
    return fig


def _lyapunov_figure(df, S):
    fig, axes = figure(2, 4, figsize=(15, 7.5), layout="constrained")
    gg = np.linspace(0.4, max(float(df["g"].max()), 1.0) * 1.02, 300)
    s2 = S["sigma_x"] ** 2
    for ax, cell in zip(axes.flat, kernels.CELLS, strict=False):
        sub = df[(df.cell == cell) & (df.init != "identity")]
        ax.set_title(cell)
        for inp in (False, True):
            col = INPUT_COLOR[inp]
            for init, marker in (("gaussian", "o"), ("orthogonal", "^")):
                for bf in (0.0, 1.0, None):
                    s = sub[(sub.input == inp) & (sub.init == init)]
                    s = s[s.forget_bias.isna()] if bf is None else s[s.forget_bias == bf]
                    if s.empty:
                        continue
                    extra = f", {LABELS[init]}" if cell in ELMAN else (f", b_f={bf:g}" if bf is not None else "")
                    ax.plot(s.g, s.lambda1, marker, ms=5, color=col, mfc="none" if bf == 1.0 else col, ls="none",
                            label=f"lambda_1, {'input' if inp else 'no input'}{extra}")
                    ax.plot(s.g, s.rate, "x", ms=5, color="k", ls="none")
        if cell == "rnn_tanh":
            for inp, v in ((False, 0.0), (True, s2)):
                ax.plot(gg, [mf.tanh_lambda(g, v) for g in gg], color=INPUT_COLOR[inp], lw=1.2,
                        label=f"mean field, sigma_in^2 = {v:g}")
                ax.axvline(mf.tanh_edge(v), color=INPUT_COLOR[inp], ls=":", lw=1)
        elif cell == "rnn_relu":
            g2 = gg[gg < math.sqrt(2)]
            ax.plot(g2, [mf.relu_lambda(g) for g in g2], color=INPUT_COLOR[True], lw=1.2,
                    label="mean field ln(g / sqrt 2)")
            ax.axvline(math.sqrt(2), color=INPUT_COLOR[True], ls=":", lw=1)
        else:
            curves = ([(f"zero fixed point, b_f = {bf:g}", ls, [lstm_zero_rate(g, bf, cell == "lstm_cifg") for g in gg])
                       for bf, ls in ((0.0, "-"), (1.0, "--"))] if cell in LSTMS
                      else [("zero fixed point", "-", [gru_zero_rate(g) for g in gg])])
            for label, ls, v in curves:
                v = np.array(v)
                keep = v < 0  # the zero fixed point is attracting only while its rate is negative
                ax.plot(gg[keep], v[keep], color=INPUT_COLOR[False], ls=ls, lw=1.0, label=label)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("g")
        ax.set_ylabel("lambda_max (per step)")
        ax.legend(loc="best", fontsize=6)
    ax = axes.flat[-1]
    ax.axis("off")
    ax.text(0.02, 0.95, "markers: lambda_1 by repeated QR\n(LSTMs: filled forget bias 0, hollow 1)\n"
            "x: fitted gradient-decay rate\nlines: theory for H -> infinity\n(gated: the zero fixed point,\n"
            "drawn where it is attracting)\ndotted: edge of chaos\n(chi = 1; ReLU: g = sqrt 2)",
            va="top", fontsize=9, transform=ax.transAxes)
    fig.suptitle("Largest Lyapunov exponent against the recurrent weight scale g")
    return fig


def _spectrum_figure(curves):
    fig, ax = figure(1, 1, figsize=(6.5, 4.2), layout="constrained")
    for inp in (False, True):
        sub = [(c, r) for c, r in curves if c["cell"] == "rnn_tanh" and c["init"] == "gaussian" and c["input"] == inp]
        if not sub:
            continue
        g = [c["g"] for c, _ in sub]
        L = np.array([r["lyap"] for _, r in sub])
        for i in range(L.shape[1]):
            ax.plot(g, L[:, i], "o-" if i == 0 else ".-", color=INPUT_COLOR[inp], alpha=1.0 - 0.6 * i / L.shape[1],
                    ms=4, lw=1, label=("input" if inp else "no input") + " (lambda_1 darkest)" if i == 0 else None)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("g")
    ax.set_ylabel("lambda_i (per step)")
    ax.set_title("rnn_tanh, Gaussian W_hh: leading Lyapunov spectrum (repeated QR)")
    ax.legend()
    return fig


def _agreement_figure(df, tol_gin):
    fig, axes = figure(1, 3, figsize=(14, 4.2), layout="constrained")
    lin = df[df.theory == "linear"]
    el = df[df.cell.isin(ELMAN) & (df.init != "identity")]
    active, quiet = el[~el.quiescent], el[el.quiescent & (el.init == "gaussian")]
    panels = [
        ("(rate - lambda_1) / tolerance, every configuration", df.lambda1, df.rate_minus_lambda1 / df.tol_lyapunov,
         1.0, "tolerance (per configuration)"),
        ("rate - ln rho(J*), quiescent networks", lin.predicted, lin.rate_minus_predicted, TOL["linear"],
         f"tolerance +-{TOL['linear']:g}"),
        ("lambda_1 - mean field, Elman networks", active.lambda_mf, active.lambda1 - active.lambda_mf,
         TOL["mean-field"], f"tolerance +-{TOL['mean-field']:g} (with activity)"),
    ]
    for k, (ax, (title, x, y, tol, label)) in enumerate(zip(axes, panels, strict=True)):
        cells = df.loc[x.index, "cell"]
        for cell in kernels.CELLS:
            m = cells == cell
            if m.any():
                ax.plot(x[m], y[m], "o", ms=4, label=cell)
        ax.axhspan(-tol, tol, color="tab:green", alpha=0.15, label=label)
        if k == 2 and len(quiet):
            ax.plot(quiet.lambda_mf, quiet.lambda1 - quiet.lambda_mf, "o", mfc="none", color="tab:red", ms=5,
                    label="quiescent Gaussian (= ln rho(W)/g)")
            ax.axhline(tol_gin, color="tab:red", ls="--", lw=0.8, label=f"ginibre 99% quantile {tol_gin:.3f}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("predicted rate (per step)")
        ax.set_ylabel("measured - predicted" if k else "difference / tolerance")
        ax.legend(fontsize=6)
    return fig


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


def _row(df, **conds):
    m = np.ones(len(df), bool)
    for k, v in conds.items():
        m &= (df[k].isna() if v is None else df[k] == v).to_numpy()
    sub = df[m]
    return sub.iloc[0] if len(sub) else None


def _decay_free_text(df, S):
    free = df[~df.input]
    lines = ["log10||dL/dh_t|| against the distance from the loss, no input, one panel per cell (color: g; "
             "LSTM panels: solid forget bias 0, dashed 1). Straight lines are exponential decay or growth; the "
             "slope is the rate."]
    low = free.loc[free.final_log10_norm.idxmin()] if len(free) else None
    if low is not None:
        span = -low.final_log10_norm
        beyond = (" Float64 stops at 10^-308 (10^-324 with subnormals), so only the renormalized backward pass "
                  "can measure such norms.") if span > 324 else ""
        lines.append(f"The norms fall by up to {span:.0f} orders of magnitude by d = {S['T'] - 1} "
                     f"({low.cell}, {low.init}, g = {low.g:g}).{beyond}")
    orth = free[(free.cell == "rnn_tanh") & (free.init == "orthogonal") & free.quiescent]
    if len(orth):
        err = float(np.max(np.abs(orth.rate - np.log(orth.g))))
        lines.append(f"The orthogonal tanh networks with g < 1 sit at h = 0, where J_t = gQ, and decay at exactly "
                     f"ln g per step (largest difference {err:.1e}).")
    grow = free[(free.cell == "rnn_tanh") & (free.rate > 1e-3)]
    if len(grow):
        onset = " and ".join(f"g = {grow[grow.init == i].g.min():g} ({i})" for i in ("gaussian", "orthogonal")
                             if (grow.init == i).any())
        lines.append(f"From {onset} the undriven tanh networks are chaotic and the gradient *grows* "
                     f"exponentially with distance (up to 10^{grow.final_log10_norm.max():.0f}).")
    tanh0 = free[(free.cell == "rnn_tanh") & (free.init == "gaussian")]
    lstm0 = free[(free.cell == "lstm") & (free.forget_bias == 0.0)]
    lstm1 = free[(free.cell == "lstm") & (free.forget_bias == 1.0)]
    if len(tanh0) and len(lstm0) and len(lstm1):
        g0 = min(set(tanh0.g) & set(lstm0.g), default=None)
        if g0 is not None:
            t, a, b = (_row(x, g=g0) for x in (tanh0, lstm0, lstm1))
            lines.append(
                f"At the zero state the gated cells' per-step factor is f + g/4 (LSTM, f = sigmoid(b_f)) or "
                f"1/2 + g/4 (GRU) instead of rnn_tanh's g: the carry through the forget or update gate puts a floor "
                f"under it, so at g = {g0:g} the gradient's timescale is {t.timescale:.3g} steps for rnn_tanh, "
                f"{a.timescale:.3g} for the LSTM with forget bias 0 and {b.timescale:.3g} with forget bias 1 "
                f"(f = 0.73). For larger g the floor no longer helps (1/2 + g/4 > g only for g < 2/3), and the zero "
                f"state loses stability where the factor reaches 1: g = 2 for b_f = 0, g = 1.08 for b_f = 1.")
    ident = _row(free, init="identity")
    if ident is not None:
        lines.append(f"The IRNN (W_hh = I, no input) keeps its state and its gradient norm exactly (rate "
                     f"{ident.rate:.1e}): after the first step, which removes the error of the inactive units, every "
                     "active unit passes its error back unchanged.")
    return " ".join(lines)


def _pairs(df):
    """(undriven, driven) rows of the same network."""
    keys = ["cell", "init", "g", "forget_bias"]
    a = df[~df.input].copy()
    b = df[df.input].copy()
    for x in (a, b):
        x["forget_bias"] = x.forget_bias.fillna(-1)
    return a.merge(b, on=keys, suffixes=("_free", "_input"))


def _decay_input_text(df, S, edge):
    lines = [f"The same with input drive x_t ~ N(0, {S['sigma_x']:g}^2 I) (sigma_in^2 = {S['sigma_x'] ** 2:g})."]
    p = _pairs(df)
    if len(p):
        lower = p[p.lambda1_input < p.lambda1_free]
        others = p[p.lambda1_input >= p.lambda1_free]
        exc = ", ".join(f"{r.cell} g = {r.g:g}" + (f" b_f = {r.forget_bias:g}" if r.forget_bias >= 0 else "")
                        for r in others.itertuples())
        lines.append(f"Drive lowered lambda_1 in {len(lower)} of the {len(p)} networks run both ways"
                     + (f" (not in: {exc})" if exc else "") + ": it pushes units away from the linear range of "
                     "tanh and sigmoid, lowering their slopes, and pulls the gated cells off the zero state.")
    tanh = df[(df.cell == "rnn_tanh") & df.input]
    if len(tanh):
        neg, pos = tanh[tanh.lambda1 < 0].g, tanh[tanh.lambda1 > 0].g
        if len(neg) and len(pos):
            lines.append(f"The driven tanh networks' lambda_1 changes sign between g = {neg.max():g} and "
                         f"g = {pos.min():g}; mean field puts the edge of chaos at g = {edge:.3f} (1 without input).")
    ident = _row(df[df.input], init="identity")
    if ident is not None:
        lines.append(f"The driven IRNN's gradient fades only as units switch off one by one (a power law): its "
                     f"fitted rate is {ident.rate:.1e} per step, no exponential decay.")
    return " ".join(lines)


def _lyap_agreement(df):
    d = df.rate_minus_lambda1.abs()
    within = int(np.sum(d <= df.tol_lyapunov))
    head = "Every x falls on its marker" if within == len(df) else f"{within} of {len(df)} x fall on their markers"
    return f"{head} within its tolerance (largest difference {d.max():.1e} per step)"


def _spectrum_text(df, S):
    sub = df[(df.cell == "rnn_tanh") & (df.init == "gaussian")]
    text = (f"The {S['lyap_k']} leading Lyapunov exponents of rnn_tanh with Gaussian W_hh, by repeated QR. In the "
            "quiescent undriven networks they are the logs of the largest |eigenvalues| of W_hh.")
    if len(sub) and "lambda2" in sub:
        gap = sub.lambda1 - sub.lambda2
        text += (f" The gap lambda_1 - lambda_2 is small (median {gap.median():.2g}, at most {gap.max():.2g} per "
                 "step), so a random initial error needs of the order of 1/gap steps to align with the leading "
                 "direction: this is the transient the fit skips.")
    return text


def _meanfield_text(df, S, s2):
    text = MF_TEXT.format(He=S["H_elman"], s2=s2)
    el = df[df.cell.isin(ELMAN) & (df.init != "identity") & ~df.quiescent]
    if len(el):
        r = el.loc[(el.lambda1 - el.lambda_mf).abs().idxmax()]
        text += (f" Among the networks with activity the largest |lambda_1 - lambda_MF| is "
                 f"{abs(r.lambda1 - r.lambda_mf):.3g} ({r.cell}, {r.init}, g = {r.g:g}, "
                 f"{'with' if r.input else 'without'} input).")
    return text


def _pascanu_text(df):
    el = df[df.cell.isin(ELMAN)]
    bad = el[el.pascanu_violations > 0]
    if len(bad):
        return PASCANU_TEXT + f" **Violations** in: {', '.join(bad.key)}."
    return PASCANU_TEXT + (f" No violation on any of the {len(el)} curves; the largest excess is "
                           f"{max(el.pascanu_max_step_excess.max(), el.pascanu_max_path_excess.max()):.1e}.")


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
                        gin_q=tol_gin, cmd=" --quick" if opts.mode == "quick" else "")
           + (QUICK_NOTE if opts.mode == "quick" else ""))

    summary = agreement(df, tol_gin)
    w.table(summary, "agreement", "Measured against theory: summary", AGREEMENT_TEXT, floatfmt=".3g")
    w.figure(_decay_figure(curves, False, S), "decay_no_input", "Gradient norm against distance, no input",
             _decay_free_text(df, S))
    w.figure(_decay_figure(curves, True, S), "decay_input", "Gradient norm against distance, with input drive",
             _decay_input_text(df, S, edge))
    w.figure(_lyapunov_figure(df, S), "lyapunov_vs_g", "Largest Lyapunov exponent against g",
             LYAP_TEXT.format(edge=edge, s2=s2, agree=_lyap_agreement(df)))
    w.figure(_spectrum_figure(curves), "lyapunov_spectrum", "Leading Lyapunov spectrum (rnn_tanh)",
             _spectrum_text(df, S))
    w.figure(_agreement_figure(df, tol_gin), "agreement", "Measured minus predicted", AGREEMENT_FIG_TEXT)

    md = df[["cell", "init", "g", "forget_bias", "input", "rate", "timescale", "lambda1", "rate_minus_lambda1",
             "theory", "predicted", "rate_minus_predicted"]].copy()
    md["forget_bias"] = md.forget_bias.map(_fmt_bf)
    md["input"] = md.input.map(_yes)
    md.columns = ["cell", "W_hh", "g", "b_f", "input", "rate", "timescale", "lambda_1", "rate - lambda_1", "theory",
                  "predicted", "rate - predicted"]
    w.table(df, "rates", "Decay rates, timescales and theory (every configuration)",
            RATES_TEXT.format(lo=S["fit_lo"], hi=S["T"] - 1), md_df=md)

    el = df[df.cell.isin(ELMAN) & (df.init != "identity")]
    if len(el):
        mm = el[["cell", "init", "g", "input", "quiescent", "q_star", "q_meas", "lambda_mf", "lambda1", "rate"]].copy()
        mm["input"] = mm.input.map(_yes)
        mm["quiescent"] = mm.quiescent.map(_yes)
        mm["half_ln_chi_meas"] = 0.5 * np.log(el.chi_meas)
        mm["d1"] = el.lambda1 - el.lambda_mf
        mm["d2"] = el.rate - el.lambda_mf
        mm.columns = ["cell", "W_hh", "g", "input", "quiescent", "q* (MF)", "q (measured)", "lambda_MF", "lambda_1",
                      "rate", "1/2 ln chi (measured a)", "lambda_1 - MF", "rate - MF"]
        w.table(mm, "meanfield", "Mean-field theory against the Elman networks",
                _meanfield_text(df, S, s2), floatfmt=".4g")

    free = df[~df.input & (df.init != "identity")]
    lm = free[["cell", "init", "g", "forget_bias", "quiescent", "max_abs_h", "log_rho_J0", "rate", "lambda1"]].copy()
    lm["forget_bias"] = lm.forget_bias.map(_fmt_bf)
    lm["quiescent"] = lm.quiescent.map(_yes)
    lm["d"] = np.where(free.quiescent, free.rate - free.log_rho_J0, math.nan)
    lm.columns = ["cell", "W_hh", "g", "b_f", "quiescent", "max |h_t|", "ln rho(J*)", "rate", "lambda_1",
                  "rate - ln rho(J*)"]
    w.table(lm, "linear", "Linear regime: the zero fixed point", LINEAR_TEXT)

    elman = df[df.cell.isin(ELMAN)]
    if len(elman):
        pm = elman[["cell", "init", "g", "input", "sigma_max", "log_rho_W", "pascanu_rate", "rate",
                    "pascanu_max_step_excess", "pascanu_max_path_excess", "pascanu_violations"]].copy()
        pm["input"] = pm.input.map(_yes)
        pm.columns = ["cell", "W_hh", "g", "input", "sigma_max(W_hh)", "ln rho(W_hh)", "bound ln(gamma sigma_max)",
                      "rate", "max step excess", "max path excess", "violations"]
        w.table(pm, "pascanu", "Pascanu, Mikolov & Bengio's bound, checked along every curve", _pascanu_text(df),
                floatfmt=".4g")


INTRO = """\
How fast does the gradient of a loss at the last step fade, or blow up, as it travels back
through time, for every cell, and does theory predict the rate? Each configuration is a
one-layer network that runs {burn} burn-in steps and then a window of T = {T} steps. The loss
gradient dL/dh_(T-1) is a random unit vector. The kernels' backward pass in `log_norms` mode
(the error renormalized in float64 every step) gives log||dL/dh_t|| at every distance
d = T-1-t, finite however many orders of magnitude it spans. Its **rate** is the least-squares
slope of log||dL/dh_t|| against d over d in [{lo}, T-1]; the first {lo} steps are skipped
because the error is still aligning with the most expanding direction. Its **timescale** is
-1/rate: the number of steps per factor of e (negative when the norm grows).

Networks: H = {He} for rnn_tanh and rnn_relu, H = {Hg} for the gated cells. W_hh is Gaussian
N(0, g^2/H) in every gate block, g times a Haar orthogonal matrix (Elman cells only), or the
identity (IRNN). All biases are 0 except the LSTM forget-gate bias b_f, which is 0 or 1;
peephole weights keep the kernels' default initialization. **Input drive**: x_t ~ N(0, {sx}^2 I)
i.i.d., and W_ih is one H x H block with orthonormal rows per gate, so every unit's input term
is exactly N(0, {sx}^2): sigma_in^2 = {s2:g}. "No input" means x_t = 0. The initial state is
N(0, 0.5^2) per unit. There are {n} configurations. All the numbers come from
`python -m studies.gradient_decay{cmd}` with seed 0, and a rerun reproduces them bit for bit.

**Theory compared** (rates per step, natural log):

- *Lyapunov exponents* of the forward map s_t = F(s_(t-1), x_t), along the same inputs.
  They are computed with Jacobian-vector products of each cell's step (`studies/common/jvp.py`,
  checked against finite differences of the kernels' forward) and repeated QR of {k} tangent
  vectors, averaged after a {skip}-step alignment. The first QR column is the single tangent
  vector renormalized every step, so lambda_1 is also the tangent-vector-renormalization
  estimate. Backpropagation multiplies by the transposes of the same Jacobians, whose product
  has the same singular values, so the gradient rate and lambda_1 estimate the same number. Both
  are finite-time averages. The tolerance is 5 standard errors of their difference,
  5 sqrt(2) SE(lambda_1), where SE is the batch-means standard error of lambda_1 over 10 blocks
  (at most {se_hi:.1e} here), with a floor of {tlf:g}.
- *Linear (exact)*: without input and with zero biases the zero state is a fixed point of every
  cell. Where the trajectory sits there (**quiescent**: max |h_t| < 1e-6 over the window), every
  step has the same Jacobian J*, so the gradient is (J*^T)^d dL/dh_(T-1) and its rate tends to
  ln rho(J*), the log of J*'s spectral radius. This is the eigenvalue of largest modulus, not the
  norm: sigma_max only bounds it. J* = W_hh for rnn_tanh, f I + o i W_g on the (h, c) block for
  the LSTMs (f = sigmoid(b_f), o = 1/2, i = 1/2, or 1 - f for CIFG), and I/2 + W_hn/4 for both GRUs.
  Tolerance **{tlin}**: the approach to the asymptotic rate is a transient of order
  log(condition number) / fit length. For W_hh = gQ orthogonal the rate is ln g at every step.
- *Mean field* for rnn_tanh and rnn_relu (Molgedey, Schuchhardt & Schuster 1992; Poole et al.
  2016). The pre-activations a_t = W_hh h_(t-1) + W_ih x_t are Gaussian with variance q*, where
  q* = g^2 E_z[tanh^2(sqrt(q*) z)] + sigma_in^2. A tangent vector gains
  chi = g^2 E_z[sech^4(sqrt(q*) z)] in squared norm per step, so lambda_max = (1/2) ln chi, and
  chi = 1 is the edge of chaos: g = 1 without input, g = {edge:.4f} with sigma_in^2 = {s2:g}. For
  ReLU, chi = g^2/2 whatever q* is, so lambda_max = ln(g / sqrt 2), and the activity stays bounded
  only for g < sqrt 2. Expectations use 2001-node Gauss–Hermite quadrature, checked against
  adaptive quadrature and Monte Carlo. The theory holds for H -> infinity; at H = {He} the one
  finite-size effect known exactly is the spectral radius of a Gaussian W_hh. Over {gin_n}
  sampled H = {He} Gaussian matrices, ln(rho(W)/g) has mean {gin_mean:.3f}, standard deviation
  {gin_sd:.3f} and 99th percentile {gin_q:.3f}. Tolerances: **{tmf}** for networks with
  activity (driven or chaotic), about that mean. For the quiescent undriven Gaussian networks,
  whose measured rate *is* ln rho(W) while mean field says ln g, the tolerance is the 99th
  percentile, **{gin_q:.3f}**.
- *Pascanu, Mikolov & Bengio (2013)*: for the Elman cells,
  dL/dh_(t-1) = W_hh^T diag(phi'(a_t)) dL/dh_t with |phi'| <= gamma = 1 (tanh and ReLU). Each
  step can therefore change log||dL/dh|| by at most ln(gamma sigma_max(W_hh)), and the path from
  the loss by at most d times that. The bound is checked at every step and every distance of
  every Elman curve. For the gated cells no such bound is useful: their Jacobians add an
  identity-like carry (f on c, z on h) to the gate-derivative terms, so any norm bound exceeds 1
  whatever W_hh is. They are compared with lambda_1 and the linear theory instead.
"""

QUICK_NOTE = """
*This is a `--quick` run (small H, short T). It exercises every code path but is not sized to
meet the tolerances; the committed full report is in reports/gradient_decay/.*
"""

AGREEMENT_TEXT = """\
For each comparison: how many configurations it covers, the largest absolute difference between
the measured and predicted per-step rates, the tolerance, the largest ratio of the two, and how
many configurations are within the tolerance. When "within" equals "n", the theory predicts
every measured rate to the stated tolerance. For the Pascanu row the difference column is the
largest excess of any step or path over the bound, and "within" counts the curves with no excess
beyond rounding.
"""

LYAP_TEXT = """\
lambda_1 (markers) and the fitted gradient rate (x) against g, one panel per cell, with the
H -> infinity theory. For the Elman cells that is mean field; the dotted lines are the edges of
chaos, at g = 1 without input and g = {edge:.3f} with sigma_in^2 = {s2:g}. For the gated cells
it is the rate at the zero fixed point, drawn only where that point attracts. Measured points
leave that line once the state no longer sits at zero: with drive, or above the g where the
line crosses 0. {agree}, so the gradient decays at the rate of the forward dynamics' largest Lyapunov exponent. Conclusion: the
sign of lambda_max decides between vanishing (< 0) and exploding (> 0) gradients. Mean field
locates the edge of chaos, where the timescale -1/lambda diverges, and input drive moves that
edge to larger g.
"""

SPECTRUM_TEXT = """\
The {k} leading Lyapunov exponents of rnn_tanh with Gaussian W_hh, by repeated QR. In the
quiescent undriven networks they are the logs of the largest |eigenvalues| of W_hh, tightly
bunched. The gap lambda_1 - lambda_2 is small throughout, so a random initial error needs
hundreds of steps to align with the leading direction: this is the transient the fit skips.
"""

AGREEMENT_FIG_TEXT = """\
Measured minus predicted rates against the predicted rate, with the tolerance shaded. Left: the
gradient rate against lambda_1 for every configuration, divided by each configuration's own
tolerance. Middle: the rate against ln rho(J*) for the quiescent networks. Right: lambda_1
against mean field for the Elman networks with activity; the red hollow markers are the
quiescent Gaussian networks, whose difference is ln(rho(W)/g), with their own tolerance (dashed).
"""

RATES_TEXT = """\
Every configuration: the rate of log||dL/dh_t|| fitted over d in [{lo}, {hi}] (per step,
natural log), the timescale -1/rate in steps, lambda_1 by repeated QR, and the theory that
applies. "linear" is ln rho(J*) at the zero fixed point; "mean-field" is the Elman theory;
"identity" is the IRNN's rate of 0; "lyapunov" means there is no closed form and lambda_1 itself
is the prediction. rates.csv adds the fit's standard error, the rate over the second half of the
range (rate_late, a stationarity check), lambda_2..lambda_k and SE(lambda_1), each
configuration's tolerance, the spectral norm and radius of W_hh, and the largest |h_t|.
"""

MF_TEXT = """\
H = {He}. q* from the mean-field map against the measured mean of a_t^2 over the window, and
lambda_MF = (1/2) ln chi against lambda_1 and the gradient rate. The column "1/2 ln chi
(measured a)" evaluates chi = g^2 mean(phi'(a)^2) on the measured pre-activations; this
separates the error in q* from the error of mean field's large-H independence assumption.
sigma_in^2 = {s2:g} with input and 0 without. The orthogonal networks follow the same theory
(||gQh|| = g||h|| exactly), and their quiescent rate is exactly ln g. The quiescent Gaussian
networks' rate is ln rho(W_hh), which exceeds ln g by the finite-size spread of the spectral
radius.
"""

LINEAR_TEXT = """\
Undriven networks (IRNN aside): whether the state sits at the zero fixed point over the whole
window (quiescent: max |h_t| < 1e-6), and the exact rate ln rho(J*) of the linearized map there,
against the measured rate and lambda_1. Where the state sits there, the rates agree to the level
of the fit's transient. Elsewhere the networks run on another attractor: chaos (lambda_1 > 0), a
limit cycle or torus (lambda_1 ~ 0, e.g. the undriven rnn_tanh near g = 1, whose state comes
back close to where it was hundreds of steps earlier), or a saturated nonzero fixed point
(lambda_1 < 0 with a motionless state). There ln rho(J*) > 0 only says that the zero state repels.
"""

PASCANU_TEXT = """\
For every Elman curve: sigma_max(W_hh) and rho(W_hh), the bound ln(gamma sigma_max) on each
step's growth (gamma = 1 for tanh and ReLU), and the measured rate. Then the largest excess over
the bound of any single step and of any path
(log||dL/dh_t|| - log||dL/dh_(T-1)|| - d ln sigma_max), and the number of violations beyond
rounding (1e-9 per unit of |log norm|). The bound is tight (excess 0) for orthogonal W_hh at the
zero state, and loose by about ln(sigma_max / rho) ~ ln 2 per step for Gaussian W_hh
(sigma_max ~ 2g, rho ~ g).
"""

STUDY = Study(
    name="gradient_decay",
    title="Gradient decay: ||dL/dh_t|| against distance, for every cell",
    version=2,
    configs=configs,
    compute=compute,
    report=report,
    add_arguments=add_arguments,
    description=__doc__.split("\n\n")[0],
)

if __name__ == "__main__":
    sys.exit(STUDY.main())
