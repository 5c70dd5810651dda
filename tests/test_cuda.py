"""The CUDA backend against the CPU backend.

By default these run in Numba's CUDA simulator (tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1
unless BPTTLAB_REAL_GPU=1), with tiny shapes since the simulator runs every GPU thread as
a Python thread. With BPTTLAB_REAL_GPU=1 on a machine with an NVIDIA GPU the same tests run
on the GPU, and so do the ones marked ``gpu`` (moderate shapes), which are skipped otherwise.

- every cell, 1 and 2 layers, uni- and bidirectional, float64: outputs, final states and all
  gradients (parameters, x, initial state, per-step norms) equal the CPU's to 1e-10, for the
  per-step launches and the persistent kernel; inference mode equals training mode;
- TBPTT(k1, k2) and the log_norms mode equal the CPU's; float32 agrees to float32 precision;
  T = B = H = 1 and NaN inputs behave as on the CPU;
- device arrays in give device arrays out; the tile matmul and the helpers against NumPy;
- the errors without numba-cuda, without a GPU, and for bad arguments;
- every kernel compiles to PTX for a real GPU (needs the CUDA toolkit's NVVM, not a GPU);
- studies/speed/cuda_vs_cudnn.py: its plan, a smoke run against torch on the CPU, its exit without a GPU.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from bpttlab import kernels
from bpttlab.kernels import CELLS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None


def _real_gpu():
    if SIMULATOR or not HAVE_NUMBA_CUDA:
        return False
    from numba import cuda

    return cuda.is_available()


REAL_GPU = _real_gpu()
needs_cuda = pytest.mark.skipif(
    not (HAVE_NUMBA_CUDA and (SIMULATOR or REAL_GPU)), reason="needs numba-cuda and a GPU or the CUDA simulator"
)

TOL = 1e-10
TOL32 = 2e-4
PATHS = {"step": False, "persistent": True}


@pytest.fixture(autouse=True, scope="module")
def _fast_thread_switching():
    # The simulator's barriers hand the GIL between Python threads; the default 5 ms switch
    # interval makes every barrier cost milliseconds.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))  # log-norms of exact zeros
    a, b = np.where(both_inf, 0, a), np.where(both_inf, 0, b)
    denom = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


class Worst:
    """Collects relative differences; asserts each against the tolerance."""

    def __init__(self, tol):
        self.tol = tol
        self.errs = {}

    def check(self, what, got, want):
        err = rel_err(got, want)
        self.errs[what] = err
        _MAX[self.tol] = max(_MAX.get(self.tol, 0.0), err)
        assert err <= self.tol, f"{what}: relative difference {err:.3e} > {self.tol:.1e}"


_MAX = {}  # tolerance -> the largest relative difference checked against it


@pytest.fixture(autouse=True, scope="module")
def _report_max_differences():
    yield
    for tol, err in sorted(_MAX.items()):
        print(f"\ntest_cuda: largest relative difference checked against {tol:.0e}: {err:.2e}")


def parts(state):
    return list(state) if isinstance(state, tuple) else [state]


def host(a):
    return a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)


def nets(cell, I, H, L, bidirectional, path=None):
    cpu = kernels.Network(cell, I, H, L, bidirectional)
    gpu = kernels.Network(cell, I, H, L, bidirectional, backend="cuda")
    if path is not None:
        gpu._impl.persistent = PATHS[path]
    return cpu, gpu


def problem(net, T, B, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = net.init_params(seed=seed + 1, dtype=dtype)
    if net.cell == "rnn_relu":  # keep units alive so the recurrent path carries error
        for k in params:
            if k.startswith("bias_ih"):
                params[k] = np.abs(params[k]) + 0.1
    D, H, L = net.directions, net.hidden_size, net.num_layers
    shape = (L * D, B, H)
    x = rng.uniform(-1, 1, (T, B, net.input_size)).astype(dtype)

    def st(scale, normal=False):
        f = (lambda: rng.standard_normal(shape)) if normal else (lambda: rng.uniform(-scale, scale, shape))
        return (f().astype(dtype), f().astype(dtype)) if net.spec.has_cell_state else f().astype(dtype)

    return params, x, st(0.5), rng.standard_normal((T, B, D * H)).astype(dtype), st(1.0, normal=True)


def compare_forward(w, fc, fg, prefix=""):
    w.check(prefix + "y", host(fg.y), fc.y)
    for i, (a, b) in enumerate(zip(parts(fg.state), parts(fc.state), strict=True)):
        w.check(f"{prefix}state[{i}]", host(a), b)


def compare_grads(w, gc_, gg, prefix=""):
    for k in gc_.params:
        w.check(prefix + k, host(gg.params[k]), gc_.params[k])
    w.check(prefix + "dx", host(gg.x), gc_.x)
    for i, (a, b) in enumerate(zip(parts(gg.state), parts(gc_.state), strict=True)):
        w.check(f"{prefix}dstate[{i}]", host(a), b)
    w.check(prefix + "norms_h", gg.norms_h, gc_.norms_h)
    if gc_.norms_c is not None:
        w.check(prefix + "norms_c", gg.norms_c, gc_.norms_c)
    else:
        assert gg.norms_c is None


# --------------------------------------------------------------------------------------
# the backend against the CPU (simulator, or the GPU with BPTTLAB_REAL_GPU=1)
# --------------------------------------------------------------------------------------

T, B, I, H = 4, 2, 3, 3


# Every cell and structure per step; the persistent kernel on the smallest and the largest.
STRUCTURES = [(L, bi, "step") for L in (1, 2) for bi in (False, True)] + [(1, False, "persistent"),
                                                                         (2, True, "persistent")]


@needs_cuda
@pytest.mark.parametrize("L,bidirectional,path", STRUCTURES)
@pytest.mark.parametrize("cell", CELLS)
def test_forward_backward_match_cpu(cell, L, bidirectional, path):
    cpu, gpu = nets(cell, I, H, L, bidirectional, path)
    params, x, state, dy, dstate = problem(cpu, T, B)
    w = Worst(TOL)
    fc = cpu.forward(params, x, state)
    fg = gpu.forward(params, x, state)
    assert fg.tape.backend == "cuda"
    compare_forward(w, fc, fg)
    fi = gpu.forward(params, x, state, training=False)
    assert fi.tape is None
    compare_forward(w, fc, fi, "inference ")
    np.testing.assert_array_equal(fi.y, fg.y)  # the same kernels, whatever the mode keeps
    compare_grads(w, cpu.backward(fc.tape, dy, dstate), gpu.backward(fg.tape, dy, dstate))


# The persistent kernel's window logic is shared by the cells: three of them cover it.
TBPTT_CASES = [(cell, "step") for cell in CELLS] + [(c, "persistent") for c in ("rnn_relu", "lstm_peephole", "gru_cho")]


@needs_cuda
@pytest.mark.parametrize("cell,path", TBPTT_CASES)
def test_tbptt_matches_cpu(cell, path):
    cpu, gpu = nets(cell, I, H, 2, True, path)
    params, x, state, dy, dstate = problem(cpu, T, B, seed=3)
    fc, gc_ = cpu.tbptt(params, x, dy, 2, 3, state, dstate)
    fg, gg = gpu.tbptt(params, x, dy, 2, 3, state, dstate)
    w = Worst(TOL)
    compare_forward(w, fc, fg)
    compare_grads(w, gc_, gg)


@needs_cuda
@pytest.mark.parametrize("k1,k2", [(1, 1), (1, 2), (3, 3), (3, 7), (4, 4)])
def test_tbptt_windows_match_cpu(k1, k2):
    cpu, gpu = nets("gru", I, H, 2, True, "step")
    params, x, state, dy, dstate = problem(cpu, T, B, seed=4)
    fc, fg = cpu.forward(params, x, state), gpu.forward(params, x, state)
    w = Worst(TOL)
    compare_grads(w, cpu.backward_truncated(fc.tape, dy, k1, k2, dstate),
                  gpu.backward_truncated(fg.tape, dy, k1, k2, dstate))
    if k1 == k2 == T:  # TBPTT(T, T) is BPTT
        compare_grads(w, cpu.backward(fc.tape, dy, dstate), gpu.backward_truncated(fg.tape, dy, k1, k2, dstate))


@needs_cuda
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("cell", CELLS)
def test_log_norms_match_cpu(cell, path):
    cpu, gpu = nets(cell, I, H, 1, True, path)
    params, x, state, dy, dstate = problem(cpu, T, B, seed=5)
    dy[1] = 0  # a step with nothing to inject
    fc, fg = cpu.forward(params, x, state), gpu.forward(params, x, state)
    gc_ = cpu.backward(fc.tape, dy, dstate, log_norms=True)
    gg = gpu.backward(fg.tape, dy, dstate, log_norms=True)
    assert gg.params is None and gg.x is None and gg.state is None
    w = Worst(TOL)
    w.check("log norms_h", gg.norms_h, gc_.norms_h)
    if gc_.norms_c is not None:
        w.check("log norms_c", gg.norms_c, gc_.norms_c)


@needs_cuda
def test_log_norms_past_float64_range():
    """log‖dL/dh_t‖ stays finite where the error itself overflows; an exact zero gives -inf."""
    cpu, gpu = nets("rnn_tanh", 2, 3, 1, False, "step")
    params = cpu.init_params(seed=0, recurrent="identity", gain=1e200)  # h stays 0, so each step multiplies by 1e200
    x = np.zeros((T, 1, 2))
    dy = np.zeros((T, 1, 3))
    dy[T - 1] = 1.0
    fc, fg = cpu.forward(params, x), gpu.forward(params, x)
    gc_ = cpu.backward(fc.tape, dy, log_norms=True)
    gg = gpu.backward(fg.tape, dy, log_norms=True)
    assert np.all(np.isfinite(gc_.norms_h)) and gc_.norms_h[0, 0] > 1000  # ‖dL/dh_0‖ ~ 1e600
    Worst(TOL).check("log norms_h", gg.norms_h, gc_.norms_h)
    gz = gpu.backward(fg.tape, np.zeros_like(dy), log_norms=True)
    assert np.all(gz.norms_h == -np.inf)


@needs_cuda
@pytest.mark.parametrize("cell", CELLS)
def test_degenerate_shapes_and_nan_match_cpu(cell):
    """T = B = H = 1 (stacked, bidirectional, per step); NaN in x reaches the same outputs and
    gradients as on the CPU (persistent kernel)."""
    w = Worst(TOL)
    cpu, gpu = nets(cell, 1, 1, 2, True, "step")
    params, x, state, dy, dstate = problem(cpu, 1, 1, seed=8)
    fc, fg = cpu.forward(params, x, state), gpu.forward(params, x, state)
    compare_forward(w, fc, fg)
    compare_grads(w, cpu.backward(fc.tape, dy, dstate), gpu.backward(fg.tape, dy, dstate))
    cpu, gpu = nets(cell, 2, 2, 1, True, "persistent")
    params, x, state, dy, dstate = problem(cpu, 3, 2, seed=9)
    x[1, 0, 0] = np.nan
    fc, fg = cpu.forward(params, x, state), gpu.forward(params, x, state)
    gc_, gg = cpu.backward(fc.tape, dy, dstate), gpu.backward(fg.tape, dy, dstate)
    for what, a, b in [("y", fg.y, fc.y), ("dx", gg.x, gc_.x), ("norms_h", gg.norms_h, gc_.norms_h)] + [
        (k, gg.params[k], gc_.params[k]) for k in params
    ]:
        nan = np.isnan(b)
        assert nan.any() or what == "norms_h", what
        np.testing.assert_array_equal(np.isnan(a), nan, err_msg=what)
        w.check(what + " (finite part)", a[~nan], b[~nan])


@needs_cuda
@pytest.mark.parametrize("cell", CELLS)
def test_float32_matches_cpu(cell):
    cpu, gpu = nets(cell, I, H, 1, True)
    params, x, state, dy, dstate = problem(cpu, T, B, dtype=np.float32, seed=6)
    fc, fg = cpu.forward(params, x, state), gpu.forward(params, x, state)
    assert fg.y.dtype == np.float32
    w = Worst(TOL32)
    compare_forward(w, fc, fg)
    gg = gpu.backward(fg.tape, dy, dstate)
    assert gg.x.dtype == np.float32 and all(v.dtype == np.float32 for v in gg.params.values())
    compare_grads(w, cpu.backward(fc.tape, dy, dstate), gg)
    compare_grads(w, cpu.backward_truncated(fc.tape, dy, 1, 2, dstate), gpu.backward_truncated(fg.tape, dy, 1, 2, dstate))


@needs_cuda
@pytest.mark.parametrize("cell", ["lstm_peephole", "gru"])
def test_device_arrays_in_device_arrays_out(cell):
    from bpttlab.kernels.cuda._common import is_device_array
    from numba import cuda

    cpu, gpu = nets(cell, I, H, 2, True)
    params, x, state, dy, dstate = problem(cpu, T, B, seed=7)
    dev = cuda.to_device
    d_params = {k: dev(v) for k, v in params.items()}
    d_state = tuple(dev(s) for s in state) if isinstance(state, tuple) else dev(state)
    d_dstate = tuple(dev(s) for s in dstate) if isinstance(dstate, tuple) else dev(dstate)
    d_x = dev(x)
    fg = gpu.forward(d_params, d_x, d_state)
    assert is_device_array(fg.y) and all(is_device_array(s) for s in parts(fg.state))
    gg = gpu.backward(fg.tape, dev(dy), d_dstate)
    assert is_device_array(gg.x) and all(is_device_array(v) for v in gg.params.values())
    assert all(is_device_array(s) for s in parts(gg.state))
    assert isinstance(gg.norms_h, np.ndarray)
    fc = cpu.forward(params, x, state)
    w = Worst(TOL)
    compare_forward(w, fc, fg)
    compare_grads(w, cpu.backward(fc.tape, dy, dstate), gg)
    # The tape owns a copy of x: writing into the caller's device array afterwards changes nothing.
    d_x.copy_to_device(np.zeros_like(x))
    compare_grads(w, cpu.backward(fc.tape, dy, dstate), gpu.backward(fg.tape, dy, dstate))
    # Mixed kinds: NumPy x with device parameters gives NumPy out.
    fm = gpu.forward(d_params, x, state, training=False)
    assert isinstance(fm.y, np.ndarray)
    compare_forward(w, fc, fm)


# --------------------------------------------------------------------------------------
# the matmul and the helpers
# --------------------------------------------------------------------------------------

@needs_cuda
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_against_numpy(ta, tb):
    from bpttlab.kernels.cuda._gemm import colsum, gemm
    from numba import cuda

    rng = np.random.default_rng(0)
    M, N, K = 19, 18, 11  # several tiles, ragged edges and K slabs, even with the simulator's tile
    a = rng.standard_normal((K, M) if ta else (M, K))
    b = rng.standard_normal((N, K) if tb else (K, N))
    c0 = rng.standard_normal((M, N))
    bias = rng.standard_normal(N)
    want = (a.T if ta else a) @ (b.T if tb else b)
    c = cuda.to_device(c0)
    gemm(cuda.to_device(a), cuda.to_device(b), c, ta, tb, accumulate=True, bias=cuda.to_device(bias))
    np.testing.assert_allclose(c.copy_to_host(), want + c0 + bias, rtol=1e-12, atol=1e-12)
    # Column slices (strided operands), as the reset-before GRU's weight gradients use.
    wide = cuda.to_device(np.concatenate([c0, c0], axis=1))
    gemm(cuda.to_device(a), cuda.to_device(b), wide[:, N:], ta, tb)
    np.testing.assert_allclose(wide.copy_to_host(), np.concatenate([c0, want], axis=1), rtol=1e-12, atol=1e-12)
    out = cuda.to_device(np.ones(N))
    colsum(cuda.to_device(c0), out)
    np.testing.assert_allclose(out.copy_to_host(), 1 + c0.sum(axis=0), rtol=1e-12)


@needs_cuda
def test_helpers_against_numpy():
    from bpttlab.kernels.cuda import _common as gc
    from numba import cuda

    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 5))
    d = cuda.to_device(a)
    gc.fill(d, 2.5)
    assert np.all(d.copy_to_host() == 2.5)
    src = cuda.to_device(a)
    dst = cuda.to_device(np.zeros((3, 4, 10)))
    gc.copy(src, dst[:, :, 5:])
    gc.add_into(dst[:, :, 5:], src)
    np.testing.assert_array_equal(dst.copy_to_host()[:, :, 5:], 2 * a)
    np.testing.assert_array_equal(gc.transpose(cuda.to_device(a[0])).copy_to_host(), a[0].T)
    for view in (src[:, :, 1:3], cuda.to_device(a[0])[:, 1:4], cuda.to_device(a[0, 0])[::2]):
        np.testing.assert_array_equal(gc.contiguous(view).copy_to_host(), view.copy_to_host())
    out = cuda.to_device(np.zeros(5))
    gc.slice_sumsq(cuda.to_device(a), 1, 2, 3, 1, 3, out)
    np.testing.assert_allclose(out.copy_to_host()[1:4], (a[:3, :, 2:5] ** 2).sum(axis=(1, 2)), rtol=1e-12)


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------

def test_no_gpu_error(monkeypatch):
    """Without a GPU and without the simulator: a RuntimeError that says how to use the simulator."""
    if not HAVE_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed (see test_missing_numba_cuda_error)")
    from bpttlab.kernels.cuda import backend as gpu_network

    monkeypatch.setattr(gpu_network, "_simulator_on", lambda: False)
    monkeypatch.setattr(gpu_network, "_gpu_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU was found") as e:
        kernels.Network("lstm", 2, 3, backend="cuda")
    assert "NUMBA_ENABLE_CUDASIM=1" in str(e.value) and "backend='cpu'" in str(e.value)


def test_missing_numba_cuda_error(monkeypatch):
    from bpttlab.kernels.cuda import backend as gpu_network

    monkeypatch.setattr(gpu_network, "_have_numba_cuda", lambda: False)
    with pytest.raises(ImportError, match=r"numba-cuda.*pip install 'bpttlab\[cuda\]'"):
        kernels.Network("gru", 2, 3, backend="cuda")


def test_import_without_cuda_and_no_gpu_subprocess():
    """`import kernels` never loads numba.cuda; without a GPU or the simulator, the clear error."""
    code = textwrap.dedent(
        """
        import sys
        from bpttlab import kernels
        assert "numba.cuda" not in sys.modules, "import kernels loaded numba.cuda"
        net = kernels.Network("rnn_tanh", 2, 3)
        assert "numba.cuda" not in sys.modules, "a CPU network loaded numba.cuda"
        try:
            kernels.Network("rnn_tanh", 2, 3, backend="cuda")
        except (RuntimeError, ImportError) as e:
            print(type(e).__name__ + ": " + str(e))
        else:
            print("GPU")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().splitlines()[-1]
    if out == "GPU":
        return  # a machine with a GPU: nothing to report
    if not HAVE_NUMBA_CUDA:
        assert out.startswith("ImportError") and "numba-cuda" in out
    else:
        assert out.startswith("RuntimeError: backend='cuda': no CUDA GPU was found"), out
        assert "NUMBA_ENABLE_CUDASIM=1" in out


