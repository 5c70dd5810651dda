"""What forward and backward return."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Tape:
    """Everything the backward pass needs, kept by a training-mode forward pass.

    It refers to the parameter arrays it was made with: do not modify them in place
    between the forward and the backward pass.
    """

    cell: str
    T: int
    B: int
    num_layers: int
    directions: int
    hidden_size: int
    input_size: int
    dtype: np.dtype
    params: dict  # the parameter arrays, as the backend holds them (device arrays on the GPU)
    layers: list = field(repr=False)  # [layer][direction] -> LayerTape (kernels/_backend.py)
    prepared: list = field(repr=False)  # [layer][direction] -> the backend's LayerParams
    backend: str = "cpu"

    @property
    def nbytes(self) -> int:
        """Bytes held by the tape's own buffers (the per-step activations and states)."""
        seen, total = set(), 0
        for row in self.layers:
            for t in row:
                for a in t:
                    if hasattr(a, "nbytes") and id(a) not in seen:
                        seen.add(id(a))
                        total += a.nbytes
        return total


@dataclass
class Forward:
    y: object  # (T, B, D*H)
    state: object  # h, or (h, c) for LSTM cells: (L*D, B, H) each
    tape: Tape | None  # None in inference mode


@dataclass
class Gradients:
    params: dict | None  # dL/dθ, keyed like the parameters (None with log_norms=True)
    x: object  # dL/dx (T, B, I)
    state: object  # dL/d(initial state), structured like the state
    norms_h: np.ndarray  # (L*D, T): ‖dL/dh_t‖ (log‖dL/dh_t‖ with log_norms=True)
    norms_c: np.ndarray | None  # (L*D, T) for LSTM cells, else None
