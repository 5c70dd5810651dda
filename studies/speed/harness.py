"""The timing harness of the speed study and its races: several implementations side by side in
one process (PyTorch's, ours, a BLAS peak), and CUDA-event timing on a GPU.

Each framework has its own thread pool, and each pool's threads spin for a while after their
work: timed right after another framework, a multi-threaded call shares its cores with those
spinning threads. How long they spin differs by library and machine. On a 2-core znver1 machine
(the 2026-12-02 session), OpenBLAS's second thread kept a core busy for 130-160 ms after a
2048³ product, while PyTorch's and Numba's OpenMP pools went idle within ~15 ms; the fixed
50 ms pause used before that left the case timed after NumPy's product (ours: the LSTM forward
in the speed study, our GEMM in the race) running on one core, 1.8x slower. So every timed run
starts by *settling*: a minimum pause, then waiting until the process's other threads use
no CPU (``settle``), and one untimed call, so that the run measures the steady state rather
than the wake-up.
"""

import math
import statistics
import time

PAUSE = 0.05  # seconds: the least a run waits after the one before it
SETTLE_WINDOW = 0.005  # seconds per look at the process's CPU time while settling
SETTLE_IDLE = 0.1  # a window in which the other threads used under this share of one core is idle
SETTLE_MAX = 2.0  # seconds: give up waiting (a thread that never sleeps) and time anyway

# What settling waited for in this process: the longest wait (seconds) and the runs that hit
# SETTLE_MAX. The races report them beside their results.
settle_stats = {"longest": 0.0, "gave_up": 0, "runs": 0}


def settle(pause=PAUSE):
    """Sleep ``pause`` seconds, then until the process's other threads are idle.

    The calling thread sleeps throughout, so the process's CPU time that grows meanwhile is
    other threads': spinning pool threads. Idle means a SETTLE_WINDOW in which it grew by less
    than SETTLE_IDLE of the window. Returns the seconds waited.
    """
    t0 = time.perf_counter()
    if pause > 0:
        time.sleep(pause)
        while time.perf_counter() - t0 < SETTLE_MAX:
            c0, w0 = time.process_time(), time.perf_counter()
            time.sleep(SETTLE_WINDOW)
            if time.process_time() - c0 < SETTLE_IDLE * (time.perf_counter() - w0):
                break
        else:
            settle_stats["gave_up"] += 1
    waited = time.perf_counter() - t0
    settle_stats["runs"] += 1
    settle_stats["longest"] = max(settle_stats["longest"], waited)
    return waited


def per_call(fn, n):
    """Seconds per call over n back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def interleaved(fns, repeats, min_run, pause=PAUSE):
    """{key: median seconds per call}; the functions take turns run by run.

    A run calls its function back to back for at least ``min_run`` seconds (once at least),
    after settling (``settle(pause)``; no wait with pause 0) and the untimed call.
    """
    calls = {}
    for k, fn in fns.items():
        fn()
        fn()  # warm-up: compilation, allocator, thread pools
        calls[k] = max(1, math.ceil(min_run / max(per_call(fn, 1), 1e-7)))
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            settle(pause)
            fn()
            times[k].append(per_call(fn, calls[k]))
    return {k: statistics.median(v) for k, v in times.items()}


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
