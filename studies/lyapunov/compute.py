"""One network's full Lyapunov spectrum: the trajectory from the kernels' forward pass (on the
chosen backend), the tangent dynamics and the QR steps in float64 on the CPU (spectra.py)."""

import math
import time

import numpy as np

from ..science import batch_se, config_rng, drive_and_start
from ..science.networks import random_network
from .configs import BLOCKS, H0_STD
from .spectra import entropy_rate, ky_dimension, tangent_logs


def make_network(config):
    """W_hh Gaussian N(0, g^2/H) in every gate block, W_ih one orthonormal-row block per gate (each
    unit's drive exactly N(0, input_variance)), every bias 0: science.networks.random_network."""
    return random_network(config)


def _host(a):
    return np.asarray(a.copy_to_host() if hasattr(a, "copy_to_host") else a, dtype=np.float64)


def trajectory(net, params, x, state0):
    """The states s_0 .. s_T (T+1, S) of the kernels' training forward over x (T, 1, I) from state0:
    h, or [h; c] for the LSTM, read from the tape (rows 0..T of the forward direction)."""
    fw = net.forward(params, x, state0, training=True)
    lt = fw.tape.layers[0][0]
    hs = _host(lt.hs)[:, 0, :]
    if net.spec.has_cell_state:
        return np.concatenate([hs, _host(lt.cs)[:, 0, :]], axis=1)
    return hs


def compute(config):
    t_start = time.perf_counter()
    cell, H = config["cell"], config["H"]
    skip, steps = config["skip"], config["steps"]
    T = skip + steps
    net, params = make_network(config)
    x_burn, x, state0 = drive_and_start(config_rng(config, 2), config["burn"], T, H,
                                        math.sqrt(config["input_variance"]), net.spec.has_cell_state, H0_STD)
    start = net.forward(params, x_burn, state0, training=False).state
    states = trajectory(net, params, x, start)
    t_traj = time.perf_counter()

    xps = x[:, 0, :] @ params["weight_ih_l0"].T + params["bias_ih_l0"]
    logs, logdet_d, dev = tangent_logs(cell, params, xps, states, seed=int(config["seed"] % (2**32)))
    t_tan = time.perf_counter()

    kept = logs[skip:]
    lam = kept.mean(axis=0)  # QR order: decreasing in expectation
    lam_sorted = np.sort(lam)[::-1]
    S = lam.size
    res = {
        "exponents": lam_sorted,
        "state_size": S,
        "lambda_max": float(lam_sorted[0]),
        "lambda_max_qr_column1": float(lam[0]),
        "mean_exponent": float(lam.mean()),
        "ky_dimension": ky_dimension(lam),
        "entropy_rate": entropy_rate(lam),
        "unstable_count": int(np.sum(lam > 0)),
        "lambda_min": float(lam_sorted[-1]),
        # within-run (finite-time) standard errors by batch means: diagnostics, not the ensemble error
        "lambda_max_se_run": batch_se(kept[:, 0], BLOCKS, min_per_block=2),
        "mean_exponent_se_run": batch_se(kept.sum(axis=1) / S, BLOCKS, min_per_block=2),
        "max_trajectory_deviation": dev,
        "max_abs_state": float(np.max(np.abs(states))),
        "seconds_trajectory": t_traj - t_start,
        "seconds_tangent": t_tan - t_traj,
        "ms_per_step": 1e3 * (t_tan - t_traj) / T,
    }
    if logdet_d is not None:
        # The identity: sum of exponents = time average of ln|det J_t| = ln|det W| + sum_i ln phi'(a_t,i),
        # computed from the pre-activations and W's LU, not from the QR's R.
        sign, logdet_w = np.linalg.slogdet(params["weight_hh_l0"])
        res["logdet_w"] = float(logdet_w)
        res["mean_log_phi_prime"] = float(logdet_d[skip:].mean() / H)
        res["mean_logdet_j"] = float(logdet_w + logdet_d[skip:].mean())
        res["sum_exponents"] = float(kept.sum(axis=1).mean())
        # pre-activation variance (mean-field's q), every 5th step of the kept window
        idx = np.arange(skip, T, 5)
        a = states[idx] @ params["weight_hh_l0"].T + xps[idx]
        res["q_meas"] = float(np.mean(a * a))
    res["seconds_total"] = time.perf_counter() - t_start
    return res
