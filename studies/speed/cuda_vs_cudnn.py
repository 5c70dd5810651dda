"""The speed study's GPU race: bpttlab's CUDA kernels against PyTorch's cuDNN RNNs, on one GPU.

    python -m bpttlab.studies.speed.cuda_vs_cudnn              # every case; writes reports/cuda_vs_cudnn/
    python -m bpttlab.studies.speed.cuda_vs_cudnn --dry-run    # print the plan (no GPU, no torch needed)
    python -m bpttlab.studies.speed.cuda_vs_cudnn --only lstm --repeats 5

For each case (cell, T, B, I, H; float32, one layer, unidirectional) it times

- forward (inference: our ``training=False``; cuDNN under ``torch.no_grad()``), and
- forward + backward (our training forward then full BPTT with dL/dx and every parameter
  gradient; cuDNN's forward then ``y.backward(dy)`` with x requiring grad),

with CUDA events on the default stream, after warm-up runs (which include Numba's
compilation), as the median of ``--repeats`` runs. TF32 is off in PyTorch
(``torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False``), so
both sides do full float32 arithmetic. Our kernels run with device arrays in and out (no
host transfers inside the timed region, except the per-step norms our backward returns as
NumPy). Both of our time-loop structures are timed: one launch per step, and the persistent
kernel where its W_hh fits on chip (see kernels/cuda/layer.py). The first run of each case
also checks that our outputs match cuDNN's (the same parameters, loaded from the module's
state_dict).

Writes results.csv and results.md (with the GPU's name and the library versions).
"""

import argparse
import csv
import datetime
import os
import platform
import sys
from pathlib import Path

import numpy as np

from .harness import cuda_event_ms

OUT = Path("reports") / "cuda_vs_cudnn"  # under the working directory
TORCH_CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN"}


def cases(smoke=False):
    """(name, cell, T, B, I, H): the shapes the issue asks for; I = H unless stated."""
    if smoke:
        return [("smoke", cell, 3, 2, 3, 3) for cell in TORCH_CELLS]
    out = []
    for cell in ("lstm", "gru", "rnn_tanh"):
        out.append(("T100_B64_H512", cell, 100, 64, 512, 512))
    out.append(("lstm_H1024_B64_T25", "lstm", 25, 64, 1024, 1024))
    out.append(("lstm_H256_B16_T150", "lstm", 150, 16, 256, 256))
    out.append(("gru_H1024_B32_T1500", "gru", 1500, 32, 1024, 1024))
    for cell in ("lstm", "gru"):
        for B in (1, 4, 16):
            out.append((f"H128_B{B}_T1000", cell, 1000, B, 128, 128))
    return out


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit (needs neither GPU nor torch)")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (median reported)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs first (the first compiles our kernels)")
    ap.add_argument("--only", default="", help="run the cases whose name or cell contains this")
    ap.add_argument("--paths", default="step,persistent", help="our time-loop structures to time")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny shapes, torch on the CPU if it has no GPU, our kernels wherever numba.cuda runs "
                         "them (the simulator too): checks the script itself, the timings mean nothing")
    a = ap.parse_args(argv)
    if a.repeats < 1 or a.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")
    a.paths = [p for p in a.paths.split(",") if p]
    bad = [p for p in a.paths if p not in ("step", "persistent")]
    if bad:
        ap.error(f"--paths: unknown {bad}; expected step and/or persistent")
    return a


def selected(args):
    return [c for c in cases(args.smoke) if not args.only or args.only in c[0] or args.only == c[1]]


def plan_text(args):
    rows = selected(args)
    lines = [f"{len(rows)} cases, float32, 1 layer, unidirectional; median of {args.repeats} runs after "
             f"{args.warmup} warm-up; ours: {', '.join(args.paths)}; vs torch cuDNN (TF32 off)"]
    lines.append(f"{'case':24s} {'cell':9s} {'T':>5s} {'B':>4s} {'I':>5s} {'H':>5s}   measured")
    for name, cell, T, B, I, H in rows:
        lines.append(f"{name:24s} {cell:9s} {T:5d} {B:4d} {I:5d} {H:5d}   forward, forward+backward")
    lines.append(f"writes {args.out / 'results.csv'} and {args.out / 'results.md'}")
    return "\n".join(lines)


def require_gpu_and_torch(smoke=False):
    """(torch, numba.cuda) or exit with a message saying what is missing."""
    if not smoke and os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        sys.exit("cuda_vs_cudnn: NUMBA_ENABLE_CUDASIM is set; this benchmark needs a real GPU (unset it)")
    try:
        import torch
    except ImportError:
        sys.exit("cuda_vs_cudnn: PyTorch is not installed; it needs a CUDA build of torch (pip install torch)")
    if not smoke and not torch.cuda.is_available():
        sys.exit("cuda_vs_cudnn: no CUDA GPU visible to PyTorch (torch.cuda.is_available() is False, "
                 f"torch {torch.__version__}); run it on a machine with an NVIDIA GPU and a CUDA build of torch")
    try:
        from bpttlab.kernels.cuda.backend import require_cuda

        require_cuda()
    except (ImportError, RuntimeError) as e:
        sys.exit(f"cuda_vs_cudnn: {e}")
    from numba import cuda

    return torch, cuda


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if d == 0 else float(np.linalg.norm(a - b) / d)


