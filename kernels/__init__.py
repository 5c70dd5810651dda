"""bpttlab kernels: Numba-compiled recurrent cells, forward and backpropagation through time.

    import numpy as np, kernels
    net = kernels.Network("lstm", input_size=8, hidden_size=16, num_layers=2, bidirectional=True)
    params = net.init_params(seed=0, dtype=np.float32)
    fw = net.forward(params, x)               # fw.y, fw.state, fw.tape
    g = net.backward(fw.tape, dL_dy)          # g.params, g.x, g.state, g.norms_h, g.norms_c
    fw, g = net.tbptt(params, x, dL_dy, k1=10, k2=20)

Importing this package never needs a GPU; ``backend="cuda"`` loads the CUDA kernels.
"""

from ._memory import MemoryBudgetError
from .cells import CELLS, CellSpec, get_spec
from .network import BACKENDS, Network
from .params import RECURRENT_INITS, expected_shapes, init_params, param_key
from .results import Forward, Gradients, Tape

__all__ = [
    "BACKENDS",
    "CELLS",
    "CellSpec",
    "Forward",
    "Gradients",
    "MemoryBudgetError",
    "Network",
    "RECURRENT_INITS",
    "Tape",
    "expected_shapes",
    "get_spec",
    "init_params",
    "param_key",
]
