"""studies.science.intervals against published values and independent computations."""

import numpy as np
import pytest
from bpttlab.studies.science.intervals import bootstrap_interval, fisher_exact, wilson_interval


def test_wilson_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score, no continuity
    # correction): 81/263 -> 0.2553-0.3662, 15/148 -> 0.0624-0.1605, 0/20 -> 0-0.1611, 1/29 -> 0.0061-0.1718.
    for k, n, lo, hi in ((81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
                         (1, 29, 0.0061, 0.1718)):
        a, b = wilson_interval(k, n)
        assert a == pytest.approx(lo, abs=6e-5) and b == pytest.approx(hi, abs=6e-5)


def test_fisher_exact_by_hand():
    # 2/5 against 5/5: the one-sided p is P(a <= 2 | margins 7 successes of 10) = C(5,2)C(5,5)/C(10,7) = 10/120.
    assert fisher_exact(5, 5, 2, 5, alternative="greater") == pytest.approx(10 / 120)
    assert fisher_exact(5, 5, 2, 5) == pytest.approx(20 / 120)
    assert fisher_exact(3, 10, 3, 10) == pytest.approx(1.0)


def test_bootstrap_interval_of_the_median():
    x = np.random.default_rng(2).normal(5.0, 1.0, 41)
    lo, hi = bootstrap_interval(x, resamples=2000, seed=3)
    assert lo < np.median(x) < hi and hi - lo < 1.5
    assert bootstrap_interval(x, resamples=2000, seed=3) == (lo, hi)  # seeded


@pytest.mark.parametrize("call, match", [
    (lambda: wilson_interval(6, 5), "successes: got 6, expected at most 5"),
    (lambda: wilson_interval(1, 0), "successes: got 1, expected at most 0"),
    (lambda: wilson_interval(0, 0), "trials: got 0"),
    (lambda: wilson_interval(1, 5, confidence=95), "confidence: got 95"),
    (lambda: fisher_exact(1, 2, 1, 2, alternative="bigger"), "alternative: got 'bigger'"),
    (lambda: fisher_exact(-1, 2, 1, 2), "successes_a: got -1"),
    (lambda: bootstrap_interval([1.0]), "values: got 1 value"),
    (lambda: bootstrap_interval([1.0, np.nan]), "values: got non-finite"),
    (lambda: bootstrap_interval([1.0, 2.0], resamples=10), "resamples: got 10"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
