"""The report's figures."""

import math

import numpy as np
from bpttlab import kernels

from ..framework import figure
from ..science import meanfield as mf
from .configs import ELMAN, LSTMS
from .tables import INPUT_COLOR, LABELS, downsample
from .theory import elman_mean_field, gated_mean_field, gru_zero_rate, lstm_zero_rate

PANELS = [("rnn_tanh", "gaussian"), ("rnn_tanh", "orthogonal"), ("rnn_relu", None), ("lstm", None),
          ("lstm_peephole", None), ("lstm_cifg", None), ("gru", None), ("gru_cho", None)]


def _predicted_rate(c, s2):
    """The theory's rate for one curve's setting (H -> infinity): mean field (ln g at the zero
    state), the gated cells' tied mean field, 0 for the IRNN."""
    if c["init"] == "identity":
        return 0.0
    if c["cell"] in ELMAN:
        return elman_mean_field(c["cell"], c["g"], s2)
    return gated_mean_field(c["cell"], c["g"], c["forget_bias"], s2, "tied")


def decay_figure(curves, relu_free, with_input, S):
    """One network (the first) of every setting: log10||dL/dh_t|| against distance, with the
    predicted rate as a dashed line from the curve's start."""
    import matplotlib as mpl  # noqa: PLC0415

    fig, axes = figure(2, 4, figsize=(15, 7.5), sharex=True, layout="constrained")
    gs = sorted({c["g"] for c, _ in curves if c["init"] != "identity"}) or [1.0]
    norm = mpl.colors.LogNorm(vmin=min(gs), vmax=max(gs) * 1.0001)
    cmap = mpl.colormaps["viridis"]
    s2 = S["sigma_x"] ** 2 if with_input else 0.0
    for ax, (cell, init) in zip(axes.flat, PANELS, strict=True):
        ax.set_title(cell if init is None else f"{cell}, {LABELS[init]} W_hh")
        drawn = False
        for c, r in curves:
            if (c["cell"] != cell or c["input"] != with_input or c["net"] != 0
                    or (init is not None and c["init"] != init)):
                continue
            d = downsample(len(r["log_h"]))
            y = r["log_h"][d] / math.log(10)
            col = "k" if c["init"] == "identity" else cmap(norm(c["g"]))
            ls = "--" if c["cell"] in LSTMS and c["forget_bias"] == 0.0 else "-"
            ax.plot(d, y, color=col, ls=ls, lw=1.1, label="IRNN (W_hh = I)" if c["init"] == "identity" else None)
            pred = _predicted_rate(c, s2)
            ax.plot([0, d[-1]], [y[0], y[0] + pred * d[-1] / math.log(10)], color=col, ls=(0, (2, 2)), lw=0.8,
                    alpha=0.8)
            drawn = True
        if cell == "rnn_relu" and not with_input and relu_free:
            # Undriven Gaussian ReLU networks have no stationary regime: draw their state norm.
            for c, r in relu_free:
                if c["net"] != 0:
                    continue
                ln = r["log_norm_h"]
                d = downsample(len(ln))
                ax.plot(d, ln[d] / math.log(10), color=cmap(norm(min(max(c["g"], min(gs)), max(gs)))), ls=":", lw=1.4,
                        label=f"state ||h_t||, Gaussian g = {c['g']:g}")
            for lim in (-308, 308):
                ax.axhline(lim, color="tab:red", lw=0.7, ls="-.")
            ax.text(0.02, 0.02, "dotted: state norm (not gradient);\nred: float64 range 1e+-308",
                    transform=ax.transAxes, fontsize=7, va="bottom")
            drawn = True
        if not drawn:
            ax.axis("off")
            ax.text(0.5, 0.5, "not in this sweep (cut for the budget;\nlstm_peephole: the same mean field as lstm)",
                    transform=ax.transAxes, ha="center", va="center", fontsize=8)
        ax.set_ylabel("log10 ||dL/dh_t||")
        if ax in axes[1]:
            ax.set_xlabel("distance T - 1 - t (steps)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=6)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="g (recurrent weight scale)", shrink=0.8)
    drive = f"input drive sigma_x = {S['sigma_x']:g}" if with_input else "no input"
    fig.suptitle(f"Gradient norm against distance ({drive}), the first network of each setting\n"
                 "thin dashed: the predicted rate (mean field; gated: tied mean field) from the curve's start; "
                 "LSTM long dashes: b_f = 0")
    return fig


def lyapunov_figure(st, S, points=30):
    """lambda_1 against g: mean over the networks with the SD across them as error bars; theory lines."""
    fig, axes = figure(2, 4, figsize=(15, 7.5), layout="constrained")
    gmax = max(float(st["g"].max()), 1.0) * 1.02 if len(st) else 3.0
    gg = np.linspace(0.4, gmax, points)
    s2x = S["sigma_x"] ** 2
    for ax, cell in zip(axes.flat, kernels.CELLS, strict=False):
        sub = st[(st.cell == cell) & (st.init != "identity")]
        ax.set_title(cell)
        bfs = sorted({b for b in sub.forget_bias if b == b}) or [None]
        for inp in (False, True):
            col = INPUT_COLOR[inp]
            s2 = s2x if inp else 0.0
            for init, marker in (("gaussian", "o"), ("orthogonal", "^")):
                for bf in bfs:
                    s = sub[(sub.input == inp) & (sub.init == init)]
                    s = s if bf is None else s[s.forget_bias == bf]
                    if s.empty:
                        continue
                    extra = f", {LABELS[init]}" if cell in ELMAN else (f", b_f={bf:g}" if bf is not None else "")
                    ax.errorbar(s.g, s.lambda1_mean, yerr=s.lambda1_sd, fmt=marker, ms=4, color=col, capsize=2,
                                mfc="none" if bf == 0.0 else col, label=f"{'input' if inp else 'no input'}{extra}")
                    if cell not in ELMAN:
                        for theory, ls in (("tied", "-"), ("annealed", ":")):
                            v = [gated_mean_field(cell, g, bf, s2, theory) for g in gg]
                            ax.plot(gg, v, color=col, ls=ls, lw=1.0, alpha=0.6 if bf == 0.0 else 1.0,
                                    label=f"{theory} MF{extra}" if inp is False or theory == "tied" else None)
            if cell in ELMAN:
                gv = gg if cell == "rnn_tanh" else gg[gg < math.sqrt(2)]
                if cell == "rnn_tanh" or inp:
                    ax.plot(gv, [elman_mean_field(cell, g, s2) for g in gv], color=col, lw=1.2,
                            label=f"mean field, sigma_in^2 = {s2:g}")
                if cell == "rnn_tanh":
                    ax.axvline(mf.tanh_edge(s2), color=col, ls=":", lw=1)
        ax.set_xlabel("g")
        ax.set_ylabel("lambda_1 (per step)")
        if sub.empty:
            # An empty panel (a cell cut from the sweep) holds the previous panel's legend, which
            # inside its own crowded panel (the LSTM's ten entries) covered data.
            ax.axis("off")
            ax.text(0.5, 0.97, "not in this sweep (cut for the budget)", transform=ax.transAxes,
                    ha="center", va="top", fontsize=8)
            prev = axes.flat[list(axes.flat).index(ax) - 1]
            if prev.get_legend() is not None:
                prev.get_legend().remove()
                ax.legend(*prev.get_legend_handles_labels(), loc="center", fontsize=7, title=f"{prev.get_title()} (left)",
                          title_fontsize=8)
            continue
        ax.axhline(0, color="grey", lw=0.8)
        ax.legend(loc="best", fontsize=5)
    ax = axes.flat[-1]
    ax.axis("off")
    ax.text(0.02, 0.95, "markers: mean lambda_1 over the networks\nerror bars: SD across networks\n"
            "(the SE of the mean is SD / sqrt(n))\nlines: H -> infinity theory\nElman: mean field; dotted: edge\n"
            "gated: tied (solid), annealed (dotted)\nmean field, docs/gated_meanfield.md\n"
            "blue: no input, orange: input", va="top", fontsize=9, transform=ax.transAxes)
    fig.suptitle("Largest Lyapunov exponent against the recurrent weight scale g (ensembles)")
    return fig


def fss_figure(points, fits):
    """lambda_1 against 1/H (mean ± SE over the networks), the fit lambda_inf + a/H, and mean
    field at 1/H = 0."""
    groups = list(points.groupby(["cell", "input"], sort=True)) if len(points) else []
    fig, axes = figure(1, max(len(groups), 1), figsize=(4.8 * max(len(groups), 1), 4.8), layout="constrained",
                       squeeze=False)
    import matplotlib as mpl  # noqa: PLC0415

    cmap = mpl.colormaps["plasma"]
    for ax, ((cell, inp), sub) in zip(axes.flat, groups, strict=False):
        gs = sorted(set(sub.g))
        for j, g in enumerate(gs):
            col = cmap(0.1 + 0.75 * j / max(len(gs) - 1, 1))
            s = sub[sub.g == g]
            x = 1.0 / s.H.to_numpy(float)
            ax.errorbar(x, s.lambda1_mean, yerr=s.lambda1_se, fmt="o", ms=4, color=col, capsize=2, label=f"g = {g:g}")
            f = fits[(fits.cell == cell) & (fits.input == inp) & (fits.g == g)] if len(fits) else fits
            if len(f):
                f = f.iloc[0]
                xx = np.linspace(0, x.max() * 1.05, 50)
                ax.plot(xx, f.lambda_inf + f.a * xx, color=col, lw=1)
                ax.errorbar([0], [f.lambda_inf], yerr=[f.lambda_inf_se], fmt="s", mfc="none", color=col, capsize=3)
                ax.plot([0], [f.lambda_mf], "*", ms=11, color=col, mec="k", mew=0.6)
        ax.set_title(f"{cell}, {'input' if inp else 'no input'}")
        ax.set_xlabel("1 / H")
        ax.set_ylabel("lambda_1 (per step)")
        # Below the panel: inside, it covered the small-H points of the middle curves.
        ax.legend(fontsize=7, title="line: lambda_inf + a/H; square: lambda_inf ± SE; star: mean field",
                  title_fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(gs), frameon=False)
    fig.suptitle("Finite-size scaling of lambda_1 (mean ± SE over the networks at each H)")
    return fig


def theory_figure(rows, fits):
    """(measured - predicted) / tolerance for every theory comparison, by test."""
    tests = list(dict.fromkeys(rows.test)) if len(rows) else []
    names = (["mean field, Elman, H -> infinity"] if len(fits) else []) + tests
    fig, ax = figure(1, 1, figsize=(10, 0.45 * len(names) + 1.8), layout="constrained")
    for i, name in enumerate(names):
        if i == 0 and len(fits):
            z = fits.lambda_inf_minus_mf / fits.tolerance
        else:
            s = rows[rows.test == name]
            z = s.deviation / s.tolerance
        z = np.clip(z.to_numpy(float), -10, 10)
        y = np.full(z.size, i) + np.linspace(-0.2, 0.2, z.size)
        ok = np.abs(z) <= 1
        ax.plot(z[ok], y[ok], "o", ms=3, color="tab:green")
        ax.plot(z[~ok], y[~ok], "o", ms=3, color="tab:red")
    ax.axvspan(-1, 1, color="tab:green", alpha=0.12)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("(measured - predicted) / tolerance (clipped at +-10)")
    ax.set_title("Theory tests: every comparison against its stated tolerance (shaded, green: within; red: outside)")
    return fig


__all__ = ["decay_figure", "fss_figure", "gru_zero_rate", "lstm_zero_rate", "lyapunov_figure", "theory_figure"]
