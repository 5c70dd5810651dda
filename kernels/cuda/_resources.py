"""What the compiled CUDA kernels cost on a real GPU, found without one.

:func:`compile_all` compiles every kernel specialization the driver launches (every cell,
float32 and float64, both loop structures, training, inference, backward and log_norms) to
PTX for one compute capability, with line info; :func:`f64_ops` finds the float64
instructions of a PTX and the source line each came from; :func:`ptxas_info` assembles a PTX
with ``ptxas -v`` and reads its registers, spills and shared memory. tests/test_cuda_resources.py
asserts on them and ``python -m bpttlab.kernels.cuda._resources`` prints the table.

Needs numba-cuda with NVVM (the nvidia-nvvm wheel) and, for ptxas, the nvidia-cuda-nvcc
wheel or a CUDA toolkit; no GPU. Run with NUMBA_ENABLE_CUDASIM unset.
"""

import inspect
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

# A float32 kernel may compute in float64 only where the design asks for it: the norms
# (‖dL/dh_t‖, ‖dL/dc_t‖ and the log_norms mode's carry norm) are reduced in float64, safe from
# under- and overflow, so the float32 and float64 kernels record the same norms as the CPU.
# These device functions are that machinery, and a source line elsewhere that feeds it
# carries the marker comment F64_MARK.
F64_FUNCTIONS = ("norm_acc", "block_norm", "combine_ms", "combine_norm", "block_add", "_finish_norms",
                 "_slice_sumsq")
F64_MARK = "# f64: norms"

_OPCODE = re.compile(r"^\s*(?:@!?%p\d+\s+)?([a-z][\w.]*)")


def _sources():
    """{absolute source path: (lines, {line number: function name})} of the CUDA modules."""
    from . import _common, _gemm, gru, layer, lstm, rnn  # noqa: PLC0415

    out = {}
    for mod in (_common, _gemm, gru, layer, lstm, rnn):
        path = os.path.realpath(inspect.getsourcefile(mod))
        lines = Path(path).read_text().splitlines()
        owner = {}
        for name, obj in vars(mod).items():
            fn = getattr(obj, "py_func", obj)
            if inspect.isfunction(fn) and os.path.realpath(inspect.getsourcefile(fn)) == path:
                src, start = inspect.getsourcelines(fn)
                for k in range(start, start + len(src)):
                    owner[k] = name
        out[path] = (lines, owner)
    return out


def f64_ops(ptx, sources=None):
    """(allowed, other): lists of (opcode, file, line) of the PTX instructions on float64
    values (arithmetic, comparisons, conversions to or from float64; not loads and stores),
    split by whether the source line belongs to the float64 norm machinery (F64_FUNCTIONS
    or a line marked F64_MARK)."""
    sources = _sources() if sources is None else sources
    # NVVM writes the .file table after the code.
    files = {m.group(1): os.path.realpath(m.group(2)) for m in re.finditer(r'^\s*\.file\s+(\d+)\s+"([^"]+)"', ptx, re.M)}
    where = (None, 0)
    allowed, other = [], []
    for line in ptx.splitlines():
        s = line.strip()
        if s.startswith(".loc"):
            f, ln = s.split()[1:3]
            where = (files.get(f), int(ln))
            continue
        m = _OPCODE.match(s)
        if not m or ".f64" not in m.group(1):
            continue
        op = m.group(1)
        if op.split(".")[0] in ("ld", "st", "mov"):
            continue
        lines, owner = sources.get(where[0], ([], {}))
        text = lines[where[1] - 1] if 0 < where[1] <= len(lines) else ""
        ok = owner.get(where[1]) in F64_FUNCTIONS or F64_MARK in text
        (allowed if ok else other).append((op, where[0] and os.path.basename(where[0]), where[1]))
    # Line 0: an instruction the optimizer made of several source lines (say, one conversion
    # for two inlined calls of norm_acc). It is charged to its file: allowed where every
    # attributed float64 instruction of that file in this kernel is.
    bad_files = {f for _, f, ln in other if ln}
    unattributed = [r for r in other if not r[2] and r[1] not in bad_files]
    other = [r for r in other if r not in unattributed]
    return allowed + unattributed, other


