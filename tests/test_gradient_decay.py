"""The gradient-decay study: Jacobian-vector products, Lyapunov exponents, mean-field theory,
the exact linear rate, and the quick study end to end."""

import json
import math

import numpy as np
import pytest
from bpttlab import kernels
from bpttlab.studies import gradient_decay as gd
from bpttlab.studies.science import fit_rate
from bpttlab.studies.science import meanfield as mf
from bpttlab.studies.science.jvp import CellDynamics
from scipy.integrate import quad


def random_cell(cell, H=5, I=3, seed=0, gain=1.3):
    """A network with every parameter nonzero (biases, peepholes), float64."""
    rng = np.random.default_rng(seed)
    net = kernels.Network(cell, I, H)
    params = net.init_params(seed=seed, recurrent="gaussian", gain=gain)
    for k in params:
        if "bias" in k or "peephole" in k:
            params[k] = 0.5 * rng.standard_normal(params[k].shape)
    return net, params, CellDynamics(cell, params), rng


def kernel_step(net, params, dyn, s, x):
    fw = net.forward(params, x.reshape(1, 1, -1), state=dyn.kernel_state(s), training=False)
    return dyn.state_vector(fw.state)


@pytest.mark.parametrize("cell", kernels.CELLS)
def test_jvp_matches_finite_differences_of_the_kernels_forward(cell):
    net, params, dyn, rng = random_cell(cell)
    for _ in range(2):
        s = 0.7 * rng.standard_normal(dyn.state_size)
        x = rng.standard_normal(3)
        V = rng.standard_normal((dyn.state_size, 3))
        s1, JV = dyn.step(s, dyn.project(x[None])[0], V)
        np.testing.assert_allclose(s1, kernel_step(net, params, dyn, s, x), rtol=0, atol=1e-14)
        eps = 1e-6
        for m in range(V.shape[1]):
            fd = (kernel_step(net, params, dyn, s + eps * V[:, m], x)
                  - kernel_step(net, params, dyn, s - eps * V[:, m], x)) / (2 * eps)
            np.testing.assert_allclose(JV[:, m], fd, rtol=0, atol=2e-8)  # central differences: O(eps^2) + rounding
        J = dyn.jacobian(s, dyn.project(x[None])[0])
        np.testing.assert_allclose(J @ V, JV, rtol=1e-12, atol=1e-13)


def test_tangent_run_follows_the_kernels_trajectory():
    net, params, dyn, rng = random_cell("lstm_peephole", H=6, I=4)
    x = rng.standard_normal((50, 1, 4))
    s0 = 0.5 * rng.standard_normal(dyn.state_size)
    fw = net.forward(params, x, state=dyn.kernel_state(s0), training=False)
    s, _, _, states = dyn.run(dyn.project(x[:, 0]), s0, keep_states=True)
    np.testing.assert_allclose(s, dyn.state_vector(fw.state), rtol=0, atol=1e-13)
    np.testing.assert_allclose(states[-1], s, rtol=0, atol=0)


def test_lyapunov_of_a_scaled_orthogonal_linear_map_is_ln_g():
    """rnn_tanh with W_hh = g Q at the zero state: J_t = g Q, every exponent is ln g exactly, and
    QR's first column is the single renormalized tangent vector."""
    H, g = 40, 0.8
    net = kernels.Network("rnn_tanh", H, H)
    params = net.init_params(seed=1, recurrent="orthogonal", gain=g)
    params["bias_hh_l0"][:] = 0
    params["bias_ih_l0"][:] = 0
    dyn = CellDynamics("rnn_tanh", params)
    xps = np.zeros((300, H))
    ex, logs = dyn.lyapunov(xps, np.zeros(H), 5)
    np.testing.assert_allclose(ex, math.log(g), rtol=0, atol=1e-13)
    ex1, logs1 = dyn.lyapunov(xps, np.zeros(H), 1)
    np.testing.assert_allclose(logs1[:, 0], logs[:, 0], rtol=0, atol=1e-13)


