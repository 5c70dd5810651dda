"""The Lyapunov-spectrum study: the identity, an exactly known spectrum, the KY dimension and
entropy rate, the finite-H ln|det W| formula, and the quick study end to end."""

import math

import numpy as np
import pandas as pd
import pytest
from bpttlab import kernels
from bpttlab.studies import lyapunov as ly
from bpttlab.studies.lyapunov import theory as th
from bpttlab.studies.lyapunov.compute import trajectory
from bpttlab.studies.lyapunov.spectra import tangent_logs
from bpttlab.studies.science.jvp import CellDynamics


def small_network(cell, H, g=2.5, seed=0):
    net = kernels.Network(cell, H, H)
    params = net.init_params(seed=seed, dtype=np.float64, recurrent="gaussian", gain=g)
    rng = np.random.default_rng(seed)
    for k in params:
        if k.startswith("bias"):
            params[k] = 0.1 * rng.standard_normal(params[k].shape)
    return net, params, rng


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_sum_of_exponents_is_the_mean_log_det_of_the_jacobians(cell):
    """Identity (tests the code): prod_i |R_ii| = |det J_t| every step, so the sum of the per-step
    log|R_ii| equals ln|det J_t| with J_t built column by column by the independent JVP path
    (CellDynamics.jacobian) and factorized by LU (slogdet). Rounding only: 1e-9 per step."""
    H, T = 5, 40
    net, params, rng = small_network(cell, H)
    x = 0.5 * rng.standard_normal((T, 1, H))
    s0 = 0.5 * rng.standard_normal((1, 1, H))
    state0 = (s0, 0.5 * rng.standard_normal((1, 1, H))) if net.spec.has_cell_state else s0
    states = trajectory(net, params, x, state0)
    dyn = CellDynamics(cell, params)
    xps = dyn.project(x[:, 0, :])
    logs, logdet_d, dev = tangent_logs(cell, params, xps, states)
    assert dev < 1e-13
    for t in range(T):
        sign, ld = np.linalg.slogdet(dyn.jacobian(states[t], xps[t]))
        assert sign != 0
        assert logs[t].sum() == pytest.approx(ld, abs=1e-9)
        if logdet_d is not None:
            assert logdet_d[t] + np.linalg.slogdet(params["weight_hh_l0"])[1] == pytest.approx(ld, abs=1e-9)


def test_spectrum_of_a_linear_map_is_the_log_eigenvalue_moduli():
    """Exact known case: at h = 0 with no input, J_t = diag(sech^2(0)) W = W every step, and the
    exponents of W^t are ln|eigenvalue| of W. W = P diag(mu) P^-1 with real, distinct mu; the QR
    estimate's bias is the initial misalignment, O(ln cond(P) / T): the tolerance is 4 ln cond(P) / T."""
    H, T = 6, 3000
    rng = np.random.default_rng(3)
    mu = np.array([1.8, -1.3, 1.0, 0.7, -0.45, 0.2])
    P = np.linalg.qr(rng.standard_normal((H, H)))[0] + 0.3 * rng.standard_normal((H, H))
    W = P @ np.diag(mu) @ np.linalg.inv(P)
    net = kernels.Network("rnn_tanh", H, H)
    params = net.init_params(seed=0, dtype=np.float64)
    params["weight_hh_l0"] = W
    for k in params:
        if k.startswith("bias"):
            params[k][:] = 0.0
    logs, _, _ = tangent_logs("rnn_tanh", params, np.zeros((T, H)), np.zeros((T + 1, H)))
    measured = np.sort(logs.mean(axis=0))[::-1]
    tol = 4 * math.log(np.linalg.cond(P)) / T
    np.testing.assert_allclose(measured, np.sort(np.log(np.abs(mu)))[::-1], atol=tol)


def test_tiny_activity_tanh_network_reaches_the_linear_spectrum():
    """The kernels' own trajectory at g = 0.7 without input decays to h ~ 1e-150, where J_t = W to
    rounding: the exponents over the late window are ln|eig W| (complex pairs twice), to 4 ln(cond V)/T
    with V the eigenvectors."""
    H, T, skip = 5, 2000, 1000
    net, params, rng = small_network("rnn_tanh", H, g=0.7, seed=1)
    for k in params:
        if k.startswith("bias"):
            params[k][:] = 0.0
    states = trajectory(net, params, np.zeros((T, 1, H)), 0.5 * rng.standard_normal((1, 1, H)))
    assert np.abs(states[skip]).max() < 1e-100
    logs, _, _ = tangent_logs("rnn_tanh", params, np.zeros((T, H)), states)
    ev, vec = np.linalg.eig(params["weight_hh_l0"])
    tol = 4 * max(math.log(np.linalg.cond(vec)), 1.0) / (T - skip)
    np.testing.assert_allclose(np.sort(logs[skip:].mean(axis=0))[::-1], np.sort(np.log(np.abs(ev)))[::-1], atol=tol)