@needs_cuda
def test_argument_errors():
    from numba import cuda

    cpu, gpu = nets("lstm", I, H, 1, False)
    params, x, state, dy, dstate = problem(cpu, T, B)
    with pytest.raises(ValueError, match="expected"):
        gpu.forward(params, cuda.to_device(np.ascontiguousarray(x[:, :, :2])))
    with pytest.raises(TypeError, match="dtype"):
        gpu.forward(params, cuda.to_device(x.astype(np.float32)))
    with pytest.raises(TypeError, match="dtype"):
        gpu.forward(params, x.astype(np.int64))
    with pytest.raises(KeyError, match="missing"):
        gpu.forward({k: v for k, v in params.items() if k != "bias_hh_l0"}, x)
    with pytest.raises(ValueError, match="shape"):
        gpu.forward({**params, "bias_hh_l0": cuda.to_device(params["bias_hh_l0"][:3])}, x)
    with pytest.raises(TypeError, match=r"tuple \(h, c\)"):
        gpu.forward(params, x, state[0])
    fc = cpu.forward(params, x)
    with pytest.raises(ValueError, match="tape"):
        gpu.backward(fc.tape, dy)  # a CPU tape
    fg = gpu.forward(params, x)
    with pytest.raises(ValueError, match="dy"):
        gpu.backward(fg.tape, dy[:, :, :2])
    with pytest.raises(ValueError, match="k2"):
        gpu.backward_truncated(fg.tape, dy, 3, 2)
    deep = kernels.Network("lstm", I, H, 2, backend="cuda")
    fd = deep.forward(deep.init_params(), x)
    with pytest.raises(ValueError, match="one layer"):
        deep.backward(fd.tape, np.zeros((T, B, H)), log_norms=True)


