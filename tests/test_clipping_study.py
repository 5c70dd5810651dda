"""The gradient-clipping study: its thresholds, its outcome rules and its verdicts on Pascanu et al.'s
claims, on constructed runs whose right answer is known, and a quick-mode run end to end."""

import argparse

import numpy as np
import pandas as pd
import pytest
from bpttlab.studies.clipping import STUDY, design, verdicts
from bpttlab.studies.framework.sweep import with_seeds
from bpttlab.studies.science.intervals import fisher_exact

# -- constructed runs -------------------------------------------------------------------------------


def _runs(outcomes, cell="gru", init="default", n=10):
    """A runs frame from {(clip, t): (learned, diverged, blew_up)} counts out of n seeds each; the
    rest of the seeds stayed finite near the baseline without learning."""
    rows = []
    for (clip, t), (k, d, b) in outcomes.items():
        for i in range(n):
            success, div, blew = i < k, k <= i < k + d, k + d <= i < k + d + b
            rows.append({"cell": cell, "init": init, "lr": 1.0, "updates": 100, "clip": clip, "t": t,
                         "method": design.method_name(clip, t), "replica": i, "train_seed": 100 + i,
                         "lambda1": 0.1, "lambda1_se": 0.001, "regime": "expanding", "initial_norm": 2.0 + i,
                         "threshold": np.nan if clip == "none" else t, "success": success, "diverged": div,
                         "blew_up": blew, "final_loss": np.nan if div else 0.01,
                         "baseline": 0.167, "loss_ratio": np.nan if div else (0.05 if success else 1e3 if blew else 1.0),
                         "updates_run": 100, "solved_at": 50.0 if success else np.nan, "clipped_fraction": 0.5})
    return pd.DataFrame(rows)


def _claims(outcomes, **kw):
    return verdicts.claims(verdicts.summarize(_runs(outcomes, **kw)))


def _verdict(cl, claim):
    v = cl[cl["claim"] == claim]["verdict"]
    assert len(set(v)) == 1
    return v.iloc[0]


NONE, PRIMARY, VALUE = design.NONE, design.PRIMARY, design.VALUE
HALF, TEN = ("norm_rel", 0.5), ("norm_rel", 10.0)


def test_staying_finite_is_not_learning():
    # The audit's case: clipped runs all finite, unclipped all diverged, nobody learned.
    cl = _claims({NONE: (0, 10, 0), PRIMARY: (0, 0, 0), VALUE: (0, 0, 0)})
    row = cl[cl["claim"] == verdicts.CLAIM1].iloc[0]
    assert row["success_clipped"] == "0/10" and row["diverged_unclipped"] == 10 and row["diverged_clipped"] == 0
    assert row["verdict"].startswith("inconclusive") and "no run learned" in row["verdict"]
    assert _verdict(cl, verdicts.CLAIM3).startswith("inconclusive")


def test_a_finite_loss_far_above_the_baseline_blew_up_and_did_not_learn():
    assert verdicts.blew_up(False, 28.0 * 0.167 * 100, 0.167) and not verdicts.blew_up(False, 28.0 * 0.167, 0.167)
    assert verdicts.blew_up(False, float("inf"), 0.167)  # an infinite final loss of a run never stopped
    assert not verdicts.blew_up(True, float("inf"), 0.167)  # non-finite runs are counted as diverged instead
    results = [({"cell": "gru", "init": "default", "lr": 1.0, "updates": 10, "clip": "norm", "t": 1.0, "replica": 0,
                 "train_seed": 100, "T": 100},
                {"final_loss": 1e7, "baseline": 0.167, "diverged": False, "success": False, "lambda1": 0.3,
                 "lambda1_se": 0.001, "initial_norm": 500.0, "threshold": 1.0, "updates_run": 10, "solved_at": -1,
                 "clipped_fraction": 1.0})]
    run = verdicts.runs_frame(results).iloc[0]
    assert run["blew_up"] and not run["diverged"] and not run["success"] and run["regime"] == "expanding"


def test_claim1_rules():
    assert _verdict(_claims({NONE: (0, 10, 0), PRIMARY: (6, 0, 0)}), verdicts.CLAIM1) == "confirmed"
    # Runs learned, but clipped no more often: refuted.
    assert _verdict(_claims({NONE: (5, 0, 0), PRIMARY: (2, 0, 0)}), verdicts.CLAIM1).startswith("refuted")
    # More often but not significantly (2/10 vs 0/10: p = 0.24): inconclusive, with the reason.
    v = _verdict(_claims({NONE: (0, 0, 0), PRIMARY: (2, 0, 0)}), verdicts.CLAIM1)
    assert v.startswith("inconclusive") and "not significantly" in v
    p = _claims({NONE: (0, 0, 0), PRIMARY: (2, 0, 0)}).iloc[0]["p_value"]
    assert p == pytest.approx(fisher_exact(2, 10, 0, 10, "greater"))


