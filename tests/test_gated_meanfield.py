"""Mean-field theory of random LSTM and GRU networks (studies.science.gated_meanfield): the
identities it must satisfy by construction, quadrature convergence, what the derivation implies
(orderings, edges), the annealed formulas against the annealed process simulated, and the
predictions against lambda_1 measured in the study's own networks.

``python tests/test_gated_meanfield.py`` prints the comparison table of docs/gated_meanfield.md.
"""

import math
import platform
import sys

import numpy as np
import pytest
from bpttlab.studies.gradient_decay import theory as gd_theory
from bpttlab.studies.gradient_decay.compute import make_params
from bpttlab.studies.science import config_rng, gaussian_drive
from bpttlab.studies.science import gated_meanfield as gm
from bpttlab.studies.science.jvp import CellDynamics

SIGMA_X = 0.5  # the study's drive (studies/gradient_decay/configs.py)


def sig(f):
    return 1.0 / (1.0 + math.exp(-f))


# -- identities: hold by construction, not theory ---------------------------------------------


@pytest.mark.parametrize("g", [0.5, 1.0, 1.5, 1.9])
@pytest.mark.parametrize("bf", [-1.0, 0.0, 1.0])
@pytest.mark.parametrize("variant", ["lstm", "lstm_cifg"])
def test_lstm_zero_state_identities(g, bf, variant):
    """Undriven, below the edge: the stationary state is 0 and the rates are those of J*: the tied
    theory gives the study's exact zero-state rate, the annealed one (1/2) ln(f^2 + (o i g)^2)."""
    cifg = variant == "lstm_cifg"
    st = gm.lstm_state(g, bf, 0.0, variant)
    assert st.q_h == 0.0 and st.q_c == 0.0
    annealed, quenched = gm.lstm_zero_state_rates(g, bf, cifg)
    assert quenched == pytest.approx(gd_theory.lstm_zero_rate(g, bf, cifg), abs=1e-14)
    assert st.lam == pytest.approx(annealed, abs=1e-12)
    assert gm.lstm_lambda_tied(g, bf, 0.0, variant) == pytest.approx(quenched, abs=1e-10)


@pytest.mark.parametrize("g", [0.5, 1.0, 1.9])
@pytest.mark.parametrize("variant", ["gru", "gru_cho"])
def test_gru_zero_state_identities(g, variant):
    annealed, quenched = gm.gru_zero_state_rates(g)
    assert quenched == pytest.approx(gd_theory.gru_zero_rate(g), abs=1e-14)
    assert gm.gru_lambda(g, 0.0, variant) == pytest.approx(annealed, abs=1e-12)
    assert gm.gru_lambda_tied(g, 0.0, variant) == pytest.approx(quenched, abs=1e-10)


def test_annealed_and_tied_agree_where_nothing_carries_over():
    """f -> 0 (b_f -> -inf): no diagonal path, nothing to add coherently; annealed = tied =
    the study's zero-state rate ln(g/4) (the Elman situation)."""
    for g in (1.0, 3.0):
        assert gm.lstm_lambda(g, -30.0, 0.0) == pytest.approx(math.log(g / 4), abs=1e-9)
        assert gm.lstm_lambda_tied(g, -30.0, 0.0) == pytest.approx(gd_theory.lstm_zero_rate(g, -30.0), abs=1e-9)


@pytest.mark.parametrize("g,s2", [(1.0, 0.25), (2.5, 0.25), (4.0, 0.0)])
def test_variants(g, s2):
    """Peepholes are U(-1/sqrt H, 1/sqrt H): no mean-field term. CIFG at b_f = 0: i = 1 - f has
    the distribution of sigmoid(a_i), so the plain LSTM's annealed numbers; but the tied theory sees
    the pair (i, f) on one unit, E[i f] = E[f] - E[f^2] < E[i] E[f] when f varies: a path arriving
    on a unit where its partner is carried by f weighs less, and the CIFG's rate is lower."""
    assert gm.lstm_lambda(g, 0.5, s2, "lstm_peephole") == gm.lstm_lambda(g, 0.5, s2, "lstm")
    assert gm.lstm_lambda(g, 0.0, s2, "lstm_cifg") == pytest.approx(gm.lstm_lambda(g, 0.0, s2, "lstm"), abs=1e-12)
    assert gm.lstm_lambda_tied(g, 0.0, s2, "lstm_cifg") < gm.lstm_lambda_tied(g, 0.0, s2) - 1e-4


