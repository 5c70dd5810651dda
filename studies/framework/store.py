"""The result store: one file per finished configuration, written atomically.

A result is a flat dict of NumPy arrays and scalars (int, float, bool, str, None). It is
saved as ``<key>.npz`` next to a JSON header (the configuration it was computed for and the
study's version) inside the same archive. Writing goes to a hidden temporary file in the same
directory, flushed to disk, then ``os.replace``d onto the final name, so a reader sees either
no file or a complete one. A file that is nevertheless unreadable or of the wrong kind
(truncated, corrupted, garbage bytes, a bare ``.npy`` array, an archive without the header)
counts as missing, with a :class:`ResultFileWarning` naming it: the sweep recomputes it and the
save replaces it. A result of another version of the study or another configuration is stale,
not faulty: missing too, silently. A *directory* at a result path cannot be replaced by a file:
the save moves it aside to ``<key>.npz.displaced[-N]`` (warning with both names) rather than
delete what someone put there.

Concurrent runs into one store share the work through per-configuration locks
(:meth:`ResultStore.claim`): ``fcntl.flock`` on a hidden ``.<key>.lock`` file, held by the
process that computes the configuration until its result is saved. The kernel releases a flock
when its holder dies, however it dies, so a killed run never leaves a configuration locked.
Lock files are left in place: deleting one while another process opens it would let two
processes lock different files of the same name.

Each file also records ``code``, a fingerprint of the source that computed it. Loading ignores
it unless asked to (``load(..., code=...)``): a report may then be made from results of older
code, which its provenance lists, or be required to come from the current code only.
"""

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

_HEADER = "__header__"
_SCALARS = "__scalars__"
_CODE = "__code__"
_RESERVED = (_HEADER, _SCALARS, _CODE)

try:
    import fcntl
except ImportError:  # not POSIX: no locks, concurrent runs may compute a configuration twice
    fcntl = None


class ResultFileWarning(UserWarning):
    """A file at a result path that is not a readable result: it is recomputed."""


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
        if final.is_dir():
            _move_aside(final)
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
        if path.is_dir():
            _warn(path, "is a directory, not a result file; it will be moved aside when the result is saved")
            return None, None
        if not path.exists():
            return None, None
        try:
            with open(path, "rb") as f:
                magic = f.read(6)
        except OSError as e:
            _warn(path, f"cannot be read ({type(e).__name__}: {e})")
            return None, None
        # np.load guesses by content and would report garbage as "pickled data": say what it is.
        if not magic.startswith((b"PK\x03\x04", b"\x93NUMPY")):
            what = "is empty" if not magic else f"is neither a .npz archive nor a .npy array (it starts with {magic!r})"
            _warn(path, what)
            return None, None
        try:
            z = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any unreadable file counts as missing (module docstring)
            _warn(path, f"is not a readable result archive ({type(e).__name__}: {e})")
            return None, None
        if not isinstance(z, np.lib.npyio.NpzFile):  # a bare .npy array: np.load returned the array
            _warn(path, f"holds a {type(z).__name__}, not a result archive (.npz)")
            return None, None
        try:
            with z:
                if str(z[_HEADER][()]) != self.header(config):
                    return None, None  # stale: another version or configuration, not a fault
                result = {name: z[name] for name in z.files if name not in _RESERVED}
                scalars = json.loads(str(z[_SCALARS][()]))
                if not isinstance(scalars, dict):
                    raise ValueError(f"{_SCALARS} holds a {type(scalars).__name__}, expected a JSON object")
                result.update(scalars)
                code = str(z[_CODE][()])
        except Exception as e:  # noqa: BLE001 - a truncated member, a missing key, bad JSON: missing
            _warn(path, f"is not a readable result archive ({type(e).__name__}: {e})")
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

    def claim(self, key):
        """A :class:`Claim` on ``key`` if no other process holds one, else None.

        Non-blocking: the caller computes what it could claim and picks up the others' results
        later (see :func:`studies.framework.sweep.run_sweep`). Without fcntl every claim succeeds.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return Claim(None)
        self.path(key)  # validates the key
        fd = os.open(self.root / f".{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return Claim(fd)


class Claim:
    """A held per-configuration lock; ``release()`` (or closing the process) frees it."""

    def __init__(self, fd):
        self.fd = fd

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def _warn(path, what):
    warnings.warn(f"result file {path} {what}: treated as missing, recomputing it", ResultFileWarning, stacklevel=3)


def _move_aside(path):
    """Rename the directory at a result path to a free ``<name>.displaced[-N]`` (never deleted)."""
    for n in range(1000):
        target = path.with_name(f"{path.name}.displaced" + (f"-{n}" if n else ""))
        if not target.exists():
            path.rename(target)
            warnings.warn(f"result path {path} was a directory: moved it aside to {target} to save the result",
                          ResultFileWarning, stacklevel=3)
            return target
    raise FileExistsError(f"result path {path} is a directory and no free name to move it aside to was found")
