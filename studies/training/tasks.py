"""Seeded task generators with known dependency lags, and the input-blind baseline computed from
each task's own data.

Every generator takes a NumPy Generator and returns a :class:`Batch`: inputs x (T, B, I) and
targets, plus which steps carry a loss. Each task's ``spec`` says the head, the loss, the lag and
the analytic loss of the best input-blind predictor; the studies judge runs against
:func:`input_blind_baseline` instead, that predictor fitted on one draw of the task's data and
scored on the held-out set the run is scored on, and the tests hold the two against each other.
"""

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np


@dataclass
class Batch:
    x: np.ndarray  # (T, B, I)
    y: np.ndarray  # regression: (B, 1) at the last step; classification: int (T_loss, B) class ids
    loss_steps: slice  # the steps whose outputs carry a loss (a trailing slice of 0..T-1)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    input_size: int
    output_size: int
    loss: str  # "mse" or "ce"
    lag: int  # the longest input-to-target dependency, in steps
    baseline: float  # loss of the best predictor that ignores the inputs


# -- the adding problem --------------------------------------------------------------------

ADDING_FORMS = ("le2015", "hs97")


def adding(T, B, rng, form="le2015"):
    """The adding problem: two marked numbers in a sequence of T; the target is their sum.

    form="le2015" (Le et al. 2015; Arjovsky et al. 2016): values ~ U[0, 1], one marker in each
    half of the sequence, target = X1 + X2.
    form="hs97" (Hochreiter & Schmidhuber 1997, experiment 4): values ~ U[-1, 1], the first
    marker in the first 10 steps, the second in the first T/2 - 1 steps, target 0.5 + (X1 + X2)/4.
    The loss is the MSE of one linear output at the last step.
    """
    if T < 4:
        raise ValueError(f"T: got {T}, expected at least 4 for the adding problem")
    if form not in ADDING_FORMS:
        raise ValueError(f"form: got {form!r}, expected 'le2015' or 'hs97'")
    x = np.zeros((T, B, 2))
    rows = np.arange(B)
    if form == "le2015":
        x[:, :, 0] = rng.uniform(0, 1, (T, B))
        i = rng.integers(0, T // 2, B)
        j = rng.integers(T // 2, T, B)
    else:
        x[:, :, 0] = rng.uniform(-1, 1, (T, B))
        i = rng.integers(0, min(10, T // 2 - 1), B)
        # The second marker: in the first T/2 - 1 steps and not on the first one.
        j = rng.integers(0, T // 2 - 1, B)
        j = np.where(j == i, (j + 1) % (T // 2 - 1), j)
    x[i, rows, 1] = 1.0
    x[j, rows, 1] = 1.0
    s = x[i, rows, 0] + x[j, rows, 0]
    y = s if form == "le2015" else 0.5 + s / 4.0
    return Batch(x, y[:, None], slice(T - 1, T))


def adding_spec(T, form="le2015"):
    # The input-blind optimum predicts E[y]; its MSE is Var(y), the sum of two independent
    # uniforms: le2015 Var(U[0,1]) * 2 = 1/6; hs97 Var(U[-1,1]) * 2 / 16 = 1/24.
    var = 2 * (1 / 12) if form == "le2015" else 2 * (4 / 12) / 16
    lag = T - 1 if form == "le2015" else T - 1  # the first marker can sit at step 0
    return TaskSpec(f"adding_{form}", 2, 1, "mse", lag, var)


# -- the copy-memory task ------------------------------------------------------------------

COPY_SYMBOLS = 8  # data symbols 1..8; 0 is blank, 9 the delimiter
COPY_LENGTH = 10


def copy_memory(T, B, rng):
    """Arjovsky et al. 2016: memorize 10 symbols, wait T steps, reproduce them after a delimiter.

    Sequences have T + 20 steps; the target is blank everywhere except the last 10 steps.
    Inputs are one-hot over 10 symbols; the loss is the cross-entropy at every step.
    """
    if T < 1:
        raise ValueError(f"T: got {T}, expected at least 1 for the copy task")
    n = T + 2 * COPY_LENGTH
    seq = np.zeros((n, B), np.int64)
    data = rng.integers(1, COPY_SYMBOLS + 1, (COPY_LENGTH, B))
    seq[:COPY_LENGTH] = data
    seq[COPY_LENGTH + T - 1] = COPY_SYMBOLS + 1
    target = np.zeros((n, B), np.int64)
    target[-COPY_LENGTH:] = data
    x = np.eye(COPY_SYMBOLS + 2)[seq]
    return Batch(x, target, slice(0, n))


def copy_memory_spec(T):
    # Blank for T + 10 steps, then a uniform guess over 8 symbols for 10 steps:
    # the average cross-entropy is 10 ln 8 / (T + 20).
    return TaskSpec("copy", COPY_SYMBOLS + 2, COPY_SYMBOLS + 1, "ce", T + COPY_LENGTH, COPY_LENGTH * np.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH))


# -- the temporal-order task ---------------------------------------------------------------

def temporal_order(T, B, rng):
    """Hochreiter & Schmidhuber 1997 (experiment 6a; Pascanu et al. 2013): classify the order of
    two relevant symbols (X or Y) placed among distractors, at steps in [T/10, 2T/10) and
    [5T/10, 6T/10). Four classes (XX, XY, YX, YY), cross-entropy at the last step.

    One-hot inputs over 6 symbols: 0-1 are the relevant X and Y, 2-5 the distractors.
    """
    if T < 10:
        raise ValueError(f"T: got {T}, expected at least 10 for the temporal-order task")
    seq = rng.integers(2, 6, (T, B))
    rows = np.arange(B)
    t1 = rng.integers(T // 10, 2 * T // 10, B)
    t2 = rng.integers(5 * T // 10, 6 * T // 10, B)
    a, b = rng.integers(0, 2, B), rng.integers(0, 2, B)
    seq[t1, rows] = a
    seq[t2, rows] = b
    x = np.eye(6)[seq]
    return Batch(x, (2 * a + b)[None, :], slice(T - 1, T))


def temporal_order_spec(T):
    return TaskSpec("temporal_order", 6, 4, "ce", T - 1 - T // 10, float(np.log(4)))


# -- character-level language model -----------------------------------------------------------

CORPUS = resources.files("bpttlab.studies.data") / "gpl3.txt"  # package data: found in an installed copy too


class CharCorpus:
    """A small text shipped with the repository (the GNU GPL v3, verbatim, which its licence
    lets anyone copy), split 90/10 into training and validation text."""

    def __init__(self, path=CORPUS):
        text = (path if hasattr(path, "read_text") else Path(path)).read_text(encoding="utf-8")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        ids = np.array([self.index[c] for c in text], np.int64)
        cut = int(0.9 * len(ids))
        self.train, self.valid = ids[:cut], ids[cut:]

    @property
    def vocab(self):
        return len(self.chars)

    def encode(self, s):
        return np.array([self.index[c] for c in s], np.int64)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)

    def batch(self, T, B, rng, split="train"):
        """B random windows of T + 1 characters: inputs one-hot of the first T, targets the next."""
        ids = self.train if split == "train" else self.valid
        if T > len(ids) - 2:
            raise ValueError(f"T: got {T}, expected at most {len(ids) - 2}: the {split} text has {len(ids)} characters "
                             f"and a window needs T + 1 of them, from more than one starting point")
        starts = rng.integers(0, len(ids) - T - 1, B)
        win = ids[starts[None, :] + np.arange(T + 1)[:, None]]  # (T + 1, B)
        return Batch(np.eye(self.vocab)[win[:-1]], win[1:], slice(0, T))

    def spec(self, T):
        # The input-blind optimum is the unigram distribution: its cross-entropy is the entropy.
        p = np.bincount(self.train, minlength=self.vocab) / len(self.train)
        p = p[p > 0]
        return TaskSpec("char_lm", self.vocab, self.vocab, "ce", T, float(-(p * np.log(p)).sum()))


TASKS = ("adding", "copy", "temporal_order", "char_lm")

# The input-blind classifier's class frequencies get this pseudo-count: a class never seen at a
# step in the fitting draw must not cost an infinite loss. With n fitted sequences its bias on a
# step whose class is certain is -ln((n + a) / (n + K a)), about (K - 1) a / n nats (1e-3 for the
# copy task's blank steps at n = 4096).
PSEUDO_COUNT = 0.5


def input_blind_baseline(spec, fit, held_out):
    """The loss on ``held_out`` of the best predictor that ignores the inputs, fitted on ``fit``
    (two Batches of the task): for MSE the mean target; for cross-entropy the class frequencies
    at each loss step (with PSEUDO_COUNT). Computed from the data, so a task's baseline never
    rests on a constant typed in from a paper."""
    if spec.loss == "mse":
        mean = fit.y.reshape(-1, fit.y.shape[-1]).mean(axis=0)
        err = held_out.y - mean
        return float(np.mean(err * err))
    if spec.loss != "ce":
        raise ValueError(f"spec.loss: got {spec.loss!r}, expected 'mse' or 'ce'")
    K = spec.output_size
    yf, yh = np.atleast_2d(fit.y), np.atleast_2d(held_out.y)  # (loss steps, B)
    if yf.shape[0] != yh.shape[0]:
        raise ValueError(f"held_out: {yh.shape[0]} loss steps, expected {yf.shape[0]} like the fitting draw")
    counts = np.stack([np.bincount(row, minlength=K) for row in yf]) + PSEUDO_COUNT  # (steps, K)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(-np.take_along_axis(logp, yh, axis=1).mean())


@cache
def _training_text_length():
    return len(CharCorpus().train)

MIN_T = {"adding": 4, "copy": 1, "temporal_order": 10, "char_lm": 1}


def check_task_length(name, T):
    """T within what the task can make: its own minimum, and for the language model the
    length of the training text (a clear error here instead of NumPy's ``high <= 0``)."""
    if not isinstance(T, (int, np.integer)) or isinstance(T, bool):
        raise TypeError(f"T: got {T!r} (a {type(T).__name__}), expected a positive integer")
    if name in MIN_T and T < MIN_T[name]:
        raise ValueError(f"T: got {T}, expected at least {MIN_T[name]} for the {name} task")
    if name == "char_lm":
        n = _training_text_length()
        if T > n - 2:
            raise ValueError(f"T: got {T}, expected at most {n - 2} for the char_lm task: its training text "
                             f"({CORPUS.name}) has {n} characters and a window needs T + 1")


def make_task(name, T, form=None):
    """(generator(B, rng) -> Batch, TaskSpec) for a task by name."""
    if name not in TASKS:
        raise ValueError(f"task: got {name!r}, expected one of {', '.join(TASKS)}")
    check_task_length(name, T)
    if name == "adding":
        form = form or "le2015"
        if form not in ADDING_FORMS:
            raise ValueError(f"form: got {form!r}, expected 'le2015' or 'hs97'")
        return (lambda B, rng: adding(T, B, rng, form)), adding_spec(T, form)
    if name == "copy":
        return (lambda B, rng: copy_memory(T, B, rng)), copy_memory_spec(T)
    if name == "temporal_order":
        return (lambda B, rng: temporal_order(T, B, rng)), temporal_order_spec(T)
    corpus = CharCorpus()
    return (lambda B, rng: corpus.batch(T, B, rng)), corpus.spec(T)
