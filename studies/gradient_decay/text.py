"""The report's prose: the paragraphs, with the numbers of a run filled in."""


import numpy as np

from .configs import ELMAN
from .tables import select_row


def decay_free_text(df, S):
    free = df[~df.input]
    lines = ["log10||dL/dh_t|| against the distance from the loss, no input, one panel per cell (color: g; "
             "LSTM panels: solid forget bias 0, dashed 1). Straight lines are exponential decay or growth; the "
             "slope is the rate."]
    low = free.loc[free.final_log10_norm.idxmin()] if len(free) else None
    if low is not None:
        span = -low.final_log10_norm
        beyond = (" Float64 stops at 10^-308 (10^-324 with subnormals), so only the renormalized backward pass "
                  "can measure such norms.") if span > 324 else ""
        lines.append(f"The norms fall by up to {span:.0f} orders of magnitude by d = {S['T'] - 1} "
                     f"({low.cell}, {low.init}, g = {low.g:g}).{beyond}")
    orth = free[(free.cell == "rnn_tanh") & (free.init == "orthogonal") & free.quiescent]
    if len(orth):
        err = float(np.max(np.abs(orth.rate - np.log(orth.g))))
        lines.append(f"The orthogonal tanh networks with g < 1 sit at h = 0, where J_t = gQ, and decay at exactly "
                     f"ln g per step (largest difference {err:.1e}).")
    grow = free[(free.cell == "rnn_tanh") & (free.rate > 1e-3)]
    if len(grow):
        onset = " and ".join(f"g = {grow[grow.init == i].g.min():g} ({i})" for i in ("gaussian", "orthogonal")
                             if (grow.init == i).any())
        lines.append(f"From {onset} the undriven tanh networks are chaotic and the gradient *grows* "
                     f"exponentially with distance (up to 10^{grow.final_log10_norm.max():.0f}).")
    tanh0 = free[(free.cell == "rnn_tanh") & (free.init == "gaussian")]
    lstm0 = free[(free.cell == "lstm") & (free.forget_bias == 0.0)]
    lstm1 = free[(free.cell == "lstm") & (free.forget_bias == 1.0)]
    if len(tanh0) and len(lstm0) and len(lstm1):
        g0 = min(set(tanh0.g) & set(lstm0.g), default=None)
        if g0 is not None:
            t, a, b = (select_row(x, g=g0) for x in (tanh0, lstm0, lstm1))
            lines.append(
                f"At the zero state the gated cells' per-step factor is f + g/4 (LSTM, f = sigmoid(b_f)) or "
                f"1/2 + g/4 (GRU) instead of rnn_tanh's g: the carry through the forget or update gate puts a floor "
                f"under it, so at g = {g0:g} the gradient's timescale is {t.timescale:.3g} steps for rnn_tanh, "
                f"{a.timescale:.3g} for the LSTM with forget bias 0 and {b.timescale:.3g} with forget bias 1 "
                f"(f = 0.73). For larger g the floor no longer helps (1/2 + g/4 > g only for g < 2/3), and the zero "
                f"state loses stability where the factor reaches 1: g = 2 for b_f = 0, g = 1.08 for b_f = 1.")
    ident = select_row(free, init="identity")
    if ident is not None:
        lines.append(f"The IRNN (W_hh = I, no input) keeps its state and its gradient norm exactly (rate "
                     f"{ident.rate:.1e}): after the first step, which removes the error of the inactive units, every "
                     "active unit passes its error back unchanged.")
    return " ".join(lines)


def _pairs(df):
    """(undriven, driven) rows of the same network."""
    keys = ["cell", "init", "g", "forget_bias"]
    a = df[~df.input].copy()
    b = df[df.input].copy()
    for x in (a, b):
        x["forget_bias"] = x.forget_bias.fillna(-1)
    return a.merge(b, on=keys, suffixes=("_free", "_input"))


