"""Kernel performance regression check: a short benchmark subset against a committed baseline.

Shared machines are noisy, so raw times are never compared. Each round times a calibration
(a fixed SGEMM and a fixed scalar loop, the two kinds of work the kernels do) next to every
case, and a case's score is its time divided by that round's calibration time; the score
kept is the median over rounds. A case fails when its score exceeds the baseline's by more
than the threshold. The threshold sits well above the spread measured on unchanged code
(see README) and well below the 2x a real regression costs.

    python -m bench.regression                    # compare with bench/baseline.json
    python -m bench.regression --update-baseline  # measure and write a new baseline
    python -m bench.regression --repeat 5         # measure the noise: spread over 5 runs
"""

import argparse
import contextlib
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.cases import make_case

BASELINE = Path(__file__).with_name("baseline.json")
THRESHOLD = 1.5  # fail above 1.5x the baseline score: noise stays under ~1.2x, a 2x slowdown trips it
SHAPE = (100, 16, 32, 128)  # T, B, I, H: mid-sized, ~0.3-5 ms a call on one thread, the kernels' own work
CELLS = ("rnn_tanh", "rnn_relu", "lstm", "lstm_peephole", "lstm_cifg", "gru", "gru_cho")
MODES = ("forward", "forward_backward")
ROUND_SECONDS = 0.001  # each batch repeats its call until it has run this long: well under a time slice


def case_id(cell, mode):
    return f"{cell}/{mode}"


def default_cases():
    return {case_id(c, m): make_case(c, m, *SHAPE) for c in CELLS for m in MODES}


def _calibration():
    from bench.calibrate import scalar_loop, sgemm  # noqa: PLC0415 - compiles on first use

    return {"sgemm": sgemm, "scalar": scalar_loop}


def _time(fn, n, batches=9):
    """Seconds per call: the best of a few short batches, since interference only adds time."""
    best = math.inf
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def _repeats(fn):
    """Calls per batch so that one batch lasts about ROUND_SECONDS."""
    fn()  # warm-up (and compilation)
    t = _time(fn, 1, batches=1)
    return max(1, math.ceil(ROUND_SECONDS / max(t, 1e-7)))


@contextlib.contextmanager
def one_thread():
    """Kernels, calibration and BLAS on one thread while measuring.

    On a shared machine a parallel region waits for its slowest thread, so its time depends on
    what the neighbours do far more than a single thread's does, and not in proportion to the
    calibration's; one thread each keeps the ratio stable (measured: see README).
    """
    import numba  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(before)


def measure(cases, rounds=15, progress=None):
    """{case: median over rounds of time / calibration time}, plus the raw medians (one thread)."""
    with one_thread():
        return _measure(cases, rounds, progress)


def _measure(cases, rounds, progress):
    cal = _calibration()
    reps = {k: _repeats(f) for k, f in {**cal, **cases}.items()}
    scores = {k: [] for k in cases}
    raw = {k: [] for k in {**cal, **cases}}
    for r in range(rounds):
        for k, f in cal.items():
            raw[k].append(_time(f, reps[k]))
        # Geometric mean: the kernels' time is part BLAS, part scalar arithmetic.
        unit = math.sqrt(raw["sgemm"][-1] * raw["scalar"][-1])
        for k, f in cases.items():
            t = _time(f, reps[k])
            raw[k].append(t)
            scores[k].append(t / unit)
        if progress:
            progress(r + 1, rounds)
    return (
        {k: statistics.median(v) for k, v in scores.items()},
        {k: statistics.median(v) for k, v in raw.items()},
    )


def compare(scores, baseline, threshold=THRESHOLD):
    """Rows (case, baseline, current, ratio, verdict) and whether every case passed."""
    rows, ok = [], True
    for k in sorted(scores):
        base = baseline.get(k)
        if base is None:
            rows.append((k, None, scores[k], None, "new (no baseline)"))
            continue
        ratio = scores[k] / base
        if ratio > threshold:
            verdict, ok = "SLOWER: regression", False
        elif ratio < 1 / threshold:
            verdict = "faster: update the baseline"
        else:
            verdict = "ok"
        rows.append((k, base, scores[k], ratio, verdict))
    missing = sorted(set(baseline) - set(scores))
    for k in missing:
        rows.append((k, baseline[k], None, None, "not measured"))
    return rows, ok


def format_table(rows, threshold=THRESHOLD):
    out = [f"{'case':32s} {'baseline':>10s} {'current':>10s} {'ratio':>7s}  verdict (fail above {threshold:.2f}x)"]
    for k, base, cur, ratio, verdict in rows:
        fmt = lambda v, spec: format(v, spec) if v is not None else "-"  # noqa: E731
        out.append(f"{k:32s} {fmt(base, '10.4g')} {fmt(cur, '10.4g')} {fmt(ratio, '7.3f')}  {verdict}")
    return "\n".join(out)


def load_baseline(path=BASELINE):
    data = json.loads(Path(path).read_text())
    return data["scores"]


def write_baseline(scores, raw, path=BASELINE):
    data = {
        "about": "Scores = median(kernel time / calibration time); see bench/regression.py. "
        "Regenerate with: python -m bench.regression --update-baseline",
        "shape_TBIH": list(SHAPE),
        "machine": {"processor": platform.processor() or platform.machine(), "python": platform.python_version()},
        "raw_median_seconds": {k: float(f"{v:.4g}") for k, v in sorted(raw.items())},
        "scores": {k: float(f"{v:.5g}") for k, v in sorted(scores.items())},
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update-baseline", action="store_true", help="write the measured scores as the new baseline")
    ap.add_argument("--rounds", type=int, default=15, help="rounds per run; the median is kept (default 15)")
    ap.add_argument("--threshold", type=float, default=THRESHOLD, help=f"fail above this ratio (default {THRESHOLD})")
    ap.add_argument("--repeat", type=int, default=1, help="run the check this many times and report the spread")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.repeat < 1 or args.threshold <= 1:
        ap.error("--rounds and --repeat must be >= 1 and --threshold > 1")

    def progress(r, n):
        print(f"\r  round {r}/{n}", end="" if r < n else "\n", file=sys.stderr, flush=True)

    cases = default_cases()
    t0 = time.perf_counter()
    runs = []
    for i in range(args.repeat):
        if args.repeat > 1:
            print(f"run {i + 1}/{args.repeat}", file=sys.stderr)
        scores, raw = measure(cases, args.rounds, progress)
        runs.append(scores)
    if args.update_baseline:
        write_baseline(scores, raw, args.baseline)
        print(f"wrote {args.baseline} ({len(scores)} cases, {time.perf_counter() - t0:.0f} s)")
        return 0
    baseline = load_baseline(args.baseline)
    all_ok = True
    for scores in runs:
        rows, ok = compare(scores, baseline, args.threshold)
        all_ok &= ok
        print(format_table(rows, args.threshold))
    if args.repeat > 1:
        print("\nspread over runs (max/min of each case's score):")
        spreads = {k: max(r[k] for r in runs) / min(r[k] for r in runs) for k in runs[0]}
        for k, s in sorted(spreads.items()):
            print(f"  {k:32s} {s:.3f}")
        ratios = [r[k] / baseline[k] for r in runs for k in r if k in baseline]
        print(f"ratio to baseline over all runs and cases: min {min(ratios):.3f}, max {max(ratios):.3f}; "
              f"largest per-case spread {max(spreads.values()):.3f}")
    print(f"{'PASS' if all_ok else 'FAIL'}: {len(runs[0])} cases, {args.repeat} run(s), "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0 if all_ok else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
