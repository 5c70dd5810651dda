"""Prepared launches for the per-step time loops: the argument list packed once, per step only
the scalars that change are patched before the driver's launch call.

Why: numba-cuda's launch path (``kernel[grid, block, stream, shmem](*args)``) types, wraps and
re-packs every argument on every call: issue 19's review measured about 54 µs of host time per
forward step and 109 µs per backward step, ~0.65 s at T = 1000 over 2 bidirectional layers, with
the GPU idle in between at small H. A time loop launches one kernel T times with the same arrays,
grid and block; only t (and a few flags) change.

How: the first call is an ordinary launch (it compiles, and raises what it always raised). Then
numba-cuda's own ``_Kernel._prepare_args`` lays the arguments out once (device pointers, shapes,
strides, scalars: byte for byte what its launch path builds), cuda.core's ``ParamHolder`` packs
them into the kernelParams array its ``launch`` would pass, and each later call writes the
changing scalars into their slots and calls the driver's ``cuLaunchKernel`` directly
(:func:`_driver_launch`). Wherever that cannot be built (the simulator, the compile-only mode,
host arrays, a cooperative or debug kernel, argument extensions, another numba-cuda layout, a
step whose scalar types differ from the first) it falls back to the ordinary launch, silently:
the fallback is correct, only slower (``StepLaunch.why`` says why). tests/test_cuda_launch.py
checks, with the driver stubbed, that both paths hand the driver identical bytes.
"""

import ctypes

from . import _common as gc


def _driver_launch(func, grid, block, sharedmem, stream, params):
    """The one driver call of the prepared path (numba-cuda's driver wrapper: it raises
    CudaAPIError on failure, as the ordinary path's launch errors do). Tests stub this."""
    from numba.cuda.cudadrv.driver import driver  # noqa: PLC0415 - real GPU only

    driver.cuLaunchKernel(func, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedmem, stream, params,
                          0)


def _dim3(d):
    d = tuple(d) if isinstance(d, tuple | list) else (d,)
    return tuple(int(x) for x in d) + (1,) * (3 - len(d))


class _Prepared:
    """The packed kernelParams of one kernel specialization and argument list."""

    def __init__(self, kernel, griddim, blockdim, args, varying, sharedmem):
        from cuda.bindings import driver as binding  # noqa: PLC0415 - real GPU only
        from cuda.core._kernel_arg_handler import ParamHolder  # noqa: PLC0415
        from numba.cuda.cudadrv import driver as drv  # noqa: PLC0415

        if getattr(kernel, "_launch_config_sensitive", False):
            raise _NotPrepared("the kernel is launch-configuration sensitive")
        if kernel.targetoptions.get("extensions"):
            raise _NotPrepared("the kernel has argument extensions")
        argtypes = tuple(kernel.typeof_pyval(a) for a in args)
        ck = next(iter(kernel.overloads.values())) if kernel.specialized else kernel.overloads.get(argtypes)
        if ck is None:
            raise _NotPrepared("no compiled overload for these argument types")
        if ck.cooperative or ck.debug:
            raise _NotPrepared("cooperative or debug kernels keep the ordinary launch")
        core_stream = drv._to_core_stream(0)  # as _LaunchConfiguration does for stream 0
        self.keep = []  # numba-cuda's per-launch keep-alive functors (the device arrays' views)
        kernelargs = []
        slots = {}
        for i, (ty, v) in enumerate(zip(ck.argument_types, args, strict=True)):
            if type(ty).__name__ == "Array" and not getattr(v, "__cuda_ndarray__", False):
                raise _NotPrepared(f"argument {i} is not a device array (the ordinary launch copies it)")
            start = len(kernelargs)
            ck._prepare_args(ty, v, core_stream, self.keep, kernelargs)
            if i in varying:
                if len(kernelargs) != start + 1:
                    raise _NotPrepared(f"argument {i} varies per step but is not a scalar")
                slots[i] = start
        self.holder = ParamHolder(kernelargs)  # owns the packed values; its ptr is the void** kernelParams
        addrs = (ctypes.c_void_p * len(kernelargs)).from_address(self.holder.ptr)
        self.views = []  # a ctypes view of each varying argument's packed value, in the order of varying
        for i in varying:
            packed = kernelargs[slots[i]]
            if isinstance(packed, ctypes._SimpleCData):
                cls = type(packed)
            elif isinstance(packed, bool):  # numba-cuda passes booleans as Python bools
                # c_bool writes the first byte; cuda.core stores a bool in 1 byte or (treating it as an
                # int) 8, and either way the other bytes of a 0 or 1 are zero: the same value.
                cls = ctypes.c_bool
            else:
                raise _NotPrepared(f"argument {i} packs as {type(packed).__name__}, not a ctypes scalar or bool")
            self.views.append(cls.from_address(addrs[slots[i]]))
        self.types = tuple(type(args[i]) for i in varying)  # the Python types the overload was chosen for
        # numba-cuda's handle of the loaded kernel (a CUkernel, which cuLaunchKernel takes as a CUfunction: cuda.core's
        # own launch does the same where it does not use cuLaunchKernelEx).
        self.func = binding.CUfunction(int(ck._codelibrary.get_cufunc().handle))
        self.stream = binding.CUstream(int(core_stream.handle))
        self.grid, self.block, self.sharedmem = _dim3(griddim), _dim3(blockdim), int(sharedmem)


class _NotPrepared(Exception):
    pass


class StepLaunch:
    """``kernel[griddim, blockdim, 0, sharedmem](*args)`` launched many times, where only the
    arguments at the indices ``varying`` change from call to call: ``launch(v1, v2, ...)``
    passes their values, in the order of ``varying``. Arrays and other arguments are fixed."""

    def __init__(self, kernel, griddim, blockdim, args, varying, sharedmem=0, prepared=True):
        self.kernel, self.griddim, self.blockdim, self.sharedmem = kernel, griddim, blockdim, sharedmem
        self.args = list(args)
        self.varying = tuple(varying)
        self.fast = None  # a _Prepared once built; None before the first launch
        self.why = None  # why the prepared path is not used, once known
        if not prepared:
            self.why = "prepared=False"
        elif gc.SIMULATOR or gc.compile_only():
            self.why = "the simulator or the compile-only mode launches through numba-cuda"

    def _ordinary(self, values):
        for i, v in zip(self.varying, values, strict=True):
            self.args[i] = v
        gc.launch(self.kernel, self.griddim, self.blockdim, self.args, self.sharedmem)

    def __call__(self, *values):
        fast = self.fast
        if fast is None:
            self._ordinary(values)  # compiles, and fails as the ordinary launch fails
            if self.why is None:
                try:
                    self.fast = _Prepared(self.kernel, self.griddim, self.blockdim, self.args, self.varying,
                                          self.sharedmem)
                # _NotPrepared, or another numba-cuda / cuda.core layout than this one reads
                except (_NotPrepared, ImportError, AttributeError, TypeError, ValueError, KeyError) as e:
                    self.why = f"{type(e).__name__}: {e}"
                    self.fast = False
            else:
                self.fast = False
            return
        if fast is False:
            self._ordinary(values)
            return
        if tuple(map(type, values)) != fast.types:  # another type could select another overload: numba-cuda decides
            self._ordinary(values)
            return
        for slot, v in zip(fast.views, values, strict=True):
            slot.value = v
        _driver_launch(fast.func, fast.grid, fast.block, fast.sharedmem, fast.stream, fast.holder.ptr)