def test_qr_first_exponent_equals_tangent_vector_renormalization_in_chaos():
    """Column 1 of repeated QR is one tangent vector renormalized every step: same log growth."""
    H = 60
    net = kernels.Network("rnn_tanh", H, H)
    params = net.init_params(seed=2, recurrent="gaussian", gain=2.0)
    dyn = CellDynamics("rnn_tanh", params)
    xps = np.zeros((400, H))
    s0 = 0.5 * np.random.default_rng(0).standard_normal(H)
    ex3, logs3 = dyn.lyapunov(xps, s0, 3, seed=7)
    v = np.linalg.qr(np.random.default_rng(7).standard_normal((H, 3)))[0][:, :1]  # lyapunov's first column
    _, _, logs1, _ = dyn.run(xps, s0, v, qr=True)
    np.testing.assert_allclose(logs1[:, 0], logs3[:, 0], rtol=0, atol=1e-12)
    assert ex3[0] > 0.05  # g = 2 without input is chaotic


# -- mean-field theory ------------------------------------------------------------------------


def _quad(f, q):
    return quad(lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -np.inf, np.inf,
                epsabs=1e-14, epsrel=1e-12, limit=400)[0]


def test_gauss_hermite_expectations_against_adaptive_quadrature():
    for q in (0.01, 0.5, 2.0, 7.0, 12.0):
        assert mf.gaussian_mean(lambda a: mf.sech2(a) ** 2, q) == pytest.approx(
            _quad(lambda a: float(mf.sech2(a)) ** 2, q), rel=1e-9)
        assert mf.gaussian_mean(lambda a: np.tanh(a) ** 2, q) == pytest.approx(
            _quad(lambda a: math.tanh(a) ** 2, q), rel=1e-10)


@pytest.mark.parametrize(("g", "s2"), [(0.8, 0.25), (1.5, 0.0), (2.5, 0.25), (3.0, 1.0)])
def test_mean_field_fixed_point_and_chi_against_monte_carlo(g, s2):
    q = mf.tanh_fixed_point(g, s2)
    chi = mf.tanh_chi(g, s2)
    assert q > 0 and chi == pytest.approx(math.exp(2 * mf.tanh_lambda(g, s2)), rel=1e-12)
    z = np.random.default_rng(3).standard_normal(2_000_000)
    a = math.sqrt(q) * z
    t2 = g * g * np.tanh(a) ** 2 + s2
    d4 = g * g * mf.sech2(a) ** 2
    # q* is a fixed point of the Monte-Carlo map, and chi its Monte-Carlo mean, within 5 standard errors.
    assert abs(t2.mean() - q) < 5 * t2.std() / math.sqrt(z.size)
    assert abs(d4.mean() - chi) < 5 * d4.std() / math.sqrt(z.size)


def test_mean_field_q_star_against_a_simulated_network():
    """The pre-activation variance of a driven random tanh network (H = 600) is q*."""
    H, g, sx = 600, 1.5, 0.5
    cfg = {"cell": "rnn_tanh", "H": H, "init": "gaussian", "g": g, "forget_bias": None, "seed": 11}
    net, params = gd.make_params(cfg)
    rng = np.random.default_rng(4)
    x = sx * rng.standard_normal((400, 1, H))
    y = net.forward(params, x, state=0.5 * rng.standard_normal((1, 1, H)), training=False)
    fw = net.forward(params, x[200:], state=y.state, training=False)
    hs = np.concatenate([np.ravel(y.state)[None], fw.y[:-1, 0]])
    a = hs @ params["weight_hh_l0"].T + x[200:, 0] @ params["weight_ih_l0"].T
    q = mf.tanh_fixed_point(g, sx * sx)
    assert np.mean(a * a) == pytest.approx(q, rel=0.03)  # finite-size O(1/sqrt H) and time-average error


