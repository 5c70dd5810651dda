"""The science the studies share: the cells' step and Jacobian equations (cell_equations) and
what is built on them (jvp: tangent propagation, Jacobians, Lyapunov spectra), mean-field
theory of random Elman networks, fitting of decay curves, and seeded inputs."""

from .fitting import fit_line, fit_rate
from .inputs import config_rng, gaussian_drive, orthogonal_blocks

__all__ = ["config_rng", "fit_line", "fit_rate", "gaussian_drive", "orthogonal_blocks"]