@needs_cuda
def test_persistent_policy():
    """persistent=True where W_hh cannot stay on chip is an error; "auto" then runs per step."""
    Hb = 64 if SIMULATOR else 4096  # float64 LSTM columns of W_hh past the shared memory of one block
    cpu, gpu = nets("lstm", 1, Hb, 1, False)
    params, x, state, _, _ = problem(cpu, 1, 1)
    gpu._impl.persistent = True
    with pytest.raises(RuntimeError, match="does not fit"):
        gpu.forward(params, x, state)
    gpu._impl.persistent = "auto"
    Worst(TOL).check("y", gpu.forward(params, x, state, training=False).y, cpu.forward(params, x, state).y)


# --------------------------------------------------------------------------------------
# real GPU only
# --------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not REAL_GPU, reason="needs a real CUDA GPU (run with BPTTLAB_REAL_GPU=1)")
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell", CELLS)
def test_real_gpu_moderate_shapes(cell, dtype, path):
    Tm, Bm, Im, Hm = 50, 8, 32, 64
    cpu, gpu = nets(cell, Im, Hm, 2, True, path)
    params, x, state, dy, dstate = problem(cpu, Tm, Bm, dtype=dtype, seed=11)
    tol = TOL if dtype == np.float64 else 1e-3
    w = Worst(tol)
    fc, fg = cpu.forward(params, x, state), gpu.forward(params, x, state)
    compare_forward(w, fc, fg)
    compare_grads(w, cpu.backward(fc.tape, dy, dstate), gpu.backward(fg.tape, dy, dstate))
    compare_grads(w, cpu.backward_truncated(fc.tape, dy, 7, 12, dstate),
                  gpu.backward_truncated(fg.tape, dy, 7, 12, dstate))


