"""The timed calls of our kernels: one place that turns (cell, mode, shape, backend) into a function.

``make_case`` is also what bench/ (the regression gate, the pytest-benchmark grid) times."""

import numpy as np
from bpttlab import kernels


def make_case(cell, mode, T, B, I, H, dtype=np.float32, backend="cpu", seed=0):
    """A zero-argument function running one forward or forward+backward call."""
    net = kernels.Network(cell, I, H, backend=backend)
    params = net.init_params(seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    if mode == "forward":
        return lambda: net.forward(params, x, training=False)
    if mode == "forward_backward":

        def step():
            fw = net.forward(params, x)
            return net.backward(fw.tape, dy)

        return step
    raise ValueError(f"mode: got {mode!r}, expected 'forward' or 'forward_backward'")
