"""Kernel performance regression gate: the working tree against a reference commit, both
measured in the same run on the same machine (an A/B run).

A time measured on one machine says nothing on another: the project's machines share a name,
not a CPU, and the kernels' vector code and any calibration speed up differently from one
microarchitecture to the next. So nothing recorded elsewhere decides anything here. The gate
exports the kernels of the reference commit (``bench/reference.json``) next to the working
tree, starts one measuring process per side (bench/_ab_worker.py, each with its own Numba
dispatchers and on-disk cache), and asks them in turn to time each case: every case's time on
one side is paired with the other side's, taken a moment apart, and the score is the median
over rounds of the per-round ratio working tree / reference. A case fails when that median
exceeds THRESHOLD.

    python -m bench.regression                          # A/B against bench/reference.json
    python -m bench.regression --reference HEAD --force --repeat 5   # unchanged code: the noise
    NUMBA_CPU_NAME=haswell python -m bench.regression   # both sides compiled for another target
    python -m bench.regression --move-reference         # accept a speed change: HEAD is the reference

When the kernel sources are identical to the reference's there is nothing to compare and the
run is skipped (say ``--force`` to measure anyway).
"""

import argparse
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the working tree this gate measures
REFERENCE = Path("bench", "reference.json")  # in the tree: moving it accepts a speed change
WORKER = Path(__file__).with_name("_ab_worker.py")
KERNELS = "kernels"  # the folder whose sources are compared and exported

THRESHOLD = 1.3  # fail above 1.3x the reference: unchanged code stays within ~1.1x (README), a 2x slowdown trips it
SHAPE = (100, 16, 32, 128)  # T, B, I, H: ~0.5-10 ms a call on one thread, the kernels' own work
CELLS = ("rnn_tanh", "rnn_relu", "lstm", "lstm_peephole", "lstm_cifg", "gru", "gru_cho")
MODES = ("forward", "forward_backward")
ROUNDS = 15
BATCHES = 7  # per case, side and round: the best of these batches is kept
BATCH_SECONDS = 0.001  # a batch repeats its call until it has run this long: well under a time slice


def case_id(cell, mode):
    return f"{cell}/{mode}"


# -- the machine ---------------------------------------------------------------------------


def machine_info():
    """The CPU as a reader needs it to tell machines apart: the model string, LLVM's name for the
    host's microarchitecture and its features (what the kernels are compiled for), and any
    NUMBA_CPU_NAME / NUMBA_CPU_FEATURES override of that target."""
    from bpttlab.studies.framework.provenance import cpu_microarchitecture, cpu_model  # noqa: PLC0415

    return {"model": cpu_model(), "logical_cores": os.cpu_count(), **cpu_microarchitecture(),
            "python": platform.python_version()}


# -- the reference -------------------------------------------------------------------------


