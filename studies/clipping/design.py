"""What the clipping study runs, and the choices fixed before the full run (pre-registration).

A *setting* is a cell, an initialization of W_hh and a learning rate; a *method* is no clipping or
one clipping rule at one threshold. Each (setting, method) runs on the same seeds: replica r of
every method of a setting starts from the same weights and sees the same batches (its training
seed is shared), so the methods differ only by the clipping.

How the settings were chosen (pilots of seed 0, and of seeds 1 and 2 for the GRU at lr 1: seeds the
study itself does not use; about 5 minutes in all): SGD with momentum 0.9 on the adding problem at T = 100, H = 64. At lr 0.01
to 0.3 no cell learned within 1500 to 2000 updates, clipped or not. At lr 1 the GRU from PyTorch's
default initialization learned with norm clipping at 1 (2 of 3 pilot seeds, in 900 and 1700
updates) while unclipped SGD went non-finite within 14 updates; the LSTM at lr 1 went non-finite
unclipped and did not learn clipped within 2000 updates. Initializations measured expanding (tanh
with Gaussian W_hh at g = 2, IRNN with gain 1.05, GRU with Gaussian W_hh at g = 5) did not learn
clipped in the pilots at any rate tried (0.01 to 1); the LSTM with Gaussian W_hh at g = 6 (measured
expanding) was not trained in the pilots. The study runs all of them, and states what it finds:
whether clipping lets SGD learn, not whether it keeps the numbers finite.
"""

from dataclasses import replace

import numpy as np

from ..framework import mode_of
from ..training.regime import initial_lambda1
from ..training.trainer import TrainConfig, build, train

# -- pre-registered: fixed before the full run, never changed after seeing it ------------------------

# The primary comparison of every setting: clipping by global norm at this absolute threshold
# against no clipping (one-sided Fisher, p < ALPHA). Pascanu et al. set the threshold from the
# average gradient norm; at PyTorch's default initialization the pilots' median initial norms were
# 0.6 to 3.6, and 1 is the conventional choice in that range.
PRIMARY_THRESHOLD = 1.0
ALPHA = 0.05
# One absolute grid shared by every seed (thresholds in units of the gradient norm itself).
ABSOLUTE_GRID = (0.3, 1.0, 3.0, 10.0)
# Thresholds relative to each seed's own median initial gradient norm: the ends of Pascanu et al.'s
# "from half to ten times the average norm" (their claim 2).
RELATIVE_GRID = (0.5, 10.0)
# A run that stayed finite but ends with a held-out loss above this many baselines "blew up": it is
# counted apart from the non-finite runs ("diverged"), and neither counts as learning.
BLOWUP_FACTOR = 100.0
SEEDS = 10
SEED_OFFSET = 100  # training seeds 100, 101, ...: the pilots used seeds 0 to 2

MOMENTUM = 0.9
FULL = {"T": 100, "H": 64, "batch": 32, "pilot": 20}
# Settings: (cell, initialization name) -> init kwargs, learning rate, update budget, methods.
# "default" is PyTorch's U(-1/sqrt(H), 1/sqrt(H)) (Le et al.'s IRNN, identity W_hh, for rnn_relu);
# "expanding" an initialization measured expanding in the pilots. The regime each network is in is
# measured per seed (lambda_1) and reported; the names are not labels of the regime.
INITS = {
    ("rnn_tanh", "default"): {"recurrent_init": "uniform", "gain": 1.0},
    ("rnn_tanh", "expanding"): {"recurrent_init": "gaussian", "gain": 2.0},
    ("rnn_relu", "default"): {"recurrent_init": "identity", "gain": 1.0},
    ("rnn_relu", "expanding"): {"recurrent_init": "identity", "gain": 1.05},
    ("gru", "default"): {"recurrent_init": "uniform", "gain": 1.0},
    ("gru", "expanding"): {"recurrent_init": "gaussian", "gain": 5.0},
    ("lstm", "default"): {"recurrent_init": "uniform", "gain": 1.0},
    ("lstm", "expanding"): {"recurrent_init": "gaussian", "gain": 6.0},
}
# The learning rate per cell: for the Elman cells the pilots' lr at which unclipped SGD of the
# expanding IRNN went non-finite; for the gated cells the rate at which the default GRU learned
# clipped and unclipped SGD went non-finite.
LR = {"rnn_tanh": 0.01, "rnn_relu": 0.01, "gru": 1.0, "lstm": 1.0}
# Updates per cell (stated in the report), with early stopping once solved; the budget is what a
# 40-minute run on one core allows (about 1.4 ms per update for the Elman cells, 4.3 for the GRU,
# 6 for the LSTM at T = 100, H = 64).
UPDATES = {"rnn_tanh": 2000, "rnn_relu": 2000, "gru": 2000, "lstm": 1500}

NONE = ("none", 0.0)
PRIMARY = ("norm", PRIMARY_THRESHOLD)
# Clipping by value at the element threshold whose worst case (every element at the threshold) has
# the primary threshold's norm: PRIMARY_THRESHOLD / sqrt(number of parameters).
VALUE = ("value", PRIMARY_THRESHOLD)
# The full family of methods for the setting where the pilots saw clipped learning; breadth cut
# elsewhere to fit the budget (said in the report).
FULL_METHODS = (NONE, *[("norm", t) for t in ABSOLUTE_GRID], *[("norm_rel", m) for m in RELATIVE_GRID], VALUE)
CORE_METHODS = (NONE, PRIMARY, VALUE)
RANGE_METHODS = (NONE, PRIMARY, *[("norm_rel", m) for m in RELATIVE_GRID], VALUE)
METHODS = {
    ("gru", "default"): FULL_METHODS,
    ("gru", "expanding"): RANGE_METHODS,
}


