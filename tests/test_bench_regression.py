"""The regression check: its verdicts, and that it catches a deliberately slowed kernel."""

import json

import pytest

import kernels.cpu_layer
from bench import regression
from bench.cases import make_case
from bench.flops import flops


def test_compare_flags_only_real_regressions():
    base = {"a": 1.0, "b": 2.0, "c": 1.0, "gone": 1.0}
    rows, ok = regression.compare({"a": 1.2, "b": 4.0, "c": 0.5, "new": 3.0}, base, threshold=1.5)
    verdicts = {r[0]: r[4] for r in rows}
    assert not ok
    assert verdicts == {
        "a": "ok",
        "b": "SLOWER: regression",
        "c": "faster: update the baseline",
        "new": "new (no baseline)",
        "gone": "not measured",
    }
    assert regression.compare({"a": 1.49}, {"a": 1.0}, 1.5)[1]
    assert "SLOWER" in regression.format_table(rows)


def test_baseline_round_trip(tmp_path):
    p = tmp_path / "b.json"
    regression.write_baseline({"x/forward": 1.234567}, {"x/forward": 0.1, "sgemm": 0.2}, p)
    assert regression.load_baseline(p) == {"x/forward": 1.2346}
    assert json.loads(p.read_text())["shape_TBIH"] == list(regression.SHAPE)


def test_committed_baseline_covers_every_case():
    assert set(regression.load_baseline()) == {
        regression.case_id(c, m) for c in regression.CELLS for m in regression.MODES
    }


def test_flop_counts_follow_deepbench():
    rec, inp = flops("lstm", "forward", T=10, B=2, I=3, H=5)
    assert rec == 2 * 4 * 5 * 5 * 2 * 10 and inp == 2 * 4 * 5 * 3 * 2 * 10
    assert flops("gru", "forward_backward", 10, 2, 3, 5)[0] == 3 * 2 * 3 * 25 * 2 * 10


def test_catches_a_kernel_slowed_twofold(monkeypatch):
    """Measure, slow one kernel 2x for real (its layer runs twice), measure again: only it fails."""
    shape = (50, 16, 32, 64)
    cases = {k: make_case(c, "forward", *shape) for k, c in (("gru", "gru"), ("lstm", "lstm"), ("rnn", "rnn_tanh"))}
    baseline, _ = regression.measure(cases, rounds=7)

    original = kernels.cpu_layer.forward_layer

    def slowed(spec, *args, **kwargs):
        if spec.name == "gru":
            original(spec, *args, **kwargs)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(kernels.cpu_layer, "forward_layer", slowed)
    scores, _ = regression.measure(cases, rounds=7)
    rows, ok = regression.compare(scores, baseline)
    table = regression.format_table(rows)
    assert not ok, table
    ratios = {r[0]: r[3] for r in rows}
    assert ratios["gru"] > regression.THRESHOLD, table
    assert ratios["lstm"] < regression.THRESHOLD and ratios["rnn"] < regression.THRESHOLD, table


@pytest.mark.parametrize("mode", ["sideways"])
def test_make_case_rejects_unknown_mode(mode):
    with pytest.raises(ValueError, match="mode: got 'sideways'"):
        make_case("gru", mode, 2, 1, 1, 1)
