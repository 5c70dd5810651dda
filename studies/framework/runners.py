"""Parallel sweep runners: local processes (the default for full runs) and a Dask cluster.

Both implement the runner interface of :mod:`studies.framework.sweep`: ``map(fn, configs)``
yields ``(config, result)`` pairs as they finish, in any order, and the sweep saves each one
the moment it arrives. An interruption (Ctrl-C, a killed worker) therefore loses only the
configurations in flight; pending ones are cancelled and the next run computes just those.
"""

import os
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from multiprocessing import get_context

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


class ProcessRunner:
    """Configurations in parallel on local worker processes (spawned, one BLAS thread each)."""

    name = "processes"

    def __init__(self, workers=None):
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn, configs):
        configs = list(configs)
        if not configs:
            return
        # Workers start lazily as work is submitted, so the environment must hold throughout.
        with _environment(ONE_THREAD):
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(configs)), mp_context=get_context("spawn"))
            try:
                pending = {pool.submit(fn, c): c for c in configs}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield pending.pop(fut), fut.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)


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
