"""The CPU GEMM (kernels/cpu/_gemm.py) on its own: against NumPy in float64, and the claims
its design rests on: packing a transposed A and the choice of register tile change no bit of
the result (kernels/_config.py: the tile is chosen per instruction set)."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from bpttlab.kernels import _config
from bpttlab.kernels.cpu._gemm import KC, MC, MR, mm, panel_width
from bpttlab.kernels.cpu._par import mm_par, pack

# (M, N, K): ragged against MR, MC, KC and the panel width, one row (the matrix-vector path),
# and shapes large enough for mm_par to split rows over threads.
SHAPES = [
    (1, 37, KC + 3),
    (MR - 1, 5, 7),
    (MC + MR + 1, 3 * 8 + 5, KC + 9),
    (2 * MC + 3, 70, 2 * KC + 1),
    (257, 129, 300),
]


def _operands(M, N, K, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype),
            rng.standard_normal((M, N)).astype(dtype))


def _product(a, b, c0, beta, transposed):
    """C = beta C0 + A B through mm_par, A read in place (row-major) or from its transpose."""
    M, K = a.shape
    N = b.shape[1]
    bp = pack(b.reshape(-1), 0, N, K, N)
    c = c0.copy()
    if transposed:
        at = np.ascontiguousarray(a.T)  # (K, M): A(i, k) = at[k, i]
        mm_par(M, N, K, at.reshape(-1), 0, 1, M, bp, c.reshape(-1), 0, N, beta)
    else:
        mm_par(M, N, K, a.reshape(-1), 0, K, 1, bp, c.reshape(-1), 0, N, beta)
    return c


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("transposed", [False, True])
def test_matches_numpy_float64(shape, beta, transposed):
    a, b, c0 = _operands(*shape, np.float64)
    got = _product(a, b, c0, beta, transposed)
    want = beta * c0 + a @ b
    # float64 sums of at most ~600 products of unit normals: well inside 1e-12 relative to the
    # sum of |terms| (the bound of any summation order is K * eps ~ 1e-13)
    scale = np.abs(a) @ np.abs(b) + np.abs(c0)
    assert np.all(np.abs(got - want) <= 1e-12 * scale)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packing_a_transposed_operand_changes_no_bit(shape, dtype):
    """A transposed A is packed before the micro-kernel reads it; a row-major one is read in
    place. The arithmetic (the order of every sum over k) is the same."""
    a, b, c0 = _operands(*shape, dtype, seed=1)
    for beta in (0.0, 1.0):
        assert np.array_equal(_product(a, b, c0, beta, True), _product(a, b, c0, beta, False))


def test_nan_in_c_is_ignored_with_beta_zero():
    a, b, _ = _operands(9, 30, 20, np.float64)
    c0 = np.full((9, 30), np.nan)
    for transposed in (False, True):
        assert np.allclose(_product(a, b, c0, 0.0, transposed), a @ b, rtol=1e-12, atol=1e-12)


def test_row_range_only_touches_its_rows():
    M, N, K = 19, 33, 40
    a, b, c0 = _operands(M, N, K, np.float64)
    bp = pack(b.reshape(-1), 0, N, K, N)
    c = c0.copy()
    mm(M, N, K, a.reshape(-1), 0, K, 1, bp, c.reshape(-1), 0, N, 0.0, 5, 13)
    assert np.array_equal(c[:5], c0[:5]) and np.array_equal(c[13:], c0[13:])
    assert np.allclose(c[5:13], a[5:13] @ b, rtol=1e-12, atol=1e-12)


# -- the register tile per instruction set ----------------------------------------------------


@pytest.mark.parametrize(("features", "isa"), [
    ("+avx512f,+avx512bw,+avx2,+fma,+avx", "avx512"),
    ("+avx2,+fma,+avx,-avx512f", "avx2"),
    ("+avx2,-fma,+avx", "sse"),  # no FMA: the AVX2 tile assumes fused multiply-adds
    ("+sse4.2,-avx,-avx2", "sse"),
    ("", "sse"),
])
def test_instruction_set_from_the_feature_string(features, isa):
    assert _config.target_isa(features) == isa


def test_the_tile_fits_the_register_file():
    """MR x NV accumulators + NV vectors of B + one broadcast of A <= the vector registers."""
    registers = {"avx512": 32, "avx2": 16, "sse": 16}
    for isa, nv in _config.GEMM_VECTORS.items():
        assert _config.GEMM_MR * nv + nv + 1 <= registers[isa], isa
    assert panel_width(np.empty(1, np.float32)) == _config.GEMM_NV * _config.VBYTES // 4


def test_bad_tile_override_is_refused(monkeypatch):
    monkeypatch.setenv("BPTTLAB_GEMM_VECTORS", "5")
    with pytest.raises(ValueError, match="BPTTLAB_GEMM_VECTORS: got '5', expected 2, 3 or 4"):
        _config._gemm_vectors("avx2")


_OTHER_TILE = """
import json, sys
import numpy as np
from bpttlab.kernels import _config
from bpttlab.kernels.cpu._par import mm_par, pack
shapes = json.loads(sys.argv[1])
out = []
for k, (M, N, K) in enumerate(shapes):
    rng = np.random.default_rng(k)
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)
        c = np.zeros((M, N), dtype)
        mm_par(M, N, K, a.reshape(-1), 0, K, 1, pack(b.reshape(-1), 0, N, K, N), c.reshape(-1), 0, N, 0.0)
        out.append(c)
