"""FLOP counts as DeepBench states them.

The recurrent product is 2·G·H²·B·T per direction and layer for the forward pass (G = 4 for
LSTM, 3 for GRU, 1 for RNN); the input projection, 2·G·H·I·B·T, is counted separately. A
training step (forward + backward) is counted as three forward passes: the backward pass does
two products of the forward's size (dL/dh through W_hh and dL/dW_hh).
"""

from bpttlab.kernels import get_spec


def recurrent_flops(cell, T, B, H, directions=1, layers=1):
    return 2 * get_spec(cell).gates * H * H * B * T * directions * layers


def input_flops(cell, T, B, I, H, directions=1):
    return 2 * get_spec(cell).gates * H * I * B * T * directions


def flops(cell, mode, T, B, I, H):
    """(recurrent, input projection) FLOPs of one call in mode "forward" or "forward_backward"."""
    factor = 3 if mode == "forward_backward" else 1
    return factor * recurrent_flops(cell, T, B, H), factor * input_flops(cell, T, B, I, H)
