"""The CPU backend: Numba-compiled kernels on NumPy arrays.

backend.py (the driver's interface) → layer.py (one layer-direction) → _par.py (the parallel
regions) → rnn.py / lstm.py / gru.py (the time loops) → _gemm.py, _common.py, _simd.py,
_atomic.py (products, scalar math, LLVM intrinsics); _jit.py compiles them all.
"""
