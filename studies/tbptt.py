"""The truncated-BPTT trade-off: how biased the truncated gradient is, what truncation saves,
and what it costs in learning when the truncation is shorter than the task's dependency.

    python -m bpttlab.studies.tbptt [--quick]

Three parts, each a set of independent configurations:
- bias: the TBPTT(1, k2) gradient against full BPTT (cosine similarity, relative error) as k2
  grows, in contracting, critical and expanding regimes, held against the per-step decay rate
  of ||dL/dh|| measured on the same network (the bias should fall geometrically at that rate);
- cost: time per update and tape memory of streaming TBPTT(k, k) (the state carried across
  chunks, a tape of k steps) against full BPTT;
- learning: the success rate over seeds on tasks of known lag L as a function of k2.
"""

import math
import time

import numpy as np
import pandas as pd
from bpttlab import kernels

from .framework import TIMING, Study, Tol, figure, mode_of
from .science import config_rng, fit_line, fit_rate
from .training.tasks import make_task
from .training.trainer import TrainConfig, train

BIAS_CELLS = kernels.CELLS
REGIMES = {"contracting": 0.5, "critical": 1.0, "expanding": 2.0}  # gain g of W_hh ~ N(0, g^2/H)
LEARN_CELLS = ("lstm", "gru")


def sizes(quick, tiny=False):
    if tiny:  # every code path at sizes the CUDA simulator runs in about a minute
        return {"T": 4, "H": 3, "B": 2, "k2": [1, 4], "cost_T": 4, "cost_H": 3, "cost_B": 2, "cost_k": [4],
                "cost_cells": ("gru",), "bias_cells": ("gru",), "seeds": 1,
                "learn": [("adding_le2015", 6, ("lstm",), [3], 2), ("copy", 1, ("gru",), [3], 2)],
                "learn_sizes": {"hidden": 3, "batch": 2, "eval_batch": 2}}
    if quick:
        return {"T": 48, "H": 16, "B": 4, "k2": [1, 2, 4, 8, 16, 32, 48], "cost_T": 64, "cost_H": 32,
                "cost_k": [4, 16, 64], "bias_cells": ("rnn_tanh", "lstm", "gru"), "seeds": 1,
                "learn": [("adding_le2015", 12, ("lstm",), [2, 12], 100), ("adding_hs97", 12, ("lstm",), [2, 12], 100),
                          ("copy", 3, ("gru",), [23], 100)]}
    return {"T": 300, "H": 64, "B": 16, "k2": [1, 2, 3, 5, 8, 12, 18, 25, 35, 50, 70, 100, 150, 200, 300],
            "cost_T": 1000, "cost_H": 128, "cost_k": [5, 10, 25, 50, 100, 250, 500, 1000],
            "bias_cells": BIAS_CELLS, "seeds": 5,
            # (task, T, cells, truncation lengths k, updates): the adding problem in both forms at T = 30
            # (lag 29; in the HS97 form both markers sit in the first half, so a window shorter than
            # T/2 never holds one), and the copy task at T = 5 (sequence 25, lag 15).
            "learn": [("adding_le2015", 30, LEARN_CELLS, [3, 8, 15, 22, 30], 1500),
                      ("adding_hs97", 30, LEARN_CELLS, [3, 8, 15, 22, 30], 1500),
                      ("copy", 5, ("gru",), [5, 15, 25], 3000)]}


def configs(opts):
    s = sizes(opts.quick, mode_of(opts) == "tiny")
    out = []
    for cell in s["bias_cells"]:
        for regime, gain in REGIMES.items():
            out.append({"key": f"bias-{cell}-{regime}", "part": "bias", "cell": cell, "regime": regime, "gain": gain,
                        "T": s["T"], "H": s["H"], "B": s["B"], "k2": s["k2"]})
    for cell in s.get("cost_cells", ("rnn_tanh", "lstm", "gru")):
        out.append({"key": f"cost-{cell}", "part": "cost", "cell": cell, "T": s["cost_T"], "H": s["cost_H"],
                    "B": s.get("cost_B", 16), "k": s["cost_k"]})
    for task, T, cells, ks, updates in s["learn"]:
        for cell in cells:
            for k in ks:
                for seed in range(s["seeds"]):
                    out.append({"key": f"learn-{task}-{cell}-k{k}-s{seed}", "part": "learn", "task": task,
                                "cell": cell, "T": T, "k": k, "replica": seed, "updates": updates,
                                **s.get("learn_sizes", {})})
    return out


