"""The CUDA backend's per-step time loops with the driver stubbed: what each launch hands the
driver, and the host time a launch costs, without a GPU.

Only what needs a driver is faked: device arrays are numba-cuda DeviceNDArrays over made-up
device pointers, the loaded module (get_cufunc, bind) is a fake handle, the device asks no
driver for its compute capability (9.0), and stream 0 is a stream of handle 0. The kernels
compile for real (NVVM, to PTX). The ordinary path's launch is stubbed at cuda.core's
``launch`` as numba-cuda's dispatcher calls it, and its arguments are packed there with
cuda.core's own ParamHolder, as that launch would; the prepared path's at
``_launch._driver_launch`` (its cuLaunchKernel call). Each record: the bytes of every
kernel parameter, grid, block, shared memory, cooperative, stream and function handle.

Needs numba-cuda with NVVM and NUMBA_ENABLE_CUDASIM unset; run in a fresh process (the
stubs stay for the process's life):

    python -m bench.launch_stub            # check both paths agree, then time them
"""

import contextlib
import ctypes
import statistics
import sys
import time

import numpy as np

FAKE_FUNC = 0xF00D000
_ADDR = [0x7F0000000000]


def _setup():
    from bpttlab.kernels import _config  # noqa: PLC0415
    from bpttlab.kernels.cuda import _common  # noqa: PLC0415

    # Nothing compiled against the fakes goes to (or comes from) the disk cache: its key asks the driver.
    _config.CUDA_CACHE = _common.CUDA_CACHE = False
    import numba.cuda.dispatcher as disp  # noqa: PLC0415
    from numba.cuda import codegen  # noqa: PLC0415
    from numba.cuda.cudadrv import driver as drv  # noqa: PLC0415

    class Device:
        compute_capability = (9, 0)
        id = 0

    class Kernel:
        handle = FAKE_FUNC

    class Func:
        kernel = Kernel()
        handle = FAKE_FUNC
        module = None
        name = "fake"

    class Stream:
        handle = 0

    disp.get_current_device = Device
    codegen.CUDACodeLibrary._ensure_cc = lambda self, cc: cc or Device.compute_capability
    codegen.CUDACodeLibrary.get_cufunc = lambda self: Func()
    disp._Kernel.bind = lambda self: None
    drv._to_core_stream = lambda stream: Stream()
    return disp


def fake_array(shape, dtype):
    """A DeviceNDArray of the shape over a made-up, distinct device pointer (nothing allocated)."""
    from numba.cuda.cudadrv.devicearray import DeviceNDArray  # noqa: PLC0415

    class Mem:
        def __init__(self, addr):
            self.device_ctypes_pointer = ctypes.c_void_p(addr)

    dt = np.dtype(dtype)
    strides = tuple(int(s) for s in np.empty(shape, dt).strides)
    _ADDR[0] += 1 << 20
    return DeviceNDArray(shape, strides, dt, gpu_data=Mem(_ADDR[0]))


def _size(a):
    if isinstance(a, ctypes._SimpleCData):
        return ctypes.sizeof(a)
    if isinstance(a, bool):
        return 1  # a boolean kernel parameter is one byte
    if isinstance(a, int | float):
        return 8  # cuda.core packs a Python int as intptr_t, a float as double
    raise TypeError(f"unexpected packed argument {a!r}")


def _read(ptr, sizes):
    addrs = (ctypes.c_void_p * len(sizes)).from_address(ptr)
    return tuple(ctypes.string_at(addrs[i], n) for i, n in enumerate(sizes))


class Recorder:
    """Installs the stubs; ``records`` gets one tuple per launch (or only counts, record=False)."""

    def __init__(self):
        from bpttlab.kernels.cuda import _launch  # noqa: PLC0415
        from cuda.core._kernel_arg_handler import ParamHolder  # noqa: PLC0415

        disp = _setup()
        self.records = []
        self.paths = []  # which stub each launch reached: "numba-cuda" or "prepared"
        self.sizes = None  # parameter sizes, from the ordinary path's packed list
        self.record = True

        def core_launch(stream, config, kernel, *args):
            if not self.record:
                return
            self.paths.append("numba-cuda")
            self.sizes = [_size(a) for a in args]
            holder = ParamHolder(args)  # as cuda.core's launch packs them
            self.records.append((_read(holder.ptr, self.sizes), tuple(config.grid), tuple(config.block),
                                 config.shmem_size, bool(config.is_cooperative), int(stream.handle),
                                 int(kernel.handle)))

        def driver_launch(func, grid, block, sharedmem, stream, params):
            if not self.record:
                return
            self.paths.append("prepared")
            self.records.append((_read(params, self.sizes), tuple(grid), tuple(block), sharedmem, False,
                                 int(stream), int(func)))

        disp.launch = core_launch
        _launch._driver_launch = driver_launch


