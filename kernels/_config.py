"""Every compilation option, thread policy and environment switch of the kernels, in one place.

Importing this module changes nothing: no environment variable, no ``numba.config`` field and
no thread pool. The thread pool starts on the first kernel call that asks how many threads
there are (:func:`num_threads`), once; Numba's cache directory is set only while a kernel is
being decorated (:func:`numba_cache_dir`).
"""

import hashlib
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import numba
from numba.core import config as numba_config

# -- CPU compilation (kernels/cpu/_jit.py applies these) ------------------------------------

# Reassociation and contraction let LLVM vectorize reductions and fuse multiply-adds.
# "nnan" and "ninf" are deliberately absent: NaN and Inf in the inputs must reach the
# outputs, and a kernel compiled under them may silently turn NaN into a number.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# The float32 approximations of exp/tanh/sigmoid (kernels/cpu/_common.py) rely on the order of
# their range reduction (x - n*ln2_hi - n*ln2_lo): they are compiled without "reassoc", which
# is attached to each instruction, so it stays off after they are inlined into a kernel.
MATH_FASTMATH = FASTMATH - {"reassoc"}

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": FASTMATH,
    # NumPy semantics for 1/0 and friends: Inf/NaN instead of a ZeroDivisionError.
    "error_model": "numpy",
}
MATH_JIT_OPTIONS = {"fastmath": MATH_FASTMATH, "error_model": "numpy", "nogil": True}

# The studies' float64 analysis (studies/science/cell_equations.py: Jacobian-vector products,
# Lyapunov sums) is compiled without fast-math: its long reductions are compared at the 1e-3
# level and must not depend on how LLVM chose to reassociate them.
ANALYSIS_JIT_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}

# -- the CPU GEMM's register tile, chosen per instruction set -------------------------------
#
# The micro-kernel (kernels/cpu/_gemm.py) holds a tile of C of GEMM_MR rows x NV vectors in
# registers across the k loop, plus NV vectors of B and one broadcast of A. The tile has to fit
# the register file of the instruction set the kernels are compiled for:
#   AVX-512: 32 vector registers, 4 x 4 (16 accumulators + 4 + 1 = 21): the tile tuned first;
#   AVX2 / SSE: 16 registers, 4 x 3 (12 + 3 + 1 = 16). A 4 x 4 tile there needs 21 of 16
#   registers, and LLVM spills and reloads accumulators in the inner loop: a 2048³ float32
#   product on one znver1 (AVX2) core ran at 21 GFLOP/s with 4 x 4 and 33 with 4 x 3
#   (OpenBLAS's Haswell kernel: 38), on two cores 37 and 67 (PyTorch: 70). 4 x 3 was also
#   the fastest for an emulated SSE-only target (x86-64-v2). studies/speed/gemm_tiles.py
#   measures every candidate: reports/speed/gemm_tiles/. AVX-512's 4 x 4 is not re-measured
#   here (no AVX-512 machine in this session).
# The tile changes which columns one call of the micro-kernel covers, never the order in which
# an element of C sums over k, so results are bit-identical whichever tile runs.
GEMM_MR = 4
GEMM_VECTORS = {"avx512": 4, "avx2": 3, "sse": 3}
VECTOR_BYTES = {"avx512": 64, "avx2": 32, "sse": 16}


def _target_features():
    """The feature string Numba compiles the CPU kernels with (numba.core.codegen: the host's
    features unless NUMBA_CPU_FEATURES is set; NUMBA_CPU_NAME alone keeps the host's)."""
    if numba_config.CPU_FEATURES is not None:
        return numba_config.CPU_FEATURES
    try:
        from numba.core.codegen import get_host_cpu_features  # noqa: PLC0415

        return get_host_cpu_features()
    except Exception:  # noqa: BLE001 - an unknown host: assume the common AVX2
        return "+avx2,+fma"


def _enabled(features):
    return {f[1:] for f in (_target_features() if features is None else features).split(",") if f.startswith("+")}


def target_has_fma(features=None):
    """Whether the target fuses multiply-adds in hardware. Without it (an SSE-only target such as
    x86-64-v2) llvm.fma becomes a call to the C library's software fma for every element, 20-30x
    slower than a multiply and an add: the kernels' multiply-adds are then llvm.fmuladd (a
    multiply and an add, rounded twice). With it, they stay llvm.fma (rounded once)."""
    return bool(_enabled(features) & {"fma", "avx512f"})


def target_isa(features=None):
    """'avx512', 'avx2' or 'sse': the widest vector instruction set the kernels compile for."""
    feats = _enabled(features)
    if "avx512f" in feats:
        return "avx512"
    if "avx2" in feats and "fma" in feats:
        return "avx2"
    return "sse"


