"""Gradient decay: ||dL/dh_t|| for a loss at the last step as a function of the distance T - t,
for every cell, against the theory that predicts its rate.

    python -m bpttlab.studies.gradient_decay            # full report -> reports/gradient_decay/
    python -m bpttlab.studies.gradient_decay --quick    # CI-sized     -> build/reports/gradient_decay-quick/

What is measured, per configuration (cell, W_hh initialization and scale g, LSTM forget bias,
with or without input drive):

- the curve log||dL/dh_t|| against d = T-1-t, from the kernels' backward pass in log_norms mode
  (the error renormalized in float64 every step, so nothing under- or overflows); its per-step
  rate is the least-squares slope over a fit range that skips the initial transient;
- the leading Lyapunov exponents of the forward dynamics over the same inputs, by tangent
  propagation with Jacobian-vector products (studies.science.jvp) and repeated QR;
- for the Elman cells, the spectral norm and radius of W_hh (Pascanu et al.'s bound, checked at
  every step of every curve) and the pre-activation statistics (mean-field's q and chi);
- without input, the Jacobian at the zero fixed point (exact linear rate when the state sits there).

The theory (mean-field, linear, Lyapunov) and the tolerances are stated in the report.
"""

from ..framework import Study, Tol
from .compute import compute
from .configs import add_arguments, configs
from .report import report

STUDY = Study(
    name="gradient_decay",
    title="Gradient decay: ||dL/dh_t|| against distance, for every cell",
    version=2,
    configs=configs,
    compute=compute,
    report=report,
    add_arguments=add_arguments,
    description=__doc__.split("\n\n")[0],
    # Deterministic on one machine (every configuration self-seeded, one thread each): exact. On another
    # CPU the float64 trajectories differ in the last digits; rates and exponents are averages over them,
    # so they move little (a first bound, to be calibrated with `regenerate --compare` on two machines).
    reproduce={"*": {"*": Tol(other_cpu_rtol=1e-6, other_cpu_atol=1e-9)}},
)
