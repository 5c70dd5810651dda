"""The truncated-BPTT trade-off: how biased the truncated gradient is, what truncation saves, and
what it costs in learning when the window is shorter than the task's dependency.

    python -m bpttlab.studies.tbptt            # full report -> reports/tbptt/
    python -m bpttlab.studies.tbptt --quick    # CI-sized     -> build/reports/tbptt-quick/

- bias: TBPTT(1, k2) against full BPTT (cosine, relative error) as k2 grows, on random networks of
  every cell over a range of gains, each network's regime measured (lambda_1), held against the
  per-step decay of ||dL/dh_t|| measured on the same network;
- cost: time per update and tape memory of streaming TBPTT(k, k) against full BPTT;
- learn: ten seeds per configuration on the adding problem (both forms, T = 50, 100, 200), the copy
  task (T = 10, 50, 100) and the temporal-order task (T = 50, 100), at k2 shorter and longer than the
  lag, judged on a fresh held-out set, with the window bound each k2 predicts.
"""

import numpy as np

from ..framework import TIMING, Study, Tol
from .bias import compute_bias
from .configs import configs
from .cost import compute_cost
from .learning import compute_learn
from .report import report


def compute(c):
    return {"bias": compute_bias, "cost": compute_cost, "learn": compute_learn}[c["part"]](c)


# The bias slope is fit to log(relative error) down to errors of 1e-12, whose float64 round-off is
# eps/1e-12 = 2.2e-4 in the log; over the fit's k2 span (at least 2 steps) that moves the slope by up
# to 1.1e-4 on another CPU.
BIAS_SLOPE_TOL = Tol(other_cpu_rtol=1e-6, other_cpu_atol=np.finfo(np.float64).eps / 1e-12 / 2)

STUDY = Study(
    name="tbptt",
    title="Truncated BPTT: bias, cost and learning",
    version=2,
    configs=configs,
    compute=compute,
    report=report,
    description=__doc__,
    code=("studies/training",),
    # Timings are measurements of the machine. Training is deterministic on one machine; on another
    # CPU it runs from last-digit-different gradients, and a seed near the success threshold may land
    # on the other side: success counts and losses compare within statistics there, not to the digit.
    reproduce={"cost": {"ms_per_update": TIMING, "time_vs_full": TIMING},
               "learning": {"seconds_per_run": TIMING},
               "runs": {"seconds": TIMING},
               "bias_rates": {"bias_slope": BIAS_SLOPE_TOL, "slope_minus_rate": BIAS_SLOPE_TOL,
                              "slope_minus_lambda1": BIAS_SLOPE_TOL},
               "*": {"*": Tol(other_cpu_rtol=1e-6, other_cpu_atol=1e-9)}},
)
