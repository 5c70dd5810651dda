"""The study's figures. Legends sit outside the axes; no curve is drawn beyond the data."""

import math

import numpy as np
from bpttlab import kernels

from ..framework import figure
from ..training.trainer import SUCCESS_FRACTION

REGIME_COLORS = {"contracting": "tab:blue", "critical": "tab:green", "expanding": "tab:red", "unknown": "gray"}
ROUNDOFF = 1e-13  # relative errors below this are float64 round-off of the full gradient


def _grid(n, ncol=4, w=3.2, h=2.7, **kw):
    ncol = min(ncol, n)
    nrow = math.ceil(n / ncol)
    fig, axes = figure(nrow, ncol, figsize=(w * ncol, h * nrow + 0.6), squeeze=False, **kw)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def bias_vs_k2(bias):
    cells = sorted({c["cell"] for c, _ in bias}, key=list(kernels.CELLS).index)
    fig, axes = _grid(len(cells), sharey=True)
    lowest = 1.0
    for ax, cell in zip(axes.flat, cells, strict=False):
        for c, r in bias:
            if c["cell"] != cell:
                continue
            k2, rel = np.asarray(r["k2"]), np.asarray(r["relerr"])
            shown = rel > ROUNDOFF
            color = REGIME_COLORS[r["regime"]]
            ax.semilogy(k2[shown], rel[shown], "o-", ms=3, color=color, lw=1, alpha=0.5 + 0.1 * np.log2(c["gain"] * 2))
            if shown.any():
                lowest = min(lowest, rel[shown].min())
            if shown.any() and rel[shown][-1] < 0.5:  # lines that stay near 1 would stack their labels
                ax.annotate(f"g={c['gain']:g}", (k2[shown][-1], rel[shown][-1]), fontsize=6, xytext=(2, 0),
                            textcoords="offset points")
            # The slope the measured gradient decay predicts, drawn only over the measured points.
            rate = float(r["rate"])
            if shown.sum() >= 2 and rate < 0:
                ks = k2[shown]
                ax.semilogy(ks, rel[shown][0] * np.exp(rate * (ks - ks[0])), ":", color=color, lw=0.8)
        ax.set_title(cell)
        ax.set_xlabel("k2 (TBPTT(1, k2))")  # linear: a geometric fall is a straight line
    for ax in axes[:, 0]:
        ax.set_ylabel("relative error vs full BPTT")
    axes.flat[0].set_ylim(max(lowest / 3, ROUNDOFF), 3)
    handles = [axes.flat[0].plot([], [], "o-", color=col, label=name)[0] for name, col in REGIME_COLORS.items()
               if name != "unknown"]
    handles.append(axes.flat[0].plot([], [], ":", color="k", label="exp(decay rate x k2), measured rate")[0])
    for ax in axes.flat:
        ax.set_xlim(0, max(k for c, _ in bias for k in c["k2"]) * 1.05)
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def cost_vs_k(cost_df):
    fig, (a1, a2) = figure(1, 2, figsize=(8, 3.2))
    for cell, t in cost_df.groupby("cell", sort=False):
        a1.semilogx(t["k"], t["time_vs_full"], "o-", ms=3, label=cell)
        a2.loglog(t["k"], t["tape_MiB"], "o-", ms=3, label=cell)
    a1.set_xlabel("k (TBPTT(k, k), streaming)")
    a1.set_ylabel("time per update / full BPTT")
    a2.set_xlabel("k")
    a2.set_ylabel("largest tape alive (MiB)")
    a2.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def _swept(table):
    """(task, T, cell) groups run at more than one k2."""
    return [(key, g) for key, g in table.groupby(["task", "T", "cell"], sort=False) if len(g) > 1]


