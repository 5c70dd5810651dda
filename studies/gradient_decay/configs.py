"""What is run: the cells, sizes, ensembles and finite-size runs, and the tolerance rules the report
states before it compares anything.

Four kinds of configuration, each one network (or one sample of matrices) with its own seed, which
the framework derives from the run's seed and the key (studies.framework.sweep.with_seeds), so the
``n<i>`` in a key makes the i-th network of an ensemble independent of the others:

- ``curve``: the gradient-norm curve from the kernels' backward pass and lambda_1 (the ensembles);
- ``lyap``: lambda_1 alone (one tangent vector), for the finite-size runs: the Elman networks at
  H in SIZES[...]["fss_H"], and every ensemble setting again at half its size;
- ``relu_free``: the state norm of an undriven Gaussian ReLU network (which has no stationary
  regime: it dies or overflows), renormalized so its fate can be drawn;
- ``ginibre``: spectral radii of sampled Gaussian matrices (the finite-H circular law).
"""

from bpttlab import kernels

ELMAN = ("rnn_tanh", "rnn_relu")
LSTMS = ("lstm", "lstm_peephole", "lstm_cifg")
GRUS = ("gru", "gru_cho")

# Full mode: 10 networks per setting (issue 14), paid for by breadth so that the full run fits 40
# minutes on two shared cores. Each cut, and why:
# - g: six values per cell instead of 7-11, placed where the regimes change (tanh: quiescent, edge
#   at 1 undriven and 1.55 driven, chaos); ReLU only driven g < sqrt 2 (no stationary state above);
# - T = 2000 steps (was 10 000): the statistics come from the 10 networks, whose spread is ~5x
#   the within-run error of one 10 000-step run (the audit's measurement), so more steps per
#   network would shrink nothing that matters;
# - gated ensembles: lstm at forget bias 0 and 1, lstm_cifg at 1, gru and gru_cho; dropped:
#   lstm_peephole (its mean field is the plain LSTM's: the peepholes are O(1/sqrt H)) and CIFG at
#   b_f = 0;
# - orthogonal W_hh for rnn_tanh only; one Lyapunov exponent (the spectra are the lyapunov
#   study's, reports/lyapunov/); finite-size scaling at eight (cell, drive, g) settings.
SIZES = {
    "full": {"H_elman": 500, "H_gated": 256, "T": 2000, "burn": 500, "fit_lo": 300, "lyap_skip": 300,
             "sigma_x": 0.5, "networks": 10,
             "g_tanh": (0.5, 0.9, 1.1, 1.5, 2.0, 3.0), "g_relu": (0.5, 0.9, 1.1, 1.3),
             "g_relu_free": (1.0, 1.3, 1.5, 2.0), "g_gated": (0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
             "gated": (("lstm", 0.0), ("lstm", 1.0), ("lstm_cifg", 1.0), ("gru", None), ("gru_cho", None)),
             "ginibre_samples": 100,
             # finite-size scaling: lambda_1 only, fewer steps where self-averaging shrinks the
             # per-network spread (the report shows the spread and the within-run SE at each H)
             "fss_H": (125, 250, 500, 1000, 2000), "fss_steps": (3000, 3000, 2000, 1500, 1000), "fss_burn": 300,
             "fss_skip": 100,
             "fss": (("rnn_tanh", False, (1.5, 2.0, 3.0)), ("rnn_tanh", True, (1.1, 2.0, 3.0)),
                     ("rnn_relu", True, (0.9, 1.3)))},
    "quick": {"g_tanh_orthogonal": (0.5,), "H_elman": 48, "H_gated": 24, "T": 600, "burn": 200, "fit_lo": 100, "lyap_skip": 100,
              "sigma_x": 0.5, "networks": 3,
              "g_tanh": (0.5, 2.0), "g_relu": (0.9,), "g_relu_free": (1.0, 2.0), "g_gated": (1.0, 2.5),
              "gated": (("lstm", 1.0), ("gru", None)), "ginibre_samples": 40,
              "fss_H": (24, 48, 96), "fss_steps": (600, 600, 600), "fss_burn": 100, "fss_skip": 50,
              "fss": (("rnn_tanh", False, (2.0,)),)},
    # Every code path at sizes the CUDA simulator runs quickly; no number means anything.
    "tiny": {"inits_tanh": ("gaussian",), "H_elman": 4, "H_gated": 4, "T": 12, "burn": 4, "fit_lo": 2, "lyap_skip": 2,
             "sigma_x": 0.5, "networks": 2,
             "g_tanh": (1.0,), "g_relu": (0.9,), "g_relu_free": (1.0,), "g_gated": (1.0,),
             "gated": (("lstm", 1.0), ("gru", None)), "ginibre_samples": 4,
             "fss_H": (4, 8, 16), "fss_steps": (12, 12, 12), "fss_burn": 4, "fss_skip": 2,
             "fss": (("rnn_tanh", False, (2.0,)),)},
}
H0_STD = 0.5  # initial state ~ N(0, 0.5^2) per unit (h and c), before the burn-in

# The rules, stated before any comparison (rates per step, natural log).
RULES = {
    # Theory tests: |mean over the networks - prediction| <= K_SE * SE(mean) + finite-size term,
    # the finite-size term |mean_H - mean_(H/2)| + K_FS * SE(mean_H - mean_(H/2)): a 1/H correction
    # extrapolated from H/2 and H to H -> infinity moves the mean by exactly mean_H - mean_(H/2).
    "k_se": 3.0,
    "k_fs": 2.0,
    # Finite-size extrapolation: |lambda_inf - prediction| <= K_SE * SE(lambda_inf), the SE of the
    # weighted fit scaled up by sqrt(chi^2/dof) where the fit is worse than its error bars.
}
# Code tests (identities: they hold by construction whatever the theory), with their own rules.
IDENTITY_TOL = {
    # gradient rate vs lambda_1 of the same network: two finite-time estimates of one number from
    # the same Jacobians; 5 standard errors of their difference (batch means of lambda_1), floored
    # for the non-chaotic cases whose SE is ~0 but whose fit still carries an O(1/T) transient.
    "lyapunov_se": 5.0 * 2.0 ** 0.5,
    "lyapunov_floor": 1e-3,
    # rate vs ln rho(J*) at the zero fixed point, and the IRNN's rate vs 0: exact up to the fit's
    # transient, log(condition number) / fit length, below 1e-3 for every network here
    "linear": 2e-3,
}
PASCANU_SLACK = 1e-9  # rounding in the renormalized backward pass, per unit of |log norm|


def add_arguments(p):
    p.add_argument("--cells", default=",".join(kernels.CELLS),
                   help="comma-separated cells to include (default: all)")


def _fb(forget_bias):
    return "" if forget_bias is None else f"-bf{forget_bias:g}"


def setting_key(cell, init, g, forget_bias, inp, H):
    return f"{cell}-{init}-g{g:g}{_fb(forget_bias)}-{'input' if inp else 'free'}-H{H}"


def configs(opts):
    S = SIZES[opts.mode]
    cells = [c for c in opts.cells.split(",") if c]
    for c in cells:
        kernels.get_spec(c)
    nets = range(S["networks"])
    common = {k: S[k] for k in ("T", "burn", "fit_lo", "lyap_skip", "sigma_x")}
    out = [{"key": f"ginibre-H{S['H_elman']}", "kind": "ginibre", "H": S["H_elman"], "samples": S["ginibre_samples"]}]

    def ensemble(cell, init, g, inp, forget_bias=None, half=True):
        """One setting: its networks at full size (curves) and, for the finite-size term of the
        theory tests, at half size (lambda_1 only)."""
        H = S["H_elman"] if cell in ELMAN else S["H_gated"]
        base = {"cell": cell, "init": init, "g": float(g), "forget_bias": forget_bias, "input": bool(inp), **common}
        for n in nets:
            out.append({"key": f"{setting_key(cell, init, g, forget_bias, inp, H)}-n{n}", "kind": "curve", "H": H,
                        "net": n, **base})
        if half:
            for n in nets:
                out.append({"key": f"lyap-{setting_key(cell, init, g, forget_bias, inp, H // 2)}-n{n}", "kind": "lyap",
                            "H": H // 2, "net": n, "role": "half", **base})

    if "rnn_tanh" in cells:
        for init in S.get("inits_tanh", ("gaussian", "orthogonal")):
            for inp in (False, True):
                for g in S.get(f"g_tanh_{init}", S["g_tanh"]):
                    ensemble("rnn_tanh", init, g, inp)
    if "rnn_relu" in cells:
        for g in S["g_relu"]:
            ensemble("rnn_relu", "gaussian", g, True)
        for inp in (False, True):
            ensemble("rnn_relu", "identity", 1.0, inp, half=False)  # IRNN: a code test, no theory to scale
        # Undriven random ReLU networks have no stationary state (they die for g < sqrt 2 and
        # overflow above): their state norm, renormalized, is what the report shows of them.
        for g in S["g_relu_free"]:
            for n in nets:
                out.append({"key": f"relu_free-g{g:g}-H{S['H_elman']}-n{n}", "kind": "relu_free", "cell": "rnn_relu",
                            "init": "gaussian", "g": float(g), "forget_bias": None, "input": False,
                            "H": S["H_elman"], "net": n, "T": S["T"]})
    for cell, bf in S["gated"]:
        if cell in cells:
            for inp in (False, True):
                for g in S["g_gated"]:
                    ensemble(cell, "gaussian", g, inp, bf)
    # Finite-size scaling of lambda_1 for the random Elman networks.
    for cell, inp, gs in S["fss"]:
        if cell not in cells:
            continue
        for g in gs:
            for H, T in zip(S["fss_H"], S["fss_steps"], strict=True):
                for n in nets:
                    out.append({"key": f"lyap-{setting_key(cell, 'gaussian', g, None, inp, H)}-T{T}-n{n}",
                                "kind": "lyap", "role": "fss", "cell": cell, "init": "gaussian", "g": float(g),
                                "forget_bias": None, "input": bool(inp), "H": H, "net": n, "T": T,
                                "burn": S["fss_burn"], "lyap_skip": S["fss_skip"], "sigma_x": S["sigma_x"]})
    return out