# -- bias ------------------------------------------------------------------------------------

def flat_grad(g):
    return np.concatenate([g.params[k].ravel() for k in sorted(g.params)])


def compute_bias(c):
    rng = config_rng(c)
    T, H, B = c["T"], c["H"], c["B"]
    net = kernels.Network(c["cell"], H, H, backend=c.get("backend", "cpu"))
    params = net.init_params(seed=int(rng.integers(2**31)), recurrent="gaussian", gain=c["gain"])
    x = rng.standard_normal((T, B, H))
    dy = rng.standard_normal((T, B, H))  # a loss at every step
    tape = net.forward(params, x).tape
    full = flat_grad(net.backward(tape, dy))
    cos, rel = [], []
    for k2 in c["k2"]:
        g = flat_grad(net.backward_truncated(tape, dy, 1, min(k2, T)))
        cos.append(float(g @ full / (np.linalg.norm(g) * np.linalg.norm(full))))
        rel.append(float(np.linalg.norm(g - full) / np.linalg.norm(full)))
    # The per-step decay of ||dL/dh_t|| for a loss at the last step, on the same network and input.
    last = np.zeros_like(dy)
    last[-1] = rng.standard_normal((B, H))
    logn = net.backward(tape, last, log_norms=True).norms_h[0][::-1]  # by distance from the end
    fit = fit_rate(logn, lo=min(10, T // 4), hi=T // 2)
    return {"k2": np.array(c["k2"]), "cos": np.array(cos), "relerr": np.array(rel), "rate": fit["rate"],
            "rate_stderr": fit["stderr"], "log_norm": logn}


# -- cost ------------------------------------------------------------------------------------

def streaming_update(net, params, x, dy, k):
    """Streaming TBPTT(k, k): forward and backward k steps at a time, carrying the state.

    Only a k-step tape is alive at any time; the gradients are summed over chunks. Equals
    Network.backward_truncated(tape, dy, k, k) on a full tape (see tests/test_tbptt_study.py).
    """
    T = x.shape[0]
    state, total, tape_bytes = None, None, 0
    for s in range(0, T, k):
        fw = net.forward(params, x[s : s + k], state)
        g = net.backward(fw.tape, dy[s : s + k])
        tape_bytes = max(tape_bytes, fw.tape.nbytes)
        state = fw.state
        total = g.params if total is None else {n: total[n] + g.params[n] for n in total}
    return total, tape_bytes


def compute_cost(c):
    rng = config_rng(c)
    T, H, B = c["T"], c["H"], c["B"]
    net = kernels.Network(c["cell"], H, H, backend=c.get("backend", "cpu"))
    params = net.init_params(seed=1, dtype=np.float32)
    x = rng.standard_normal((T, B, H)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    ks = list(c["k"])
    for k in ks:
        streaming_update(net, params, x, dy, k)  # compile and warm up
    times = {k: [] for k in ks}
    # Interleaved rounds: a slow spell of the machine hits every k alike.
    for _ in range(5):
        for k in ks:
            t0 = time.perf_counter()
            streaming_update(net, params, x, dy, k)
            times[k].append(time.perf_counter() - t0)
    tape = [streaming_update(net, params, x, dy, k)[1] for k in ks]
    return {"k": np.array(ks), "seconds": np.array([np.median(times[k]) for k in ks]), "tape_bytes": np.array(tape)}


# -- learning --------------------------------------------------------------------------------

def learn_config(c):
    task, _, form = c["task"].partition("_")
    return TrainConfig(cell=c["cell"], task=task, form=form or None, T=c["T"],
                       hidden=c.get("hidden", 32 if task == "adding" else 64), batch=c.get("batch", 32),
                       eval_batch=c.get("eval_batch", 256), updates=c["updates"], optimizer="adam", lr=1e-2,
                       k1=c["k"], k2=c["k"], seed=c["seed"] % (2**31), eval_every=25, clip="norm", threshold=5.0,
                       backend=c.get("backend", "cpu"))


def compute_learn(c):
    r = train(learn_config(c))
    return {"solved_at": -1 if r.solved_at is None else r.solved_at, "final_loss": r.final_loss,
            "baseline": r.baseline, "eval_updates": r.eval_updates, "eval_loss": r.eval_loss,
            "diverged": r.diverged, "lag": _lag(c)}


def _lag(c):
    cfg = learn_config(c)
    return make_task(cfg.task, cfg.T, cfg.form)[1].lag


def compute(c):
    return {"bias": compute_bias, "cost": compute_cost, "learn": compute_learn}[c["part"]](c)


# -- report ----------------------------------------------------------------------------------

def report(results, opts, w):
    bias = [(c, r) for c, r in results if c["part"] == "bias"]
    cost = [(c, r) for c, r in results if c["part"] == "cost"]
    learn = [(c, r) for c, r in results if c["part"] == "learn"]
    w.text(
        "Truncated BPTT, TBPTT(k1, k2) in Williams & Peng's sense (every k1 steps, backpropagate k2 steps), "
        "against full BPTT on the same networks. Definitions are in docs/conventions.md. "
        f"Mode: {'quick (small sizes, for CI)' if opts.quick else 'full'}."
    )
    _report_bias(bias, w)
    _report_cost(cost, w)
    _report_learn(learn, w)


def _report_bias(bias, w):
    cells = sorted({c["cell"] for c, _ in bias}, key=list(kernels.CELLS).index)
    ncol = min(4, len(cells))
    nrow = math.ceil(len(cells) / ncol)
    fig, axes = figure(nrow, ncol, figsize=(3.2 * ncol, 2.7 * nrow), squeeze=False, sharey=True)
    rows = []
    for ax, cell in zip(axes.flat, cells, strict=False):
        for c, r in bias:
            if c["cell"] != cell:
                continue
            k2, rel = np.asarray(r["k2"]), np.asarray(r["relerr"])
            line = ax.semilogy(k2, np.maximum(rel, 1e-17), "o-", ms=3, label=f"{c['regime']} (g={c['gain']})")[0]
            rate = float(r["rate"])
            # Where the error is resolvable (above float64 round-off), its slope against k2.
            ok = (rel > 1e-12) & (rel < 0.5) & (k2 < c["T"])
            slope = fit_line(k2[ok], np.log(rel[ok]))["slope"] if ok.sum() >= 3 else math.nan
            if ok.sum() >= 1 and rate < 0:
                k0 = k2[ok][0]
                ax.semilogy(k2, rel[ok][0] * np.exp(rate * (k2 - k0)), "--", color=line.get_color(), lw=0.8)
            rows.append({"cell": cell, "regime": c["regime"], "gain": c["gain"], "decay_rate": rate,
                         "bias_slope": slope, "slope_minus_rate": slope - rate,
                         "relerr_k2_1": float(rel[0]), "cos_k2_1": float(np.asarray(r["cos"])[0]),
                         "k2_for_1pct": _first(k2, rel < 0.01)})
        ax.set_title(cell)
        ax.set_xlabel("k2 (TBPTT(1, k2))")
    for ax in axes[:, 0]:
        ax.set_ylabel("relative error vs full BPTT")
    for ax in list(axes.flat)[len(cells):]:
        ax.set_visible(False)
    axes.flat[0].legend()
    fig.tight_layout()
    w.figure(fig, "bias_vs_k2", "Truncation bias against k2",
             "The relative error ||g_trunc - g_full|| / ||g_full|| of the whole parameter gradient under TBPTT(1, k2), "
             "losses at every step, per cell and regime (gain g of a Gaussian W_hh). Dashed: exp(rate * k2) through the "
             "first resolvable point, with the rate the per-step decay of ||dL/dh_t|| measured on the same network "
             "(a loss at the last step). In contracting regimes the error falls geometrically at that rate until it "
             "reaches float64 round-off; in expanding ones the truncated gradient stays far from the full one until k2 "
             "nears T.")
    df = pd.DataFrame(rows)
    w.table(df, "bias_rates", "Bias decay against the measured gradient decay",
            "decay_rate: slope of log||dL/dh_t|| against distance (per step). bias_slope: slope of log(relative error) "
            "against k2, fitted where the error is between 1e-12 and 0.5 (NaN when fewer than 3 such points). "
            "Their difference is the check of the claim that the bias falls geometrically at the gradient's decay "
            "rate. k2_for_1pct: the smallest k2 measured with a relative error under 1%.")


def _first(k, mask):
    idx = np.flatnonzero(mask)
    return int(k[idx[0]]) if idx.size else -1


def _report_cost(cost, w):
    if not cost:
        return
    fig, (a1, a2) = figure(1, 2, figsize=(8, 3))
    rows = []
    for c, r in cost:
        k, sec, tb = np.asarray(r["k"]), np.asarray(r["seconds"]), np.asarray(r["tape_bytes"])
        full = sec[k == c["T"]][0] if (k == c["T"]).any() else sec[-1]
        a1.semilogx(k, sec / full, "o-", ms=3, label=c["cell"])
        a2.loglog(k, tb / 2**20, "o-", ms=3, label=c["cell"])
        for ki, si, ti in zip(k, sec, tb, strict=True):
            rows.append({"cell": c["cell"], "T": c["T"], "k": int(ki), "ms_per_update": 1e3 * si,
                         "time_vs_full": si / full, "tape_MiB": ti / 2**20})
    a1.set_xlabel("k (TBPTT(k, k), streaming)")
    a1.set_ylabel("time per update / full BPTT")
    a2.set_xlabel("k")
    a2.set_ylabel("tape memory (MiB)")
    a1.legend()
    fig.tight_layout()
    T = cost[0][0]["T"]
    w.figure(fig, "cost_vs_k", "Cost of streaming TBPTT(k, k)",
             f"Time per update over a {T}-step sequence (float32, median of 5 interleaved rounds) relative to full BPTT "
             "(k = T), and the largest tape alive at once. Memory falls in proportion to k; time barely changes, "
             "because every step is still computed forward and backward once: what short chunks add is per-chunk "
             "overhead, which dominates only for very small k. Timings are measurements, not reproducible to the byte.")
    w.table(pd.DataFrame(rows), "cost", "Cost table", "One row per cell and k; k = T is full BPTT.")


def _report_learn(learn, w):
    if not learn:
        return
    df = pd.DataFrame([{"task": c["task"], "cell": c["cell"], "T": c["T"], "k": c["k"], "replica": c["replica"],
                        "solved": int(r["solved_at"]) > 0, "solved_at": int(r["solved_at"]),
                        "final_loss": float(r["final_loss"]), "baseline": float(r["baseline"]), "lag": int(r["lag"]),
                        "diverged": bool(r["diverged"])} for c, r in learn])
    summary = (df.groupby(["task", "cell", "T", "lag", "k"], sort=True)
               .agg(success_rate=("solved", "mean"), seeds=("solved", "size"), median_final_loss=("final_loss", "median"),
                    baseline=("baseline", "first"), diverged=("diverged", "sum")).reset_index())
    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = figure(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        s = summary[summary.task == task]
        for cell in dict.fromkeys(s["cell"]):
            t = s[s.cell == cell]
            ax.plot(t["k"], t["success_rate"], "o-", ms=4, label=cell)
        lag = int(s["lag"].iloc[0])
        ax.axvline(lag, color="k", ls=":", lw=1, label=f"lag L = {lag}")
        ax.set_title(f"{task} (T = {int(s['T'].iloc[0])})")
        ax.set_xlabel("k (TBPTT(k, k))")
        ax.set_ylabel("success rate over seeds")
        ax.set_ylim(-0.05, 1.05)
        ax.legend()
    fig.tight_layout()
    w.figure(fig, "success_vs_k", "Learning a dependency of known lag under truncation",
             "The fraction of seeds meeting the task's success criterion (adding: R^2 >= 0.9 on a held-out batch; copy: "
             "95% accuracy over all steps) within the update budget, against the truncation length k of TBPTT(k, k), "
             "with the task's longest dependency lag L marked. A truncated gradient cannot carry an error across more "
             "than k steps. In the Hochreiter & Schmidhuber form of the adding problem both markers lie in the first "
             "half, so a window shorter than T/2 never holds a marker together with the loss: nothing is learned. In "
             "Le et al.'s form the second marker lies in the second half, and a network can learn from short windows "
             "the accumulator the task needs, which then carries over to lags longer than k: truncation shorter than "
             "the lag does not always prevent learning; it prevents learning what only a long path can teach.")
    # Training curves per k for one cell, with the input-blind baseline drawn.
    cell = df["cell"].iloc[0]
    fig, axes = figure(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for c, r in learn:
            if c["task"] == task and c["cell"] == cell and c["replica"] == 0:
                ax.semilogy(r["eval_updates"], r["eval_loss"], lw=1, label=f"k = {c['k']}")
        base = float(df[df.task == task]["baseline"].iloc[0])
        label = "10 ln 8 / (T + 20)" if task == "copy" else "predict-a-constant MSE, Var(y)"
        ax.axhline(base, color="k", ls="--", lw=1, label=f"baseline: {label} = {base:.4g}")
        ax.set_title(f"{task}, {cell}, seed 0")
        ax.set_xlabel("update")
        ax.set_ylabel("held-out loss")
        ax.legend()
    fig.tight_layout()
    w.figure(fig, "learning_curves", "Training curves under truncation",
             "Held-out loss during training for each truncation length (one seed), with the trivial baseline: the copy "
             "task's 10 ln 8 / (T + 20) (blank, then a uniform guess) and, for the adding problem, the MSE of predicting "
             "the constant E[y] (the variance of the target, computed from the task's definition).")
    w.table(summary, "learning", "Success rate against truncation length",
            "Per task, cell and k: the success rate over seeds, the median final held-out loss, the input-blind "
            "baseline, and the number of diverged runs.")


# The bias slope is fit to log(relative error) down to errors of 1e-12 (the `ok` mask above), whose
# float64 round-off is eps/1e-12 = 2.2e-4 in the log; over the fit's k2 span (at least 2 steps) that
# moves the slope by up to 1.1e-4 on another CPU (measured between two CPU generations: 5.1e-8).
BIAS_SLOPE_TOL = Tol(other_cpu_rtol=1e-6, other_cpu_atol=np.finfo(np.float64).eps / 1e-12 / 2)


STUDY = Study(
    name="tbptt",
    title="Truncated BPTT: bias, cost and learning",
    version=1,
    configs=configs,
    compute=compute,
    report=report,
    description=__doc__,
    code=("studies/training",),
    # The cost table times updates: a measurement of the machine. The rest is deterministic on one
    # machine; on another CPU training runs from last-digit-different gradients (a first bound).
    reproduce={"cost": {"ms_per_update": TIMING, "time_vs_full": TIMING},
               "bias_rates": {"bias_slope": BIAS_SLOPE_TOL, "slope_minus_rate": BIAS_SLOPE_TOL},
               "*": {"*": Tol(other_cpu_rtol=1e-6, other_cpu_atol=1e-9)}},
)

if __name__ == "__main__":
    raise SystemExit(STUDY.main())
