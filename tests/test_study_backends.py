"""Every study on the CUDA backend (in Numba's simulator, at --tiny sizes) and what provenance
records about the backend and the CPU."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from bpttlab.studies.framework import provenance
from test_studies import TOY

HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None


def test_backend_reaches_configurations_only_when_not_cpu():
    cpu, cuda = TOY.parse([]), TOY.parse(["--backend", "cuda", "--tiny"])
    assert cpu.backend == "cpu" and cuda.backend == "cuda"
    assert cuda.quick and cuda.mode == "tiny" and cuda.results.name == "tiny-seed0-cuda"
    # CPU configurations (so their seeds and stored results) are what they were before backends existed.
    assert all("backend" not in c for c in TOY.tasks(cpu))
    assert all(c["backend"] == "cuda" for c in TOY.tasks(cuda))
    assert [c["seed"] for c in TOY.tasks(cpu)] == [c["seed"] for c in TOY.tasks(cuda)]


def test_provenance_names_the_backend_and_the_cpu_as_llvm_sees_it(monkeypatch):
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    p = provenance(["x"], {}, backend="cuda")
    assert p["backend"] == "cuda"
    assert p["cpu"]["llvm_cpu_name"] and "+" in p["cpu"]["llvm_cpu_features"]
    assert p["cpu"]["NUMBA_CPU_NAME"] == "generic" and "NUMBA_CPU_FEATURES" not in p["cpu"]
    assert provenance(["x"], {})["backend"] == "cpu"


@pytest.mark.skipif(not HAVE_NUMBA_CUDA, reason="needs numba-cuda (its simulator)")
def test_tiny_study_runs_on_the_cuda_backend_in_the_simulator(tmp_path):
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    r = subprocess.run([sys.executable, "-m", "bpttlab.studies.tbptt", "--tiny", "--backend", "cuda", "--no-progress",
                        "--out", str(tmp_path / "out"), "--results", str(tmp_path / "res")],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["backend"] == "cuda" and prov["options"]["mode"] == "tiny"
    assert prov["cpu"]["llvm_cpu_name"]
    assert (tmp_path / "out" / "bias_rates.csv").is_file()
    assert prov["options"]["backend"] == "cuda"