def ptxas_path():
    """ptxas from the nvidia-cuda-nvcc wheel, else from PATH; None when there is none."""
    try:
        import nvidia.cu13  # noqa: PLC0415 - the CUDA 13 wheels' namespace

        for base in nvidia.cu13.__path__:
            p = Path(base) / "bin" / "ptxas"
            if p.exists():
                return str(p)
    except ImportError:
        pass
    return shutil.which("ptxas")


def ptxas_info(ptx, arch="sm_90", ptxas=None):
    """{kernel entry: {"registers", "spill_stores", "spill_loads", "smem", "stack"}} from ptxas -v."""
    ptxas = ptxas or ptxas_path()
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "k.ptx"
        src.write_text(ptx)
        # -c: relocatable, since grid.sync() calls into libcudadevrt, linked only at load time.
        r = subprocess.run([ptxas, "-v", "-c", f"--gpu-name={arch}", str(src), "-o", str(Path(d) / "k.cubin")],
                           capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"ptxas failed: {r.stderr[-2000:]}")
    # In relocatable code ptxas reports no shared memory (static shared arrays are placed at
    # link time): it is the sum of the PTX's static .shared declarations (dynamic shared
    # memory is an ".extern .shared" array of size 0, not counted).
    declared = sum(int(m.group(1)) for m in re.finditer(r"^\s*(?:\.visible\s+)?\.shared\s[^;\[]*\[(\d+)\];", ptx, re.M))
    out, cur = {}, None
    for line in r.stderr.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            cur = out.setdefault(m.group(1), {"registers": 0, "spill_stores": 0, "spill_loads": 0, "smem": 0,
                                               "stack": 0})
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["stack"], cur["spill_stores"], cur["spill_loads"] = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["registers"] = int(m.group(1))
        m = re.search(r"(\d+) bytes smem", line)
        if m:
            cur["smem"] = int(m.group(1))
    for v in out.values():
        v["smem"] = max(v["smem"], declared)
    return out


def label(kernel, sig):
    """'lstm fwd_step float32'-like name of one specialization."""
    fn = kernel.py_func
    fam = ""
    unit = None
    try:
        nl = inspect.getclosurevars(fn).nonlocals
        # The kernels call the cell's unit step through _row_steps' fwd_rows/bwd_rows.
        for name in ("fwd_rows", "bwd_rows", "bwd_row"):
            if name in nl:
                nl = inspect.getclosurevars(getattr(nl[name], "py_func", nl[name])).nonlocals
        unit = nl.get("fwd_unit", nl.get("bwd_unit"))
    except (TypeError, ValueError):
        pass
    if unit is not None:
        fam = getattr(unit, "py_func", unit).__module__.rsplit(".", 1)[-1] + " "
    dts = [str(a.dtype) for a in sig if hasattr(a, "dtype") and str(a.dtype) in ("float32", "float64")]
    dt = "float32" if "float32" in dts else ("float64" if dts else "-")
    return f"{fam}{fn.__name__} {dt}"


def workload(cells=None, dtypes=(np.float64, np.float32)):
    """Every launch the driver makes: each cell, both dtypes and loop structures, all modes."""
    from .. import CELLS, Network  # noqa: PLC0415

    for cell in cells or CELLS:
        for dtype in dtypes:
            for persistent in (False, True):
                net = Network(cell, 3, 4, 2, True, backend="cuda")
                net._impl.persistent = persistent
                p = net.init_params(dtype=dtype)
                x = np.zeros((3, 2, 3), dtype)
                fw = net.forward(p, x)
                net.forward(p, x, training=False)
                net.backward(fw.tape, np.zeros((3, 2, 8), dtype))
                one = Network(cell, 3, 4, 1, True, backend="cuda")
                one._impl.persistent = persistent
                f1 = one.forward(one.init_params(dtype=dtype), x)
                one.backward(f1.tape, np.ones((3, 2, 8), dtype), log_norms=True)


