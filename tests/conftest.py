"""Test-wide setup.

The CUDA kernels run in Numba's CUDA simulator unless BPTTLAB_REAL_GPU=1: the variable
must be set before numba is first imported, which is why it happens here.
"""

import os

if os.environ.get("BPTTLAB_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


def _serialize_simulator_shared_arrays():
    """Numba's CUDA simulator makes a block's shared array on the first call at each source line
    with an unlocked check-then-set on a dict (``FakeCUDAShared.array``). Two simulated threads can
    both find no array there and each make its own; the block's threads then no longer share that
    memory and a shared-memory reduction returns garbage. Seen here as 1e-2 errors in the CUDA
    backend's per-step norms (a different LSTM test failing in about half of the full runs). The
    same allocation, under a lock; the key is the caller's (file, line), as the simulator's own."""
    import sys  # noqa: PLC0415
    import threading  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    try:
        from numba.core import types  # noqa: PLC0415
        from numba.cuda.simulator import kernelapi  # noqa: PLC0415
        from numba.np import numpy_support  # noqa: PLC0415
    except ImportError:  # no numba-cuda: the CUDA tests skip
        return
    original = kernelapi.FakeCUDAShared.array
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory, or the simulator's own error
            return original(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with lock:
            res = self._allocations.get(caller)
            if res is None:
                res = self._allocations[caller] = np.empty(shape, dtype)
        return res

    kernelapi.FakeCUDAShared.array = array


if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    _serialize_simulator_shared_arrays()
