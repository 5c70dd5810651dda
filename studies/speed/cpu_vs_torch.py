"""The speed study's race: bpttlab's CPU kernels against PyTorch's nn.LSTM / nn.GRU / nn.RNN,
float32, in one run, at issue 7's five shapes, against its goals.

For each cell (lstm, gru, rnn_tanh) and each shape (T, B, I, H) of issue 7, times a forward
pass (inference: torch.no_grad() / ``training=False``) and a forward + backward pass (dL/dy
at every step; gradients of the parameters, of x and of the initial state) for both, with
the same number of threads (``--threads``, default 2: ``torch.set_num_threads``, NumPy's BLAS pool and
``numba.set_num_threads``); next to them a NumPy SGEMM of 2048³ gives the machine's
measured BLAS peak. A measurement is the median of ``--repeats`` (7) runs after a warm-up;
a run calls the function as often as fits in ``--min-run`` seconds (at least once), after
settling (a pause, then until the process's other threads stop spinning) and one untimed
call, so that sub-millisecond calls are not timer noise and every run sees the steady state
(studies/speed/harness.py). Torch and ours (and NumPy, for the products) alternate run by run.

    python -m bpttlab.studies.speed.cpu_vs_torch                 # all 15 points; writes reports/speed/cpu_vs_torch/
    python -m bpttlab.studies.speed.cpu_vs_torch --quick         # fewer repeats, for a look
    python -m bpttlab.studies.speed.cpu_vs_torch --cells lstm --shapes 100,64,512,512
    python -m bpttlab.studies.speed.cpu_vs_torch --accuracy      # also measure the float32 tanh/sigmoid error

The run measures a 2048³ float32 product with NumPy (OpenBLAS, as the environment configures it),
PyTorch and kernels/cpu/_gemm.py (the GEMM our kernels use; they call no BLAS), and the products
the LSTM kernels run at each shape; the goals' peak is the fastest BLAS product (NumPy's or
PyTorch's) measured beside ours. On the project's machines OpenBLAS (0.3.30/0.3.31, which does not know
AMD Zen 5) runs its AVX2 "Haswell" kernels, and the environment pins OPENBLAS_CORETYPE=Haswell;
``--blas-coretype SkylakeX`` measures the peak with OpenBLAS's AVX-512 kernels instead.

Without PyTorch the torch columns are left empty and only our times and the SGEMM peak are
reported.
"""

import os
import sys

# -- before NumPy loads: which OpenBLAS kernels -------------------------------------------


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _choose_coretype(argv):
    """Apply --blas-coretype NAME (OPENBLAS_CORETYPE) before NumPy loads; say what holds."""
    want = None
    for i, a in enumerate(argv):
        if a == "--blas-coretype" and i + 1 < len(argv):
            want = argv[i + 1]
        elif a.startswith("--blas-coretype="):
            want = a.split("=", 1)[1]
    if want:
        os.environ["OPENBLAS_CORETYPE"] = want
        return f"{want} (--blas-coretype)"
    if "OPENBLAS_CORETYPE" in os.environ:
        return f"{os.environ['OPENBLAS_CORETYPE']} (from the environment)"
    return "unset (OpenBLAS's own detection)"


if __name__ == "__main__":
    _CORETYPE_NOTE = _choose_coretype(sys.argv[1:])
else:
    _CORETYPE_NOTE = "as the importing process left it"

import argparse  # noqa: E402
import csv  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:  # PyTorch first: its OpenMP runtime starts with its own defaults
    import torch
except ImportError:  # pragma: no cover - the torch columns stay empty
    torch = None

import numba  # noqa: E402
from bpttlab import kernels  # noqa: E402

from ..framework.provenance import cpu_microarchitecture  # noqa: E402
from .flops import flops  # noqa: E402
from .harness import PAUSE, SETTLE_MAX, interleaved, settle_stats  # noqa: E402

