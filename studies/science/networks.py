"""The random networks the science studies measure: one layer, W_hh from kernels' initializer,
W_ih one orthonormal-row (H, H) block per gate (so x ~ N(0, sigma^2 I) drives every pre-activation
with exactly N(0, sigma^2)), every bias 0 except an LSTM's forget-gate bias."""

import numpy as np
from bpttlab import kernels

from .inputs import config_rng, orthogonal_blocks


def random_network(config, recurrent="gaussian", forget_bias=None):
    """(kernels.Network, float64 params) for config's cell, H, g and seed (and backend, default cpu):
    W_hh ``recurrent`` (gaussian N(0, g^2/H) blocks, g times Haar orthogonal, or the identity); W_ih
    from config_rng(config, 1)."""
    cell, H = config["cell"], config["H"]
    spec = kernels.get_spec(cell)
    net = kernels.Network(cell, H, H, backend=config.get("backend", "cpu"))
    params = net.init_params(seed=config["seed"], dtype=np.float64, recurrent=recurrent, gain=config["g"],
                             forget_bias=forget_bias)
    for k in params:
        if k.startswith("bias"):
            params[k][:] = 0.0
    if forget_bias is not None:
        f = spec.gate_names.index("f")
        params["bias_ih_l0"][f * H : (f + 1) * H] = forget_bias
    params["weight_ih_l0"] = orthogonal_blocks(config_rng(config, 1), spec.gates, H, H)
    return net, params
