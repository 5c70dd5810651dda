"""The clipping study's figures: success and failure per method (no clipping drawn among them),
training curves against each run's own baseline, and the measured lambda_1 of every seed."""

import numpy as np

from ..framework import figure
from ..training.trainer import SUCCESS_FRACTION
from .design import NONE, PRIMARY, VALUE, method_name

CURVE_TOP = 1e4  # the curves' axis ends here (said in the caption)
INIT_STYLE = {"default": ("o", "tab:blue"), "expanding": ("s", "tab:red")}


def _inits(df):
    return [i for i in INIT_STYLE if i in set(df["init"])]


def success_and_failure(summary):
    """Per cell: the success rate (Wilson 95% bars) and the fraction of runs that diverged or blew
    up, for every method including no clipping, on a categorical axis."""
    cells = list(dict.fromkeys(summary["cell"]))
    fig, axes = figure(2, len(cells), figsize=(3.3 * len(cells), 5.6), squeeze=False, sharey="row")
    inits = _inits(summary)
    for j, cell in enumerate(cells):
        s = summary[summary["cell"] == cell]
        methods = list(dict.fromkeys(s["method"]))
        x = {m: i for i, m in enumerate(methods)}
        for k, init in enumerate(inits):
            t = s[s["init"] == init]
            if t.empty:
                continue
            marker, color = INIT_STYLE[init]
            off = (k - (len(inits) - 1) / 2) * 0.18
            xs = np.array([x[m] for m in t["method"]]) + off
            rate = t["success_rate"].to_numpy()
            # clipped at 0: the interval of 0/n or n/n ends at the rate up to rounding
            err = np.clip(np.vstack([rate - t["wilson_low"].to_numpy(), t["wilson_high"].to_numpy() - rate]), 0, None)
            axes[0, j].errorbar(xs, rate, yerr=err, fmt=marker, color=color, ms=4, capsize=2, lw=0.8,
                                label=f"{init} init: learned")
            n = t["seeds"].to_numpy()
            axes[1, j].plot(xs, t["diverged"] / n, marker, color=color, ms=5, label=f"{init} init: diverged (non-finite)")
            axes[1, j].plot(xs + 0.06, t["blew_up"] / n, marker, mfc="none", color=color, ms=7,
                            label=f"{init} init: blew up (finite, > 100 x baseline)")
        for ax in axes[:, j]:
            ax.set_xticks(range(len(methods)))
            ax.set_ylim(-0.05, 1.05)
            ax.set_xlim(-0.6, len(methods) - 0.4)
        axes[0, j].set_xticklabels([])
        axes[1, j].set_xticklabels(methods, rotation=60, ha="right", fontsize=6)
        axes[0, j].set_title(cell)
    axes[0, 0].set_ylabel("fraction of seeds that learned")
    axes[1, 0].set_ylabel("fraction diverged / blew up")
    handles, labels = [], []
    for ax in (axes[0, 0], axes[1, 0]):
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
    return fig


def curves(results):
    """Held-out loss over the run's own input-blind baseline during training, seed replica 0, for no
    clipping, the pre-registered norm threshold and value clipping, per cell and initialization."""
    picked = [(c, r) for c, r in results if c["replica"] == 0 and (c["clip"], c["t"]) in (NONE, PRIMARY, VALUE)]
    settings = list(dict.fromkeys((c["cell"], c["init"]) for c, _ in picked))
    ncol = min(4, len(settings))
    nrow = int(np.ceil(len(settings) / ncol))
    fig, axes = figure(nrow, ncol, figsize=(3.3 * ncol, 2.8 * nrow + 0.6), squeeze=False)
    styles = {NONE: ("k", "-"), PRIMARY: ("tab:blue", "-"), VALUE: ("tab:green", "--")}
    for ax, setting in zip(axes.flat, settings, strict=False):
        for c, r in picked:
            if (c["cell"], c["init"]) != setting:
                continue
            color, ls = styles[(c["clip"], c["t"])]
            u, loss = np.asarray(r["eval_updates"]), np.asarray(r["eval_loss"]) / float(r["baseline"])
            label = method_name(c["clip"], c["t"])
            if bool(r["diverged"]):
                label += f" (non-finite at update {int(r['diverged_at']) + 1})"
            ax.semilogy(u, loss, color=color, ls=ls, lw=1, label=label)
            if bool(r["diverged"]):
                ax.plot([int(r["diverged_at"]) + 1], [1.0], "x", color=color, ms=6)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, min(hi, CURVE_TOP))  # a diverging run's last values would squash every other curve
        ax.axhline(1.0, color="gray", lw=0.8, ls=":")
        ax.axhline(SUCCESS_FRACTION, color="gray", lw=0.8, ls="-.")
        ax.set_title(f"{setting[0]}, {setting[1]} init", fontsize=9)
        ax.set_xlabel("update")
        ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(0, -0.25), frameon=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out loss / baseline")
    for ax in list(axes.flat)[len(settings):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def lambda1(runs, T):
    """Each seed's lambda_1 at initialization per setting (one point per seed: the methods of a seed
    share its network), with the regime rule's boundaries +-1/T."""
    seeds = runs.drop_duplicates(["cell", "init", "replica"])
    settings = list(dict.fromkeys(zip(seeds["cell"], seeds["init"], strict=True)))
    fig, ax = figure(1, 1, figsize=(max(4.0, 0.8 * len(settings) + 1.5), 3.2))
    for i, (cell, init) in enumerate(settings):
        g = seeds[(seeds["cell"] == cell) & (seeds["init"] == init)]
        marker, color = INIT_STYLE[init]
        jitter = np.linspace(-0.15, 0.15, len(g)) if len(g) > 1 else np.zeros(1)
        ax.errorbar(i + jitter, g["lambda1"], yerr=2 * g["lambda1_se"], fmt=marker, color=color, ms=3, lw=0.6)
    for y in (-1 / T, 1 / T):
        ax.axhline(y, color="gray", ls=":", lw=0.8)
    ax.set_xticks(range(len(settings)))
    ax.set_xticklabels([f"{c}\n{i}" for c, i in settings], fontsize=6)
    ax.set_ylabel("lambda_1 per step (+-2 SE)")
    fig.tight_layout()
    return fig
