"""The memory a call will need, estimated before anything is allocated, and the refusal when
the machine does not have it.

A tape allocated piece by piece can pass every single allocation (np.empty only reserves
address space) and then get the process killed by the OOM killer once the kernels write into
it, or end in NumPy's MemoryError naming no argument. So Network.forward / backward / tbptt
and init_params add up their buffers here first (the shapes are those of docs/architecture.md:
the LayerTape, the workspaces, the outputs) and raise :class:`MemoryBudgetError` when the sum
exceeds what is available: the host's MemAvailable (capped by a cgroup limit) for the CPU
backend, the GPU's free memory for the CUDA backend (host memory under the simulator, whose
"device" arrays are NumPy arrays).

The estimates are upper bounds of what is alive at the peak, not exact counts (measured: 1.0-1.2x
the peak tracemalloc sees, tests/test_input_errors.py): where a backend decides at run time
between two buffer sizes they count the larger (the CPU's inference input projection, of one
step or of all T), and they ignore the small buffers (per-chunk partial sums, placeholders).
"""

import os

from .cells import GRU_RESET_AFTER, GRU_RESET_BEFORE

GIB = 2**30


class MemoryBudgetError(MemoryError):
    """A call would need more memory than is available; raised before anything is allocated.

    A MemoryError, so code that already handles running out of memory handles this too.
    """


# -- what is available -------------------------------------------------------------------------

def _meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # no /proc: free pages only (page cache not counted), which errs towards refusing less than it could
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _cgroup_headroom():
    """The memory limit of this process's container (cgroup v2 or v1) less its working set
    (usage less the inactive page cache, which the kernel reclaims first, as the kubelet counts
    it); None without a limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        limit, usage = _read(f"/sys/fs/cgroup/{limit_file}"), _read(f"/sys/fs/cgroup/{usage_file}")
        if limit is None or usage is None:
            continue
        limit = limit.strip()
        if limit == "max" or int(limit) >= 2**60:  # v1 writes "no limit" as a huge number
            return None
        stat = _read(f"/sys/fs/cgroup/{limit_file.rpartition('/')[0]}/memory.stat".replace("//", "/")) or ""
        inactive = next((int(ln.split()[1]) for ln in stat.splitlines() if ln.startswith("inactive_file ")), 0)
        return max(0, int(limit) - (int(usage) - inactive))
    return None


def host_available():
    """Bytes of host memory this process can still fill without swapping, or None if unknown."""
    known = [v for v in (_meminfo_available(), _cgroup_headroom()) if v is not None]
    return min(known) if known else None


# -- what a call needs -------------------------------------------------------------------------

def param_elements(spec, I, H, L, D):
    """Elements of all parameters (params.expected_shapes): W_ih of layer 0 reads I inputs, the
    layers above D*H."""
    G = spec.gates
    per_direction = G * H * H + 2 * G * H + (3 * H if spec.peephole else 0)
    return D * (G * H * I + (L - 1) * G * H * D * H + L * per_direction)


def _layer_direction(spec, cuda, T, B, H, training):
    """Elements of one layer-direction's forward buffers (LayerTape, kernels/_backend.py)."""
    GH = spec.gates * H
    rows = T if training else 1
    n = (T + 1) * B * H  # hs
    # The input projection xp: on the CPU, training keeps it as the gate activations; in
    # inference cpu/layer.forward_layer computes it step by step (one row) when every thread
    # gets at least 4 batch rows (_gemm.MR), else for all steps at once.
    xp_rows = T if cuda or training or B < 4 * (os.cpu_count() or 1) else 1
    n += xp_rows * B * GH
    if cuda and spec.family in ("lstm", "gru"):
        n += rows * B * GH  # acts, apart from xp on the GPU
    if spec.family == "lstm":
        n += (T + 1 if training else 2) * B * H  # cs
    if spec.family == "gru":
        n += rows * B * H + B * GH  # aux, and the reset-after GRU's one-step scratch on the CPU
    return n


def forward_bytes(spec, backend, T, B, I, H, L, D, itemsize, training):
    """{part: bytes} a forward pass needs at its peak: "tape" (kept for the backward),
    "workspace" (freed when the call returns), "outputs"."""
    cuda = backend == "cuda"
    weights = param_elements(spec, I, H, L, D) * (2 if cuda else 1)  # packed (CPU) or W_hh^T + device copies
    if cuda:
        weights += 3 * H * B  # a persistent kernel's (H, B) copies of the state (cuda/layer.forward_layer)
    states = L * D * B * H * (2 if spec.has_cell_state else 1)
    x = T * B * I if training or cuda else 0  # the tape's copy of x, or x moved to the device
    if training:
        # Per layer: each direction's buffers, and with two the directions side by side (the
        # next layer's input, or y).
        tape = x + L * (D * _layer_direction(spec, cuda, T, B, H, True) + (T * B * D * H if D == 2 else 0))
        outputs = (T * B * H if D == 1 else 0) + states  # y is a copy, never a view of the tape
        parts = {"tape": tape, "workspace": weights, "outputs": outputs}
    else:
        # Only one layer's buffers, its input and its output are alive at once.
        peak = 0
        for layer in range(L):
            inp = 0 if layer == 0 else (T + 1) * B * H if D == 1 else T * B * D * H
            out = T * B * D * H if D == 2 else 0
            peak = max(peak, inp + D * _layer_direction(spec, cuda, T, B, H, False) + out)
        parts = {"tape": 0, "workspace": x + weights + peak, "outputs": states}
    return {k: v * itemsize for k, v in parts.items()}


