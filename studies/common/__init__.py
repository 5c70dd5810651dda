"""What every study shares: the Study object and its command line, sweeps and the result
store, seeding, Jacobian-vector products of the cells, fitting, mean-field theory, and report
writing. A new study imports from here rather than copying any of it.

Writing a study ``studies/<name>.py`` (see gradient_decay.py):

    def configs(opts):            # opts: argparse namespace (opts.quick, opts.mode, opts.seed, own options)
        return [{"key": "lstm-g1", "cell": "lstm", "g": 1.0, ...}, ...]   # JSON-able, unique filesystem-safe keys

    def compute(config):          # module-level, pure: randomness only from config_rng(config, stream)
        return {"curve": np.array(...), "rate": -0.1}                       # arrays and scalars only

    def report(results, opts, w): # results: [(config, result)] in configs() order, read back from the store
        fig, ax = figure(...); ...; w.figure(fig, "name", "Heading", "what it shows and what to conclude")
        w.table(df, "name", "Heading", "paragraph")                         # CSV + Markdown

    STUDY = Study(name="<name>", title=..., version=1, configs=configs, compute=compute, report=report,
                  code=("studies/training",))   # extra source compute() depends on, if any
    if __name__ == "__main__":
        raise SystemExit(STUDY.main())

then add "<name>" to ``studies.regenerate.STUDIES``. The framework gives every configuration its
seed, runs what the result store lacks (one atomically written file per configuration, so runs
resume), shows a tqdm bar, and writes README.md and provenance.json beside the figures and tables.
Parallel execution is a runner (``sweep.RUNNERS``) with ``map(fn, configs)``; studies do not change.
"""

from .fitting import fit_line, fit_rate
from .inputs import config_rng, gaussian_drive, orthogonal_blocks
from .report import ReportWriter, figure, markdown_table, provenance, relink, save_figure
from .store import ResultStore
from .study import Study
from .sweep import RUNNERS, SerialRunner, derive_seed, run_sweep, with_seeds

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
    "orthogonal_blocks",
    "provenance",
    "relink",
    "run_sweep",
    "save_figure",
    "with_seeds",
]
