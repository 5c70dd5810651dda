"""What is run: the cells, sizes and configurations, and the tolerances the report checks."""

import math

from bpttlab import kernels

ELMAN = ("rnn_tanh", "rnn_relu")
LSTMS = ("lstm", "lstm_peephole", "lstm_cifg")
GRUS = ("gru", "gru_cho")

SIZES = {
    "full": {"H_elman": 500, "H_gated": 256, "T": 10_000, "burn": 2000, "fit_lo": 1000, "lyap_k": 4,
             "lyap_skip": 1000, "sigma_x": 0.5,
             "g_tanh": (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0),
             "g_relu": (0.5, 0.75, 0.9, 1.0, 1.1, 1.2, 1.3),
             "g_gated": (0.5, 1.0, 1.5, 2.0, 2.5, 3.0), "ginibre_samples": 300},
    "quick": {"H_elman": 48, "H_gated": 24, "T": 600, "burn": 200, "fit_lo": 100, "lyap_k": 2,
              "lyap_skip": 100, "sigma_x": 0.5,
              "g_tanh": (0.5, 1.0, 2.0), "g_relu": (0.9,), "g_gated": (1.0, 2.5), "ginibre_samples": 40},
    # Every code path at sizes the CUDA simulator runs in about a minute; no number means anything.
    "tiny": {"H_elman": 4, "H_gated": 3, "T": 12, "burn": 4, "fit_lo": 2, "lyap_k": 1,
             "lyap_skip": 2, "sigma_x": 0.5,
             "g_tanh": (1.0,), "g_relu": (0.9,), "g_gated": (1.0,), "forget_biases": (1.0,), "ginibre_samples": 4},
}
H0_STD = 0.5  # initial state ~ N(0, 0.5^2) per unit (h and c), before the burn-in

# Tolerances on per-step rates (natural log per step), stated in the report with their reasons.
TOL = {
    # gradient rate vs lambda_1: two finite-time estimates of one number, each with about the
    # batch-means standard error SE of lambda_1; 5 standard errors of their difference, floored
    # for the non-chaotic cases whose SE is ~0 but whose fit still carries an O(1/T) transient.
    "lyapunov_se": 5.0 * math.sqrt(2.0),
    "lyapunov_floor": 1e-3,
    "linear": 2e-3,  # rate vs ln rho(J*) at the zero fixed point: exact up to the fit's transient
    "identity": 2e-3,  # IRNN: no exponential decay at all
    # H = 500 vs H -> infinity in networks with activity (driven or chaotic): finite-size effects,
    # of the size of the one that is known exactly, the mean of ln(rho(W)/g) for Gaussian W at
    # H = 500 (0.028, sampled by this study).
    "mean-field": 0.03,
    # Quiescent undriven Gaussian networks: measured = ln rho(W) exactly, mean field = ln g; the
    # tolerance is the 99th percentile of ln(rho(W)/g) over the sampled Gaussian matrices.
    "ginibre_quantile": 0.99,
}
PASCANU_SLACK = 1e-9  # rounding in the renormalized backward pass, per unit of |log norm|


def add_arguments(p):
    p.add_argument("--cells", default=",".join(kernels.CELLS),
                   help="comma-separated cells to include (default: all)")


def configs(opts):
    S = SIZES[opts.mode]
    cells = [c for c in opts.cells.split(",") if c]
    for c in cells:
        kernels.get_spec(c)
    common = {k: S[k] for k in ("T", "burn", "fit_lo", "lyap_k", "lyap_skip", "sigma_x")}
    # The finite-size spread of the spectral radius of Gaussian W_hh, to state the mean-field
    # tolerance from (not a network run: a sample of random matrices of the Elman size).
    out = [{"key": f"ginibre-H{S['H_elman']}", "kind": "ginibre", "H": S["H_elman"],
            "samples": S["ginibre_samples"]}]

    def add(cell, init, g, inp, forget_bias=None):
        H = S["H_elman"] if cell in ELMAN else S["H_gated"]
        bf = "" if forget_bias is None else f"-bf{forget_bias:g}"
        key = f"{cell}-{init}-g{g:g}{bf}-{'input' if inp else 'free'}"
        out.append({"key": key, "kind": "curve", "cell": cell, "init": init, "g": float(g), "forget_bias": forget_bias,
                    "input": bool(inp), "H": H, **common})

    if "rnn_tanh" in cells:
        for init in ("gaussian", "orthogonal"):
            for inp in (False, True):
                for g in S["g_tanh"]:
                    add("rnn_tanh", init, g, inp)
    if "rnn_relu" in cells:
        # Without drive a random ReLU network's state decays to exactly 0 (g < sqrt 2) or overflows
        # (g > sqrt 2): only the driven networks have a stationary regime to measure.
        for init in ("gaussian", "orthogonal"):
            for g in S["g_relu"]:
                add("rnn_relu", init, g, True)
        for inp in (False, True):
            add("rnn_relu", "identity", 1.0, inp)
    for cell in LSTMS:
        if cell in cells:
            for bf in S.get("forget_biases", (0.0, 1.0)):
                for inp in (False, True):
                    for g in S["g_gated"]:
                        add(cell, "gaussian", g, inp, bf)
    for cell in GRUS:
        if cell in cells:
            for inp in (False, True):
                for g in S["g_gated"]:
                    add(cell, "gaussian", g, inp)
    return out
