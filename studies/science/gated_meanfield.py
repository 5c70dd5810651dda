"""Mean-field theory of random LSTM and GRU networks: the stationary statistics of the
gate pre-activations and the growth rate of a tangent vector (docs/gated_meanfield.md derives
every formula here and states its approximations).

Setting (the gradient-decay study's, studies/gradient_decay/compute.py): every gate block of
W_hh has i.i.d. N(0, g^2/H) entries, independent across blocks; W_ih is one orthonormal-row
block per gate, so the drive adds sigma2_in = sigma_x^2 to every gate pre-activation (the
GRU's candidate gets it outside the reset: n = tanh(x_n + r * W_hn h)); every bias is 0
except the LSTM's forget-gate bias b_f; the peephole vectors are U(-1/sqrt(H), 1/sqrt(H)) and
vanish as H -> infinity, so ``lstm_peephole`` has the plain LSTM's mean field.

Two theories. *Annealed* (``lstm_lambda``, ``gru_lambda``): W_hh treated as redrawn at every
step (Chen, Pennington & Schoenholz 2018's "untied weights"; Gilboa et al. 2019), so the gate
pre-activations are fresh Gaussians each step, independent of the state they multiply, and the
squared norms of a tangent vector's components obey a small linear recurrence; lambda = (1/2) ln
of its largest eigenvalue. *Tied* (``lstm_lambda_tied``, ``gru_lambda_tied``): the same stationary
statistics, but the tangent's squared norm summed over pairs of paths through one fixed W (the
study's networks are quenched), a transfer operator on the lag between the two paths whose
largest eigenvalue is found in closed form. The annealed rate misses the coherent reuse of W along
the diagonal paths (f dc, z dh) and is too low by 0.05-0.36; the tied one predicts the study's
driven, ordered networks to 0.03 and fails where the networks' gates are correlated in time.

``*_annealed_mc`` simulate the annealed single-unit process itself (many units, fresh
Gaussian pre-activations each step, population moments fed back): they carry none of the
closures of the quadrature formulas (Gaussian cell state, tangent independent of the cell
state) and so measure those closures' error separately from the annealing's.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .meanfield import gauss_hermite, sech2

LSTM_VARIANTS = ("lstm", "lstm_peephole", "lstm_cifg")
GRU_VARIANTS = ("gru", "gru_cho")
# Pre-activation variances stay below ~25 here (g <= 4, sigma_x <= 1, q_h <= 1); sech^4 of a
# Gaussian of that variance is integrated to ~1e-10 by 2001 nodes (studies.science.meanfield).
NODES = 2001
NODES_2D = 161  # per axis of the GRU's 2-D rules (the tests check convergence against 2x)


def _check_real(name, v, lo=None, hi=None, expected="a finite real number"):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise ValueError(f"{name}: got {v!r}, expected {expected}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name}: got {v!r}, expected {expected}")
    return float(v)


def _check_args(g, sigma2_in, forget_bias=None):
    g = _check_real("g", g, 0.0, 50.0, "a real number in [0, 50] (the gain of W_hh: entries N(0, g^2/H))")
    s2 = _check_real("sigma2_in", sigma2_in, 0.0, 25.0, "a real number in [0, 25] (the drive's variance per pre-activation)")
    if forget_bias is None:
        return g, s2
    bf = _check_real("forget_bias", forget_bias, -30.0, 30.0, "a real number in [-30, 30]")
    return g, s2, bf


def _check_variant(variant, allowed):
    if variant not in allowed:
        raise ValueError(f"variant: got {variant!r}, expected one of {', '.join(allowed)}")
    return variant


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow


def _mean(fn, q, bias=0.0, n=NODES):
    """E[fn(bias + sqrt(q) z)], z ~ N(0, 1)."""
    z, w = gauss_hermite(n)
    return float(np.sum(w * fn(bias + math.sqrt(max(q, 0.0)) * z)))


@dataclass(frozen=True)
class SigmoidMoments:
    """E[s], E[s^2], E[s'^2] (s' = s(1 - s)) and E[(1 - s)^2] of s = sigmoid(a), a ~ N(bias, q)."""

    m1: float
    m2: float
    d2: float
    c2: float  # E[(1 - s)^2]

    @classmethod
    def of(cls, q, bias=0.0, n=NODES):
        m1 = _mean(_sigmoid, q, bias, n)
        m2 = _mean(lambda a: _sigmoid(a) ** 2, q, bias, n)
        d2 = _mean(lambda a: (_sigmoid(a) * _sigmoid(-a)) ** 2, q, bias, n)
        return cls(m1, m2, d2, 1.0 - 2.0 * m1 + m2)


def _tanh2(q, n=NODES):
    return _mean(lambda a: np.tanh(a) ** 2, q, 0.0, n)


def _sech4(q, n=NODES):
    return _mean(lambda a: sech2(a) ** 2, q, 0.0, n)


# --------------------------------------------------------------------------------------------
# LSTM


@dataclass(frozen=True)
class LSTMState:
    """The annealed stationary state and tangent matrix of one LSTM setting."""

    q_h: float  # E[h^2]
    q_c: float  # E[c^2]
    q_a: float  # variance of every gate pre-activation (the forget gate's around b_f)
    M: np.ndarray  # (D_c, D_h)_{t} = M (D_c, D_h)_{t-1}: expected squared tangent components
    lam: float  # (1/2) ln rho(M)


def _lstm_moments(q_h, g, bf, s2, cifg, n=NODES):
    q_a = g * g * q_h + s2
    f = SigmoidMoments.of(q_a, bf, n)
    o = SigmoidMoments.of(q_a, 0.0, n)
    G2, Gp2 = _tanh2(q_a, n), _sech4(q_a, n)
    if cifg:
        I2, Ip2 = f.c2, f.d2  # i = 1 - f: i' = -f'
    else:
        i = SigmoidMoments.of(q_a, 0.0, n)
        I2, Ip2 = i.m2, i.d2
    q_c = I2 * G2 / (1.0 - f.m2)  # c = f c + i g, E[g] = 0: no cross term
    return q_a, f, o, G2, Gp2, I2, Ip2, q_c


def _lstm_q_map(q_h, g, bf, s2, cifg, n=NODES):
    q_a, f, o, G2, Gp2, I2, Ip2, q_c = _lstm_moments(q_h, g, bf, s2, cifg, n)
    return o.m2 * _tanh2(q_c, n)


def _fixed_point(qmap, iters=60):
    """The stable fixed point of the variance map reached from q_h = 1 (the largest one: the map
    is increasing in the settings studied): iterate towards it from above, then bracket it
    (qmap(q) - q < 0 above, > 0 below) and solve; 0 when the quiescent state is the only one."""
    q = 1.0
    for _ in range(iters):
        q = qmap(q)
    hi = q
    d = qmap(hi) - hi
    if d == 0.0:
        return hi
    if d > 0.0:  # still below the fixed point after the iterations: bracket upwards
        lo, hi = hi, 1.0
        return brentq(lambda x: qmap(x) - x, lo, hi, xtol=1e-15, rtol=1e-13)
    lo = hi
    while lo > 1e-12:
        lo *= 0.5
        if qmap(lo) - lo > 0.0:
            return brentq(lambda x: qmap(x) - x, lo, hi, xtol=1e-15, rtol=1e-13)
    if qmap(0.0) == 0.0:
        return 0.0
    return brentq(lambda x: qmap(x) - x, 0.0, hi, xtol=1e-15, rtol=1e-13)


def lstm_state(g, forget_bias, sigma2_in=0.0, variant="lstm", n=NODES):
    """Annealed mean field of an LSTM (``variant`` one of LSTM_VARIANTS) with W_hh gain g,
    forget-gate bias ``forget_bias`` and drive variance ``sigma2_in``: an :class:`LSTMState`."""
    g, s2, bf = _check_args(g, sigma2_in, forget_bias)
    cifg = _check_variant(variant, LSTM_VARIANTS) == "lstm_cifg"
    q_h = _fixed_point(lambda q: _lstm_q_map(q, g, bf, s2, cifg, n))
    q_a, f, o, G2, Gp2, I2, Ip2, q_c = _lstm_moments(q_h, g, bf, s2, cifg, n)
    # xi: what one step adds to dc from dh_{t-1}, per unit of g^2 D_h:
    #   dc = f dc_{t-1} + c_{t-1} f' da_f + g i' da_i + i g' da_g   (CIFG: (c_{t-1} - g) f' da_f + i g' da_g)
    if cifg:
        A = (q_c + G2) * f.d2 + I2 * Gp2
    else:
        A = q_c * f.d2 + G2 * Ip2 + I2 * Gp2
    K = _sech4(q_c, n)  # E[tanh'(c)^2], c ~ N(0, q_c): Gaussian closure
    B = _tanh2(q_c, n) * o.d2  # E[tanh(c)^2] E[o'^2]: the output gate's own path
    g2 = g * g
    M = np.array([[f.m2, g2 * A],
                  [o.m2 * K * f.m2, g2 * (B + o.m2 * K * A)]])
    rho = float(np.max(np.abs(np.linalg.eigvals(M))))
    return LSTMState(q_h, q_c, q_a, M, 0.5 * math.log(rho))


def lstm_lambda(g, forget_bias, sigma2_in=0.0, variant="lstm", n=NODES):
    """Annealed mean-field lambda_1 (per step, natural log) of the LSTM."""
    return lstm_state(g, forget_bias, sigma2_in, variant, n).lam


# --------------------------------------------------------------------------------------------
# GRU


@dataclass(frozen=True)
class GRUState:
    q_h: float  # E[h^2]
    q_a: float  # variance of the reset and update pre-activations
    chi: float  # D_h(t) = chi D_h(t-1)
    lam: float  # (1/2) ln chi


def _gru_candidate(q_h, g, s2, r, cho, n2=NODES_2D):
    """E[n^2], E[n'^2 * (the recurrent path's squared gain per unit of g^2 D_h)] for the candidate
    n = tanh(u). ``r``: the reset gate's moments."""
    Q = g * g * q_h
    if cho:
        # u = x_n + W_hn (r h): variance s2 + g^2 E[r^2] q_h (r independent of its unit's h);
        # d(r h) = r' da_r h + r dh: per-unit variance (g^2 E[r'^2] q_h + E[r^2]) D_h.
        V = s2 + Q * r.m2
        gain = g * g * r.d2 * q_h + r.m2
        return _tanh2(V), _sech4(V) * gain
    # reset-after: u = x_n + r hn, hn = W_hn h ~ N(0, Q); du = n' (r' hn da_r + r da_n)
    za, wa = gauss_hermite(n2)
    z, w = gauss_hermite(n2)
    q_a = Q + s2
    rr = _sigmoid(math.sqrt(q_a) * za)  # (n2,) reset values
    rp = rr * (1.0 - rr)
    V = s2 + rr * rr * Q  # Var(u | r)
    u = np.sqrt(V)[:, None] * z[None, :]
    t2 = np.tanh(u) ** 2
    s4 = sech2(u) ** 2
    n2_ = float(wa @ (t2 @ w))
    # E[sech^4(u) hn^2 | r] = (Q - r^2 Q^2 / V) E[sech^4(u)] + (r Q / V)^2 E[sech^4(u) u^2]
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.where(V > 0, rr * Q / V, 0.0)
    e_s4 = s4 @ w
    e_s4u2 = (s4 * u * u) @ w
    e_s4hn2 = (Q - beta * rr * Q) * e_s4 + beta**2 * e_s4u2
    gain = float(wa @ (rp * rp * e_s4hn2 + rr * rr * e_s4))
    return n2_, gain