def test_mean_field_edges_and_limits():
    assert mf.tanh_fixed_point(0.9) == 0.0 and mf.tanh_lambda(0.9) == pytest.approx(math.log(0.9), abs=1e-15)
    assert mf.tanh_chi(1.0) == pytest.approx(1.0, abs=1e-15)
    assert mf.tanh_edge(0.0) == 1.0
    edge = mf.tanh_edge(0.25)
    assert 1.5 < edge < 1.6 and mf.tanh_chi(edge, 0.25) == pytest.approx(1.0, abs=1e-10)
    # Drive only lowers chi (suppresses chaos), and lambda grows with g.
    assert mf.tanh_lambda(2.0, 0.25) < mf.tanh_lambda(2.0, 0.0)
    assert mf.tanh_lambda(1.2) < mf.tanh_lambda(1.5) < mf.tanh_lambda(3.0)
    assert mf.relu_lambda(math.sqrt(2)) == pytest.approx(0.0, abs=1e-15)
    assert mf.relu_fixed_point(1.0, 0.25) == pytest.approx(0.5) and math.isinf(mf.relu_fixed_point(1.5, 0.25))


# -- the linear RNN -----------------------------------------------------------------------------


def _undriven_tanh(H, g, init, seed=0):
    net = kernels.Network("rnn_tanh", H, H)
    params = net.init_params(seed=seed, recurrent=init, gain=g)
    params["bias_ih_l0"][:] = 0
    params["bias_hh_l0"][:] = 0
    return net, params


def _log_norms(net, params, T, H, seed=0):
    """log||dL/dh_t|| by distance, for a loss at the last step of an undriven network at h = 0."""
    u = np.random.default_rng(seed).standard_normal(H)
    fw = net.forward(params, np.zeros((T, 1, H)), state=np.zeros((1, 1, H)))
    dy = np.zeros((T, 1, H))
    dy[-1, 0] = u / np.linalg.norm(u)
    return net.backward(fw.tape, dy, log_norms=True).norms_h[0, ::-1]


def test_linear_rnn_rate_is_exact_for_scaled_orthogonal_weights():
    """At h = 0, tanh' = 1 and the gradient is (W^T)^d u: for W = g Q its norm is g^d exactly,
    here down to 10^-1204 without underflow."""
    H, T, g = 32, 4000, 0.5
    net, params = _undriven_tanh(H, g, "orthogonal")
    log_h = _log_norms(net, params, T, H)
    np.testing.assert_allclose(log_h, np.arange(T) * math.log(g), rtol=1e-12, atol=1e-10)
    assert np.all(np.diff(log_h) <= math.log(g) + 1e-12)  # Pascanu's bound is tight here


def test_linear_rnn_rate_is_log_spectral_radius_for_gaussian_weights():
    """A generic W: the gradient is (W^T)^d u, its log-norm is computed exactly in NumPy (with
    renormalization), and its rate tends to ln rho(W), the log of the spectral radius."""
    H, T, g = 48, 6000, 0.9
    net, params = _undriven_tanh(H, g, "gaussian", seed=5)
    log_h = _log_norms(net, params, T, H, seed=1)
    W = params["weight_hh_l0"]
    v = np.random.default_rng(1).standard_normal(H)
    v /= np.linalg.norm(v)
    exact = np.empty(T)
    acc = 0.0
    for d in range(T):
        exact[d] = acc
        v = W.T @ v
        n = np.linalg.norm(v)
        acc += math.log(n)
        v /= n
    np.testing.assert_allclose(log_h, exact, rtol=1e-9, atol=1e-9)
    rate = fit_rate(log_h, 1000)["rate"]
    assert rate == pytest.approx(math.log(np.max(np.abs(np.linalg.eigvals(W)))), abs=2e-3)
    assert rate < math.log(np.linalg.norm(W, 2))  # the Pascanu rate is only a bound


# -- the study ----------------------------------------------------------------------------------


def test_compute_is_deterministic():
    opts = gd.STUDY.parse(["--quick"])
    tasks = {c["key"]: c for c in gd.STUDY.tasks(opts)}
    for key in ("lstm-gaussian-g2.5-bf1-input-H24-n0", "rnn_tanh-gaussian-g2-free-H48-n1",
                "lyap-rnn_tanh-gaussian-g2-free-H96-T600-n2"):
        r1, r2 = gd.compute(tasks[key]), gd.compute(tasks[key])
        assert r1.keys() == r2.keys()
        for k in r1:
            if isinstance(r1[k], np.ndarray):
                assert np.array_equal(r1[k], r2[k]), k
            else:
                assert r1[k] == r2[k] or (r1[k] != r1[k] and r2[k] != r2[k]), k