def _gemm_vectors(isa):
    """NV, the tile's vectors per row: the table's choice for ``isa``, or BPTTLAB_GEMM_VECTORS
    (2-4) to try another tile (its compiled code gets its own cache, see SOURCE_DIGEST)."""
    text = os.environ.get("BPTTLAB_GEMM_VECTORS", "").strip()
    if not text:
        return GEMM_VECTORS[isa]
    if text not in {"2", "3", "4"}:
        raise ValueError(f"BPTTLAB_GEMM_VECTORS: got {text!r}, expected 2, 3 or 4 (vectors per row of the GEMM's "
                         "register tile), or unset for the choice per instruction set")
    return int(text)


ISA = target_isa()
VBYTES = VECTOR_BYTES[ISA]
GEMM_NV = _gemm_vectors(ISA)
FMA_INTRINSIC = "llvm.fma" if target_has_fma() else "llvm.fmuladd"

_PACKAGE = Path(__file__).resolve().parent


def source_files():
    """Every Python source of the package, subpackages included."""
    return sorted(_PACKAGE.rglob("*.py"))


def _source_digest():
    h = hashlib.sha256()
    for p in source_files():
        h.update(p.relative_to(_PACKAGE).as_posix().encode())
        h.update(p.read_bytes())
    # The vector width and the GEMM tile are compile-time constants of the kernels; the cache
    # index is already keyed on the CPU's name and features, not on an override of the tile.
    h.update(f"{VBYTES}:{GEMM_MR}x{GEMM_NV}:{FMA_INTRINSIC}".encode())
    return h.hexdigest()[:16]


# Numba's on-disk cache is keyed on the decorated function's own file only, so an edit to a
# helper in another module (say cpu/_common.py) would leave callers running stale machine code.
# Keying the cache directory on the digest of every kernel source (subpackages included)
# closes that hole.
SOURCE_DIGEST = _source_digest()


@contextmanager
def numba_cache_dir(config=None):
    """Numba's cache directory, for the kernels decorated inside the block only.

    config: the settings module whose CACHE_DIR to set; numba.core.config by default, and
    numba-cuda's own (numba.cuda.core.config) for the CUDA kernels.
    """
    config = config or numba_config
    user = config.CACHE_DIR
    base = Path(user) / "bpttlab" if user else _PACKAGE / "__pycache__"
    config.CACHE_DIR = os.fspath(base / f"numba-{SOURCE_DIGEST}")
    try:
        yield
    finally:
        config.CACHE_DIR = user


# -- CPU threads ------------------------------------------------------------------------------

# Numba's OpenMP threads spin this many times (GOMP_SPINCOUNT; a spin is one "pause", tens of
# cycles) before sleeping, between parallel regions and at their end. libgomp's default,
# 300000 (milliseconds), keeps back-to-back regions cheap but lets an idle pool steal a core
# for that long, and on an oversubscribed machine a spinning wait at the end of a region can
# cost a whole scheduler time slice; sleeping right away (a futex wake per region) is slow on
# virtual machines, where waking a halted CPU costs tens of microseconds or more. 20000 spins
# (a few hundred microseconds) keeps the threads hot across one call's regions and the gaps
# between calls, and no longer.
GOMP_SPINCOUNT = "20000"

_threads_lock = threading.Lock()
_threads_started = False


def start_threads():
    """Start Numba's thread pool, once, with GOMP_SPINCOUNT set for it alone.

    libgomp reads the variable once, when it is loaded (here, by Numba's OpenMP layer), so the
    setting is restored right after: an OpenMP runtime loaded later (PyTorch's own copy, say)
    does not see it. Nothing is changed if the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, or
    if Numba's threads were already running.
    """
    global _threads_started
    if _threads_started:
        return
    with _threads_lock:
        if _threads_started:
            return
        if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
            numba.get_num_threads()
        else:
            os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
            try:
                numba.get_num_threads()  # launches the threads (and loads the threading layer) once
            finally:
                del os.environ["GOMP_SPINCOUNT"]
        _threads_started = True


def num_threads():
    """Threads the kernels use: Numba's setting (``numba.set_num_threads``); starts them first."""
    start_threads()
    return numba.get_num_threads()


# Work below which a pass stays on one thread, in multiply-adds: a parallel region saves little
# there, and on a machine whose cores are busy with other processes, waiting for a descheduled
# thread at the region's end can cost a scheduler time slice. Matrix products split from
# ~10 us of one core's work; time loops (one region for the whole loop) from ~80 us.
PARALLEL_MIN = 1 << 21
LOOP_PARALLEL_MIN = 1 << 24
# A hidden unit's gate arithmetic in one step, in multiply-adds of the same time (~2 ns).
GATE_WORK = 400

