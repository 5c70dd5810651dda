"""The training harness: tasks and their baselines, heads, optimizers, clipping, the loop."""

import numpy as np
import pytest
from bpttlab.studies.training import tasks
from bpttlab.studies.training.heads import head_loss
from bpttlab.studies.training.optim import FlatParams, Optimizer, clip_by_norm, clip_by_value, global_norm
from bpttlab.studies.training.sample import sample_text
from bpttlab.studies.training.trainer import TrainConfig, train


@pytest.mark.parametrize("form", ["le2015", "hs97"])
def test_adding_problem_targets_and_baseline(form):
    T, B = 30, 20000
    batch = tasks.adding(T, B, np.random.default_rng(0), form)
    x, y = batch.x, batch.y[:, 0]
    assert x.shape == (T, B, 2) and batch.loss_steps == slice(T - 1, T)
    assert np.all(x[:, :, 1].sum(axis=0) == 2)  # exactly two markers per sequence
    s = (x[:, :, 0] * x[:, :, 1]).sum(axis=0)
    np.testing.assert_allclose(y, s if form == "le2015" else 0.5 + s / 4)
    marks = np.argwhere(x[:, :, 1].T == 1)[:, 1].reshape(B, 2)
    if form == "le2015":
        assert np.all(marks[:, 0] < T // 2) and np.all(marks[:, 1] >= T // 2)
    else:
        assert np.all(marks < T // 2 - 1) and np.any(marks[:, 0] < 10)
    # The computed baseline is the MSE of the best constant (the mean): check by Monte Carlo.
    spec = tasks.adding_spec(T, form)
    assert abs(np.mean((y - y.mean()) ** 2) / spec.baseline - 1) < 0.03


def test_copy_task_layout_and_baseline():
    T, B = 7, 5
    batch = tasks.copy_memory(T, B, np.random.default_rng(1))
    n = T + 20
    seq = batch.x.argmax(axis=2)
    assert batch.x.shape == (n, B, 10) and batch.y.shape == (n, B)
    assert np.all((seq[:10] >= 1) & (seq[:10] <= 8))
    assert np.all(seq[10 + T - 1] == 9) and np.all(seq[10 : 10 + T - 1] == 0) and np.all(seq[-10:] == 0)
    np.testing.assert_array_equal(batch.y[-10:], seq[:10])
    assert np.all(batch.y[:-10] == 0)
    # The baseline predictor: blank with certainty, then uniform over the 8 symbols.
    logp = np.full((n, B, 9), -np.inf)
    logp[:-10, :, 0] = 0.0
    logp[-10:, :, 1:] = -np.log(8)
    ce = -np.take_along_axis(logp, batch.y[..., None], axis=2).mean()
    assert ce == pytest.approx(tasks.copy_memory_spec(T).baseline, rel=1e-12)
    assert tasks.copy_memory_spec(T).baseline == pytest.approx(10 * np.log(8) / (T + 20))


def test_temporal_order_classes():
    T, B = 50, 4000
    batch = tasks.temporal_order(T, B, np.random.default_rng(2))
    seq = batch.x.argmax(axis=2)
    relevant = np.argwhere(seq.T < 2)
    assert len(relevant) == 2 * B
    pos = relevant[:, 1].reshape(B, 2)
    assert np.all((pos[:, 0] >= 5) & (pos[:, 0] < 10) & (pos[:, 1] >= 25) & (pos[:, 1] < 30))
    first, second = seq[pos[:, 0], np.arange(B)], seq[pos[:, 1], np.arange(B)]
    np.testing.assert_array_equal(batch.y[0], 2 * first + second)
    counts = np.bincount(batch.y[0], minlength=4) / B
    assert np.all(np.abs(counts - 0.25) < 0.03)


def test_char_corpus_round_trip_and_unigram_baseline():
    c = tasks.CharCorpus()
    assert c.decode(c.encode("the program")) == "the program"
    b = c.batch(20, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(b.x.argmax(axis=2)[1:], b.y[:-1])  # targets are the next character
    assert 2.0 < c.spec(20).baseline < np.log(c.vocab)


def test_task_argument_errors():
    with pytest.raises(ValueError, match="form: got 'x'"):
        tasks.adding(10, 2, np.random.default_rng(0), "x")
    with pytest.raises(ValueError, match="task: got 'sort'"):
        tasks.make_task("sort", 10)
    with pytest.raises(ValueError, match="T: got 5, expected at least 10"):
        tasks.temporal_order(5, 2, np.random.default_rng(0))


@pytest.mark.parametrize("kind", ["mse", "ce"])
def test_head_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(3)
    T, B, H, O = 5, 3, 4, 3
    h = rng.standard_normal((T, B, H))
    W, b = rng.standard_normal((O, H)), rng.standard_normal(O)
    if kind == "mse":
        batch = tasks.Batch(None, rng.standard_normal((B, O)), slice(T - 1, T))
    else:
        batch = tasks.Batch(None, rng.integers(0, O, (2, B)), slice(T - 2, T))
    _, _, dW, db, dh = head_loss(kind, W, b, h, batch)
    eps = 1e-6
    for arr, grad in ((W, dW), (b, db), (h, dh)):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            up = head_loss(kind, W, b, h, batch)[0]
            arr[i] = old - eps
            down = head_loss(kind, W, b, h, batch)[0]
            arr[i] = old
            num[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)


def test_clipping():
    g = np.array([3.0, 4.0])
    assert global_norm(g) == 5.0
    assert clip_by_norm(g, 1.0, 5.0) and np.allclose(g, [0.6, 0.8])
    g = np.array([3.0, 4.0])
    assert not clip_by_norm(g, 10.0, 5.0) and np.array_equal(g, [3.0, 4.0])
    g = np.array([-3.0, 0.5, 4.0])
    assert clip_by_value(g, 1.0) and np.array_equal(g, [-1.0, 0.5, 1.0])
    assert not clip_by_value(np.array([0.1]), 1.0)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam"])
def test_optimizers_match_pytorch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    theta0 = rng.standard_normal(7)
    grads = rng.standard_normal((5, 7))
    ours = theta0.copy()
    opt = Optimizer(name, 7, np.float64, lr=0.05)
    p = torch.tensor(theta0, requires_grad=True)
    topt = {"sgd": lambda: torch.optim.SGD([p], lr=0.05, momentum=0.9),
            "rmsprop": lambda: torch.optim.RMSprop([p], lr=0.05, alpha=0.99, eps=1e-8),
            "adam": lambda: torch.optim.Adam([p], lr=0.05, eps=1e-8)}[name]()
    for g in grads:
        opt.step(ours, g.copy())
        p.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(ours, p.detach().numpy(), rtol=1e-12)


def test_flat_params_views_share_memory():
    f = FlatParams({"a": np.ones((2, 3)), "b": np.zeros(2)}, np.float64)
    f.data[:] = np.arange(8)
    np.testing.assert_array_equal(f.views["a"], [[0, 1, 2], [3, 4, 5]])
    out = f.flatten({"a": np.full((2, 3), 2.0), "b": np.array([5.0, 6.0])}, np.empty(8))
    np.testing.assert_array_equal(out, [2, 2, 2, 2, 2, 2, 5, 6])


def test_training_is_deterministic_and_learns():
    cfg = TrainConfig(cell="gru", task="temporal_order", T=20, hidden=24, updates=400, lr=1e-2, eval_every=50)
    a, b = train(cfg), train(cfg)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.grad_norm, b.grad_norm)
    assert a.solved_at is not None and a.final_loss < 0.1 * a.baseline
    assert not a.diverged and not a.clipped.any()


def test_divergence_is_recorded_not_raised():
    cfg = TrainConfig(cell="rnn_relu", task="adding", T=30, hidden=16, updates=300, optimizer="sgd", lr=50.0,
                      recurrent_init="identity", gain=1.5, eval_every=10)
    r = train(cfg)
    assert r.diverged and r.diverged_at is not None and r.updates_run == r.diverged_at + 1
    assert not np.isfinite(r.loss[r.diverged_at]) or not np.isfinite(r.grad_norm[r.diverged_at])


def test_clipping_in_the_loop_records_flags_and_pre_clip_norms():
    cfg = TrainConfig(cell="rnn_tanh", task="adding", T=20, hidden=16, updates=60, optimizer="sgd", lr=0.05,
                      clip="norm", threshold=1e-3, eval_every=20)
    r = train(cfg)
    assert r.clipped.all() and np.all(r.grad_norm > 1e-3)  # norms are recorded before clipping
    assert train(TrainConfig(**{**cfg.__dict__, "clip": "value", "threshold": 1e6})).clipped.sum() == 0


def test_truncated_training_runs_and_differs_from_full():
    base = dict(cell="lstm", task="adding", T=24, hidden=8, updates=30, eval_every=10)
    full = train(TrainConfig(**base))
    cut = train(TrainConfig(**base, k1=4, k2=4))
    assert not np.array_equal(full.grad_norm, cut.grad_norm)
    with pytest.raises(ValueError, match="k1, k2: got k1=4, k2=None"):
        train(TrainConfig(**base, k1=4))


def test_sampling_text():
    cfg = TrainConfig(cell="lstm", task="char_lm", T=30, hidden=32, updates=60, lr=5e-3, eval_every=30)
    r = train(cfg)
    corpus = tasks.CharCorpus()
    a = sample_text(r.extra["net"], r.extra["params"], corpus, "The ", 80, rng=np.random.default_rng(0))
    b = sample_text(r.extra["net"], r.extra["params"], corpus, "The ", 80, rng=np.random.default_rng(0))
    assert a == b and len(a) == 80 and set(a) <= set(corpus.chars)
    assert r.final_loss < r.loss[0]  # it learned something in 60 updates
