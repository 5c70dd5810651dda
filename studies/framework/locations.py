"""Where a run reads and writes.

Reports and result stores are relative to the current working directory (``reports/<name>``,
``build/...``), so an installed copy writes where it is run, never into site-packages. Only the
code fingerprint and the git description look at the source: they describe the code itself.
"""

from pathlib import Path

# The directory holding the kernels and studies packages: a checkout's root in development.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
# Set (to the directory) in a study process that runs with its own private, temporary Numba
# cache (``--private-cache``): NUMBA_CACHE_DIR is that directory.
PRIVATE_CACHE_ENV = "BPTTLAB_PRIVATE_NUMBA_CACHE"


def work_dir():
    """The directory outputs are placed under: the current working directory, as it is now."""
    return Path.cwd()


def relative(path, root=None):
    """``path`` relative to ``root`` (default: the working directory) where it lies inside, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(work_dir() if root is None else root))
    except ValueError:
        return str(path)