def compile_all(cc=(9, 0), **which):
    """[(label, kernel, signature, PTX)] for every specialization of the workload (``which``:
    its cells and dtypes)."""
    from . import _common, backend  # noqa: PLC0415

    saved = backend._gpu_available
    backend._gpu_available = lambda: True
    keep = {}
    try:
        _common.ptx_check(lambda: workload(**which), cc=cc, keep=keep)
    finally:
        backend._gpu_available = saved
    return [(label(k, s), k, s, ptx) for k, s, ptx in keep.values()]


def persistent_regs(rows):
    """{(family, dtype, "fwd"/"bwd"): the most registers of that persistent kernel's
    specializations} from report()'s rows."""
    out = {}
    for r in rows:
        name = r["kernel"].split()
        kind = {"fwd_persist": "fwd", "bwd_persist": "bwd"}.get(name[-2])
        if kind is None:
            continue
        key = (name[0], name[-1], kind)
        out[key] = max(out.get(key, 0), r["registers"])
    return out


FAMILY_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
DOC_BATCH = 64  # the batch size the documented H limits are for


def h_limits(rows, B=DOC_BATCH):
    """{(family, dtype): the largest H the persistent kernels (forward and backward) are chosen
    for on an H100 at batch B}, from the registers ptxas gave them."""
    from .._config import PERSIST_STATIC_SMEM  # noqa: PLC0415
    from .layer import persistent_h_limit  # noqa: PLC0415

    regs = persistent_regs(rows)
    out = {}
    for fam, G in FAMILY_GATES.items():
        for dt, size in (("float32", 4), ("float64", 8)):
            lims = [persistent_h_limit(G, size, B, regs[(fam, dt, k)], PERSIST_STATIC_SMEM[k], h_max=4096)
                    for k in ("fwd", "bwd") if (fam, dt, k) in regs]
            out[(fam, dt)] = min(lims)
    return out


def split_smem(kind, G, itemsize, S, tpb=None):
    """Shared memory a block would need to split each dot product over S lanes and add the
    partial sums in shared memory (issue 19, item 4; not implemented: no warp shuffles in the
    simulator): S - 1 of every S lanes hand over their partials, ROWS * G of them forward
    (dot_cols), ROWS backward (dot_rows), for a block of tpb (MAX_TPB) threads."""
    from ._common import MAX_TPB, ROWS  # noqa: PLC0415

    per = ROWS * (G if kind == "fwd" else 1)
    return (tpb or MAX_TPB) * (S - 1) // S * per * itemsize


def split_h_limits(rows, S=2, B=DOC_BATCH):
    """h_limits with the static shared memory a split over S lanes would add (split_smem), at the
    registers ptxas gives the kernels now (the split's own registers not counted: an upper bound)."""
    from .._config import PERSIST_STATIC_SMEM  # noqa: PLC0415
    from .layer import persistent_h_limit  # noqa: PLC0415

    regs = persistent_regs(rows)
    out = {}
    for fam, G in FAMILY_GATES.items():
        for dt, size in (("float32", 4), ("float64", 8)):
            out[(fam, dt)] = min(persistent_h_limit(G, size, B, regs[(fam, dt, k)],
                                                    PERSIST_STATIC_SMEM[k] + split_smem(k, G, size, S), h_max=4096)
                                 for k in ("fwd", "bwd") if (fam, dt, k) in regs)
    return out


