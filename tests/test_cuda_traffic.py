"""The memory-traffic model of the recurrent products (kernels/cuda/_resources.product_traffic).

Pure arithmetic on the launch geometry, no numba.cuda: the per-step kernels read W_hh once per
group of batch rows (ROWS of them since batch blocking, one before), and h (or the error rows)
as one broadcast sector per row either way; the persistent kernels read no weights per step, and
h_{t-1} (dL/da) from (H, B) ((G*H, B)) copies with interleaved row groups, in whole sectors. The
last test ties the model to the kernels: it records, in Numba's CUDA simulator, which rows each
work item of the persistent kernels reads from the copies.
"""

import pytest
from bpttlab.kernels.cuda._resources import SECTOR, product_traffic, traffic_table


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("G", [1, 3, 4])
def test_step_kernels_read_w_hh_once_per_row_group(G, itemsize):
    B, H = 64, 256  # H a multiple of the warp: a warp is 32 units of one group
    w_hh = G * H * H * itemsize
    before, after = product_traffic(B, H, G, itemsize, 1), product_traffic(B, H, G, itemsize, 4)
    assert before["w"] == B * w_hh  # the "once per batch row"
    assert after["w"] == B // 4 * w_hh
    # h: a sector per row and column either way; the error rows: per row and row of W_hh.
    assert before["h_fwd"] == after["h_fwd"] == B * H * H * SECTOR // 32
    assert before["h_bwd"] == after["h_bwd"] == B * G * H * H * SECTOR // 32