def test_ensemble_networks_are_independent():
    """The networks of one setting get different seeds (derived from their keys), hence different lambda_1."""
    tasks = gd.STUDY.tasks(gd.STUDY.parse(["--quick"]))
    ens = [c for c in tasks if c["key"].startswith("rnn_tanh-gaussian-g2-free-H48-n")]
    assert len(ens) == gd.SIZES["quick"]["networks"] and len({c["seed"] for c in ens}) == len(ens)
    lams = {gd.compute(c)["lyap1"] for c in ens}
    assert len(lams) == len(ens)


# -- the tolerance rule and the split of identities from theory tests -------------------------


def test_tolerance_rule_is_k_se_plus_the_measured_finite_size_term():
    from bpttlab.studies.gradient_decay.tables import finite_size_term, tolerance  # noqa: PLC0415

    fs = finite_size_term(0.10, 0.004, 0.08, 0.003)
    assert fs == pytest.approx(0.02 + gd.RULES["k_fs"] * 0.005)
    assert tolerance(0.004, fs) == pytest.approx(gd.RULES["k_se"] * 0.004 + fs)
    assert math.isnan(tolerance(0.004, math.nan))  # no finite-size measurement: no test, not a constant
    assert math.isnan(finite_size_term(0.1, math.nan, 0.08, 0.003))


def _settings(lam, half, se=0.002, cell="gru", inp=True, bf=math.nan):
    import pandas as pd  # noqa: PLC0415
    from bpttlab.studies.gradient_decay.tables import add_predictions, finite_size_term  # noqa: PLC0415

    st = pd.DataFrame([{"setting": f"{cell}-g2", "cell": cell, "init": "gaussian", "g": 2.0, "forget_bias": bf,
                        "input": inp, "H": 256, "networks": 10, "lambda1_mean": lam, "lambda1_sd": se * math.sqrt(10),
                        "lambda1_se": se, "lambda1_half_mean": half, "lambda1_half_se": se,
                        "finite_size_term": finite_size_term(lam, se, half, se)}])
    return add_predictions(st, 0.5)


def test_theory_rows_pass_and_fail_by_the_rule():
    from bpttlab.studies.gradient_decay.tables import theory_rows, theory_summary  # noqa: PLC0415
    from bpttlab.studies.science import gated_meanfield as gm  # noqa: PLC0415

    pred = gm.gru_lambda_tied(2.0, 0.25, "gru")
    fs = abs(0.001) + gd.RULES["k_fs"] * math.hypot(0.002, 0.002)
    tol = gd.RULES["k_se"] * 0.002 + fs
    inside = theory_rows(_settings(pred + 0.9 * tol, pred + 0.9 * tol - 0.001), np.array([]))
    outside = theory_rows(_settings(pred + 1.1 * tol, pred + 1.1 * tol - 0.001), np.array([]))
    tied_in = inside[inside.test.str.contains("tied")].iloc[0]
    tied_out = outside[outside.test.str.contains("tied")].iloc[0]
    # the prediction is the theory's, whatever was measured
    assert tied_in.prediction == tied_out.prediction == pytest.approx(pred, abs=1e-15)
    assert tied_in.tolerance == pytest.approx(tol) and tied_in["pass"] and not tied_out["pass"]
    s = theory_summary(outside, pd_empty())
    assert (s.kind == "theory").all() and s.failures.sum() >= 1


def pd_empty():
    import pandas as pd  # noqa: PLC0415

    return pd.DataFrame()


def test_identities_are_kept_apart_from_theory_tests():
    """No theory test's prediction is a measurement: changing the measured lambda_1 changes no
    prediction; the identities table holds only identities."""
    from bpttlab.studies.gradient_decay.tables import theory_rows  # noqa: PLC0415

    a = theory_rows(_settings(-0.1, -0.1, cell="lstm", bf=1.0), np.array([]))
    b = theory_rows(_settings(+0.3, -0.1, cell="lstm", bf=1.0), np.array([]))
    assert len(a) == 2 and np.array_equal(a.prediction.to_numpy(), b.prediction.to_numpy())
    assert a["pass"].to_numpy().any() != b["pass"].to_numpy().any() or not b["pass"].any()


