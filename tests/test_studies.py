"""The study framework: result store, sweeps (resume, determinism), seeding, fitting, report
writing (byte-stable figures and tables), provenance and the command line."""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from bpttlab.studies.common import (
    ReportWriter,
    ResultStore,
    Study,
    config_rng,
    derive_seed,
    figure,
    fit_rate,
    provenance,
    relink,
    run_sweep,
    save_figure,
    with_seeds,
)
from bpttlab.studies.framework.locations import SOURCE_ROOT as REPO_ROOT
from bpttlab.studies.framework.study import code_fingerprint

# -- a toy study: module-level so that it is what a parallel runner would pickle ----------------


def toy_configs(opts):
    return [{"key": f"a{a}-b{b}", "a": a, "b": float(b)} for a in range(3) for b in (0.5, 2.0)]


def toy_compute(config):
    rng = config_rng(config)
    return {"x": config["b"] * rng.standard_normal(7), "mean": float(rng.random()) + config["a"],
            "n": config["a"], "label": config["key"], "none": None, "flag": config["a"] > 0}


def toy_report(results, opts, w):
    df = pd.DataFrame([{"key": c["key"], "mean": r["mean"], "x0": r["x"][0]} for c, r in results])
    w.text("A toy study.")
    fig, ax = figure(1, 1, figsize=(4, 3))
    ax.plot(df["mean"], df["x0"], "o-", label="points")
    ax.set_title("toy")
    ax.legend()
    w.figure(fig, "scatter", "A scatter", "What it shows.")
    w.table(df, "values", "Values", "The numbers.")


TOY = Study(name="toy", title="Toy study", version=3, configs=toy_configs, compute=toy_compute, report=toy_report)


class Interrupt(Exception):
    pass


class Counting:
    """compute() that counts its calls and raises after ``fail_after`` of them."""

    def __init__(self, fail_after=None):
        self.calls, self.fail_after = [], fail_after

    def __call__(self, config):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise Interrupt(config["key"])
        self.calls.append(config["key"])
        return toy_compute(config)


def tasks(seed=0):
    return with_seeds(toy_configs(None), seed)


def same(r1, r2):
    assert r1.keys() == r2.keys()
    for k in r1:
        if isinstance(r1[k], np.ndarray):
            assert r1[k].dtype == r2[k].dtype and np.array_equal(r1[k], r2[k]), k
        else:
            assert r1[k] == r2[k] and type(r1[k]) is type(r2[k]), k


# -- seeding and determinism -------------------------------------------------------------------


def test_derived_seeds_depend_on_seed_and_key_only():
    s = derive_seed(0, "lstm-g1")
    assert s == derive_seed(0, "lstm-g1")
    assert 0 <= s < 2**63
    assert len({s, derive_seed(1, "lstm-g1"), derive_seed(0, "lstm-g2")}) == 3
    # The value is part of the result files' headers: pin it so a change is noticed.
    assert derive_seed(0, "a0-b0.5") == with_seeds([{"key": "a0-b0.5"}], 0)[0]["seed"]
    with pytest.raises(ValueError, match="not unique"):
        with_seeds([{"key": "k"}, {"key": "k"}], 0)


def test_same_seed_same_numbers_in_any_order(tmp_path):
    a = run_sweep(tasks(), toy_compute, ResultStore(tmp_path / "a"), progress=False)
    b = run_sweep(tasks()[::-1], toy_compute, ResultStore(tmp_path / "b"), progress=False)[::-1]
    c = run_sweep(tasks(seed=1), toy_compute, ResultStore(tmp_path / "c"), progress=False)
    for (ca, ra), (cb, rb) in zip(a, b, strict=True):
        assert ca == cb
        same(ra, rb)
    assert not np.array_equal(a[0][1]["x"], c[0][1]["x"])
    assert a[1][1]["x"][0] == pytest.approx(2.0 * config_rng(tasks()[1]).standard_normal(7)[0])


# -- the store ----------------------------------------------------------------------------------


def test_store_round_trip_and_stale_headers(tmp_path):
    store = ResultStore(tmp_path, version=2)
    cfg = {"key": "k1", "g": 1.1, "seed": 5}
    res = {"curve": np.arange(4.0), "ints": np.arange(3), "rate": -0.25, "n": 7, "ok": True, "name": "x",
           "nothing": None, "nan": math.nan, "inf": -math.inf, "np_scalar": np.float64(0.5)}
    store.save("k1", cfg, res)
    back = store.load("k1", cfg)
    assert np.array_equal(back["curve"], res["curve"]) and back["ints"].dtype == res["ints"].dtype
    assert back["rate"] == -0.25 and back["n"] == 7 and back["ok"] is True and back["name"] == "x"
    assert back["nothing"] is None and math.isnan(back["nan"]) and back["inf"] == -math.inf
    assert back["np_scalar"] == 0.5 and type(back["np_scalar"]) is float
    assert store.load("k1", {**cfg, "g": 1.2}) is None  # another configuration under the same key
    assert ResultStore(tmp_path, version=3).load("k1", cfg) is None  # another version of the study
    assert store.load("missing", cfg) is None
    assert store.keys() == ["k1"]
    assert [p.name for p in tmp_path.iterdir()] == ["k1.npz"]  # no temporary file left behind
    with pytest.raises(TypeError, match="field 'bad'"):
        store.save("k2", cfg, {"bad": [1, 2]})
    with pytest.raises(ValueError):
        store.path("../escape")


