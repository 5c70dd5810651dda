"""The clipping study's Study object (see the package docstring)."""

from ..framework import Study, Tol
from . import __doc__ as DESCRIPTION
from .design import compute, configs
from .report import report

STUDY = Study(
    name="clipping",
    title="Gradient clipping: does it let SGD learn? Pascanu et al.'s claims, pre-registered and tested",
    version=2,
    configs=configs,
    compute=compute,
    report=report,
    description=DESCRIPTION,
    quick_seconds=90.0,
    code=("studies/training",),
    # Deterministic on one machine; on another CPU training runs from last-digit-different gradients
    # (a first bound, to be calibrated with `regenerate --compare` on reports of two machines).
    reproduce={"*": {"*": Tol(other_cpu_rtol=1e-6, other_cpu_atol=1e-9)}},
)
