"""Speed: our kernels' throughput, against PyTorch's in the same process.

    python -m bpttlab.studies.speed [--quick] [--backend cuda]   # the study: GRU vs LSTM vs RNN over a grid of shapes
    python -m bpttlab.studies.speed.cpu_vs_torch [--accuracy]     # the race against PyTorch at five shapes, with goals
    python -m bpttlab.studies.speed.cuda_vs_cudnn [--dry-run]     # the race against cuDNN on a GPU

Modules: grid (the study), cpu_vs_torch and cuda_vs_cudnn (the races), harness (the timing all
of them use), cases (the timed calls of our kernels), flops (DeepBench's operation counts).

Nothing is imported here: the races set the BLAS's environment before NumPy loads, and the study
imports PyTorch before the kernels (see grid.py). ``studies.speed.STUDY`` (and the study's
other names) load grid.py on first use.
"""


STUDY_NAMES = {"STUDY", "CELLS", "CENTER", "MODES", "EXPECTED_GRU_LSTM", "configs", "compute", "frame", "report",
               "sizes", "gru_lstm_summary"}


def __getattr__(name):
    if name not in STUDY_NAMES:  # submodules (cpu_vs_torch, ...) are imported as usual, without grid.py
        raise AttributeError(f"module 'bpttlab.studies.speed' has no attribute {name!r}")
    from . import grid  # noqa: PLC0415 - see the docstring

    return getattr(grid, name)
