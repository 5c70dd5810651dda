"""Issue 17, the studies' part: clear command-line errors, a result store that survives any bad
file, workers that die with their run, concurrent runs that share the work, private Numba caches,
speed captions that describe only what was measured, and the reproduction check."""

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bpttlab.studies import regenerate
from bpttlab.studies.framework import study as study_module
from bpttlab.studies.framework.reproduce import EXPECTED_ACROSS_CPUS, TIMING, Tol, compare_reports
from bpttlab.studies.framework.runners import ProcessRunner
from bpttlab.studies.framework.store import ResultFileWarning, ResultStore
from bpttlab.studies.framework.sweep import run_sweep
from test_studies import TOY, Counting, same, tasks, toy_compute

TESTS = Path(__file__).resolve().parent

# -- command lines -------------------------------------------------------------------------------


def _error(capsys, argv, study=TOY):
    with pytest.raises(SystemExit) as e:
        study.parse(argv)
    assert e.value.code == 2  # argparse's usage error, not a traceback
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, flag, got, expected", [
    (["--workers", "-1"], "--workers", "'-1'", "expected a positive integer"),
    (["--workers", "0"], "--workers", "'0'", "expected a positive integer"),
    (["--workers", "two"], "--workers", "'two'", "expected a positive integer"),
    (["--seed", "-1"], "--seed", "'-1'", "expected a non-negative integer"),
    (["--seed", "1.5"], "--seed", "'1.5'", "expected a non-negative integer"),
])
def test_bad_numbers_name_the_flag(capsys, argv, flag, got, expected):
    err = _error(capsys, argv)
    assert f"argument {flag}: got {got}, {expected}" in err


@pytest.mark.parametrize("flag", ["--out", "--results"])
def test_an_output_path_that_is_not_a_directory_is_refused(tmp_path, capsys, flag):
    f = tmp_path / "a-file"
    f.write_text("x")
    err = _error(capsys, [flag, str(f)])
    assert f"argument {flag}: got {str(f)!r}, which is a file, not a directory" in err and "expected a writable directory" in err
    err = _error(capsys, [flag, str(f / "below")])
    assert f"argument {flag}: got {str(f / 'below')!r}, which lies under {str(f)!r}, a file" in err


def test_an_unwritable_out_is_refused_before_anything_is_computed(tmp_path, capsys):
    f = tmp_path / "a-file"
    f.write_text("x")
    count = Counting()
    study = dataclasses.replace(TOY, compute=count)
    with pytest.raises(SystemExit):
        study.main(["--out", str(f), "--results", str(tmp_path / "r"), "--no-progress"])
    assert count.calls == [] and not (tmp_path / "r").exists()
    assert "argument --out" in capsys.readouterr().err


def test_process_runner_refuses_a_bad_worker_count():
    for bad in (-1, 0, 1.5, True):
        with pytest.raises(ValueError, match=r"workers: got .*expected a positive integer"):
            ProcessRunner(bad)


def test_unknown_study_names_are_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        regenerate.main(["--only", "nosuch"])
    err = capsys.readouterr().err
    assert "argument --only" in err and "'nosuch'" in err and "gradient_decay" in err


def test_a_failing_study_ends_regenerate_with_a_message_not_a_traceback(monkeypatch, capsys):
    ran = []

    def fake_run(cmd, *args, **kwargs):
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 3)

    monkeypatch.setattr(regenerate.subprocess, "run", fake_run)
    assert regenerate.cli(["--only", "tbptt", "clipping"]) == 1
    assert len(ran) == 1  # stops at the first failure
    err = capsys.readouterr().err
    assert "study tbptt failed (exit status 3" in err and "Traceback" not in err


def test_nox_knows_the_study_names_without_importing_them():
    pytest.importorskip("nox")
    sys.path.insert(0, str(TESTS.parent))
    try:
        import noxfile  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    assert noxfile.study_names() == regenerate.STUDIES