def test_bound_state_against_a_truncated_matrix():
    """The closed-form eigenvalue of the lag chain against the dense truncated operator."""
    rng = np.random.default_rng(3)
    for case in range(6):
        head = rng.uniform(0.05, 0.6, (2, 2))
        t_out, t_in, T11, Tmm, hop = rng.uniform(0.05, 0.3, 5)
        if case == 5:
            T11 = 1.5  # above everything else: the self-energy has a pole above the band
        L = 300
        n = 2 + 2 * L  # head, then m = +1..L and -1..-L
        M = np.zeros((n, n))
        M[:2, :2] = head
        for sgn in (0, 1):
            idx = [2 + sgn * L + k for k in range(L)]
            M[idx[0], 0] = t_out
            M[0, idx[0]] = t_in
            M[idx[0], idx[0]] = T11
            for k in range(1, L):
                M[idx[k], idx[k]] = Tmm
                M[idx[k], idx[k - 1]] = M[idx[k - 1], idx[k]] = hop
        dense = float(np.max(np.abs(np.linalg.eigvals(M))))
        lam, bound = gm._bound_state(head, t_out, t_in, T11, Tmm, hop)
        tol = 1e-9 if bound else 1e-3  # the continuum's top converges as 1/L^2
        assert lam == pytest.approx(dense, rel=tol)


# -- quadrature --------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(2.0, 1.0, 0.25, "lstm"), (3.0, 0.0, 0.25, "lstm_cifg"), (4.0, 1.0, 0.0, "lstm")])
def test_lstm_quadrature_converged(args):
    a = gm.lstm_state(*args)
    b = gm.lstm_state(*args, n=4001)
    assert a.lam == pytest.approx(b.lam, abs=1e-10)
    assert a.q_c == pytest.approx(b.q_c, rel=1e-9)


@pytest.mark.parametrize("args", [(2.0, 0.25, "gru"), (3.0, 0.25, "gru"), (4.0, 0.0, "gru"), (3.0, 0.25, "gru_cho")])
def test_gru_quadrature_converged(args):
    assert gm.gru_lambda(*args) == pytest.approx(gm.gru_lambda(*args, n2=321), abs=1e-9)


# -- what the derivation implies ---------------------------------------------------------------


def test_undriven_edges_in_closed_form():
    """Undriven, the zero state loses stability where f^2 + g^2/16 = 1 (annealed; plain LSTM, o =
    i = 1/2) or f + g/4 = 1 (tied); the GRU's zero state at g = sqrt 12 (annealed) and g = 2 (tied).
    The annealed GRU's transition is subcritical (docs: the q-map's q^2 coefficient is +g^4/12 > 0),
    so its active branch, which the edge follows, reaches lambda = 0 just below sqrt 12."""
    for bf in (0.0, 1.0):
        f = sig(bf)
        assert gm.edge("lstm", 0.0, bf, lo=2.0, hi=4.0) == pytest.approx(4 * math.sqrt(1 - f * f), abs=1e-8)
        assert gm.edge("lstm", 0.0, bf, theory="tied", lo=0.5, hi=2.5) == pytest.approx(4 * (1 - f), abs=1e-8)
    f = sig(1.0)  # CIFG, o i g = (1 - f) g / 2
    assert gm.edge("lstm_cifg", 0.0, 1.0, lo=4.0, hi=6.0) == pytest.approx(2 * math.sqrt((1 + f) / (1 - f)), abs=1e-8)
    assert gm.edge("lstm_cifg", 0.0, 1.0, theory="tied", lo=1.0, hi=3.0) == pytest.approx(2.0, abs=1e-8)
    assert gm.edge("gru", theory="tied", lo=1.0, hi=3.0) == pytest.approx(2.0, abs=1e-8)
    e, r12 = gm.edge("gru", lo=3.0, hi=4.0), math.sqrt(12.0)
    assert 3.4 < e < r12
    between = 0.5 * (e + r12)
    assert gm.gru_state(between).q_h > 0.0 and gm.gru_lambda(between) > 0.0
    assert gm.gru_zero_state_rates(between)[0] < 0.0  # the quiescent branch, still stable there