def test_ky_dimension_and_entropy_rate_on_hand_made_spectra():
    assert ly.ky_dimension([1.0, 0.5, -1.0, -2.0]) == pytest.approx(3.25)  # partial sums 1, 1.5, 0.5, -1.5
    assert ly.ky_dimension([-2.0, 0.5, 1.0, -1.0]) == pytest.approx(3.25)  # order does not matter
    assert ly.ky_dimension([0.5, -1.0]) == pytest.approx(1.5)
    assert ly.ky_dimension([-0.1, -1.0]) == 0.0
    assert ly.ky_dimension([0.2, 0.1]) == 2.0
    assert ly.entropy_rate([1.0, 0.5, -1.0, -2.0]) == pytest.approx(1.5)
    assert ly.entropy_rate([-0.1, -1.0]) == 0.0
    with pytest.raises(ValueError, match="exponents"):
        ly.ky_dimension([])


def test_finite_h_log_det_formula_against_sampled_gaussian_matrices():
    """Statistical test, tolerance stated first: 2000 seeded samples at H = 30, g = 1.7; the sample
    mean within 4 standard errors of the formula's mean (SE from the formula's variance), and the
    sample variance within 4 sqrt(2/(n-1)) of the formula's (relative; ln|det| is close to Gaussian)."""
    H, g, n = 30, 1.7, 2000
    rng = np.random.default_rng(11)
    s = np.array([np.linalg.slogdet(g * rng.standard_normal((H, H)) / math.sqrt(H))[1] for _ in range(n)])
    mean, var = th.logdet_gaussian_mean(H, g), th.logdet_gaussian_var(H)
    assert abs(s.mean() - mean) < 4 * math.sqrt(var / n)
    assert abs(s.var(ddof=1) / var - 1) < 4 * math.sqrt(2 / (n - 1))
    # the H -> infinity limit of the per-unit mean
    assert th.logdet_gaussian_mean(4000, g) / 4000 == pytest.approx(math.log(g) - 0.5, abs=5e-3)
    with pytest.raises(ValueError, match="H"):
        th.logdet_gaussian_mean(0)


def test_mean_log_sech2_against_sampling():
    rng = np.random.default_rng(5)
    for q in (0.3, 4.0, 20.0):
        a = math.sqrt(q) * rng.standard_normal(400_000)
        x = np.log(4.0) - 2 * np.abs(a) - 2 * np.log1p(np.exp(-2 * np.abs(a)))
        assert th.mean_log_sech2(q) == pytest.approx(x.mean(), abs=4 * x.std() / math.sqrt(a.size))
    assert th.mean_log_sech2(0.0) == 0.0


def test_bad_states_shape_is_named():
    _, params, _ = small_network("rnn_tanh", 4)
    with pytest.raises(ValueError, match="states"):
        tangent_logs("rnn_tanh", params, np.zeros((5, 4)), np.zeros((5, 4)))


def test_quick_study_writes_the_summary_with_the_required_columns(tmp_path):
    out = tmp_path / "report"
    assert ly.STUDY.main(["--quick", "--no-progress", "--out", str(out), "--results", str(tmp_path / "results")]) == 0
    df = pd.read_csv(out / "spectrum_summary.csv")
    required = ["cell", "g", "H", "input_variance", "seed", "lambda_max", "ky_dimension_per_unit",
                "entropy_rate_per_unit", "unstable_fraction", "mean_exponent"]
    assert list(df.columns[: len(required)]) == required
    assert set(df.cell) == {"rnn_tanh", "lstm", "gru"}
    assert len(df) == len(ly.configs(ly.STUDY.parse(["--quick"])))
    sp = pd.read_csv(out / "spectra.csv")
    assert len(sp) == df.state_size.sum()
    # the per-network mean exponent is the mean of that network's spectrum
    first = sp[sp.seed == df.seed.iloc[0]]
    assert first.exponent.mean() == pytest.approx(df.mean_exponent.iloc[0], rel=1e-12)
    ids = pd.read_csv(out / "identities.csv")
    assert ids.holds.all()
    for name in ("configurations", "theory_tests", "collapse", "drive", "published"):
        assert (out / f"{name}.csv").is_file()
    assert (out / "collapse_rnn_tanh.png").is_file() and (out / "measures_vs_g.svg").is_file()