def _gru_q_map(q_h, g, s2, cho, n2=NODES_2D):
    q_a = g * g * q_h + s2
    z = SigmoidMoments.of(q_a)
    r = SigmoidMoments.of(q_a)
    N2, _ = _gru_candidate(q_h, g, s2, r, cho, n2)
    return z.c2 * N2 / (1.0 - z.m2)  # E[n h_{t-1}] = 0


def gru_state(g, sigma2_in=0.0, variant="gru", n2=NODES_2D):
    """Annealed mean field of a GRU (reset-after ``gru`` or reset-before ``gru_cho``)."""
    g, s2 = _check_args(g, sigma2_in)
    cho = _check_variant(variant, GRU_VARIANTS) == "gru_cho"
    q_h = _fixed_point(lambda q: _gru_q_map(q, g, s2, cho, n2))
    q_a = g * g * q_h + s2
    z = SigmoidMoments.of(q_a)
    r = SigmoidMoments.of(q_a)
    N2, gain = _gru_candidate(q_h, g, s2, r, cho, n2)
    # dh = z dh_{t-1} + (h_{t-1} - n) z' da_z + (1 - z) dn;  E[(h - n)^2] = q_h + E[n^2]
    chi = z.m2 + g * g * ((q_h + N2) * z.d2 + z.c2 * gain)
    return GRUState(q_h, q_a, chi, 0.5 * math.log(chi))


