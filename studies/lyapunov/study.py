"""Full Lyapunov spectra of random recurrent networks (issue 14, item 4).

    python -m bpttlab.studies.lyapunov            # full report -> reports/lyapunov/
    python -m bpttlab.studies.lyapunov --quick    # CI-sized     -> build/reports/lyapunov-quick/

All S exponents of the random tanh RNN (undriven and driven) for several g and H, and of the LSTM
and GRU cells: spectra against i/S (collapse across H), Kaplan-Yorke dimension and entropy rate
per unit against g, the effect of input drive, identities, theory tests and published claims.
"""

from ..framework import IGNORE, TIMING, Study, close
from .compute import compute
from .configs import add_arguments, configs
from .report import report

# Per-network values are finite-time averages over a chaotic trajectory: exact on one machine; on
# another CPU a new finite-time sample, so within 0.05 per step (several times the largest within-run
# SE of the full run, which the report prints). Timings are measurements; verdicts are not compared.
STAT = close(0.0, 0.0, other_cpu_rtol=0.0, other_cpu_atol=0.05)
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
    reproduce={"spectrum_summary": {**TIMES, "*": STAT}, "spectra": {"*": STAT},
               "configurations": {**TIMES, "*": STAT}, "collapse": {"*": STAT}, "drive": {"*": STAT},
               "identities": {"max_abs_difference": close(0.0, 0.0, other_cpu_atol=1e-9), "holds": IGNORE},
               "theory_tests": {"passes": IGNORE, "*": STAT}, "published": {"*": IGNORE}},
)