def method_name(clip, t):
    if clip == "none":
        return "none"
    if clip == "norm_rel":
        return f"norm x{t:g} initial norm"
    if clip == "value":
        return f"value {t:g}/sqrt(P)"
    return f"norm {t:g}"


def sizes(mode):
    """Sizes and settings per mode: full (the report), quick (CI, < 90 s on one core) and tiny (the
    CUDA simulator, every code path at minute scale)."""
    if mode == "tiny":
        return {"T": 4, "H": 3, "batch": 2, "pilot": 2, "seeds": 1, "eval_batch": 2, "final_batch": 4,
                "settings": {("gru", "default"): {"methods": (NONE, PRIMARY, ("norm_rel", 0.5), VALUE), "lr": 1.0,
                                                  "updates": 3}}}
    if mode == "quick":
        return {"T": 10, "H": 16, "batch": 16, "pilot": 5, "seeds": 4, "eval_batch": 64, "final_batch": 256,
                "settings": {
                    ("rnn_tanh", "expanding"): {"methods": CORE_METHODS, "lr": 0.01, "updates": 150},
                    ("gru", "default"): {"methods": (NONE, PRIMARY, ("norm", 10.0), *[("norm_rel", m) for m in RELATIVE_GRID],
                                                     VALUE), "lr": 1.0, "updates": 400},
                }}
    return {**FULL, "seeds": SEEDS, "eval_batch": 256, "final_batch": 1024,
            "settings": {k: {"methods": METHODS.get(k, CORE_METHODS), "lr": LR[k[0]], "updates": UPDATES[k[0]]}
                         for k in INITS}}


def configs(opts):
    mode = mode_of(opts)
    s = sizes(mode)
    base_seed = int(getattr(opts, "seed", 0) or 0)
    out = []
    for (cell, init), setting in s["settings"].items():
        for replica in range(s["seeds"]):
            for clip, t in setting["methods"]:
                name = "none" if clip == "none" else f"{clip}{t:g}"
                out.append({"key": f"{cell}-{init}-{name}-s{replica}", "cell": cell, "init": init, "clip": clip,
                            "t": float(t), "replica": replica,
                            "train_seed": SEED_OFFSET + replica + 1000 * base_seed,
                            "lr": float(setting["lr"]), "updates": int(setting["updates"]),
                            **{k: s[k] for k in ("T", "H", "batch", "pilot", "eval_batch", "final_batch")}})
    return out


def init_of(c):
    key = (c["cell"], c["init"])
    if key not in INITS:
        raise ValueError(f"cell, init: got {key!r}, expected one of {', '.join(map(repr, INITS))}")
    return INITS[key]


def train_config(c, clip=None, threshold=1.0):
    return TrainConfig(cell=c["cell"], task="adding", form="le2015", T=c["T"], hidden=c["H"], batch=c["batch"],
                       eval_batch=c["eval_batch"], final_batch=c["final_batch"], updates=c["updates"],
                       optimizer="sgd", lr=c["lr"], momentum=MOMENTUM, clip=clip, threshold=threshold,
                       seed=c["train_seed"], eval_every=25 if c["updates"] >= 100 else 1, stop_when_solved=True,
                       backend=c.get("backend", "cpu"), **init_of(c))


def threshold_of(c, initial_norm, n_params):
    """(clip rule for TrainConfig, threshold) of a configuration: absolute thresholds as given,
    relative ones times this seed's median initial gradient norm, value thresholds per element."""
    clip, t = c["clip"], c["t"]
    if clip == "none":
        return None, 1.0
    if clip == "norm":
        return "norm", t
    if clip == "norm_rel":
        return "norm", t * initial_norm
    if clip == "value":
        return "value", t / np.sqrt(n_params)
    raise ValueError(f"clip: got {clip!r}, expected 'none', 'norm', 'norm_rel' or 'value'")


def initial_norm(c):
    """Median gradient norm of the initialized network over ``pilot`` training batches: the same
    loop with a learning rate so small that the weights do not move."""
    cfg = replace(train_config(c), updates=c["pilot"], lr=1e-30, stop_when_solved=False)
    norms = train(cfg).grad_norm
    norms = norms[np.isfinite(norms)]
    return float(np.median(norms)) if norms.size else float("nan")


def compute(c):
    net, flat, gen, _ = build(train_config(c))
    rnn = {k: v for k, v in flat.views.items() if not k.startswith("head_")}
    lam, lam_se = initial_lambda1(net, rnn, gen)
    norm0 = initial_norm(c)
    clip, threshold = threshold_of(c, norm0, flat.data.size)
    if clip is not None and not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"{c['key']}: the threshold came out {threshold!r} (initial norm {norm0!r}); "
                         "expected a finite positive number")
    r = train(train_config(c, clip, threshold))
    n = r.updates_run
    return {"lambda1": lam, "lambda1_se": lam_se, "initial_norm": norm0, "threshold": float(threshold),
            "n_params": int(flat.data.size), "diverged": bool(r.diverged),
            "diverged_at": -1 if r.diverged_at is None else int(r.diverged_at),
            "success": bool(r.success), "final_loss": float(r.final_loss), "baseline": float(r.baseline),
            "updates_run": int(n), "solved_at": -1 if r.solved_at is None else int(r.solved_at),
            "clipped_fraction": float(r.clipped[:n].mean()) if n else 0.0,
            "eval_updates": r.eval_updates, "eval_loss": r.eval_loss, "grad_norm": r.grad_norm[:n]}