def gru_lambda(g, sigma2_in=0.0, variant="gru", n2=NODES_2D):
    """Annealed mean-field lambda_1 (per step, natural log) of the GRU."""
    return gru_state(g, sigma2_in, variant, n2).lam


# --------------------------------------------------------------------------------------------
# Tied W: the coherent sum over paths (docs/gated_meanfield.md, "Tied weights")


def _bound_state(head, t_out, t_in, T11, Tmm, hop):
    """Largest eigenvalue of the path-pair transfer operator: a finite head block at lag m = 0
    (its first state couples to |m| = 1 by t_out, back by t_in; both signs of m), T11 on |m| = 1,
    and a uniform chain for |m| >= 1 (diagonal Tmm, hopping hop). The chain's eigenvector decays as
    kappa^m, Lambda = Tmm + hop (kappa + 1/kappa); the head sees the self-energy
    2 t_in t_out / (Lambda - T11 - hop kappa). Returns (Lambda, bound), bound False when Lambda is the
    top of the continuum Tmm + 2 hop (no state bound to m = 0)."""
    head = np.atleast_2d(np.asarray(head, dtype=np.float64))
    band = Tmm + 2.0 * hop

    def kappa(L):
        d = L - Tmm
        if hop <= 0.0:
            return 0.0
        return (d - math.sqrt(max(d * d - 4.0 * hop * hop, 0.0))) / (2.0 * hop)

    def F(L):
        M = head.copy()
        M[0, 0] += 2.0 * t_in * t_out / (L - T11 - hop * kappa(L))
        return float(np.linalg.det(M - L * np.eye(len(M))))

    lo = band * (1.0 + 1e-12) + 1e-300
    hi = 2.0 * (float(np.abs(head).sum()) + abs(band) + 2.0 * abs(t_in) + 2.0 * abs(t_out) + abs(T11)) + 1.0
    # det(M - L I) has the sign of (-1)^n for L -> inf; scan down from there for the largest root
    grid = np.geomspace(lo, hi, 400)[::-1]
    vals = [F(L) for L in grid]
    for k in range(1, len(grid)):
        if vals[k] == 0.0:
            return float(grid[k]), True
        if (vals[k] > 0) != (vals[k - 1] > 0):
            root = float(brentq(F, grid[k], grid[k - 1], xtol=1e-15, rtol=1e-13))
            # a sign change through a pole of the self-energy (possible where T11 > Tmm) is no eigenvalue
            if abs(F(root)) <= 1e-8 * (1.0 + abs(vals[k]) + abs(vals[k - 1])):
                return root, True
    return float(band), False