def report(cc=(9, 0), arch="sm_90", **which):
    """One dict per specialization: kernel, f64_norms, f64_other (the first few, with their
    lines), registers, spill_stores, spill_loads, smem (static), and blocks_per_sm: the H100
    occupancy of a 256-thread block without dynamic shared memory."""
    from .layer import H100, occupancy_blocks  # noqa: PLC0415

    srcs = _sources()
    rows = []
    for name, _k, _s, ptx in compile_all(cc, **which):
        allowed, other = f64_ops(ptx, srcs)
        info = next(iter(ptxas_info(ptx, arch).values()))
        rows.append({"kernel": name, "f64_norms": len(allowed), "f64_other": len(other),
                     "f64_other_where": sorted({f"{f}:{ln} {op}" for op, f, ln in other})[:10], **info,
                     "blocks_per_sm": occupancy_blocks(H100, info["registers"], 256, info["smem"]) // H100["sms"]})
    return sorted(rows, key=lambda r: r["kernel"])


SECTOR = 32  # bytes: the unit in which L1 requests global memory from L2
WARP = 32
LAYOUTS = ("rows", "swapped")


def group_rows(g, ng, B, rows, layout):
    """The batch rows a thread of row group g (of ng) computes: rows consecutive ones from
    g * rows ("rows": the per-step kernels, and the persistent ones before their h/error
    copies), or g, g + ng, ... ("swapped": the persistent kernels, layer._persistent_kernels)."""
    if layout == "rows":
        return list(range(g * rows, min(B, (g + 1) * rows)))
    return list(range(g, B, ng))[:rows]


def _column_sectors(B, n, itemsize, rows, layout, units, H):
    """Sectors one step's loads of a source of n columns (B rows; one load per row slot and
    column) request, over every block's warps: {"load": ..., "stash": ...}. "stash": the
    swapped layout's copy of each unit's n // H columns (a load from the (B, n) array and a
    store into the (n, B) copy, per row), 0 for "rows"."""
    ng = -(-B // rows)
    period = SECTOR // math.gcd(SECTOR, itemsize)  # column m's pattern repeats with m mod period
    reps = [len(range(m, n, period)) for m in range(period)]
    load = stash = 0
    for j0 in range(0, H, units):
        nj = min(units, H - j0)
        work = ng * nj
        for w0 in range(0, work, WARP):
            lanes = [(u // nj, j0 + u % nj) for u in range(w0, min(w0 + WARP, work))]
            slots = [(group_rows(g, ng, B, rows, layout), j) for g, j in lanes]
            for r in range(rows):  # one load instruction per row slot; past a group's rows it re-reads its last
                bs = [rs[min(r, len(rs) - 1)] for rs, _ in slots]
                for m in range(period):
                    if layout == "rows":
                        addrs = {b * n + m for b in bs}
                    else:
                        addrs = {m * B + b for b in bs}
                    load += reps[m] * len({a * itemsize // SECTOR for a in addrs})
                if layout == "swapped":  # the stash copies only the row slots a group has
                    live = [(rs[r], j) for rs, j in slots if r < len(rs)]
                    for k in range(n // H):
                        stash += len({((b * n + k * H + j) * itemsize) // SECTOR for b, j in live})
                        stash += len({(((k * H + j) * B + b) * itemsize) // SECTOR for b, j in live})
    return {"load": load, "stash": stash}


def product_traffic(B, H, G, itemsize, rows, units=None, layout="rows"):
    """Bytes one step's recurrent product requests from L2 (32-byte sectors):
    {"w": of W_hh (forward and backward alike), "h_fwd": of h_{t-1} (forward), "h_bwd": of the
    previous step's error rows dL/da (backward), "stash_fwd", "stash_bwd": of the persistent
    kernels' copies of h_t and dL/da_t (the swapped layout only)}.

    A pure function of the launch geometry: thread u owns unit u % n of the batch-row group
    u // n, n = H for the per-step kernels (units None), n = Jb, the slice of a persistent
    block (units = Jb), whose W_hh slice is in shared memory (no global weight traffic per
    step). A group's rows are group_rows(layout). Every thread makes G*H weight loads; forward,
    one h load per row slot for each of H columns; backward, one error load per row slot for
    each of G*H rows of W_hh. One load instruction of a warp costs the distinct sectors its
    threads touch (no L1 hits counted: a persistent block's W_hh slice takes most of the SM's
    combined L1/shared memory). Consecutive units' weights are consecutive addresses, and a
    group's threads load one h (error) element, a broadcast. "rows": h_{t-1} (dL/da) read from
    hs (dg), (B, H) ((B, G*H)) row-major: a sector per group and row; "swapped": from the (H, B)
    ((G*H, B)) copy, where a warp's groups read consecutive addresses. Weight columns are taken
    as sector-aligned. rows = 1 is the layout before batch blocking, ROWS (4) after.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: got {layout!r}, expected one of {LAYOUTS}")
    ng = -(-B // rows)
    n = H if units is None else units
    w_sectors = 0
    for j0 in range(0, H, n):  # the blocks' unit slices (one slice of all H for the step kernels)
        nj = min(n, H - j0)
        for w0 in range(0, ng * nj, WARP):
            us = range(w0, min(w0 + WARP, ng * nj))
            w_sectors += len({(j0 + u % nj) * itemsize // SECTOR for u in us})
    w = 0 if units is not None else w_sectors * SECTOR * G * H
    fwd = _column_sectors(B, H, itemsize, rows, layout, n, H)
    bwd = _column_sectors(B, G * H, itemsize, rows, layout, n, H)
    return {"w": w, "h_fwd": fwd["load"] * SECTOR, "h_bwd": bwd["load"] * SECTOR,
            "stash_fwd": fwd["stash"] * SECTOR, "stash_bwd": bwd["stash"] * SECTOR}


TRAFFIC_SHAPES = [("lstm", 4, 64, 256), ("lstm", 4, 64, 1024), ("lstm", 4, 64, 2048), ("gru", 3, 64, 1024),
                  ("lstm", 4, 8, 1024)]  # (cell, gates, B, H)
# Persistent shapes: within the H100 limits (README) in float32 at least; RNN H = 2048 fits both dtypes.
PERSIST_TRAFFIC_SHAPES = [("lstm", 4, 64, 256), ("lstm", 4, 64, 1024), ("gru", 3, 64, 1024), ("rnn", 1, 64, 2048),
                          ("lstm", 4, 8, 1024), ("lstm", 4, 5, 200)]
PLAN_REGISTERS = 168  # the most any persistent kernel takes (ptxas, sm_90): its H100 plan, for the table


def traffic_table(rows_after=None):
    """Markdown: product_traffic of the per-step kernels before (1 row per thread) and after
    (ROWS) batch blocking, MB per step, for TRAFFIC_SHAPES in float32 and float64."""
    from ._common import ROWS  # noqa: PLC0415

    after = rows_after or ROWS
    lines = ["| cell, B, H | dtype | W_hh (MB) | W_hh read, before / after (MB) | h fwd before / after (MB) | "
             "error rows bwd before / after (MB) |", "|---|---|---|---|---|---|"]
    for cell, G, B, H in TRAFFIC_SHAPES:
        for dt, size in (("float32", 4), ("float64", 8)):
            b, a = product_traffic(B, H, G, size, 1), product_traffic(B, H, G, size, after)
            lines.append(f"| {cell}, {B}, {H} | {dt} | {G * H * H * size / 1e6:.2f} | {b['w'] / 1e6:.1f} / "
                         f"{a['w'] / 1e6:.1f} | {b['h_fwd'] / 1e6:.1f} / {a['h_fwd'] / 1e6:.1f} | "
                         f"{b['h_bwd'] / 1e6:.1f} / {a['h_bwd'] / 1e6:.1f} |")
    return "\n".join(lines)


def persistent_jb(G, itemsize, B, H, regs=PLAN_REGISTERS):
    """Jb, the units per block of the H100 plan (layer.plan_persistent with the occupancy model
    at regs registers), or None where the persistent kernels are not chosen."""
    from .._config import PERSIST_STATIC_SMEM  # noqa: PLC0415
    from ._common import MAX_TPB, ROWS, next_pow2  # noqa: PLC0415
    from .layer import H100, occupancy_blocks, plan_persistent  # noqa: PLC0415

    jbs = []
    for kind in ("fwd", "bwd"):
        st = PERSIST_STATIC_SMEM[kind]
        plan = plan_persistent(H, B, G * H * itemsize, st, H100["smem_optin"],
                               lambda tpb, smem, st=st: occupancy_blocks(H100, regs, tpb, smem + st),
                               tpb_for=lambda n: min(MAX_TPB, max(32, next_pow2(n))), rows=ROWS)
        if plan is None:
            return None
        jbs.append(plan[2])
    return max(jbs)


def persistent_traffic_table():
    """Markdown: the persistent kernels' global loads of h_{t-1} (forward) and dL/da (backward)
    per step, MB, before (consecutive rows read from hs, dg) and after (interleaved rows read
    from the (H, B) copies) for PERSIST_TRAFFIC_SHAPES at the H100 plan's Jb, with the copies' cost."""
    from ._common import ROWS  # noqa: PLC0415

    lines = ["| cell, B, H | dtype | Jb | h fwd before / after (MB) | dL/da bwd before / after (MB) | "
             "copies fwd / bwd (MB) |", "|---|---|---|---|---|---|"]
    for cell, G, B, H in PERSIST_TRAFFIC_SHAPES:
        for dt, size in (("float32", 4), ("float64", 8)):
            jb = persistent_jb(G, size, B, H)
            if jb is None:
                lines.append(f"| {cell}, {B}, {H} | {dt} | per step | | | |")
                continue
            b = product_traffic(B, H, G, size, ROWS, units=jb, layout="rows")
            a = product_traffic(B, H, G, size, ROWS, units=jb, layout="swapped")
            lines.append(f"| {cell}, {B}, {H} | {dt} | {jb} | {b['h_fwd'] / 1e6:.2f} / {a['h_fwd'] / 1e6:.2f} | "
                         f"{b['h_bwd'] / 1e6:.2f} / {a['h_bwd'] / 1e6:.2f} | {a['stash_fwd'] / 1e6:.3f} / "
                         f"{a['stash_bwd'] / 1e6:.3f} |")
    return "\n".join(lines)


def markdown(rows):
    lines = ["| kernel | registers | spills st/ld (B) | static smem (B) | blocks/SM at 256 thr. (H100) | "
             "f64 ops: norms / other |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['registers']} | {r['spill_stores']}/{r['spill_loads']} | {r['smem']} | "
                     f"{r['blocks_per_sm']} | {r['f64_norms']} / {r['f64_other']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    if "--traffic" in sys.argv:  # the memory traffic model only: no compilation
        print(traffic_table())
        print()
        print(persistent_traffic_table())
        sys.exit(0)
    rows = report()
    if "--json" in sys.argv:
        lim = {f"{k[0]} {k[1]}": v for k, v in h_limits(rows).items()}
        print(json.dumps({"rows": rows, "h_limits": lim}))
    elif "--split" in sys.argv:  # the H limits if each dot product were split over 2 lanes
        now, split = h_limits(rows), split_h_limits(rows)
        print("| cell | dtype | persistent H limit now | with a 2-lane split's reduction buffer |\n|---|---|---|---|")
        for (fam, dt), h in sorted(now.items()):
            print(f"| {fam} | {dt} | {h} | {split[(fam, dt)]} |")
    else:
        print(markdown(rows))
        for (fam, dt), h in sorted(h_limits(rows).items()):
            print(f"persistent H limit (H100, B = {DOC_BATCH}): {fam} {dt}: {h}")
