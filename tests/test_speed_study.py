"""The speed study: its shape grid, FLOP accounting and report from stored measurements."""

import numpy as np
import pandas as pd
from bpttlab.studies import speed


class Opts:
    quick = False


def test_grid_sweeps_each_axis_around_the_center():
    cs = speed.configs(Opts)
    keys = [c["key"] for c in cs]
    assert len(keys) == len(set(keys))
    for axis, values in (("H", [64, 128, 256, 512, 1024]), ("B", [1, 4, 16, 64, 128]), ("T", [25, 100, 1000])):
        others = {k: v for k, v in speed.CENTER.items() if k != axis}
        seen = sorted(c[axis] for c in cs if all(c[k] == v for k, v in others.items()))
        assert seen == sorted({*values, speed.CENTER[axis]})  # the center shape belongs to every sweep


def test_frame_counts_flops_like_deepbench():
    c = {"T": 10, "B": 2, "H": 4, "I": 4, "axis": "H"}
    r = {"cell": np.array(["lstm", "gru"]), "mode": np.array(["forward", "forward_backward"]),
         "impl": np.array(["ours", "torch"]), "seconds": np.array([1e-3, 2e-3]), "sgemm_gflops": 100.0}
    df = speed.frame([(c, r)])
    assert isinstance(df, pd.DataFrame) and list(df["cell"]) == ["lstm", "gru"]
    lstm_rec = 2 * 4 * 16 * 2 * 10
    gru_rec = 3 * 2 * 3 * 16 * 2 * 10
    np.testing.assert_allclose(df["gflops"], [lstm_rec / 1e-3 / 1e9, gru_rec / 2e-3 / 1e9])
    with_input = (lstm_rec + 2 * 4 * 4 * 4 * 2 * 10) / 1e-3 / 1e9
    assert df["pct_of_sgemm_peak"].iloc[0] == np.float64(100 * with_input / 100.0)
