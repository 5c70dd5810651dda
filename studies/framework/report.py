"""Report writing: figures (PNG + SVG) and tables (CSV + Markdown) with byte-stable output and
the report's Markdown (provenance.json's content comes from :mod:`.provenance`).

Everything but ``provenance.json`` is a pure function of the results: no dates, no software
versions, fixed SVG ids (``svg.hashsalt``), fixed float formatting, so regenerating an
unchanged study rewrites identical bytes and ``git status`` stays clean.
"""

import json
import os
import re
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "svg.hashsalt": "bpttlab",
    "svg.fonttype": "path",  # glyphs as paths: the SVG does not depend on the viewer's fonts
    "font.family": "DejaVu Sans",  # shipped with matplotlib, so every machine renders the same
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 7,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}
# Only these keys carry dates or versions; None drops them.
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}
FLOAT_FORMAT = None  # shortest repr that round-trips: exact and deterministic


def atomic_write_bytes(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def save_figure(fig, stem):
    """Write ``stem``.png and ``stem``.svg with no date or version inside; close the figure."""
    stem = Path(stem)
    with matplotlib.rc_context(STYLE):
        for fmt in ("png", "svg"):
            fd, tmp = tempfile.mkstemp(prefix=f".{stem.name}.", suffix=f".{fmt}", dir=stem.parent)
            os.close(fd)
            try:
                fig.savefig(tmp, format=fmt, metadata=METADATA[fmt])
                os.chmod(tmp, 0o644)
                os.replace(tmp, stem.with_suffix(f".{fmt}"))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    plt.close(fig)


def figure(nrows=1, ncols=1, **kwargs):
    """plt.subplots under the report style (use this, not plt.subplots, for report figures)."""
    with matplotlib.rc_context(STYLE):
        return plt.subplots(nrows, ncols, **kwargs)


def _md_cell(v, floatfmt):
    if isinstance(v, float):
        return "" if v != v else format(v, floatfmt)
    return "" if v is None else str(v).replace("|", "\\|")


def markdown_table(df, floatfmt=".4g"):
    cols = [str(c).replace("|", "\\|") for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_md_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines) + "\n"


class ReportWriter:
    """Collects a study's figures, tables and paragraphs and writes them under ``out_dir``.

    Every ``figure``/``table`` call writes its files at once and adds a section (heading,
    the figure or table, the paragraph) to the report. ``finish`` writes README.md (the
    study's report, links relative to its directory) and provenance.json.
    """

    def __init__(self, out_dir, title, intro=""):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.blocks = [intro] if intro else []
        self.files = []

    def text(self, markdown):
        self.blocks.append(markdown.strip() + "\n")

    def figure(self, fig, name, heading, paragraph):
        save_figure(fig, self.out / name)
        self.files += [f"{name}.png", f"{name}.svg"]
        self.blocks.append(f"### {heading}\n\n![{heading}]({name}.png)\n\n{paragraph.strip()}\n\n"
                           f"Files: [{name}.png]({name}.png), [{name}.svg]({name}.svg).\n")

    def table(self, df, name, heading, paragraph, md_df=None, floatfmt=".4g"):
        """Write the full ``df`` as CSV and ``md_df`` (default ``df``) as Markdown, shown in the report."""
        atomic_write_text(self.out / f"{name}.csv", df.to_csv(index=False, float_format=FLOAT_FORMAT,
                                                               lineterminator="\n"))
        md = markdown_table(df if md_df is None else md_df, floatfmt)
        atomic_write_text(self.out / f"{name}.md", md)
        self.files += [f"{name}.csv", f"{name}.md"]
        self.blocks.append(f"### {heading}\n\n{paragraph.strip()}\n\n{md}\n"
                           f"Files: [{name}.csv]({name}.csv), [{name}.md]({name}.md).\n")

    def markdown(self):
        return f"# {self.title}\n\n" + "\n".join(b if b.endswith("\n") else b + "\n" for b in self.blocks)

    def finish(self, provenance):
        atomic_write_text(self.out / "README.md", self.markdown())
        atomic_write_text(self.out / "provenance.json", json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        self.files += ["README.md", "provenance.json"]
        return self.files


def relink(markdown, prefix):
    """The Markdown with relative links and images pointing into ``prefix``/ and every heading
    one level deeper: a study's README.md as a section of reports/README.md."""
    markdown = re.sub(r"\]\((?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)([^)\s]+)\)", rf"]({prefix}/\1)", markdown)
    return re.sub(r"^(#+) ", r"#\1 ", markdown, flags=re.M)
