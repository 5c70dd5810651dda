"""The study framework: the Study object and its command line, sweeps and the result store,
runners, report writing and provenance. It knows nothing of recurrent networks; the science
the studies share is in :mod:`studies.science`.

Writing a study ``studies/<name>.py`` (or a package ``studies/<name>/``, see gradient_decay/):

    def configs(opts):            # opts: argparse namespace (opts.quick, opts.mode, opts.seed, opts.backend, own options)
        return [{"key": "lstm-g1", "cell": "lstm", "g": 1.0, ...}, ...]   # JSON-able, unique filesystem-safe keys

    def compute(config):          # module-level, pure: randomness only from config_rng(config, stream)
        net = kernels.Network(cell, I, H, backend=config.get("backend", "cpu"))
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

import importlib

# Bound here, not on first use: the submodule has the function's name, and importing the
# submodule would otherwise leave the package attribute pointing at the module.
from .provenance import cpu_microarchitecture, provenance

# Each other name loads its module on first use, so that importing one light module (bench/
# imports provenance.cpu_microarchitecture) does not pull in matplotlib and the rest.
_HOME = {
    "ReportWriter": "report", "figure": "report", "markdown_table": "report", "relink": "report",
    "save_figure": "report",
    "ResultStore": "store",
    "Tol": "reproduce", "EXACT": "reproduce", "TIMING": "reproduce", "IGNORE": "reproduce", "close": "reproduce",
    "Study": "study", "mode_of": "study",
    "RUNNERS": "study",  # through study, which registers the parallel runners in sweep.RUNNERS
    "SerialRunner": "sweep", "derive_seed": "sweep", "run_sweep": "sweep", "with_seeds": "sweep",
}
__all__ = [
    "EXACT",
    "IGNORE",
    "RUNNERS",
    "ReportWriter",
    "ResultStore",
    "SerialRunner",
    "Study",
    "TIMING",
    "Tol",
    "close",
    "cpu_microarchitecture",
    "derive_seed",
    "figure",
    "markdown_table",
    "mode_of",
    "provenance",
    "relink",
    "run_sweep",
    "save_figure",
    "with_seeds",
]


def __getattr__(name):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
