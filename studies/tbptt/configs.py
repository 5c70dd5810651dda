"""What the truncated-BPTT study runs, and the rules it judges by (fixed before any run).

Three parts: ``bias`` (the truncated gradient against the full one on random networks whose regime
is measured), ``cost`` (time and tape memory of streaming TBPTT(k, k)) and ``learn`` (training on
tasks of known lag at truncation lengths shorter and longer than the lag, ten seeds each).
"""

from bpttlab import kernels

from ..framework import mode_of
from ..framework.sweep import derive_seed

SEEDS = 10
BIAS_GAINS = (0.5, 1.0, 2.0, 4.0, 8.0)  # W_hh ~ N(0, g^2/H); each network's regime is then measured
# ReLU networks past g = 2 grow without bound (as (g / sqrt 2)^t) and overflow within the sequence.
RELU_MAX_GAIN = 2.0

# Training, the same for every learning run (budgets per task below): Adam, batch 32, H = 64, the
# gradient clipped to norm 1 (common practice for these tasks; the clipping study is about clipping),
# the monitoring batch checked every 100 updates and the run stopped at half the success threshold.
TRAIN = {"hidden": 64, "batch": 32, "lr": 3e-3, "clip": "norm", "threshold": 1.0, "eval_every": 100,
         "eval_batch": 256, "final_batch": 1024}

# A configuration's window prevents success when its window bound (the best loss reachable from
# the inputs inside the gradient's windows) is above the success threshold, SUCCESS_FRACTION x the
# baseline. Rules for the learning table, stated before the runs:
# - "beats its window": the bootstrap 95% interval of the median final loss lies wholly below the
#   window bound (the network learned, through its weights, a dependency its gradient never saw);
# - a difference in success from full BPTT is reported with Fisher's exact test (two-sided), and
#   called a difference only at p < 0.05.


def _entry(task, form, T, cell, k2s, updates, k1=None, lr=None):
    """One row of the learning grid: k1 None means k1 = k2 (streaming chunks; for a loss only at the
    last step TBPTT(k, k) gives the same gradient as TBPTT(1, k)); lr None means TRAIN's."""
    return {"task": task, "form": form, "T": T, "cell": cell, "k2s": list(k2s), "updates": updates, "k1": k1,
            "lr": lr}


def _learning_grid():
    grid = []
    for T in (50, 100, 200):  # Le et al. (2015) / Arjovsky et al. (2016) form; both markers' lags up to T - 1
        grid.append(_entry("adding", "le2015", T, "gru", [T // 4, T // 2, 3 * T // 4, T], 3000))
    grid.append(_entry("adding", "le2015", 100, "lstm", [50, 75, 100], 4000))
    for cell in ("rnn_tanh", "rnn_relu"):  # can an Elman network (tanh; ReLU as Le et al.'s IRNN) learn it at all?
        for T in (50, 100):
            grid.append(_entry("adding", "le2015", T, cell, [T], 4000))
    for T in (50, 100, 200):  # Hochreiter & Schmidhuber's form: both markers in the first half
        grid.append(_entry("adding", "hs97", T, "gru", [T // 2, T] if T < 200 else [T], 3000))
    # The copy task (recall at the last 10 of T + 20 steps): TBPTT(10, k2) puts the whole recall phase in
    # one window's loss part, so the recalled symbols the gradient connects to their source grow with
    # k2. It learns slowly: lr 1e-2 (pilots: 3e-3 had barely left the baseline after 3000 updates).
    grid.append(_entry("copy", None, 10, "gru", [10, 20, 25, 30], 5000, k1=10, lr=1e-2))
    for T in (50, 100):
        grid.append(_entry("copy", None, T, "gru", [T + 20], 3000, lr=1e-2))
    # Temporal order: the relevant symbols at [T/10, 2T/10) and [5T/10, 6T/10); at T = 50, k2 = 20 sees
    # neither, 30 the second, 45 and 50 both.
    grid.append(_entry("temporal_order", None, 50, "gru", [20, 30, 45, 50], 3000))
    grid.append(_entry("temporal_order", None, 100, "gru", [100], 3000))
    return grid


def sizes(opts):
    mode = mode_of(opts)
    if mode == "tiny":  # every code path at sizes the CUDA simulator runs in about a minute
        return {"bias": {"T": 6, "H": 3, "B": 2, "k2": [1, 6], "cells": ("gru",), "gains": (1.0,)},
                "cost": {"T": 4, "H": 3, "B": 2, "k": [4], "cells": ("gru",)},
                "learn": [_entry("adding", "le2015", 8, "gru", [4, 8], 3)], "seeds": 1,
                "train": {**TRAIN, "hidden": 3, "batch": 2, "eval_batch": 2, "final_batch": 4, "eval_every": 2}}
    if mode == "quick":
        return {"bias": {"T": 48, "H": 16, "B": 4, "k2": [1, 2, 4, 8, 16, 32, 48], "cells": ("rnn_tanh", "lstm", "gru"),
                         "gains": (0.5, 4.0)},
                "cost": {"T": 64, "H": 32, "B": 16, "k": [4, 16, 64], "cells": ("rnn_tanh", "lstm", "gru")},
                "learn": [_entry("adding", "le2015", 12, "gru", [3, 12], 300),
                          _entry("copy", None, 3, "gru", [10, 23], 100, k1=10, lr=1e-2)], "seeds": 2,
                "train": {**TRAIN, "hidden": 16, "eval_every": 25, "final_batch": 256}}
    return {"bias": {"T": 300, "H": 64, "B": 8, "k2": [1, 2, 4, 8, 16, 32, 64, 128, 300], "cells": kernels.CELLS,
                     "gains": BIAS_GAINS},
            "cost": {"T": 1000, "H": 128, "B": 16, "k": [5, 10, 25, 50, 100, 250, 500, 1000],
                     "cells": ("rnn_tanh", "lstm", "gru")},
            "learn": _learning_grid(), "seeds": SEEDS, "train": TRAIN}


def configs(opts):
    s = sizes(opts)
    out = []
    b = s["bias"]
    for cell in b["cells"]:
        for g in b["gains"]:
            if cell == "rnn_relu" and g > RELU_MAX_GAIN:
                continue
            out.append({"key": f"bias-{cell}-g{g:g}", "part": "bias", "cell": cell, "gain": g,
                        "T": b["T"], "H": b["H"], "B": b["B"], "k2": b["k2"]})
    c = s["cost"]
    for cell in c["cells"]:
        out.append({"key": f"cost-{cell}", "part": "cost", "cell": cell, "T": c["T"], "H": c["H"], "B": c["B"],
                    "k": c["k"]})
    for e in s["learn"]:
        task, form, T, cell, k1 = e["task"], e["form"], e["T"], e["cell"], e["k1"]
        name = task if form is None else f"{task}_{form}"
        train = s["train"] if e["lr"] is None else {**s["train"], "lr": e["lr"]}
        for k2 in e["k2s"]:
            for replica in range(s["seeds"]):
                # Paired design: a replica's network and data streams are the same at every k2 (the
                # seed comes from the task, T, cell and replica, not from k), so k2 is all that differs.
                pair = f"{name}-T{T}-{cell}-s{replica}"
                out.append({"key": f"learn-{name}-T{T}-{cell}-k{k1 or k2}-{k2}-s{replica}", "part": "learn",
                            "task": task, "form": form, "T": T, "cell": cell, "k1": k1 or k2, "k2": k2,
                            "replica": replica, "train_seed": derive_seed(getattr(opts, "seed", 0), pair) % 2**31,
                            "updates": e["updates"], "train": train})
    return out
