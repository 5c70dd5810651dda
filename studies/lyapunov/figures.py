"""The report's figures: spectra as spectra (every exponent against i/S, ensemble mean with a band),
KY dimension and entropy rate against g with error bars across networks, driven against undriven."""

import numpy as np

from ..framework import figure
from ..science import meanfield as mf
from .tables import CONFIG
from .theory import tanh_spectrum_at

DRIVE_STYLE = {0.0: "-", 1.0: "--"}


def _mean_band(spec):
    """Ensemble mean and SD of the sorted spectrum at each i (all networks of one configuration have the same S)."""
    mat = np.vstack([g.exponent.to_numpy() for _, g in spec.groupby("seed", sort=True)])
    x = spec[spec.seed == spec.seed.iloc[0]].i_over_S.to_numpy()
    return x, mat.mean(axis=0), (mat.std(axis=0, ddof=1) if mat.shape[0] > 1 else np.zeros(mat.shape[1])), mat.shape[0]


def collapse_figure(sp, cell):
    """One panel per g: the spectrum against i/S at every H (undriven and driven)."""
    import matplotlib as mpl  # noqa: PLC0415

    sub = sp[sp.cell == cell]
    gs = sorted(sub.g.unique())
    Hs = sorted(sub.H.unique())
    cols = min(len(gs), 3)
    rows = -(-len(gs) // cols)
    fig, axes = figure(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False, layout="constrained")
    cmap = mpl.colormaps["viridis"]
    for ax, g in zip(axes.flat, gs, strict=False):
        for j, H in enumerate(Hs):
            color = cmap(j / max(len(Hs) - 1, 1) * 0.85)
            for v, s in sub[(sub.g == g) & (sub.H == H)].groupby("input_variance", sort=True):
                x, m, sd, n = _mean_band(s)
                ax.plot(x, m, DRIVE_STYLE.get(v, ":"), color=color, lw=1.2,
                        label=f"H = {H}, input var {v:g} (n = {n})")
                ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.2, lw=0)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_title(f"{cell}, g = {g:g}")
        ax.set_xlabel("i / S (S = state size)")
        ax.set_ylabel("lambda_i (per step)")
    for ax in list(axes.flat)[len(gs):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7)
    fig.suptitle(f"{cell}: full Lyapunov spectra against i/S at every H (line: mean over networks; band: +-1 SD "
                 "across networks; solid: no input, dashed: driven)", fontsize=9)
    return fig


def spectra_by_g_figure(sp, cell, H, theory=False):
    """The spectra at one H, one line per g, undriven and driven side by side; with ``theory`` (rnn_tanh)
    the annealed random-matrix spectrum of each (g, input variance) as a thin dashed line."""
    import matplotlib as mpl  # noqa: PLC0415

    sub = sp[(sp.cell == cell) & (sp.H == H)]
    vs = sorted(sub.input_variance.unique())
    gs = sorted(sub.g.unique())
    fig, axes = figure(1, len(vs), figsize=(5.2 * len(vs), 3.8), squeeze=False, sharey=True, layout="constrained")
    cmap = mpl.colormaps["plasma"]
    for ax, v in zip(axes.flat, vs, strict=True):
        for j, g in enumerate(gs):
            s = sub[(sub.g == g) & (sub.input_variance == v)]
            if s.empty:
                continue
            x, m, sd, n = _mean_band(s)
            color = cmap(j / max(len(gs) - 1, 1) * 0.85)
            ax.plot(x, m, color=color, lw=1.2, label=f"g = {g:g} (n = {n})")
            ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.2, lw=0)
            if theory:
                ax.plot((np.arange(1, H + 1) - 0.5) / H, tanh_spectrum_at(g, v, int(H)), color="k", lw=0.7, ls="--",
                        label="annealed random-matrix theory" if j == len(gs) - 1 else None)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_title(f"{cell}, H = {H}, input variance {v:g}")
        ax.set_xlabel("i / S")
    axes.flat[0].set_ylabel("lambda_i (per step)")
    axes.flat[-1].legend(loc="lower left", fontsize=7)
    return fig


def measures_figure(summary):
    """KY dimension per unit, entropy rate per unit and lambda_max against g: mean +- SE across networks,
    every cell at its largest H, undriven and driven."""
    fig, axes = figure(1, 3, figsize=(17, 4.2), layout="constrained")
    names = (("ky_dimension_per_unit", "Kaplan-Yorke dimension / H"), ("entropy_rate_per_unit", "entropy rate / H"),
             ("lambda_max", "lambda_max (per step)"))
    markers = {"rnn_tanh": "o", "lstm": "s", "gru": "^"}
    colors = {"rnn_tanh": "C0", "lstm": "C1", "gru": "C2"}
    for ax, (col, label) in zip(axes, names, strict=True):
        for cell, sub in summary.groupby("cell", sort=False):
            s = sub[sub.H == sub.H.max()]
            for v, t in s.groupby("input_variance", sort=True):
                ax.errorbar(t.g, t[f"{col}_mean"], yerr=t[f"{col}_se"], marker=markers.get(cell, "o"),
                            color=colors.get(cell), mfc=colors.get(cell) if v == 0.0 else "white",
                            ls=DRIVE_STYLE.get(v, ":"), capsize=3, ms=5,
                            label=f"{cell} H = {int(s.H.max())}, input var {v:g}")
            if col == "lambda_max" and cell == "rnn_tanh" and len(s):
                gg = np.linspace(float(s.g.min()), float(s.g.max()), 80)
                for v in sorted(s.input_variance.unique()):
                    ax.plot(gg, [mf.tanh_lambda(g, v) for g in gg], color="0.4", lw=0.9, ls=DRIVE_STYLE.get(v, ":"),
                            label=f"rnn_tanh mean field (1/2) ln chi, input var {v:g}")
        ax.set_xlabel("g")
        ax.set_ylabel(label)
        ax.axhline(0.0, color="k", lw=0.5)
    # Beside the panels: inside the last one it covered the gated cells' points.
    fig.legend(*axes[-1].get_legend_handles_labels(), loc="outside right center", fontsize=7)
    fig.suptitle("Mean over networks +- SE across networks (largest H of each cell); solid, filled: no input; dashed, open: driven",
                 fontsize=9)
    return fig


def theory_figure(tt):
    """Measured minus predicted against its tolerance, every theory test."""
    fig, ax = figure(1, 1, figsize=(9, 4.2), layout="constrained")
    labels = [f"{r.cell} {r.quantity} g={r.g:g} v={r.input_variance:g}" for r in tt.itertuples()]
    y = np.arange(len(tt))
    ax.barh(y, tt.tolerance, left=-tt.tolerance, color="0.85", label="tolerance (rule)")
    ax.errorbar(tt.deviation, y, xerr=tt.se, fmt="o", color="C3", label="measured mean - prediction (+- SE)")
    ax.axvline(0, color="k", lw=0.6)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("deviation (per step)")
    ax.legend(fontsize=7)
    return fig


__all__ = ["CONFIG", "collapse_figure", "measures_figure", "spectra_by_g_figure", "theory_figure"]
