"""One side of the regression gate's A/B run: times the kernels of one source tree on request.

Run by bench/regression.py as ``python bench/_ab_worker.py --root TREE ...``, once for the
reference commit's kernels and once for the working tree's, each in its own process (so each
has its own Numba dispatchers and on-disk cache, the one under TREE/kernels). The parent asks
the two processes in turn to time one case, so both sides see the same machine moments.

The file is self-contained on purpose: it is also used against a reference commit's kernels,
whose tree may predate any helper in bench/ or studies/; it touches only the kernels' public
API (Network, init_params, forward, backward), which every version keeps.

Protocol: JSON lines. The worker answers ``{"ready": ...}`` once every case has been compiled and
warmed up, then for each ``{"time": CASE, "calls": N, "batches": K}`` answers ``{"seconds": S}``
(the best of K batches of N back-to-back calls, seconds per call), and exits on ``{"quit": true}``.
Anything the kernels print goes to stderr, so stdout carries only the protocol.
"""

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path


def load_kernels(root):
    """Import TREE/kernels as ``kernels``, whatever else is on sys.path or installed."""
    pkg = Path(root) / "kernels"
    if not (pkg / "__init__.py").is_file():
        raise SystemExit(f"--root: no kernels package in {root}")
    spec = importlib.util.spec_from_file_location(
        "kernels", pkg / "__init__.py", submodule_search_locations=[os.fspath(pkg)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["kernels"] = module
    spec.loader.exec_module(module)
    return module


def make_case(kernels, cell, mode, shape, dtype, slow):
    """A zero-argument callable for one forward or forward+backward call of ``cell``.

    ``slow`` runs the call twice: the gate's own test uses it to emulate a kernel that became
    2x slower on one side only.
    """
    import numpy as np  # noqa: PLC0415

    T, B, I, H = shape
    net = kernels.Network(cell, I, H)
    params = net.init_params(seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    if mode == "forward":
        def call():
            return net.forward(params, x, training=False)
    elif mode == "forward_backward":
        def call():
            return net.backward(net.forward(params, x).tape, dy)
    else:
        raise SystemExit(f"--modes: got {mode!r}, expected forward or forward_backward")
    if not slow:
        return call

    def twice():
        call()
        return call()

    return twice


def best_per_call(fn, calls, batches):
    """Seconds per call: the best of ``batches`` batches, since interference only adds time."""
    best = math.inf
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="the tree whose kernels/ is measured")
    ap.add_argument("--shape", required=True, help="T,B,I,H")
    ap.add_argument("--cells", required=True, help="comma-separated cell names")
    ap.add_argument("--modes", default="forward,forward_backward")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--slow", default="", help="comma-separated cells whose calls run twice (the gate's test)")
    args = ap.parse_args(argv)

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the kernels or Numba print must not corrupt the protocol

    import numba  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    np.seterr(all="ignore")
    kernels = load_kernels(args.root)
    # One thread each (kernels and BLAS): on a shared machine a parallel region waits for its
    # slowest thread, so its time follows the neighbours' load far more than one thread's does.
    numba.set_num_threads(1)
    threadpool_limits(1)

    shape = tuple(int(v) for v in args.shape.split(","))
    slow = set(filter(None, args.slow.split(",")))
    dtype = np.dtype(args.dtype)
    cases, estimate = {}, {}
    t0 = time.perf_counter()
    for cell in args.cells.split(","):
        for mode in args.modes.split(","):
            key = f"{cell}/{mode}"
            cases[key] = make_case(kernels, cell, mode, shape, dtype, cell in slow)
            cases[key]()  # compiles, or loads from the cache
            cases[key]()
            estimate[key] = best_per_call(cases[key], 1, 3)
    ready = {
        "ready": True,
        "kernels": os.fspath(Path(kernels.__file__).parent),
        "compile_seconds": time.perf_counter() - t0,
        "estimate_seconds": estimate,
    }
    protocol.write(json.dumps(ready) + "\n")
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("quit"):
            break
        t = best_per_call(cases[msg["time"]], int(msg["calls"]), int(msg["batches"]))
        protocol.write(json.dumps({"seconds": t}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
