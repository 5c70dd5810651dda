"""Full Lyapunov spectra of random recurrent networks (issue 14, item 4).

    python -m bpttlab.studies.lyapunov            # full report -> reports/lyapunov/
    python -m bpttlab.studies.lyapunov --quick    # CI-sized     -> build/reports/lyapunov-quick/

All S exponents of the random tanh RNN (undriven and driven) for several g and H, and of the LSTM
and GRU cells: spectra against i/S (collapse across H), Kaplan-Yorke dimension and entropy rate
per unit against g, the effect of input drive, identities, theory tests and published claims.
"""

from ..framework import IGNORE, TIMING, Study, close
from .compute import compute
from .configs import OTHER_CPU_ATOL, add_arguments, configs
from .report import report

# Exact on one machine; on another CPU within configs.OTHER_CPU_ATOL (calibrated there). Timings are
# measurements; verdicts and the published-claims table are not compared across CPUs.
PER_NET = close(0.0, 0.0, other_cpu_rtol=0.0, other_cpu_atol=OTHER_CPU_ATOL["per_network"])
EXPONENT = close(0.0, 0.0, other_cpu_rtol=0.0, other_cpu_atol=OTHER_CPU_ATOL["exponent"])
MEAN = close(0.0, 0.0, other_cpu_rtol=0.0, other_cpu_atol=OTHER_CPU_ATOL["ensemble"])
TIMES = {c: TIMING for c in ("ms_per_step", "seconds_total", "seconds_per_network")}

STUDY = Study(
    name="lyapunov",
    title="Lyapunov spectra of random RNN, LSTM and GRU networks",
    version=1,
    configs=configs,
    compute=compute,
    report=report,
    add_arguments=add_arguments,
    description=__doc__.split("\n\n")[0],
    reproduce={"spectrum_summary": {**TIMES, "*": PER_NET}, "spectra": {"*": EXPONENT},
               "configurations": {**TIMES, "*": MEAN}, "collapse": {"*": MEAN}, "drive": {"*": MEAN},
               "identities": {"max_abs_difference": close(0.0, 0.0, other_cpu_atol=1e-9), "holds": IGNORE},
               "theory_tests": {"passes": IGNORE, "*": MEAN}, "published": {"*": IGNORE},
               # deviations are ensemble means; where the largest sits and the within-rule fractions are verdicts
               "spectrum_theory": {"x_of_max": IGNORE, "fraction_within_rule": IGNORE,
                                   "fraction_within_rule_x_le_0.9": IGNORE, "*": MEAN}},
)
