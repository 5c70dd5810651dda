"""One configuration's measurements: the gradient-norm curve from the kernels' backward pass and
lambda_1 from Jacobian-vector products (with, for the Elman cells, the bound and statistics the
theory is compared with); lambda_1 alone for the finite-size runs; the fate of an undriven ReLU
network's state; spectral radii of sampled Gaussian matrices."""

import math

import numpy as np
from bpttlab import kernels

from ..science import batch_se, config_rng, drive_and_start, fit_rate
from ..science import meanfield as mf
from ..science.jvp import CellDynamics
from ..science.networks import random_network
from .configs import ELMAN, H0_STD, PASCANU_SLACK


def make_params(config):
    """The network of a setting: science.networks.random_network with the setting's W_hh
    initialization and forget-gate bias."""
    return random_network(config, config["init"], config["forget_bias"])


def compute(config):
    kind = config["kind"]
    if kind == "ginibre":
        return compute_ginibre(config)
    if kind == "lyap":
        return compute_lyap(config)
    if kind == "relu_free":
        return compute_relu_free(config)
    return compute_curve(config)


def _drive_and_start(config, spec, H):
    rng = config_rng(config, 2)
    sigma = config["sigma_x"] if config["input"] else 0.0
    return (rng, *drive_and_start(rng, config["burn"], config["T"], H, sigma, spec.has_cell_state, H0_STD))


def compute_lyap(config):
    """lambda_1 alone (one tangent vector renormalized every step) after a burn-in of the state:
    the finite-size runs, where H reaches 2000 and nothing else is needed."""
    cell, H = config["cell"], config["H"]
    spec = kernels.get_spec(cell)
    _, params = make_params({**config, "backend": "cpu"})
    _, x_burn, x, state0 = _drive_and_start(config, spec, H)
    dyn = CellDynamics(cell, params)
    s, _, _, _ = dyn.run(dyn.project(x_burn[:, 0, :]), dyn.state_vector(state0))
    exps, logs = dyn.lyapunov(dyn.project(x[:, 0, :]), s, 1, seed=config["seed"], skip=config["lyap_skip"])
    return {"lyap1": float(exps[0]), "lyap1_stderr": batch_se(logs[config["lyap_skip"]:, 0])}


