"""Parallel sweep runners: local processes and a Dask cluster started by the tests.

Both must give the same numbers as the serial runner, save each result as it finishes, and
leave a sweep interrupted by a failing or killed worker resumable without recomputation.
"""

import os

import numpy as np
import pytest
from bpttlab.studies.framework.runners import DaskRunner, ProcessRunner
from bpttlab.studies.framework.store import ResultStore
from bpttlab.studies.framework.study import make_runner
from bpttlab.studies.framework.sweep import SerialRunner, run_sweep
from test_studies import TOY, same, tasks, toy_compute


class Boom(Exception):
    pass


def failing_compute(config):
    if config["a"] == 2:
        raise Boom(config["key"])
    return toy_compute(config)


def dying_compute(config):
    if config["a"] == 2:
        os._exit(3)  # a worker killed mid-sweep
    return toy_compute(config)


def _assert_same_results(a, b):
    for (c1, r1), (c2, r2) in zip(a, b, strict=True):
        assert c1 == c2
        same(r1, r2)


def test_process_runner_gives_the_serial_numbers(tmp_path):
    ts = tasks()
    serial = run_sweep(ts, toy_compute, ResultStore(tmp_path / "s"), SerialRunner(), progress=False)
    stats = {}
    parallel = run_sweep(ts, toy_compute, ResultStore(tmp_path / "p"), ProcessRunner(2), progress=False, stats=stats)
    assert stats["computed"] == len(ts)
    _assert_same_results(serial, parallel)


@pytest.mark.parametrize("compute", [failing_compute, dying_compute], ids=["raises", "killed"])
def test_process_sweep_interrupted_by_a_worker_resumes(tmp_path, compute):
    ts = tasks()
    store = ResultStore(tmp_path / "run")
    with pytest.raises(Exception):  # noqa: B017 - Boom from the worker, or BrokenProcessPool when it dies
        run_sweep(ts, compute, store, ProcessRunner(2), progress=False)
    done = set(store.keys())
    assert done <= {t["key"] for t in ts if t["a"] != 2}  # only finished configurations were saved
    stats = {}
    resumed = run_sweep(ts, toy_compute, store, ProcessRunner(2), progress=False, stats=stats)
    assert stats["computed"] == len(ts) - len(done) and stats["loaded"] == len(done)
    _assert_same_results(run_sweep(ts, toy_compute, ResultStore(tmp_path / "ref"), progress=False), resumed)


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster
    cluster.close()


def test_dask_runner_on_a_local_cluster(tmp_path, dask_cluster):
    ts = tasks()
    serial = run_sweep(ts, toy_compute, ResultStore(tmp_path / "s"), progress=False)
    runner = DaskRunner(dask_cluster.scheduler_address)
    try:
        store = ResultStore(tmp_path / "d")
        with pytest.raises(Boom):
            run_sweep(ts, failing_compute, store, runner, progress=False)
        stats = {}
        resumed = run_sweep(ts, toy_compute, store, runner, progress=False, stats=stats)
    finally:
        runner.close()
    assert stats["loaded"] == len(store.keys()) - stats["computed"]
    _assert_same_results(serial, resumed)


def test_study_command_line_reaches_the_dask_cluster(tmp_path, dask_cluster):
    opts = TOY.parse(["--dask-scheduler", dask_cluster.scheduler_address, "--results", str(tmp_path / "r"),
                      "--out", str(tmp_path / "o"), "--no-progress"])
    assert isinstance(make_runner(opts), DaskRunner)
    results = TOY.run(opts)
    assert len(results) == len(tasks()) and np.isfinite(results[0][1]["mean"])
    assert isinstance(make_runner(TOY.parse(["--runner", "processes", "--workers", "2"])), ProcessRunner)