def decay_input_text(df, S, edge):
    lines = [f"The same with input drive x_t ~ N(0, {S['sigma_x']:g}^2 I) (sigma_in^2 = {S['sigma_x'] ** 2:g})."]
    p = _pairs(df)
    if len(p):
        lower = p[p.lambda1_input < p.lambda1_free]
        others = p[p.lambda1_input >= p.lambda1_free]
        exc = ", ".join(f"{r.cell} g = {r.g:g}" + (f" b_f = {r.forget_bias:g}" if r.forget_bias >= 0 else "")
                        for r in others.itertuples())
        lines.append(f"Drive lowered lambda_1 in {len(lower)} of the {len(p)} networks run both ways"
                     + (f" (not in: {exc})" if exc else "") + ": it pushes units away from the linear range of "
                     "tanh and sigmoid, lowering their slopes, and pulls the gated cells off the zero state.")
    tanh = df[(df.cell == "rnn_tanh") & df.input]
    if len(tanh):
        neg, pos = tanh[tanh.lambda1 < 0].g, tanh[tanh.lambda1 > 0].g
        if len(neg) and len(pos):
            lines.append(f"The driven tanh networks' lambda_1 changes sign between g = {neg.max():g} and "
                         f"g = {pos.min():g}; mean field puts the edge of chaos at g = {edge:.3f} (1 without input).")
    ident = select_row(df[df.input], init="identity")
    if ident is not None:
        lines.append(f"The driven IRNN's gradient fades only as units switch off one by one (a power law): its "
                     f"fitted rate is {ident.rate:.1e} per step, no exponential decay.")
    return " ".join(lines)


def lyap_agreement(df):
    d = df.rate_minus_lambda1.abs()
    within = int(np.sum(d <= df.tol_lyapunov))
    head = "Every x falls on its marker" if within == len(df) else f"{within} of {len(df)} x fall on their markers"
    return f"{head} within its tolerance (largest difference {d.max():.1e} per step)"


def spectrum_text(df, S):
    sub = df[(df.cell == "rnn_tanh") & (df.init == "gaussian")]
    text = (f"The {S['lyap_k']} leading Lyapunov exponents of rnn_tanh with Gaussian W_hh, by repeated QR. In the "
            "quiescent undriven networks they are the logs of the largest |eigenvalues| of W_hh.")
    if len(sub) and "lambda2" in sub:
        gap = sub.lambda1 - sub.lambda2
        text += (f" The gap lambda_1 - lambda_2 is small (median {gap.median():.2g}, at most {gap.max():.2g} per "
                 "step), so a random initial error needs of the order of 1/gap steps to align with the leading "
                 "direction: this is the transient the fit skips.")
    return text


def meanfield_text(df, S, s2):
    text = MF_TEXT.format(He=S["H_elman"], s2=s2)
    el = df[df.cell.isin(ELMAN) & (df.init != "identity") & ~df.quiescent]
    if len(el):
        r = el.loc[(el.lambda1 - el.lambda_mf).abs().idxmax()]
        text += (f" Among the networks with activity the largest |lambda_1 - lambda_MF| is "
                 f"{abs(r.lambda1 - r.lambda_mf):.3g} ({r.cell}, {r.init}, g = {r.g:g}, "
                 f"{'with' if r.input else 'without'} input).")
    return text


def pascanu_text(df):
    el = df[df.cell.isin(ELMAN)]
    bad = el[el.pascanu_violations > 0]
    if len(bad):
        return PASCANU_TEXT + f" **Violations** in: {', '.join(bad.key)}."
    return PASCANU_TEXT + (f" No violation on any of the {len(el)} curves; the largest excess is "
                           f"{max(el.pascanu_max_step_excess.max(), el.pascanu_max_path_excess.max()):.1e}.")