def compute_relu_free(config):
    """An undriven Gaussian ReLU network, h_t = relu(W h_(t-1)). The map is positively homogeneous,
    so the direction of h_t does not depend on its scale: iterating the direction and adding up
    the log of each step's norm gives log||h_t|| exactly, past where float64 itself would have
    underflowed to the dead state h = 0 or overflowed. Returns log||h_t|| (t = 0..T) and the
    steps at which the kernels' float64 state leaves the normal range."""
    _, params = make_params({**config, "sigma_x": 0.0, "backend": "cpu"})
    W = params["weight_hh_l0"]
    rng = config_rng(config, 2)
    h = H0_STD * rng.standard_normal(config["H"])
    logn = np.empty(config["T"] + 1)
    acc = math.log(np.linalg.norm(h))
    h /= np.linalg.norm(h)
    logn[0] = acc
    for t in range(1, config["T"] + 1):
        h = np.maximum(W @ h, 0.0)
        n = float(np.linalg.norm(h))
        if n == 0.0:  # every unit off: exactly dead, whatever the scale
            logn[t:] = -math.inf
            break
        acc += math.log(n)
        h /= n
        logn[t] = acc
    fin = np.isfinite(logn)
    rate = fit_rate(logn[fin], config["T"] // 4)["rate"] if fin.sum() > config["T"] // 2 else -math.inf
    return {"log_norm_h": logn, "state_rate": float(rate), "dead_exactly": bool(not fin.all())}


def compute_ginibre(config):
    """ln(rho(W)) for W with N(0, 1/H) entries: the finite-H excess of the spectral radius over
    its H -> infinity value 1 (times g: rho(gW) = g rho(W))."""
    rng = config_rng(config)
    H = config["H"]
    logs = np.array([math.log(np.max(np.abs(np.linalg.eigvals(rng.standard_normal((H, H)) / math.sqrt(H)))))
                     for _ in range(config["samples"])])
    return {"log_rho": logs}


def compute_curve(config):
    cell, H, T = config["cell"], config["H"], config["T"]
    spec = kernels.get_spec(cell)
    net, params = make_params(config)
    rng, x_burn, x, state0 = _drive_and_start(config, spec, H)
    u = rng.standard_normal(H)
    u /= np.linalg.norm(u)

    start = net.forward(params, x_burn, state0, training=False).state
    fw = net.forward(params, x, start, training=True)
    dy = np.zeros((T, 1, H))
    dy[T - 1, 0] = u
    grads = net.backward(fw.tape, dy, log_norms=True)
    log_h = grads.norms_h[0, ::-1].copy()  # index d = T-1-t: distance from the loss
    res = {"log_h": log_h}
    fit = fit_rate(log_h, config["fit_lo"])
    late = fit_rate(log_h, (T + config["fit_lo"]) // 2)
    res.update(rate=fit["rate"], rate_stderr=fit["stderr"], rate_r2=fit["r2"], fit_lo=fit["lo"], fit_hi=fit["hi"],
               timescale=fit["timescale"], rate_late=late["rate"], vanished=bool(np.isneginf(log_h).any()))

    dyn = CellDynamics(cell, params)
    xps = dyn.project(x[:, 0, :])
    s_start = dyn.state_vector(start)
    exps, logs = dyn.lyapunov(xps, s_start, 1, seed=config["seed"], skip=config["lyap_skip"])
    res.update(lyap1=float(exps[0]), lyap1_stderr=batch_se(logs[config["lyap_skip"]:, 0]))

    y = fw.y[:, 0, :]
    res["max_abs_h"] = float(np.max(np.abs(y)))
    if not config["input"]:
        # The zero state is a fixed point of every cell when the drive and the biases (forget
        # bias aside) are 0; when the trajectory sits there, J_t = J* every step and the rate is
        # exactly ln rho(J*) in the limit of long distances.
        J0 = dyn.jacobian(np.zeros(dyn.state_size), dyn.project(np.zeros((1, H)))[0])
        rho = float(np.max(np.abs(np.linalg.eigvals(J0))))
        res.update(log_rho_J0=math.log(rho) if rho > 0 else -math.inf, at_zero=bool(res["max_abs_h"] < 1e-6))
    if cell in ELMAN:
        W = params["weight_hh_l0"]
        smax = float(np.linalg.norm(W, 2))
        res.update(sigma_max=smax, log_rho_W=float(np.log(np.max(np.abs(np.linalg.eigvals(W))))))
        # Pascanu, Mikolov & Bengio 2013: dL/dh_{t-1} = W^T diag(phi'(a_t)) dL/dh_t with |phi'| <= gamma = 1
        # (tanh and ReLU), so every step can grow log||dL/dh|| by at most ln sigma_max(W_hh).
        bound = math.log(smax)
        fin = np.isfinite(log_h)
        steps = np.diff(log_h)
        ok = fin[1:] & fin[:-1]
        slack = PASCANU_SLACK * (1.0 + np.abs(log_h[1:]))
        step_excess = np.where(ok, steps - bound, -np.inf)
        path_excess = np.where(fin, log_h - log_h[0] - bound * np.arange(T), -np.inf)
        res.update(pascanu_rate=bound, pascanu_max_step_excess=float(step_excess.max()),
                   pascanu_max_path_excess=float(path_excess[1:].max()),
                   pascanu_violations=int(np.sum(step_excess > slack) + np.sum(path_excess[1:] > slack * np.arange(1, T))))
        # Pre-activation statistics for the mean-field comparison (every 5th step is plenty).
        idx = np.arange(0, T, 5)
        h_prev = np.concatenate([np.ravel(start)[None], y[:-1]])[idx]
        a = h_prev @ W.T + x[idx, 0, :] @ params["weight_ih_l0"].T
        res["q_meas"] = float(np.mean(a * a))
        if cell == "rnn_tanh":
            dphi2 = mf.sech2(a) ** 2
        else:
            dphi2 = (a > 0).astype(np.float64)
        res["chi_meas"] = float(config["g"] ** 2 * np.mean(dphi2))
        res["frac_active"] = float(np.mean(a > 0))
    return res
