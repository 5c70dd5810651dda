"""What each recurrent cell is: its gate layout and which parameters it owns.

The equations are in docs/conventions.md; the kernels that run them are in
``cpu/rnn.py``, ``cpu/lstm.py`` and ``cpu/gru.py`` (and their ``cuda/`` twins of the same names).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class CellSpec:
    name: str
    family: str  # "rnn", "lstm" or "gru": which kernel module runs it
    gates: int  # G: row blocks in weight_ih / weight_hh
    gate_names: tuple[str, ...]
    has_cell_state: bool  # carries c besides h (state is a tuple (h, c))
    peephole: bool = False
    variant: int = 0  # kernel-specific switch, see the kernel module

    @property
    def extra_keys(self) -> tuple[str, ...]:
        return ("weight_peephole",) if self.peephole else ()


# Kernel variant codes, shared by the CPU and GPU kernels.
RNN_TANH, RNN_RELU = 0, 1
LSTM_PLAIN, LSTM_PEEPHOLE, LSTM_CIFG = 0, 1, 2
GRU_RESET_AFTER, GRU_RESET_BEFORE = 0, 1

SPECS = {
    s.name: s
    for s in (
        CellSpec("rnn_tanh", "rnn", 1, ("a",), False, variant=RNN_TANH),
        CellSpec("rnn_relu", "rnn", 1, ("a",), False, variant=RNN_RELU),
        CellSpec("lstm", "lstm", 4, ("i", "f", "g", "o"), True, variant=LSTM_PLAIN),
        CellSpec(
            "lstm_peephole", "lstm", 4, ("i", "f", "g", "o"), True, peephole=True, variant=LSTM_PEEPHOLE
        ),
        CellSpec("lstm_cifg", "lstm", 3, ("f", "g", "o"), True, variant=LSTM_CIFG),
        CellSpec("gru", "gru", 3, ("r", "z", "n"), False, variant=GRU_RESET_AFTER),
        CellSpec("gru_cho", "gru", 3, ("r", "z", "n"), False, variant=GRU_RESET_BEFORE),
    )
}

CELLS = tuple(SPECS)


def get_spec(cell) -> CellSpec:
    if not isinstance(cell, str) or cell not in SPECS:
        raise ValueError(f"cell: got {cell!r}, expected one of {', '.join(CELLS)}")
    return SPECS[cell]