def test_kernels_compile_for_a_real_gpu(run_without_simulator):
    """Compile every kernel, for the argument types the driver passes, to PTX (sm_90).

    Catches Numba typing errors on the real-GPU code paths, which the simulator (plain
    Python) cannot. Needs the CUDA toolkit's NVVM and NVRTC but no GPU; skipped without them.
    The launches are kernels/cuda/_resources.py's workload(), which tests/test_cuda_resources.py
    compiles too and assembles with ptxas: where ptxas is found that test covers this one, so this
    one runs only where it is missing (it took 40-80 s of CI's time to repeat the same compilation).
    """
    code = textwrap.dedent(
        """
        import sys
        from numba import cuda
        try:
            cuda.compile_ptx(lambda a: None, "void(float64[:])", cc=(9, 0))
        except Exception as e:
            print("SKIP no CUDA toolkit to compile with:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            sys.exit(0)
        from bpttlab.kernels.cuda import _common as gpu_common, _resources, backend as gpu_network
        if _resources.ptxas_path() is not None:
            print("SKIP tests/test_cuda_resources.py compiles the same kernels (and assembles them with ptxas)")
            sys.exit(0)
        gpu_network._gpu_available = lambda: True
        print("COMPILED", gpu_common.ptx_check(_resources.workload))
        """
    )
    last = run_without_simulator(code, timeout=900)[-1]
    assert last.startswith("COMPILED") and int(last.split()[1]) > 30


