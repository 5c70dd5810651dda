"""Sessions: `nox` runs the tests; `nox -s lint`, `nox -s studies -- NAME [--quick]`,
`nox -s reports` (every study's full report and the index; `-- --check`: the reproduction check),
`nox -s bench`."""

import ast
import os
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
TORCH = "torch==2.13.0"  # optional peer; the CPU build on the project's machines


def install(session, extras="test", torch=False):
    session.install("-e", f".[{extras}]")
    if torch:
        session.install(TORCH)


def study_names():
    """The studies' names, read from studies/regenerate.py's STUDIES without importing it (nox's own
    environment has none of the project's dependencies)."""
    tree = ast.parse((Path(__file__).parent / "studies" / "regenerate.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "STUDIES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("studies/regenerate.py defines no STUDIES")


def with_torch():
    return os.environ.get("BPTTLAB_TORCH") == "1"


@nox.session(python=PYTHON)
def tests(session):
    """The test suite (CPU kernels, the CUDA kernels in the simulator, studies' quick paths).

    PyTorch is installed when BPTTLAB_TORCH=1 (CI sets it) so the peer comparisons run;
    without it they skip. Extra arguments go to pytest.
    """
    install(session, "test,cuda", torch=with_torch())
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session):
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def studies(session):
    """Run one study: `nox -s studies -- gradient_decay --quick` (`-- NAME --tiny --backend cuda` with
    NUMBA_ENABLE_CUDASIM=1 runs it on the CUDA backend in Numba's simulator)."""
    if not session.posargs:
        session.error("name a study: nox -s studies -- NAME [options]")
    name, *rest = session.posargs
    names = study_names()
    if name not in names:
        session.error(f"study name: got {name!r}, expected one of {', '.join(names)}")
    install(session, "test,cuda" if "cuda" in rest else "test")
    session.run("python", "-m", f"bpttlab.studies.{name}", *rest)


@nox.session(python=PYTHON, default=False)
def reports(session):
    """Regenerate every study's full report and reports/README.md (slow).

    PyTorch is installed when BPTTLAB_TORCH=1, so the speed study measures it beside ours (without
    it the speed report shows our kernels only, and says so). Extra arguments go to
    `python -m bpttlab.studies.regenerate`: `nox -s reports -- --check` is the reproduction check
    (regenerates into build/reproduce/ and compares every table with the committed one).
    """
    install(session, "test", torch=with_torch())
    session.run("python", "-m", "bpttlab.studies.regenerate", *session.posargs)


@nox.session(python=PYTHON)
def bench(session):
    """The performance regression gate: the working tree's kernels against the reference commit's
    (bench/reference.json), both measured in this run on this machine; skipped when the kernel
    sources equal the reference's.

    `nox -s bench -- --reference HEAD --force --repeat 5` measures the noise of unchanged code;
    `nox -s bench -- --move-reference` accepts an intended speed change (then commit the file).
    """
    install(session, "test")
    session.run("python", "-m", "bench.regression", *session.posargs)


@nox.session(python=PYTHON, default=False)
def benchmarks(session):
    """The full pytest-benchmark grid (long): `nox -s benchmarks -- -k lstm`."""
    install(session, "test", torch=with_torch())
    session.run(
        "python", "-m", "pytest", "bench/test_benchmarks.py", "--benchmark-only",
        "--benchmark-columns=median,iqr,rounds", *session.posargs,
    )
