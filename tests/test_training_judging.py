"""How training runs are judged: the input-blind baseline computed from the task's data, success on
a fresh held-out set, and the regime read from the initialized network's measured lambda_1."""

import math

import numpy as np
import pytest
from bpttlab import kernels
from bpttlab.studies.training import tasks
from bpttlab.studies.training.regime import initial_lambda1, lambda1_along, regime_of
from bpttlab.studies.training.trainer import SUCCESS_FRACTION, TrainConfig, train


def _draws(task, T, n_fit, n_held, form=None):
    gen, spec = tasks.make_task(task, T, form)
    return spec, gen(n_fit, np.random.default_rng(1)), gen(n_held, np.random.default_rng(2))


@pytest.mark.parametrize("form", ["le2015", "hs97"])
def test_adding_baseline_from_data_matches_the_variance_of_the_target(form):
    # The analytic value (Var of the target) is only the check; 20000 held-out targets give the
    # MSE to a relative SE of about 0.9% (measured spread of (y - mean)^2), so 4 SE = 4%.
    spec, fit, held = _draws("adding", 40, 4096, 20000, form)
    b = tasks.input_blind_baseline(spec, fit, held)
    se = np.std((held.y - fit.y.mean()) ** 2) / math.sqrt(held.y.size)
    assert abs(b - spec.baseline) < 4 * se


def test_copy_and_temporal_order_baselines_from_data():
    spec, fit, held = _draws("copy", 20, 4096, 4096)
    b = tasks.input_blind_baseline(spec, fit, held)
    # Blank steps cost the pseudo-count's bias, about (K-1) a / n per step; the 10 recall steps
    # ln 8 each, give or take the sampling of 4096 x 10 uniform symbols (SE well under 1%).
    n = 20 + 20
    bias = (n - 10) / n * (spec.output_size - 1) * tasks.PSEUDO_COUNT / 4096
    assert b == pytest.approx(spec.baseline + bias, rel=0.01)
    spec, fit, held = _draws("temporal_order", 30, 4096, 4096)
    assert tasks.input_blind_baseline(spec, fit, held) == pytest.approx(math.log(4), rel=0.01)


def test_baseline_argument_errors():
    spec, fit, held = _draws("temporal_order", 30, 8, 8)
    _, _, other = _draws("copy", 3, 8, 8)
    with pytest.raises(ValueError, match="held_out: 23 loss steps, expected 1"):
        tasks.input_blind_baseline(spec, fit, other)


def test_success_is_decided_on_a_fresh_held_out_set():
    cfg = TrainConfig(cell="gru", task="temporal_order", T=20, hidden=24, updates=400, lr=1e-2, eval_every=50,
                      final_batch=512)
    r = train(cfg)
    # The final set is not the monitoring batch: its loss differs from the last monitored one.
    assert r.final_loss != r.eval_loss[-1]
    assert r.success == (r.final_loss <= SUCCESS_FRACTION * r.baseline)
    assert r.baseline == pytest.approx(math.log(4), rel=0.1)
    # A run that cannot have learned (one update) is not a success.
    assert not train(TrainConfig(**{**cfg.__dict__, "updates": 1})).success


def test_stop_when_solved_stops_early_and_still_judges_on_the_fresh_set():
    cfg = TrainConfig(cell="gru", task="temporal_order", T=20, hidden=24, updates=2000, lr=1e-2, eval_every=25,
                      stop_when_solved=True)
    r = train(cfg)
    assert r.updates_run < 2000 and r.solved_at is not None and r.solved_at <= r.updates_run
    assert np.isfinite(r.final_loss)


def test_regime_rule():
    assert regime_of(-0.05, 0.001, 100) == "contracting"
    assert regime_of(0.05, 0.001, 100) == "expanding"
    assert regime_of(-0.005, 0.001, 100) == "critical"  # |lambda| T = 0.5 <= 1
    assert regime_of(-0.012, 0.005, 100) == "critical"  # the interval reaches past -1/T
    assert regime_of(float("nan"), 0.0, 100) == "unknown"


def test_initial_lambda1_against_a_network_whose_exponent_is_known():
    # tanh RNN with W_hh = 0.5 Q (Q orthogonal), zero biases and zero input weights: the state stays at
    # 0, where the Jacobian is exactly 0.5 Q, so lambda_1 = ln 0.5 with no statistical error.
    H = 16
    net = kernels.Network("rnn_tanh", 2, H)
    p = net.init_params(seed=0, dtype=np.float64)
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((H, H)))
    p = {k: np.zeros_like(v) for k, v in p.items()}
    p["weight_hh_l0"] = 0.5 * q
    gen, _ = tasks.make_task("adding", 50)
    lam, se = initial_lambda1(net, p, gen, sequences=4)
    assert lam == pytest.approx(math.log(0.5), abs=1e-12) and se < 1e-12
    assert regime_of(lam, se, 50) == "contracting"


def test_initial_lambda1_refuses_stacked_networks():
    net = kernels.Network("gru", 2, 4, num_layers=2)
    gen, _ = tasks.make_task("adding", 20)
    with pytest.raises(ValueError, match="net: got 2 layers x 1 directions"):
        initial_lambda1(net, net.init_params(seed=0), gen)


def test_lambda1_with_restarts_stays_finite_where_one_long_trajectory_overflows():
    # ReLU, W_hh = 1.5 I, positive input weights and inputs: every unit stays active, the Jacobian is
    # 1.5 I at every step and lambda_1 = ln 1.5 exactly. Forty sequences of 100 steps end to end grow
    # the state as 1.5^4000, past float64; each sequence from the zero state does not.
    H = 4
    net = kernels.Network("rnn_relu", 2, H)
    p = {k: np.zeros_like(v) for k, v in net.init_params(seed=0, dtype=np.float64).items()}
    p["weight_hh_l0"] = 1.5 * np.eye(H)
    p["weight_ih_l0"][:] = 1.0
    gen, _ = tasks.make_task("adding", 100)
    x = gen(40, np.random.default_rng(0)).x
    lam, se = lambda1_along(net, p, x, skip=10, restart=True)
    assert lam == pytest.approx(math.log(1.5), abs=1e-12) and se < 1e-12
    with np.errstate(all="ignore"):
        assert not lambda1_along(net, p, x, skip=10)[0] == pytest.approx(math.log(1.5), abs=1e-3)
    with pytest.raises(ValueError, match="skip: got 100, expected 0 <= skip < T = 100"):
        lambda1_along(net, p, x, skip=100, restart=True)