def test_an_exploratory_threshold_never_decides_claim1():
    # The audit's best-of-5: a good exploratory threshold must not confirm claim 1 when the
    # pre-registered one does not.
    cl = _claims({NONE: (0, 0, 0), PRIMARY: (2, 0, 0), ("norm", 3.0): (9, 0, 0), ("norm", 10.0): (0, 0, 10),
                  HALF: (1, 0, 0), TEN: (0, 0, 10)})
    assert _verdict(cl, verdicts.CLAIM1).startswith("inconclusive")
    ex = verdicts.exploratory(verdicts.summarize(_runs({NONE: (0, 0, 0), PRIMARY: (2, 0, 0), ("norm", 3.0): (9, 0, 0),
                                                       ("norm", 10.0): (0, 0, 10), HALF: (1, 0, 0), TEN: (0, 0, 10)})))
    three = ex[ex["method"] == "norm 3"].iloc[0]
    assert three["role"] == "exploratory" and three["family_size"] == 4
    assert three["p_holm"] == pytest.approx(min(1.0, 4 * three["p_raw"]))  # the smallest p of 4
    assert np.isnan(ex[ex["method"] == "norm 1"].iloc[0]["p_holm"])  # pre-registered: not adjusted


def test_holm_against_a_worked_example():
    # p = (0.01, 0.04, 0.03, 0.005): sorted 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06,
    # 0.04 x1 = 0.04 -> 0.06 (non-decreasing); back in input order:
    assert verdicts.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert verdicts.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_claim2_rules():
    base = {NONE: (0, 0, 0), PRIMARY: (8, 0, 0)}
    assert _verdict(_claims({**base, HALF: (9, 0, 0), TEN: (8, 0, 0)}), verdicts.CLAIM2) == "confirmed"
    assert _verdict(_claims({**base, HALF: (9, 0, 0), TEN: (0, 0, 10)}), verdicts.CLAIM2).startswith("refuted")
    nothing = {NONE: (0, 10, 0), PRIMARY: (0, 0, 0), HALF: (0, 0, 0), TEN: (0, 0, 10)}
    assert _verdict(_claims(nothing), verdicts.CLAIM2).startswith("inconclusive")


def test_claim3_rules():
    base = {NONE: (0, 10, 0), PRIMARY: (8, 0, 0)}
    assert _verdict(_claims({**base, VALUE: (7, 0, 0)}), verdicts.CLAIM3).startswith("confirmed")
    assert _verdict(_claims({**base, VALUE: (0, 0, 0)}), verdicts.CLAIM3).startswith("refuted")
    row = _claims({**base, VALUE: (0, 0, 0)})
    row = row[row["claim"] == verdicts.CLAIM3].iloc[0]
    assert row["p_value_vs_norm"] == pytest.approx(fisher_exact(0, 10, 8, 10, "two-sided"))


def test_claims_table_has_the_columns_the_issue_asks_for():
    cl = _claims({NONE: (0, 10, 0), PRIMARY: (6, 0, 1), VALUE: (5, 0, 0)})
    for col in ("claim", "cell", "regime", "success_clipped", "success_unclipped", "diverged_clipped",
                "diverged_unclipped", "p_value", "verdict", "threshold_min", "wilson_clipped_low",
                "wilson_clipped_high", "wilson_unclipped_low", "wilson_unclipped_high", "blew_up_clipped"):
        assert col in cl.columns
    row = cl[cl["claim"] == verdicts.CLAIM1].iloc[0]
    assert row["regime"] == "expanding (10/10)" and row["expanding_seeds"] == "10/10"
    assert row["blew_up_clipped"] == 1 and row["wilson_clipped_low"] < 0.6 < row["wilson_clipped_high"]


# -- thresholds --------------------------------------------------------------------------------------


