"""The training loop: Python runs once per update; every time step and sample is in the kernels.

    cfg = TrainConfig(cell="lstm", task="adding", T=50, hidden=32, updates=2000, seed=0)
    result = train(cfg)          # per-update loss, pre-clip gradient norm, clipped flag, ...
"""

from dataclasses import asdict, dataclass, field

import numpy as np
from bpttlab import kernels

from .heads import head_loss
from .optim import OPTIMIZERS, FlatParams, Optimizer, clip_by_norm, clip_by_value, global_norm
from .tasks import ADDING_FORMS, TASKS, check_task_length, input_blind_baseline, make_task

CLIPS = (None, "norm", "value")
INTS = ("T", "hidden", "layers", "batch", "updates", "eval_every", "eval_batch", "final_batch")

# Success, fixed before any run: the loss on a fresh held-out set at the end of training is at most
# this fraction of the input-blind baseline on the same set (for the adding problem, R^2 >= 0.9).
SUCCESS_FRACTION = 0.1
# With stop_when_solved a run stops once its monitoring batch is at half the success threshold, so
# that a run stopped there is rarely a borderline case on the fresh set that decides success.
STOP_FRACTION = 0.5 * SUCCESS_FRACTION
REALS = ("lr", "momentum", "threshold", "gain")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _one_of(name, v, choices):
    if v not in choices:  # None is among the choices where it is allowed
        raise ValueError(f"{name}: got {v!r}, expected one of {', '.join(map(repr, choices))}")


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
    eval_batch: int = 256  # the monitoring batch, checked every eval_every updates
    final_batch: int = 1024  # the fresh held-out set that decides success at the end
    stop_when_solved: bool = False
    backend: str = "cpu"  # kernels.Network's backend

    def validate(self):
        """Every field checked before anything is built: a bad one raises TypeError (wrong type)
        or ValueError (out of range) naming the field, what it got and what was expected."""
        kernels.get_spec(self.cell)
        _one_of("task", self.task, TASKS)
        for name in INTS:
            v = getattr(self, name)
            if not _is_int(v):
                raise TypeError(f"{name}: got {v!r} (a {type(v).__name__}), expected a positive integer")
            if v < 1:
                raise ValueError(f"{name}: got {v!r}, expected a positive integer")
        for name in REALS:
            v = getattr(self, name)
            if not _is_real(v):
                raise TypeError(f"{name}: got {v!r} (a {type(v).__name__}), expected a real number")
            if not np.isfinite(v):
                raise ValueError(f"{name}: got {v!r}, expected a finite number")
        if not self.lr > 0:
            raise ValueError(f"lr: got {self.lr!r}, expected a positive learning rate")
        if self.momentum < 0:
            raise ValueError(f"momentum: got {self.momentum!r}, expected a number >= 0")
        if self.forget_bias is not None and not (_is_real(self.forget_bias) and np.isfinite(self.forget_bias)):
            raise TypeError(f"forget_bias: got {self.forget_bias!r}, expected None or a finite real number")
        if not _is_int(self.seed):
            raise TypeError(f"seed: got {self.seed!r} (a {type(self.seed).__name__}), expected an integer >= 0")
        if self.seed < 0:
            raise ValueError(f"seed: got {self.seed!r}, expected an integer >= 0")
        if not isinstance(self.stop_when_solved, (bool, np.bool_)):
            raise TypeError(f"stop_when_solved: got {self.stop_when_solved!r} (a {type(self.stop_when_solved).__name__}), "
                            "expected True or False")
        self.numpy_dtype()
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("recurrent_init", self.recurrent_init, kernels.RECURRENT_INITS)
        _one_of("backend", self.backend, kernels.BACKENDS)
        if self.form is not None:
            if self.task != "adding":
                raise ValueError(f"form: got {self.form!r} for task {self.task!r}; only the adding problem has forms")
            _one_of("form", self.form, ADDING_FORMS)
        if self.clip not in CLIPS:
            raise ValueError(f"clip: got {self.clip!r}, expected None, 'norm' or 'value'")
        if self.clip is not None and not self.threshold > 0:
            raise ValueError(f"threshold: got {self.threshold!r}, expected a positive clipping threshold")
        if (self.k1 is None) != (self.k2 is None):
            raise ValueError(f"k1, k2: got k1={self.k1!r}, k2={self.k2!r}; give both for TBPTT or neither for full BPTT")
        if self.k1 is not None:
            for name in ("k1", "k2"):
                v = getattr(self, name)
                if not _is_int(v):
                    raise TypeError(f"{name}: got {v!r} (a {type(v).__name__}), expected an integer >= 1")
                if v < 1:
                    raise ValueError(f"{name}: got {v!r}, expected an integer >= 1")
            if self.k2 < self.k1:
                raise ValueError(f"k2: got {self.k2}, expected k2 >= k1 = {self.k1} (TBPTT(k1, k2) needs 1 <= k1 <= k2)")
        check_task_length(self.task, self.T)

    def numpy_dtype(self):
        """The dtype, float32 or float64, from its name (or a NumPy dtype)."""
        try:
            if self.dtype is None:  # np.dtype(None) is float64
                raise TypeError
            dtype = np.dtype(self.dtype)
        except (TypeError, ValueError):
            raise ValueError(f"dtype: got {self.dtype!r}, expected 'float32' or 'float64'") from None
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: got {self.dtype!r}, expected 'float32' or 'float64'")
        return dtype


