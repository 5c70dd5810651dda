"""Intervals and exact tests for the training studies' verdicts (issue 15): rates of success over
seeds with Wilson score intervals, the difference between two such rates with Fisher's exact test,
and percentile-bootstrap intervals for a statistic of a small sample (the median final loss).

Each function checks its arguments and says which one is wrong; none is a constant picked for a
table: the level and the number of resamples are arguments the report states.
"""

import math

import numpy as np
from scipy import stats


def _count(name, v, upper=None):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"{name}: got {v!r}, expected an integer >= 0")
    if upper is not None and v > upper:
        raise ValueError(f"{name}: got {v}, expected at most {upper}")
    return int(v)


def _level(confidence):
    if not (isinstance(confidence, (float, int)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence: got {confidence!r}, expected a number strictly between 0 and 1")
    return float(confidence)


def wilson_interval(successes, trials, confidence=0.95):
    """(low, high) of the Wilson score interval for a binomial rate (Wilson 1927): sensible at 0/n and
    n/n, where the normal-approximation interval collapses to a point."""
    n = _count("trials", trials)
    k = _count("successes", successes, n)
    if n == 0:
        raise ValueError("trials: got 0, expected at least one trial")
    z = stats.norm.ppf(0.5 + _level(confidence) / 2.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact(successes_a, trials_a, successes_b, trials_b, alternative="two-sided"):
    """p-value of Fisher's exact test on the 2x2 table (successes, failures) of two groups;
    alternative "greater" tests whether group a's rate is higher than group b's."""
    na, nb = _count("trials_a", trials_a), _count("trials_b", trials_b)
    ka, kb = _count("successes_a", successes_a, na), _count("successes_b", successes_b, nb)
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative: got {alternative!r}, expected 'two-sided', 'greater' or 'less'")
    if na == 0 or nb == 0:
        raise ValueError(f"trials_a, trials_b: got {na} and {nb}, expected at least one trial in each group")
    return float(stats.fisher_exact([[ka, na - ka], [kb, nb - kb]], alternative=alternative).pvalue)


def bootstrap_interval(values, statistic=np.median, confidence=0.95, resamples=10_000, seed=0):
    """(low, high) percentile-bootstrap interval of ``statistic`` over ``values`` (finite numbers),
    from ``resamples`` seeded resamples with replacement."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"values: got {x.size} value(s), expected at least 2 to resample")
    if not np.all(np.isfinite(x)):
        raise ValueError("values: got non-finite entries (NaN or inf), expected finite numbers; "
                         "report diverged runs apart instead of resampling them")
    _count("resamples", resamples)
    if resamples < 100:
        raise ValueError(f"resamples: got {resamples}, expected at least 100")
    alpha = (1.0 - _level(confidence)) / 2.0
    idx = np.random.default_rng(seed).integers(0, x.size, (resamples, x.size))
    boot = np.apply_along_axis(statistic, 1, x[idx])
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(low), float(high)
