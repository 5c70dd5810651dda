"""The Study object every study module defines, and its command line.

A study (a module ``studies/<name>.py`` or a package ``studies/<name>/``) builds one
:class:`Study`, importable as ``studies.<name>.STUDY``, and runs ``STUDY.main()`` under
``__main__``, so ``python -m bpttlab.studies.<name> [--quick] [options]`` and
``nox -s studies -- <name> [options]`` run it, and ``studies.regenerate`` finds it by name.

A run: parse options -> ``configs(opts)`` (JSON-able dicts with a unique ``key``; the seed is
added here) -> :func:`~studies.framework.sweep.run_sweep` computes what the result store lacks,
saving one file per configuration as each finishes -> ``report(results, opts, writer)`` writes
figures and tables from the stored results only -> README.md and provenance.json.

Every study takes ``--backend cpu|cuda`` (kernels.Network's backend; configurations of the CUDA
backend carry ``"backend": "cuda"``, so CPU configurations, their seeds and stored results are
as they were) and ``--tiny`` (sizes small enough for the CUDA simulator; implies --quick).
"""

import argparse
import hashlib
import importlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .locations import PRIVATE_CACHE_ENV, SOURCE_ROOT, relative, work_dir
from .provenance import provenance
from .report import ReportWriter
from .runners import DaskRunner, ProcessRunner
from .store import ResultStore
from .sweep import RUNNERS, run_sweep, with_seeds

BACKENDS = ("cpu", "cuda")
# The shared code every study's results depend on (directories under studies/).
SHARED = ("common", "framework", "science")


