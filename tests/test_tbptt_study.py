"""The truncated-BPTT study's measurements."""

import numpy as np
import pytest
from bpttlab import kernels
from bpttlab.studies import tbptt
from bpttlab.studies.framework.sweep import with_seeds
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


def _bias_config(cell, regime):
    (c,) = with_seeds([{"key": f"bias-{cell}-{regime}", "part": "bias", "cell": cell, "regime": regime,
                        "gain": tbptt.REGIMES[regime], "T": 60, "H": 16, "B": 4, "k2": [1, 4, 16, 60, 80]}], 0)
    return c


def test_bias_vanishes_at_full_length_and_falls_in_a_contracting_regime():
    r = tbptt.compute_bias(_bias_config("rnn_tanh", "contracting"))
    rel, cos = np.asarray(r["relerr"]), np.asarray(r["cos"])
    assert rel[-1] < 1e-12 and rel[-2] < 1e-12 and cos[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(rel[:3]) < 0)  # each longer truncation is closer to the full gradient
    assert r["rate"] < 0  # g = 0.5: the backward error contracts


def test_bias_study_is_deterministic():
    c = _bias_config("gru", "critical")
    a, b = tbptt.compute_bias(c), tbptt.compute_bias(c)
    np.testing.assert_array_equal(a["relerr"], b["relerr"])
    assert a["rate"] == b["rate"]


def test_learning_config_uses_the_truncation():
    (c,) = with_seeds([{"key": "learn", "part": "learn", "task": "adding_hs97", "cell": "lstm", "T": 12, "k": 3,
                        "replica": 0, "updates": 5}], 0)
    cfg = tbptt.learn_config(c)
    assert (cfg.k1, cfg.k2, cfg.T) == (3, 3, 12)
    r = tbptt.compute_learn(c)
    assert r["lag"] == 11 and r["baseline"] == pytest.approx(1 / 24)
    assert cfg.form == "hs97" and cfg.task == "adding"


def test_every_cell_has_bias_configs_in_full_mode():
    class Opts:
        quick = False

    cells = {c["cell"] for c in tbptt.configs(Opts) if c["part"] == "bias"}
    assert cells == set(kernels.CELLS)
