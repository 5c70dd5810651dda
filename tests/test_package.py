"""The package's shape: importing it changes nothing, no import cycles, relative imports only,
and the compiled-code cache is keyed on every kernel source."""

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bpttlab import kernels
from bpttlab.kernels import _config

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kernels"


def _run(code, env=None):
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_import_changes_nothing_and_threads_start_on_first_call():
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = _run(
        """
        import os, sys
        import numba
        import numba.np.ufunc.parallel as par
        from numba.core import config
        env, cache_dir = dict(os.environ), config.CACHE_DIR
        from bpttlab import kernels
        import bpttlab.kernels.cpu.layer  # the CPU kernels themselves (decorated, not compiled)
        from bpttlab import kernels
        assert dict(os.environ) == env, "import kernels changed os.environ"
        assert config.CACHE_DIR == cache_dir, "import kernels changed numba's cache directory"
        assert not par._is_initialized, "import kernels started Numba's threads"
        assert "numba.cuda" not in sys.modules

        # GOMP_SPINCOUNT is set while the first kernel call starts the threads, then removed.
        seen = []
        real = numba.get_num_threads
        numba.get_num_threads = lambda: seen.append(os.environ.get("GOMP_SPINCOUNT")) or real()
        import numpy as np
        net = kernels.Network("rnn_tanh", 2, 3)
        assert not par._is_initialized, "making a Network started Numba's threads"
        net.forward(net.init_params(), np.zeros((2, 1, 2)))
        assert par._is_initialized
        assert seen[0] == kernels._config.GOMP_SPINCOUNT, seen
        assert dict(os.environ) == env and config.CACHE_DIR == cache_dir
        print("OK")
        """,
        env,
    )
    assert out.strip().endswith("OK")


def test_user_spincount_is_left_alone():
    env = dict(os.environ, GOMP_SPINCOUNT="7")
    out = _run(
        """
        import os
        import numpy as np
        import numba
        from bpttlab import kernels
        seen = []
        real = numba.get_num_threads
        numba.get_num_threads = lambda: seen.append(os.environ.get("GOMP_SPINCOUNT")) or real()
        net = kernels.Network("gru", 2, 3)
        net.forward(net.init_params(), np.zeros((2, 1, 2)))
        assert set(seen) == {"7"} and os.environ["GOMP_SPINCOUNT"] == "7", seen
        print("OK")
        """,
        env,
    )
    assert out.strip().endswith("OK")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def _imports(name, path, modules):
    """Modules of the package that ``name`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [("absolute", a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append(("absolute", node.module))
                continue
            pkg = base[: len(base) - (node.level - 1)]
            mod = ".".join(pkg + ([node.module] if node.module else []))
            # "from . import x" depends on the submodule x, "from .m import f" on m.
            found += [("relative", f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod) for a in node.names]
    return found


def test_relative_imports_only_and_no_cycles():
    mods = dict(_modules())
    graph = {}
    for name, path in mods.items():
        imports = _imports(name, path, mods)
        absolute = [m for kind, m in imports if kind == "absolute" and (m == "kernels" or m.startswith("bpttlab.kernels."))]
        assert not absolute, f"{name} imports {absolute} absolutely; inside kernels/ imports must be relative"
        graph[name] = {m for kind, m in imports if kind == "relative" and m in mods and m != name}
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for n in graph[m]:
            if state.get(n) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*stack, m, n])}")
            if n not in state:
                visit(n, [*stack, m])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [])


def test_cache_digest_covers_every_kernel_source():
    files = {p.relative_to(PACKAGE).as_posix() for p in _config.source_files()}
    for f in ("cpu/lstm.py", "cpu/_gemm.py", "cuda/lstm.py", "cuda/layer.py", "_config.py", "cells.py"):
        assert f in files
    assert len(_config.SOURCE_DIGEST) == 16


def test_public_names():
    for name in ("BACKENDS", "CELLS", "CellSpec", "Forward", "Gradients", "Network", "RECURRENT_INITS", "Tape",
                 "expected_shapes", "get_spec", "init_params", "param_key"):
        assert name in kernels.__all__ and hasattr(kernels, name)