@dataclass
class Study:
    name: str
    title: str
    version: int  # bump when compute() changes meaning: stored results of other versions are stale
    configs: Callable  # (opts) -> list of config dicts, each with a unique "key"
    compute: Callable  # (config) -> result dict; module-level and pure (picklable for parallel runners)
    report: Callable  # (results: list of (config, result), opts, writer: ReportWriter) -> None
    add_arguments: Callable | None = None  # (parser) -> None: the study's own options
    description: str = ""
    quick_seconds: float = 60.0  # the budget --quick is sized for (stated in --help)
    # Source files or directories (relative to the source root) that compute() depends on beyond
    # kernels/, the shared studies code and the study's own module (its package, for a package),
    # which are always included.
    code: tuple = ()
    # How exactly each report table must reproduce (studies/framework/reproduce.py):
    # {table name or "*": {column or "*": Tol}}; undeclared columns must reproduce exactly.
    reproduce: dict | None = None

    def code_paths(self):
        module = sys.modules.get(getattr(self.compute, "__module__", ""), None)
        own = [Path(module.__file__)] if module is not None and getattr(module, "__file__", None) else []
        if own and module.__name__.count(".") >= 2:  # a study package: all of it
            own = [own[0].parent]
        return [SOURCE_ROOT / "kernels", *(SOURCE_ROOT / "studies" / p for p in SHARED), *own,
                *(SOURCE_ROOT / c for c in self.code)]

    def fingerprint(self):
        """Hash of the code the results depend on, saved with every result: provenance lists the
        fingerprints a report's results came from, and --same-code reuses only the current one."""
        return code_fingerprint(self.code_paths())

    def parser(self):
        p = argparse.ArgumentParser(prog=f"python -m bpttlab.studies.{self.name}", description=self.description or self.title,
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--quick", action="store_true",
                       help=f"small sizes for CI (under {self.quick_seconds:.0f} s); does not meet the report's tolerances")
        p.add_argument("--tiny", action="store_true",
                       help="the smallest sizes that still run every code path (for the CUDA simulator); implies --quick")
        p.add_argument("--backend", choices=BACKENDS, default="cpu",
                       help="the kernels' backend (kernels.Network(..., backend=...))")
        p.add_argument("--seed", type=non_negative_int, default=0,
                       help="base seed (a non-negative integer); each configuration derives its own from it")
        p.add_argument("--out", type=Path, default=None,
                       help=f"report directory (default: reports/{self.name}, or build/reports/{self.name}-quick "
                            "with --quick so a quick run never overwrites the committed report)")
        p.add_argument("--results", type=Path, default=None,
                       help=f"result store (default: build/studies/{self.name}/<quick|full>-seed<seed>)")
        p.add_argument("--fresh", action="store_true", help="recompute every configuration, ignoring stored results")
        p.add_argument("--same-code", action="store_true",
                       help="reuse only results computed by the current source (kernels/, the shared studies "
                            "code, the study's own code, by hash); `python -m bpttlab.studies.regenerate` sets it")
        p.add_argument("--runner", choices=sorted(RUNNERS), default="serial",
                       help="how configurations are executed: one after another, or in parallel on local processes")
        p.add_argument("--workers", type=positive_int, default=None,
                       help="worker processes for --runner processes (default: one per core)")
        p.add_argument("--private-cache", action="store_true",
                       help="compile the kernels afresh into an empty Numba cache private to this process (and one "
                            "per worker of --runner processes), removed afterwards: the protocol that reproduces "
                            "float64 results bit for bit (`python -m bpttlab.studies.regenerate` sets it)")
        p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                       help="run the configurations on the Dask cluster at this scheduler address "
                            "(e.g. tcp://host:8786); overrides --runner")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        if self.add_arguments is not None:
            self.add_arguments(p)
        return p

    def parse(self, argv=None):
        opts = self.parser().parse_args(argv)
        opts.quick = opts.quick or opts.tiny
        mode = "tiny" if opts.tiny else "quick" if opts.quick else "full"
        opts.mode = mode
        root = work_dir()
        suffix = "" if opts.backend == "cpu" else f"-{opts.backend}"
        if opts.out is None:
            opts.out = root / ("build/reports" if opts.quick else "reports") / (
                f"{self.name}-{mode}{suffix}" if opts.quick else self.name + suffix)
        if opts.results is None:
            opts.results = root / "build" / "studies" / self.name / f"{mode}-seed{opts.seed}{suffix}"
        # Before any configuration is computed: a report directory that cannot be written would
        # otherwise fail only after the whole sweep.
        for flag, path in (("--out", opts.out), ("--results", opts.results)):
            problem = unwritable_directory(path)
            if problem:
                self.parser().error(f"argument {flag}: got {str(path)!r}, {problem}; expected a writable directory "
                                    "(or a path where one can be created)")
        return opts

    def tasks(self, opts):
        configs = self.configs(opts)
        backend = getattr(opts, "backend", "cpu")
        if backend != "cpu":
            configs = [{**c, "backend": backend} for c in configs]
        return with_seeds(configs, opts.seed)

    def run(self, opts, *, compute=None, runner=None, stats=None):
        """Compute (or load) every configuration's result; returns [(config, result)].

        ``compute`` replaces the study's compute function (the tests use it to interrupt a sweep);
        ``stats`` (a dict) receives what run_sweep reports.
        """
        store = ResultStore(opts.results, version=self.version)
        runner = runner or make_runner(opts)
        try:
            return run_sweep(self.tasks(opts), compute or self.compute, store, runner,
                             progress=not opts.no_progress, desc=self.name, fresh=opts.fresh, code=self.fingerprint(),
                             same_code=opts.same_code, stats=stats)
        finally:
            if hasattr(runner, "close"):
                runner.close()

    def write_report(self, results, opts, prov):
        writer = ReportWriter(opts.out, self.title)
        self.report(results, opts, writer)
        return writer.finish(prov)

    def main(self, argv=None):
        if getattr(self.compute, "__module__", None) == "__main__":
            # Under `python -m bpttlab.studies.<name>` run the importable copy of the module instead: its
            # functions pickle by module name, which a parallel runner's workers can import.
            return importlib.import_module(f"bpttlab.studies.{self.name}").STUDY.main(argv)
        argv = sys.argv[1:] if argv is None else list(argv)
        opts = self.parse(argv)
        if opts.private_cache and os.environ.get(PRIVATE_CACHE_ENV) is None:
            return self._exec_with_private_cache(argv)
        try:
            return self._main(opts, argv)
        finally:
            own = os.environ.get(PRIVATE_CACHE_ENV)
            if opts.private_cache and own:
                shutil.rmtree(own, ignore_errors=True)

    def _exec_with_private_cache(self, argv):
        """Replace this process by the same command with NUMBA_CACHE_DIR set to a new empty
        directory (removed by the new process when it ends).

        The cache location of every kernel is fixed when it is decorated, at import, and the study
        was imported before its options were read: only a new interpreter can start with the
        private cache. exec keeps the process id, so whoever started the run (regenerate, a shell,
        a kill) still holds the one process that computes.
        """
        cache = tempfile.mkdtemp(prefix=f"bpttlab-numba-{self.name}-")
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, PRIVATE_CACHE_ENV: cache}
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", f"bpttlab.studies.{self.name}", *argv], env)

    def _main(self, opts, argv):
        if opts.backend != "cpu":
            from bpttlab import kernels  # noqa: PLC0415 - the framework needs the kernels for this check only

            kernels.Network("rnn_tanh", 1, 1, backend=opts.backend)  # says what is missing before any configuration runs
        # Provenance first: the dirty flag describes the code that computes, not the outputs
        # this run is about to write.
        options = {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(opts).items())}
        for k in ("out", "results"):
            options[k] = relative(getattr(opts, k))
        prov = provenance(["python", "-m", f"bpttlab.studies.{self.name}", *argv], options, backend=opts.backend)
        prov["code_fingerprint"] = self.fingerprint()
        t0 = time.perf_counter()
        stats = {}
        results = self.run(opts, stats=stats)
        t1 = time.perf_counter()
        # Which code computed the results the report shows: one fingerprint, unless stored results
        # of older code were reused (run with --same-code, or --fresh, to exclude them).
        prov["results_code"] = stats["codes"]
        files = self.write_report(results, opts, prov)
        t2 = time.perf_counter()
        print(f"{self.name} ({opts.mode}): {len(results)} configurations ({stats['computed']} computed, "
              f"{stats['loaded']} loaded) in {t1 - t0:.1f} s, "
              f"report in {t2 - t1:.1f} s -> {relative(opts.out)}/ ({len(files)} files)", file=sys.stderr)
        return 0


