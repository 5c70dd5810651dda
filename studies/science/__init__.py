"""The science the studies share: the cells' step and Jacobian equations (cell_equations) and
what is built on them (jvp: tangent propagation, Jacobians, Lyapunov spectra), mean-field
theory of random Elman networks, fitting of decay curves, seeded inputs and the random networks (networks) the studies measure."""

from .fitting import batch_se, fit_line, fit_rate
from .inputs import config_rng, drive_and_start, gaussian_drive, orthogonal_blocks

__all__ = ["batch_se", "config_rng", "drive_and_start", "fit_line", "fit_rate", "gaussian_drive", "orthogonal_blocks"]