def loop_inputs(family="lstm", T=8, B=4, H=8, dtype=np.float64):
    """Fake device arrays for layer.forward_steps and layer.backward_steps (their argument tuples)."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[family]
    f = fake_array
    fwd = (f((T, B, G * H), dtype), f((T + 1, B, H), dtype), f((T + 1, B, H), dtype), f((T, B, G * H), dtype),
           f((T, B, H), dtype), f((H * G * H,), dtype), f((G * H,), dtype), f((3, H), dtype))
    hs, cs, acts, aux, peep = fwd[1], fwd[2], fwd[3], fwd[4], fwd[7]
    bwd = (hs, cs, acts, aux, f((G * H * H,), dtype), f((T, B, G * H), dtype), f((T, B, G * H), dtype),
           f((B, H), dtype), f((B, H), dtype), f((B, 3, H), dtype), peep, f((T, B, 2 * H), dtype))
    norms = (f((T,), np.float64), f((T, 64, 3), np.float64), f((T,), np.float64), f((T, 64, 3), np.float64),
             f((T, 64, 3), np.float64))
    return fwd, bwd, norms


def run_loops(rec, prepared, inputs, family="lstm", variant=0, reverse=False, training=True, nph=1, renorm=False,
              cho=False, which=("fwd", "bwd")):
    """Run the forward and backward per-step loops once over inputs (loop_inputs's); returns
    {"fwd": records, "fwd_paths": the stub each launch reached, "bwd": ..., "bwd_paths": ...}."""
    from bpttlab.kernels.cuda import layer  # noqa: PLC0415

    fwd, bwd, norms = inputs
    T, H = fwd[0].shape[0], fwd[1].shape[2]
    out = {}
    for w in which:
        rec.records, rec.paths = [], []
        if w == "fwd":
            layer.forward_steps(family, fwd, variant, reverse, training, nph, prepared=prepared)
        else:
            # Steps [1, T-1] with dy injected at [2, T-1] and norms recorded at [1, T-2]: the flags change.
            layer.backward_steps(family, bwd, (0, H), norms, (2, T - 1), (1, T - 2), 1, T - 1, reverse, variant,
                                 renorm, cho, True, prepared=prepared)
        out[w] = rec.records
        out[w + "_paths"] = rec.paths
    return out


def loop_call(which, prepared, T=200, family="lstm", B=4, H=8):
    """A callable running one per-step loop of T launches (which: "fwd" or "bwd") over fake inputs."""
    from bpttlab.kernels.cuda import layer  # noqa: PLC0415

    fwd, bwd, norms = loop_inputs(family, T, B, H)
    if which == "fwd":
        return lambda: layer.forward_steps(family, fwd, 0, False, True, 1, prepared=prepared)
    return lambda: layer.backward_steps(family, bwd, (0, H), norms, (0, T - 1), (0, T - 1), 0, T - 1, False, 0, False,
                                        False, False, prepared=prepared)


def time_per_step(rec, prepared, which, T=200, rounds=7):
    """Median µs of host time per launch of the per-step loop (driver stubbed, nothing recorded)."""
    fn = loop_call(which, prepared, T)
    rec.record = False
    times = []
    try:
        for _ in range(rounds + 1):  # the first round compiles and warms up
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) / T * 1e6)
    finally:
        rec.record = True
    return statistics.median(times[1:])


def main():
    import warnings  # noqa: PLC0415

    warnings.simplefilter("ignore")  # numba-cuda's low-occupancy warning at these tiny grids
    rec = Recorder()
    inputs = loop_inputs()
    a = run_loops(rec, False, inputs)
    b = run_loops(rec, True, inputs)
    for w in ("fwd", "bwd"):
        same = a[w] == b[w] and b[w + "_paths"][1:] == ["prepared"] * (len(b[w]) - 1)
        print(f"{w}: {len(a[w])} launches, prepared identical to numba-cuda's: {same}")
        if not same:
            sys.exit(1)
    for w in ("fwd", "bwd"):
        old = time_per_step(rec, False, w)
        new = time_per_step(rec, True, w)
        print(f"{w}_step host µs per launch (median of 7 rounds of T=200): numba-cuda {old:.1f}, prepared {new:.1f}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
