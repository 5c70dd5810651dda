"""Does a regenerated report reproduce a committed one? Table by table, number by number.

Each study declares how exactly its tables must reproduce (``Study.reproduce``: per table and
column a :class:`Tol`, ``"*"`` for the rest). :func:`compare_reports` compares two report
directories of one study (each with its ``*.csv`` tables and ``provenance.json``), and
:func:`compare_roots` every study two ``reports/`` trees share, so the check needs no run:
``python -m bpttlab.studies.regenerate --compare DIR_A DIR_B``. ``--check`` regenerates into a
scratch directory first and compares that with ``reports/``.

What counts as a difference: a number outside its column's tolerance (``exact`` means equal to
the last bit), a changed text cell, a table or a column or a row present on one side only.
Timing columns are measurements of a machine at a moment: their spread is reported, never a
failure. Float64 results also depend on the CPU they were computed on (LLVM compiles for the host
microarchitecture: vector widths and fused multiply-adds change the order of operations) and on
the compiler's version, so when the two reports' provenance names another CPU or another
numba/llvmlite/numpy, a difference within the column's ``other_cpu`` tolerance is reported as
expected, not as a failure.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

EXPECTED_ACROSS_CPUS = "expected: float64 results differ in the last digits across CPU generations"
# Package versions that change the compiled code (and so the last digits) as a CPU does.
COMPILER_PACKAGES = ("numba", "llvmlite", "numpy")


@dataclass(frozen=True)
class Tol:
    """How one column must reproduce.

    ``kind``: "exact" (equal, NaNs equal to NaNs), "close" (|a - b| <= atol + rtol |a|: chaotic
    or statistical quantities), "timing" (reported, never a failure) or "ignore".
    ``other_cpu_rtol`` / ``other_cpu_atol``: the tolerance when the two reports were computed on
    different CPU microarchitectures or compiler versions.
    """

    kind: str = "exact"
    rtol: float = 0.0
    atol: float = 0.0
    other_cpu_rtol: float = 1e-9
    other_cpu_atol: float = 1e-12

    def __post_init__(self):
        if self.kind not in ("exact", "close", "timing", "ignore"):
            raise ValueError(f"Tol kind: got {self.kind!r}, expected 'exact', 'close', 'timing' or 'ignore'")


EXACT = Tol()
TIMING = Tol("timing")
IGNORE = Tol("ignore")


def close(rtol, atol=0.0, other_cpu_rtol=None, other_cpu_atol=None):
    """A statistical tolerance; across CPUs at least as loose as on one machine."""
    return Tol("close", rtol, atol, max(rtol, 1e-9) if other_cpu_rtol is None else other_cpu_rtol,
               max(atol, 1e-12) if other_cpu_atol is None else other_cpu_atol)


def tolerance(declared, table, column):
    """The Tol for ``column`` of ``table`` from a study's declaration (``{table|"*": {column|"*": Tol}}``)."""
    for t in (table, "*"):
        cols = (declared or {}).get(t)
        if cols is None:
            continue
        for c in (column, "*"):
            if c in cols:
                return cols[c]
    return EXACT


@dataclass
class Difference:
    table: str
    column: str | None
    status: str  # "unexpected", "expected" (other CPU), "timing"
    what: str

    def line(self):
        where = self.table + (f" [{self.column}]" if self.column else "")
        return f"  {self.status.upper() if self.status == 'unexpected' else self.status}: {where}: {self.what}"


@dataclass
class Comparison:
    study: str
    a: Path
    b: Path
    machines: str  # how the provenance of the two differs, or "" when it names the same CPU and compilers
    tables: int
    differences: list

    @property
    def unexpected(self):
        return [d for d in self.differences if d.status == "unexpected"]

    def text(self):
        head = f"{self.study}: {self.tables} tables compared ({self.a} against {self.b})"
        if self.machines:
            head += f"\n  different machines: {self.machines}"
        if not self.differences:
            return head + "\n  every number reproduces"
        lines = [head, *(d.line() for d in self.differences)]
        if any(d.status == "expected" for d in self.differences):
            lines.append(f"  ({EXPECTED_ACROSS_CPUS}; within the study's declared tolerance for that)")
        return "\n".join(lines)