def test_finite_size_fit_recovers_a_known_limit():
    from bpttlab.studies.gradient_decay.tables import weighted_fit  # noqa: PLC0415

    H = np.array([125.0, 250, 500, 1000, 2000])
    se = np.full(5, 1e-3)
    c0, c1, s0, _, chi2 = weighted_fit(1 / H, 0.2 - 5.0 / H, se)
    assert c0 == pytest.approx(0.2, abs=1e-12) and c1 == pytest.approx(-5.0, abs=1e-9) and chi2 == pytest.approx(0, abs=1e-12)
    # points that scatter 10x their error bars: the SE is scaled up by sqrt(chi^2/dof)
    noisy = 0.2 - 5.0 / H + np.array([1, -1, 1, -1, 1]) * 1e-2
    _, _, s0n, _, chi2n = weighted_fit(1 / H, noisy, se)
    assert chi2n > 1 and s0n == pytest.approx(s0 * math.sqrt(chi2n))


EXPECTED_FILES = sorted(
    [f"{n}.{e}" for n in ("decay_no_input", "decay_input", "lyapunov_vs_g", "fss", "theory_tests")
     for e in ("png", "svg")]
    + [f"{n}.{e}" for n in ("theory_tests", "identities", "fss", "fss_points", "ensembles", "theory_rows")
       for e in ("csv", "md")]
    + ["networks.csv", "README.md", "provenance.json"])


def test_quick_study_end_to_end(tmp_path):
    out, res = tmp_path / "out", tmp_path / "res"
    argv = ["--quick", "--out", str(out), "--results", str(res), "--no-progress"]
    assert gd.STUDY.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == EXPECTED_FILES
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    configs = gd.configs(gd.STUDY.parse(["--quick"]))
    assert len(list(res.glob("*.npz"))) == len(configs)  # one result file per configuration

    # Rerun: every result loads from the store and every file but provenance.json (which records
    # the command and the state of the checkout) is rewritten byte for byte.
    assert gd.STUDY.main(argv) == 0
    second = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {k: v for k, v in second.items() if k != "provenance.json"} == {
        k: v for k, v in first.items() if k != "provenance.json"}

    import pandas as pd  # noqa: PLC0415

    nets = pd.read_csv(out / "networks.csv")
    assert len(nets) == sum(c["kind"] == "curve" for c in configs) and set(nets.cell) >= {"rnn_tanh", "lstm", "gru"}
    row = nets[(nets.cell == "rnn_tanh") & (nets.init == "orthogonal") & (nets.g == 0.5) & ~nets.input].iloc[0]
    assert row.rate == pytest.approx(math.log(0.5), abs=1e-12) and row.quiescent
    assert (nets[nets.cell.isin(gd.ELMAN)].pascanu_violations == 0).all()
    st = pd.read_csv(out / "ensembles.csv")
    assert (st.networks == gd.SIZES["quick"]["networks"]).all()
    assert np.allclose(st.lambda1_se, st.lambda1_sd / np.sqrt(st.networks))
    ident = pd.read_csv(out / "identities.csv")
    assert (ident.kind == "identity").all() and len(ident) == 5
    exact = ident[ident.check.str.contains("gradient rate vs ln rho|IRNN|Pascanu")]  # hold even at quick sizes
    assert len(exact) == 3 and (exact.failures == 0).all()
    tests = pd.read_csv(out / "theory_tests.csv")
    assert (tests.kind == "theory").all() and tests.n.sum() > 0
    assert not tests.check.str.contains("lyapunov|lambda_1 vs|gradient rate").any()  # no identity among them
    prov = json.loads(first["provenance.json"])
    assert prov["options"]["mode"] == "quick" and prov["command"][:3] == ["python", "-m", "bpttlab.studies.gradient_decay"]
    readme = first["README.md"].decode()
    for name in EXPECTED_FILES:
        if name.endswith((".png", ".csv")) and name != "networks.csv":
            assert f"({name})" in readme, name
    assert "networks.csv" in readme
