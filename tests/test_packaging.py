"""How the project installs: under the bpttlab name (PyPI already has a package called
"kernels"), every package folder declared, no import of the bare top-level names, and data
found through the package rather than the source tree."""

import re
import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = re.compile(r"^\s*(?:import|from)\s+(?:kernels|studies)(?:\.|\s|$)", re.M)


def _python_files(*folders):
    for folder in folders:
        for p in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" not in p.parts:
                yield p


def test_pyproject_declares_every_package_under_bpttlab():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = setup["package-dir"]
    assert mapping == {"bpttlab.kernels": "kernels", "bpttlab.studies": "studies"}
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "__pycache__" not in rel.parts:
                found.add(".".join((name, *rel.parts)))
    assert set(setup["packages"]) == found
    assert "bpttlab.studies.data" in setup["package-data"]


def test_nothing_imports_the_bare_top_level_names():
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0).strip()}"
                 for p in _python_files("kernels", "studies", "bench", "tests") for m in BARE.finditer(p.read_text())]
    assert offenders == []


def test_kernels_import_only_relatively():
    """The regression gate loads another commit's kernels/ by path under another name, which works
    only while the package never names itself."""
    absolute = [str(p.relative_to(ROOT)) for p in _python_files("kernels")
                if re.search(r"^\s*(?:import|from)\s+bpttlab\b", p.read_text(), re.M)]
    assert absolute == []


def test_study_data_is_package_data():
    text = resources.files("bpttlab.studies.data").joinpath("gpl3.txt").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text