GRU_MOMENTS = ("Ed", "Ed2", "Ea", "Ea2", "Ead", "El", "El2", "Eld", "Ela", "inc")
LSTM_MOMENTS = ("Ef", "Ef2", "Ea", "Ea2", "Eaf", "Ee", "Ee2", "inc", "Bo")


def _check_moments(m, names):
    missing = [k for k in names if k not in m]
    if missing:
        raise ValueError(f"moments: missing {', '.join(missing)}, expected the keys {', '.join(names)}")
    return {k: _check_real(f"moments[{k!r}]", m[k], -1e6, 1e6) for k in names}


def gru_tied_rate(g, m):
    """lambda_1 of a GRU with tied W from the single-time moments ``m`` (keys GRU_MOMENTS) of one
    step's per-unit factors: d = z (carries dh_{t-1} on its unit), a (the factor on the unit a
    W_hn step arrives at), l (the factor on the unit it leaves), and ``inc``, the mean square of
    the zero-mean coefficients of the other blocks (W_hz, W_hr), which add only at lag 0.
    Ea* are products on one unit at one step: Ead = E[a d], Eld = E[l d], Ela = E[l a]; El2 = E[l^2]."""
    g = _check_real("g", g, 0.0, 50.0, "a real number in [0, 50]")
    m = _check_moments(m, GRU_MOMENTS)
    chi = m["Ed2"] + g * g * (m["El2"] * m["Ea2"] + m["inc"])  # lag 0: the annealed chi
    hop = g * m["El"] * m["Ea"] * m["Ed"]
    lam2, _ = _bound_state([[chi]], g * m["Eld"] * m["Ea"], g * m["El"] * m["Ead"],
                           m["Ed"] ** 2 + g * g * m["Ela"] * m["El"] * m["Ea"], m["Ed"] ** 2 + g * g * (m["El"] * m["Ea"]) ** 2,
                           hop)
    return 0.5 * math.log(lam2)