SHAPES = [(100, 1, 64, 128), (64, 32, 32, 64), (100, 32, 128, 256), (1000, 16, 64, 128), (100, 64, 512, 512)]
CELLS = ("lstm", "gru", "rnn_tanh")
LARGEST = SHAPES[-1]
# Issue 16's goals, our speed / PyTorch's, per cell: (elsewhere, at the largest shape, where
# PyTorch leaves room). "Room": PyTorch's rate in that mode is below LSTM_SLOW of the peak (the
# fastest 2048³ product of a BLAS measured beside it, NumPy's or PyTorch's), where ours should
# take what PyTorch leaves; None: no such rule for the cell.
GOALS = {"lstm": (1.0, 1.0, 1.3), "gru": (2.0, 1.3, None), "rnn_tanh": (2.0, 1.3, None)}
LSTM_SLOW = 0.70
GEMM_GOAL = 0.95  # our product / the fastest BLAS product beside it, at 2048³ and at the kernels' shapes
PEAK_GOAL = 0.80  # the largest shape's forward, as a fraction of the fastest BLAS product (issue 7)
OUT = Path("reports") / "speed" / "cpu_vs_torch"  # under the working directory


# -- the timed functions ------------------------------------------------------------------


def torch_module(cell, I, H):
    if cell == "lstm":
        return torch.nn.LSTM(I, H)
    if cell == "gru":
        return torch.nn.GRU(I, H)
    return torch.nn.RNN(I, H, nonlinearity="tanh" if cell == "rnn_tanh" else "relu")


def make_pair(cell, T, B, I, H, seed=0):
    """{(framework, mode): zero-argument function} for one cell and shape, same parameters."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    fns = {}
    if torch is not None:
        torch.manual_seed(seed)
        m = torch_module(cell, I, H).float()
        params = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
        xt = torch.from_numpy(x)
        xg = torch.from_numpy(x.copy()).requires_grad_(True)
        dyt = torch.from_numpy(dy)

        def t_fwd():
            with torch.no_grad():
                return m(xt)

        def t_fb():
            m.zero_grad(set_to_none=True)
            xg.grad = None
            y, _ = m(xg)
            y.backward(dyt)
            return xg.grad

        fns["torch", "forward"] = t_fwd
        fns["torch", "forward_backward"] = t_fb
    else:
        params = kernels.init_params(cell, I, H, seed=seed, dtype=np.float32)
    net = kernels.Network.for_params(cell, params)

    def o_fwd():
        return net.forward(params, x, training=False)

    def o_fb():
        fw = net.forward(params, x)
        return net.backward(fw.tape, dy)

    fns["ours", "forward"] = o_fwd
    fns["ours", "forward_backward"] = o_fb
    return fns


def measure(fns, repeats, min_run, pause=PAUSE):
    """{key: median seconds per call}, the functions taking turns (see studies/speed/harness.py)."""
    return interleaved(fns, repeats, min_run, pause)


def ours_product(a, b, transpose_a=False, pack_each_call=False):
    """A zero-argument function computing a @ b (a.T @ b with ``transpose_a``), float32, with the
    GEMM bpttlab's kernels use (kernels/cpu/_gemm.py) on Numba's threads. b is packed once, as
    the kernels pack their weights once per pass, or with ``pack_each_call`` inside the timed
    call, as the weight gradients pack their inputs (and a BLAS packs inside its call)."""
    from bpttlab.kernels.cpu._par import mm_par, pack  # noqa: PLC0415

    K, M = a.shape if transpose_a else a.shape[::-1]
    N = b.shape[1]
    ars, acs = (1, M) if transpose_a else (K, 1)
    af, bf = a.reshape(-1), b.reshape(-1)
    c = np.empty((M, N), np.float32).reshape(-1)
    if pack_each_call:
        return lambda: mm_par(M, N, K, af, 0, ars, acs, pack(bf, 0, N, K, N), c, 0, N, 0.0)
    bp = pack(bf, 0, N, K, N)
    return lambda: mm_par(M, N, K, af, 0, ars, acs, bp, c, 0, N, 0.0)


def product_cases(a, b, transpose_a=False, pack_each_call=False):
    """{impl: zero-argument function} for a @ b (a.T @ b): NumPy's, ours and PyTorch's."""
    fns = {"numpy": (lambda: a.T @ b) if transpose_a else (lambda: a @ b),
           "ours": ours_product(a, b, transpose_a, pack_each_call)}
    if torch is not None:
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = (lambda: at.T @ bt) if transpose_a else (lambda: at @ bt)
    return fns


def fastest_blas(gflops):
    """The fastest BLAS product in {impl: GFLOP/s} (NumPy's or PyTorch's; ours excluded)."""
    return max(v for k, v in gflops.items() if k != "ours")


def sgemm_peaks(repeats, n=2048):
    """GFLOP/s of a float32 n³ product: NumPy's (the issue's "SGEMM peak"), PyTorch's, and the
    GEMM bpttlab's kernels use (packed B, on the same threads), interleaved run by run."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    med = measure(product_cases(a, b), repeats, min_run=0.0)
    return {k: 2 * n**3 / v for k, v in med.items()}