def loss_and_success_vs_k2(table):
    groups = _swept(table)
    ncol = min(4, len(groups))
    nrow = math.ceil(len(groups) / ncol)
    fig, axes = figure(2 * nrow, ncol, figsize=(3.2 * ncol, 5.0 * nrow + 0.4), squeeze=False)
    for j in range(len(groups), nrow * ncol):  # the unused panels of the last row
        axes[2 * (j // ncol), j % ncol].set_visible(False)
        axes[2 * (j // ncol) + 1, j % ncol].set_visible(False)
    for j, ((task, T, cell), g) in enumerate(groups):
        top, bottom = axes[2 * (j // ncol), j % ncol], axes[2 * (j // ncol) + 1, j % ncol]
        k2, base = g["k2"].to_numpy(), g["baseline"].to_numpy()
        med = g["median_final_loss"].to_numpy() / base
        err = np.nan_to_num(np.abs(np.vstack([g["loss_ci_low"], g["loss_ci_high"]]) / base - med))
        top.errorbar(k2, med, yerr=err, fmt="o-", ms=4, capsize=2, label="median final loss (95% bootstrap)")
        top.plot(k2, g["window_bound"] / base, "s--", ms=4, color="tab:orange", label="window bound (predicted floor)")
        top.axhline(SUCCESS_FRACTION, color="k", ls=":", lw=0.8, label="success threshold")
        top.set_yscale("symlog", linthresh=1e-2)
        top.set_ylim(0, 1.6)
        top.set_title(f"{task}, T={T}, {cell}", fontsize=8)
        rate = g["success_rate"].to_numpy()
        yerr = np.maximum(0, np.vstack([rate - g["ci_low"], g["ci_high"] - rate]))  # 0/n: ci_low is rate + 1e-17
        bottom.errorbar(k2, rate, yerr=yerr, fmt="o-", ms=4, capsize=2, color="tab:green")
        bottom.set_ylim(-0.05, 1.05)
        bottom.set_xlabel("k2")
        lag = int(g["lag"].iloc[0])
        for ax in (top, bottom):
            ax.axvline(lag, color="gray", lw=0.8, ls="-.")
    for r in range(nrow):
        axes[2 * r, 0].set_ylabel("held-out loss / baseline")
        axes[2 * r + 1, 0].set_ylabel("success rate (95% Wilson)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(axes[0, 0].plot([], [], color="gray", lw=0.8, ls="-.")[0])
    labels.append("longest lag L")
    fig.legend(handles, labels, loc="lower center", ncol=2 if ncol < 4 else 4, frameon=False, fontsize=7)
    fig.tight_layout(rect=(0, 0.1 / nrow if ncol < 4 else 0.04 / nrow, 1, 1))
    return fig


def learning_curves(learn, table):
    groups = _swept(table)
    fig, axes = _grid(len(groups), w=3.2, h=3.4)
    for ax, ((task, T, cell), _) in zip(axes.flat, groups, strict=False):
        name_of = lambda c: c["task"] if c["form"] is None else f"{c['task']}_{c['form']}"  # noqa: E731
        for c, r in learn:
            if (name_of(c), c["T"], c["cell"]) == (task, T, cell) and c["replica"] == 0:
                ax.semilogy(r["eval_updates"], np.asarray(r["eval_loss"]) / float(r["baseline"]), lw=1,
                            label=f"k2={c['k2']}")
        ax.axhline(1.0, color="k", ls="--", lw=0.8)
        ax.axhline(SUCCESS_FRACTION, color="k", ls=":", lw=0.8)
        ax.set_title(f"{task}, T={T}, {cell}", fontsize=8)
        ax.set_xlabel("update")
        ax.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    for ax in axes[:, 0]:
        ax.set_ylabel("monitoring loss / baseline")
    fig.tight_layout()
    return fig


def full_bptt_success(table):
    """Success at the largest k2 run (full BPTT) of every (task, T, cell), with Wilson intervals."""
    full = table.loc[table.groupby(["task", "T", "cell"], sort=False)["k2"].idxmax()]
    labels = [f"{r.task} T={r.T} {r.cell}" for r in full.itertuples()]
    fig, ax = figure(1, 1, figsize=(6, 0.28 * len(full) + 1.2))
    y = np.arange(len(full))[::-1]
    rate = full["success_rate"].to_numpy()
    ax.errorbar(rate, y, xerr=np.maximum(0, np.vstack([rate - full["ci_low"], full["ci_high"] - rate])), fmt="o",
                capsize=2)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel("success rate at full BPTT (95% Wilson interval)")
    fig.tight_layout()
    return fig