def test_identity_holds_in_a_saturated_network():
    """g = 6: units saturate (sech^2 down to ~e^-30), so J_t V is strongly graded by rows; the
    row-sorted Householder QR keeps sum log|R_ii| = ln|det J_t| to rounding (1e-8 per step), which the
    unsorted QR misses by orders of magnitude more."""
    H, T = 80, 30
    net, params, rng = small_network("rnn_tanh", H, g=6.0, seed=2)
    states = trajectory(net, params, np.zeros((T, 1, H)), rng.standard_normal((1, 1, H)))
    logs, logdet_d, _ = tangent_logs("rnn_tanh", params, np.zeros((T, H)) + params["bias_ih_l0"], states)
    a = states[:-1] @ params["weight_hh_l0"].T + params["bias_ih_l0"] + params["bias_hh_l0"]
    assert np.abs(a).max() > 15  # saturated: sech^2 < 4e-13
    resid = logs.sum(axis=1) - (logdet_d + np.linalg.slogdet(params["weight_hh_l0"])[1])
    assert np.abs(resid).max() < 1e-8


# --- Prediction 3: the annealed random-matrix spectrum (docs/lyapunov_theory.md) -------------------

def test_annealed_spectrum_top_is_mean_field_and_without_saturation_is_the_gaussian_product():
    from bpttlab.studies.science import meanfield as mf

    for g, v in ((1.5, 0.0), (2.0, 1.0), (5.0, 0.25)):
        assert th.tanh_spectrum(g, v, np.array([0.0]))[0] == pytest.approx(0.5 * math.log(mf.tanh_chi(g, v)), abs=1e-9)
    # g <= 1 undriven: q* = 0, every unit at tanh'(0) = 1, so sigma = 1: ln g + (1/2) ln(1 - x) (Newman 1986).
    x = np.linspace(0.0, 0.99, 34)
    np.testing.assert_allclose(th.tanh_spectrum(0.8, 0.0, x), math.log(0.8) + 0.5 * np.log1p(-x), atol=1e-9)
    with pytest.raises(ValueError, match="x: got values outside"):
        th.tanh_spectrum(2.0, 0.0, np.array([1.0]))


def test_annealed_spectrum_integrates_to_the_mean_exponent_limit():
    # The determinant fixes the sum, so the integral over x must be ln g - 1/2 + E ln sech^2(a). The midpoint
    # rule at H = 2000 misses the (1/2) ln(1 - x) singularity's last interval by at most about ln(H)/(2H) = 2e-3.
    for g, v in ((1.5, 0.0), (3.0, 1.0)):
        lam = th.tanh_spectrum_at(g, v, 2000)
        assert lam.mean() == pytest.approx(th.tanh_mean_exponent_limit(g, v), abs=2e-3)
        assert np.all(np.diff(lam) < 0)


def test_annealed_spectrum_against_a_simulated_annealed_product():
    """The derivation's claim, checked without it: the spectrum of a product of D_t W_t with W_t Gaussian and
    redrawn every step and D_t = diag(sech^2(a_t)), a_t ~ N(0, q*) i.i.d. Tolerance per exponent, stated before
    the comparison: 5 batch-means SEs of the simulated exponent plus 1/k, a bound on the finite-H correction of a
    Gaussian product's k-th smallest direction (|psi(k/2) - ln(k/2)| / 2 <= 1/k), over x <= 0.8."""
    from bpttlab.studies.science import meanfield as mf

    H, g, v, T, skip = 200, 2.0, 0.0, 400, 50
    rng = np.random.default_rng(7)
    q = mf.tanh_fixed_point(g, v)
    V = np.linalg.qr(rng.standard_normal((H, H)))[0]
    logs = np.empty((T, H))
    for t in range(T):
        d = mf.sech2(math.sqrt(q) * rng.standard_normal(H))
        Q, R = np.linalg.qr(d[:, None] * ((g / math.sqrt(H)) * rng.standard_normal((H, H)) @ V))
        logs[t] = np.log(np.abs(np.diag(R)))
        V = Q
    logs = logs[skip:]
    sim = np.sort(logs.mean(axis=0))[::-1]
    blocks = np.array([b.mean(axis=0) for b in np.array_split(logs, 10)])
    se = np.sort(blocks, axis=1)[:, ::-1].std(axis=0, ddof=1) / math.sqrt(10)
    x = (np.arange(1, H + 1) - 0.5) / H
    k = H - np.arange(H)
    keep = x <= 0.8
    dev = np.abs(sim - th.tanh_spectrum_at(g, v, H))[keep]
    assert np.all(dev <= 5 * se[keep] + 1.0 / k[keep]), float((dev - 5 * se[keep] - 1.0 / k[keep]).max())
    # and not trivially: the unsaturated Gaussian-product spectrum with the same top is clearly another curve
    other = 0.5 * math.log(mf.tanh_chi(g, v)) + 0.5 * np.log1p(-x)
    assert np.abs(sim - other)[keep].max() > 5 * (5 * se[keep] + 1.0 / k[keep]).max()
