"""The report's figures."""

import math

import numpy as np
from bpttlab import kernels

from ..framework import figure
from ..science import meanfield as mf
from .configs import ELMAN, LSTMS, TOL
from .tables import INPUT_COLOR, LABELS, downsample
from .theory import gru_zero_rate, lstm_zero_rate


def decay_figure(curves, with_input, S):
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
            d = downsample(len(r["log_h"]))
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


def lyapunov_figure(df, S):
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


def spectrum_figure(curves):
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


def agreement_figure(df, tol_gin):
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