INTRO = """\
How fast does the gradient of a loss at the last step fade, or blow up, as it travels back
through time, for every cell, and does theory predict the rate? Each configuration is a
one-layer network that runs {burn} burn-in steps and then a window of T = {T} steps. The loss
gradient dL/dh_(T-1) is a random unit vector. The kernels' backward pass in `log_norms` mode
(the error renormalized in float64 every step) gives log||dL/dh_t|| at every distance
d = T-1-t, finite however many orders of magnitude it spans. Its **rate** is the least-squares
slope of log||dL/dh_t|| against d over d in [{lo}, T-1]; the first {lo} steps are skipped
because the error is still aligning with the most expanding direction. Its **timescale** is
-1/rate: the number of steps per factor of e (negative when the norm grows).

Networks: H = {He} for rnn_tanh and rnn_relu, H = {Hg} for the gated cells. W_hh is Gaussian
N(0, g^2/H) in every gate block, g times a Haar orthogonal matrix (Elman cells only), or the
identity (IRNN). All biases are 0 except the LSTM forget-gate bias b_f, which is 0 or 1;
peephole weights keep the kernels' default initialization. **Input drive**: x_t ~ N(0, {sx}^2 I)
i.i.d., and W_ih is one H x H block with orthonormal rows per gate, so every unit's input term
is exactly N(0, {sx}^2): sigma_in^2 = {s2:g}. "No input" means x_t = 0. The initial state is
N(0, 0.5^2) per unit. There are {n} configurations. All the numbers come from
`python -m bpttlab.studies.gradient_decay{cmd}` with seed 0, and a rerun reproduces them bit for bit.

**Theory compared** (rates per step, natural log):

- *Lyapunov exponents* of the forward map s_t = F(s_(t-1), x_t), along the same inputs.
  They are computed with Jacobian-vector products of each cell's step (`studies/science/jvp.py`,
  checked against finite differences of the kernels' forward) and repeated QR of {k} tangent
  vectors, averaged after a {skip}-step alignment. The first QR column is the single tangent
  vector renormalized every step, so lambda_1 is also the tangent-vector-renormalization
  estimate. Backpropagation multiplies by the transposes of the same Jacobians, whose product
  has the same singular values, so the gradient rate and lambda_1 estimate the same number. Both
  are finite-time averages. The tolerance is 5 standard errors of their difference,
  5 sqrt(2) SE(lambda_1), where SE is the batch-means standard error of lambda_1 over 10 blocks
  (at most {se_hi:.1e} here), with a floor of {tlf:g}.
- *Linear (exact)*: without input and with zero biases the zero state is a fixed point of every
  cell. Where the trajectory sits there (**quiescent**: max |h_t| < 1e-6 over the window), every
  step has the same Jacobian J*, so the gradient is (J*^T)^d dL/dh_(T-1) and its rate tends to
  ln rho(J*), the log of J*'s spectral radius. This is the eigenvalue of largest modulus, not the
  norm: sigma_max only bounds it. J* = W_hh for rnn_tanh, f I + o i W_g on the (h, c) block for
  the LSTMs (f = sigmoid(b_f), o = 1/2, i = 1/2, or 1 - f for CIFG), and I/2 + W_hn/4 for both GRUs.
  Tolerance **{tlin}**: the approach to the asymptotic rate is a transient of order
  log(condition number) / fit length. For W_hh = gQ orthogonal the rate is ln g at every step.
- *Mean field* for rnn_tanh and rnn_relu (Molgedey, Schuchhardt & Schuster 1992; Poole et al.
  2016). The pre-activations a_t = W_hh h_(t-1) + W_ih x_t are Gaussian with variance q*, where
  q* = g^2 E_z[tanh^2(sqrt(q*) z)] + sigma_in^2. A tangent vector gains
  chi = g^2 E_z[sech^4(sqrt(q*) z)] in squared norm per step, so lambda_max = (1/2) ln chi, and
  chi = 1 is the edge of chaos: g = 1 without input, g = {edge:.4f} with sigma_in^2 = {s2:g}. For
  ReLU, chi = g^2/2 whatever q* is, so lambda_max = ln(g / sqrt 2), and the activity stays bounded
  only for g < sqrt 2. Expectations use 2001-node Gauss–Hermite quadrature, checked against
  adaptive quadrature and Monte Carlo. The theory holds for H -> infinity; at H = {He} the one
  finite-size effect known exactly is the spectral radius of a Gaussian W_hh. Over {gin_n}
  sampled H = {He} Gaussian matrices, ln(rho(W)/g) has mean {gin_mean:.3f}, standard deviation
  {gin_sd:.3f} and 99th percentile {gin_q:.3f}. Tolerances: **{tmf}** for networks with
  activity (driven or chaotic), about that mean. For the quiescent undriven Gaussian networks,
  whose measured rate *is* ln rho(W) while mean field says ln g, the tolerance is the 99th
  percentile, **{gin_q:.3f}**.
- *Pascanu, Mikolov & Bengio (2013)*: for the Elman cells,
  dL/dh_(t-1) = W_hh^T diag(phi'(a_t)) dL/dh_t with |phi'| <= gamma = 1 (tanh and ReLU). Each
  step can therefore change log||dL/dh|| by at most ln(gamma sigma_max(W_hh)), and the path from
  the loss by at most d times that. The bound is checked at every step and every distance of
  every Elman curve. For the gated cells no such bound is useful: their Jacobians add an
  identity-like carry (f on c, z on h) to the gate-derivative terms, so any norm bound exceeds 1
  whatever W_hh is. They are compared with lambda_1 and the linear theory instead.
"""

QUICK_NOTE = """
*This is a `--quick` run (small H, short T). It exercises every code path but is not sized to
meet the tolerances; the committed full report is in reports/gradient_decay/.*
"""

AGREEMENT_TEXT = """\
For each comparison: how many configurations it covers, the largest absolute difference between
the measured and predicted per-step rates, the tolerance, the largest ratio of the two, and how
many configurations are within the tolerance. When "within" equals "n", the theory predicts
every measured rate to the stated tolerance. For the Pascanu row the difference column is the
largest excess of any step or path over the bound, and "within" counts the curves with no excess
beyond rounding.
"""