def kernel_products(shapes, repeats, min_run):
    """GFLOP/s of the products the LSTM kernels run at each shape (T, B, I, H), ours against
    NumPy's and PyTorch's, float32, interleaved: the recurrent product of one forward step
    (B x H times H x 4H, the weights packed once per pass, so not timed) and the recurrent
    weights' gradient (4H x T·B times T·B x H, G^T h, the inputs packed on every call and
    timed with it, as a BLAS packs inside its call). Rows: dicts with the GFLOP/s per impl."""
    rows = []
    rng = np.random.default_rng(2)
    for T, B, I, H in shapes:
        G = 4 * H
        h = rng.standard_normal((B, H)).astype(np.float32)
        w = rng.standard_normal((H, G)).astype(np.float32)  # W_hh^T: the step is h @ w
        g = rng.standard_normal((T * B, G)).astype(np.float32)  # dL/d(gates), one row per (t, b)
        x = rng.standard_normal((T * B, H)).astype(np.float32)
        cases = {
            f"forward step {B} x {H} x {G}": (2 * B * H * G, product_cases(h, w)),
            f"dW_hh {G} x {T * B} x {H}": (2 * G * T * B * H, product_cases(g, x, transpose_a=True,
                                                                            pack_each_call=True)),
        }
        for name, (fl, fns) in cases.items():
            res = measure(fns, repeats, min_run)
            rows.append({"shape": f"{T}, {B}, {I}, {H}", "product": name,
                         **{k: fl / v / 1e9 for k, v in res.items()}})
    return rows


# -- float32 approximations --------------------------------------------------------------


def accuracy(step=61):
    """Max error (ulp of the float32 result) of the float32 tanh/sigmoid/exp, every step-th
    float32 bit pattern with |x| < 120, against float64 libm."""
    from bpttlab.kernels.cpu._common import exp_f32, sigmoid, tanh  # noqa: PLC0415
    from bpttlab.kernels.cpu._jit import jit  # noqa: PLC0415

    @jit
    def apply(which, x, out):
        for i in range(x.shape[0]):
            if which == 0:
                out[i] = tanh(x[i])
            elif which == 1:
                out[i] = sigmoid(x[i])
            else:
                out[i] = exp_f32(x[i])

    bits = np.arange(0, 2**31, step, dtype=np.int64).astype(np.uint32)
    xs = bits.view(np.float32)
    xs = xs[np.isfinite(xs) & (np.abs(xs) < 120)]
    x = np.concatenate([xs, -xs])
    x64 = x.astype(np.float64)
    out = np.empty_like(x)
    res = {}
    for which, name, ref in ((0, "tanh", np.tanh), (1, "sigmoid", lambda v: 1 / (1 + np.exp(-v))), (2, "exp", np.exp)):
        keep = np.ones(x.shape, bool) if name != "exp" else x64 < 88.7
        apply(which, x[keep], out[: keep.sum()])
        got, want = out[: keep.sum()].astype(np.float64), ref(x64[keep])
        normal = np.abs(want) >= np.finfo(np.float32).tiny
        ulp = np.spacing(np.abs(want[normal]).astype(np.float32)).astype(np.float64)
        err = np.abs(got[normal] - want[normal]) / ulp
        res[name] = (float(err.max()), float(np.abs(got[~normal] - want[~normal]).max()) if (~normal).any() else 0.0)
    return res, x.size


# -- report ------------------------------------------------------------------------------