def _provenance(directory):
    try:
        return json.loads((Path(directory) / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def machine_difference(prov_a, prov_b):
    """What differs between two provenances in what decides the compiled code: the CPU's LLVM name
    and features, and the compiler packages' versions. "" when nothing (or nothing is known)."""
    parts = []
    ca, cb = prov_a.get("cpu", {}), prov_b.get("cpu", {})
    # What Numba compiled for: the host as LLVM names it, unless NUMBA_CPU_NAME/FEATURES overrode it.
    name_a = ca.get("NUMBA_CPU_NAME") or ca.get("llvm_cpu_name")
    name_b = cb.get("NUMBA_CPU_NAME") or cb.get("llvm_cpu_name")
    if name_a and name_b:
        if name_a != name_b:
            parts.append(f"CPU {name_a} ({ca.get('name', '?')}) against {name_b} ({cb.get('name', '?')})")
        elif (ca.get("NUMBA_CPU_FEATURES") or ca.get("llvm_cpu_features")) != \
                (cb.get("NUMBA_CPU_FEATURES") or cb.get("llvm_cpu_features")):
            parts.append(f"CPU {name_a} with other LLVM features")
    elif name_a or name_b or ca.get("name") != cb.get("name"):
        # An older provenance without LLVM's name: the same microarchitecture cannot be established.
        parts.append(f"CPU {name_a or 'not named by LLVM'} ({ca.get('name', '?')}) against "
                     f"{name_b or 'not named by LLVM'} ({cb.get('name', '?')})")
    pa, pb = prov_a.get("packages", {}), prov_b.get("packages", {})
    for pkg in COMPILER_PACKAGES:
        if pa.get(pkg) and pb.get(pkg) and pa[pkg] != pb[pkg]:
            parts.append(f"{pkg} {pa[pkg]} against {pb[pkg]}")
    return "; ".join(parts)


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _num(x):
    return float(x) if _is_number(x) else None


def _compare_column(table, column, a, b, tol, other_machine):
    """Differences of one column (two equally long Series), at most one summary line."""
    if tol.kind == "ignore":
        return []
    bad, expected_n, worst, first, timing_rel = 0, 0, (0.0, 0.0), None, 0.0
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        xn, yn = _num(x), _num(y)
        if xn is None or yn is None:  # text, or a number against an empty cell
            same = (pd.isna(x) and pd.isna(y)) if (pd.isna(x) or pd.isna(y)) else str(x) == str(y)
            if not same:
                bad += 1
                first = first or (i, x, y)
            continue
        if math.isnan(xn) or math.isnan(yn) or math.isinf(xn) or math.isinf(yn):
            if not (xn == yn or (math.isnan(xn) and math.isnan(yn))):
                bad += 1
                first = first or (i, x, y)
            continue
        d = abs(xn - yn)
        rel = d / abs(xn) if xn else (math.inf if d else 0.0)
        if tol.kind == "timing":
            timing_rel = max(timing_rel, rel)
            continue
        if d <= tol.atol + tol.rtol * abs(xn):
            continue
        worst = max(worst, (d, rel))
        if other_machine and d <= tol.other_cpu_atol + tol.other_cpu_rtol * abs(xn):
            expected_n += 1
        else:
            bad += 1
        first = first or (i, x, y)
    out = []
    n = len(a)
    if tol.kind == "timing":
        if timing_rel > 0 or bad:
            what = f"timings, largest relative change {timing_rel:.0%} over {n} rows (measurements: not compared)"
            if bad:
                what += f"; {bad} cells changed between a number and text/empty (first at row {first[0]}: {first[1]!r} -> {first[2]!r})"
            out.append(Difference(table, column, "timing", what))
        return out
    if bad or expected_n:
        row, x, y = first
        tol_text = "exact" if tol.kind == "exact" else f"rtol {tol.rtol:g}, atol {tol.atol:g}"
        what = (f"{bad + expected_n} of {n} cells differ (tolerance {tol_text}); largest |difference| {worst[0]:.3g} "
                f"(relative {worst[1]:.3g}); first at row {row}: {x!r} -> {y!r}")
        if bad and expected_n:
            what += f"; {expected_n} of them within the other-CPU tolerance (rtol {tol.other_cpu_rtol:g})"
        out.append(Difference(table, column, "unexpected" if bad else "expected", what))
    return out


def compare_tables(table, a, b, declared, other_machine=False):
    """Differences between two DataFrames of one table (rows matched by position)."""
    diffs = []
    only_a = [c for c in a.columns if c not in b.columns]
    only_b = [c for c in b.columns if c not in a.columns]
    if only_a or only_b:
        diffs.append(Difference(table, None, "unexpected", f"columns only in the first: {only_a}, only in the second: {only_b}"))
    if len(a) != len(b):
        diffs.append(Difference(table, None, "unexpected", f"{len(a)} rows against {len(b)}"))
    n = min(len(a), len(b))
    for col in (c for c in a.columns if c in b.columns):
        tol = tolerance(declared, table, col)
        diffs += _compare_column(table, col, a[col].iloc[:n].tolist(), b[col].iloc[:n].tolist(), tol, other_machine)
    return diffs


def _cell(text):
    if text == "":
        return math.nan  # an empty cell: a missing value, equal only to another missing value
    try:
        return float(text)  # Python's parser is exact; the reports write shortest round-trip reprs
    except ValueError:
        return text


def _read_csv(path):
    # As text, then parsed cell by cell: pandas's fast float parser is not always correctly
    # rounded, which would invent (or hide) last-digit differences.
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df.apply(lambda col: col.map(_cell))


def compare_reports(a, b, study_name, declared=None):
    """Compare the tables (``*.csv``) of two report directories of one study."""
    a, b = Path(a), Path(b)
    other = machine_difference(_provenance(a), _provenance(b))
    names_a = {p.stem for p in a.glob("*.csv")}
    names_b = {p.stem for p in b.glob("*.csv")}
    diffs = []
    for name in sorted(names_a ^ names_b):
        where = "first" if name in names_a else "second"
        diffs.append(Difference(name, None, "unexpected", f"table only in the {where} report"))
    for name in sorted(names_a & names_b):
        try:
            ta, tb = _read_csv(a / f"{name}.csv"), _read_csv(b / f"{name}.csv")
        except (OSError, ValueError, pd.errors.ParserError) as e:
            diffs.append(Difference(name, None, "unexpected", f"unreadable: {e}"))
            continue
        diffs += compare_tables(name, ta, tb, declared, other_machine=bool(other))
    return Comparison(study_name, a, b, other, len(names_a & names_b), diffs)


def compare_roots(a, b, studies):
    """Compare ``a/<name>`` with ``b/<name>`` for each ``name -> declared tolerances`` in ``studies``
    present in either tree; a study directory on one side only is a difference."""
    out = []
    for name, declared in studies.items():
        da, db = Path(a) / name, Path(b) / name
        if not da.is_dir() and not db.is_dir():
            continue
        if not (da.is_dir() and db.is_dir()):
            missing = db if da.is_dir() else da
            out.append(Comparison(name, da, db, "", 0, [Difference(name, None, "unexpected", f"{missing} is missing")]))
            continue
        out.append(compare_reports(da, db, name, declared))
    return out
