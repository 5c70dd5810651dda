"""GRU against LSTM (and the Elman RNN) throughput across hidden size, batch and length, with
PyTorch measured beside our kernels in the same run and the machine's SGEMM peak alongside.

    python -m bpttlab.studies.speed [--quick] [--backend cuda]

With ``--backend cuda`` "ours" are the CUDA kernels, and PyTorch runs on the GPU (cuDNN) when it
has CUDA; otherwise the torch rows are left out.

Timings are measurements, not reproducible to the byte: this study runs its configurations
one at a time (never on parallel workers), and everything inside one configuration (our
kernels, PyTorch, the SGEMM peak) is measured in interleaved rounds, so ratios taken within a
configuration survive a machine that is busier at one moment than another.
"""

import os

# PyTorch before the kernels: importing bpttlab's kernels starts Numba's OpenMP threads with the
# system's libgomp, and a PyTorch imported after that shares that runtime instead of loading its
# own, which made its GRU and RNN 6-8x slower (30x with OpenMP's default spinning). See compute().
try:
    import torch
except ImportError:  # the torch columns stay empty
    torch = None

import numpy as np
import pandas as pd

from ..framework import EXACT, TIMING, Study, figure, mode_of
from .cases import make_case
from .flops import flops
from .harness import PAUSE, interleaved, settle_stats

CELLS = ("lstm", "gru", "rnn_tanh")
MODES = ("forward", "forward_backward")
CENTER = {"T": 100, "B": 32, "H": 256}
EXPECTED_GRU_LSTM = 0.75  # 3 gate blocks against 4: the recurrent and input products scale with G
BAND_GRU_LSTM = (0.65, 0.85)  # issue 16's goal for ours where the products dominate


def sizes(quick, tiny=False):
    if tiny:  # checks that it runs (the CUDA simulator): the timings mean nothing
        return {"H": [4], "B": [1, 2], "T": [3], "center": {"T": 3, "B": 2, "H": 4}, "repeats": 1,
                "sgemm": 64, "budget": 0.0, "pause": 0.0}
    if quick:
        return {"H": [32], "B": [1, 8], "T": [20], "center": {"T": 20, "B": 8, "H": 32}, "repeats": 2,
                "sgemm": 256, "budget": 0.005, "pause": 0.005}
    return {"H": [64, 128, 256, 512, 1024], "B": [1, 4, 16, 64, 128], "T": [25, 100, 1000], "center": CENTER,
            "repeats": 5, "sgemm": 2048, "budget": 0.05, "pause": PAUSE}


def configs(opts):
    s = sizes(opts.quick, mode_of(opts) == "tiny")
    shapes = {}
    for axis in ("H", "B", "T"):
        for v in s[axis]:
            shape = {**s["center"], axis: v}
            shapes[(shape["T"], shape["B"], shape["H"])] = axis
    return [{"key": f"T{T}-B{B}-H{H}", "T": T, "B": B, "H": H, "I": H, "axis": axis, "repeats": s["repeats"],
             "sgemm": s["sgemm"], "budget": s["budget"], "pause": s["pause"],
             "threads": os.cpu_count() or 1} for (T, B, H), axis in shapes.items()]


def _torch_case(torch, cell, mode, T, B, I, H, seed=0, device="cpu"):
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn_tanh": torch.nn.RNN}[cell](I, H).to(device)
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal((T, B, I)), dtype=torch.float32, requires_grad=(mode != "forward"),
                     device=device)
    dy = torch.tensor(rng.standard_normal((T, B, H)), dtype=torch.float32, device=device)
    # On a GPU the call returns before the work is done; ours copies its results to the host, so
    # wait for PyTorch's too.
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if mode == "forward":
        def run():
            with torch.no_grad():
                out = mod(x)
            sync()
            return out
    else:
        def run():
            mod.zero_grad(set_to_none=True)
            y, _ = mod(x)
            y.backward(dy)
            sync()
    return run


def _torch_device(backend):
    """Where PyTorch runs beside our kernels: the CPU for ours on the CPU, the GPU (cuDNN) for ours
    on CUDA; None when PyTorch is absent or has no GPU to match ours on CUDA."""
    if torch is None:
        return None
    if backend == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else None


