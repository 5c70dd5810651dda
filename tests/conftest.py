"""Test-wide setup.

The CUDA kernels run in Numba's CUDA simulator unless BPTTLAB_REAL_GPU=1: the variable
must be set before numba is first imported, which is why it happens here. Tests that compile
for a real GPU (no GPU needed, but not in the simulator) run their code in a subprocess without
it: the ``run_without_simulator`` fixture.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


def _run_without_simulator(code, timeout):
    """Run ``python -c code`` in the repository root, on PYTHONPATH, with
    NUMBA_ENABLE_CUDASIM unset; returns its stdout's lines. Skips the test without numba-cuda,
    or when the code's last line is "SKIP reason" (say, no CUDA toolkit to compile with)."""
    if not importlib.util.find_spec("numba_cuda"):
        pytest.skip("numba-cuda is not installed")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    lines = r.stdout.strip().splitlines()
    if lines and lines[-1].startswith("SKIP"):
        pytest.skip(lines[-1][5:])
    return lines


@pytest.fixture(scope="session")
def run_without_simulator():
    """``run_without_simulator(code, timeout)``: see _run_without_simulator."""
    return _run_without_simulator
