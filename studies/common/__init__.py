"""What a study module imports, in one place: the framework's names (:mod:`studies.framework`)
and the shared science's (:mod:`studies.science`). The code lives there; this only gathers it.
"""

from ..framework import (
    RUNNERS,
    ReportWriter,
    ResultStore,
    SerialRunner,
    Study,
    derive_seed,
    figure,
    markdown_table,
    mode_of,
    provenance,
    relink,
    run_sweep,
    save_figure,
    with_seeds,
)
from ..science import config_rng, fit_line, fit_rate, gaussian_drive, orthogonal_blocks

__all__ = [
    "RUNNERS",
    "ReportWriter",
    "ResultStore",
    "SerialRunner",
    "Study",
    "config_rng",
    "derive_seed",
    "figure",
    "fit_line",
    "fit_rate",
    "gaussian_drive",
    "markdown_table",
    "mode_of",
    "orthogonal_blocks",
    "provenance",
    "relink",
    "run_sweep",
    "save_figure",
    "with_seeds",
]