def _check_openmp():
    """Refuse to time PyTorch when it shares Numba's OpenMP runtime (torch imported after kernels)."""
    import numba  # noqa: PLC0415
    from threadpoolctl import threadpool_info  # noqa: PLC0415

    if torch is None or numba.threading_layer() != "omp":
        return
    runtimes = {i["filepath"] for i in threadpool_info() if i["internal_api"] == "openmp"}
    if len(runtimes) < 2:
        raise RuntimeError(
            "PyTorch shares Numba's OpenMP runtime in this process (it was imported after bpttlab's kernels "
            f"started Numba's threads: {sorted(runtimes)}), which slows PyTorch's GRU and RNN several-fold and would "
            "make the comparison wrong. Run `python -m bpttlab.studies.speed` in a fresh process (or "
            "NUMBA_THREADING_LAYER=workqueue).")


def compute(c):
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    _check_openmp()
    threads = c["threads"]
    backend = c.get("backend", "cpu")
    device = _torch_device(backend)
    T, B, I, H = c["T"], c["B"], c["I"], c["H"]
    # The same thread count for everyone: BLAS, Numba's pool and PyTorch's intra-op pool.
    with threadpool_limits(limits=threads):
        import numba  # noqa: PLC0415

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        if torch is not None:
            torch.set_num_threads(threads)
        n = c["sgemm"]
        a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        cases = {("sgemm", "-", "numpy"): lambda: a @ a}
        for cell in CELLS:
            for mode in MODES:
                cases[(cell, mode, "ours")] = make_case(cell, mode, T, B, I, H, backend=backend)
                if device is not None:
                    cases[(cell, mode, "torch")] = _torch_case(torch, cell, mode, T, B, I, H, device=device)
        settle_stats.update(longest=0.0, gave_up=0, runs=0)
        med = interleaved(cases, c["repeats"], c["budget"], pause=c["pause"])
    peak = 2 * n**3 / med[("sgemm", "-", "numpy")] / 1e9
    rows = [k for k in cases if k[0] != "sgemm"]
    return {"cell": np.array([k[0] for k in rows]), "mode": np.array([k[1] for k in rows]),
            "impl": np.array([k[2] for k in rows]), "seconds": np.array([med[k] for k in rows]),
            "sgemm_gflops": peak, "torch": "" if torch is None else torch.__version__,
            "settle_longest": settle_stats["longest"], "settle_gave_up": settle_stats["gave_up"]}


def frame(results):
    rows = []
    for c, r in results:
        for cell, mode, impl, sec in zip(r["cell"], r["mode"], r["impl"], r["seconds"], strict=True):
            rec, inp = flops(str(cell), str(mode), c["T"], c["B"], c["I"], c["H"])
            rows.append({"T": c["T"], "B": c["B"], "H": c["H"], "axis": c["axis"], "cell": str(cell), "mode": str(mode),
                         "impl": str(impl), "ms": 1e3 * float(sec), "gflops": rec / float(sec) / 1e9,
                         "gflops_with_input": (rec + inp) / float(sec) / 1e9,
                         "pct_of_sgemm_peak": 100 * (rec + inp) / float(sec) / 1e9 / float(r["sgemm_gflops"]),
                         "sgemm_gflops": float(r["sgemm_gflops"])})
    return pd.DataFrame(rows)