def blas_info():
    """Core type and thread count of each OpenBLAS loaded (NumPy's, SciPy's)."""
    import ctypes  # noqa: PLC0415

    out = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return out
    for p in paths:
        lib = ctypes.CDLL(p)
        for suffix in ("", "64_"):
            for pre in ("scipy_openblas_get_corename", "openblas_get_corename"):
                fn = getattr(lib, pre + suffix, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    out.append(f"{Path(p).name}: {fn().decode()}")
                    break
            else:
                continue
            break
    return out


def machine(threads):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = _cpu_flags()
    import llvmlite  # noqa: PLC0415
    import scipy  # noqa: PLC0415
    from threadpoolctl import threadpool_info  # noqa: PLC0415

    arch = cpu_microarchitecture()
    overrides = "".join(f", {k}={v}" for k, v in arch.items() if k.startswith("NUMBA_"))
    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs, AVX-512: {'yes' if 'avx512f' in flags else 'no'}",
        "cpu as LLVM names it (what Numba compiles for)": f"{arch['llvm_cpu_name']}{overrides}",
        "its features (LLVM)": arch["llvm_cpu_features"],
        "the CPU kernels' instruction set and GEMM tile": arch["kernels_isa"],
        "python": platform.python_version(),
        "versions": f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
        f"llvmlite {llvmlite.__version__}, torch {torch.__version__ if torch is not None else 'absent'}",
        "threads": f"{threads} (torch.set_num_threads, numba.set_num_threads, threadpoolctl for BLAS); numba threading layer "
        f"{numba.threading_layer()}",
        "blas (NumPy's SGEMM peak; bpttlab's kernels call no BLAS)": "; ".join(blas_info())
        + f" (OPENBLAS_CORETYPE: {_CORETYPE_NOTE}); threads: " + ", ".join(
            f"{Path(i['filepath']).name} {i['num_threads']}" for i in threadpool_info() if i["internal_api"] == "openblas"),
    }


