"""The gradient-clipping study's thresholds and its verdicts on Pascanu et al.'s claims."""

import numpy as np
import pandas as pd
import pytest
from bpttlab.studies import clipping
from bpttlab.studies.framework.sweep import with_seeds


def _config(clip, multiple, cell="gru", regime="exploding"):
    (c,) = with_seeds([{"key": f"{regime}-{cell}-{clip}-{multiple}", "regime": regime, "cell": cell, "replica": 0,
                        "T": 10, "H": 8, "updates": 30, "pilot": 10, "lr": 0.1, "clip": clip,
                        "multiple": multiple}], 0)
    return c


def test_thresholds_scale_with_the_median_initial_norm():
    none = clipping.compute(_config("none", 0.0))
    norm = clipping.compute(_config("norm", 2.0))
    value = clipping.compute(_config("value", 2.0))
    assert none["clipped_fraction"] == 0.0
    assert none["median_norm"] == norm["median_norm"] == value["median_norm"] > 0  # same replica, same pilot
    assert norm["threshold"] == pytest.approx(2.0 * norm["median_norm"])
    assert value["threshold"] < norm["threshold"]  # an element's share of the norm


def _summary(rows):
    return pd.DataFrame(rows, columns=["regime", "cell", "clip", "multiple", "seeds", "diverged", "success_rate",
                                       "median_updates_to_solve", "median_final_loss", "clipped_fraction",
                                       "median_norm"])


def test_claims_confirm_refute_and_abstain():
    rows = [("exploding", "rnn_tanh", "none", 0.0, 5, 4, 0.0, np.nan, np.nan, 0.0, 9.0)]
    for m, s in ((0.1, 0.2), (0.5, 0.8), (1.0, 1.0), (2.0, 1.0), (10.0, 0.6)):
        rows.append(("exploding", "rnn_tanh", "norm", m, 5, 0, s, 100.0, 0.01, 0.5, 9.0))
        rows.append(("exploding", "rnn_tanh", "value", m, 5, 0, s - 0.1, 100.0, 0.01, 0.5, 9.0))
    v = clipping.claims(_summary(rows)).set_index("claim")["verdict"]
    assert list(v) == ["confirmed", "confirmed", "confirmed"]
    # A 10x threshold that diverges refutes claim 2; value clipping far worse refutes claim 3.
    rows[-2] = ("exploding", "rnn_tanh", "norm", 10.0, 5, 3, 0.0, np.nan, np.nan, 0.1, 9.0)
    rows = [r if r[2] != "value" else (*r[:6], 0.0, *r[7:]) for r in rows]
    v = clipping.claims(_summary(rows)).set_index("claim")["verdict"]
    assert list(v) == ["confirmed", "refuted", "refuted"]
    # Nothing learns: no verdict either way.
    flat = [(*r[:6], 0.0, *r[7:]) for r in rows]
    v = clipping.claims(_summary(flat)).set_index("claim")["verdict"]
    assert v.iloc[1].startswith("inconclusive") and v.iloc[2].startswith("inconclusive")