LYAP_TEXT = """\
lambda_1 (markers) and the fitted gradient rate (x) against g, one panel per cell, with the
H -> infinity theory. For the Elman cells that is mean field; the dotted lines are the edges of
chaos, at g = 1 without input and g = {edge:.3f} with sigma_in^2 = {s2:g}. For the gated cells
it is the rate at the zero fixed point, drawn only where that point attracts. Measured points
leave that line once the state no longer sits at zero: with drive, or above the g where the
line crosses 0. {agree}, so the gradient decays at the rate of the forward dynamics' largest Lyapunov exponent. Conclusion: the
sign of lambda_max decides between vanishing (< 0) and exploding (> 0) gradients. Mean field
locates the edge of chaos, where the timescale -1/lambda diverges, and input drive moves that
edge to larger g.
"""

SPECTRUM_TEXT = """\
The {k} leading Lyapunov exponents of rnn_tanh with Gaussian W_hh, by repeated QR. In the
quiescent undriven networks they are the logs of the largest |eigenvalues| of W_hh, tightly
bunched. The gap lambda_1 - lambda_2 is small throughout, so a random initial error needs
hundreds of steps to align with the leading direction: this is the transient the fit skips.
"""

AGREEMENT_FIG_TEXT = """\
Measured minus predicted rates against the predicted rate, with the tolerance shaded. Left: the
gradient rate against lambda_1 for every configuration, divided by each configuration's own
tolerance. Middle: the rate against ln rho(J*) for the quiescent networks. Right: lambda_1
against mean field for the Elman networks with activity; the red hollow markers are the
quiescent Gaussian networks, whose difference is ln(rho(W)/g), with their own tolerance (dashed).
"""

RATES_TEXT = """\
Every configuration: the rate of log||dL/dh_t|| fitted over d in [{lo}, {hi}] (per step,
natural log), the timescale -1/rate in steps, lambda_1 by repeated QR, and the theory that
applies. "linear" is ln rho(J*) at the zero fixed point; "mean-field" is the Elman theory;
"identity" is the IRNN's rate of 0; "lyapunov" means there is no closed form and lambda_1 itself
is the prediction. rates.csv adds the fit's standard error, the rate over the second half of the
range (rate_late, a stationarity check), lambda_2..lambda_k and SE(lambda_1), each
configuration's tolerance, the spectral norm and radius of W_hh, and the largest |h_t|.
"""

MF_TEXT = """\
H = {He}. q* from the mean-field map against the measured mean of a_t^2 over the window, and
lambda_MF = (1/2) ln chi against lambda_1 and the gradient rate. The column "1/2 ln chi
(measured a)" evaluates chi = g^2 mean(phi'(a)^2) on the measured pre-activations; this
separates the error in q* from the error of mean field's large-H independence assumption.
sigma_in^2 = {s2:g} with input and 0 without. The orthogonal networks follow the same theory
(||gQh|| = g||h|| exactly), and their quiescent rate is exactly ln g. The quiescent Gaussian
networks' rate is ln rho(W_hh), which exceeds ln g by the finite-size spread of the spectral
radius.
"""

LINEAR_TEXT = """\
Undriven networks (IRNN aside): whether the state sits at the zero fixed point over the whole
window (quiescent: max |h_t| < 1e-6), and the exact rate ln rho(J*) of the linearized map there,
against the measured rate and lambda_1. Where the state sits there, the rates agree to the level
of the fit's transient. Elsewhere the networks run on another attractor: chaos (lambda_1 > 0), a
limit cycle or torus (lambda_1 ~ 0, e.g. the undriven rnn_tanh near g = 1, whose state comes
back close to where it was hundreds of steps earlier), or a saturated nonzero fixed point
(lambda_1 < 0 with a motionless state). There ln rho(J*) > 0 only says that the zero state repels.
"""

PASCANU_TEXT = """\
For every Elman curve: sigma_max(W_hh) and rho(W_hh), the bound ln(gamma sigma_max) on each
step's growth (gamma = 1 for tanh and ReLU), and the measured rate. Then the largest excess over
the bound of any single step and of any path
(log||dL/dh_t|| - log||dL/dh_(T-1)|| - d ln sigma_max), and the number of violations beyond
rounding (1e-9 per unit of |log norm|). The bound is tight (excess 0) for orthogonal W_hh at the
zero state, and loose by about ln(sigma_max / rho) ~ ln 2 per step for Gaussian W_hh
(sigma_max ~ 2g, rho ~ g).
"""
