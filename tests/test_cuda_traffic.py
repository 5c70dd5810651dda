"""The memory-traffic model of the recurrent products (kernels/cuda/_resources.product_traffic).

Pure arithmetic on the launch geometry, no numba.cuda: the per-step kernels read W_hh once per
group of batch rows (ROWS of them since batch blocking, one before), and h (or the error rows)
as one broadcast sector per row either way; the persistent kernels read no weights per step.
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
