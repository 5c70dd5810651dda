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


def product_traffic(B, H, G, itemsize, rows, units=None):
    """Bytes one step's recurrent product requests from L2 (32-byte sectors):
    {"w": of W_hh (forward and backward alike), "h_fwd": of h_{t-1} (forward), "h_bwd": of the
    previous step's error rows (backward)}.

    A pure function of the launch geometry: thread u owns unit u % n of the batch-row group
    u // n (rows rows each), n = H for the per-step kernels (units None), n = Jb, the slice of
    a persistent block (units = Jb), whose W_hh slice is in shared memory (no global weight
    traffic per step). Every thread makes G*H weight loads; forward, one h load per row for
    each of H columns; backward, one error load per row for each of G*H rows of W_hh. One load
    instruction of a warp costs the distinct sectors its threads touch: consecutive units'
    weights are consecutive addresses, and a group's threads load one h (error) element, a
    broadcast: a sector per group and row. Weight columns are taken as sector-aligned.
    rows = 1 is the layout before batch blocking, ROWS (4) after.
    """
    ng = -(-B // rows)
    n = H if units is None else units
    w_sectors = h_sectors = 0
    for j0 in range(0, H, n):  # the blocks' unit slices (one slice of all H for the step kernels)
        nj = min(n, H - j0)
        work = ng * nj
        for w0 in range(0, work, WARP):
            us = range(w0, min(w0 + WARP, work))
            w_sectors += len({(j0 + u % nj) * itemsize // SECTOR for u in us})
            h_sectors += len({u // nj for u in us}) * rows
    w = 0 if units is not None else w_sectors * SECTOR * G * H
    return {"w": w, "h_fwd": h_sectors * SECTOR * H, "h_bwd": h_sectors * SECTOR * G * H}


TRAFFIC_SHAPES = [("lstm", 4, 64, 256), ("lstm", 4, 64, 1024), ("lstm", 4, 64, 2048), ("gru", 3, 64, 1024),
                  ("lstm", 4, 8, 1024)]  # (cell, gates, B, H)


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

    rows = report()
    if "--traffic" in sys.argv:  # the memory traffic model only: no compilation
        print(traffic_table())
        sys.exit(0)
    if "--json" in sys.argv:
        lim = {f"{k[0]} {k[1]}": v for k, v in h_limits(rows).items()}
        print(json.dumps({"rows": rows, "h_limits": lim}))
    else:
        print(markdown(rows))
        for (fam, dt), h in sorted(h_limits(rows).items()):
            print(f"persistent H limit (H100, B = {DOC_BATCH}): {fam} {dt}: {h}")