def _loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def fmt(v, spec=".3g"):
    return "" if v is None else format(v, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--min-run", type=float, default=0.05, help="seconds a run lasts at least (default 0.05)")
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--shapes", nargs="*", help="T,B,I,H ... (default: the five of issue 7)")
    ap.add_argument("--quick", action="store_true", help="3 repeats, 5 ms runs")
    ap.add_argument("--accuracy", action="store_true", help="measure the float32 approximations too")
    ap.add_argument("--blas-coretype", help="OPENBLAS_CORETYPE for NumPy's SGEMM peak (e.g. SkylakeX)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.min_run = 3, 0.005
    cells = args.cells.split(",")
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else SHAPES

    # The same thread count for every implementation. Importing bpttlab.studies set
    # OPENBLAS_NUM_THREADS=1 before NumPy loaded (the studies' small products run best on one
    # thread), which left NumPy's products on one core: raise its BLAS pool to --threads here.
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    with threadpool_limits(limits=args.threads):
        return _race(args, cells, shapes)


def _race(args, cells, shapes):
    if torch is not None:
        torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    t_start = time.perf_counter()
    load0 = _loadavg()
    peaks = sgemm_peaks(args.repeats)
    blas_peak = fastest_blas(peaks)
    print("SGEMM 2048^3 GFLOP/s: " + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in peaks.items()), flush=True)
    products = kernel_products(shapes, args.repeats, args.min_run)
    for r in products:
        print(f"{r['product']}: " + ", ".join(f"{k} {r[k]:.0f}" for k in ("numpy", "torch", "ours") if k in r),
              flush=True)

    rows = []
    for cell in cells:
        for T, B, I, H in shapes:
            res = measure(make_pair(cell, T, B, I, H), args.repeats, args.min_run)
            row = {"cell": cell, "T": T, "B": B, "I": I, "H": H}
            for mode, short in (("forward", "fwd"), ("forward_backward", "fb")):
                ours = res["ours", mode]
                theirs = res.get(("torch", mode))
                fl = sum(flops(cell, mode, T, B, I, H))
                row[f"torch_{short}_ms"] = None if theirs is None else theirs * 1e3
                row[f"ours_{short}_ms"] = ours * 1e3
                row[f"speedup_{short}"] = None if theirs is None else theirs / ours
                row[f"ours_{short}_gflops"] = fl / ours / 1e9
                row[f"torch_{short}_gflops"] = None if theirs is None else fl / theirs / 1e9
            largest = (T, B, I, H) == LARGEST
            row["peak_fraction_fwd"] = row["ours_fwd_gflops"] * 1e9 / blas_peak if largest else None
            for short in ("fwd", "fb"):
                need = goal(cell, largest, row[f"torch_{short}_gflops"], blas_peak)
                row[f"goal_{short}"] = need
                sp = row[f"speedup_{short}"]
                row[f"pass_{short}"] = None if sp is None else sp >= need
                # The rate the goal asks of ours: where it exceeds every 2048^3 product measured
                # on this machine, no loop structure meets it.
                theirs_gf = row[f"torch_{short}_gflops"]
                row[f"need_{short}_gflops"] = None if theirs_gf is None else theirs_gf * need
            row["pass_peak"] = row["peak_fraction_fwd"] >= PEAK_GOAL if largest else None
            rows.append(row)
            print(f"{cell:9s} {T},{B},{I},{H}: torch {fmt(row['torch_fwd_ms'])} / {fmt(row['torch_fb_ms'])} ms, "
                  f"ours {fmt(row['ours_fwd_ms'])} / {fmt(row['ours_fb_ms'])} ms, speedup "
                  f"{fmt(row['speedup_fwd'], '.2f')} / {fmt(row['speedup_fb'], '.2f')}", flush=True)
    acc = accuracy() if args.accuracy else None
    wall = time.perf_counter() - t_start
    mach = machine(args.threads)
    mach["load average (1 min) at start / end"] = f"{load0} / {_loadavg()} (other processes on the machine add noise)"
    mach["settling before each timed run"] = (
        f"longest wait {settle_stats['longest'] * 1e3:.0f} ms over {settle_stats['runs']} runs, "
        f"{settle_stats['gave_up']} gave up after {SETTLE_MAX:.0f} s (studies/speed/harness.py: settle)")
    write(args.out, rows, peaks, blas_peak, products, mach, acc, args, wall)
    print(f"wrote {args.out}/results.csv and results.md ({wall:.0f} s)")
    return 0


def goal(cell, largest, torch_gflops, blas_peak):
    """The speedup over PyTorch a cell must reach at one shape and mode (see GOALS)."""
    elsewhere, at_largest, room_goal = GOALS.get(cell, GOALS["rnn_tanh"])
    if room_goal is not None and torch_gflops is not None and torch_gflops * 1e9 < LSTM_SLOW * blas_peak:
        return room_goal
    return at_largest if largest else elsewhere


def write(out, rows, peaks, blas_peak, products, mach, acc, args, wall):
    out.mkdir(parents=True, exist_ok=True)
    cols = ["cell", "T", "B", "I", "H", "torch_fwd_ms", "ours_fwd_ms", "speedup_fwd", "torch_fb_ms", "ours_fb_ms",
            "speedup_fb", "goal_fwd", "goal_fb", "pass_fwd", "pass_fb", "ours_fwd_gflops", "torch_fwd_gflops",
            "ours_fb_gflops", "torch_fb_gflops", "need_fwd_gflops", "need_fb_gflops", "peak_fraction_fwd", "pass_peak"]
    extra = {f"sgemm_{k}_gflops": f"{v / 1e9:.6g}" for k, v in peaks.items()}
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*cols, *extra])
        for r in rows:
            w.writerow([("" if r[c] is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c])) for c in cols]
                       + list(extra.values()))
    yn = lambda v: "" if v is None else ("yes" if v else "**no**")  # noqa: E731
    lines = [
        "# CPU kernels vs PyTorch (float32)",
        "",
        f"Generated by `python -m bpttlab.studies.speed.cpu_vs_torch{' --quick' if args.quick else ''}` in {wall:.0f} s: median of "
        f"{args.repeats} runs (each at least {args.min_run * 1e3:.0f} ms of back-to-back calls, after settling: a pause, "
        "then until the process's other threads stop spinning; then one untimed call); torch and ours (and NumPy, for "
        "the products) alternate run by run; forward = inference (`torch.no_grad()` / "
        "`training=False`), forward+backward = a training forward and the backward pass for dL/dy at every step "
        "(gradients of the parameters, x and the initial state).",
        "",
        "Speedup = PyTorch's time / ours (above 1: ours is faster). Goals (issue 16): GRU / RNN ≥ "
        f"{GOALS['gru'][0]}× at every shape but the largest, ≥ {GOALS['gru'][1]}× there; LSTM ≥ {GOALS['lstm'][0]}× "
        f"everywhere, and ≥ {GOALS['lstm'][2]}× where PyTorch's rate in that mode is below {LSTM_SLOW:.0%} of the "
        f"fastest BLAS product measured beside it ({blas_peak / 1e9:.0f} GFLOP/s at 2048³); the goal column gives "
        "forward / forward+backward.",
        "",
        "## Matrix products",
        "",
        "Float32 products of 2048³ in the same run, GFLOP/s: "
        + ", ".join(f"{k} **{v / 1e9:.0f}**" for k, v in peaks.items())
        + " (\"ours\": kernels/cpu/_gemm.py, which the kernels use; they call no BLAS). Goal: ours ≥ "
        f"{GEMM_GOAL}× the fastest BLAS product beside it, here and at the products the kernels run:",
        "",
        "| product (M x K x N) | " + " | ".join(k for k in ("numpy", "torch", "ours") if k in peaks)
        + " | ours / fastest BLAS | met |",
        "|---|" + "---|" * (len(peaks) + 2),
        "| 2048 x 2048 x 2048 | " + " | ".join(f"{peaks[k] / 1e9:.0f}" for k in ("numpy", "torch", "ours") if k in peaks)
        + f" | {peaks['ours'] / blas_peak:.2f} | {yn(peaks['ours'] / blas_peak >= GEMM_GOAL)} |",
    ]
    for r in products:
        best = fastest_blas({k: r[k] for k in ("numpy", "torch", "ours") if k in r})
        lines.append(f"| {r['product']} (shape {r['shape']}) | "
                     + " | ".join(f"{r[k]:.0f}" for k in ("numpy", "torch", "ours") if k in r)
                     + f" | {r['ours'] / best:.2f} | {yn(r['ours'] / best >= GEMM_GOAL)} |")
    lines += [
        "",
        "## The race",
        "",
        "| cell | T, B, I, H | PyTorch fwd / fwd+bwd (ms) | ours fwd / fwd+bwd (ms) | speedup fwd / fwd+bwd | goal | "
        "met fwd / fwd+bwd | ours fwd GFLOP/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        shape = f"{r['T']}, {r['B']}, {r['I']}, {r['H']}"
        gf = f"{r['ours_fwd_gflops']:.0f}"
        if r["peak_fraction_fwd"] is not None:
            gf += f" ({r['peak_fraction_fwd']:.0%} of the fastest BLAS product, goal {PEAK_GOAL:.0%}: {yn(r['pass_peak'])})"
        lines.append(
            f"| {r['cell']} | {shape} | {fmt(r['torch_fwd_ms'])} / {fmt(r['torch_fb_ms'])} | "
            f"{fmt(r['ours_fwd_ms'])} / {fmt(r['ours_fb_ms'])} | {fmt(r['speedup_fwd'], '.2f')} / "
            f"{fmt(r['speedup_fb'], '.2f')} | ≥ {r['goal_fwd']} / {r['goal_fb']} | {yn(r['pass_fwd'])} / "
            f"{yn(r['pass_fb'])} | {gf} |"
        )
    lines += ["", "FLOPs as studies/speed/flops.py counts them (DeepBench: forward+backward = 3 forwards).", ""]
    fastest = max(peaks.values())
    beyond = [
        f"{r['cell']} {r['T']}, {r['B']}, {r['I']}, {r['H']} {label}: {r[f'need_{short}_gflops']:.0f} GFLOP/s "
        f"(PyTorch ran at {r[f'torch_{short}_gflops']:.0f})"
        for r in rows
        for short, label in (("fwd", "forward"), ("fb", "forward+backward"))
        if r[f"need_{short}_gflops"] is not None and r[f"need_{short}_gflops"] * 1e9 > fastest
    ]
    if beyond:
        lines += [
            f"Goals that ask for more than the fastest 2048³ product measured in this run ({fastest / 1e9:.0f} GFLOP/s), "
            "i.e. more than this machine's measured peak — PyTorch already runs these within the goal's factor of it:",
            "",
            *[f"- {b}" for b in beyond],
            "",
        ]
    if acc is not None:
        res, n = acc
        lines += ["## float32 approximations", "",
                  f"Max error against float64 libm over {n:,} float32 inputs (every 61st bit pattern, |x| < 120), "
                  "in ulp of the float32 result, for results in the normal range:", ""]
        for name, (ulp, sub) in res.items():
            lines.append(f"- {name}: {ulp:.2f} ulp" + (f" (subnormal results: absolute error ≤ {sub:.1e})" if sub else ""))
        lines.append("")
    lines += ["## Machine", ""] + [f"- {k}: {v}" for k, v in mach.items()] + [""]
    (out / "results.md").write_text("\n".join(lines))
    with open(out / "products.csv", "w", newline="") as f:
        w = csv.writer(f)
        impls = [k for k in ("numpy", "torch", "ours") if k in peaks]
        w.writerow(["product", "shape", *[f"{k}_gflops" for k in impls]])
        w.writerow(["2048 x 2048 x 2048", "", *[f"{peaks[k] / 1e9:.6g}" for k in impls]])
        for r in products:
            w.writerow([r["product"], r["shape"], *[f"{r[k]:.6g}" for k in impls]])


if __name__ == "__main__":
    sys.exit(main())
