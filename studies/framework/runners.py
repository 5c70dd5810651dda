"""Parallel sweep runners: local processes (the default for full runs) and a Dask cluster.

Both implement the runner interface of :mod:`studies.framework.sweep`: ``map(fn, configs)``
yields ``(config, result)`` pairs as they finish, in any order, and the sweep saves each one
the moment it arrives. An interruption (Ctrl-C, a killed worker) therefore loses only the
configurations in flight; pending ones are cancelled and the next run computes just those.

The process runner takes configurations from ``configs`` only as workers come free (the sweep
claims each one as it is taken, so concurrent runs share a sweep). Its workers die with the run:
each watches its parent and exits when the parent is gone, however the parent died (``kill -9``
included), so no worker (and, once they are gone, no multiprocessing resource tracker, which
lives while any process holds its pipe) is left running under PID 1.
"""

import os
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from multiprocessing import get_context
from multiprocessing.context import SpawnProcess

from .sweep import RUNNERS

# Each worker runs one configuration on one core: BLAS threads on top would oversubscribe the
# cores, which with OpenBLAS's spinning threads costs far more than it gains.
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


@contextmanager
def _environment(values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# How often a worker looks for its parent: the longest a worker outlives a killed run.
PARENT_POLL_SECONDS = 0.5


def _exit_with_parent(parent_pid):
    """Worker initializer: a daemon thread that ends this process when ``parent_pid`` is no longer
    its parent (the parent died and the worker was re-parented, to PID 1 or a subreaper).

    Polling rather than Linux's prctl(PR_SET_PDEATHSIG): that signal fires when the *thread* that
    started the worker exits, and the executor may start workers from whichever thread submits, so
    a worker could be killed while its parent lives on; polling getppid() is portable, too.
    os._exit, not sys.exit: the main thread may be deep in a computation that never returns.
    """

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died before this worker got here
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


_ENV_LOCK = threading.Lock()


class _PrivateCacheProcess(SpawnProcess):
    """A spawned process started with its own empty Numba cache directory (see ProcessRunner).

    The directory has to be in the environment the process starts with: the worker imports the
    study (and with it decorates the kernels, which fixes their cache location) before any
    initializer runs.
    """

    cache_root = None  # the map() call's temporary directory, set by _PrivateCacheContext

    def start(self):
        cache = tempfile.mkdtemp(prefix="worker-", dir=self.cache_root)
        with _ENV_LOCK, _environment({"NUMBA_CACHE_DIR": cache}):
            super().start()


class _PrivateCacheContext(type(get_context("spawn"))):
    """The spawn context, its processes made with private caches under ``cache_root``. (The process
    object is pickled to the child, so its class must be importable: no class made on the fly.)"""

    def __init__(self, cache_root):
        super().__init__()
        self.cache_root = cache_root

    def Process(self, *args, **kwargs):  # noqa: N802 - multiprocessing's name
        p = _PrivateCacheProcess(*args, **kwargs)
        p.cache_root = self.cache_root
        return p


class ProcessRunner:
    """Configurations in parallel on local worker processes (spawned, one BLAS thread each).

    ``private_cache``: each worker compiles the kernels afresh into its own empty Numba cache
    directory, removed when the map ends. Float64 results depend on Numba's cache history (a jitted
    caller compiled while its callees were loaded from the cache compiles differently, with
    fast-math contraction across the inlining boundary, from a caller compiled with its callees),
    so workers sharing a cache can differ from a serial run in the last digits; a private empty
    cache per process is the protocol that reproduces bit for bit (``--private-cache``).
    """

    name = "processes"

    def __init__(self, workers=None, private_cache=False):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers: got {workers!r}, expected a positive integer (or None: one per core)")
        self.workers = workers or os.cpu_count() or 1
        self.private_cache = private_cache

    def map(self, fn, configs):
        configs = iter(configs)
        first = next(configs, None)
        if first is None:
            return
        cache_root = tempfile.mkdtemp(prefix="bpttlab-numba-") if self.private_cache else None
        context = get_context("spawn")
        if cache_root is not None:
            context = _PrivateCacheContext(cache_root)
        # Workers start lazily as work is submitted, so the environment must hold throughout.
        try:
            with _environment(ONE_THREAD):
                pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                           initializer=_exit_with_parent, initargs=(os.getpid(),))
                try:
                    pending = {pool.submit(fn, first): first}
                    # One configuration per free worker, taken as it comes free (see the module docstring).
                    while len(pending) < self.workers and (c := next(configs, None)) is not None:
                        pending[pool.submit(fn, c)] = c
                    while pending:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            yield pending.pop(fut), fut.result()
                            c = next(configs, None)
                            if c is not None:
                                pending[pool.submit(fn, c)] = c
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if cache_root is not None:
                shutil.rmtree(cache_root, ignore_errors=True)


class DaskRunner:
    """Configurations on a Dask distributed cluster, given its scheduler's address.

    The workers must be able to import this repository's ``studies`` package (start them from
    the repository root, or with bpttlab installed in their environment).
    """

    name = "dask"

    def __init__(self, scheduler):
        try:
            from distributed import Client  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise RuntimeError(
                "--dask-scheduler needs the 'distributed' package: pip install 'bpttlab[dask]'"
            ) from None
        self.scheduler = scheduler
        self.client = Client(scheduler)

    def map(self, fn, configs):
        from distributed import as_completed  # noqa: PLC0415

        configs = list(configs)
        if not configs:
            return
        # Keys unique to this call: Dask remembers keys, and a rerun must not meet the futures
        # an interrupted run cancelled.
        token = uuid.uuid4().hex
        futures = self.client.map(fn, configs, key=[f"bpttlab-{c['key']}-{token}" for c in configs], pure=False)
        by_key = {f.key: c for f, c in zip(futures, configs, strict=True)}
        try:
            for fut in as_completed(futures):
                yield by_key[fut.key], fut.result()  # raises the worker's exception, if any
        finally:
            self.client.cancel(futures)

    def close(self):
        self.client.close()


RUNNERS["processes"] = ProcessRunner
