"""provenance.json: where and how a report was made (code, packages, machine, command).

``cpu_microarchitecture()`` is also what bench code records: the CPU model string alone does
not say which instructions Numba compiled for, LLVM's host CPU name and features do.
"""

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .locations import PRIVATE_CACHE_ENV, SOURCE_ROOT

PACKAGES = ("numpy", "numba", "scipy", "pandas", "matplotlib", "tqdm", "llvmlite")


def _git(*args):
    try:
        out = subprocess.run(["git", *args], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=20, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model():
    """The CPU's model string (which machines of one kind share: see cpu_microarchitecture)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_microarchitecture():
    """LLVM's name and feature string for this CPU (what Numba compiles for unless overridden),
    and the NUMBA_CPU_NAME / NUMBA_CPU_FEATURES overrides when set."""
    from llvmlite import binding  # noqa: PLC0415 - only provenance needs it

    out = {"llvm_cpu_name": binding.get_host_cpu_name(),
           "llvm_cpu_features": binding.get_host_cpu_features().flatten()}
    for var in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "BPTTLAB_GEMM_VECTORS"):
        if os.environ.get(var):
            out[var] = os.environ[var]
    from bpttlab.kernels import _config  # noqa: PLC0415

    # what the CPU kernels chose for that target: vector width and the GEMM's register tile
    out["kernels_isa"] = (f"{_config.ISA}: {_config.VBYTES * 8}-bit vectors, GEMM tile {_config.GEMM_MR} rows x "
                          f"{_config.GEMM_NV} vectors")
    return out


def _gpu_names():
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20, check=True)
        return [s.strip() for s in out.stdout.splitlines() if s.strip()]
    except (OSError, subprocess.SubprocessError):
        return []


def _threading():
    import numba  # noqa: PLC0415 - only provenance needs it here

    threads = numba.get_num_threads()  # starts the thread pool, which is what picks the layer
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run in this process, so none was chosen yet
        layer = f"not initialised (configured: {numba.config.THREADING_LAYER})"
    return {"threading_layer": layer, "num_threads": threads,
            "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS}


def provenance(command, options, backend="cpu"):
    """Where and how a report was made. No timestamps: identical runs on one machine and
    commit write identical provenance."""
    # Changes to the code, not to the generated reports: regenerating one study must not mark
    # the next one's code as modified.
    dirty = _git("status", "--porcelain", "--", ".", ":(exclude)reports")
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    env = {k: os.environ[k] for k in sorted(os.environ)
           if k.startswith(("NUMBA_", "OMP_", "OPENBLAS_", "MKL_")) and "TOKEN" not in k}
    if env.get("NUMBA_CACHE_DIR") and env["NUMBA_CACHE_DIR"] == os.environ.get(PRIVATE_CACHE_ENV):
        # A new temporary name every run: record what it is, so identical runs keep identical provenance.
        env["NUMBA_CACHE_DIR"] = "private: an empty temporary directory per process (--private-cache)"
    return {
        "command": command,
        "options": options,
        "backend": backend,
        "git": {"commit": _git("rev-parse", "HEAD"), "dirty": None if dirty is None else bool(dirty)},
        "python": platform.python_version(),
        "packages": versions,
        "numba": _threading(),
        "environment": env,
        "cpu": {"name": cpu_model(), "logical_cores": os.cpu_count(), **cpu_microarchitecture()},
        "gpu": _gpu_names(),
        "platform": platform.platform(),
        "executable": sys.executable,
    }