def make_runner(opts):
    """The runner the options ask for: Dask when given a scheduler, else --runner."""
    if getattr(opts, "dask_scheduler", None):
        return DaskRunner(opts.dask_scheduler)
    if opts.runner == "processes":
        return ProcessRunner(getattr(opts, "workers", None), private_cache=getattr(opts, "private_cache", False))
    return RUNNERS[opts.runner]()


def int_at_least(lo, words):
    """An argparse type: an integer >= ``lo``, anything else refused with "got 'TEXT', expected
    WORDS" (argparse prefixes the flag to the message)."""

    def int_type(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo:
            raise argparse.ArgumentTypeError(f"got {text!r}, expected {words}")
        return value

    return int_type


positive_int = int_at_least(1, "a positive integer")  # --workers
non_negative_int = int_at_least(0, "a non-negative integer")  # --seed: NumPy's seeds are non-negative


def unwritable_directory(path):
    """Why ``path`` cannot be used as an output directory, or None when it can: it is a directory
    this process can write, or does not exist and its nearest existing ancestor is one."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            return "which is a file, not a directory"
        return None if os.access(path, os.W_OK | os.X_OK) else "a directory this user cannot write"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"which lies under {str(parent)!r}, a file, not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"which does not exist and cannot be created in {str(parent)!r} (not writable)"
    return None


def code_fingerprint(paths):
    """sha256 (first 16 hex digits) over the .py files under ``paths``, by path and content."""
    files = set()
    for p in paths:
        p = Path(p)
        files.update(p.rglob("*.py") if p.is_dir() else [p] if p.is_file() else [])
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: relative(f, SOURCE_ROOT)):
        h.update(relative(f, SOURCE_ROOT).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def mode_of(opts):
    """The size a study runs at: "full", "quick" or "tiny" (for option objects without a mode, too)."""
    return getattr(opts, "mode", None) or ("quick" if getattr(opts, "quick", False) else "full")