def test_tied_at_least_annealed_and_monotone_in_g():
    """Perron-Frobenius: the annealed rate is the lag-0 block of the (nonnegative) tied operator,
    so tied >= annealed. Both grow with g under drive."""
    gs = (0.5, 1.0, 2.0, 3.0)
    for lam, tied in ((lambda g: gm.gru_lambda(g, 0.25), lambda g: gm.gru_lambda_tied(g, 0.25)),
                      (lambda g: gm.lstm_lambda(g, 1.0, 0.25), lambda g: gm.lstm_lambda_tied(g, 1.0, 0.25))):
        a = [lam(g) for g in gs]
        t = [tied(g) for g in gs]
        assert all(x <= y + 1e-12 for x, y in zip(a, t, strict=True))
        assert np.all(np.diff(a) > 0) and np.all(np.diff(t) > 0)


def test_forget_bias_lengthens_memory():
    """Larger b_f: more of dc carried on, a slower decay (driven, g = 1)."""
    lam = [gm.lstm_lambda(1.0, bf, 0.25) for bf in (-1.0, 0.0, 1.0, 2.0)]
    tied = [gm.lstm_lambda_tied(1.0, bf, 0.25) for bf in (-1.0, 0.0, 1.0, 2.0)]
    assert np.all(np.diff(lam) > 0) and np.all(np.diff(tied) > 0)


def test_bad_input():
    with pytest.raises(ValueError, match=r"g: got -1.0, expected a real number in \[0, 50\]"):
        gm.lstm_lambda(-1.0, 0.0)
    with pytest.raises(ValueError, match="sigma2_in: got nan"):
        gm.gru_lambda(1.0, float("nan"))
    with pytest.raises(ValueError, match="forget_bias: got '1'"):
        gm.lstm_lambda(1.0, "1")
    with pytest.raises(ValueError, match="variant: got 'gru', expected one of lstm, lstm_peephole, lstm_cifg"):
        gm.lstm_lambda(1.0, 0.0, 0.0, "gru")
    with pytest.raises(ValueError, match="variant: got 'lstm', expected one of gru, gru_cho"):
        gm.gru_lambda(1.0, 0.0, "lstm")
    with pytest.raises(ValueError, match="forget_bias: given for cell 'gru'"):
        gm.edge("gru", 0.0, 1.0)
    with pytest.raises(ValueError, match="theory: got 'dmft', expected one of annealed, tied"):
        gm.edge("gru", theory="dmft")
    with pytest.raises(ValueError, match="expected a crossing of 0"):
        gm.edge("gru", 0.25, lo=0.1, hi=0.5)
    with pytest.raises(ValueError, match="moments: missing Ee2"):
        gm.lstm_tied_rate(1.0, {k: 0.1 for k in gm.LSTM_MOMENTS if k != "Ee2"})


# -- the annealed formulas against the annealed process ------------------------------------------


@pytest.mark.parametrize("g,s2,variant", [(2.0, 0.25, "gru"), (3.0, 0.25, "gru_cho"), (4.0, 0.0, "gru")])
def test_gru_annealed_formula_against_the_process(g, s2, variant):
    """The GRU's annealed formula has no closure beyond the annealing (second moments suffice):
    it must match the simulated process to its Monte Carlo error (4 SE, + 1e-3 for the finite
    population's O(1/N) bias)."""
    mc, se = gm.gru_annealed_mc(g, s2, variant, n_units=20_000, steps=400, burn=200)
    assert abs(mc - gm.gru_lambda(g, s2, variant)) <= 4 * se + 1e-3


CIFG_CLOSURE = pytest.mark.xfail(strict=True, reason="finding: the CIFG's c = f c + (1 - f) g is a convex "
                                 "combination, bounded by 1: the Gaussian closure for c costs 0.010 here")