def test_ragged_batch_and_narrow_layers():
    # B = 5: two groups (4 + 1 rows); the second group's row slots re-read its last row.
    t = product_traffic(5, 64, 4, 8, 4)
    assert t["w"] == 2 * 4 * 64 * 64 * 8
    assert t["h_fwd"] == 2 * (64 // 32) * 4 * SECTOR * 64
    # H = 8 < a warp: a warp spans 4 groups, whose weight loads are the same addresses.
    narrow = product_traffic(64, 8, 1, 4, 1)
    assert narrow["w"] == (64 * 8 // 32) * 1 * SECTOR * 8  # 32 B = the 8 float32 weights of a row
    assert narrow["h_fwd"] == (64 * 8 // 32) * 4 * SECTOR * 8  # 4 rows per warp, a sector each


def test_persistent_blocks_read_no_weights_and_h_per_group():
    # Jb = 4 units per block, B = 64: 16 groups of 4 rows, 64 threads, 2 warps of 8 groups.
    t = product_traffic(64, 8, 4, 8, 4, units=4)
    assert t["w"] == 0
    assert t["h_fwd"] == 2 * (2 * 8 * 4) * SECTOR * 8  # 2 blocks, 2 warps each, 8 groups x 4 rows
    assert product_traffic(64, 8, 4, 8, 1, units=4)["h_fwd"] == t["h_fwd"]  # unchanged by blocking


def test_traffic_table_lists_every_shape_and_dtype():
    from bpttlab.kernels.cuda._resources import TRAFFIC_SHAPES

    table = traffic_table().splitlines()
    assert len(table) == 2 + 2 * len(TRAFFIC_SHAPES)
    assert "| lstm, 64, 1024 | float64 | 33.55 | 2147.5 / 536.9 |" in "\n".join(table)


@pytest.mark.parametrize("itemsize", [4, 8])
def test_persistent_h_and_error_loads_are_coalesced(itemsize):
    """The persistent kernels (Jb units per block) read h_{t-1} and dL/da from (H, B) and
    (G*H, B) copies with interleaved row groups: a load instruction of a warp touches the
    sectors of consecutive rows, not one sector per group. Derived by hand for B = 64 (16
    groups): Jb = 1 (the H100 plan for an LSTM at H = 1024 in float32) puts 16 groups in a warp,
    16 sectors per instruction before; after, 16 consecutive elements, 64 or 128 bytes."""
    B, H, G = 64, 256, 4
    before = product_traffic(B, H, G, itemsize, 4, units=1, layout="rows")
    after = product_traffic(B, H, G, itemsize, 4, units=1, layout="swapped")
    instr = H * 4  # blocks (one warp each) x row slots
    assert before["h_fwd"] == instr * 16 * H * SECTOR
    assert after["h_fwd"] == instr * (16 * itemsize // SECTOR) * H * SECTOR
    assert before["h_bwd"] == G * before["h_fwd"] and after["h_bwd"] == G * after["h_fwd"]
    assert before["stash_fwd"] == 0
    # The copies cost: per unit and row a load from hs and a store into the copy, 16 rows per
    # warp instruction: loads 16 sectors, stores 16 * itemsize bytes.
    assert after["stash_fwd"] == H * 4 * (16 + 16 * itemsize // SECTOR) * SECTOR
    assert after["h_fwd"] + after["stash_fwd"] < before["h_fwd"] / 3
    # Jb = 8: a warp spans 4 groups; one sector per instruction after (4 consecutive elements).
    b8 = product_traffic(B, H, G, itemsize, 4, units=8, layout="rows")
    a8 = product_traffic(B, H, G, itemsize, 4, units=8, layout="swapped")
    assert b8["h_fwd"] == 4 * a8["h_fwd"]
    # Jb >= 32 (a warp one group): a broadcast either way, no gain and no loss.
    b32 = product_traffic(B, H, G, itemsize, 4, units=32, layout="rows")
    assert b32["h_fwd"] == product_traffic(B, H, G, itemsize, 4, units=32, layout="swapped")["h_fwd"]


def test_group_rows_cover_the_batch_once():
    from bpttlab.kernels.cuda._resources import group_rows

    for B in (1, 2, 5, 10, 64, 67):
        ng = -(-B // 4)
        for layout in ("rows", "swapped"):
            rows = [b for g in range(ng) for b in group_rows(g, ng, B, 4, layout)]
            assert sorted(rows) == list(range(B)), (B, layout)
    with pytest.raises(ValueError, match="layout"):
        product_traffic(4, 4, 1, 4, 4, layout="cols")


@pytest.fixture
def recorded_copies(monkeypatch):
    """Run with every (H, B) / (G*H, B) copy of the persistent kernels (_common.swapped) recording
    its reads: {(slots, threadIdx): [index, ...]} (Numba's CUDA simulator only)."""
    import os
    import threading

    import numpy as np

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
        pytest.skip("records the persistent kernels' loads in Numba's CUDA simulator")
    from bpttlab.kernels.cuda import _common
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    log = {}

    class Recording(np.ndarray):
        def __getitem__(self, idx):
            if isinstance(idx, tuple) and len(idx) == 3:
                th = threading.current_thread()
                log.setdefault((self.shape[0], tuple(th.threadIdx)), []).append(tuple(int(i) for i in idx))
            return super().__getitem__(idx)

    real = _common.swapped

    def swapped(slots, n, B, dtype):
        v = real(slots, n, B, dtype)
        assert v.strides[1:] == (v.dtype.itemsize, B * v.dtype.itemsize)  # (b, m) at address m * B + b
        buf = np.zeros((slots, n, B), dtype).view(Recording)
        return FakeCUDAArray(buf.transpose(0, 2, 1))

    monkeypatch.setattr(_common, "swapped", swapped)
    return log


def test_persistent_kernels_read_the_copies_as_the_model_says(recorded_copies):
    """Each work item of the persistent kernels (simulator: one block, Jb = H) reads, for every
    column, its row slots in group_rows(..., "swapped") order from the copy: the mapping the
    traffic model prices (would fail with the kernels reading hs/dg, or another row order)."""
    import numpy as np
    from bpttlab import kernels
    from bpttlab.kernels.cuda._common import ROWS, tpb_for
    from bpttlab.kernels.cuda._resources import group_rows

    T, B, I, H, G = 2, 10, 2, 3, 4
    net = kernels.Network("lstm", I, H, 1, False, backend="cuda")
    net._impl.persistent = True
    rng = np.random.default_rng(0)
    fw = net.forward(net.init_params(), rng.standard_normal((T, B, I)))
    net.backward(fw.tape, rng.standard_normal((T, B, H)))
    ng = -(-B // ROWS)
    nt = tpb_for(H * ng)
    # Forward: both steps; backward: the second step's product and the carry leaving the window (dL/dh_0).
    for slots, cols in ((3, H), (2, G * H)):
        seen = 0
        for (s, tid), reads in recorded_copies.items():
            if s != slots:
                continue
            items = range(tid[0], H * ng, nt)
            want = []
            for e in items:
                rs = group_rows(e // H, ng, B, ROWS, "swapped")
                want += [(b, m) for m in range(cols) for b in (rs[min(r, len(rs) - 1)] for r in range(ROWS))]
            got = [(b, m) for _, b, m in reads]
            assert got == want * T, (slots, tid)
            seen += len(items)
        assert seen == H * ng
