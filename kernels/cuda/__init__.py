"""The CUDA backend: numba.cuda kernels on device arrays (or in Numba's CUDA simulator).

backend.py (the driver's interface) → layer.py (one layer-direction: per-step or persistent
launches) → rnn.py / lstm.py / gru.py (one hidden unit's step) → _gemm.py, _common.py (tiled
products; scalar helpers, reductions, allocation and launches). Importing this package does
not load numba.cuda; backend.py loads it once require_cuda() has checked that it can.
"""