@pytest.mark.parametrize("g,bf,s2,variant", [(2.0, 1.0, 0.25, "lstm"), (3.0, 0.0, 0.25, "lstm"),
                                             pytest.param(3.0, 0.0, 0.25, "lstm_cifg", marks=CIFG_CLOSURE),
                                             (4.0, 1.0, 0.0, "lstm")])
def test_lstm_annealed_closure_error_is_small(g, bf, s2, variant):
    """The LSTM's formula adds two closures (c Gaussian; tanh'(c)^2 independent of dc^2). Their
    error, measured against the process: within 4 SE + 3e-3 (what the closures cost here, stated
    in the doc)."""
    mc, se = gm.lstm_annealed_mc(g, bf, s2, variant, n_units=20_000, steps=400, burn=200)
    assert abs(mc - gm.lstm_lambda(g, bf, s2, variant)) <= 4 * se + 3e-3


# -- the study's networks ----------------------------------------------------------------------


def measure_lambda1(cell, g, forget_bias, sigma_x, H, seed, T=2000, burn=500, skip=300, keep_states=False):
    """lambda_1 of one of the study's networks (compute.make_params: Gaussian W_hh of gain g,
    orthonormal W_ih blocks, zero biases but b_f) by the study's machinery (CellDynamics.lyapunov,
    one tangent vector, repeated QR), after ``burn`` steps from a N(0, 0.5^2) state."""
    cfg = {"cell": cell, "H": H, "init": "gaussian", "g": g, "forget_bias": forget_bias, "seed": seed,
           "input": sigma_x > 0}
    _, params = make_params(cfg)
    rng = config_rng(cfg, 2)
    dyn = CellDynamics(cell, params)
    xb = dyn.project(gaussian_drive(rng, burn, H, sigma_x)[:, 0, :])
    x = dyn.project(gaussian_drive(rng, T, H, sigma_x)[:, 0, :])
    s, _, _, _ = dyn.run(xb, 0.5 * rng.standard_normal(dyn.state_size))
    exps, _ = dyn.lyapunov(x, s, 1, seed=seed, skip=skip)
    if not keep_states:
        return float(exps[0])
    _, _, _, states = dyn.run(x, s, keep_states=True)
    return float(exps[0]), params, x, s, states


def measured(cell, g, forget_bias, sigma_x, H=256, seeds=range(5), **kw):
    lam = np.array([measure_lambda1(cell, g, forget_bias, sigma_x, H, s, **kw) for s in seeds])
    return float(lam.mean()), float(lam.std(ddof=1) / math.sqrt(len(lam))), lam


# The tolerance: 3 between-network standard errors at H = 256, plus a finite-size allowance from
# the networks themselves: the shift of the 5-network mean from H = 256 to H = 512 (docs/gated_meanfield.md,
# section 5: mean, SE at each size, seeds 0-4), plus two standard errors of that shift, doubled (a 1/H
# correction extrapolated to H -> infinity is twice the 256 -> 512 shift). It replaced a first rule that
# borrowed the gradient-decay study's fixed 0.03, the constant issue 14's audit rejected.
H512_SHIFT = {  # (cell, g): ((mean, SE) at H = 256, (mean, SE) at H = 512), measured
    ("gru", 2.0): ((-0.1035, 0.0008), (-0.1068, 0.0035)),
    ("gru", 3.0): ((0.0238, 0.0006), (0.0260, 0.0005)),
    ("lstm", 2.0): ((0.0107, 0.0010), (0.0148, 0.0007)),
}


def finite_size(cell, g):
    (m1, s1), (m2, s2) = H512_SHIFT[(cell, g)]
    return 2.0 * (abs(m2 - m1) + 2.0 * math.hypot(s1, s2))


def predict(theory, cell, g, forget_bias, sigma_x):
    s2 = sigma_x**2
    if cell in gm.LSTM_VARIANTS:
        return (gm.lstm_lambda if theory == "annealed" else gm.lstm_lambda_tied)(g, forget_bias, s2, cell)
    return (gm.gru_lambda if theory == "annealed" else gm.gru_lambda_tied)(g, s2, cell)