def gru_moments(g, sigma2_in=0.0, variant="gru"):
    """The moments :func:`gru_tied_rate` takes, from the annealed stationary state."""
    st = gru_state(g, sigma2_in, variant)
    g, s2 = float(g), float(sigma2_in)
    z = SigmoidMoments.of(st.q_a)  # the reset gate has the same moments
    Q = g * g * st.q_h
    if variant == "gru":
        za, wa = gauss_hermite(NODES_2D)
        zn, wn = gauss_hermite(NODES_2D)
        rr = _sigmoid(math.sqrt(st.q_a) * za)
        u = np.sqrt(s2 + rr * rr * Q)[:, None] * zn[None, :]
        Enr = float(wa @ (rr * (sech2(u) @ wn)))  # E[n' r]
        Enr2 = float(wa @ (rr * rr * ((sech2(u) ** 2) @ wn)))  # E[n'^2 r^2]
        Ea, Ea2, Ead = (1.0 - z.m1) * Enr, z.c2 * Enr2, (z.m1 - z.m2) * Enr  # a = (1 - z) n' r
        El, El2, Eld, Ela = 1.0, 1.0, z.m1, Ea  # nothing on the unit left: l = 1
    else:
        V = s2 + Q * z.m2
        En, En2 = _mean(sech2, V), _sech4(V)
        Ea, Ea2, Ead = (1.0 - z.m1) * En, z.c2 * En2, (z.m1 - z.m2) * En  # a = (1 - z) n'
        El, El2, Eld, Ela = z.m1, z.m2, z.m1 * z.m1, z.m1 * Ea  # l = r, independent of z and n' (E[r] = 1/2)
    # everything else in chi (annealed) is the zero-mean blocks' share
    inc = (st.chi - z.m2) / (g * g) - El2 * Ea2 if g > 0 else 0.0
    return {"Ed": z.m1, "Ed2": z.m2, "Ea": Ea, "Ea2": Ea2, "Ead": Ead, "El": El, "El2": El2, "Eld": Eld, "Ela": Ela,
            "inc": max(inc, 0.0)}


def gru_lambda_tied(g, sigma2_in=0.0, variant="gru"):
    """lambda_1 of the GRU with one W_hh for all steps (the study's networks): the annealed
    stationary statistics (:func:`gru_state`) and the coherent sum over tangent paths through the
    candidate's block W_hn (docs/gated_meanfield.md). Equals ln(1/2 + g/4) at the zero state."""
    return gru_tied_rate(g, gru_moments(g, sigma2_in, variant))


def lstm_tied_rate(g, m):
    """lambda_1 of an LSTM with tied W from the single-time moments ``m`` (keys LSTM_MOMENTS): f
    (carries dc on its unit), a = i g' (on the unit's c a W_hg step arrives at), e = o tanh'(c) (on
    the unit's h it leaves), ``inc`` = E[a_f-path^2] + E[a_i-path^2] (zero-mean coefficients into c:
    c_{t-1} f' and g i', or (c_{t-1} - g) f' for CIFG), Bo = E[(o' tanh(c))^2] (the W_ho path into h).
    Eaf = E[a f] on one unit at one step."""
    g = _check_real("g", g, 0.0, 50.0, "a real number in [0, 50]")
    m = _check_moments(m, LSTM_MOMENTS)
    g2 = g * g
    A = m["Ea2"] + m["inc"]
    head = [[m["Ef2"] + g2 * m["Ee2"] * A, g2 * A],  # lag 0: (both tangents in c, both in h alone)
            [g2 * m["Ee2"] * m["Bo"], g2 * m["Bo"]]]
    hop = g * m["Ee"] * m["Ea"] * m["Ef"]
    Tmm = m["Ef"] ** 2 + g2 * (m["Ee"] * m["Ea"]) ** 2
    lam2, _ = _bound_state(head, hop, g * m["Ee"] * m["Eaf"], Tmm, Tmm, hop)
    return 0.5 * math.log(lam2)


