"""The persistent kernels with several blocks, emulated in Numba's CUDA simulator.

The simulator runs a cooperative grid as one block (grid.sync() is a block barrier), so the
other tests never see two blocks of a persistent kernel exchange data through global memory.
Here the simulator is patched for the length of a test: the blocks of a launch run at the
same time, each with its own shared memory, and grid.sync() is a barrier over every thread of
the grid. The persistent plan is forced to split H over several blocks. The results must
equal the CPU's; with the grid barrier removed (a block barrier only) they must not, which
shows the emulation can see a missing barrier.
"""

import os
import sys
import threading
import traceback

import numpy as np
import pytest
from bpttlab import kernels
from bpttlab.kernels import CELLS

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"), reason="emulates blocks in Numba's CUDA simulator"
)

T, B, I, H = 4, 2, 3, 5
NBLOCKS = 3  # slices of 2, 2 and 1 units


@pytest.fixture
def multiblock(monkeypatch):
    """Patch the simulator to run a launch's blocks concurrently; yields a dict whose "grid_sync"
    entry (True) can be set to False to make grid.sync() a block barrier only."""
    from numba.cuda.simulator import kernel as simkernel
    from numba.cuda.simulator import kernelapi

    state = {"grid_sync": True, "barrier": None, "launches": 0}
    real_manager = simkernel.BlockManager
    pending = []

    class ConcurrentBlocks:
        def __init__(self, f, grid_dim, block_dim, debug):
            self.args = (f, grid_dim, block_dim, debug)
            self.nblocks = int(np.prod(grid_dim))
            self.nthreads = int(np.prod(block_dim))

        def run(self, grid_point, *args):
            pending.append((grid_point, args))
            if len(pending) < self.nblocks:
                return  # the launch's last block starts them all
            state["launches"] += self.nblocks > 1
            state["barrier"] = threading.Barrier(self.nblocks * self.nthreads, timeout=120)
            errors = []

            def block(gp, a):
                try:
                    real_manager(*self.args).run(gp, *a)
                except BaseException as e:  # noqa: BLE001 - re-raised below, in the launching thread
                    errors.append(e)
                    state["barrier"].abort()

            threads = [threading.Thread(target=block, args=p) for p in pending]
            pending.clear()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]

    def grid_sync(self):
        th = threading.current_thread()
        th.syncthreads()  # the block's own barrier, as a block-level sync would be
        if state["grid_sync"]:
            state["barrier"].wait()

    from numba.np import numpy_support

    lock = threading.Lock()

    def as_dtype(dtype):
        return numpy_support.as_dtype(dtype) if hasattr(dtype, "key") else np.dtype(dtype)

    def per_block_shared(self, shape, dtype, alignment=None):
        """Each block its own shared memory (static arrays by source line, and the dynamic one)."""
        blk = tuple(threading.current_thread().blockIdx)
        if shape == 0:
            key = (blk, "dynamic")
            with lock:
                buf = self._allocations.get(key)
                if buf is None:
                    buf = self._allocations[key] = np.zeros(self._dynshared_size, dtype=np.byte)
            dt = as_dtype(dtype)
            return np.frombuffer(buf.data, dtype=dt, count=self._dynshared_size // dt.itemsize)
        caller = tuple(traceback.extract_stack(sys._getframe())[-2][0:2])
        key = (blk, caller)
        with lock:
            res = self._allocations.get(key)
            if res is None:
                res = self._allocations[key] = np.empty(shape, as_dtype(dtype))
        return res

    monkeypatch.setattr(simkernel, "BlockManager", ConcurrentBlocks)
    monkeypatch.setattr(kernelapi.GridGroup, "sync", grid_sync)
    monkeypatch.setattr(kernelapi.FakeCUDAShared, "array", per_block_shared)
    yield state


def _force_blocks(monkeypatch, nblocks):
    from bpttlab.kernels.cuda import _common as gc
    from bpttlab.kernels.cuda import layer

    def plan(kern, args_of, H_, B_, col_bytes, policy, static_smem):
        Jb = -(-H_ // nblocks)
        return -(-H_ // Jb), gc.tpb_for(Jb * B_), Jb, Jb * col_bytes

    monkeypatch.setattr(layer, "_persistent_plan", plan)


def _run(cell, b=B, t=T):
    from test_cuda import Worst, compare_forward, compare_grads, problem

    cpu = kernels.Network(cell, I, H, 1, False)
    gpu = kernels.Network(cell, I, H, 1, False, backend="cuda")
    gpu._impl.persistent = True
    params, x, state, dy, dstate = problem(cpu, t, b)
    w = Worst(1e-10)
    fc, fg = cpu.forward(params, x, state), gpu.forward(params, x, state)
    compare_forward(w, fc, fg)
    compare_grads(w, cpu.backward(fc.tape, dy, dstate), gpu.backward(fg.tape, dy, dstate))
    lc = cpu.backward(fc.tape, dy, log_norms=True)
    lg = gpu.backward(fg.tape, dy, log_norms=True)
    w.check("log_norms_h", lg.norms_h, lc.norms_h)


@pytest.mark.parametrize("cell", CELLS)
def test_persistent_kernels_on_several_blocks_match_cpu(cell, multiblock, monkeypatch):
    _force_blocks(monkeypatch, NBLOCKS)
    _run(cell)
    assert multiblock["launches"] >= 3  # forward, backward, log_norms backward: each on NBLOCKS blocks


# B = 10: 3 row groups, interleaved (rows g, g + 3, g + 6, g + 9: 4, 3 and 3 rows), as the
# persistent kernels read h and dL/da from their (H, B) copies (layer._persistent_kernels). The
# reset-after GRU's product reads dgh, the reset-before one's aux and, in PHASE_B, the same step's dg.
@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_cho"])
def test_interleaved_row_groups_on_several_blocks_match_cpu(cell, multiblock, monkeypatch):
    _force_blocks(monkeypatch, NBLOCKS)
    _run(cell, b=10, t=2)
    assert multiblock["launches"] >= 3


@pytest.mark.parametrize("cell", ["lstm", "gru_cho"])
def test_without_the_grid_barrier_they_do_not(cell, multiblock, monkeypatch):
    _force_blocks(monkeypatch, NBLOCKS)
    multiblock["grid_sync"] = False
    with pytest.raises(AssertionError, match="relative difference"):
        _run(cell)