def compare(theory, cell, g, forget_bias, sigma_x):
    mean, se, lam = measured(cell, g, forget_bias, sigma_x)
    pred = predict(theory, cell, g, forget_bias, sigma_x)
    assert abs(mean - pred) <= 3 * se + finite_size(cell, g), (theory, cell, g, forget_bias, pred, mean, se, lam)


def test_tied_theory_predicts_a_driven_gru():
    """The one setting in the suite's time budget (~10 s): GRU, g = 2, sigma_x = 0.5, H = 256,
    T = 2000, 5 networks."""
    compare("tied", "gru", 2.0, None, SIGMA_X)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="finding: annealed theory (untied W) misses the coherent reuse of W along "
                   "the z / f paths; 0.1-0.2 too low (docs/gated_meanfield.md)")
@pytest.mark.parametrize("cell,g,bf", [("gru", 2.0, None), ("lstm", 2.0, 1.0)])
def test_annealed_theory_against_the_networks(cell, g, bf):
    compare("annealed", cell, g, bf, SIGMA_X)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="finding: past the edge (g = 3, sigma_x = 0.5) the tied rate is 0.040 too high "
                   "against a tolerance of 0.009; the doc's diagnostics put the gap on the annealed stationary "
                   "statistics (docs/gated_meanfield.md)")
def test_tied_theory_predicts_a_chaotic_driven_gru():
    """g = 3, sigma_x = 0.5: the tied theory against 5 networks."""
    compare("tied", "gru", 3.0, None, SIGMA_X)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="finding: the stationary statistics are annealed (white gates); the "
                   "networks' gates and c are correlated in time (c's second moment 4.6x the annealed one at "
                   "g = 2, b_f = 1): the tied LSTM rate is 0.054 too high (docs/gated_meanfield.md)")
def test_tied_theory_where_the_statistics_are_not_annealed():
    compare("tied", "lstm", 2.0, 1.0, SIGMA_X)


# -- the doc's table -------------------------------------------------------------------------------