def run_case(case, args, torch, cuda):
    from bpttlab import kernels

    name, cell, T, B, I, H = case
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    mod = getattr(torch.nn, TORCH_CELLS[cell])(I, H).to(dev).float()
    params = {k: v.detach().cpu().numpy() for k, v in mod.state_dict().items()}
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((T, B, I)).astype(np.float32)
    dy_np = rng.standard_normal((T, B, H)).astype(np.float32)
    x_t = torch.from_numpy(x_np).to(dev)
    dy_t = torch.from_numpy(dy_np).to(dev)
    rows = []

    def torch_fwd():
        with torch.no_grad():
            mod(x_t)

    def torch_fwd_bwd():
        xg = x_t.detach().requires_grad_(True)
        mod.zero_grad(set_to_none=True)
        y, _ = mod(xg)
        y.backward(dy_t)

    for phase, fn in (("forward", torch_fwd), ("forward_backward", torch_fwd_bwd)):
        med, best = cuda_event_ms(fn, cuda, args.repeats, args.warmup, args.smoke)
        rows.append(dict(case=name, cell=cell, T=T, B=B, I=I, H=H, impl="cudnn", path="", phase=phase,
                         median_ms=med, min_ms=best, check=""))
    with torch.no_grad():
        y_ref = mod(x_t)[0].cpu().numpy()
    xg = x_t.detach().requires_grad_(True)
    mod.zero_grad(set_to_none=True)
    mod(xg)[0].backward(dy_t)
    dx_ref = xg.grad.cpu().numpy()

    for path in args.paths:
        net = kernels.Network(cell, I, H, backend="cuda")
        net._impl.persistent = path == "persistent"
        d_params = {k: cuda.to_device(v) for k, v in params.items()}
        d_x, d_dy = cuda.to_device(x_np), cuda.to_device(dy_np)
        try:
            fw = net.forward(d_params, d_x, training=False)
        except RuntimeError as e:  # the persistent kernel does not fit this H
            print(f"  {name} {cell} ours/{path}: skipped ({e})", flush=True)
            continue
        g = net.backward(net.forward(d_params, d_x).tape, d_dy)
        check = f"y {rel_diff(fw.y.copy_to_host(), y_ref):.1e}, dx {rel_diff(g.x.copy_to_host(), dx_ref):.1e}"

        def ours_fwd(net=net, d_params=d_params, d_x=d_x):
            net.forward(d_params, d_x, training=False)

        def ours_fwd_bwd(net=net, d_params=d_params, d_x=d_x, d_dy=d_dy):
            net.backward(net.forward(d_params, d_x).tape, d_dy)

        for phase, fn in (("forward", ours_fwd), ("forward_backward", ours_fwd_bwd)):
            med, best = cuda_event_ms(fn, cuda, args.repeats, args.warmup, args.smoke)
            rows.append(dict(case=name, cell=cell, T=T, B=B, I=I, H=H, impl="bpttlab", path=path, phase=phase,
                             median_ms=med, min_ms=best, check=check))
    for r in rows:
        print(f"  {r['case']:22s} {r['cell']:9s} {r['impl']:8s} {r['path']:10s} {r['phase']:16s} "
              f"{r['median_ms']:10.3f} ms  {r['check']}", flush=True)
    return rows


def environment(torch, cuda):
    import numba

    dev = cuda.get_current_device()
    name = getattr(dev, "name", "the CUDA simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)
    cc = getattr(dev, "compute_capability", ("?",))
    try:
        import numba_cuda

        nc = numba_cuda.__version__
    except (ImportError, AttributeError):
        nc = "?"
    return {
        "gpu": name,
        "compute capability": ".".join(map(str, cc)),
        "torch": torch.__version__,
        "torch CUDA": torch.version.cuda,
        "cuDNN": str(torch.backends.cudnn.version()),
        "torch device": "cuda" if torch.cuda.is_available() else "cpu (smoke run)",
        "numba": numba.__version__,
        "numba-cuda": nc,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
    }


def write(rows, env, args):
    args.out.mkdir(parents=True, exist_ok=True)
    fields = ["case", "cell", "T", "B", "I", "H", "impl", "path", "phase", "median_ms", "min_ms", "check"]
    with open(args.out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.4f}" if k.endswith("_ms") else r[k]) for k in fields})
    ref = {(r["case"], r["cell"], r["phase"]): r["median_ms"] for r in rows if r["impl"] == "cudnn"}
    lines = ["# bpttlab CUDA kernels vs PyTorch cuDNN", ""]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    timing = "wall clock: a smoke run, the times mean nothing" if args.smoke else "CUDA events"
    lines += ["", "float32, one layer, unidirectional, TF32 off; median of "
              f"{args.repeats} runs ({timing}) after {args.warmup} warm-up. "
              "Ratio = our time / cuDNN's (lower is better). "
              "The check column compares our y and dL/dx with cuDNN's (relative difference).", ""]
    lines.append("| case | cell | T | B | I=H | phase | cuDNN ms | ours (path) ms | ratio | check |")
    lines.append("|---|---|---:|---:|---:|---|---:|---:|---:|---|")
    for r in rows:
        if r["impl"] != "bpttlab":
            continue
        c = ref[(r["case"], r["cell"], r["phase"])]
        lines.append(f"| {r['case']} | {r['cell']} | {r['T']} | {r['B']} | {r['H']} | {r['phase']} | {c:.3f} | "
                     f"{r['median_ms']:.3f} ({r['path']}) | {r['median_ms'] / c:.2f} | {r['check']} |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    args = parse(argv)
    if args.dry_run:
        print(plan_text(args))
        return 0
    torch, cuda = require_gpu_and_torch(args.smoke)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    print(plan_text(args), flush=True)
    env = environment(torch, cuda)
    print(", ".join(f"{k}: {v}" for k, v in env.items()), flush=True)
    rows = []
    for case in selected(args):
        rows += run_case(case, args, torch, cuda)
        write(rows, env, args)  # keep what is done if a later case fails
    print(f"wrote {args.out / 'results.csv'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
