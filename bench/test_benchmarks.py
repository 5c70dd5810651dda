"""pytest-benchmark benchmarks of every cell's forward and forward+backward kernels.

    pytest bench/test_benchmarks.py --benchmark-only            # CPU grid (and CUDA with a GPU)
    pytest bench/test_benchmarks.py --benchmark-only -k deepbench
    pytest bench/test_benchmarks.py --benchmark-only -k launch_host_cost   # CUDA launch host cost, no GPU

Each records the cell, shape, dtype, backend and GFLOP/s (DeepBench's count: the recurrent
product; the input projection is given separately) in extra_info.
"""

import functools
import importlib.util
import os
import warnings

import numpy as np
import pytest
from bpttlab import kernels
from bpttlab.studies.speed.cases import make_case
from bpttlab.studies.speed.flops import flops

GRID = [  # (T, B, I, H), name
    ((100, 1, 64, 128), "small-b1"),
    ((64, 32, 32, 64), "small-b32"),
    ((100, 32, 128, 256), "mid"),
    ((1000, 16, 64, 128), "long"),
    ((100, 64, 512, 512), "fastrnns"),
    # DeepBench-style training shapes, scaled for a CPU.
    ((25, 64, 256, 256), "deepbench-lstm-t25"),
    ((150, 16, 256, 256), "deepbench-lstm-t150"),
    ((375, 32, 256, 256), "deepbench-gru-t375"),
]


def _gpu_present():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    try:
        from numba import cuda  # noqa: PLC0415

        return cuda.is_available()
    except Exception:  # numba-cuda missing or no driver
        return False


BACKENDS = ["cpu"] + (["cuda"] if _gpu_present() else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", ["forward", "forward_backward"])
@pytest.mark.parametrize("cell", kernels.CELLS)
@pytest.mark.parametrize("shape,name", GRID, ids=[g[1] for g in GRID])
def test_kernel(benchmark, cell, mode, dtype, backend, shape, name):
    T, B, I, H = shape
    if dtype == np.float64 and name not in ("small-b1", "mid"):
        pytest.skip("float64 is benchmarked at two shapes only")
    fn = make_case(cell, mode, T, B, I, H, dtype=dtype, backend=backend)
    fn()  # compile outside the timing
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
    rec, inp = flops(cell, mode, T, B, I, H)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(
        cell=cell, mode=mode, T=T, B=B, I=I, H=H, dtype=np.dtype(dtype).name, backend=backend,
        flops_recurrent=rec, flops_input_projection=inp,
        gflops=rec / median / 1e9, gflops_with_input=(rec + inp) / median / 1e9,
    )


# -- the CUDA backend's host cost per launch of its per-step loops ------------------------------

LAUNCH_T = 200  # launches per timed loop


@functools.cache
def _launch_stub():
    """bench/launch_stub.py's stubbed driver, installed once for this process (its stubs stay)."""
    from bench import launch_stub  # noqa: PLC0415

    return launch_stub.Recorder()


@pytest.mark.parametrize("path", ["numba-cuda", "prepared"])
@pytest.mark.parametrize("which", ["fwd", "bwd"])
def test_cuda_launch_host_cost(benchmark, which, path):
    """Host time of one launch of the per-step loop (LSTM, B=4, H=8: the launch cost, not the
    arrays'), through numba-cuda's launch path or the prepared one (kernels/cuda/_launch.py),
    with the driver's launch call stubbed (bench/launch_stub.py): no GPU, and none allowed, since
    the stubs replace numba-cuda's module loading for the whole process."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("the simulator launches no driver calls: unset NUMBA_ENABLE_CUDASIM")
    if not importlib.util.find_spec("numba_cuda"):
        pytest.skip("numba-cuda is not installed")
    if _gpu_present():
        pytest.skip("a GPU is present: the stubs would replace its module loading in this process")
    from numba import cuda  # noqa: PLC0415

    from bench import launch_stub  # noqa: PLC0415

    try:
        cuda.compile_ptx(lambda a: None, "void(float64[:])", cc=(9, 0))
    except Exception as e:
        pytest.skip(f"no NVVM to compile with: {type(e).__name__}")
    rec = _launch_stub()
    fn = launch_stub.loop_call(which, path == "prepared", LAUNCH_T)
    rec.record = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba-cuda's low-occupancy warning at this tiny grid
            fn()  # compile outside the timing
            benchmark.pedantic(fn, rounds=7, iterations=1, warmup_rounds=1)
    finally:
        rec.record = True
    benchmark.extra_info.update(kernel=f"{which}_step", path=path, launches=LAUNCH_T,
                                us_per_launch=benchmark.stats.stats.median / LAUNCH_T * 1e6)
