"""The truncated-BPTT study: its measurements, its configurations and the rules that judge them."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from bpttlab import kernels
from bpttlab.studies import tbptt
from bpttlab.studies.framework.sweep import with_seeds
from bpttlab.studies.tbptt.tables import learning_table, predictions
from helpers import random_problem


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru_cho"])
@pytest.mark.parametrize("k", [1, 3, 4, 12])
def test_streaming_tbptt_equals_truncated_backward_on_a_full_tape(cell, k):
    net, params, x, _, dy, _ = random_problem(cell, 12, 2, 3, 4, seed=k)
    streamed, tape_bytes = tbptt.streaming_update(net, params, x, dy, k)
    full_tape = net.forward(params, x).tape
    g = net.backward_truncated(full_tape, dy, k, k)
    for name in g.params:
        np.testing.assert_allclose(streamed[name], g.params[name], rtol=1e-12, atol=1e-14)
    # The streaming tape holds k steps (plus the state entering them), the full one all 12.
    assert tape_bytes <= full_tape.nbytes * (min(k, 12) + 1) / 12
    assert (tape_bytes < full_tape.nbytes) == (k < 12)


def _bias_config(cell, gain):
    (c,) = with_seeds([{"key": f"bias-{cell}-g{gain}", "part": "bias", "cell": cell, "gain": gain, "T": 60, "H": 16,
                        "B": 4, "k2": [1, 4, 16, 60, 80]}], 0)
    return c


def test_bias_vanishes_at_full_length_and_falls_in_a_measured_contracting_regime():
    r = tbptt.compute_bias(_bias_config("rnn_tanh", 0.5))
    rel, cos = np.asarray(r["relerr"]), np.asarray(r["cos"])
    assert rel[-1] < 1e-12 and rel[-2] < 1e-12 and cos[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(rel[:3]) < 0)  # each longer truncation is closer to the full gradient
    assert r["regime"] == "contracting" and r["lambda1"] < 0 and r["rate"] < 0
    # The same network at g = 4 expands: the regime comes from the measurement, not from the gain's name.
    big = tbptt.compute_bias(_bias_config("rnn_tanh", 4.0))
    assert big["regime"] == "expanding" and big["lambda1"] > 0


def test_bias_study_is_deterministic():
    c = _bias_config("gru", 1.0)
    a, b = tbptt.compute_bias(c), tbptt.compute_bias(c)
    np.testing.assert_array_equal(a["relerr"], b["relerr"])
    assert a["rate"] == b["rate"] and a["lambda1"] == b["lambda1"]


def _opts(**kw):
    return SimpleNamespace(quick=False, seed=0, **kw)


def test_full_mode_has_the_issues_sizes_and_ten_paired_seeds():
    cs = tbptt.configs(_opts())
    learn = [c for c in cs if c["part"] == "learn"]
    ts = {(c["task"], c["form"]): set() for c in learn}
    for c in learn:
        ts[(c["task"], c["form"])].add(c["T"])
    assert ts[("adding", "le2015")] >= {50, 100, 200} and ts[("adding", "hs97")] >= {50, 100, 200}
    assert ts[("copy", None)] >= {10, 50, 100} and ts[("temporal_order", None)]
    per = pd.DataFrame(learn).groupby(["task", "T", "cell", "k1", "k2"]).size()
    assert per.min() >= 10
    # Paired: a replica has one training seed across k2; replicas differ.
    gru100 = [c for c in learn if (c["task"], c["form"], c["T"], c["cell"]) == ("adding", "le2015", 100, "gru")]
    by_replica = {}
    for c in gru100:
        by_replica.setdefault(c["replica"], set()).add(c["train_seed"])
    assert all(len(s) == 1 for s in by_replica.values()) and len({s.pop() for s in by_replica.values()}) == 10
    # k2 both shorter and longer than the lag where a sweep is run.
    assert {c["k2"] for c in gru100} == {25, 50, 75, 100}
    assert {c["cell"] for c in cs if c["part"] == "bias"} == set(kernels.CELLS)


def test_learning_run_uses_its_truncation_and_reports_the_window_bound():
    (c,) = with_seeds([{"key": "learn", "part": "learn", "task": "adding", "form": "hs97", "T": 12, "cell": "lstm",
                        "k1": 3, "k2": 3, "replica": 0, "train_seed": 5, "updates": 5,
                        "train": {**tbptt.TRAIN, "hidden": 4, "final_batch": 64, "eval_every": 5}}], 0)
    cfg = tbptt.learn_config(c)
    assert (cfg.k1, cfg.k2, cfg.T, cfg.seed, cfg.form) == (3, 3, 12, 5, "hs97")
    r = tbptt.compute_learn(c)
    # HS97 at T = 12: both markers in the first 5 steps, the window holds the last 3: both hidden,
    # so the bound is the whole input-blind loss (2 Var(U[-1, 1]) / 16 = 1/24, give or take sampling).
    assert r["lag"] == 11 and r["window_bound"] == pytest.approx(1 / 24, rel=0.2)
    assert r["baseline"] == pytest.approx(1 / 24, rel=0.2) and not r["success"]
    assert r["regime"] in ("contracting", "critical", "expanding")


def _runs(rows):
    base = {"task": "adding_le2015", "T": 100, "lag": 99, "cell": "gru", "k1": 100, "lr": 3e-3, "updates_budget": 10,
            "final_accuracy": np.nan, "solved_at": -1, "updates_run": 10, "diverged": False, "lambda1": -0.4,
            "lambda1_se": 0.001, "regime": "contracting", "seconds": 1.0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_learning_table_statistics_and_verdicts():
    rows = []
    for i in range(10):  # full BPTT: 9/10 succeed; k2 = 50: 0/10, bound 0.5 x baseline, losses 0.3 x baseline
        rows.append({"k2": 100, "k1": 100, "replica": i, "success": i < 9, "final_loss": 0.01 if i < 9 else 0.5,
                     "baseline": 1.0, "window_bound": 0.0})
        rows.append({"k2": 50, "k1": 50, "replica": i, "success": False, "final_loss": 0.3 + 0.001 * i,
                     "baseline": 1.0, "window_bound": 0.5})
        rows.append({"k2": 90, "k1": 90, "replica": i, "success": i < 2, "final_loss": 0.01 if i < 2 else 0.4,
                     "baseline": 1.0, "window_bound": 0.0})
    t = learning_table(_runs(rows)).set_index("k2")
    assert t.loc[100, "successes"] == 9 and np.isnan(t.loc[100, "p_vs_full"])
    # Fisher by hand, 0/10 vs 9/10 (9 successes among 20): P(0 in the first group) = C(11, 10) / C(20, 10),
    # and the only other table as unlikely is its mirror, 9 in the first group: p = 2 x 11 / 184756.
    assert t.loc[50, "p_vs_full"] == pytest.approx(22 / 184756, rel=1e-9)
    assert not t.loc[50, "window_allows_success"] and t.loc[50, "beats_window"]  # 0.3 < 0.5, interval below
    p = predictions(t.reset_index()).set_index("k2")
    assert p.loc[50, "verdict"] == "holds"
    assert p.loc[90, "verdict"] == "differs" and p.loc[90, "p_value"] < 0.05
    # A seed succeeding where the window forbids it breaks the prediction, and says so.
    rows[1] = {**rows[1], "success": True, "final_loss": 0.01}
    p = predictions(learning_table(_runs(rows))).set_index("k2")
    assert p.loc[50, "verdict"].startswith("broken: 1 seed(s)")


def test_quick_report_is_written(tmp_path):
    assert tbptt.STUDY.main(["--quick", "--no-progress", "--out", str(tmp_path / "r"),
                             "--results", str(tmp_path / "s")]) in (0, None)
    learning = pd.read_csv(tmp_path / "r" / "learning.csv")
    for col in ("task", "T", "lag", "cell", "k1", "k2", "seeds", "successes", "success_rate", "ci_low", "ci_high",
                "median_final_loss", "baseline"):
        assert col in learning.columns
    assert (tmp_path / "r" / "success_vs_k.png").exists() and (tmp_path / "r" / "predictions.csv").exists()
