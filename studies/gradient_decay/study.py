"""Gradient decay: ||dL/dh_t|| for a loss at the last step as a function of the distance T - t,
for every cell, on ensembles of independent networks, against theories that predict its rate.

    python -m bpttlab.studies.gradient_decay            # full report -> reports/gradient_decay/
    python -m bpttlab.studies.gradient_decay --quick    # CI-sized     -> build/reports/gradient_decay-quick/

What is measured, per network (10 independent networks per setting in full mode: cell, W_hh
initialization and gain g, LSTM forget bias, with or without input drive):

- the curve log||dL/dh_t|| against d = T-1-t, from the kernels' backward pass in log_norms mode
  (the error renormalized in float64 every step, so nothing under- or overflows); its per-step
  rate is the least-squares slope over a fit range that skips the initial transient;
- lambda_1 of the forward dynamics over the same inputs, by one tangent vector propagated with
  Jacobian-vector products (studies.science.jvp) and renormalized every step;
- for the Elman cells, the spectral norm and radius of W_hh (Pascanu et al.'s bound, checked at
  every step of every curve) and the pre-activation statistics (mean-field's q and chi);
- without input, the Jacobian at the zero fixed point (exact linear rate when the state sits there).

Besides: lambda_1 alone of every setting at half its size (the measured finite-size term of the
theory tests' tolerance) and of the random Elman networks at H from 125 to 2000 (finite-size
scaling to H -> infinity), the state norm of undriven Gaussian ReLU networks, and the spectral
radii of sampled Gaussian matrices.

The identities (code tests), the theories and the tolerance rules are stated in the report.
"""

from ..framework import Study, Tol
from ..framework.reproduce import EXACT, IGNORE
from .compute import compute
from .configs import add_arguments, configs
from .report import report

STUDY = Study(
    name="gradient_decay",
    title="Gradient decay: ||dL/dh_t|| against distance, for every cell",
    version=3,
    configs=configs,
    compute=compute,
    report=report,
    add_arguments=add_arguments,
    description=__doc__.split("\n\n")[0],
    # Bit for bit on one machine (every configuration self-seeded, one Numba thread). On another CPU
    # generation the chaotic trajectories part, so every measured number moves within its statistics:
    # a few SE of the ensemble means; the measured columns get a tolerance of that size (SEs here are
    # <~0.01 per step), the predictions and the rules must match to rounding. Checked with
    # NUMBA_CPU_NAME=x86-64-v3 against the host's znver1 (the report's Reproduction section).
    reproduce={"*": {"*": Tol("close", 0.0, 0.0, other_cpu_rtol=0.5, other_cpu_atol=0.05)},
               "theory_tests": {"check": EXACT, "kind": EXACT, "tolerance rule": EXACT, "n": EXACT, "failing": IGNORE},
               "identities": {"check": EXACT, "kind": EXACT, "tolerance rule": EXACT, "n": EXACT}},
)