def report(results, opts, w):
    df = frame(results)
    impls = list(dict.fromkeys(df["impl"]))
    peak = df["sgemm_gflops"].median()
    # What was measured decides the wording: without PyTorch (not installed, or no GPU for it to
    # match ours on CUDA) nothing here may describe its lines or its ratios.
    has_torch = "torch" in impls
    threads = (f"{results[0][0]['threads']} threads for our kernels' BLAS and Numba pools and for PyTorch "
               "(`torch.set_num_threads`)" if has_torch else
               f"{results[0][0]['threads']} threads for our kernels' BLAS and Numba pools")
    pools = "one framework's spinning thread pool does not slow the next" if has_torch else \
        "one measurement's spinning thread pool does not slow the next"
    waited = max(float(r.get("settle_longest", np.nan)) for _, r in results)
    absent = "" if has_torch else (
        " PyTorch was not measured in this run (" + ("not installed" if torch is None else "no GPU for it") +
        "): only our kernels are shown; `BPTTLAB_TORCH=1 nox -s reports` installs it.")
    w.text(f"float32, {threads}; medians of {results[0][0]['repeats']} interleaved rounds, each run after settling "
           f"(a {results[0][0]['pause'] * 1e3:.0f} ms pause, then until the process's other threads stop spinning: "
           f"at most {waited * 1e3:.0f} ms in this run) and one untimed call, so that {pools} "
           "(studies/speed/harness.py). GFLOP/s counts the "
           "recurrent product as DeepBench does (2·G·H²·B·T per pass, G = 4 LSTM, 3 GRU, 1 RNN; forward+backward as 3 "
           "passes); '% of SGEMM peak' counts the input projection too (2·G·H·I·B·T) against a NumPy SGEMM "
           f"({results[0][0]['sgemm']}³) measured in the same configuration: median {peak:.0f} GFLOP/s. Implementations: "
           f"{', '.join(impls)}. Mode: {'quick' if opts.quick else 'full'}."
           + ("" if opts.backend == "cpu" else f" Backend of ours: {opts.backend}.") + absent)
    center = sizes(opts.quick, opts.mode == "tiny")["center"]
    for axis, label in (("H", "hidden size H"), ("B", "batch B"), ("T", "sequence length T")):
        d = df[np.logical_and.reduce([df[k] == v for k, v in center.items() if k != axis])]
        if d.empty:
            continue
        fig, axes = figure(1, 2, figsize=(10.5, 3.2), squeeze=False)
        for ax, mode in zip(axes[0], MODES, strict=True):
            for cell in CELLS:
                for impl, style in (("ours", "o-"), ("torch", "s--")):
                    t = d[(d["cell"] == cell) & (d["mode"] == mode) & (d["impl"] == impl)].sort_values(axis)
                    if len(t):
                        ax.loglog(t[axis], t["gflops"], style, ms=4, label=f"{cell} ({impl})")
            ax.set_xlabel(label)
            ax.set_ylabel("GFLOP/s (recurrent product)")
            ax.set_title(mode.replace("_", "+"))
        # Beside the panels, not on them: the lines span the whole plotting area.
        axes[0][-1].legend(*axes[0][0].get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.tight_layout()
        fixed = ", ".join(f"{k} = {v}" for k, v in center.items() if k != axis)
        who = "ours (solid) and PyTorch's (dashed) in the same run" if has_torch else "ours"
        w.figure(fig, f"gflops_vs_{axis}", f"Throughput against {label}",
                 f"GFLOP/s of every cell against {label} ({fixed}, I = H), {who}. Small per-step products run far below the machine's peak: at B = 1 each step is a "
                 "matrix-vector product, bound by how fast the recurrent weights stream from cache, and at small H "
                 "the gate arithmetic is a large share of the work.")
    piv = df.pivot_table(index=["T", "B", "H", "mode", "impl"], columns="cell", values="ms").reset_index()
    piv["gru_over_lstm"] = piv["gru"] / piv["lstm"]
    piv["rnn_over_lstm"] = piv["rnn_tanh"] / piv["lstm"]
    fig, axes = figure(1, 1, figsize=(6.8, 3.2), squeeze=False)
    ax = axes[0][0]
    for (mode, impl), t in piv.groupby(["mode", "impl"]):
        flops_ = t["H"].astype(float) ** 2 * t["B"] * t["T"]
        ax.semilogx(flops_, t["gru_over_lstm"], "o" if impl == "ours" else "s", ms=4, label=f"{mode} ({impl})")
    ax.axhline(EXPECTED_GRU_LSTM, color="k", ls="--", lw=1, label="0.75 (operation count)")
    ax.set_xlabel("H² · B · T")
    ax.set_ylabel("time(GRU) / time(LSTM)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    w.figure(fig, "gru_lstm_ratio", "GRU against LSTM",
             "The GRU's time over the LSTM's at every shape, against the 0.75 that operation counts predict (3 gate "
             "blocks against 4 in both products). The summary below says where the measured ratio departs from it.")
    summary = gru_lstm_summary(piv)
    w.table(summary, "gru_lstm_summary", "GRU/LSTM time ratio against 0.75",
            "Per implementation and mode: the median ratio over all shapes, over the half of the shapes with the "
            "least work (H²·B·T) and the half with the most, and the shapes where it is lowest and highest.")
    w.text(_ratio_text(summary, piv, has_torch))
    w.table(piv, "ratios", "Time ratios between cells", "Milliseconds per call of each cell, with GRU/LSTM and RNN/LSTM.")
    w.table(df, "throughput", "Every measurement",
            "One row per shape, cell, mode and implementation: milliseconds per call, GFLOP/s (recurrent product), "
            "GFLOP/s with the input projection, and the percentage of the SGEMM peak measured in the same configuration.")
    if opts.backend == "cpu":
        race = race_section(w.out / "cpu_vs_torch" / "results.md")
        if race:
            w.text(race)


def race_section(path):
    """The goal table of the race against PyTorch (studies/speed/cpu_vs_torch.py, run before this
    study by ``regenerate``) as a section of this report, or "" when it has not been run into
    this report's directory. Its numbers come from its own run, whose machine it names."""
    if not path.is_file():
        return ""
    text = path.read_text()
    if "## Matrix products" not in text or "## Machine" not in text:
        return ""
    body = text[text.index("## Matrix products"):text.index("## Machine")].strip()
    machine = text[text.index("## Machine"):].splitlines()
    cpu = next((ln[2:] for ln in machine if ln.startswith("- cpu as LLVM names it")), "")
    tile = next((ln[2:] for ln in machine if ln.startswith("- the CPU kernels'")), "")
    head = text.split("\n\n")[1:3]  # how it was measured; the goals
    return "\n\n".join([
        "## The race against PyTorch, and its goals",
        f"From `{path.parent.name}/results.md` (its own run, interleaved and settled like this study; {cpu}; {tile}). "
        + " ".join(h.strip() for h in head),
        body.replace("## ", "### "),
    ])


def _by_work(t):
    return t.assign(work=t["H"].astype(float) ** 2 * t["B"] * t["T"]).sort_values(["work", "T", "B", "H"])


def _shape(r):
    return f"T={r['T']}, B={r['B']}, H={r['H']}"


def gru_lstm_summary(piv):
    rows = []
    for (impl, mode), t in piv.groupby(["impl", "mode"], sort=True):
        t = _by_work(t)
        half = len(t) // 2
        lo, hi = t.loc[t["gru_over_lstm"].idxmin()], t.loc[t["gru_over_lstm"].idxmax()]
        rows.append({"impl": impl, "mode": mode, "shapes": len(t), "median": t["gru_over_lstm"].median(),
                     "median_small_work": t["gru_over_lstm"].iloc[:half].median() if half else np.nan,
                     "median_large_work": t["gru_over_lstm"].iloc[half:].median(),
                     "lowest": lo["gru_over_lstm"], "lowest_at": _shape(lo),
                     "highest": hi["gru_over_lstm"], "highest_at": _shape(hi)})
    return pd.DataFrame(rows)


def outside_band(piv, impl="ours", band=BAND_GRU_LSTM):
    """{mode: (shapes in the most-work half, [(shape, ratio) outside ``band``])} for ``impl``: the
    check of issue 16's goal that our GRU/LSTM ratio lies in the band where the products dominate."""
    out = {}
    for mode, t in piv[piv["impl"] == impl].groupby("mode", sort=True):
        big = _by_work(t).iloc[len(t) // 2:]
        out[mode] = (len(big), [(_shape(r), r["gru_over_lstm"]) for _, r in big.iterrows()
                                if not band[0] <= r["gru_over_lstm"] <= band[1]])
    return out


def _ratio_text(summary, piv, has_torch=True):
    parts = []
    for r in summary.itertuples():
        parts.append(f"{r.impl}, {r.mode.replace('_', '+')}: median {r.median:.2f} (least work {r.median_small_work:.2f}, "
                     f"most work {r.median_large_work:.2f}), from {r.lowest:.2f} at {r.lowest_at} to {r.highest:.2f} at "
                     f"{r.highest_at}")
    band = []
    for mode, (n, off) in outside_band(piv).items():
        what = f"ours, {mode.replace('_', '+')}: {n - len(off)} of the {n} shapes with the most work"
        band.append(what + (" (outside: " + ", ".join(f"{s} {v:.2f}" for s, v in off) + ")" if off else ""))
    return ("Measured GRU/LSTM time ratios (expected from operation counts: "
            f"{EXPECTED_GRU_LSTM}). " + "; ".join(parts) + ". "
            f"Issue 16 asks ours for {BAND_GRU_LSTM[0]}–{BAND_GRU_LSTM[1]} where the products dominate (here: the half "
            "of the shapes with the most work); within that band: " + "; ".join(band) + ". "
            "The 3:4 proportion holds for the products only: the element-wise work per hidden unit and step is in "
            "another proportion (the LSTM evaluates five transcendental functions, the GRU three, plus the reset "
            "gate's product inside the candidate), so it would move the ratio most where the products are smallest; "
            "compare the least-work and most-work medians above."
            + (" PyTorch's ratio compares different code, not the cells: its LSTM is oneDNN's fused kernel, its GRU a "
               "sequence of generic products and element-wise operations." if has_torch else ""))


STUDY = Study(
    name="speed",
    title="Speed: GRU against LSTM and RNN, and against PyTorch where it is installed",
    version=1,
    configs=configs,
    compute=compute,
    report=report,
    description=__doc__,
    # Every number here is a measurement of a machine at a moment (times, rates, ratios of times):
    # reported, never a failure. What was measured (shapes, cells, implementations) must match.
    reproduce={"*": {"*": TIMING, **dict.fromkeys(("T", "B", "H", "axis", "cell", "mode", "impl", "shapes"), EXACT)}},
)