def _norm_blocks(B, H):
    from ._config import MAX_TPB, SIM_TPB  # noqa: PLC0415 - _config imports numba; only the CUDA estimate needs it

    return max(H, -(-(B * H) // min(MAX_TPB, SIM_TPB)))  # cuda/layer.norm_blocks, at its largest


def backward_bytes(spec, backend, T, B, I, H, L, D, itemsize, renorm):
    """{part: bytes} a backward pass needs on top of its tape: "gradients" (dL/dθ, dL/dx,
    dL/d(initial state)) and "workspace" (kernels/_backend.py: Backend.workspace, the norm
    buffers, each window's dL/d(input))."""
    cuda = backend == "cuda"
    G, has_c = spec.gates, spec.has_cell_state
    GH = G * H
    params = param_elements(spec, I, H, L, D)
    grads = params + T * B * I + L * D * B * H * (2 if has_c else 1)
    ws = T * B * GH  # dg
    if spec.family == "gru" and spec.variant == GRU_RESET_AFTER:
        ws += T * B * (GH if cuda else H)  # the reset-after GRU's second gate gradient
    if cuda:
        ws += 2 * GH * B  # the persistent kernel's (G*H, B) copy of two steps of dg (cuda/layer.Workspace.ev)
    ws *= L * D
    work = ws * itemsize
    nb = _norm_blocks(B, H) if cuda else 1
    work += L * D * T * 8 * (nb * 3 if cuda else 1) * (2 if has_c else 1)  # per-step norms, float64
    if cuda and renorm:
        work += L * D * T * (nb * 3 + 2) * 8
    extra = T * B * D * H * (1 if cuda else 2 if D == 2 else 0)  # dy moved to the device, or split by direction
    if L > 1 or cuda:
        extra += T * B * max(I, D * H) * (2 if D == 2 and not cuda else 1)  # a window's dL/d(input) (+ its split)
    if not cuda:
        extra += params  # the weights packed for the backward's products, kept with the tape
        # A window's inputs packed for the weight gradients (r * h_{t-1} too for the reset-before GRU).
        extra += T * B * (max(I, D * H) + H * (2 if spec.family == "gru" and spec.variant == GRU_RESET_BEFORE else 1))
    return {"gradients": grads * itemsize, "workspace": work + extra * itemsize}


def init_bytes(shapes, itemsize, recurrent):
    """{part: bytes} of init_params: the parameters, and the float64 draws of the largest one
    (twice for a W_hh drawn block by block and concatenated, plus the QR factorization's
    matrices for an orthogonal one)."""
    sizes = [_prod(s) for s in shapes.values()]
    H = max((s[1] for k, s in shapes.items() if k.startswith("weight_hh")), default=0)
    work = 8 * max(sizes, default=0) * (1 if recurrent == "uniform" else 2)
    work += 8 * 4 * H * H if recurrent == "orthogonal" else 0
    return {"parameters": sum(sizes) * itemsize, "workspace": work}


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


# -- the refusal ---------------------------------------------------------------------------------

def fmt(nbytes):
    """GiB from 0.1 GiB up (never TiB: needed and available read in one unit), else MiB or KiB."""
    for unit, size in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size / 10:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes} B"


# Below this a call is not checked: reading what is available costs more than such a call's
# buffers are worth, and a machine without 64 MiB to spare fails anyway.
CHECK_FROM = 64 * 2**20


def require(what, parts, available, hints=lambda: ()):
    """Raise MemoryBudgetError when the parts add up to more than is available.

    what: a function returning the call and the arguments that set its size (like hints, only
    formatted to refuse: it runs on every call). available: a function returning (bytes
    or None if unknown, what it measures), called only for a call of CHECK_FROM bytes or more.
    hints: a function returning ways to need less, each a phrase (computed only to refuse).
    The BPTTLAB_MEMORY_CHECK=0 switch (kernels/_config.py) lets every call through.
    """
    needed = sum(parts.values())
    if needed < CHECK_FROM:
        return
    free, where = available()
    if free is None or needed <= free:
        return
    from . import _config  # noqa: PLC0415 - _config imports numba, which init_params never needs

    if not _config.memory_check_enabled():
        return
    detail = ", ".join(f"{k} {fmt(v)}" for k, v in parts.items() if v)
    msg = (f"{what()} needs about {fmt(needed)} ({detail}), but only {fmt(free)} of {where} is available; "
           "refused before allocating anything")
    tips = list(hints())
    if tips:
        msg += ". To need less: " + "; ".join(tips)
    raise MemoryBudgetError(msg)