def git(*args, cwd=None, binary=False):
    out = subprocess.run(["git", *args], cwd=cwd or ROOT, capture_output=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout if binary else out.stdout.decode().strip()


def load_reference(root=None):
    return json.loads((Path(root or ROOT) / REFERENCE).read_text())["commit"]


def resolve(rev, root=None):
    """The full hash of ``rev``, or a clear error when this clone lacks it."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=root)
    except RuntimeError:
        pass
    if git("rev-parse", "--is-shallow-repository", cwd=root) == "true":  # a CI-style shallow clone
        try:
            git("fetch", "--quiet", "--unshallow", cwd=root)
            return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=root)
        except RuntimeError:
            pass
    raise SystemExit(
        f"reference: commit {rev!r} is not in this clone (a shallow clone lacks history: "
        f"`git fetch --unshallow`, or name another with --reference)"
    )


def reference_sources(sha, root=None):
    """{path: blob hash} of the kernel sources at commit ``sha``."""
    rows = git("ls-tree", "-r", sha, "--", KERNELS, cwd=root).splitlines()
    return {line.split("\t", 1)[1]: line.split()[2] for line in rows}


def working_sources(root=None):
    """{path: blob hash} of the kernel sources in the working tree, committed or not (ignored
    files, such as Numba's cache, excluded)."""
    root = Path(root or ROOT)
    paths = [p for p in git("ls-files", "-co", "--exclude-standard", "--", KERNELS, cwd=root).splitlines()
             if (root / p).is_file()]
    if not paths:
        return {}
    out = subprocess.run(["git", "hash-object", "--stdin-paths"], cwd=root, input="\n".join(paths).encode(),
                         capture_output=True, check=True).stdout.decode().split()
    return dict(zip(paths, out, strict=True))


def sources_differ(sha, root=None):
    """The kernel source paths that differ between commit ``sha`` and the working tree."""
    ref, cur = reference_sources(sha, root), working_sources(root)
    return sorted(p for p in set(ref) | set(cur) if ref.get(p) != cur.get(p))


def export_reference(sha, root=None):
    """The reference commit's kernels in build/bench-ref/SHA (kept, with their Numba cache, for the
    next run)."""
    root = Path(root or ROOT)
    dest = root / "build" / "bench-ref" / sha
    if (dest / KERNELS / "__init__.py").is_file():
        return dest
    data = git("archive", "--format=tar", sha, KERNELS, cwd=root, binary=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=dest.parent))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        try:
            tar.extractall(tmp, filter="data")
        except TypeError:  # Python < 3.11.4 has no extraction filters; git's own archive is trusted
            tar.extractall(tmp)  # noqa: S202
    try:
        os.replace(tmp, dest)
    except OSError:  # another run exported it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def move_reference(rev, root=None):
    root = Path(root or ROOT)
    sha = resolve(rev, root)
    changed = sources_differ(sha, root)
    if changed:
        raise SystemExit(
            f"--move-reference: the working tree's kernels differ from {rev} ({', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}): commit them first, so the reference names the code measured"
        )
    (root / REFERENCE).write_text(json.dumps({
        "commit": sha,
        "about": "The kernels that bench/regression.py compares the working tree with, in the same run on the "
                 "same machine. Accept an intended speed change by moving it: python -m bench.regression "
                 "--move-reference (then commit this file).",
    }, indent=2) + "\n")
    return sha


# -- the A/B run -----------------------------------------------------------------------------


class Side:
    """One measuring process: the kernels of one tree, timed on request."""

    def __init__(self, name, root, cells, modes, shape, slow=()):
        self.name = name
        cmd = [sys.executable, os.fspath(WORKER), "--root", os.fspath(root), "--shape", ",".join(map(str, shape)),
               "--cells", ",".join(cells), "--modes", ",".join(modes), "--slow", ",".join(slow)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"the {self.name} side's measuring process ended (exit code {code}); see its stderr above")
        return json.loads(line)

    def wait_ready(self):
        return self._read()

    def time(self, case, calls, batches):
        self.proc.stdin.write(json.dumps({"time": case, "calls": calls, "batches": batches}) + "\n")
        return self._read()["seconds"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"quit": true}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def median_interval(values, level=0.95):
    """A distribution-free interval for the median: order statistics whose binomial coverage is
    at least ``level`` (the whole range when there are too few values)."""
    v, n = sorted(values), len(values)
    cdf, k = 0.0, 0
    while k < n:
        p = math.comb(n, k) / 2**n
        if cdf + p > (1 - level) / 2:
            break
        cdf += p
        k += 1
    k = min(k, (n - 1) // 2)
    return v[k], v[n - 1 - k]


@dataclass
class CaseResult:
    case: str
    reference_s: float  # median seconds per call over rounds
    candidate_s: float
    ratio: float  # median over rounds of candidate / reference
    low: float  # distribution-free 95% interval of that median
    high: float
    verdict: str


def verdict(ratio, threshold):
    if ratio > threshold:
        return "SLOWER: regression"
    if ratio < 1 / threshold:
        return "faster: move the reference"
    return "ok"


def run_ab(reference_root, candidate_root, cells=CELLS, modes=MODES, shape=SHAPE, rounds=ROUNDS,
           threshold=THRESHOLD, slow=(), progress=None, log=print):
    """Measure both trees in interleaved rounds; returns ([CaseResult], info)."""
    cases = [case_id(c, m) for c in cells for m in modes]
    t0 = time.perf_counter()
    sides = [Side("reference", reference_root, cells, modes, shape),
             Side("working-tree", candidate_root, cells, modes, shape, slow)]
    try:
        ready = [s.wait_ready() for s in sides]  # both compile at once, one per core
        log(f"  ready after {time.perf_counter() - t0:.0f} s (compile or cache load: reference "
            f"{ready[0]['compile_seconds']:.0f} s, working tree {ready[1]['compile_seconds']:.0f} s)")
        calls = {k: max(1, math.ceil(BATCH_SECONDS / max(min(r["estimate_seconds"][k] for r in ready), 1e-7)))
                 for k in cases}
        times = {k: ([], []) for k in cases}
        for r in range(rounds):
            for i, k in enumerate(cases):
                # Alternate which side goes first, so neither always follows the other's work.
                order = (0, 1) if (r + i) % 2 == 0 else (1, 0)
                for s in order:
                    times[k][s].append(sides[s].time(k, calls[k], BATCHES))
            if progress:
                progress(r + 1, rounds)
    finally:
        for s in sides:
            s.close()
    results = []
    for k in cases:
        ref, cand = times[k]
        ratios = [c / a for a, c in zip(ref, cand, strict=True)]
        ratio = statistics.median(ratios)
        lo, hi = median_interval(ratios)
        results.append(CaseResult(k, statistics.median(ref), statistics.median(cand), ratio, lo, hi,
                                  verdict(ratio, threshold)))
    info = {"seconds": time.perf_counter() - t0, "compile_seconds": [r["compile_seconds"] for r in ready],
            "kernels": [r["kernels"] for r in ready]}
    return results, info


def format_table(results, threshold=THRESHOLD):
    out = [f"{'case':32s} {'reference':>10s} {'working':>10s} {'ratio':>7s} {'95% interval':>15s}  "
           f"verdict (fail above {threshold:.2f}x)"]
    for r in results:
        out.append(f"{r.case:32s} {r.reference_s * 1e3:8.3f}ms {r.candidate_s * 1e3:8.3f}ms {r.ratio:7.3f} "
                   f"{f'[{r.low:.3f}, {r.high:.3f}]':>15s}  {r.verdict}")
    return "\n".join(out)


def passed(results):
    return all(not r.verdict.startswith("SLOWER") for r in results)


# -- the command line ----------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", default=None,
                    help="compare with this commit instead of bench/reference.json's")
    ap.add_argument("--force", action="store_true",
                    help="measure even when the kernel sources equal the reference's (to measure the noise)")
    ap.add_argument("--rounds", type=int, default=ROUNDS, help=f"interleaved rounds; the median is kept (default {ROUNDS})")
    ap.add_argument("--repeat", type=int, default=1, help="run the A/B this many times (fresh processes) and report the spread")
    ap.add_argument("--threshold", type=float, default=THRESHOLD, help=f"fail above this ratio (default {THRESHOLD})")
    ap.add_argument("--json", type=Path, default=None,
                    help="where to write the record of the run (default build/bench/regression.json)")
    ap.add_argument("--move-reference", nargs="?", const="HEAD", metavar="REV",
                    help="make REV (default HEAD) the reference in bench/reference.json and stop")
    args = ap.parse_args(argv)
    if args.rounds < 3:
        ap.error(f"--rounds: got {args.rounds}, expected at least 3")
    if args.repeat < 1:
        ap.error(f"--repeat: got {args.repeat}, expected at least 1")
    if not args.threshold > 1:
        ap.error(f"--threshold: got {args.threshold}, expected a ratio above 1")

    root = ROOT
    if args.move_reference:
        sha = move_reference(args.move_reference, root)
        print(f"bench/reference.json now names {sha}; commit it to accept the kernels' speed as of that commit")
        return 0

    sha = resolve(args.reference or load_reference(root), root)
    changed = sources_differ(sha, root)
    if not changed and not args.force:
        print(f"kernel sources identical to the reference {sha[:12]}: nothing to compare, A/B skipped "
              f"(--force measures anyway)")
        return 0
    mach = machine_info()
    print(f"reference {sha[:12]} against the working tree ({len(changed)} kernel files differ); "
          f"{mach['llvm_cpu_name']} ({mach['model']}), target {mach.get('NUMBA_CPU_NAME', 'host')}"
          f"{' ' + mach['NUMBA_CPU_FEATURES'] if 'NUMBA_CPU_FEATURES' in mach else ''}; "
          f"shape T,B,I,H = {SHAPE}, one thread, {args.rounds} rounds")
    ref_root = export_reference(sha, root)

    def progress(r, n):
        print(f"\r  round {r}/{n}", end="" if r < n else "\n", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    runs = []
    for i in range(args.repeat):
        if args.repeat > 1:
            print(f"run {i + 1}/{args.repeat}")
        results, info = run_ab(ref_root, root, rounds=args.rounds, threshold=args.threshold, progress=progress)
        runs.append((results, info))
        print(format_table(results, args.threshold))
    ok = all(passed(r) for r, _ in runs)
    if args.repeat > 1:
        print("\nspread over runs (per case: lowest and highest ratio)")
        by_case = {}
        for results, _ in runs:
            for r in results:
                by_case.setdefault(r.case, []).append(r.ratio)
        for k, v in by_case.items():
            print(f"  {k:32s} {min(v):.3f} .. {max(v):.3f}")
        every = [x for v in by_case.values() for x in v]
        print(f"all runs and cases: ratio {min(every):.3f} .. {max(every):.3f}; "
              f"largest per-case spread (max/min) {max(max(v) / min(v) for v in by_case.values()):.3f}")
    record = {
        "reference": sha, "working_tree": git("rev-parse", "HEAD", cwd=root), "kernel_files_differ": changed,
        "machine": mach, "shape_TBIH": list(SHAPE), "rounds": args.rounds, "threshold": args.threshold,
        "runs": [{"seconds": info["seconds"], "compile_seconds": info["compile_seconds"],
                  "cases": [r.__dict__ for r in results]} for results, info in runs],
        "passed": ok,
    }
    out = args.json or root / "build" / "bench" / "regression.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{'PASS' if ok else 'FAIL'}: {len(runs[0][0])} cases, {args.repeat} run(s), "
          f"{time.perf_counter() - t0:.0f} s; record in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