def _sig(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def empirical_moments(cell, g, params, x, s0, states):
    """The tied theory's single-time moments measured on a network's trajectory (the diagnostic
    column of the doc's table: the tangent part of the theory with the statistics taken as measured)."""
    H = params["weight_hh_l0"].shape[1]
    hprev = np.concatenate([s0[None, :H], states[:-1, :H]])
    W = params["weight_hh_l0"]
    if cell in gm.LSTM_VARIANTS:
        pre = hprev @ W.T + x
        cp = np.concatenate([s0[None, H:], states[:-1, H:]])
        c = states[:, H:]
        if cell == "lstm_cifg":
            f, gg, o = _sig(pre[:, :H]), np.tanh(pre[:, H:2 * H]), _sig(pre[:, 2 * H:])
            i = 1 - f
            inc = np.mean(((cp - gg) * f * (1 - f)) ** 2)
        else:
            i, f, gg, o = _sig(pre[:, :H]), _sig(pre[:, H:2 * H]), np.tanh(pre[:, 2 * H:3 * H]), _sig(pre[:, 3 * H:])
            inc = np.mean((cp * f * (1 - f)) ** 2) + np.mean((gg * i * (1 - i)) ** 2)
        a = i * (1 - gg**2)
        e = o * (1 - np.tanh(c) ** 2)
        return gm.lstm_tied_rate(g, {"Ef": f.mean(), "Ef2": np.mean(f * f), "Ea": a.mean(), "Ea2": np.mean(a * a),
                                     "Eaf": np.mean(a * f), "Ee": e.mean(), "Ee2": np.mean(e * e), "inc": inc,
                                     "Bo": np.mean((np.tanh(c) * o * (1 - o)) ** 2)})
    r, z = _sig(hprev @ W[:H].T + x[:, :H]), _sig(hprev @ W[H:2 * H].T + x[:, H:2 * H])
    if cell == "gru":
        hn = hprev @ W[2 * H:].T
        n = np.tanh(x[:, 2 * H:] + r * hn)
        a, l = (1 - z) * (1 - n * n) * r, np.ones_like(r)
        inc = np.mean(((hprev - n) * z * (1 - z)) ** 2) + np.mean(((1 - z) * (1 - n * n) * r * (1 - r) * hn) ** 2)
    else:  # reset before: n = tanh(x_n + W_hn (r h)); the r'-h path is one of the zero-mean ones
        n = np.tanh(x[:, 2 * H:] + (r * hprev) @ W[2 * H:].T)
        a, l = (1 - z) * (1 - n * n), r
        inc = np.mean(((hprev - n) * z * (1 - z)) ** 2) + np.mean(a * a) * g * g * np.mean((r * (1 - r) * hprev) ** 2)
    return gm.gru_tied_rate(g, {"Ed": z.mean(), "Ed2": np.mean(z * z), "Ea": a.mean(), "Ea2": np.mean(a * a),
                                "Ead": np.mean(a * z), "El": l.mean(), "El2": np.mean(l * l), "Eld": np.mean(l * z),
                                "Ela": np.mean(l * a), "inc": inc})


TABLE = [("gru", 2.0, None, SIGMA_X), ("gru", 3.0, None, SIGMA_X), ("gru", 3.0, None, 0.0),
         ("lstm", 2.0, 1.0, SIGMA_X), ("lstm", 3.0, 1.0, SIGMA_X), ("lstm", 3.0, 0.0, 0.0)]


def table(H=256, seeds=range(5)):
    import llvmlite.binding as llb  # noqa: PLC0415

    print(f"H = {H}, T = 2000 (burn 500, skip 300), seeds {list(seeds)}, CPU {llb.get_host_cpu_name()} "
          f"({platform.machine()}), NUMBA_NUM_THREADS=1")
    print("| cell | g | b_f | sigma_x | annealed | annealed MC | tied | tied, measured moments | measured (mean ± SE) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cell, g, bf, sx in TABLE:
        lam, emp = [], []
        for seed in seeds:
            l1, params, x, s0, states = measure_lambda1(cell, g, bf, sx, H, seed, keep_states=True)
            lam.append(l1)
            emp.append(empirical_moments(cell, g, params, x, s0, states))
        lam = np.array(lam)
        if bf is None:
            mc = gm.gru_annealed_mc(g, sx**2, cell)
        else:
            mc = gm.lstm_annealed_mc(g, bf, sx**2, cell)
        print(f"| {cell} | {g:g} | {'' if bf is None else f'{bf:g}'} | {sx:g} | {predict('annealed', cell, g, bf, sx):+.4f} | "
              f"{mc[0]:+.4f} ± {mc[1]:.4f} | {predict('tied', cell, g, bf, sx):+.4f} | {np.mean(emp):+.4f} | "
              f"{lam.mean():+.4f} ± {lam.std(ddof=1) / math.sqrt(len(lam)):.4f} |", flush=True)


def network_statistics(cell, g, forget_bias, sigma_x, H=256, seed=0):
    """q_h (and q_c), and lag-1 autocorrelations over time of the gates, of one network's trajectory."""
    _, params, x, s0, states = measure_lambda1(cell, g, forget_bias, sigma_x, H, seed, keep_states=True)

    def ac(v):
        v = v - v.mean(axis=0)
        return float(np.mean(v[1:] * v[:-1]) / np.mean(v * v))

    hprev = np.concatenate([s0[None, :H], states[:-1, :H]])
    pre = hprev @ params["weight_hh_l0"].T + x
    out = {"q_h": float(np.mean(states[:, :H] ** 2))}
    if cell in gm.LSTM_VARIANTS:
        c = states[:, H:]
        o = _sig(pre[:, 3 * H:])
        out.update(q_c=float(np.mean(c * c)), ac_c=ac(c), ac_f=ac(_sig(pre[:, H:2 * H])),
                   ac_e=ac(o * (1 - np.tanh(c) ** 2)), annealed=gm.lstm_state(g, forget_bias, sigma_x**2, cell))
    else:
        out.update(ac_z=ac(_sig(pre[:, H:2 * H])), annealed=gm.gru_state(g, sigma_x**2, cell))
    return out


if __name__ == "__main__":
    H = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    table(H)
    for args in (("lstm", 2.0, 1.0, SIGMA_X), ("gru", 3.0, None, SIGMA_X)):
        print(args, network_statistics(*args, H=H))
