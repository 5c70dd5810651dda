"""The CUDA backend's launch plans: pure functions checked at sizes no simulator could run,
plus a small simulator run of each path they choose.

- gemm_grid: M = T*B on grid.x, so no T*B fails at launch; column tiles past grid.y's 65535
  are strided over (checked in the simulator with the cap lowered to one tile);
- the persistent plan: its H limits per cell and dtype, and its fallback when a launch fails.
"""

import importlib.util

import numpy as np
import pytest

HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(not HAVE_NUMBA_CUDA, reason="needs numba-cuda")


@needs_numba_cuda
def test_gemm_grid_takes_any_m():
    from bpttlab.kernels._config import REAL_TILE
    from bpttlab.kernels.cuda._gemm import GRID_X_MAX, GRID_Y_MAX, gemm_grid

    BM, BN = REAL_TILE[0], REAL_TILE[1]
    # T*B = 4,194,241 was one row tile past grid.y's limit when M sat there.
    for M in (1, 4_194_240, 4_194_241, 10**9):
        gx, gy = gemm_grid(M, 2048, REAL_TILE)
        assert gx * BM >= M > (gx - 1) * BM and gx <= GRID_X_MAX
        assert gy == 2048 // BN
    gx, gy = gemm_grid(7, BN * 70_000 + 1, REAL_TILE)  # more column tiles than grid.y holds: strided
    assert gx == 1 and gy == GRID_Y_MAX
    with pytest.raises(ValueError, match="grid limit"):
        gemm_grid(BM * (GRID_X_MAX + 1), 8, REAL_TILE)


