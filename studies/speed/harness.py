"""The timing harness of the speed study and its races: several implementations side by side in
one process (PyTorch's, ours, a BLAS peak), and CUDA-event timing on a GPU.

Each framework has its own thread pool, and each pool's threads spin for a while after their
work (OpenBLAS's for up to ~0.1 s, OpenMP's for milliseconds): timed right after another
framework, a multi-threaded call shares its cores with those spinning threads and measured
PyTorch's GRU 2-4x slower than it runs alone (70 ms instead of 18 ms in one configuration of
the speed study). So every timed run starts with a pause, which lets the previous pool go to
sleep, and one untimed call, so that the run measures the steady state rather than the wake-up.
"""

import math
import statistics
import time

PAUSE = 0.05  # seconds: measured enough for OpenBLAS's and both OpenMP runtimes' pools to sleep


def per_call(fn, n):
    """Seconds per call over n back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def interleaved(fns, repeats, min_run, pause=PAUSE):
    """{key: median seconds per call}; the functions take turns run by run.

    A run calls its function back to back for at least ``min_run`` seconds (once at least),
    after the pause and the untimed call.
    """
    calls = {}
    for k, fn in fns.items():
        fn()
        fn()  # warm-up: compilation, allocator, thread pools
        calls[k] = max(1, math.ceil(min_run / max(per_call(fn, 1), 1e-7)))
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            time.sleep(pause)
            fn()
            times[k].append(per_call(fn, calls[k]))
    return {k: statistics.median(v) for k, v in times.items()}


def single_call_median(fn, repeats, pause=PAUSE):
    """Median seconds of one call, each after a pause and one untimed call (for calls long
    enough to time alone, such as a 2048³ product)."""
    fn()
    ts = []
    for _ in range(repeats):
        time.sleep(pause)
        fn()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def cuda_event_ms(fn, cuda, repeats, warmup, wall=False):
    """Median and min over repeats of fn(), in ms, from CUDA events on the default stream
    (wall-clock time with wall=True: where events may not time anything, e.g. the simulator)."""
    for _ in range(warmup):
        fn()
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        if wall:
            t0 = time.perf_counter()
            fn()
            cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
            continue
        start, end = cuda.event(), cuda.event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), min(times)
