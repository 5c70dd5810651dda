"""The training loop: Python runs once per update; every time step and sample is in the kernels.

    cfg = TrainConfig(cell="lstm", task="adding", T=50, hidden=32, updates=2000, seed=0)
    result = train(cfg)          # per-update loss, pre-clip gradient norm, clipped flag, ...
"""

from dataclasses import asdict, dataclass, field

import numpy as np
from bpttlab import kernels

from .heads import head_loss
from .optim import FlatParams, Optimizer, clip_by_norm, clip_by_value, global_norm
from .tasks import make_task

CLIPS = (None, "norm", "value")


@dataclass(frozen=True)
class TrainConfig:
    cell: str = "lstm"
    task: str = "adding"  # adding, copy, temporal_order, char_lm
    T: int = 50
    form: str | None = None  # the adding problem's form: le2015 or hs97
    hidden: int = 32
    layers: int = 1
    batch: int = 32
    updates: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    clip: str | None = None  # None, "norm" or "value"
    threshold: float = 1.0
    k1: int | None = None  # TBPTT(k1, k2); None for full BPTT
    k2: int | None = None
    recurrent_init: str = "uniform"
    gain: float = 1.0
    forget_bias: float | None = None
    dtype: str = "float32"
    seed: int = 0
    eval_every: int = 50
    eval_batch: int = 256
    stop_when_solved: bool = False
    backend: str = "cpu"  # kernels.Network's backend

    def validate(self):
        kernels.get_spec(self.cell)
        if self.clip not in CLIPS:
            raise ValueError(f"clip: got {self.clip!r}, expected None, 'norm' or 'value'")
        if self.clip is not None and not self.threshold > 0:
            raise ValueError(f"threshold: got {self.threshold!r}, expected a positive clipping threshold")
        if (self.k1 is None) != (self.k2 is None):
            raise ValueError(f"k1, k2: got k1={self.k1!r}, k2={self.k2!r}; give both for TBPTT or neither for full BPTT")
        for name in ("updates", "batch", "hidden", "eval_every", "eval_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: got {getattr(self, name)!r}, expected a positive integer")


@dataclass
class TrainResult:
    config: dict
    loss: np.ndarray  # per update
    grad_norm: np.ndarray  # per update, before clipping
    clipped: np.ndarray  # per update, bool
    eval_updates: np.ndarray  # the updates after which the held-out batch was evaluated
    eval_loss: np.ndarray
    eval_accuracy: np.ndarray  # NaN for regression tasks
    baseline: float  # the task's input-blind loss
    diverged: bool = False
    diverged_at: int | None = None  # the update whose loss or gradient was not finite
    solved_at: int | None = None  # the first evaluated update meeting the success criterion
    updates_run: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def final_loss(self):
        return float(self.eval_loss[-1]) if len(self.eval_loss) else float("nan")


def solved(spec, loss, accuracy):
    """The success criterion: R^2 >= 0.9 for regression (loss <= 0.1 x the input-blind MSE);
    accuracy >= 0.95 for the classification tasks; the language model is never 'solved'."""
    if spec.name == "char_lm":
        return False
    if spec.loss == "mse":
        return loss <= 0.1 * spec.baseline
    return accuracy >= 0.95


def build(cfg):
    """Network, flat parameters (the RNN's and the head's) and the task for a config."""
    cfg.validate()
    gen, spec = make_task(cfg.task, cfg.T, cfg.form)
    dtype = np.dtype(cfg.dtype)
    net = kernels.Network(cfg.cell, spec.input_size, cfg.hidden, cfg.layers, backend=cfg.backend)
    params = net.init_params(seed=cfg.seed, dtype=dtype, recurrent=cfg.recurrent_init, gain=cfg.gain,
                             forget_bias=cfg.forget_bias)
    rng = np.random.default_rng([cfg.seed, 1])
    bound = 1 / np.sqrt(cfg.hidden)
    params["head_weight"] = rng.uniform(-bound, bound, (spec.output_size, cfg.hidden)).astype(dtype)
    params["head_bias"] = np.zeros(spec.output_size, dtype)
    return net, FlatParams(params, dtype), gen, spec


def evaluate(net, flat, spec, batch):
    views = flat.views
    rnn = {k: v for k, v in views.items() if not k.startswith("head_")}
    h = net.forward(rnn, batch.x.astype(flat.data.dtype), training=False).y
    loss, metrics, *_ = head_loss(spec.loss, views["head_weight"], views["head_bias"], h, batch)
    return loss, metrics.get("accuracy", float("nan"))


def train(cfg, progress=None):
    """Train per ``cfg``; a diverged run (non-finite loss or gradient) stops and is recorded."""
    net, flat, gen, spec = build(cfg)
    dtype = flat.data.dtype
    views = flat.views
    rnn_keys = [k for k in views if not k.startswith("head_")]
    opt = Optimizer(cfg.optimizer, flat.data.size, dtype, cfg.lr, momentum=cfg.momentum)
    data_rng = np.random.default_rng([cfg.seed, 2])
    eval_batch = gen(cfg.eval_batch, np.random.default_rng([cfg.seed, 3]))
    grad = np.empty_like(flat.data)
    n = cfg.updates
    losses, norms, clipped = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
    ev_u, ev_l, ev_a = [], [], []
    result = TrainResult(asdict(cfg), losses, norms, clipped, None, None, None, spec.baseline)
    for u in range(n):
        batch = gen(cfg.batch, data_rng)
        rnn = {k: views[k] for k in rnn_keys}
        with np.errstate(all="ignore"):
            fw = net.forward(rnn, batch.x.astype(dtype))
            loss, _, dW, db, dh = head_loss(spec.loss, views["head_weight"], views["head_bias"], fw.y, batch)
            if cfg.k1 is None:
                g = net.backward(fw.tape, dh)
            else:
                g = net.backward_truncated(fw.tape, dh, cfg.k1, cfg.k2)
        grads = dict(g.params, head_weight=dW, head_bias=db)
        flat.flatten(grads, grad)
        norm = global_norm(grad)
        losses[u], norms[u] = loss, norm
        result.updates_run = u + 1
        if not (np.isfinite(loss) and np.isfinite(norm)):
            result.diverged, result.diverged_at = True, u
            break
        if cfg.clip == "norm":
            clipped[u] = clip_by_norm(grad, cfg.threshold, norm)
        elif cfg.clip == "value":
            clipped[u] = clip_by_value(grad, cfg.threshold)
        opt.step(flat.data, grad)
        if (u + 1) % cfg.eval_every == 0 or u + 1 == n:
            with np.errstate(all="ignore"):
                el, ea = evaluate(net, flat, spec, eval_batch)
            ev_u.append(u + 1)
            ev_l.append(el)
            ev_a.append(ea)
            if not np.isfinite(el):
                result.diverged, result.diverged_at = True, u
                break
            if result.solved_at is None and solved(spec, el, ea):
                result.solved_at = u + 1
                if cfg.stop_when_solved:
                    break
        if progress:
            progress(u + 1, n)
    result.eval_updates = np.array(ev_u, np.int64)
    result.eval_loss = np.array(ev_l)
    result.eval_accuracy = np.array(ev_a)
    result.extra["params"] = flat
    result.extra["net"] = net
    return result
