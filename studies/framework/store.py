"""The result store: one file per finished configuration, written atomically.

A result is a flat dict of NumPy arrays and scalars (int, float, bool, str, None). It is
saved as ``<key>.npz`` next to a JSON header (the configuration it was computed for and the
study's version) inside the same archive. Writing goes to a hidden temporary file in the same
directory, flushed to disk, then ``os.replace``d onto the final name, so a reader sees either
no file or a complete one. A file that is nevertheless unreadable (truncated, corrupted, or
left by another version of the study) counts as missing: the sweep recomputes it.

Each file also records ``code``, a fingerprint of the source that computed it. Loading ignores
it unless asked to (``load(..., code=...)``): a report may then be made from results of older
code, which its provenance lists, or be required to come from the current code only.
"""

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

_HEADER = "__header__"
_SCALARS = "__scalars__"
_CODE = "__code__"
_RESERVED = (_HEADER, _SCALARS, _CODE)


def _canonical(obj):
    """JSON text that is identical for equal configurations (sorted keys, exact floats)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


class ResultStore:
    """Results of one study run, one ``.npz`` per configuration key, under ``root``.

    ``version`` is part of every header: results written by another version are stale.
    Safe to share between processes that write different keys (what a parallel runner needs):
    each write is a rename of a private temporary file.
    """

    suffix = ".npz"

    def __init__(self, root, version=0):
        self.root = Path(root)
        self.version = version

    def path(self, key):
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"result key: got {key!r}, expected a file name without '/' or a leading '.'")
        return self.root / f"{key}{self.suffix}"

    def header(self, config):
        return _canonical({"version": self.version, "config": config})

    def save(self, key, config, result, code=""):
        """Write ``result`` for ``config`` (computed by source fingerprint ``code``) under ``key`` atomically."""
        arrays, scalars = {}, {}
        for name, value in result.items():
            if name in _RESERVED:
                raise ValueError(f"result field name {name!r} is reserved")
            if isinstance(value, np.ndarray):
                arrays[name] = value
            elif value is None or isinstance(value, (bool, int, float, str, np.integer, np.floating, np.bool_)):
                scalars[name] = value.item() if isinstance(value, np.generic) else value
            else:
                raise TypeError(f"result field {name!r}: got {type(value).__name__}, expected an array or a scalar")
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{_HEADER: np.array(self.header(config)), _SCALARS: np.array(_canonical(scalars)),
                               _CODE: np.array(str(code))}, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the store private to this user
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key, config):
        """(result, code) for ``config``, or (None, None) if no complete, current file holds it."""
        path = self.path(key)
        if not path.is_file():
            return None, None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z[_HEADER][()]) != self.header(config):
                    return None, None
                result = {name: z[name] for name in z.files if name not in _RESERVED}
                result.update(json.loads(str(z[_SCALARS][()])))
                code = str(z[_CODE][()])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
            return None, None
        return result, code

    def load(self, key, config, code=None):
        """The stored result for ``config``, or None. With ``code``, a result computed by other
        code counts as missing too."""
        result, stored = self.read(key, config)
        if result is None or (code is not None and stored != code):
            return None
        return result

    def keys(self):
        """Keys of the files present (complete or not); temporary files are never listed."""
        if not self.root.is_dir():
            return []
        return sorted(p.name[: -len(self.suffix)] for p in self.root.glob(f"*{self.suffix}")
                      if not p.name.startswith("."))
