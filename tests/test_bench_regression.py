"""The regression gate: its verdicts, its reference handling, and that the A/B run catches a
kernel slowed 2x while passing the others."""

import json
import math
import subprocess
from pathlib import Path

import pytest
from bpttlab.studies.speed.cases import make_case
from bpttlab.studies.speed.flops import flops

from bench import regression

REPO = Path(__file__).resolve().parents[1]


def test_verdicts_follow_the_threshold():
    assert regression.verdict(1.29, 1.3) == "ok"
    assert regression.verdict(1.31, 1.3) == "SLOWER: regression"
    assert regression.verdict(0.7, 1.3) == "faster: move the reference"
    rows = [regression.CaseResult("a", 1e-3, 2e-3, 2.0, 1.9, 2.1, regression.verdict(2.0, 1.3)),
            regression.CaseResult("b", 1e-3, 1e-3, 1.0, 0.9, 1.1, regression.verdict(1.0, 1.3))]
    assert not regression.passed(rows) and regression.passed(rows[1:])
    assert "SLOWER" in regression.format_table(rows)


@pytest.mark.parametrize("n", [3, 5, 7, 15, 30])
def test_median_interval_covers_the_median_at_95_percent(n):
    values = list(range(n))
    lo, hi = regression.median_interval(values)
    k = lo  # values are their own ranks
    assert hi == n - 1 - k and lo <= (n - 1) / 2 <= hi
    # Coverage of [x_(k), x_(n-1-k)] for the median is 1 - 2 P(Binom(n, 1/2) <= k - 1).
    tail = sum(math.comb(n, j) for j in range(k)) / 2**n
    assert 1 - 2 * tail >= 0.95
    if k + 1 <= (n - 1) // 2:  # and the interval is the narrowest such one
        assert 1 - 2 * (tail + math.comb(n, k) / 2**n) < 0.95


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def toy_repo(tmp_path):
    """A repository with a kernels/ package, one commit, and an ignored cache file."""
    repo = tmp_path / "repo"
    (repo / "kernels" / "sub").mkdir(parents=True)
    (repo / "bench").mkdir()
    (repo / "kernels" / "__init__.py").write_text("X = 1\n")
    (repo / "kernels" / "sub" / "a.py").write_text("Y = 2\n")
    (repo / ".gitignore").write_text("__pycache__/\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "root")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "kernels")
    return repo


def test_kernel_sources_compared_with_the_reference(toy_repo):
    head = regression.resolve("HEAD", toy_repo)
    assert regression.sources_differ(head, toy_repo) == []
    (toy_repo / "kernels" / "__pycache__").mkdir()
    (toy_repo / "kernels" / "__pycache__" / "c.nbi").write_bytes(b"cache")
    assert regression.sources_differ(head, toy_repo) == []  # ignored files are no source
    (toy_repo / "kernels" / "sub" / "a.py").write_text("Y = 3\n")
    (toy_repo / "kernels" / "new.py").write_text("")
    assert regression.sources_differ(head, toy_repo) == ["kernels/new.py", "kernels/sub/a.py"]
    root = regression.resolve("HEAD~1", toy_repo)
    assert regression.sources_differ(root, toy_repo) == ["kernels/__init__.py", "kernels/new.py", "kernels/sub/a.py"]


def test_reference_is_exported_moved_and_refused(toy_repo):
    head = regression.resolve("HEAD", toy_repo)
    out = regression.export_reference(head, toy_repo)
    assert (out / "kernels" / "sub" / "a.py").read_text() == "Y = 2\n"
    assert out == toy_repo / "build" / "bench-ref" / head
    assert regression.move_reference("HEAD", toy_repo) == head
    assert regression.load_reference(toy_repo) == head
    (toy_repo / "kernels" / "__init__.py").write_text("X = 2\n")
    with pytest.raises(SystemExit, match="differ from HEAD .*kernels/__init__.py.*commit them first"):
        regression.move_reference("HEAD", toy_repo)
    with pytest.raises(SystemExit, match="'nosuch' is not in this clone"):
        regression.resolve("nosuch", toy_repo)


def test_identical_kernels_skip_the_ab_run(toy_repo, monkeypatch, capsys):
    regression.move_reference("HEAD", toy_repo)
    monkeypatch.setattr(regression, "ROOT", toy_repo)
    assert regression.main([]) == 0
    assert "kernel sources identical to the reference" in capsys.readouterr().out
    assert not (toy_repo / "build" / "bench-ref").exists()  # nothing exported, nothing measured


def test_committed_reference_exists_in_history():
    sha = regression.load_reference(REPO)
    assert regression.resolve(sha, REPO) == sha


def test_catches_a_kernel_slowed_twofold():
    """A real A/B run of two processes: the working tree's GRU runs every call twice (a 2x
    regression); it fails and the unchanged LSTM and RNN pass. (Both sides load this tree's
    kernels, which keeps their compilation cached; the gate itself exports the reference.)

    At the gate's own shape: at a smaller one (50, 16, 32, 64), where a call takes 0.1-0.4 ms, the
    unchanged LSTM's ratio varied from process pair to process pair (0.85-1.29 over 20 runs on a
    quiet znver5, 1.37 once in CI); at SHAPE it was 0.70-1.11 over 16 runs, the slowed GRU 1.53-2.23."""
    results, info = regression.run_ab(
        REPO, REPO, cells=("gru", "lstm", "rnn_tanh"), modes=("forward",), shape=regression.SHAPE,
        rounds=7, slow=("gru",), log=lambda *a: None,
    )
    table = regression.format_table(results)
    ratios = {r.case: r.ratio for r in results}
    assert not regression.passed(results), table
    assert ratios["gru/forward"] > regression.THRESHOLD, table
    assert ratios["lstm/forward"] < regression.THRESHOLD and ratios["rnn_tanh/forward"] < regression.THRESHOLD, table
    assert [Path(k).resolve() for k in info["kernels"]] == [(REPO / "kernels").resolve()] * 2


def test_worker_rejects_a_tree_without_kernels(tmp_path):
    out = subprocess.run(
        [regression.sys.executable, str(regression.WORKER), "--root", str(tmp_path), "--shape", "2,1,1,1",
         "--cells", "gru"], capture_output=True, text=True, check=False,
    )
    assert out.returncode != 0 and "no kernels package" in out.stderr + out.stdout


def test_run_record_names_the_microarchitecture():
    info = regression.machine_info()
    assert info["llvm_cpu_name"] and "+" in info["llvm_cpu_features"] and info["model"]
    json.dumps(info)


def test_flop_counts_follow_deepbench():
    rec, inp = flops("lstm", "forward", T=10, B=2, I=3, H=5)
    assert rec == 2 * 4 * 5 * 5 * 2 * 10 and inp == 2 * 4 * 5 * 3 * 2 * 10
    assert flops("gru", "forward_backward", 10, 2, 3, 5)[0] == 3 * 2 * 3 * 25 * 2 * 10


@pytest.mark.parametrize("mode", ["sideways"])
def test_make_case_rejects_unknown_mode(mode):
    with pytest.raises(ValueError, match="mode: got 'sideways'"):
        make_case("gru", mode, 2, 1, 1, 1)
