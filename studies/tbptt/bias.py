"""The bias of the truncated gradient: TBPTT(1, k2) against full BPTT on one random network, with the
network's regime measured (lambda_1 along the same drive) and the per-step decay of ||dL/dh_t||."""

import numpy as np
from bpttlab import kernels

from ..science import config_rng, fit_rate
from ..training.regime import lambda1_along, regime_of


def flat_grad(g):
    return np.concatenate([g.params[k].ravel() for k in sorted(g.params)])


def compute_bias(c):
    rng = config_rng(c)
    T, H, B = c["T"], c["H"], c["B"]
    net = kernels.Network(c["cell"], H, H, backend=c.get("backend", "cpu"))
    params = net.init_params(seed=int(rng.integers(2**31)), recurrent="gaussian", gain=c["gain"])
    x = rng.standard_normal((T, B, H))
    dy = rng.standard_normal((T, B, H))  # a loss at every step
    tape = net.forward(params, x).tape
    full = flat_grad(net.backward(tape, dy))
    cos, rel = [], []
    for k2 in c["k2"]:
        g = flat_grad(net.backward_truncated(tape, dy, 1, min(k2, T)))
        cos.append(float(g @ full / (np.linalg.norm(g) * np.linalg.norm(full))))
        rel.append(float(np.linalg.norm(g - full) / np.linalg.norm(full)))
    # The per-step decay of ||dL/dh_t|| for a loss at the last step, on the same network and input.
    last = np.zeros_like(dy)
    last[-1] = rng.standard_normal((B, H))
    logn = net.backward(tape, last, log_norms=True).norms_h[0][::-1]  # by distance from the end
    fit = fit_rate(logn, lo=min(10, T // 4), hi=T // 2)
    # The regime, measured: lambda_1 of the forward map along the same B sequences, each from the zero
    # state as in the forward pass above (end to end, a ReLU network at g = 2 would overflow float64).
    host = {k: np.asarray(v.copy_to_host() if hasattr(v, "copy_to_host") else v) for k, v in params.items()}
    lam, lam_se = lambda1_along(net, host, x, skip=min(100, T // 3), restart=True)
    return {"k2": np.array(c["k2"]), "cos": np.array(cos), "relerr": np.array(rel), "rate": fit["rate"],
            "rate_stderr": fit["stderr"], "log_norm": logn, "lambda1": lam, "lambda1_se": lam_se,
            "regime": regime_of(lam, lam_se, T)}