# --------------------------------------------------------------------------------------
# the GPU benchmark script (it needs a GPU to measure; here: its plan and a smoke run)
# --------------------------------------------------------------------------------------

def test_benchmark_plan(capsys):
    from bpttlab.studies.speed import cuda_vs_cudnn

    assert cuda_vs_cudnn.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    for shape in ("T100_B64_H512", "lstm_H1024_B64_T25", "lstm_H256_B16_T150", "gru_H1024_B32_T1500",
                  "H128_B1_T1000", "H128_B4_T1000", "H128_B16_T1000"):
        assert shape in out
    assert out.startswith("12 cases")
    with pytest.raises(SystemExit):
        cuda_vs_cudnn.parse(["--paths", "nope"])


@needs_cuda
def test_benchmark_smoke_run(tmp_path, capsys):
    pytest.importorskip("torch")
    from bpttlab.studies.speed import cuda_vs_cudnn

    assert cuda_vs_cudnn.main(["--smoke", "--only", "lstm", "--repeats", "1", "--warmup", "0",
                               "--out", str(tmp_path)]) == 0
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 + 2 * 2  # header; cuDNN and our two paths, forward and forward+backward
    md = (tmp_path / "results.md").read_text()
    assert "| smoke | lstm |" in md
    # our outputs and dL/dx against torch's nn.LSTM with the same parameters
    checks = [float(v) for v in __import__("re").findall(r"(?:y|dx) ([0-9.e+-]+)", md)]
    assert checks and max(checks) < 1e-5


def test_benchmark_exits_clearly_without_a_gpu():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-m", "bpttlab.studies.speed.cuda_vs_cudnn", "--repeats", "1"],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        return  # a GPU machine with torch: it ran
    assert r.stderr.strip().splitlines()[-1].startswith("cuda_vs_cudnn: "), r.stderr[-2000:]