def test_the_absolute_grid_is_the_same_for_every_seed():
    opts = argparse.Namespace(quick=False, mode="full", seed=0)
    cs = design.configs(opts)
    assert len({c["key"] for c in cs}) == len(cs)
    by_method = {}
    for c in cs:
        by_method.setdefault((c["cell"], c["init"], c["clip"], c["t"]), set()).add(c["replica"])
    assert all(len(r) == design.SEEDS for r in by_method.values())  # every method on every seed
    for norm0, n_params in ((0.7, 13121), (740.0, 4417)):  # seeds with very different initial norms
        assert design.threshold_of({"clip": "norm", "t": 3.0}, norm0, n_params) == ("norm", 3.0)
        assert design.threshold_of({"clip": "norm_rel", "t": 0.5}, norm0, n_params) == ("norm", 0.5 * norm0)
        clip, t = design.threshold_of({"clip": "value", "t": 1.0}, norm0, n_params)
        assert clip == "value" and t * np.sqrt(n_params) == pytest.approx(1.0)
    # Every setting runs the pre-registered comparison on all seeds.
    for setting in design.INITS:
        assert (*setting, "none", 0.0) in by_method and (*setting, "norm", design.PRIMARY_THRESHOLD) in by_method


def _config(clip, t, replica):
    (c,) = with_seeds([{"key": f"k-{clip}-{t}-{replica}", "cell": "gru", "init": "default", "clip": clip, "t": t,
                        "replica": replica, "train_seed": 100 + replica, "lr": 1.0, "updates": 20, "T": 10, "H": 8,
                        "batch": 8, "pilot": 5, "eval_batch": 16, "final_batch": 32}], 0)
    return c


def test_compute_uses_the_shared_threshold_and_each_seeds_own_norm_for_relative_ones():
    a, b = design.compute(_config("norm", 1.0, 0)), design.compute(_config("norm", 1.0, 1))
    assert a["threshold"] == b["threshold"] == 1.0 and a["initial_norm"] != b["initial_norm"]
    rel = design.compute(_config("norm_rel", 0.5, 1))
    assert rel["initial_norm"] == b["initial_norm"]  # same seed, same initial network and batches
    assert rel["threshold"] == pytest.approx(0.5 * b["initial_norm"])
    none = design.compute(_config("none", 0.0, 1))
    assert none["clipped_fraction"] == 0.0 and none["lambda1"] == b["lambda1"]
    for r in (a, b, rel, none):
        assert np.isfinite(r["lambda1"]) and r["baseline"] > 0


def test_a_bad_setting_or_method_is_refused_with_its_name():
    with pytest.raises(ValueError, match="cell, init"):
        design.init_of({"cell": "gru", "init": "huge"})
    with pytest.raises(ValueError, match="clip: got 'both'"):
        design.threshold_of({"clip": "both", "t": 1.0}, 1.0, 10)


# -- quick mode, end to end ---------------------------------------------------------------------------


def test_quick_mode_writes_the_report_with_claims_and_figures(tmp_path):
    out = tmp_path / "report"
    assert STUDY.main(["--quick", "--out", str(out), "--results", str(tmp_path / "r"), "--no-progress"]) == 0
    cl = pd.read_csv(out / "claims.csv")
    assert {"claim", "cell", "regime", "success_clipped", "success_unclipped", "diverged_clipped",
            "diverged_unclipped", "p_value", "verdict"} <= set(cl.columns)
    assert set(cl["claim"]) == {verdicts.CLAIM1, verdicts.CLAIM2, verdicts.CLAIM3}
    assert all(v.split(":")[0].split(" ")[0] in ("confirmed", "refuted", "inconclusive") for v in cl["verdict"])
    for name in ("success_and_divergence", "curves", "lambda1"):
        assert (out / f"{name}.png").stat().st_size > 0 and (out / f"{name}.svg").exists()
    summary = pd.read_csv(out / "summary.csv")
    assert "none" in set(summary["method"])  # no clipping is drawn and tabulated with the rest
    readme = (out / "README.md").read_text()
    assert "Pre-registered before the full run" in readme and "1/6" not in readme


def test_the_findings_state_each_verdict_with_the_numbers_of_its_table():
    from bpttlab.studies.clipping import report  # noqa: PLC0415

    summary = verdicts.summarize(_runs({NONE: (0, 10, 0), PRIMARY: (1, 0, 2), VALUE: (10, 0, 0)}))
    cl, ex = verdicts.claims(summary), verdicts.exploratory(summary)
    text = "\n".join(report.findings(cl, summary, report.settings_table(summary), ex))
    assert "norm clipping at 1 learned in 1/10 seeds" in text and "no clipping in 0/10" in text
    assert "blew up 2 vs 0" in text and "Claim 1 is confirmed in 0 of 1 settings" in text
    p = fisher_exact(10, 10, 0, 10, "greater")
    assert f"gru default init, value 1/sqrt(P) (pre-registered): 10/10 against 0/10, p = {p:.3g}" in text
    assert "1 of the 1 settings are exploding" in text  # the constructed seeds are all measured expanding