np.savez(sys.argv[2], *out)
print(_config.GEMM_NV)
"""


def test_every_tile_gives_the_same_bits(tmp_path):
    """The tile decides which columns one micro-kernel call covers, never the order of a sum:
    the products of every tile (2, 3, 4 vectors per row, each in its own process and cache)
    are bit-identical."""
    shapes = json.dumps([[3, 50, KC + 5], [MC + 6, 41, 2 * KC + 3], [1, 70, 9]])
    results = {}
    for nv in ("2", "3", "4"):
        env = dict(os.environ, BPTTLAB_GEMM_VECTORS=nv)
        path = tmp_path / f"nv{nv}.npz"
        r = subprocess.run([sys.executable, "-c", _OTHER_TILE, shapes, str(path)], env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert r.stdout.split()[-1] == nv
        with np.load(path) as z:
            results[nv] = [z[k] for k in sorted(z.files, key=lambda s: int(s.split("_")[1]))]
    for nv in ("2", "4"):
        for x, y in zip(results["3"], results[nv], strict=True):
            assert np.array_equal(x, y)


def test_fused_multiply_adds_only_where_the_target_has_them():
    assert _config.target_has_fma("+avx2,+fma") and _config.target_has_fma("+avx512f")
    assert not _config.target_has_fma("+sse4.2,-fma,-avx512f")


SSE_TARGET = {"NUMBA_CPU_NAME": "x86-64-v2",
              "NUMBA_CPU_FEATURES": "+64bit,+cmov,+cx8,+fxsr,+mmx,+sse,+sse2,+cx16,+sahf,+popcnt,+sse3,+sse4.1,"
                                    "+sse4.2,+ssse3,-avx,-avx2,-fma,-f16c,-avx512f"}

_SSE_CHECK = """
import sys
import numpy as np
from bpttlab.kernels import _config
from bpttlab.kernels.cpu._par import mm_par, pack
assert (_config.ISA, _config.VBYTES, _config.FMA_INTRINSIC) == ("sse", 16, "llvm.fmuladd"), _config.ISA
rng = np.random.default_rng(0)
M, N, K = 37, 29, 300
a, b = rng.standard_normal((M, K)), rng.standard_normal((K, N))
c = np.zeros((M, N))
mm_par(M, N, K, a.reshape(-1), 0, K, 1, pack(b.reshape(-1), 0, N, K, N), c.reshape(-1), 0, N, 0.0)
assert np.all(np.abs(c - a @ b) <= 1e-12 * (np.abs(a) @ np.abs(b))), np.abs(c - a @ b).max()
print("OK")
"""


@pytest.mark.skipif(platform.machine().lower() not in {"x86_64", "amd64"}, reason="an x86-64 target")
def test_an_sse_target_gets_sse_vectors_and_no_software_fma():
    """Compiled for x86-64-v2 (no AVX, no FMA: emulated with NUMBA_CPU_NAME/NUMBA_CPU_FEATURES, which
    any x86-64 host runs), the kernels use 128-bit vectors and multiply-then-add."""
    r = subprocess.run([sys.executable, "-c", _SSE_CHECK], env=dict(os.environ, **SSE_TARGET), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr[-3000:]