def lstm_moments(g, forget_bias, sigma2_in=0.0, variant="lstm"):
    """The moments :func:`lstm_tied_rate` takes, from the annealed stationary state (Gaussian c)."""
    st = lstm_state(g, forget_bias, sigma2_in, variant)
    f = SigmoidMoments.of(st.q_a, float(forget_bias))
    o = SigmoidMoments.of(st.q_a)
    Egp = _mean(sech2, st.q_a)  # E[g']
    G2, Gp2 = _tanh2(st.q_a), _sech4(st.q_a)
    if variant == "lstm_cifg":
        Ei, I2, Eif = 1.0 - f.m1, f.c2, f.m1 - f.m2
        inc = (st.q_c + G2) * f.d2
    else:
        i = SigmoidMoments.of(st.q_a)
        Ei, I2, Eif = i.m1, i.m2, i.m1 * f.m1
        inc = st.q_c * f.d2 + G2 * i.d2
    return {"Ef": f.m1, "Ef2": f.m2, "Ea": Ei * Egp, "Ea2": I2 * Gp2, "Eaf": Eif * Egp,
            "Ee": o.m1 * _mean(sech2, st.q_c), "Ee2": o.m2 * _sech4(st.q_c), "inc": inc,
            "Bo": _tanh2(st.q_c) * o.d2}


def lstm_lambda_tied(g, forget_bias, sigma2_in=0.0, variant="lstm"):
    """lambda_1 of the LSTM with one W_hh for all steps: the annealed stationary statistics
    (:func:`lstm_state`) and the coherent sum over tangent paths through the candidate's block W_hg
    (docs/gated_meanfield.md). Equals ln(f + o i g) at the zero state."""
    return lstm_tied_rate(g, lstm_moments(g, forget_bias, sigma2_in, variant))


# --------------------------------------------------------------------------------------------
# The edge of chaos, the zero state


THEORIES = ("annealed", "tied")


def edge(cell, sigma2_in=0.0, forget_bias=None, theory="annealed", lo=0.05, hi=20.0):
    """The gain g at which lambda_1 of ``theory`` ("annealed" or "tied") crosses 0: the edge of
    chaos of that theory, by root finding in [lo, hi]; ValueError when lambda does not change sign
    there."""
    if theory not in THEORIES:
        raise ValueError(f"theory: got {theory!r}, expected one of {', '.join(THEORIES)}")
    tied = theory == "tied"
    if cell in LSTM_VARIANTS:
        if forget_bias is None:
            raise ValueError(f"forget_bias: got None for cell {cell!r}, expected a real number")
        lam = lstm_lambda_tied if tied else lstm_lambda
        fn = lambda g: lam(g, forget_bias, sigma2_in, cell)  # noqa: E731
    elif cell in GRU_VARIANTS:
        if forget_bias is not None:
            raise ValueError(f"forget_bias: given for cell {cell!r}, which has no forget gate (LSTM cells only)")
        lam = gru_lambda_tied if tied else gru_lambda
        fn = lambda g: lam(g, sigma2_in, cell)  # noqa: E731
    else:
        raise ValueError(f"cell: got {cell!r}, expected one of {', '.join(LSTM_VARIANTS + GRU_VARIANTS)}")
    a, b = fn(lo), fn(hi)
    if a * b > 0:
        raise ValueError(f"edge: lambda({lo}) = {a:.4g} and lambda({hi}) = {b:.4g} have one sign, expected a "
                         f"crossing of 0 in [{lo}, {hi}]")
    return brentq(fn, lo, hi, xtol=1e-12)


def lstm_zero_state_rates(g, forget_bias, cifg=False):
    """(annealed, quenched) rates at the LSTM's zero fixed point (no drive): the annealed one is
    (1/2) ln(f^2 + (o i g)^2), the quenched one ln(f + o i g) (studies.gradient_decay.theory);
    they agree only where f = 0 or o i g = 0. See docs/gated_meanfield.md."""
    f = 1.0 / (1.0 + math.exp(-forget_bias))
    i = 1.0 - f if cifg else 0.5
    b = 0.5 * i * g
    return 0.5 * math.log(f * f + b * b), math.log(f + b)


def gru_zero_state_rates(g):
    """(annealed, quenched) rates at the GRU's zero fixed point: J* = I/2 + W_hn/4."""
    return 0.5 * math.log(0.25 + g * g / 16.0), math.log(0.5 + g / 4.0)


# --------------------------------------------------------------------------------------------
# The annealed process itself, by Monte Carlo (no closures beyond the annealing)