def test_half_written_result_files_are_ignored(tmp_path):
    root = tmp_path / "store"
    ts = tasks()
    full = run_sweep(ts, toy_compute, ResultStore(root), progress=False)
    store = ResultStore(root)
    # A truncated final file (a writer that did not use the atomic path, a disk that filled up),
    # a corrupted one, and a temporary file that a killed writer left behind.
    p0, p1 = store.path(ts[0]["key"]), store.path(ts[1]["key"])
    data = p0.read_bytes()
    p0.write_bytes(data[: len(data) // 2])
    raw = bytearray(p1.read_bytes())
    i = raw.find(b"x.npy") + 200  # inside the array data: the zip CRC catches it
    raw[i] ^= 0xFF
    p1.write_bytes(bytes(raw))
    (root / f".{ts[2]['key']}.abc123.tmp").write_bytes(data[:100])
    assert store.load(ts[0]["key"], ts[0]) is None
    assert store.load(ts[1]["key"], ts[1]) is None
    assert ".a" not in "".join(store.keys())
    count = Counting()
    again = run_sweep(ts, count, store, progress=False)
    assert sorted(count.calls) == sorted([ts[0]["key"], ts[1]["key"]])
    for (_, r1), (_, r2) in zip(full, again, strict=True):
        same(r1, r2)


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    ts = tasks()
    reference = run_sweep(ts, toy_compute, ResultStore(tmp_path / "ref"), progress=False)
    store = ResultStore(tmp_path / "run")
    first = Counting(fail_after=4)
    with pytest.raises(Interrupt):
        run_sweep(ts, first, store, progress=False)
    assert store.keys() == sorted(first.calls) and len(first.calls) == 4  # each saved as it finished
    second = Counting()
    resumed = run_sweep(ts, second, store, progress=False)
    assert second.calls == [t["key"] for t in ts[4:]]  # nothing done before is recomputed
    for (c1, r1), (c2, r2) in zip(reference, resumed, strict=True):
        assert c1 == c2
        same(r1, r2)
    third = Counting()
    run_sweep(ts, third, store, progress=False)
    assert third.calls == []
    fresh = Counting()
    run_sweep(ts, fresh, store, progress=False, fresh=True)
    assert len(fresh.calls) == len(ts)


def test_results_record_the_code_that_computed_them(tmp_path):
    src = tmp_path / "src" / "mod.py"
    src.parent.mkdir()
    src.write_text("x = 1\n")
    old = code_fingerprint([src.parent])
    assert old == code_fingerprint([src])
    src.write_text("x = 2\n")
    new = code_fingerprint([src.parent])
    assert new != old
    # The toy study's results depend on this test module and on kernels/ and studies/common/.
    paths = {str(p.relative_to(REPO_ROOT)) for p in TOY.code_paths()}
    assert {"kernels", "studies/common", "tests/test_studies.py"} <= paths

    ts = tasks()
    store = ResultStore(tmp_path / "store")
    run_sweep(ts, toy_compute, store, progress=False, code=old)
    assert store.load(ts[0]["key"], ts[0]) is not None and store.load(ts[0]["key"], ts[0], code=new) is None
    stats, count = {}, Counting()
    run_sweep(ts, count, store, progress=False, code=new, stats=stats)  # default: reuse, and say so
    assert count.calls == [] and stats == {"computed": 0, "loaded": len(ts), "codes": {old: len(ts)}}
    run_sweep(ts, count, store, progress=False, code=new, same_code=True, stats=stats)
    assert len(count.calls) == len(ts) and stats["codes"] == {new: len(ts)}


def test_study_run_resumes_through_the_command_line_options(tmp_path):
    opts = TOY.parse(["--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--no-progress"])
    with pytest.raises(Interrupt):
        TOY.run(opts, compute=Counting(fail_after=2))
    count = Counting()
    results = TOY.run(opts, compute=count)
    assert len(count.calls) == 4 and len(results) == 6


# -- fitting ------------------------------------------------------------------------------------


def test_fit_rate_recovers_a_line_and_skips_infinities():
    d = np.arange(200)
    y = 3.0 - 0.125 * d
    y[:10] += 5.0  # a transient that the fit range skips
    y[150] = -np.inf
    fit = fit_rate(y, 10)
    assert fit["rate"] == pytest.approx(-0.125, abs=1e-12)
    assert fit["timescale"] == pytest.approx(8.0)
    assert fit["n"] == 189 and fit["lo"] == 10 and fit["hi"] == 199
    assert fit["stderr"] < 1e-12 and fit["r2"] == pytest.approx(1.0)
    assert math.isinf(fit_rate(np.zeros(50), 0)["timescale"])
    assert math.isnan(fit_rate(np.full(5, -np.inf), 0)["rate"])


# -- reports ------------------------------------------------------------------------------------


def _plot(stem):
    fig, axes = figure(1, 2, figsize=(5, 3))
    x = np.linspace(0, 10, 300)
    axes[0].semilogy(x, np.exp(-x), label="decay")
    axes[1].plot(x, np.sin(x), "o", ms=2)
    axes[0].legend()
    fig.suptitle("stability")
    save_figure(fig, stem)


def test_figures_are_byte_stable(tmp_path):
    _plot(tmp_path / "a")
    _plot(tmp_path / "b")
    for ext in ("png", "svg"):
        a, b = (tmp_path / f"a.{ext}").read_bytes(), (tmp_path / f"b.{ext}").read_bytes()
        assert a == b, ext
    svg = (tmp_path / "a.svg").read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    assert b"Software" not in (tmp_path / "a.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.svg", "b.png", "b.svg"]


def test_report_writer_and_index_links(tmp_path):
    w = ReportWriter(tmp_path, "Title", intro="Intro.")
    df = pd.DataFrame({"name": ["a|b", "c"], "value": [1.0 / 3.0, math.nan], "n": [1, 2]})
    w.table(df, "tab", "A table", "Paragraph.")
    files = w.finish({"command": ["x"]})
    assert (tmp_path / "tab.csv").read_text() == "name,value,n\na|b,0.3333333333333333,1\nc,,2\n"
    assert (tmp_path / "tab.md").read_text() == "| name | value | n |\n|---|---|---|\n| a\\|b | 0.3333 | 1 |\n| c |  | 2 |\n"
    md = (tmp_path / "README.md").read_text()
    assert md.startswith("# Title\n\nIntro.\n") and "### A table" in md and "[tab.csv](tab.csv)" in md
    assert json.loads((tmp_path / "provenance.json").read_text()) == {"command": ["x"]}
    assert sorted(files) == ["README.md", "provenance.json", "tab.csv", "tab.md"]
    text = "# T\n\n![fig](fig.png) [csv](t.csv) [web](https://x.org/a) [anchor](#t) [abs](/etc)\n### Sub\n"
    assert relink(text, "study") == (
        "## T\n\n![fig](study/fig.png) [csv](study/t.csv) [web](https://x.org/a) [anchor](#t) [abs](/etc)\n#### Sub\n")


def test_provenance_records_code_machine_and_command():
    p = provenance(["python", "-m", "bpttlab.studies.toy", "--quick"], {"quick": True})
    assert p["command"][-1] == "--quick" and p["options"] == {"quick": True}
    assert len(p["git"]["commit"]) == 40 and isinstance(p["git"]["dirty"], bool)
    assert p["packages"]["numba"] and p["packages"]["numpy"]
    assert p["numba"]["num_threads"] >= 1 and p["numba"]["threading_layer"]
    assert p["cpu"]["name"] and isinstance(p["gpu"], list)
    assert p == provenance(["python", "-m", "bpttlab.studies.toy", "--quick"], {"quick": True})  # no clock inside


def test_study_main_writes_identical_bytes_when_rerun(tmp_path):
    argv = ["--out", str(tmp_path / "out"), "--results", str(tmp_path / "res"), "--no-progress"]
    assert TOY.main(argv) == 0
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert sorted(first) == ["README.md", "provenance.json", "scatter.png", "scatter.svg", "values.csv",
                             "values.md"]
    assert TOY.main([*argv, "--fresh"]) == 0  # recompute everything: still the same bytes
    second = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    prov1, prov2 = (json.loads(x.pop("provenance.json")) for x in (first, second))
    assert first == second
    assert prov1["command"] == ["python", "-m", "bpttlab.studies.toy", *argv]
    assert prov1["options"]["seed"] == 0 and prov1["options"]["mode"] == "full"
    # Provenance differs only in what differed: the command and its options.
    assert prov2["command"][-1] == "--fresh" and prov2["options"]["fresh"] is True
    for p in (prov1, prov2):
        del p["command"], p["options"]["fresh"]
    assert prov1 == prov2


def test_default_locations_keep_quick_runs_out_of_the_committed_reports():
    full, quick = TOY.parse([]), TOY.parse(["--quick", "--seed", "4"])
    assert full.out == REPO_ROOT / "reports" / "toy"
    assert quick.out == REPO_ROOT / "build" / "reports" / "toy-quick"
    assert quick.results == REPO_ROOT / "build" / "studies" / "toy" / "quick-seed4"
    assert os.path.commonpath([full.results, REPO_ROOT / "build"]) == str(REPO_ROOT / "build")
