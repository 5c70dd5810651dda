"""Seeded inputs and input weights shared by the studies."""

import numpy as np


def config_rng(config, stream=0):
    """The generator of one configuration (``config["seed"]``, set by the sweep); ``stream``
    picks an independent sub-stream, so adding a draw to one stream leaves the others as they were."""
    return np.random.default_rng(np.random.SeedSequence(config["seed"], spawn_key=(stream,)))


def gaussian_drive(rng, T, input_size, sigma, batch=1):
    """x_t ~ N(0, sigma^2 I), i.i.d. over steps: (T, batch, input_size) float64."""
    return sigma * rng.standard_normal((T, batch, input_size))


def drive_and_start(rng, burn, T, H, sigma, cell_state, h0_std):
    """A burn-in drive (burn, 1, H), the drive (T, 1, H), both N(0, sigma^2), and an initial state
    N(0, h0_std^2) per unit (h, or (h, c) with ``cell_state``), drawn from rng in that order."""
    x_burn = gaussian_drive(rng, burn, H, sigma)
    x = gaussian_drive(rng, T, H, sigma)
    h0 = h0_std * rng.standard_normal((1, 1, H))
    return x_burn, x, ((h0, h0_std * rng.standard_normal((1, 1, H))) if cell_state else h0)


def orthogonal_blocks(rng, blocks, hidden_size, input_size):
    """W_ih for ``blocks`` gate blocks, each (H, I) with orthonormal rows (needs I >= H), Haar-random.

    With x ~ N(0, sigma^2 I) every unit's input term w_i . x is then exactly N(0, sigma^2) and
    independent across the units of a block, so the drive adds sigma^2 to each pre-activation's
    variance and nothing else: what the mean-field theory assumes.
    """
    if input_size < hidden_size:
        raise ValueError(f"orthogonal_blocks: input_size {input_size} < hidden_size {hidden_size}; rows cannot be orthonormal")
    out = []
    for _ in range(blocks):
        q, r = np.linalg.qr(rng.standard_normal((input_size, hidden_size)))
        out.append((q * np.sign(np.diag(r))).T)
    return np.concatenate(out)