# With fewer batch rows than threads, the LSTM's forward time loop splits the hidden units
# instead (cpu/lstm.py, lstm_forward_units), from this much recurrent work per step, in
# multiply-adds, and per loop. The threads hand over at every step (0.2-0.5 us on the 2-core
# test machine); measured there at B = 1, T = 100 (float32), the split is 0.74x the one-thread
# loop at H = 32, even at H = 96 and 1.5x at H = 128 (G*H*H = 65536), 1.8x at H = 512.
UNIT_STEP_MIN = 1 << 16
UNIT_LOOP_MIN = 1 << 20

# -- CUDA -------------------------------------------------------------------------------------

# numba-cuda decorator options of every kernel and device function (cuda/_common.py applies
# them; the simulator takes none). Line info costs no run time: it maps each PTX instruction to
# its source line, for Nsight Compute and for the resource check (cuda/_resources.py), which
# tells by it the float64 norm arithmetic of a float32 kernel from float64 that crept in.
CUDA_JIT_OPTIONS = {"lineinfo": True}
# Launch bounds (minimum blocks of MAX_TPB threads per SM) of the per-step and persistent
# kernels, by (kernel, cell family, dtype name): ptxas then caps the registers at
# 65536 / (MAX_TPB * blocks). None is set, as measured with ptxas for sm_90 (issue 19, item 8;
# README): bwd_persist runs at 145-168 registers (1 block of 256 threads per SM; 136-168 when the cap
# was tried, before the persistent kernels read h and dL/da from copies); a cap of 128
# (2 blocks) spills 80-284 bytes in every LSTM and GRU specialization, and the RNN's PTX with
# launch bounds does not assemble (ptxas: "Unknown symbol '$L__BB0_321'", numba-cuda 0.30.4's
# NVVM output). A key set here reaches both the kernels and the resource check.
CUDA_MIN_BLOCKS = {}


def cuda_min_blocks(kernel, family, dtype_name=None):
    """The launch bounds (MAX_TPB, blocks per SM) of a kernel, or None for ptxas's own choice.
    The step kernels are compiled once per family for both dtypes (dtype_name None)."""
    n = CUDA_MIN_BLOCKS.get((kernel, family, dtype_name))
    return None if n is None else (MAX_TPB, n)


# The kernels' (not device functions') machine code goes to Numba's on-disk cache, in the
# directory keyed on every kernel source (numba_cache_dir), so a process does not recompile
# the ~45 specializations (~30 s); numba-cuda caches cooperative kernels too.
CUDA_CACHE = True

# Block reductions and the persistent kernels assume power-of-two blocks of at most this.
MAX_TPB = 256
# The simulator runs every thread as a Python thread: small blocks keep it fast.
SIM_TPB = 8
# Shared memory a block may use without an opt-in attribute. A persistent block's W_hh slice
# is dynamic shared memory; past this, the launch first raises the kernel's
# CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES up to the device's opt-in limit (227 KB on
# sm_90), where the device allows it.
SMEM_LIMIT = 48 * 1024
# Static shared memory of the persistent kernels: block_norm's three float64 buffers and
# block_combined_norm's one float64, in the backward kernel only (tests/test_cuda_resources.py
# checks these against the compiled code).
PERSIST_STATIC_SMEM = {"fwd": 0, "bwd": 3 * MAX_TPB * 8 + 8}
# Whether the persistent kernels may opt in to more than SMEM_LIMIT of dynamic shared memory.
SMEM_OPT_IN = True
# The tiled matmul (cuda/_gemm.py): BM, BN, BK, TM, TN. On a GPU 256 threads, 16 outputs
# each; in the simulator small tiles, so that a test's ragged edges cross several tiles.
REAL_TILE = (64, 64, 16, 4, 4)
SIM_TILE = (16, 16, 8, 8, 8)


def cuda_persistent():
    """The persistent-kernel policy from BPTTLAB_CUDA_PERSISTENT: "auto" (default), True (1) or False (0)."""
    v = os.environ.get("BPTTLAB_CUDA_PERSISTENT", "auto").strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    return "auto"


def memory_check_enabled():
    """BPTTLAB_MEMORY_CHECK=0 turns off the refusal of calls that need more memory than is
    available (kernels/_memory.py), for a machine whose swap or reclaimable caches make its
    MemAvailable an underestimate. Read at every call, like the other switches."""
    return os.environ.get("BPTTLAB_MEMORY_CHECK", "1").strip() != "0"


def cuda_simulator_requested():
    """Whether Numba's CUDA simulator is asked for, when numba.cuda's own config cannot say."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
