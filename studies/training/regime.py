"""The dynamical regime of a network as it starts training, measured, not read off its gain.

A value of g says little on its own: whether W_hh ~ N(0, g^2/H) contracts or expands depends on
the cell, the input's variance and the biases (g = 2 contracts every gated cell, and a driven
tanh network's edge of chaos is past g = 1.6). So the regime is labelled by the largest Lyapunov
exponent lambda_1 of the initialized network, driven by its task's own inputs, measured with the
gradient-decay machinery (studies.science.jvp: tangent propagation with renormalization, float64).
"""

import math

import numpy as np

from ..science import batch_se
from ..science.jvp import CellDynamics

REGIMES = ("contracting", "critical", "expanding")
Z = 2.0  # how many standard errors lambda_1 must clear a boundary by


def regime_of(lambda1, se, T):
    """The rule, fixed before any measurement: over the task's T steps a gradient changes by about
    exp(lambda_1 T), so a network is *critical* for the task when |lambda_1| T <= 1 (less than a
    factor e over the whole sequence), *contracting* when (lambda_1 + Z se) T < -1 and *expanding*
    when (lambda_1 - Z se) T > 1; a lambda_1 whose interval straddles a boundary is critical too."""
    if not (math.isfinite(lambda1) and T >= 1):
        return "unknown"
    if (lambda1 + Z * se) * T < -1:
        return "contracting"
    if (lambda1 - Z * se) * T > 1:
        return "expanding"
    return "critical"


def initial_lambda1(net, params, gen, sequences=20, skip=100, seed=0):
    """lambda_1 (per step) and its batch-means SE for layer 0 of ``net`` with ``params``, driven by
    ``sequences`` of the task's sequences (gen(B, rng)) laid end to end, from the zero state; the
    first ``skip`` steps, while the tangent vector aligns, are left out."""
    x = gen(sequences, np.random.default_rng([seed, 6])).x  # (T, sequences, I)
    return lambda1_along(net, params, x, skip, seed)


def lambda1_along(net, params, x, skip=100, seed=0, restart=False):
    """lambda_1 and its SE along the drive x (T, B, I).

    By default the B sequences are laid end to end (one trajectory, the state carried; SE by batch
    means). With ``restart`` each sequence starts from the zero state, as the sequences of a batch
    do in the kernels, its first ``skip`` steps left out; lambda_1 is the mean over sequences and its
    SE their spread / sqrt(B): the choice for a network whose state grows without bound, which a
    trajectory of B x T steps would carry past float64's range."""
    if net.num_layers != 1 or net.directions != 1:
        raise ValueError(f"net: got {net.num_layers} layers x {net.directions} directions, expected one "
                         "unidirectional layer (the regime is of a single recurrent map)")
    dyn = CellDynamics(net.cell, {k: np.asarray(v, np.float64) for k, v in params.items()})
    if restart:
        T, B = x.shape[:2]
        if not 0 <= skip < T:
            raise ValueError(f"skip: got {skip}, expected 0 <= skip < T = {T} with restart=True")
        lams = np.array([dyn.lyapunov(dyn.project(x[:, b, :]), np.zeros(dyn.state_size), 1, seed=seed,
                                      skip=skip)[0][0] for b in range(B)])
        return float(lams.mean()), float(lams.std(ddof=1) / math.sqrt(B)) if B > 1 else math.nan
    drive = np.concatenate([x[:, b, :] for b in range(x.shape[1])])  # one long drive (T * B, I)
    skip = min(skip, drive.shape[0] // 4)
    _, logs = dyn.lyapunov(dyn.project(drive), np.zeros(dyn.state_size), 1, seed=seed, skip=skip)
    kept = logs[skip:, 0]
    return float(kept.mean()), batch_se(kept)
