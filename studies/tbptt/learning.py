"""One training run under TBPTT(k1, k2) on a task of known lag: its success on a fresh held-out set,
the initialized network's measured regime, and the window bound of the same held-out set."""

import time

import numpy as np

from ..training.regime import initial_lambda1, regime_of
from ..training.trainer import TrainConfig, build, train
from ..training.windows import window_bound


def learn_config(c):
    t = c["train"]
    relu = c["cell"] == "rnn_relu"  # Le et al.'s IRNN: ReLU with W_hh initialized to the identity
    return TrainConfig(cell=c["cell"], task=c["task"], form=c["form"], T=c["T"], hidden=t["hidden"],
                       batch=t["batch"], eval_batch=t["eval_batch"], final_batch=t["final_batch"],
                       updates=c["updates"], optimizer="adam", lr=t["lr"], k1=c["k1"], k2=c["k2"],
                       seed=c["train_seed"], eval_every=t["eval_every"], clip=t["clip"], threshold=t["threshold"],
                       recurrent_init="identity" if relu else "uniform", stop_when_solved=True,
                       backend=c.get("backend", "cpu"))


def sequence_length(c):
    """Steps per sequence: the copy task's T is its delay; its sequences are T + 20 long."""
    return c["T"] + 20 if c["task"] == "copy" else c["T"]


def compute_learn(c):
    cfg = learn_config(c)
    t0 = time.perf_counter()
    net, flat, gen, spec = build(cfg)
    rnn = {k: np.asarray(v) for k, v in flat.views.items() if not k.startswith("head_")}
    lam, lam_se = initial_lambda1(net, rnn, gen, seed=cfg.seed)
    r = train(cfg)
    held_out = r.extra["final_set"]  # the window bound on the set success was judged on
    return {"success": r.success, "final_loss": r.final_loss, "final_accuracy": r.final_accuracy,
            "baseline": r.baseline, "window_bound": window_bound(cfg.task, held_out, cfg.k1, cfg.k2, cfg.form),
            "lag": spec.lag, "solved_at": -1 if r.solved_at is None else r.solved_at, "updates_run": r.updates_run,
            "diverged": r.diverged, "lambda1": lam, "lambda1_se": lam_se,
            "regime": regime_of(lam, lam_se, sequence_length(c)),
            "eval_updates": r.eval_updates, "eval_loss": r.eval_loss, "seconds": time.perf_counter() - t0}

