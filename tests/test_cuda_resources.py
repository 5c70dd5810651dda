"""The compiled CUDA kernels' resources, checked without a GPU.

Every kernel specialization the driver launches is compiled to PTX for sm_90 (numba-cuda's
NVVM) and assembled with ``ptxas -v`` (the nvidia-cuda-nvcc wheel, or a CUDA toolkit):

- float32 kernels do no float64 arithmetic, except the norm machinery's, which the design
  keeps in float64 (kernels/cuda/_resources.py: F64_FUNCTIONS and lines marked "# f64: norms");
- no kernel spills registers;
- static shared memory is what the persistent planner budgets (PERSIST_STATIC_SMEM), and
  within the 48 KB a block gets without opting in;
- the persistent path's H limits the README states are the ones its planner computes for an
  H100 from these registers.

Skipped, with the reason, where NVVM or ptxas is missing.
"""

import json
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CODE = """
import sys
from numba import cuda
try:
    cuda.compile_ptx(lambda a: None, "void(float64[:])", cc=(9, 0))
except Exception as e:
    print("SKIP no NVVM to compile with:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    sys.exit(0)
from bpttlab.kernels.cuda import _resources
if _resources.ptxas_path() is None:
    print("SKIP no ptxas (pip install nvidia-cuda-nvcc, or a CUDA toolkit on PATH)")
    sys.exit(0)
sys.argv.append("--json")
import runpy
runpy.run_module("bpttlab.kernels.cuda._resources", run_name="__main__")
"""


@pytest.fixture(scope="module")
def resources(run_without_simulator):
    return json.loads(run_without_simulator(_CODE, timeout=1800)[-1])


def test_every_kernel_compiled(resources):
    names = {r["kernel"].rsplit(" ", 1)[0] for r in resources["rows"]}
    for fam in ("rnn", "lstm", "gru"):
        for k in ("fwd_step", "bwd_step", "fwd_persist", "bwd_persist"):
            assert f"{fam} {k}" in names
    assert "gemm" in names and len(resources["rows"]) > 30


def test_float32_kernels_compute_in_float32(resources):
    bad = {r["kernel"]: r["f64_other_where"] for r in resources["rows"]
           if r["kernel"].endswith("float32") and r["f64_other"]}
    assert not bad, f"float64 instructions outside the norm machinery: {bad}"


def test_no_register_spills(resources):
    bad = {r["kernel"]: (r["spill_stores"], r["spill_loads"]) for r in resources["rows"]
           if r["spill_stores"] or r["spill_loads"]}
    assert not bad


def test_static_shared_memory_as_budgeted(resources):
    from bpttlab.kernels._config import PERSIST_STATIC_SMEM, SMEM_LIMIT

    for r in resources["rows"]:
        assert r["smem"] <= SMEM_LIMIT, r
        kind = {"fwd_persist": "fwd", "bwd_persist": "bwd"}.get(r["kernel"].split()[-2])
        if kind:
            assert r["smem"] == PERSIST_STATIC_SMEM[kind], r


def _readme_limits():
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"<!-- persistent-h-limits -->\n(.*?)\n\n", text, re.S)
    assert m, "README: the table of persistent-path H limits (after <!-- persistent-h-limits -->) is missing"
    out = {}
    for line in m.group(1).splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        fam = cells[0].split()[0].lower()
        out[f"{fam} float32"], out[f"{fam} float64"] = int(cells[1]), int(cells[2])
    return out


def test_readme_h_limits_are_the_planners(resources):
    assert _readme_limits() == resources["h_limits"]


def test_traffic_table_plans_at_the_persistent_kernels_registers(resources):
    """README's persistent traffic table takes Jb from the H100 plan at PLAN_REGISTERS: the most
    registers any persistent kernel takes now."""
    from bpttlab.kernels.cuda._resources import PLAN_REGISTERS, persistent_regs

    assert max(persistent_regs(resources["rows"]).values()) == PLAN_REGISTERS
