"""The prepared launches of the per-step loops (kernels/cuda/_launch.py), checked without a GPU.

With the driver stubbed (bench/launch_stub.py: fake device pointers and a fake loaded kernel;
the kernels compile for real), each per-step loop runs once through numba-cuda's own launch
path and once through the prepared one; every launch must hand the driver the same bytes for
every kernel parameter (pointers, shapes, strides, scalars), the same grid, block, shared
memory, stream and kernel, and all but the first prepared launch must bypass numba-cuda. A
prepared launch told that t does not vary must be caught by the same comparison. (Both runs
go through layer.forward_steps / backward_steps, so which value each step passes is checked
by test_cuda.py's simulator runs against the CPU, not here.)

In the simulator (the rest of the suite) the loops launch through numba-cuda: test_cuda.py's
float64 equality with the CPU covers them.
"""

import json

from bpttlab.kernels.cuda import _common as gc
from bpttlab.kernels.cuda._launch import StepLaunch

_CODE = """
import json, sys, warnings
warnings.simplefilter("ignore")  # numba-cuda's low-occupancy warning at these tiny grids
from numba import cuda
try:
    cuda.compile_ptx(lambda a: None, "void(float64[:])", cc=(9, 0))
except Exception as e:
    print("SKIP no NVVM to compile with:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    sys.exit(0)
from bench import launch_stub as ls
from bpttlab.kernels.cells import GRU_RESET_BEFORE
from bpttlab.kernels.cuda import _launch

rec = ls.Recorder()
out = {}
configs = {
    "lstm": dict(family="lstm"),
    "lstm reverse inference log_norms": dict(family="lstm", reverse=True, training=False, renorm=True),
    "gru_cho": dict(family="gru", variant=GRU_RESET_BEFORE, nph=2, cho=True),
}
for name, kw in configs.items():
    inputs = ls.loop_inputs(kw["family"], T=6, B=3, H=5)
    a = ls.run_loops(rec, False, inputs, **kw)
    b = ls.run_loops(rec, True, inputs, **kw)
    for w in ("fwd", "bwd"):
        out[name + " " + w] = dict(n=len(a[w]), same=a[w] == b[w], old_paths=a[w + "_paths"],
                                   new_paths=b[w + "_paths"], n_params=len(a[w][0][0]))

# Sabotage: a prepared launch that is not told t varies must differ from numba-cuda's.
real = _launch.StepLaunch
def stale_t(kernel, griddim, blockdim, args, varying, sharedmem=0, prepared=True):
    return real(kernel, griddim, blockdim, args, tuple(v for v in varying if v != 9), sharedmem, prepared)
def drop_t(launch):
    def call(*values):
        return launch(*(values[:1] + values[2:]))
    return call
from bpttlab.kernels.cuda import layer
def sabotaged(kernel, griddim, blockdim, args, varying, sharedmem=0, prepared=True):
    return drop_t(stale_t(kernel, griddim, blockdim, args, varying, sharedmem, prepared))
inputs = ls.loop_inputs("lstm", T=6, B=3, H=5)
a = ls.run_loops(rec, False, inputs, which=("fwd",))
layer.StepLaunch = sabotaged
b = ls.run_loops(rec, True, inputs, which=("fwd",))
out["sabotaged"] = dict(same=a["fwd"] == b["fwd"], new_paths=b["fwd_paths"])
print(json.dumps(out))
"""


def test_prepared_launch_hands_the_driver_what_numba_cuda_does(run_without_simulator):
    res = json.loads(run_without_simulator(_CODE, timeout=1800)[-1])
    for name, r in res.items():
        if name == "sabotaged":
            continue
        assert r["n"] >= 5 and r["n_params"] > 50, (name, r["n"], r["n_params"])
        assert r["old_paths"] == ["numba-cuda"] * r["n"], name
        # The first launch is ordinary (it compiles); every later one goes straight to the driver.
        assert r["new_paths"] == ["numba-cuda"] + ["prepared"] * (r["n"] - 1), (name, r["new_paths"])
        assert r["same"], f"{name}: the prepared launches' parameters differ from numba-cuda's"
    assert "gru_cho fwd" in res and res["gru_cho fwd"]["n"] == 2 * 6  # two phases per step
    sab = res["sabotaged"]
    assert "prepared" in sab["new_paths"] and not sab["same"], "a stale t went unnoticed"


def test_no_prepared_path_in_the_simulator():
    if not gc.SIMULATOR:
        return  # BPTTLAB_REAL_GPU=1: the test above and tests/test_cuda.py cover the prepared path
    launch = StepLaunch(object(), 1, 1, (0,), (0,))
    assert launch.why and "simulator" in launch.why
    assert StepLaunch(object(), 1, 1, (0,), (0,), prepared=False).why == "prepared=False"