def _mc_rate(step, n_units, steps, burn, seed):
    rng = np.random.default_rng(seed)
    logs = []
    state = None
    for t in range(burn + steps):
        state, growth = step(rng, state, n_units)
        if t >= burn:
            logs.append(growth)
    logs = np.array(logs)
    blocks = np.array([b.mean() for b in np.array_split(logs, 10)])
    return float(logs.mean()), float(blocks.std(ddof=1) / math.sqrt(len(blocks)))


def lstm_annealed_mc(g, forget_bias, sigma2_in=0.0, variant="lstm", n_units=20_000, steps=600, burn=300, seed=0):
    """lambda_1 of the annealed LSTM process by Monte Carlo over ``n_units`` units: each step
    every gate pre-activation is drawn N(bias, g^2 <h^2> + sigma2_in) and every tangent
    pre-activation N(0, g^2 <dh^2>), fresh and independent, with <.> the population means.
    Returns (lambda, standard error from 10 batch means)."""
    g, s2, bf = _check_args(g, sigma2_in, forget_bias)
    cifg = _check_variant(variant, LSTM_VARIANTS) == "lstm_cifg"

    def step(rng, st, N):
        if st is None:
            h, c = 0.5 * rng.standard_normal(N), 0.5 * rng.standard_normal(N)
            dh, dc = rng.standard_normal(N), rng.standard_normal(N)
        else:
            h, c, dh, dc = st
        sa = math.sqrt(g * g * np.mean(h * h) + s2)
        sd = g * math.sqrt(np.mean(dh * dh))
        a = sa * rng.standard_normal((4, N))
        da = sd * rng.standard_normal((4, N))
        f = _sigmoid(a[1] + bf)
        gg = np.tanh(a[2])
        o = _sigmoid(a[3])
        i = 1.0 - f if cifg else _sigmoid(a[0])
        fp = f * (1.0 - f)
        di = -fp * da[1] if cifg else i * (1.0 - i) * da[0]
        cn = f * c + i * gg
        dcn = f * dc + c * fp * da[1] + gg * di + i * (1.0 - gg * gg) * da[2]
        tc = np.tanh(cn)
        hn = o * tc
        dhn = o * (1.0 - o) * da[3] * tc + o * (1.0 - tc * tc) * dcn
        before = math.sqrt(np.mean(dh * dh) + np.mean(dc * dc))
        after = math.sqrt(np.mean(dhn * dhn) + np.mean(dcn * dcn))
        return (hn, cn, dhn / after, dcn / after), math.log(after / before)

    return _mc_rate(step, n_units, steps, burn, seed)


def gru_annealed_mc(g, sigma2_in=0.0, variant="gru", n_units=20_000, steps=600, burn=300, seed=0):
    """lambda_1 of the annealed GRU process by Monte Carlo (as :func:`lstm_annealed_mc`)."""
    g, s2 = _check_args(g, sigma2_in)
    cho = _check_variant(variant, GRU_VARIANTS) == "gru_cho"
    sx = math.sqrt(s2)

    def step(rng, st, N):
        if st is None:
            h, dh = 0.5 * rng.standard_normal(N), rng.standard_normal(N)
        else:
            h, dh = st
        qh, dq = np.mean(h * h), np.mean(dh * dh)
        sa = math.sqrt(g * g * qh + s2)
        ar, az = sa * rng.standard_normal((2, N))
        dar, daz = g * math.sqrt(dq) * rng.standard_normal((2, N))
        r, z = _sigmoid(ar), _sigmoid(az)
        xn = sx * rng.standard_normal(N)
        if cho:
            rh = r * h
            drh = r * (1.0 - r) * dar * h + r * dh
            u = xn + g * math.sqrt(np.mean(rh * rh)) * rng.standard_normal(N)
            du = g * math.sqrt(np.mean(drh * drh)) * rng.standard_normal(N)
        else:
            hn_ = g * math.sqrt(qh) * rng.standard_normal(N)
            dhn_ = g * math.sqrt(dq) * rng.standard_normal(N)
            u = xn + r * hn_
            du = r * (1.0 - r) * dar * hn_ + r * dhn_
        nn = np.tanh(u)
        hnew = (1.0 - z) * nn + z * h
        dhnew = (h - nn) * z * (1.0 - z) * daz + (1.0 - z) * (1.0 - nn * nn) * du + z * dh
        after = math.sqrt(np.mean(dhnew * dhnew))
        return (hnew, dhnew / after), math.log(after / math.sqrt(dq))

    return _mc_rate(step, n_units, steps, burn, seed)
