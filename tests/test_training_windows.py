"""The truncation windows of TBPTT(k1, k2) and the window-limited loss bound of each task."""

import math

import numpy as np
import pytest
from bpttlab import kernels
from bpttlab.studies.training import tasks
from bpttlab.studies.training.windows import reach_start, window_bound


@pytest.mark.parametrize("T,k1,k2", [(12, 1, 3), (12, 4, 4), (12, 5, 7), (13, 4, 9), (10, 3, 20)])
def test_reach_start_is_where_the_kernels_gradient_stops(T, k1, k2):
    # Independent of the formula: a loss at step t alone, backpropagated by the kernels' TBPTT(k1, k2);
    # dL/dx is nonzero exactly at the steps the window reaches.
    net = kernels.Network("gru", 3, 4)
    p = net.init_params(seed=1, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((T, 1, 3))
    tape = net.forward(p, x).tape
    for t in range(T):
        dy = np.zeros((T, 1, 4))
        dy[t] = 1.0
        dx = net.backward_truncated(tape, dy, k1, k2).x
        reached = np.flatnonzero(np.abs(dx).sum(axis=(1, 2)) > 0)
        assert reached.min() == reach_start(t, T, k1, k2) and reached.max() == t


def test_adding_window_bound():
    T = 40
    batch = tasks.adding(T, 20000, np.random.default_rng(0), "le2015")
    var = batch.x[:, :, 0].var()
    assert window_bound("adding", batch, T, T) == 0.0
    # k2 = T/2: the second marker (in [T/2, T)) always inside, the first never: one value's variance.
    assert window_bound("adding", batch, 20, 20) == pytest.approx(var)
    assert window_bound("adding", batch, 1, 5) == pytest.approx(var * (1 + 15 / 20), rel=0.03)
    hs = tasks.adding(T, 20000, np.random.default_rng(0), "hs97")
    assert window_bound("adding", hs, 20, 20, form="hs97") == pytest.approx(2 * hs.x[:, :, 0].var() / 16)


def test_temporal_order_and_copy_window_bounds():
    T = 100
    batch = tasks.temporal_order(T, 4000, np.random.default_rng(1))
    assert window_bound("temporal_order", batch, 25, 25) == pytest.approx(math.log(4), rel=0.01)
    assert window_bound("temporal_order", batch, 50, 50) == pytest.approx(math.log(2), rel=0.01)
    assert window_bound("temporal_order", batch, 90, 90) == 0.0
    copy = tasks.copy_memory(10, 4000, np.random.default_rng(2))  # 30 steps, recall at 20..29 of 0..9
    assert window_bound("copy", copy, 30, 30) == 0.0
    # TBPTT(1, k2): recall step 20 + j reaches back k2 - 1 steps, to its source j iff k2 >= 21.
    assert window_bound("copy", copy, 1, 20) == pytest.approx(10 * math.log(8) / 30, rel=0.01)
    assert window_bound("copy", copy, 1, 21) == 0.0
    # TBPTT(10, 10): every window holds steps [10 w, 10 w + 9]; no recall reaches its source.
    assert window_bound("copy", copy, 10, 10) == pytest.approx(10 * math.log(8) / 30, rel=0.01)
    with pytest.raises(ValueError, match="task: got 'char_lm'"):
        window_bound("char_lm", copy, 1, 1)