@dataclass
class TrainResult:
    config: dict
    loss: np.ndarray  # per update
    grad_norm: np.ndarray  # per update, before clipping
    clipped: np.ndarray  # per update, bool
    eval_updates: np.ndarray  # the updates after which the monitoring batch was evaluated
    eval_loss: np.ndarray
    eval_accuracy: np.ndarray  # NaN for regression tasks
    baseline: float  # the input-blind loss on the final held-out set, fitted on a separate draw
    diverged: bool = False
    diverged_at: int | None = None  # the update whose loss or gradient was not finite
    solved_at: int | None = None  # the first monitored update at or below SUCCESS_FRACTION x baseline
    updates_run: int = 0
    final_loss: float = float("inf")  # on the fresh held-out set after the last update; inf if diverged
    final_accuracy: float = float("nan")  # likewise; NaN for regression tasks
    extra: dict = field(default_factory=dict)

    @property
    def success(self):
        """The criterion fixed before running: the final held-out loss at most SUCCESS_FRACTION x the
        input-blind baseline on the same set (never for the language model, whose task has no end)."""
        return succeeded(self.config["task"], self.final_loss, self.baseline)


def succeeded(task, loss, baseline, fraction=SUCCESS_FRACTION):
    return task != "char_lm" and bool(np.isfinite(loss)) and loss <= fraction * baseline


def build(cfg):
    """Network, flat parameters (the RNN's and the head's) and the task for a config."""
    cfg.validate()
    gen, spec = make_task(cfg.task, cfg.T, cfg.form)
    dtype = cfg.numpy_dtype()
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
    # Success is judged on a fresh set, drawn from its own stream, against the input-blind predictor
    # fitted on yet another draw: neither has been seen by training or by the monitoring.
    final_set = gen(cfg.final_batch, np.random.default_rng([cfg.seed, 4]))
    baseline = input_blind_baseline(spec, gen(4 * cfg.final_batch, np.random.default_rng([cfg.seed, 5])), final_set)
    grad = np.empty_like(flat.data)
    n = cfg.updates
    losses, norms, clipped = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
    ev_u, ev_l, ev_a = [], [], []
    result = TrainResult(asdict(cfg), losses, norms, clipped, None, None, None, baseline)
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
            if result.solved_at is None and succeeded(cfg.task, el, baseline):
                result.solved_at = u + 1
            if cfg.stop_when_solved and succeeded(cfg.task, el, baseline, STOP_FRACTION):
                break
        if progress:
            progress(u + 1, n)
    result.eval_updates = np.array(ev_u, np.int64)
    result.eval_loss = np.array(ev_l)
    result.eval_accuracy = np.array(ev_a)
    if not result.diverged:
        with np.errstate(all="ignore"):
            fl, fa = evaluate(net, flat, spec, final_set)
        result.final_loss = float(fl) if np.isfinite(fl) else float("inf")
        result.final_accuracy = fa
    result.extra["params"] = flat
    result.extra["net"] = net
    result.extra["final_set"] = final_set  # the held-out Batch success was judged on
    return result