@needs_numba_cuda
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_gemm_strides_over_column_tiles(monkeypatch, ta, tb):
    """With grid.y capped at one column tile, each block walks all of them (simulator or GPU)."""
    import os

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
        from numba import cuda

        if not cuda.is_available():
            pytest.skip("needs a GPU or the CUDA simulator")
    from bpttlab.kernels.cuda import _gemm
    from numba import cuda

    monkeypatch.setattr(_gemm, "GRID_Y_MAX", 1)
    rng = np.random.default_rng(3)
    M, N, K = 19, 37, 11  # three column tiles of the simulator's 16, ragged
    a = rng.standard_normal((K, M) if ta else (M, K))
    b = rng.standard_normal((N, K) if tb else (K, N))
    c0 = rng.standard_normal((M, N))
    bias = rng.standard_normal(N)
    want = (a.T if ta else a) @ (b.T if tb else b) + c0 + bias
    c = cuda.to_device(c0)
    _gemm.gemm(cuda.to_device(a), cuda.to_device(b), c, ta, tb, accumulate=True, bias=cuda.to_device(bias))
    np.testing.assert_allclose(c.copy_to_host(), want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# the persistent plan
# --------------------------------------------------------------------------------------

def _tpb(n):
    return min(256, max(32, 1 << (max(n, 1) - 1).bit_length()))


@needs_numba_cuda
def test_plan_persistent_pure():
    from bpttlab.kernels.cuda.layer import plan_persistent

    col = 4 * 4 * 1000  # float32 LSTM, H = 1000: 16 KB per unit's column
    # One block (the simulator): W_hh must fit whole.
    assert plan_persistent(2, 8, 16, 0, 48 * 1024, lambda tpb, smem: 1, _tpb) == (1, 32, 2, 32)
    assert plan_persistent(1000, 8, col, 0, 48 * 1024, lambda tpb, smem: 1, _tpb) is None
    # Many blocks: the smallest slice whose grid fits, with the block size of that slice.
    seen = []

    def coop(tpb, smem):
        seen.append((tpb, smem))
        return 400

    assert plan_persistent(1000, 8, col, 0, 48 * 1024, coop, _tpb) == (334, 32, 3, 3 * col)
    assert seen[-1] == (32, 3 * col)  # the occupancy is asked for the real block size and memory
    # Static shared memory counts against the cap: 48 KB - 6 KB leaves room for 2 columns.
    assert plan_persistent(1000, 8, col, 6144, 48 * 1024, lambda tpb, smem: 1000, _tpb)[2] == 1
    assert plan_persistent(1000, 8, col, 6144, 48 * 1024, lambda tpb, smem: 400, _tpb) is None
    # An opt-in cap past 48 KB makes room for bigger slices.
    assert plan_persistent(1000, 8, col, 6144, 227 * 1024, lambda tpb, smem: 100, _tpb) == (100, 128, 10, 10 * col)
    # Batch blocking: a thread per (group of 4 rows, unit), so 10 units x 2 groups fit 32 threads.
    assert plan_persistent(1000, 8, col, 6144, 227 * 1024, lambda tpb, smem: 100, _tpb, rows=4) == (100, 32, 10,
                                                                                                    10 * col)


@needs_numba_cuda
def test_occupancy_model_and_h_limits():
    """The H100 occupancy model on known cases, and the H limits growing with the opt-in."""
    from bpttlab.kernels.cuda.layer import H100, occupancy_blocks, persistent_h_limit

    assert occupancy_blocks(H100, 32, 256, 0) == 8 * 132  # threads bound: 2048 / 256
    assert occupancy_blocks(H100, 128, 256, 0) == 2 * 132  # registers: 65536 / (128 * 256)
    assert occupancy_blocks(H100, 32, 32, 100 * 1024) == 2 * 132  # shared memory, 1 KB reserved per block
    lo = persistent_h_limit(4, 4, 64, 96, 0, opt_in=False, h_max=2000)
    hi = persistent_h_limit(4, 4, 64, 96, 0, opt_in=True, h_max=2000)
    assert 0 < lo <= hi


@needs_numba_cuda
def test_persistent_launch_error_falls_back(monkeypatch):
    """A launch the device refuses runs per step instead ("auto"), with a warning; True raises."""
    import os

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
        pytest.skip("runs in the CUDA simulator")
    from bpttlab import kernels
    from bpttlab.kernels.cuda import layer

    class CudaAPIError(Exception):  # the name numba-cuda's driver errors carry
        pass

    real = layer.gc.launch

    def launch(kernel, griddim, blockdim, args, sharedmem=0):
        if kernel.py_func.__name__ in ("fwd_persist", "bwd_persist"):
            raise CudaAPIError("CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE")
        return real(kernel, griddim, blockdim, args, sharedmem)

    monkeypatch.setattr(layer.gc, "launch", launch)
    monkeypatch.setattr(layer, "_UNAVAILABLE", [])
    rng = np.random.default_rng(5)
    cpu = kernels.Network("gru", 3, 4, 1, False, backend="cpu")
    gpu = kernels.Network("gru", 3, 4, 1, False, backend="cuda")
    p = cpu.init_params(seed=1)
    x = rng.standard_normal((3, 2, 3))
    dy = rng.standard_normal((3, 2, 4))
    with pytest.warns(UserWarning, match="persistent CUDA kernel unavailable"):
        fg = gpu.forward(p, x)
    fc = cpu.forward(p, x)
    np.testing.assert_allclose(fg.y, fc.y, rtol=1e-10, atol=1e-12)
    gg, gc_ = gpu.backward(fg.tape, dy), cpu.backward(fc.tape, dy)
    for k in gc_.params:
        np.testing.assert_allclose(gg.params[k], gc_.params[k], rtol=1e-10, atol=1e-12)
    assert layer._UNAVAILABLE
    monkeypatch.setattr(layer, "_UNAVAILABLE", [])
    gpu._impl.persistent = True
    with pytest.raises(CudaAPIError):
        gpu.forward(p, x)


# --------------------------------------------------------------------------------------
# the on-disk cache of the compiled kernels
# --------------------------------------------------------------------------------------

_CACHE_KEYS = """
import hashlib
import numba.cuda.dispatcher as dispatcher
from numba.cuda import types as T

class _Device:  # kernels are built, not compiled: no GPU needed
    compute_capability = (9, 0)

dispatcher.get_current_device = _Device
from bpttlab.kernels._config import REAL_TILE, SOURCE_DIGEST
from bpttlab.kernels.cuda import _common, _gemm, layer

class _Codegen:
    def magic_tuple(self):
        return ("sm_90",)

ks = [_common._fill1, _common._ew3, _common._transpose, _common._finish_norms, _common._slice_sumsq, _gemm._colsum]
for fam in ("rnn", "lstm", "gru"):
    ks += list(layer._step_kernels(fam))
    for dt in ("float32", "float64"):
        ks += list(layer._persistent_kernels(fam, dt))
for dt in ("float32", "float64"):
    ks.append(_gemm._gemm_kernel(dt, REAL_TILE))
keys = set()
for k in ks:
    assert k._cache is not None and SOURCE_DIGEST in k._cache._cache_path, k
    keys.add((k._cache._cache_path, k._cache._impl.filename_base, str(k._cache._index_key((T.float32,), _Codegen()))))
print(len(ks), len(keys), hashlib.sha256(repr(sorted(keys)).encode()).hexdigest())
"""


@needs_numba_cuda
def test_kernels_are_cached_under_distinct_stable_keys():
    """Every kernel caches in the source-digest directory; the closures' kernels (one per cell
    family, dtype and tile) get distinct cache keys, the same in every process."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    outs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", _CACHE_KEYS], env=env, cwd=root, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr[-4000:]
        outs.append(r.stdout.split())
    n, distinct, digest = outs[0]
    assert n == distinct == "26"
    assert outs[1][2] == digest


_SWAPPED = """
import numpy as np
from numba.cuda.cudadrv.devicearray import DeviceNDArray
from bpttlab.kernels.cuda import _common as gc

gpu_data = object()  # a stand-in for device memory: nothing is allocated or touched


def empty(shape, dtype):
    s = np.dtype(dtype).itemsize
    return DeviceNDArray(shape, (shape[1] * shape[2] * s, shape[2] * s, s), dtype, gpu_data=gpu_data)


gc.empty = empty
v = gc.swapped(3, 5, 7, np.float32)
print(v.shape, v.strides, v.gpu_data is gpu_data, v._numba_type_.layout)
"""


def test_swapped_view_of_a_device_array(run_without_simulator):
    """The real-GPU branch of _common.swapped (the simulator and compile-only mode take NumPy's
    transpose): a (slots, B, n) view of the (slots, n, B) buffer's memory, no copy."""
    out = run_without_simulator(_SWAPPED, timeout=120)[-1]
    assert out == "(3, 7, 5) (140, 4, 28) True A"