# -- the result store ----------------------------------------------------------------------------


def _store_with_results(tmp_path):
    root = tmp_path / "store"
    ts = tasks()
    full = run_sweep(ts, toy_compute, ResultStore(root), progress=False)
    return root, ts, full


def _recomputed_after(root, ts, full, key):
    store = ResultStore(root)
    count = Counting()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = run_sweep(ts, count, store, progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, ResultFileWarning)]
    assert messages and all(str(store.path(key)) in m for m in messages)
    assert count.calls == [key]
    for (_, r1), (_, r2) in zip(full, again, strict=True):
        same(r1, r2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file is a good result again: no warning
        assert store.load(key, ts[0]) is not None
    return messages


@pytest.mark.parametrize("fault", ["npy", "garbage", "truncated", "no-header", "bad-scalars", "empty"])
def test_a_bad_result_file_is_recomputed_with_a_warning(tmp_path, fault):
    root, ts, full = _store_with_results(tmp_path)
    key = ts[0]["key"]
    path = ResultStore(root).path(key)
    if fault == "npy":  # a valid .npy where the .npz archive belongs: used to crash every rerun
        with open(path, "wb") as f:
            np.save(f, np.arange(3.0))
    elif fault == "garbage":
        path.write_bytes(b"garbage " * 40)
    elif fault == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif fault == "no-header":
        with open(path, "wb") as f:
            np.savez(f, x=np.zeros(3))
    elif fault == "bad-scalars":
        with np.load(path) as z:
            members = {k: z[k] for k in z.files}
        members["__scalars__"] = np.array("[1, 2]")
        with open(path, "wb") as f:
            np.savez(f, **members)
    else:
        path.write_bytes(b"")
    messages = _recomputed_after(root, ts, full, key)
    expected = {"npy": "holds a ndarray, not a result archive", "garbage": "is neither a .npz archive nor a .npy array",
                "empty": "is empty"}
    assert expected.get(fault, "is not a readable result archive") in messages[0]


def test_a_directory_at_a_result_path_is_moved_aside(tmp_path):
    root, ts, full = _store_with_results(tmp_path)
    key = ts[0]["key"]
    path = ResultStore(root).path(key)
    path.unlink()
    path.mkdir()
    (path / "someone's.txt").write_text("kept")
    messages = _recomputed_after(root, ts, full, key)
    assert any("is a directory" in m and "treated as missing" in m for m in messages)
    assert any("moved it aside" in m for m in messages)
    aside = path.with_name(path.name + ".displaced")
    assert (aside / "someone's.txt").read_text() == "kept" and path.is_file()
    assert key in ResultStore(root).keys() and not any("displaced" in k for k in ResultStore(root).keys())


# -- workers die with their run ------------------------------------------------------------------


def sleepy_compute(config):
    """Records the worker's pid, then runs far longer than any test waits."""
    Path(os.environ["BPTTLAB_TEST_PIDS"], str(os.getpid())).write_text("")
    time.sleep(300)
    return toy_compute(config)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def _children(pid):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_workers_and_the_resource_tracker_die_with_a_killed_run(tmp_path, sig):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = ("import sys; from test_study_reliability import sleepy_compute, tasks; "
              "from bpttlab.studies.framework.runners import ProcessRunner; "
              "from bpttlab.studies.framework.store import ResultStore; "
              "from bpttlab.studies.framework.sweep import run_sweep; "
              f"run_sweep(tasks(), sleepy_compute, ResultStore({str(tmp_path / 'r')!r}), ProcessRunner(2), progress=False)")
    env = {**os.environ, "BPTTLAB_TEST_PIDS": str(pids), "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 120  # two spawned workers importing numpy and the test module
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2, "the workers did not start"
        others = set(_children(run.pid)) - set(workers)  # the resource tracker
        os.kill(run.pid, sig)
        run.wait()
        deadline = time.monotonic() + 10
        left = set(workers) | others
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = {p for p in left if _alive(p)}
        assert not left, f"still running after the run was killed: {sorted(left)}"
    finally:
        if run.poll() is None:
            run.kill()
        for p in pids.iterdir():
            if _alive(int(p.name)):
                os.kill(int(p.name), signal.SIGKILL)


# -- concurrent runs share the work ----------------------------------------------------------------

_CONCURRENT = """
import json, os, sys, time
from bpttlab.studies.framework.store import ResultStore
from bpttlab.studies.framework.sweep import run_sweep
from test_studies import toy_compute, tasks

def compute(config):
    with open(sys.argv[2], "a") as f:  # one line per computation, appended atomically
        f.write(config["key"] + "\\n")
    deadline = time.monotonic() + 60  # overlap for sure: both runs are inside their sweeps
    while len(os.listdir(sys.argv[3])) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # long enough for the second run to claim work on a busy machine
    return toy_compute(config)

open(os.path.join(sys.argv[3], str(os.getpid())), "w").close()
stats = {}
results = run_sweep(tasks(), compute, ResultStore(sys.argv[1]), progress=False, stats=stats, poll=0.05)
print(json.dumps({"stats": stats, "means": [r["mean"] for _, r in results]}))
"""


def test_concurrent_runs_into_one_store_share_the_work(tmp_path):
    log = tmp_path / "computed.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    (tmp_path / "started").mkdir()
    argv = [sys.executable, "-c", _CONCURRENT, str(tmp_path / "store"), str(log), str(tmp_path / "started")]
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not log.exists() and time.monotonic() < deadline:  # the first run is computing
        time.sleep(0.05)
    second = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    out = [json.loads(p.communicate(timeout=120)[0]) for p in (first, second)]
    computed = log.read_text().split()
    keys = [t["key"] for t in tasks()]
    assert sorted(computed) == sorted(keys)  # every configuration once, by one run or the other
    assert out[0]["means"] == out[1]["means"] == [r["mean"] for _, r in run_sweep(tasks(), toy_compute, ResultStore(tmp_path / "ref"), progress=False)]
    assert out[0]["stats"]["computed"] + out[1]["stats"]["computed"] == len(keys)
    assert out[1]["stats"]["computed"] > 0  # the second run took its share instead of only waiting


@pytest.mark.parametrize("holder_saves", [True, False], ids=["holder-saves", "holder-gives-up"])
def test_a_configuration_another_run_holds_is_awaited(tmp_path, holder_saves):
    store = ResultStore(tmp_path / "store")
    ts = tasks()
    held = ts[0]
    claim = store.claim(held["key"])
    assert claim is not None and store.claim(held["key"]) is None  # one holder at a time
    count, out = Counting(), {}
    sweep = threading.Thread(target=lambda: out.update(r=run_sweep(ts, count, store, progress=False, poll=0.02)))
    sweep.start()
    deadline = time.monotonic() + 30
    while len(count.calls) < len(ts) - 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    assert sweep.is_alive() and held["key"] not in count.calls  # waiting for the holder
    if holder_saves:
        store.save(held["key"], held, toy_compute(held))
    claim.release()
    sweep.join(30)
    assert not sweep.is_alive()
    assert (held["key"] in count.calls) == (not holder_saves)  # computed only when the holder gave up
    assert len(out["r"]) == len(ts)


# -- private Numba caches ----------------------------------------------------------------------------


def cache_of_worker(config):
    import numba  # noqa: PLC0415

    time.sleep(0.3)  # long enough for both workers to take a configuration
    return {"pid": os.getpid(), "env": os.environ.get("NUMBA_CACHE_DIR", ""), "numba": numba.config.CACHE_DIR}


def test_each_worker_gets_its_own_empty_numba_cache_removed_afterwards(tmp_path):
    configs = [{"key": f"c{i}"} for i in range(4)]
    out = [r for _, r in ProcessRunner(2, private_cache=True).map(cache_of_worker, configs)]
    by_pid = {}
    for r in out:
        assert r["env"] == r["numba"] and r["env"]  # numba read it at import
        by_pid.setdefault(r["pid"], set()).add(r["env"])
    assert all(len(d) == 1 for d in by_pid.values())  # one directory per process...
    dirs = [d for ds in by_pid.values() for d in ds]
    assert len(set(dirs)) == len(by_pid)  # ...and none shared
    assert not any(Path(d).exists() for d in dirs)  # removed when the map ended
    plain = [r for _, r in ProcessRunner(2).map(cache_of_worker, configs[:1])]
    assert plain[0]["env"] == os.environ.get("NUMBA_CACHE_DIR", "")


def test_private_cache_reexecutes_the_study_with_an_empty_cache(monkeypatch, tmp_path):
    calls = []
    monkeypatch.delenv(study_module.PRIVATE_CACHE_ENV, raising=False)
    monkeypatch.setattr(os, "execve", lambda exe, argv, env: calls.append((exe, argv, env)))
    argv = ["--private-cache", "--out", str(tmp_path / "o"), "--results", str(tmp_path / "r"), "--no-progress"]
    TOY.main(argv)
    (exe, args, env), = calls
    assert args == [sys.executable, "-m", "bpttlab.studies.toy", *argv]
    cache = Path(env["NUMBA_CACHE_DIR"])
    assert env[study_module.PRIVATE_CACHE_ENV] == str(cache) and cache.is_dir() and not any(cache.iterdir())
    # The new process (marked by the variable) runs the study and removes its cache at the end.
    monkeypatch.setenv(study_module.PRIVATE_CACHE_ENV, str(cache))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    assert TOY.main(argv) == 0 and not cache.exists() and len(calls) == 1
    # A new temporary name every run must not make the provenance of identical runs differ.
    recorded = json.loads((tmp_path / "o" / "provenance.json").read_text())["environment"]["NUMBA_CACHE_DIR"]
    assert recorded.startswith("private: an empty temporary directory")
    opts = TOY.parse(["--private-cache", "--runner", "processes"])
    assert study_module.make_runner(opts).private_cache


def test_regenerate_runs_every_study_with_a_private_cache(monkeypatch):
    runs = []
    monkeypatch.setattr(regenerate.subprocess, "run",
                        lambda cmd, **kw: runs.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    regenerate.run_study("clipping", argparse.Namespace(runner="processes", fresh=False, no_progress=True))
    assert "--private-cache" in runs[0] and "--same-code" in runs[0]


# -- the speed report describes what was measured ----------------------------------------------------


def _speed_markdown(tmp_path, impls):
    from bpttlab.studies.framework.report import ReportWriter  # noqa: PLC0415
    from bpttlab.studies.speed import grid  # noqa: PLC0415

    opts = argparse.Namespace(quick=True, mode="quick", backend="cpu")
    results = []
    for c in grid.configs(opts):
        rows = [(cell, mode, impl) for cell in grid.CELLS for mode in grid.MODES for impl in impls]
        results.append((c, {"cell": np.array([r[0] for r in rows]), "mode": np.array([r[1] for r in rows]),
                            "impl": np.array([r[2] for r in rows]),
                            "seconds": np.linspace(1e-3, 2e-3, len(rows)), "sgemm_gflops": 100.0}))
    w = ReportWriter(tmp_path / "-".join(impls), "speed")
    grid.report(results, opts, w)
    return w.markdown()


def test_speed_report_without_pytorch_says_so_and_never_describes_it(tmp_path):
    md = _speed_markdown(tmp_path, ["ours"])
    assert "PyTorch was not measured in this run" in md
    for phrase in ("dashed", "PyTorch's ratio", "torch.set_num_threads", "| torch |"):
        assert phrase not in md
    with_torch = _speed_markdown(tmp_path, ["ours", "torch"])
    assert "PyTorch's (dashed)" in with_torch and "PyTorch's ratio" in with_torch
    assert "not measured" not in with_torch


# -- the reproduction check ----------------------------------------------------------------------------


def _report(directory, tables, cpu="znver4"):
    directory.mkdir(parents=True)
    for name, df in tables.items():
        df.to_csv(directory / f"{name}.csv", index=False, lineterminator="\n")
    (directory / "provenance.json").write_text(json.dumps({"cpu": {"name": "AMD EPYC", "llvm_cpu_name": cpu},
                                                           "packages": {"numba": "0.61.0"}}))


TABLES = {"rates": pd.DataFrame({"cell": ["lstm", "gru"], "rate": [-0.6588853949022875, 0.1], "ms": [3.0, 4.0]}),
          "fits": pd.DataFrame({"g": [0.5, 1.0], "lambda": [-1.0, np.nan]})}
DECLARED = {"rates": {"ms": TIMING}, "*": {"*": Tol(other_cpu_rtol=1e-9)}}


def _altered(changes):
    tables = {k: v.copy() for k, v in TABLES.items()}
    for (table, column, row), value in changes.items():
        tables[table].loc[row, column] = value
    return tables


def test_identical_reports_reproduce(tmp_path):
    _report(tmp_path / "a", TABLES)
    _report(tmp_path / "b", TABLES)
    c = compare_reports(tmp_path / "a", tmp_path / "b", "toy", DECLARED)
    assert c.tables == 2 and c.differences == [] and "every number reproduces" in c.text()


def test_an_altered_number_is_an_unexpected_difference(tmp_path, capsys):
    _report(tmp_path / "a" / "gradient_decay", TABLES)
    _report(tmp_path / "b" / "gradient_decay", _altered({("rates", "rate", 0): -0.6588853949022876}))
    c = compare_reports(tmp_path / "a" / "gradient_decay", tmp_path / "b" / "gradient_decay", "toy", DECLARED)
    (d,) = c.unexpected
    assert (d.table, d.column) == ("rates", "rate")
    assert "1 of 2 cells differ (tolerance exact)" in d.what and "-0.6588853949022875 -> -0.6588853949022876" in d.what
    # Through the command line, on two report trees: exit status 1 and the same finding printed.
    assert regenerate.main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--only", "gradient_decay"]) == 1
    out = capsys.readouterr().out
    assert "UNEXPECTED: rates [rate]" in out and "reproduction: UNEXPECTED differences in gradient_decay" in out


def test_last_digit_differences_on_another_cpu_are_expected(tmp_path):
    _report(tmp_path / "a", TABLES, cpu="znver4")
    _report(tmp_path / "b", _altered({("rates", "rate", 0): -0.6588853949022876}), cpu="skylake-avx512")
    c = compare_reports(tmp_path / "a", tmp_path / "b", "toy", DECLARED)
    assert c.unexpected == [] and [d.status for d in c.differences] == ["expected"]
    assert "CPU znver4 (AMD EPYC) against skylake-avx512" in c.text() and EXPECTED_ACROSS_CPUS in c.text()
    # ...but not a difference beyond the other-CPU tolerance.
    _report(tmp_path / "c", _altered({("rates", "rate", 0): -0.65}), cpu="skylake-avx512")
    assert compare_reports(tmp_path / "a", tmp_path / "c", "toy", DECLARED).unexpected
    # The same host compiled for another target (NUMBA_CPU_NAME) is another machine too; the same
    # CPU and compilers is not, and there a last-digit change is unexpected.
    prov = json.loads((tmp_path / "b" / "provenance.json").read_text())
    prov["cpu"].update(llvm_cpu_name="znver4", NUMBA_CPU_NAME="generic")
    (tmp_path / "b" / "provenance.json").write_text(json.dumps(prov))
    assert compare_reports(tmp_path / "a", tmp_path / "b", "toy", DECLARED).machines == "CPU znver4 (AMD EPYC) against generic (AMD EPYC)"
    del prov["cpu"]["NUMBA_CPU_NAME"]
    (tmp_path / "b" / "provenance.json").write_text(json.dumps(prov))
    assert compare_reports(tmp_path / "a", tmp_path / "b", "toy", DECLARED).unexpected


def test_timings_are_reported_and_structure_changes_are_differences(tmp_path):
    _report(tmp_path / "a", TABLES)
    _report(tmp_path / "b", _altered({("rates", "ms", 1): 5.0}))
    c = compare_reports(tmp_path / "a", tmp_path / "b", "toy", DECLARED)
    assert c.unexpected == [] and c.differences[0].status == "timing" and "25%" in c.differences[0].what
    _report(tmp_path / "c", {"rates": TABLES["rates"], "fits": TABLES["fits"].iloc[:1]})
    _report(tmp_path / "d", {"rates": TABLES["rates"].rename(columns={"rate": "slope"})})
    _report(tmp_path / "e", _altered({("fits", "lambda", 1): 0.0, ("rates", "cell", 0): "rnn"}))
    assert "fits: 2 rows against 1" in compare_reports(tmp_path / "a", tmp_path / "c", "toy", DECLARED).text()
    text = compare_reports(tmp_path / "a", tmp_path / "d", "toy", DECLARED).text()
    assert "only in the first report" in text and "only in the first: ['rate']" in text
    text = compare_reports(tmp_path / "a", tmp_path / "e", "toy", DECLARED).text()
    assert "fits [lambda]" in text and "rates [cell]" in text and "'lstm' -> 'rnn'" in text


def test_check_regenerates_into_scratch_and_compares_with_the_committed_reports(tmp_path, monkeypatch, capsys):
    committed = TESTS.parent / "reports" / "tbptt"
    if not committed.is_dir():
        pytest.skip("no committed reports here")
    monkeypatch.chdir(tmp_path)  # regenerate works relative to the working directory
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "tbptt").symlink_to(committed)
    runs = []

    def fake_study(name, opts, extra=()):  # "regenerates" by copying, altering one timing
        runs.append((name, list(extra)))
        out = Path(extra[extra.index("--out") + 1])
        out.mkdir(parents=True)
        for f in committed.iterdir():
            if f.is_file():
                (out / f.name).write_bytes(f.read_bytes())
        cost = pd.read_csv(out / "cost.csv")
        cost.loc[0, "ms_per_update"] *= 2
        cost.to_csv(out / "cost.csv", index=False)

    monkeypatch.setattr(regenerate, "run_study", fake_study)
    assert regenerate.main(["--check", "--only", "tbptt"]) == 0
    (name, extra), = runs
    assert name == "tbptt" and extra == ["--out", str(Path("build/reproduce/tbptt")),
                                         "--results", str(Path("build/reproduce/results/tbptt"))]
    out = capsys.readouterr().out
    assert "timing: cost [ms_per_update]" in out and "every difference is expected" in out


def test_the_committed_reports_against_an_altered_copy(tmp_path, capsys):
    committed = TESTS.parent / "reports" / "gradient_decay"
    if not committed.is_dir():
        pytest.skip("no committed reports here")
    copy = tmp_path / "gradient_decay"
    copy.mkdir()
    for f in committed.glob("*.csv"):
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "provenance.json").write_bytes((committed / "provenance.json").read_bytes())
    assert regenerate.main(["--compare", str(committed), str(copy)]) == 0
    df = pd.read_csv(copy / "ensembles.csv")
    df.loc[2, "lambda1_mean"] *= 1.5
    df.to_csv(copy / "ensembles.csv", index=False)
    assert regenerate.main(["--compare", str(committed), str(copy)]) == 1
    out = capsys.readouterr().out
    assert "UNEXPECTED: ensembles [lambda1_mean]: 1 of" in out
